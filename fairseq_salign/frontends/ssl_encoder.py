"""A-enc from a pretrained HuBERT / wav2vec 2.0: waveform -> SSL states -> projection [-> layers].

The S-Align authors' speech side: HuBERT-Base, frozen for the first 3000 updates and fine-tuned
after, its conv feature extractor kept frozen, masking as in fairseq's wav2vec fine-tuning, then
a linear 768 -> model width (then CTC, adapter and T-enc as with fbank).

Freezing is a schedule, not a ``requires_grad`` flip: DDP registers only the parameters that
require grad when it wraps the model, so parameters unfrozen later would never be synchronised,
and the optimizer (built at the start) would not hold them. The SSL encoder therefore always
requires grad; while frozen it runs under ``no_grad`` (no activations kept, nothing reaches it),
and in a multi-process run a zero-weighted touch of its parameters gives each of them an exact
zero gradient, so fairseq's default c10d DDP (``find_unused_parameters=False``) finds every
parameter used on every step (the same touch covers layers skipped by LayerDrop and an unused
mask embedding). Only the conv feature extractor, frozen for the whole run when
``feature_grad_mult`` is 0, is switched off with ``requires_grad`` before DDP is built.
"""
from __future__ import annotations

import contextlib
from typing import Tuple

import torch
import torch.nn as nn
from fairseq.modules import FairseqDropout, LayerNorm

from ..audio import FRAME_SHIFT_SAMPLES
from ..distributed import multi_process, zero_touch
from ..modules.acoustic_encoder import padding_mask_from_lengths


def standardize(wave: torch.Tensor, padding_mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance zero mean / unit variance over the real samples only (fairseq's dataset
    ``layer_norm`` of each unpadded waveform, done here so padding does not enter it).

    Computed in fp32 and returned in the input's dtype: under ``--fp16`` the sample count of
    any utterance over 4.1 s (65,504 samples) is inf in half precision, which made the mean and
    variance 0 and scaled the waveform by 1/sqrt(eps) instead of standardizing it."""
    x = wave.float()
    keep = (~padding_mask).float()
    n = keep.sum(1, keepdim=True).clamp(min=1)
    mean = (x * keep).sum(1, keepdim=True) / n
    var = (((x - mean) * keep) ** 2).sum(1, keepdim=True) / n
    return (((x - mean) / torch.sqrt(var + eps)) * keep).to(wave.dtype)


class SSLAcousticEncoder(nn.Module):
    """``forward(waveforms B x S, lengths B) -> (T x B x C states, B x T padding mask)``."""

    input_units_per_frame = FRAME_SHIFT_SAMPLES  # --max-source-positions counts 10 ms frames

    def __init__(
        self,
        ssl_model: nn.Module,
        kind: str,
        ssl_dim: int,
        embed_dim: int,
        layers: nn.ModuleList,
        normalize_input: bool,
        apply_mask: bool,
        freeze_updates: int,
        feature_grad_mult: float,
        final_dropout: float,
        normalize_before: bool,
    ):
        super().__init__()
        self.ssl = ssl_model
        self.kind = kind
        self.normalize_input = normalize_input
        self.apply_mask = apply_mask
        self.freeze_updates = freeze_updates
        self.num_updates = 0
        self.fixed_feature_extractor = feature_grad_mult == 0.0
        if self.fixed_feature_extractor:
            self.ssl.feature_extractor.requires_grad_(False)
        self.final_dropout = FairseqDropout(final_dropout, module_name=self.__class__.__name__)
        self.proj = nn.Linear(ssl_dim, embed_dim)
        self.layers = layers
        self.layer_norm = LayerNorm(embed_dim) if normalize_before and len(layers) else None

    def set_num_updates(self, num_updates: int) -> None:
        self.num_updates = num_updates

    @property
    def frozen(self) -> bool:
        return self.num_updates < self.freeze_updates

    def fixed_parameters(self):
        """Parameters frozen for the whole run: no stage may switch them on (DDP would then
        expect a gradient that fairseq's ``no_grad`` extractor never gives)."""
        return list(self.ssl.feature_extractor.parameters()) if self.fixed_feature_extractor else []

    def ssl_trainable_parameters(self):
        return [p for p in self.ssl.parameters() if p.requires_grad]

    def _ssl_states(self, wave: torch.Tensor, padding_mask: torch.Tensor):
        mask = self.apply_mask and self.training
        pad = padding_mask if padding_mask.any() else None
        if self.kind == "hubert":
            x, out_mask = self.ssl.extract_features(wave, pad, mask=mask)
        else:
            res = self.ssl.extract_features(wave, pad, mask=mask)
            x, out_mask = res["x"], res["padding_mask"]
        if out_mask is None:
            out_mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        return x, out_mask

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if waveforms.dim() == 3 and waveforms.size(-1) == 1:
            waveforms = waveforms.squeeze(-1)
        if waveforms.dim() != 2:
            raise ValueError(f"--speech-encoder {self.kind} reads waveforms (B x samples), got "
                             f"{tuple(waveforms.shape)}: prepare the data with --features waveform")
        padding_mask = padding_mask_from_lengths(lengths, waveforms.size(1))
        if self.normalize_input:
            waveforms = standardize(waveforms, padding_mask)
        frozen = self.frozen and self.training
        with torch.no_grad() if frozen else contextlib.nullcontext():
            x, frame_mask = self._ssl_states(waveforms, padding_mask)
        if self.training and multi_process():
            x = x + zero_touch(self.ssl_trainable_parameters())
        x = x.masked_fill(frame_mask.unsqueeze(-1), 0.0)
        x = self.proj(self.final_dropout(x)).transpose(0, 1)  # T x B x C
        for layer in self.layers:
            x = layer(x, frame_mask)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x, frame_mask
