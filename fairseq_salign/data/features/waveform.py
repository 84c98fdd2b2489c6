"""``waveform``: the 16 kHz mono segment itself, for models that read audio (HuBERT, wav2vec 2.0).

Members are FLAC (default: 16-bit PCM, lossless for MuST-C's own 16-bit 16 kHz mono wavs; a
resampled or mixed-down segment is rounded to 16 bits) or WAV (32-bit float: exact, about 3x
the size). Samples outside [-1, 1] (resampling can overshoot) are clipped in both formats.
``data/stored_audio.load_stored_waveform`` reads a member back. ``n_frames`` is the number of
samples, fairseq's convention for ``use_audio_input``; the model normalizes the waveform as its
checkpoint expects, so the config asks for no standardization and no feature transforms
(fairseq applies none to audio input).
"""
from __future__ import annotations

import argparse
import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ...audio import TARGET_SAMPLE_RATE
from ..errors import PrepError
from .base import FeatureKind

FORMATS = {"flac": ("FLAC", "PCM_16"), "wav": ("WAV", "FLOAT")}


@dataclass(frozen=True)
class Waveform(FeatureKind):
    """One ``.flac`` or ``.wav`` per segment in ``wav16k.zip``."""

    format: str = "flac"

    name = "waveform"
    zip_name = "wav16k.zip"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise PrepError(f"--waveform-format {self.format!r}: choose one of "
                            f"{', '.join(FORMATS)}")

    @property
    def member_suffix(self) -> str:
        return f".{self.format}"

    def fingerprint(self) -> str:
        container, subtype = FORMATS[self.format]
        return f"wav16k-{container}-{subtype}-clip-v1"

    def n_frames(self, n_samples: int) -> int:
        return n_samples

    def featurize(self, wave16k: np.ndarray) -> bytes:
        container, subtype = FORMATS[self.format]
        buf = io.BytesIO()
        wave = np.clip(np.asarray(wave16k, dtype=np.float32), -1.0, 1.0)
        sf.write(buf, wave, TARGET_SAMPLE_RATE, format=container, subtype=subtype)
        return buf.getvalue()

    def stored_frames(self, blob: bytes) -> int:
        return int(sf.info(io.BytesIO(blob)).frames)

    def read_member(self, blob: bytes) -> np.ndarray:
        # as data/stored_audio.load_stored_waveform decodes a member for the dataset
        return sf.read(io.BytesIO(blob), dtype="float32", always_2d=False)[0]

    def config(self, specaugment: str) -> dict:
        if specaugment != "none":
            raise PrepError(f"--specaugment-policy {specaugment}: waveform features take no "
                            "feature transforms (fairseq applies none to audio input); "
                            "leave the option out or pass none")
        return {
            "use_audio_input": True,
            "use_sample_rate": TARGET_SAMPLE_RATE,
            "standardize_audio": False,
            "input_channels": 1,
            "input_feat_per_channel": 1,
        }

    def describe(self) -> str:
        container, subtype = FORMATS[self.format]
        return f"waveform ({container} {subtype}, 16 kHz mono)"

    @classmethod
    def add_args(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--waveform-format", choices=sorted(FORMATS), default=None,
                           help="flac: 16-bit PCM, lossless for 16-bit 16 kHz mono input "
                                "(default); wav: 32-bit float, exact, ~3x larger")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Waveform":
        return cls(format=args.waveform_format or "flac")
