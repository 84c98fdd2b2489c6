"""Build a pretrained HuBERT / wav2vec 2.0 model from a fairseq checkpoint, strictly.

The checkpoints users download (``hubert_base_ls960.pt``, ``wav2vec_small.pt``,
``wav2vec_vox_new.pt``, and CTC fine-tuned ones such as ``wav2vec_small_960h.pt``) hold the
model's own config and its weights. fairseq's fine-tuning encoders rebuild the checkpoint's
*pretraining task* for that, which wants the pretraining data and label directories; here the
model class is built directly (``HubertModel(cfg, task_cfg, [None])``, ``Wav2Vec2Model(cfg)``),
its pretraining-only heads are removed with fairseq's own ``remove_pretraining_modules``, and
every remaining tensor must be in the checkpoint with its shape: a wrong file is an error that
lists what does not fit, never a half-initialised encoder.

The model's config is kept as :class:`SSLSpec` (plain data) so that a trained S-Align checkpoint
rebuilds its front end without the original file (as fairseq keeps ``w2v_args``).
"""
from __future__ import annotations

import logging
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn

logger = logging.getLogger(__name__)

# fairseq model names (cfg.model._name) -> front-end kind
PRETRAINED_NAMES = {"hubert": "hubert", "wav2vec2": "wav2vec2"}
FINETUNED_NAMES = {"hubert_ctc": "hubert", "hubert_seq2seq": "hubert", "wav2vec_ctc": "wav2vec2",
                   "wav2vec_seq2seq": "wav2vec2"}
FINETUNED_PREFIX = "w2v_encoder.w2v_model."
# tensors of the pretraining objective that fine-tuning never uses
PRETRAINING_ONLY = ("label_embs_concat", "final_proj.", "target_glu.", "quantizer.",
                    "project_q.", "_ema")


class SSLCheckpointError(ValueError):
    """A checkpoint that is not a usable HuBERT / wav2vec 2.0 model; the message names the file."""


@dataclass
class SSLSpec:
    """What it takes to rebuild the SSL model: its kind and its fairseq model/task configs."""

    kind: str  # "hubert" | "wav2vec2"
    model: Dict[str, Any]
    task: Dict[str, Any]

    @property
    def embed_dim(self) -> int:
        return int(self.model["encoder_embed_dim"])

    @property
    def normalize(self) -> bool:
        """Whether the model was pretrained on per-utterance standardized waveforms."""
        return bool(self.task.get("normalize", self.model.get("normalize", False)))

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "model": dict(self.model), "task": dict(self.task)}

    @classmethod
    def from_dict(cls, data) -> "SSLSpec":
        from omegaconf import OmegaConf

        if OmegaConf.is_config(data):
            data = OmegaConf.to_container(data, resolve=True)
        return cls(data["kind"], dict(data["model"]), dict(data.get("task") or {}))


def _plain(cfg) -> Dict[str, Any]:
    from omegaconf import OmegaConf

    if cfg is None:
        return {}
    if isinstance(cfg, Namespace):
        return dict(vars(cfg))
    if OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    return dict(cfg)


def _configs(state: dict, path: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    cfg = state.get("cfg")
    if cfg is None and state.get("args") is not None:
        from fairseq.dataclass.utils import convert_namespace_to_omegaconf

        cfg = convert_namespace_to_omegaconf(state["args"])
    if cfg is None:
        raise SSLCheckpointError(f"{path}: no 'cfg' or 'args' in the checkpoint: not a fairseq "
                                 "checkpoint (expected e.g. hubert_base_ls960.pt or wav2vec_small.pt)")
    cfg = _plain(cfg)
    return _plain(cfg.get("model")), _plain(cfg.get("task"))


def read_ssl_checkpoint(path: str, expected_kind: Optional[str] = None) -> Tuple[SSLSpec, dict]:
    """``(spec, state_dict of the SSL model itself)`` from a fairseq HuBERT/wav2vec 2.0 file.

    A CTC/seq2seq fine-tuned checkpoint contributes its fine-tuned SSL encoder (the
    ``w2v_encoder.w2v_model.`` tensors); its output head is left behind (counted in the log).
    """
    from fairseq import checkpoint_utils

    if not Path(path).is_file():
        raise SSLCheckpointError(f"--ssl-checkpoint {path}: no such file")
    from ..patches.checkpoint_safety import NotACheckpointError

    try:
        state = checkpoint_utils.load_checkpoint_to_cpu(path)
    except (NotACheckpointError, RuntimeError, EOFError, OSError) as e:
        raise SSLCheckpointError(f"--ssl-checkpoint {path}: cannot read it as a torch checkpoint "
                                 f"({str(e).splitlines()[0]})") from None
    except KeyError as e:  # fairseq's upgrade of a dict that is no fairseq checkpoint
        raise SSLCheckpointError(f"--ssl-checkpoint {path}: not a fairseq checkpoint (no {e} "
                                 "entry; expected e.g. hubert_base_ls960.pt)") from None
    if not isinstance(state, dict) or "model" not in state:
        raise SSLCheckpointError(f"--ssl-checkpoint {path}: no 'model' weights: not a fairseq "
                                 "checkpoint")
    model_cfg, task_cfg = _configs(state, path)
    name = model_cfg.get("_name")
    weights = state["model"]
    if name in FINETUNED_NAMES:
        inner = _plain(model_cfg.get("w2v_args"))
        if not inner:
            raise SSLCheckpointError(f"{path}: fine-tuned {name} checkpoint without w2v_args")
        model_cfg, task_cfg = _plain(inner.get("model")), _plain(inner.get("task"))
        kind = FINETUNED_NAMES[name]
        left = [k for k in weights if not k.startswith(FINETUNED_PREFIX)]
        weights = {k[len(FINETUNED_PREFIX):]: v for k, v in weights.items()
                   if k.startswith(FINETUNED_PREFIX)}
        logger.info(f"{path}: fine-tuned {name}: using its SSL encoder, leaving {len(left)} "
                    "tensors of its output head behind")
    elif name in PRETRAINED_NAMES:
        kind = PRETRAINED_NAMES[name]
    else:
        known = ", ".join(sorted({**PRETRAINED_NAMES, **FINETUNED_NAMES}))
        raise SSLCheckpointError(f"--ssl-checkpoint {path}: a fairseq '{name}' model, not a "
                                 f"HuBERT or wav2vec 2.0 one (model names understood: {known})")
    if expected_kind is not None and kind != expected_kind:
        raise SSLCheckpointError(f"--ssl-checkpoint {path} holds a {kind} model but "
                                 f"--speech-encoder is {expected_kind}: pass --speech-encoder {kind}")
    return SSLSpec(kind, model_cfg, task_cfg), weights


def fairseq_model(spec: SSLSpec, overrides: Optional[Dict[str, Any]] = None,
                  label_dictionaries=None) -> nn.Module:
    """The fairseq model class of ``spec``, with ``overrides`` (dropout, masking, ...) applied to
    its config. HuBERT gets ``label_dictionaries`` (default ``[None]``: no label embeddings, as
    for fine-tuning)."""
    from fairseq.dataclass.utils import merge_with_parent
    from omegaconf import OmegaConf

    model_cfg = dict(spec.model)
    model_cfg.update(overrides or {})
    model_cfg.pop("_name", None)
    if spec.kind == "hubert":
        from fairseq.models.hubert import HubertConfig, HubertModel
        from fairseq.tasks.hubert_pretraining import HubertPretrainingConfig

        fields = HubertPretrainingConfig.__dataclass_fields__
        task_cfg = {"data": "", **{k: v for k, v in spec.task.items() if k in fields}}
        task = merge_with_parent(HubertPretrainingConfig(), OmegaConf.create(task_cfg))
        model_cfg["label_rate"] = task.label_rate  # HubertConfig interpolates task.label_rate
        cfg = merge_with_parent(HubertConfig(), OmegaConf.create(model_cfg), remove_missing=True)
        return HubertModel(cfg, task, label_dictionaries or [None])
    if spec.kind == "wav2vec2":
        from fairseq.models.wav2vec import Wav2Vec2Config, Wav2Vec2Model

        cfg = merge_with_parent(Wav2Vec2Config(), OmegaConf.create(model_cfg), remove_missing=True)
        return Wav2Vec2Model(cfg)
    raise SSLCheckpointError(f"unknown SSL kind {spec.kind!r}")


def build_ssl_model(spec: SSLSpec, overrides: Optional[Dict[str, Any]] = None) -> nn.Module:
    """:func:`fairseq_model` less its pretraining-only modules (fairseq's own removal)."""
    model = fairseq_model(spec, overrides)
    model.remove_pretraining_modules()
    return model


def load_ssl_weights(model: nn.Module, weights: Dict[str, torch.Tensor], path: str) -> None:
    """Copy every model tensor from ``weights``; stop with the full list of what does not fit."""
    weights = {k: v for k, v in weights.items() if not k.startswith(PRETRAINING_ONLY)}
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    mismatched = [f"{k}: checkpoint {tuple(weights[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own if k in weights and weights[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        listed = ([f"  missing: {k}" for k in missing[:10]] + [f"  unexpected: {k}" for k in unexpected[:10]]
                  + [f"  shape: {m}" for m in mismatched[:10]])
        raise SSLCheckpointError(
            f"--ssl-checkpoint {path}: its weights do not fit the model its own config describes "
            f"({len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} mismatched "
            f"of {len(own)} tensors; first ones listed). The file is damaged or was edited.\n"
            + "\n".join(listed)
        )
    model.load_state_dict(weights, strict=True)
    logger.info(f"--ssl-checkpoint {path}: loaded {len(own)} tensors")
