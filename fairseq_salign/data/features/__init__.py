"""Stored feature kinds of the MuST-C recipe, chosen by name (``--features``).

Each kind is a :class:`FeatureKind` subclass in its own file; ``KINDS`` maps its name to the
class (``KINDS.build(name, **options)``). To add one, write a frozen dataclass that defines
``name``, ``zip_name``, ``member_suffix``, ``fingerprint``, ``n_frames``, ``featurize``,
``stored_frames`` and ``config`` (and, if it has options or a model to load,
``add_args``/``from_args``, ``check`` and ``for_workers``), then register it in ``KINDS``
(``registry.py``); the recipe, its command line and its output directory (``en-{lang}/{name}/``)
follow.
"""
from __future__ import annotations

from .base import SPECAUGMENT_CHOICES, SPECAUGMENT_POLICIES, FeatureKind  # noqa: F401
from .fbank import Fbank80  # noqa: F401
from .registry import KINDS  # noqa: F401
from .ssl_states import SSLStates  # noqa: F401
from .waveform import Waveform  # noqa: F401
from .whisper import WhisperStates  # noqa: F401
