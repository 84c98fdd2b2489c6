"""Distribution matching of speech and text T-enc spaces without an adversary: the shared part
of ``moments``, ``mmd`` and ``swd``.

Why: the adversarial game can be fooled without aligning anything (a modal network at chance
while a fresh probe still separates the modalities); a fixed discrepancy between the two sets of
sentence vectors has no second player to fool and no momentum to circle with, and an
independent check found that such matching aligns the spaces best, as the toy here does
(docs/ablations.md, section 1; docs/alignment.md).

Each side is mean-pooled over its valid time steps (fp32, so AMP/fp16 cannot overflow), then
both are standardised by their joint per-channel mean and std, with gradient as in BatchNorm:
otherwise the encoders could lower any of these discrepancies by shrinking the whole space.
Sentence weights (--alignment-sentence-weight) are sample weights, normalised per side.

Scale: loss = --matching-weight x 0.5 x (sum of speech weights + sum of text weights) x
discrepancy: with target-length weights a sum on the per-token scale of the cross-entropies
that fairseq divides by the batch's target tokens (as the feature-matching generator of
adversarial.py). Statistics are per rank: each GPU matches its own local batch, nothing is
gathered, and under DDP the gradient is the average of the ranks' discrepancies' gradients
(a smaller batch per GPU gives a noisier estimate, not a different target).
"""
from typing import Tuple

import torch

from ...modules import masked_mean
from .base import AlignmentObjective, AlignmentOutput

EPS = 1e-5


def pooled(side: dict) -> torch.Tensor:
    """B x C masked mean over time of one side's T-enc output, in fp32."""
    return masked_mean(side["encoder_out"][0].float(), side["encoder_padding_mask"][0])


def standardize(x, px, y, py) -> Tuple[torch.Tensor, torch.Tensor]:
    """x, y (B x C) standardised by the per-channel mean and std of the mixture in which each
    side (weights px, py, each summing to 1) counts half; gradient flows through the statistics."""
    mean = 0.5 * (px @ x + py @ y)
    var = 0.5 * (px @ (x - mean) ** 2 + py @ (y - mean) ** 2)
    std = torch.sqrt(var + EPS)
    return (x - mean) / std, (y - mean) / std


class MatchingObjective(AlignmentObjective):
    """Pool, standardise, weight and scale; subclasses define ``discrepancy(x, px, y, py)``
    on the standardised B x C vectors and their normalised weights."""

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    @classmethod
    def build(cls, cfg, task):
        return cls(cfg.matching_weight)

    def discrepancy(self, x, px, y, py) -> torch.Tensor:
        raise NotImplementedError

    def align(self, inputs):
        s_w, t_w = inputs.speech_weights.float(), inputs.text_weights.float()
        px, py = s_w / s_w.sum().clamp(min=EPS), t_w / t_w.sum().clamp(min=EPS)
        x, y = standardize(pooled(inputs.speech), px, pooled(inputs.text), py)
        part = 0.5 * (s_w.sum() + t_w.sum()) * self.discrepancy(x, px, y, py)
        weighted = self.weight * part
        return AlignmentOutput(weighted, weighted, {f"{self.name}_loss": part.data})
