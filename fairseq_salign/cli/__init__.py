"""Console tools (``salign-analyze``, ``salign-translate``) and what they share: loading an
``s2t_salign`` checkpoint with clear errors, and choosing the device."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

logger = logging.getLogger("fairseq_salign.cli")


class CliError(Exception):
    """A user-facing error: printed as one line (no traceback), exit status 2."""


def pick_device(cpu: bool) -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def _cfg_name(group: Any) -> Optional[str]:
    if group is None:
        return None
    return group.get("_name", None) or group.get("arch", None)


def load_salign(
    checkpoint: str, data_dir: str, overrides: Optional[Dict[str, Any]] = None
) -> Tuple[torch.nn.Module, Any, Any]:
    """Load one ``s2t_salign`` checkpoint with its task, reading data from ``data_dir``.

    The checkpoint's task config points to the directory it was trained on; overriding ``data``
    lets a user run it on another copy of the prepared data (same vocabulary). Anything that is not
    an S-Align checkpoint is refused before fairseq tries to build it.
    """
    import fairseq_salign  # noqa: F401  registers the task/model, weights-only loading
    from fairseq import checkpoint_utils

    from ..models.s2t_salign import S2TSAlignModel

    path, data = Path(checkpoint), Path(data_dir)
    if not path.is_file():
        raise CliError(f"checkpoint {path} not found")
    if not data.is_dir():
        raise CliError(f"data directory {data} not found (the prepared dir with config_st.yaml)")
    overrides = {"data": str(data), **(overrides or {})}
    try:
        state = checkpoint_utils.load_checkpoint_to_cpu(str(path), overrides)
    except Exception as err:
        raise CliError(f"cannot read checkpoint {path}: {err}") from None
    if not isinstance(state, dict) or state.get("cfg") is None:
        raise CliError(f"{path} is not a fairseq checkpoint (no 'cfg' entry)")
    cfg = state["cfg"]
    model_name, task_name = _cfg_name(cfg.get("model")), _cfg_name(cfg.get("task"))
    if not str(model_name).startswith("s2t_salign") or task_name != "speech_to_text_salign":
        raise CliError(
            f"{path} is a '{model_name}' checkpoint of task '{task_name}', not an S-Align "
            "model: this tool needs a checkpoint trained with --task speech_to_text_salign "
            "--arch s2t_salign*"
        )
    try:
        models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
            [str(path)], arg_overrides=overrides, state=state
        )
    except FileNotFoundError as err:
        raise CliError(f"cannot load {path} with data directory {data}: {err}") from None
    model = models[0]
    if not isinstance(model, S2TSAlignModel):  # e.g. a registry clash with another plugin
        raise CliError(f"{path} built a {type(model).__name__}, not an S2TSAlignModel")
    return model.eval(), cfg, task


def run_main(body, argv=None) -> int:
    """Run a tool's body with fairseq's log format; turn CliError into one line and exit 2."""
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        level=logging.INFO,
        stream=sys.stderr,
        force=True,  # importing fairseq may already have configured the root logger
    )
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        return body(argv)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
