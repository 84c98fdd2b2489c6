"""``moments``: match the weighted means and covariances of the pooled speech and text vectors."""
import torch

from .base import register_alignment
from .matching import MatchingObjective


def moments_discrepancy(x, px, y, py) -> torch.Tensor:
    """Mean squared gap of the per-channel means plus mean squared gap of the covariance
    entries (weighted, biased): averages over channels and channel pairs, so the value does not
    grow with the model width. Both terms: the mean alone leaves the shape free, the covariance
    alone (CORAL) leaves an offset between the modalities."""
    mx, my = px @ x, py @ y
    cx = (x - mx).t() @ ((x - mx) * px.unsqueeze(1))
    cy = (y - my).t() @ ((y - my) * py.unsqueeze(1))
    return ((mx - my) ** 2).mean() + ((cx - cy) ** 2).mean()


@register_alignment("moments")
class MomentsAlignment(MatchingObjective):
    summary = "match pooled speech/text means and covariances, no adversary (--matching-weight)"

    def discrepancy(self, x, px, y, py):
        return moments_discrepancy(x, px, y, py)
