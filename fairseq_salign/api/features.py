"""Audio (a file, or an array at any sample rate) -> what an S-Align model reads.

The features are the recipe's own: the feature kind recorded in the data config
(``data.features.record``: 80-dim fbank, 16 kHz waveform, Whisper encoder states, SSL layer
states) computes them from the 16 kHz waveform exactly as it stored them for training, then the
config's eval-time transforms apply (utterance or global CMVN; waveform standardization when
the config asks for it), as fairseq's dataset applies them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..audio import (FRAME_LENGTH_SAMPLES, TARGET_SAMPLE_RATE, AudioError, load_audio, resample,
                     standardize, standardize_audio, to_mono)
from ..data.features.record import kind_from_record, recorded_kind
from ..data.errors import PrepError
from .loading import ModelError

Speech = Union[str, Path, np.ndarray]


def split_hint(name: str, seconds: float) -> str:
    return (
        f"split it into pieces of at most {seconds:g} s, e.g. `sox {name} part.wav trim 0 "
        f"{seconds:g} : newfile : restart`, or let salign-translate segment it (the default "
        "for files longer than --max-seconds)"
    )


def to_wave16k(speech: Speech, sample_rate: int = None, name: str = None) -> np.ndarray:
    """A file path (any format libsndfile reads) or an array ``[samples]`` / ``[samples,
    channels]`` at ``sample_rate`` -> mono float32 at 16 kHz."""
    if isinstance(speech, (str, Path)):
        return load_audio(speech)
    try:  # torch tensors too, without importing torch here
        wave = np.asarray(speech.detach().cpu() if hasattr(speech, "detach") else speech)
    except Exception as e:
        raise AudioError(f"{name}: not audio ({type(speech).__name__}: {e})") from None
    if sample_rate is None:
        raise AudioError(f"{name}: an array needs its sample_rate (e.g. sample_rate=16000)")
    if wave.ndim not in (1, 2) or wave.size == 0 or not np.issubdtype(wave.dtype, np.number):
        raise AudioError(f"{name}: expected a non-empty 1-D [samples] or 2-D [samples, channels] "
                         f"array of numbers, got {wave.dtype} {wave.shape}")
    if np.issubdtype(wave.dtype, np.integer):  # PCM as read by e.g. scipy.io.wavfile
        wave = wave.astype(np.float32) / np.iinfo(wave.dtype).max
    return resample(to_mono(wave.astype(np.float32)), int(sample_rate))


class Featurizer:
    """16 kHz waveform -> model input (the recorded kind's features after the config's
    transforms), refusing what the model cannot take (shorter than one 25 ms frame, beyond its
    source positions). ``weights``: where the kind's pretrained model is on this machine, when
    not at the recorded path (checked against the recorded checksum)."""

    def __init__(self, data_cfg, max_frames: int, weights: Optional[str] = None):
        from fairseq.data.audio.feature_transforms import CompositeAudioFeatureTransform

        root = getattr(data_cfg, "root", None)
        where = str(Path(root) / "config_st.yaml") if root is not None else "config_st.yaml"
        try:
            self.kind = kind_from_record(recorded_kind(data_cfg.config, where), weights, where)
        except PrepError as e:  # FeatureRecordError, or the kind's own (a missing package)
            raise ModelError(str(e)) from None
        self.waveform = bool(data_cfg.use_audio_input)
        self.standardize = standardize_audio(data_cfg)
        # not a split name: selects the config's `_eval` (else `*`) transforms
        self.transforms = CompositeAudioFeatureTransform.from_config_dict(
            data_cfg.get_feature_transforms("salign-translate", False)
        )
        self.max_frames = max_frames  # encoder positions, in the kind's frames (samples for waveforms)
        self._max_samples: Optional[int] = None

    @property
    def name(self) -> str:
        return self.kind.describe()

    @property
    def max_samples(self) -> int:
        """The most 16 kHz samples whose features fit the model's source positions."""
        if self._max_samples is None:  # n_frames grows with the samples: bisect it
            lo, hi = 0, self.max_frames * 4000 + FRAME_LENGTH_SAMPLES
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self.kind.n_frames(mid) <= self.max_frames else (lo, mid - 1)
            self._max_samples = lo
        return self._max_samples

    @property
    def max_seconds(self) -> float:
        """The longest audio the model's source positions take."""
        return self.max_samples / TARGET_SAMPLE_RATE

    def check(self, n_samples: int, name: str) -> None:
        """An ``AudioError`` naming ``name`` when ``n_samples`` is too short or too long."""
        seconds = n_samples / TARGET_SAMPLE_RATE
        if n_samples < FRAME_LENGTH_SAMPLES or self.kind.n_frames(n_samples) < 1:
            raise AudioError(f"{name}: {seconds * 1000:.0f} ms is shorter than one 25 ms frame")
        if n_samples > self.max_samples:
            n = self.kind.n_frames(n_samples)
            limit = math.floor(self.max_seconds * 100) / 100  # a hint the model surely takes
            raise AudioError(
                f"{name}: {seconds:.1f} s ({n} frames) is beyond the model's "
                f"{self.max_frames} source positions ({limit:g} s); " + split_hint(name, limit))

    def __call__(self, wave: np.ndarray, name: str) -> np.ndarray:
        self.check(len(wave), name)
        features = self.kind.features(wave)
        if self.waveform:
            # as the task's dataset does for standardize_audio configs
            return standardize(features) if self.standardize else features.astype(np.float32)
        return self.transforms(features) if self.transforms is not None else features
