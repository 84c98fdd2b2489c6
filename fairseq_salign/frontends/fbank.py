"""The ``fbank`` front end: stored feature frames -> conv subsampling -> transformer layers."""
import torch.nn as nn
from fairseq.models.speech_to_text.modules.convolution import Conv1dSubsampler
from fairseq.modules import TransformerEncoderLayer

from ..modules.acoustic_encoder import AcousticEncoder


def transformer_layers(cfg, layer_args) -> nn.ModuleList:
    return nn.ModuleList(TransformerEncoderLayer(layer_args) for _ in range(cfg.acoustic_encoder_layers))


def build_fbank_encoder(cfg, layer_args) -> AcousticEncoder:
    dim = cfg.encoder_embed_dim
    subsampler = Conv1dSubsampler(
        cfg.input_feat_per_channel * cfg.input_channels,
        cfg.conv_channels,
        dim,
        [cfg.conv_kernel_size] * cfg.conv_layers,
    )
    return AcousticEncoder(
        subsampler,
        transformer_layers(cfg, layer_args),
        dim,
        cfg.max_source_positions,
        cfg.dropout,
        not cfg.post_norm,
    )
