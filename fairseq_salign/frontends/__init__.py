"""Speech front ends (A-enc): a small registry, one file per kind.

Each front end turns what the data config stores into A-enc states ``T x B x C`` and their
padding mask; the CTC head, adapter and T-enc after it do not know which one ran.

* ``fbank``: filterbank (or any stored feature) frames -> conv subsampling -> transformer layers.
* ``hubert`` / ``wav2vec2``: 16 kHz waveforms -> a pretrained fairseq SSL model (fine-tuned,
  frozen for the first updates by option) -> projection to the model width [-> layers].
"""
from dataclasses import dataclass
from typing import Callable, Dict

import torch.nn as nn

from .fbank import build_fbank_encoder
from .ssl import build_ssl_encoder


@dataclass(frozen=True)
class Frontend:
    name: str
    waveform_input: bool  # reads 16 kHz waveforms (data config use_audio_input) or feature frames
    build: Callable[..., nn.Module]  # (model cfg, transformer layer args) -> A-enc module


FRONTENDS: Dict[str, Frontend] = {
    "fbank": Frontend("fbank", False, build_fbank_encoder),
    "hubert": Frontend("hubert", True, lambda cfg, args: build_ssl_encoder(cfg, args, "hubert")),
    "wav2vec2": Frontend("wav2vec2", True, lambda cfg, args: build_ssl_encoder(cfg, args, "wav2vec2")),
}


def get_frontend(name: str) -> Frontend:
    if name not in FRONTENDS:
        raise ValueError(f"--speech-encoder {name}: unknown (choose one of {', '.join(FRONTENDS)})")
    return FRONTENDS[name]


def build_acoustic_encoder(cfg, layer_args) -> nn.Module:
    return get_frontend(str(getattr(cfg, "speech_encoder", "fbank"))).build(cfg, layer_args)
