"""``mmd``: multi-kernel Gaussian MMD^2 between the pooled speech and text vectors."""
import torch

from .base import register_alignment
from .matching import MatchingObjective

# kernel widths as multiples of the median squared distance: a range of scales, so the
# objective keeps a gradient whether the two clouds are far apart or nearly matched
BANDWIDTH_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def mmd_discrepancy(x, px, y, py, factors=BANDWIDTH_FACTORS) -> torch.Tensor:
    """Weighted (biased, V-statistic) MMD^2 = px'Kxx px + py'Kyy py - 2 px'Kxy py with
    k(a, b) = mean over f of exp(-|a - b|^2 / (f m)), m the (lower) median squared distance
    between distinct vectors of both sides together, detached: the bandwidth follows the data
    without being something the encoders can push. Zero for identical sets, never negative."""
    z = torch.cat([x, y])
    w = torch.cat([px, -py])  # signed weights: w'Kw expands to the three terms above
    sq = (z * z).sum(dim=1)
    d2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * z @ z.t()).clamp(min=0)
    i, j = torch.triu_indices(len(z), len(z), offset=1, device=z.device)
    m = d2.detach()[i, j].median().clamp(min=1e-6)
    kernel = sum(torch.exp(-d2 / (f * m)) for f in factors) / len(factors)
    return w @ kernel @ w


@register_alignment("mmd")
class MMDAlignment(MatchingObjective):
    summary = "multi-kernel Gaussian MMD^2 of pooled speech/text, no adversary (--matching-weight)"

    def discrepancy(self, x, px, y, py):
        return mmd_discrepancy(x, px, y, py)
