"""The feature kinds by name (``KINDS``, ``make_kind``): below ``record`` (which rebuilds a recorded
kind) and the package, which re-exports them."""
from __future__ import annotations

from ..errors import PrepError
from .base import SPECAUGMENT_CHOICES, SPECAUGMENT_POLICIES, FeatureKind  # noqa: F401
from .fbank import Fbank80
from .waveform import Waveform
from .ssl_states import SSLStates
from .whisper import WhisperStates

KINDS: dict[str, type[FeatureKind]] = {k.name: k for k in (Fbank80, Waveform, WhisperStates, SSLStates)}


def make_kind(name: str, **options) -> FeatureKind:
    """The kind called ``name`` with its dataclass options (``Waveform(format="wav")``)."""
    if name not in KINDS:
        raise PrepError(f"unknown feature kind {name!r}: choose one of {', '.join(KINDS)}")
    try:
        return KINDS[name](**options)
    except TypeError as e:
        raise PrepError(f"feature kind {name}: {e}") from None
