"""Adapters between the acoustic encoder (A-enc) and the textual encoder (T-enc).

Every adapter maps A-enc states (T x B x C) and CTC logits (T x B x V) to a B x T' x C sequence
on the scale of T-enc's scaled token embeddings, its padding mask, and the CTC-predicted token
at each output position (used by mix-up; ``blank`` marks positions that predict no token).
"""
import inspect
import math
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.modules import LayerNorm

from ..registry import Registry


class AdapterOutput(NamedTuple):
    x: torch.Tensor  # B x T' x C
    padding_mask: torch.Tensor  # B x T', True = pad
    tokens: torch.Tensor  # B x T', CTC-predicted token per position


def _no_pad_mask(x: torch.Tensor, padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
    if padding_mask is None:
        return torch.zeros(x.size(1), x.size(0), dtype=torch.bool, device=x.device)
    return padding_mask


class LinearAdapter(nn.Module):
    """A projection + LayerNorm: the plain stacked encoder."""

    def __init__(self, embed_dim: int, blank: int):
        super().__init__()
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.layer_norm = LayerNorm(embed_dim)
        self.blank = blank

    def forward(self, x, padding_mask, ctc_logits, embed_weight) -> AdapterOutput:
        padding_mask = _no_pad_mask(x, padding_mask)
        out = self.layer_norm(self.proj(x)).transpose(0, 1)
        return AdapterOutput(out, padding_mask, ctc_logits.argmax(-1).t())


class CTCSoftAdapter(nn.Module):
    """Representation plus CTC-posterior-weighted source embeddings (SATE's adapter).

    The soft embedding puts each frame next to the text embeddings T-enc was pre-trained on.
    """

    def __init__(self, embed_dim: int, blank: int):
        super().__init__()
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.layer_norm = LayerNorm(embed_dim)
        self.embed_scale = math.sqrt(embed_dim)
        self.blank = blank

    def forward(self, x, padding_mask, ctc_logits, embed_weight) -> AdapterOutput:
        padding_mask = _no_pad_mask(x, padding_mask)
        probs = F.softmax(ctc_logits.float(), dim=-1).to(x.dtype)
        soft = self.embed_scale * torch.matmul(probs, embed_weight.to(x.dtype))
        out = self.layer_norm(self.proj(x) + soft).transpose(0, 1)
        return AdapterOutput(out, padding_mask, ctc_logits.argmax(-1).t())


class CTCShrinkAdapter(nn.Module):
    """Collapse runs of frames with the same CTC label into one position: the mean of the run
    (``reduce="mean"``, the default: every frame's state contributes) or its first frame
    (``reduce="first"``, as the authors' code).

    As in the authors' code, labels are argmax at inference and gumbel-argmax in training (so
    early, mostly-blank predictions do not always collapse the same way). Blank runs are kept as
    positions: they carry pauses and unrecognised speech.
    """

    REDUCTIONS = ("mean", "first")

    def __init__(self, embed_dim: int, blank: int, gumbel: bool = True, reduce: str = "mean"):
        super().__init__()
        if reduce not in self.REDUCTIONS:
            raise ValueError(f"--shrink-reduce must be one of {self.REDUCTIONS}, got {reduce!r}")
        self.layer_norm = LayerNorm(embed_dim)
        self.blank = blank
        self.gumbel = gumbel
        self.reduce = reduce

    def forward(self, x, padding_mask, ctc_logits, embed_weight) -> AdapterOutput:
        padding_mask = _no_pad_mask(x, padding_mask)
        logits = ctc_logits.detach().float()
        if self.training and self.gumbel:
            logits = F.gumbel_softmax(logits, hard=False, dim=-1)
        labels = logits.argmax(-1).t()  # B x T
        valid = ~padding_mask
        starts = torch.ones_like(valid)
        starts[:, 1:] = labels[:, 1:].ne(labels[:, :-1])
        starts &= valid
        segment = torch.cumsum(starts.long(), dim=1) - 1  # B x T
        lengths = starts.sum(dim=1)
        bsz, max_len = labels.size(0), max(int(lengths.max()), 1)
        segment = torch.where(valid, segment, torch.full_like(segment, max_len))  # pad -> dump
        flat = segment + torch.arange(bsz, device=x.device).unsqueeze(1) * (max_len + 1)
        states = x.transpose(0, 1).reshape(-1, x.size(-1))
        sums = states.new_zeros(bsz * (max_len + 1), x.size(-1))
        sums.index_add_(0, flat.reshape(-1), states)
        counts = states.new_zeros(bsz * (max_len + 1))
        counts.index_add_(0, flat.reshape(-1), valid.reshape(-1).to(states.dtype))
        if self.reduce == "first":
            firsts = states.new_zeros(bsz * (max_len + 1), x.size(-1))
            firsts[flat[starts]] = x.transpose(0, 1)[starts]
            pooled = firsts.view(bsz, max_len + 1, -1)[:, :max_len]
        else:
            pooled = (sums / counts.clamp(min=1).unsqueeze(-1)).view(bsz, max_len + 1, -1)[:, :max_len]
        tokens = labels.new_full((bsz * (max_len + 1),), self.blank)
        tokens[flat[starts]] = labels[starts]
        tokens = tokens.view(bsz, max_len + 1)[:, :max_len]
        new_mask = torch.arange(max_len, device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)
        return AdapterOutput(self.layer_norm(pooled), new_mask, tokens)


def _construct(cls, embed_dim: int, blank: int, **options) -> nn.Module:
    """``cls(embed_dim, blank=..., **options)`` with only the options ``cls`` takes (``reduce``
    for ctc-shrink)."""
    accepted = inspect.signature(cls).parameters
    return cls(embed_dim, blank=blank, **{k: v for k, v in options.items() if k in accepted})


# ``ADAPTERS.build(name, embed_dim, blank=..., reduce=...)``
ADAPTERS: Registry[nn.Module] = Registry("adapter", "--adapter", construct=_construct)
ADAPTERS.register("linear", LinearAdapter)
ADAPTERS.register("ctc-soft", CTCSoftAdapter)
ADAPTERS.register("ctc-shrink", CTCShrinkAdapter)
