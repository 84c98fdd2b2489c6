"""Audio loading and Kaldi-compatible log-mel filterbanks, without torchaudio or fairseq.

The MuST-C recipe (``examples/mustc/prep_mustc_data.py``) and any later inference tool featurize
audio through these functions, so a user's wav file is turned into exactly the features the model
was trained on. The settings reproduce what fairseq's own recipe gets from
``torchaudio.compliance.kaldi.fbank`` with its defaults: 25 ms Povey window, 10 ms shift, no
dither, pre-emphasis 0.97, DC-offset removal, power spectrum, 80 mel bins from 20 Hz to Nyquist,
``snip_edges`` framing, natural log floored at float32 epsilon, on a waveform scaled to the int16
range (Kaldi's convention; fairseq multiplies by 2**15 before calling it).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Optional, Union

import numpy as np
import soundfile as sf

TARGET_SAMPLE_RATE = 16_000
N_MEL_BINS = 80
FRAME_LENGTH_SAMPLES = 400  # 25 ms at 16 kHz
FRAME_SHIFT_SAMPLES = 160  # 10 ms at 16 kHz

PathLike = Union[str, Path]


class AudioError(ValueError):
    """Audio that cannot be used; the message always names the file."""


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file (read without decoding the samples)."""

    path: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: PathLike) -> AudioInfo:
    """Read the header; raise :class:`AudioError` for missing, unreadable or empty files."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError by version
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    if info.frames <= 0:
        raise AudioError(f"{path}: audio is empty (0 samples)")
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames))


def read_audio(path: PathLike) -> tuple[np.ndarray, AudioInfo]:
    """Decode a whole file as float32 ``[frames, channels]`` at its own sample rate."""
    info = audio_info(path)
    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio is empty (0 samples)")
    return data, info


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average the channels of ``[frames, channels]`` (a no-op copy-free path for mono)."""
    if data.ndim == 1:
        return data
    if data.shape[1] == 1:
        return data[:, 0]
    return data.mean(axis=1, dtype=np.float32)


def resample(wave: np.ndarray, sample_rate: int, target: int = TARGET_SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (scipy, Kaiser-windowed FIR): exact rational ratio, no drift."""
    if sample_rate == target:
        return wave
    from scipy.signal import resample_poly  # imported lazily: only non-16k audio needs it

    g = gcd(int(sample_rate), int(target))
    out = resample_poly(wave.astype(np.float32), target // g, int(sample_rate) // g)
    return out.astype(np.float32)


def seconds_to_span(offset_s: float, duration_s: float, sample_rate: int) -> tuple[int, int]:
    """Sample span of a segment, truncating like fairseq's MuST-C recipe (``int(t * sr)``)."""
    start = int(float(offset_s) * sample_rate)
    return start, start + int(float(duration_s) * sample_rate)


def load_audio(
    path: PathLike, offset_s: Optional[float] = None, duration_s: Optional[float] = None
) -> np.ndarray:
    """Mono float32 waveform in [-1, 1] at 16 kHz, optionally only ``[offset, offset+duration)``.

    The span is cut at the file's own rate before resampling, and a span that runs past the end
    of the file is an error (with the numbers) rather than a silently shorter segment.
    """
    data, info = read_audio(path)
    if offset_s is not None or duration_s is not None:
        offset = 0.0 if offset_s is None else float(offset_s)
        duration = info.duration_s - offset if duration_s is None else float(duration_s)
        start, end = seconds_to_span(offset, duration, info.sample_rate)
        if start < 0 or end <= start:
            raise AudioError(f"{path}: invalid segment offset={offset} duration={duration}")
        if end > info.frames:
            raise AudioError(
                f"{path}: segment offset={offset}s duration={duration}s ends at "
                f"{end / info.sample_rate:.3f}s, past the end of the audio "
                f"({info.duration_s:.3f}s, {info.frames} samples at {info.sample_rate} Hz)"
            )
        data = data[start:end]
    return resample(to_mono(data), info.sample_rate)


def n_fbank_frames(n_samples: int) -> int:
    """Frames Kaldi produces with ``snip_edges``: ``1 + (n - 400) // 160``, 0 if shorter."""
    if n_samples < FRAME_LENGTH_SAMPLES:
        return 0
    return 1 + (n_samples - FRAME_LENGTH_SAMPLES) // FRAME_SHIFT_SAMPLES


def _fbank_options(n_mel_bins: int):
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = TARGET_SAMPLE_RATE
    opts.frame_opts.frame_length_ms = 25.0
    opts.frame_opts.frame_shift_ms = 10.0
    opts.frame_opts.dither = 0.0  # kaldi-native-fbank defaults to 3e-5; torchaudio to 0
    opts.frame_opts.snip_edges = True
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.remove_dc_offset = True
    opts.mel_opts.num_bins = n_mel_bins
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 0.0
    opts.use_energy = False
    opts.use_log_fbank = True
    opts.use_power = True
    return opts


def compute_fbank(wave16k: np.ndarray, n_mel_bins: int = N_MEL_BINS) -> np.ndarray:
    """Log-mel filterbank ``[T, n_mel_bins]`` float32 of a mono 16 kHz waveform in [-1, 1].

    ``T == n_fbank_frames(len(wave16k))``; a waveform shorter than one 25 ms window gives
    ``T == 0`` (callers decide whether that is an error).
    """
    import kaldi_native_fbank as knf

    wave = np.asarray(wave16k, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"compute_fbank expects a mono 1-D waveform, got shape {wave.shape}")
    fbank = knf.OnlineFbank(_fbank_options(n_mel_bins))
    fbank.accept_waveform(TARGET_SAMPLE_RATE, wave * 32768.0)  # Kaldi's int16 scale
    fbank.input_finished()
    n = fbank.num_frames_ready
    out = np.empty((n, n_mel_bins), dtype=np.float32)
    for i in range(n):
        out[i] = fbank.get_frame(i)
    return out


def standardize_audio(data_cfg) -> bool:
    """Whether a data config asks for standardized waveforms. fairseq 0.12's
    ``S2TDataConfig.standardize_audio`` is a method, and its own dataset tests the bound method
    (always true): every waveform would be standardized, whatever the config says."""
    value = data_cfg.standardize_audio
    return bool(value() if callable(value) else value)


def standardize(wave: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Zero mean, unit variance over the whole waveform, as fairseq's dataset ``layer_norm``s a
    waveform for ``standardize_audio`` configs (biased variance, eps 1e-5), in float32: the one
    definition the training data and inference both use."""
    wave = np.asarray(wave, dtype=np.float32)
    return ((wave - wave.mean()) / np.sqrt(wave.var() + eps)).astype(np.float32)
