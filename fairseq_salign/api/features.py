"""Audio (a file, or an array at any sample rate) -> what an S-Align model reads.

fbank models get the recipe's own 80-dim Kaldi filterbanks (``data.audio.compute_fbank``) with
the data config's eval-time feature transforms (utterance CMVN, or global CMVN); waveform (SSL)
models get the 16 kHz samples, standardized when the config says so. Models trained on stored
Whisper / SSL states (``--features whisper|ssl``) are refused: their front end is not part of
the checkpoint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from ..data.audio import (
    FRAME_LENGTH_SAMPLES,
    FRAME_SHIFT_SAMPLES,
    TARGET_SAMPLE_RATE,
    AudioError,
    compute_fbank,
    load_audio,
    n_fbank_frames,
    resample,
    to_mono,
)
from ..tasks.waveform_data import standardize_audio
from .loading import ModelError

FRAMES_PER_SECOND = TARGET_SAMPLE_RATE // FRAME_SHIFT_SAMPLES  # 10 ms fbank shift
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
    """16 kHz waveform -> model input (normalised fbank frames, or samples for an SSL front end),
    refusing what the model cannot take (too short for one 25 ms frame, beyond its source
    positions)."""

    def __init__(self, data_cfg, max_frames: int):
        from fairseq.data.audio.feature_transforms import CompositeAudioFeatureTransform

        self.waveform = bool(data_cfg.use_audio_input)
        self.standardize = standardize_audio(data_cfg)
        fbank80 = data_cfg.input_feat_per_channel == 80 and data_cfg.input_channels == 1
        if not (self.waveform or fbank80):
            raise ModelError(
                f"the data config describes {data_cfg.input_feat_per_channel}-dim stored features "
                "(e.g. --features whisper or ssl), neither 80-dim filterbanks nor waveforms "
                "(use_audio_input): this model needs the recipe's feature extractor, not shipped "
                "with it; translate prepared data with fairseq-generate instead"
            )
        # not a split name: selects the config's `_eval` (else `*`) transforms
        self.transforms = CompositeAudioFeatureTransform.from_config_dict(
            data_cfg.get_feature_transforms("salign-translate", False)
        )
        self.max_frames = max_frames  # encoder positions: 10 ms frames, or samples for waveforms

    @property
    def max_seconds(self) -> float:
        """The longest audio the model's source positions take."""
        if self.waveform:
            return self.max_frames / TARGET_SAMPLE_RATE
        return (FRAME_LENGTH_SAMPLES + (self.max_frames - 1) * FRAME_SHIFT_SAMPLES) / TARGET_SAMPLE_RATE

    def __call__(self, wave: np.ndarray, name: str) -> np.ndarray:
        seconds = len(wave) / TARGET_SAMPLE_RATE
        if len(wave) < FRAME_LENGTH_SAMPLES:  # one 25 ms window: the shortest either front end takes
            raise AudioError(f"{name}: {seconds * 1000:.0f} ms is shorter than one 25 ms frame")
        if self.waveform:
            return self._waveform(wave, name, seconds)
        n = n_fbank_frames(len(wave))
        if n > self.max_frames:
            limit = self.max_frames / FRAMES_PER_SECOND
            raise AudioError(
                f"{name}: {seconds:.1f} s ({n} frames) is beyond the model's "
                f"{self.max_frames} source positions ({limit:g} s); " + split_hint(name, limit)
            )
        features = compute_fbank(wave)
        return self.transforms(features) if self.transforms is not None else features

    def _waveform(self, wave: np.ndarray, name: str, seconds: float) -> np.ndarray:
        if len(wave) > self.max_frames:  # the encoder counts samples for waveform input
            limit = self.max_frames / TARGET_SAMPLE_RATE
            raise AudioError(f"{name}: {seconds:.1f} s is beyond the model's {limit:g} s of "
                             "source positions; " + split_hint(name, limit))
        if self.standardize:  # as fairseq's dataset does for standardize_audio configs
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-5)
        return wave.astype(np.float32)
