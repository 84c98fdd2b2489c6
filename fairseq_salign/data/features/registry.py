"""The feature kinds by name: ``KINDS.build("waveform", format="wav")``; below ``record`` (which
rebuilds a recorded kind) and the package, which re-exports it."""
from __future__ import annotations

from ...registry import Registry
from ..errors import PrepError
from .base import FeatureKind
from .fbank import Fbank80
from .ssl_states import SSLStates
from .waveform import Waveform
from .whisper import WhisperStates


def _construct(cls, **options) -> FeatureKind:
    """``cls(**options)``, a misspelt option named as the recipe's error."""
    try:
        return cls(**options)
    except TypeError as e:
        raise PrepError(f"feature kind {cls.name}: {e}") from None


KINDS: Registry[FeatureKind] = Registry("feature kind", "--features", PrepError, _construct)
for _kind in (Fbank80, Waveform, WhisperStates, SSLStates):
    KINDS.register(_kind.name, _kind)
