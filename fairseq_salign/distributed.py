"""Data-parallel facts the model and criterion need (fairseq's default c10d DDP backend fails a
step in which any trainable parameter got no gradient)."""
from typing import Iterable

import torch


def multi_process() -> bool:
    """Inside a data-parallel run of more than one process."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def zero_touch(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """0 x one element of each parameter: added to a loss it gives every one of them an exact
    zero gradient, so a step that leaves some unused (a frozen phase, a batch of one data kind)
    still reduces every gradient under DDP."""
    terms = [p.reshape(-1)[:1].sum() for p in params if p.requires_grad]
    return 0.0 * torch.stack([t.float() for t in terms]).sum() if terms else torch.zeros(())
