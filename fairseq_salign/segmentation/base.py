"""What a voice-activity detector is: 16 kHz mono audio -> one speech/non-speech flag per frame."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


class VADError(ValueError):
    """A detector that cannot run (missing package, bad option); the message says what to do."""


@dataclass(frozen=True)
class Segment:
    """``[start, end)`` in seconds of the recording; ``speech_start``/``speech_end`` are the
    voiced part (the cue's time span), ``start``/``end`` include the padding the model hears."""

    start: float
    end: float
    speech_start: float
    speech_end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class VoiceActivityDetector(ABC):
    name: ClassVar[str]

    @property
    @abstractmethod
    def frame_seconds(self) -> float:
        """Length (and hop) of one decision frame."""

    @abstractmethod
    def voiced_frames(self, wave16k: np.ndarray) -> np.ndarray:
        """bool ``[n_frames]``: frame ``i`` covers ``[i, i+1) * frame_seconds``; a trailing
        partial frame is left out."""
