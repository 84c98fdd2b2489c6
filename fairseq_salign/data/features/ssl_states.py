"""``ssl``: layer-N states of a frozen HuBERT / wav2vec 2.0 model, 50 frames per second.

The model is a fairseq checkpoint as downloaded (``hubert_base_ls960.pt``, ``wav2vec_small.pt``,
``wav2vec_vox_new.pt``, a CTC fine-tuned one), built and strictly loaded by the model side's
``pretrained_ssl.ssl_checkpoint`` (fairseq's own classes), run in eval mode without masking. Each
segment is encoded alone (no padding: HuBERT / wav2vec 2.0 base are not padding-invariant), and
the states after transformer layer N (1-based; ``--ssl-layer 0``, the default, = the last layer)
are stored as float32 ``[n_frames, dim]`` .npy. ``n_frames`` follows the conv extractor:
``L -> (L - kernel) // stride + 1`` per layer (``(n - 400) // 320 + 1`` for the standard one).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import PrepError
from .base import ModelStates, feature_config, file_sha1, npy_bytes

_LOADED: dict = {}  # (checkpoint, layer) -> (model, spec), this process


@dataclass(frozen=True)
class SSLStates(ModelStates):
    """``[n_frames, dim]`` float32 states of layer ``layer`` per segment in ``ssl.zip``."""

    checkpoint: Optional[str] = None
    layer: int = 0  # 0: the last layer
    threads: int = 0

    name = "ssl"
    zip_name = "ssl.zip"
    weights_field = "checkpoint"

    # ------------------------------------------------------------ model
    def _load(self):
        if not self.checkpoint:
            raise PrepError("--features ssl needs --ssl-checkpoint PATH (a fairseq HuBERT / "
                            "wav2vec 2.0 checkpoint, e.g. hubert_base_ls960.pt)")
        key = (self.checkpoint, self.layer)
        if key not in _LOADED:
            from ...pretrained_ssl.ssl_checkpoint import (
                SSLCheckpointError,
                build_ssl_model,
                load_ssl_weights,
                read_ssl_checkpoint,
            )

            try:
                spec, weights = read_ssl_checkpoint(self.checkpoint)
                model = build_ssl_model(spec)
                load_ssl_weights(model, weights, self.checkpoint)
            except SSLCheckpointError as e:
                raise PrepError(str(e)) from None
            n_layers = int(spec.model.get("encoder_layers", 12))
            if not 0 <= self.layer <= n_layers:
                raise PrepError(f"--ssl-layer {self.layer}: {self.checkpoint} has {n_layers} "
                                "layers (0 = the last)")
            model.eval()
            _LOADED[key] = (model, spec)
        return _LOADED[key]

    @property
    def output_layer(self) -> int:
        _, spec = self._load()
        return self.layer or int(spec.model.get("encoder_layers", 12))

    def _states(self, wave: np.ndarray) -> np.ndarray:
        import torch

        model, spec = self._load()
        if self.threads:
            torch.set_num_threads(self.threads)
        x = torch.from_numpy(np.ascontiguousarray(wave, np.float32))[None]
        if spec.normalize:  # the model was pretrained on standardized waveforms
            x = torch.nn.functional.layer_norm(x, x.shape[1:])
        with torch.no_grad():
            if spec.kind == "hubert":
                out, _ = model.extract_features(x, None, mask=False, output_layer=self.output_layer)
            else:
                out = model.extract_features(x, None, mask=False, layer=self.output_layer - 1)["x"]
        return out[0].float().numpy()

    # ------------------------------------------------------------ FeatureKind
    def weights_file(self) -> Path:
        if not self.checkpoint:
            self._load()  # names the missing option
        return Path(self.checkpoint)

    def fingerprint(self) -> str:
        return f"ssl-{file_sha1(Path(self.checkpoint or ''))}-layer{self.layer}-v1"

    def for_workers(self, num_workers: int) -> "SSLStates":
        import os
        from dataclasses import replace

        return replace(self, threads=self.threads or max(1, (os.cpu_count() or 1) // max(1, num_workers)))

    def n_frames(self, n_samples: int) -> int:
        _, spec = self._load()
        length = n_samples
        for _, kernel, stride in eval(spec.model["conv_feature_layers"]):  # fairseq's own format
            length = (length - kernel) // stride + 1 if length >= kernel else 0
        return max(length, 0)

    def featurize(self, wave16k: np.ndarray) -> bytes:
        n = self.n_frames(len(wave16k))
        if n == 0:
            raise ValueError(f"ssl features need at least one 20 ms frame, got {len(wave16k)} samples")
        out = self._states(wave16k)
        assert out.shape[0] == n, (out.shape, len(wave16k))
        return npy_bytes(out)

    def config(self, specaugment: str) -> dict:
        _, spec = self._load()
        return feature_config(spec.embed_dim, specaugment, frames_per_second=50.0)

    def describe(self) -> str:
        return f"ssl ({self.checkpoint}, layer {self.output_layer})"

    @classmethod
    def add_args(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--ssl-checkpoint", metavar="PATH", default=None,
                           help="--features ssl: fairseq HuBERT / wav2vec 2.0 checkpoint")
        group.add_argument("--ssl-layer", type=int, default=None,
                           help="--features ssl: store the states after this transformer layer "
                                "(1-based; default 0 = the last)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SSLStates":
        return cls(checkpoint=args.ssl_checkpoint, layer=args.ssl_layer or 0)
