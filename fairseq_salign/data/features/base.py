"""What a stored feature kind is: the contract between ``prep.py`` and one way of storing speech.

``prep.py`` knows nothing about any kind: it cuts each segment as a mono 16 kHz float32 waveform,
asks the kind for the bytes of one zip member and for the frame count the manifest must promise,
checks that the stored member holds exactly that many frames, and writes the kind's
``config_st.yaml`` entries. A new kind (for example layer-N states of an SSL model) is one
subclass in its own file plus one line in ``features/__init__.py``.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np

from ..errors import PrepError

# fairseq's SpecAugment policies, as its recipes write them (examples/speech_to_text/data_utils.py).
# lb is what fairseq's MuST-C recipe uses; its time masks of up to 100 frames suit ~6 s segments
# but can hide most of a 1-2 s one, where ss/sm (masks capped at 20% of the length) fit better.
# Frame counts are 10 ms fbank frames over 80 mel bins: kinds with other frames rescale them.
SPECAUGMENT_POLICIES = {
    "lb": {"time_warp_W": 0, "freq_mask_N": 1, "freq_mask_F": 27,
           "time_mask_N": 1, "time_mask_T": 100, "time_mask_p": 1.0},
    "ld": {"time_warp_W": 0, "freq_mask_N": 2, "freq_mask_F": 27,
           "time_mask_N": 2, "time_mask_T": 100, "time_mask_p": 1.0},
    "sm": {"time_warp_W": 0, "freq_mask_N": 2, "freq_mask_F": 15,
           "time_mask_N": 2, "time_mask_T": 70, "time_mask_p": 0.2},
    "ss": {"time_warp_W": 0, "freq_mask_N": 2, "freq_mask_F": 27,
           "time_mask_N": 2, "time_mask_T": 70, "time_mask_p": 0.2},
}
SPECAUGMENT_CHOICES = (*SPECAUGMENT_POLICIES, "none")


class FeatureKind(ABC):
    """One way of storing a segment in a stored (uncompressed) zip.

    Subclasses are frozen dataclasses whose fields are the kind's options: they are pickled to
    the worker processes, so anything heavy (a model) is loaded lazily inside the worker and
    cached there, never kept on the instance.
    """

    name: ClassVar[str]  # the --features value
    zip_name: ClassVar[str]  # e.g. fbank80.zip
    default_specaugment: ClassVar[str] = "none"  # policy used when none is asked for
    fork_safe: ClassVar[bool] = True  # False: worker processes are spawned, not forked

    @property
    def output_subdir(self) -> str:
        """Where in ``en-{lang}/`` this kind's data directory goes by default: its own
        subdirectory, so preparations of several kinds of one corpus sit side by side."""
        return self.name

    # ------------------------------------------------------------ what every kind defines
    @property
    @abstractmethod
    def member_suffix(self) -> str:
        """Suffix of the zip members (``.npy``, ``.flac``): fairseq's readers go by content,
        people by name."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Version string recorded per split: change it (or an option in it) and every split is
        featurized again instead of being copied from the old zip."""

    @abstractmethod
    def n_frames(self, n_samples: int) -> int:
        """Exact stored length for a segment of ``n_samples`` at 16 kHz (the manifest's
        ``n_frames``; fairseq batches and filters by it, so it must not be an estimate)."""

    @abstractmethod
    def featurize(self, wave16k: np.ndarray) -> bytes:
        """Bytes of one zip member for a mono 16 kHz float32 waveform in [-1, 1]."""

    @abstractmethod
    def stored_frames(self, blob: bytes) -> int:
        """Frames in a member, read back from its bytes (checked against :meth:`n_frames`)."""

    @abstractmethod
    def config(self, specaugment: str) -> dict:
        """``config_st.yaml`` entries of this kind: input_* keys, feature transforms."""

    # ------------------------------------------------------------ inference: the same features
    #: the dataclass field naming the pretrained weights the kind runs (None: no model), which a
    #: user may point elsewhere at inference (``--feature-weights``): identity is the checksum
    weights_field: ClassVar[Optional[str]] = None
    #: fields that only tune speed, not the features: left out of :meth:`record`
    runtime_fields: ClassVar[tuple] = ("threads",)

    def weights_file(self) -> Optional[Path]:
        """The file whose checksum identifies the pretrained model this kind runs (``None``:
        the kind runs no model)."""
        return None

    def record(self) -> dict:
        """What ``config_st.yaml`` keeps (key ``salign_features``) so that inference computes
        exactly these features from raw audio: the kind, its options and, for a kind that runs
        a pretrained model, the checksum of its weights (see ``features.record``)."""
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                   if f.name not in self.runtime_fields}
        if self.weights_field and options.get(self.weights_field):
            options[self.weights_field] = str(Path(options[self.weights_field]).resolve())
        out = {"kind": self.name, "options": options, "fingerprint": self.fingerprint()}
        weights = self.weights_file()
        if weights is not None:
            out["weights_sha1"] = file_sha1(weights)
        return out

    def read_member(self, blob: bytes) -> np.ndarray:
        """A stored member's bytes -> the array fairseq's dataset reads from it."""
        return np.load(io.BytesIO(blob))

    def features(self, wave16k: np.ndarray) -> np.ndarray:
        """The array this kind stores for a waveform, as the training data loader reads it
        back (through the stored bytes, so inference sees exactly what training saw)."""
        return self.read_member(self.featurize(wave16k))

    # ------------------------------------------------------------ optional hooks
    def check(self) -> None:
        """Fail fast (``PrepError``), before any audio is read, when the kind cannot run here
        (a missing optional package or model)."""

    def for_workers(self, num_workers: int) -> "FeatureKind":
        """The instance each of ``num_workers`` processes uses (e.g. with its thread count)."""
        return self

    def default_num_workers(self, cpus: int) -> int:
        """Worker processes when the command line does not say (``--num-workers``)."""
        return min(4, cpus)

    def describe(self) -> str:
        """One line for the summary."""
        return self.name

    @classmethod
    def add_args(cls, group: argparse._ArgumentGroup) -> None:
        """Command-line options of this kind (default ``None`` = the field's default)."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "FeatureKind":
        return cls()


class ModelStates(FeatureKind):
    """A kind that stores a frozen model's ``[frames, dim]`` states as .npy members; the
    subclass loads its model lazily in ``_load`` (per worker process)."""

    @property
    def member_suffix(self) -> str:
        return ".npy"

    def check(self) -> None:
        self._load()

    def stored_frames(self, blob: bytes) -> int:
        return npy_frames(blob)

    @abstractmethod
    def _load(self):
        """The model (cached per process); raises ``PrepError`` when it cannot be loaded."""


# ---------------------------------------------------------------- helpers shared by kinds
_FILE_HASHES: dict = {}  # path -> sha1 prefix, this process


def file_sha1(path) -> str:
    """First 16 hex digits of a (model) file's sha1, computed once per process: a kind's
    fingerprint changes when its model file does."""
    import hashlib

    key = str(path)
    if key not in _FILE_HASHES:
        h = hashlib.sha1()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()[:16]
    return _FILE_HASHES[key]


def npy_bytes(array: np.ndarray) -> bytes:
    """``np.save`` of ``array`` as bytes: what fairseq's zip reader ``np.load``s."""
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_frames(blob: bytes) -> int:
    return int(np.load(io.BytesIO(blob)).shape[0])


def feature_config(dim: int, specaugment: str, frames_per_second: float = 100.0) -> dict:
    """``[T, dim]`` features with fairseq's utterance CMVN and, for a policy other than
    ``none``, SpecAugment rescaled to these frames: the same seconds of time mask and the
    same fraction of dimensions as the policy gives 80-bin fbank at 100 frames/s."""
    if specaugment not in SPECAUGMENT_CHOICES:
        raise PrepError(f"unknown SpecAugment policy {specaugment!r}: choose one of "
                        f"{', '.join(SPECAUGMENT_CHOICES)}")
    config: dict = {
        "input_channels": 1,
        "input_feat_per_channel": dim,
        "feature_transforms": {
            "_train": ["utterance_cmvn"] + (["specaugment"] if specaugment != "none" else []),
            "*": ["utterance_cmvn"],
        },
    }
    if specaugment != "none":
        policy = dict(SPECAUGMENT_POLICIES[specaugment])
        policy["freq_mask_F"] = max(1, round(policy["freq_mask_F"] * dim / 80))
        policy["time_mask_T"] = max(1, round(policy["time_mask_T"] * frames_per_second / 100))
        config["specaugment"] = policy
    return config

