"""``none``: the plain multi-task baseline (ST + MT + CTC, no alignment term)."""
from .base import AlignmentObjective, AlignmentOutput, register_alignment


@register_alignment("none")
class NoAlignment(AlignmentObjective):
    """Registered so that ``none`` is a listed choice; ``parse_alignment`` turns it into no
    objective at all, so the criterion skips the text encoder when MT is off."""

    summary = "no alignment, the plain multi-task baseline"

    def align(self, inputs):
        zero = inputs.speech_weights.new_zeros((), dtype=inputs.speech_weights.dtype)
        return AlignmentOutput(zero, zero, {})
