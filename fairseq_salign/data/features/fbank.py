"""``fbank80``: 80-dim Kaldi log-mel filterbanks, the recipe's original and default kind.

Byte-identical to what ``prep.py`` wrote before feature kinds existed, and with the same
fingerprint, so an existing preparation is reused rather than recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import audio
from ...audio import N_MEL_BINS, n_fbank_frames
from .base import FeatureKind, feature_config, npy_bytes, npy_frames

FEATURE_VERSION = "knf-fbank80-povey-25ms-10ms-dither0-v1"  # bump when features change


@dataclass(frozen=True)
class Fbank80(FeatureKind):
    """``[n_frames, 80]`` float32 .npy per segment; 25 ms windows every 10 ms (``snip_edges``)."""

    name = "fbank80"
    zip_name = "fbank80.zip"
    default_specaugment = "lb"

    @property
    def output_subdir(self) -> str:
        return ""  # en-{lang}/ itself, where the recipe always wrote it

    @property
    def member_suffix(self) -> str:
        return ".npy"

    def fingerprint(self) -> str:
        return FEATURE_VERSION

    def n_frames(self, n_samples: int) -> int:
        return n_fbank_frames(n_samples)

    def featurize(self, wave16k: np.ndarray) -> bytes:
        # looked up on the audio module at call time: audio.compute_fbank is where the
        # interruption test (tests/test_prep_mustc.py) cuts a run short
        return npy_bytes(audio.compute_fbank(wave16k))

    def stored_frames(self, blob: bytes) -> int:
        return npy_frames(blob)

    def config(self, specaugment: str) -> dict:
        return feature_config(N_MEL_BINS, specaugment)
