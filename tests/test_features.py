"""Audio loading and fbank: Kaldi-compatible values, frame counts, resampling, bad files."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from fairseq_salign.audio import (
    AudioError,
    compute_fbank,
    load_audio,
    n_fbank_frames,
)

SR = 16_000


def kaldi_fbank_reference(wave: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Direct numpy transcription of Kaldi's compute-fbank-feats (torchaudio defaults)."""
    x = wave.astype(np.float64) * 32768.0
    n = 1 + (len(x) - 400) // 160
    frames = np.stack([x[i * 160 : i * 160 + 400] for i in range(n)])
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove_dc_offset
    prev = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - 0.97 * prev  # pre-emphasis, first sample uses itself
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85  # povey
    power = np.abs(np.fft.rfft(frames * window, n=512)) ** 2
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)  # noqa: E731
    lo, hi = mel(20.0), mel(SR / 2)
    delta = (hi - lo) / (n_mels + 1)
    fft_mel = mel(np.arange(256) * SR / 512)
    banks = np.zeros((n_mels, 257))
    for m in range(n_mels):
        left, center, right = lo + m * delta, lo + (m + 1) * delta, lo + (m + 2) * delta
        up = (fft_mel - left) / (center - left)
        down = (right - fft_mel) / (right - center)
        banks[m, :256] = np.maximum(0.0, np.minimum(up, down))
    energies = power @ banks.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps)).astype(np.float32)


def sine(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def mel_bin_of(freq: float, n_mels: int = 80) -> int:
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)  # noqa: E731
    lo, hi = mel(20.0), mel(SR / 2)
    return int((mel(freq) - lo) / ((hi - lo) / (n_mels + 1)) - 0.5)


def test_fbank_of_1khz_sine_matches_direct_kaldi_computation():
    wave = sine(1000.0, 1.0)
    feats = compute_fbank(wave)
    assert feats.shape == (98, 80) and feats.dtype == np.float32
    assert feats.shape[0] == n_fbank_frames(len(wave)) == 1 + (16000 - 400) // 160
    peak = np.bincount(feats.argmax(axis=1)).argmax()
    assert abs(peak - mel_bin_of(1000.0)) <= 1
    ref = kaldi_fbank_reference(wave)
    # bins far from the tone hold float32 FFT leakage ~e-12 of the peak energy: compare the
    # rest exactly and those loosely
    strong = ref > ref.max() - 20
    assert np.abs(feats - ref)[strong].max() < 1e-2
    assert np.abs(feats - ref).max() < 0.1
    assert feats[:, peak].mean() > feats.mean() + 10  # a pure tone stands out by far


def test_fbank_of_noise_matches_direct_kaldi_computation():
    wave = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    np.testing.assert_allclose(compute_fbank(wave), kaldi_fbank_reference(wave), atol=1e-3)


def test_frame_count_follows_snip_edges():
    for n in (399, 400, 401, 559, 560, 16_000, 16_159):
        assert compute_fbank(np.zeros(n, np.float32) + 0.01).shape[0] == n_fbank_frames(n)
    assert n_fbank_frames(399) == 0 and n_fbank_frames(400) == 1 and n_fbank_frames(560) == 2


def test_load_audio_segment_resample_and_mixdown(tmp_path):
    wave = sine(440.0, 2.0)
    sf.write(tmp_path / "a16.wav", wave, SR, subtype="FLOAT")
    seg = load_audio(tmp_path / "a16.wav", offset_s=0.5, duration_s=1.0)
    np.testing.assert_array_equal(seg, wave[8000:24000])

    stereo = np.stack([sine(440.0, 2.0, 8000), sine(440.0, 2.0, 8000)], axis=1)
    sf.write(tmp_path / "a8.wav", stereo, 8000, subtype="FLOAT")
    out = load_audio(tmp_path / "a8.wav")
    assert out.ndim == 1 and len(out) == 32000
    # the tone survives resampling: same fbank peak as the 16 kHz original
    assert np.bincount(compute_fbank(out).argmax(1)).argmax() == \
        np.bincount(compute_fbank(wave).argmax(1)).argmax()


def test_load_audio_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match=r"bad\.wav: cannot read audio"):
        load_audio(bad)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match=r"empty\.wav: audio is empty"):
        load_audio(empty)
    with pytest.raises(AudioError, match=r"missing\.wav: audio file not found"):
        load_audio(tmp_path / "missing.wav")
    sf.write(tmp_path / "short.wav", sine(440.0, 1.0), SR)
    with pytest.raises(AudioError, match=r"short\.wav: segment offset=0.5s duration=1.0s ends at "
                                         r"1\.500s, past the end of the audio \(1\.000s"):
        load_audio(tmp_path / "short.wav", 0.5, 1.0)


def test_standardize_is_the_layer_norm_fairseq_applies_to_a_waveform():
    """One definition for the training data (the task's dataset) and inference (the hub)."""
    import torch
    import torch.nn.functional as F

    from fairseq_salign.audio import standardize

    wave = (0.3 * np.random.default_rng(0).standard_normal(16000) + 0.1).astype(np.float32)
    expected = F.layer_norm(torch.from_numpy(wave), (16000,)).numpy()
    out = standardize(wave)
    assert out.dtype == np.float32 and np.allclose(out, expected, atol=1e-5)
