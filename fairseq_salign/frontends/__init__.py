"""Speech front ends (A-enc): a small registry, one file per kind.

Each front end turns what the data config stores into A-enc states ``T x B x C`` and their
padding mask; the CTC head, adapter and T-enc after it do not know which one ran.

* ``fbank``: filterbank (or any stored feature) frames -> conv subsampling -> transformer layers.
* ``hubert`` / ``wav2vec2``: 16 kHz waveforms -> a pretrained fairseq SSL model (fine-tuned,
  frozen for the first updates by option) -> projection to the model width [-> layers].
"""
from dataclasses import dataclass
from typing import Callable

import torch.nn as nn

from ..registry import Registry
from .fbank import build_fbank_encoder
from .ssl import build_ssl_encoder


@dataclass(frozen=True)
class Frontend:
    """A registered front end: calling it builds the A-enc module."""

    name: str
    waveform_input: bool  # reads 16 kHz waveforms (data config use_audio_input) or feature frames
    builder: Callable[..., nn.Module]  # (model cfg, transformer layer args) -> A-enc module

    def __call__(self, cfg, layer_args) -> nn.Module:
        return self.builder(cfg, layer_args)


FRONTENDS: Registry[nn.Module] = Registry("speech front end", "--speech-encoder")
FRONTENDS.register("fbank", Frontend("fbank", False, build_fbank_encoder))
FRONTENDS.register("hubert", Frontend("hubert", True, lambda cfg, args: build_ssl_encoder(cfg, args, "hubert")))
FRONTENDS.register("wav2vec2", Frontend("wav2vec2", True, lambda cfg, args: build_ssl_encoder(cfg, args, "wav2vec2")))


def build_acoustic_encoder(cfg, layer_args) -> nn.Module:
    return FRONTENDS.build(str(getattr(cfg, "speech_encoder", "fbank")), cfg, layer_args)
