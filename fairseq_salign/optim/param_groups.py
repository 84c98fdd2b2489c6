"""Which parameters step with their own optimizer settings, marked on the parameters themselves.

fairseq's trainer builds one optimizer over the model's and the criterion's parameters. A
parameter carrying ``param_group`` (fairseq's own attribute name: ``FP16Optimizer`` copies it to
its fp32 copies when it does not flatten them) tells :class:`SAlignAdam` to put it in a group of
its own. The modal network is marked: on the toy a discriminator on the task's momentum makes
the game circle instead of settle (docs/ablations.md, section 1).
"""
from typing import Iterable, List, Optional

import torch

MODAL_GROUP = "salign_modal_network"


def tag_parameters(params: Iterable[torch.nn.Parameter], group: str = MODAL_GROUP) -> None:
    for p in params:
        p.param_group = group


def modal_group_of(optimizer) -> Optional[dict]:
    """The modal network's param group of a (wrapped) fairseq or torch optimizer, if any."""
    for group in getattr(optimizer, "param_groups", []):
        if group.get("name") == MODAL_GROUP:
            return group
    return None


def split_by_tag(params: Iterable[torch.nn.Parameter]) -> List[List[torch.nn.Parameter]]:
    """[untagged, modal network]: the order of the optimizer's param groups (group 0 is the
    task's, whose learning rate fairseq reports)."""
    rest, modal = [], []
    for p in params:
        (modal if getattr(p, "param_group", None) == MODAL_GROUP else rest).append(p)
    return [rest, modal]


def _unwrapped(optimizer):
    """The FairseqOptimizer inside fairseq's fp16/AMP wrappers."""
    for attr in ("fp32_optimizer", "wrapped_optimizer"):
        inner = getattr(optimizer, attr, None)
        if inner is not None:
            return inner
    return optimizer


def check_modal_group(optimizer) -> Optional[str]:
    """None when the modal network (if trained) has its own group; else a warning to log.
    Raises when ``--optimizer salign_adam`` cannot give it one (plain --fp16 flattens every
    parameter into one tensor)."""
    originals = getattr(optimizer, "fp16_params", None)
    if originals is None or torch.is_tensor(originals):
        originals = list(getattr(optimizer, "params", []))
    if not any(getattr(p, "param_group", None) == MODAL_GROUP for p in originals):
        return None  # no modal network in this run
    if modal_group_of(optimizer) is not None:
        return None
    if getattr(_unwrapped(optimizer), "gives_modal_group", False):  # SAlignAdam
        raise ValueError(
            "--optimizer salign_adam cannot give the modal network its own Adam group: --fp16 "
            "flattens all parameters into one tensor. Add --fp16-no-flatten-grads (or use --amp "
            "or --memory-efficient-fp16)"
        )
    name = type(_unwrapped(optimizer)).__name__
    return (
        f"the S-Align modal network steps in {name}'s single param group, with the task's "
        "momentum: measured to make the adversarial game circle instead of aligning "
        "on the toy (docs/ablations.md, section 1). Use --optimizer salign_adam"
    )
