"""Alignment objectives of the ``salign`` criterion, chosen by name.

Each objective is one small file that registers a class with :func:`register_alignment`.
``--alignment`` names one objective or several joined with ``+`` (``soft+moments``); the
criterion adds their losses. A new objective is compared with the adversarial game by adding
one file here, without touching the criterion.
"""
from .base import (  # noqa: F401
    ALIGNMENTS,
    AlignmentInputs,
    AlignmentObjective,
    AlignmentOutput,
    align_all,
    build_alignments,
    choices_help,
    parse_alignment,
    register_alignment,
)

# the built-in objectives register themselves (their order is --alignment's help order)
from . import none, soft, hard, moments, mmd, swd  # noqa: E402,F401
