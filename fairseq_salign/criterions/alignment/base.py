"""The alignment objectives' contract and registry (``register_alignment``, ``ALIGNMENTS``), below
the objectives that register themselves in it and the package that imports them all."""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn

from ...registry import Registry


class AlignmentInputs(NamedTuple):
    """One batch's two sides as the criterion has them."""

    speech: dict  # the encoder's output dict: encoder_out (T x B x C), encoder_padding_mask, ...
    text: dict
    speech_weights: torch.Tensor  # B sentence weights (--alignment-sentence-weight)
    text_weights: torch.Tensor
    textual_encoder: Optional[nn.Module] = None  # soft's mix-up runs T-enc again
    num_updates: int = 0
    blank: int = 0
    nsentences: int = 0
    live: Tuple[bool, bool] = (True, True)  # which sides were encoded in this batch (soft, unpaired)


class AlignmentOutput(NamedTuple):
    loss: torch.Tensor  # what the objective adds to the training loss
    generator_loss: torch.Tensor  # the part that moves the encoders (the gradient-ratio probe)
    log: dict  # its loss parts, summed over sentences like the cross-entropies


class AlignmentObjective(nn.Module):
    """An objective: ``build`` it from the criterion's options, ``problems`` lists what is wrong
    with them before training, ``align`` computes its loss on one batch."""

    name = ""  # set by register_alignment
    summary = ""  # one line for --alignment's help
    attribute: Optional[str] = None  # the criterion's attribute for it (checkpoint key prefix)

    @classmethod
    def build(cls, cfg, task) -> "AlignmentObjective":
        return cls()

    @classmethod
    def problems(cls, cfg) -> List[str]:
        return []

    def align(self, inputs: AlignmentInputs) -> AlignmentOutput:
        raise NotImplementedError


# ``ALIGNMENTS.build(name, cfg, task)`` calls the class's ``build``; ``@register_alignment(name)``
ALIGNMENTS: Registry[AlignmentObjective] = Registry(
    "alignment objective", "--alignment", construct=lambda cls, cfg, task: cls.build(cfg, task))


def register_alignment(name: str):
    """Class decorator: make ``name`` a value of ``--alignment``."""

    def register(cls):
        if "+" in name:
            raise ValueError(f"alignment objective names cannot contain '+': {name!r}")
        cls.name = name
        return ALIGNMENTS.register(name)(cls)

    return register


def choices_help() -> str:
    return "; ".join(f"{name}: {cls.summary}" for name, cls in ALIGNMENTS.items())


def parse_alignment(value: str) -> Tuple[str, ...]:
    """The objectives an ``--alignment`` value names, in order; ``none`` gives ()."""
    parts = tuple(p.strip() for p in str(value).split("+"))
    unknown = [p for p in parts if p not in ALIGNMENTS]
    problem = None
    if unknown:
        problem = "unknown objective " + ", ".join(map(repr, unknown))
    elif len(set(parts)) < len(parts):
        problem = "an objective is named twice"
    elif "none" in parts and len(parts) > 1:
        problem = "none cannot be combined with other objectives"
    if problem:
        raise ValueError(
            f"--alignment {value}: {problem}; registered: {', '.join(ALIGNMENTS)} "
            "(join several with +, e.g. soft+moments)"
        )
    return tuple(p for p in parts if p != "none")


def build_alignments(parts: Tuple[str, ...], cfg, task) -> List[AlignmentObjective]:
    return [ALIGNMENTS.build(name, cfg, task) for name in parts]


def align_all(objectives, inputs: AlignmentInputs) -> AlignmentOutput:
    """The objectives' losses, generator parts and logs, added up."""
    outputs = [objective.align(inputs) for objective in objectives]
    log = {}
    for out in outputs:
        log.update(out.log)
    return AlignmentOutput(sum(o.loss for o in outputs), sum(o.generator_loss for o in outputs), log)
