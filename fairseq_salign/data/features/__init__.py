"""Stored feature kinds of the MuST-C recipe, chosen by name (``--features``).

Each kind is a :class:`FeatureKind` subclass in its own file; ``KINDS`` maps its name to the
class. To add one (for example ``ssl``: layer-N states of HuBERT / wav2vec 2.0), write a frozen
dataclass that defines ``name``, ``zip_name``, ``member_suffix``, ``fingerprint``, ``n_frames``,
``featurize``, ``stored_frames`` and ``config`` (and, if it has options or a model to load,
``add_args``/``from_args``, ``check`` and ``for_workers``), then add it to ``KINDS``; the recipe,
its command line and its output directory (``en-{lang}/{name}/``) follow.
"""
from __future__ import annotations

from ..mustc import PrepError
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
