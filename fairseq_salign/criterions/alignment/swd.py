"""``swd``: sliced Wasserstein distance between the pooled speech and text vectors."""
from typing import Optional

import torch
import torch.nn.functional as F

from .base import register_alignment
from .matching import MatchingObjective

NUM_PROJECTIONS = 64


def wasserstein_1d(x, px, y, py) -> torch.Tensor:
    """Squared 2-Wasserstein distance per column between weighted 1-D samples x (Bx x K) and
    y (By x K): the integral over u in (0, 1) of the squared gap between their quantile
    functions. Both are step functions, constant between the union of the two sides'
    cumulative weights, so the integral is an exact finite sum: unequal batch sizes and
    weights need no resampling."""
    xs, ix = x.sort(dim=0)
    ys, iy = y.sort(dim=0)
    cx, cy = px[ix].cumsum(dim=0), py[iy].cumsum(dim=0)
    u = torch.cat([cx, cy]).sort(dim=0).values
    du = torch.diff(u, dim=0, prepend=u.new_zeros(1, u.size(1)))
    mid = (u - 0.5 * du).t().contiguous()

    def quantile(sorted_values, cumulative):
        index = torch.searchsorted(cumulative.t().contiguous(), mid).t()
        return sorted_values.gather(0, index.clamp(max=len(sorted_values) - 1))

    return (du * (quantile(xs, cx) - quantile(ys, cy)) ** 2).sum(dim=0)


def swd_discrepancy(x, px, y, py, projections: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean over unit directions (C x K ``projections``; default NUM_PROJECTIONS drawn afresh
    from torch's generator, which fairseq seeds) of the squared 2-Wasserstein distance of the
    projected samples."""
    if projections is None:
        projections = F.normalize(torch.randn(x.size(1), NUM_PROJECTIONS, device=x.device), dim=0)
    return wasserstein_1d(x @ projections, px, y @ projections, py).mean()


@register_alignment("swd")
class SWDAlignment(MatchingObjective):
    summary = (
        f"sliced Wasserstein of pooled speech/text ({NUM_PROJECTIONS} random projections), "
        "no adversary (--matching-weight)"
    )

    def discrepancy(self, x, px, y, py):
        return swd_discrepancy(x, px, y, py)
