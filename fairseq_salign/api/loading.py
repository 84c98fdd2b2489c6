"""Loading an ``s2t_salign`` checkpoint with its task, refusing anything else with a clear error.

Shared by the Python API (:mod:`fairseq_salign.api.hub`) and the console tools
(``salign-translate``, ``salign-analyze``, ``salign-export``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch


class ModelError(Exception):
    """A model or model directory that cannot be used; the message names the file and says what
    to do. The console tools print it as one line and exit 2."""


def _cfg_name(group: Any) -> Optional[str]:
    if group is None:
        return None
    return group.get("_name", None) or group.get("arch", None)


def read_salign_state(checkpoint: str, overrides: Optional[Dict[str, Any]] = None) -> dict:
    """The checkpoint's state dict (fairseq's upgraded form), refused unless it is an S-Align
    model of the ``speech_to_text_salign`` task."""
    import fairseq_salign  # noqa: F401  registers the task/model, weights-only loading
    from fairseq import checkpoint_utils

    path = Path(checkpoint)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} not found")
    try:
        state = checkpoint_utils.load_checkpoint_to_cpu(str(path), overrides)
    except Exception as err:
        raise ModelError(f"cannot read checkpoint {path}: {err}") from None
    if not isinstance(state, dict) or state.get("cfg") is None:
        raise ModelError(f"{path} is not a fairseq checkpoint (no 'cfg' entry)")
    cfg = state["cfg"]
    model_name, task_name = _cfg_name(cfg.get("model")), _cfg_name(cfg.get("task"))
    if not str(model_name).startswith("s2t_salign") or task_name != "speech_to_text_salign":
        raise ModelError(
            f"{path} is a '{model_name}' checkpoint of task '{task_name}', not an S-Align "
            "model: this tool needs a checkpoint trained with --task speech_to_text_salign "
            "--arch s2t_salign*"
        )
    return state


def read_weights(state: dict, path, ema: bool) -> dict:
    """``state`` itself, or with ``ema`` a copy whose model weights are the EMA weights that
    ``--store-ema`` saved (a ``ModelError`` naming the file if it has none)."""
    if not ema:
        return state
    from ..ema import use_ema_weights

    try:
        return use_ema_weights(state, path)
    except ValueError as err:
        raise ModelError(str(err)) from None


def load_salign(
    checkpoint: str, data_dir: str, overrides: Optional[Dict[str, Any]] = None, ema: bool = False
) -> Tuple[torch.nn.Module, Any, Any]:
    """Load one ``s2t_salign`` checkpoint with its task, reading data from ``data_dir``.

    The checkpoint's task config points to the directory it was trained on; overriding ``data``
    lets a user run it on another copy of the prepared data or on an exported model directory
    (same vocabulary). Anything that is not an S-Align checkpoint is refused before fairseq
    tries to build it. ``ema``: load the EMA weights (``--store-ema``) instead of ``model``.
    """
    from fairseq import checkpoint_utils

    from ..models.s2t_salign import S2TSAlignModel

    path, data = Path(checkpoint), Path(data_dir)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} not found")
    if not data.is_dir():
        raise ModelError(f"data directory {data} not found (the prepared dir with config_st.yaml)")
    overrides = {"data": str(data), **(overrides or {})}
    state = read_weights(read_salign_state(str(path), overrides), path, ema)
    try:
        models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
            [str(path)], arg_overrides=overrides, state=state
        )
    except OSError as err:  # a file the data config names is missing (SentencePiece: OSError)
        raise ModelError(f"cannot load {path} with data directory {data}: {err} (the "
                         "directory needs its config, vocabulary and SentencePiece model)") from None
    model = models[0]
    if not isinstance(model, S2TSAlignModel):  # e.g. a registry clash with another plugin
        raise ModelError(f"{path} built a {type(model).__name__}, not an S2TSAlignModel")
    _resolve_relative_paths(task.data_cfg, data)
    return model.eval(), cfg, task


def _resolve_relative_paths(data_cfg, data_dir: Path) -> None:
    """Files the config names relative to itself, made absolute: fairseq's GlobalCMVN opens
    ``global_cmvn.stats_npz_path`` relative to the working directory, and fairseq prefers a
    SentencePiece model of the same name in the working directory over the config's own."""
    for section, key in (("global_cmvn", "stats_npz_path"), ("bpe_tokenizer", "sentencepiece_model")):
        entry = data_cfg.config.get(section)
        if isinstance(entry, dict) and entry.get(key):
            path = Path(entry[key])
            if not path.is_absolute() and (data_dir / path).is_file():
                entry[key] = str((data_dir / path).resolve())
