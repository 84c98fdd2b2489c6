"""Strict loading of pre-trained parts (progressive training) into an ``s2t_salign`` model."""
import logging
from pathlib import Path
from typing import Iterable, List

import torch
from fairseq import checkpoint_utils

logger = logging.getLogger(__name__)

TEXT_PREFIXES = ("encoder.textual_encoder.", "decoder.")
ACOUSTIC_PREFIXES = ("encoder.acoustic_encoder.", "encoder.adapter.", "encoder.ctc_proj.")


def load_pretrained_parts(model, cfg) -> None:
    """Apply --load-pretrained-acoustic-from, then --load-pretrained-mt-from (whose embeddings
    win where the CTC head is tied to them)."""
    if cfg.load_pretrained_acoustic_from:
        text_storage = {t.data_ptr() for k, t in model.state_dict().items() if k.startswith(TEXT_PREFIXES)}
        keys = [
            k
            for k, t in model.state_dict().items()
            if k.startswith(ACOUSTIC_PREFIXES) and t.data_ptr() not in text_storage
        ]
        load_part(model, cfg.load_pretrained_acoustic_from, keys, "--load-pretrained-acoustic-from")
    if cfg.load_pretrained_mt_from:
        keys = [k for k in model.state_dict() if k.startswith(TEXT_PREFIXES)]
        load_part(model, cfg.load_pretrained_mt_from, keys, "--load-pretrained-mt-from")


def load_part(model, path: str, keys: Iterable[str], option: str) -> List[str]:
    """Copy exactly ``keys`` from the checkpoint at ``path``; stop with the full list of what is
    missing or shaped differently instead of loading part of it."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{option} {path}: no such checkpoint file")
    source = checkpoint_utils.load_checkpoint_to_cpu(path)["model"]
    own = model.state_dict()
    keys = list(keys)
    missing = [k for k in keys if k not in source]
    mismatched = [
        f"{k}: checkpoint {tuple(source[k].shape)} vs model {tuple(own[k].shape)}"
        for k in keys
        if k in source and source[k].shape != own[k].shape
    ]
    if missing or mismatched:
        raise ValueError(
            f"{option} {path} does not fit this model ({len(missing)} missing, "
            f"{len(mismatched)} mismatched of {len(keys)} tensors). Use the same --arch and "
            "sizes as the pre-training run.\n"
            + "\n".join([f"  missing: {k}" for k in missing] + [f"  shape: {m}" for m in mismatched])
        )
    with torch.no_grad():
        for k in keys:
            own[k].copy_(source[k])
    logger.info(f"{option}: loaded {len(keys)} tensors from {path}")
    return keys
