"""Masked mean-pooling over time, shared by the modal network and the H-Align loss."""
from typing import Optional

import torch


def masked_mean(x: torch.Tensor, padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean over the valid time steps of ``x`` (T x B x C); ``padding_mask`` is B x T, True = pad.

    Padded steps contribute nothing, so a padded item pools to the same vector as the item alone.
    """
    if padding_mask is None:
        return x.mean(dim=0)
    keep = (~padding_mask).t().unsqueeze(-1).float()  # T x B x 1
    total = (x.float() * keep).sum(dim=0)  # fp32: a half-precision sum over time can overflow
    count = keep.sum(dim=0).clamp(min=1.0)
    return (total / count).to(x.dtype)
