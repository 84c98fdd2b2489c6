"""WebRTC's voice-activity detector (``webrtcvad-wheels``: Google's C implementation with
binary wheels; a GMM over sub-band energies, no model download, no torch/torchaudio/onnxruntime,
~100x faster than real time per core). Chosen over Silero VAD, a neural detector that is more
accurate on noisy speech but needs onnxruntime or torchaudio beside torch and ships a model."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio import TARGET_SAMPLE_RATE
from .base import VADError, VoiceActivityDetector

INSTALL_HINT = "pip install webrtcvad-wheels (or `make install`)"


@dataclass(frozen=True)
class WebRTCVad(VoiceActivityDetector):
    """``aggressiveness`` 0-3: how readily non-speech is rejected (3: most); frames of 10, 20 or
    30 ms (the only lengths WebRTC takes)."""

    aggressiveness: int = 2
    frame_ms: int = 30

    name = "webrtc"

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise VADError(f"webrtc VAD aggressiveness {self.aggressiveness}: choose 0, 1, 2 or 3")
        if self.frame_ms not in (10, 20, 30):
            raise VADError(f"webrtc VAD frame {self.frame_ms} ms: choose 10, 20 or 30")

    @property
    def frame_seconds(self) -> float:
        return self.frame_ms / 1000

    def voiced_frames(self, wave16k: np.ndarray) -> np.ndarray:
        try:
            import webrtcvad
        except ImportError:
            raise VADError(f"the webrtc voice-activity detector needs webrtcvad: {INSTALL_HINT}") from None
        vad = webrtcvad.Vad(self.aggressiveness)
        n = TARGET_SAMPLE_RATE * self.frame_ms // 1000
        pcm = (np.clip(np.asarray(wave16k, np.float32), -1.0, 1.0) * 32767).astype("<i2")
        n_frames = len(pcm) // n
        data = pcm[: n_frames * n].tobytes()
        step = 2 * n  # bytes per frame
        return np.fromiter((vad.is_speech(data[i * step:(i + 1) * step], TARGET_SAMPLE_RATE)
                            for i in range(n_frames)), dtype=bool, count=n_frames)
