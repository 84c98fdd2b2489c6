"""A-enc: convolutional subsampling + transformer layers over filterbank features."""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.models.speech_to_text.modules.convolution import Conv1dSubsampler
from fairseq.modules import FairseqDropout, LayerNorm, PositionalEmbedding


def padding_mask_from_lengths(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """B x max_len bool mask, True where a position lies beyond the sentence's length."""
    steps = torch.arange(max_len, device=lengths.device).unsqueeze(0)
    return steps >= lengths.unsqueeze(1)


class AcousticEncoder(nn.Module):
    """fairseq's ``Conv1dSubsampler`` + sinusoidal positions + ``TransformerEncoderLayer``s.

    Unlike fairseq's ``S2TTransformerEncoder`` it zeroes padded frames after every convolution,
    so a padded utterance encodes exactly like the utterance alone (fairseq's subsampler lets the
    second convolution see GLU(bias) values computed over padding).
    """

    def __init__(
        self,
        subsampler: Conv1dSubsampler,
        layers: nn.ModuleList,
        embed_dim: int,
        max_source_positions: int,
        dropout: float,
        normalize_before: bool,
        scale_embedding: bool = True,
    ):
        super().__init__()
        self.subsampler = subsampler
        self.layers = layers
        self.embed_scale = math.sqrt(embed_dim) if scale_embedding else 1.0
        # positions are computed from the padding mask (True = pad == padding_idx 1)
        self.embed_positions = PositionalEmbedding(max_source_positions, embed_dim, padding_idx=1)
        self.dropout_module = FairseqDropout(dropout, module_name=self.__class__.__name__)
        self.layer_norm = LayerNorm(embed_dim) if normalize_before else None

    def subsample(
        self, features: torch.Tensor, lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """B x T x F features -> (T' x B x C, B x T' padding mask, B lengths)."""
        x = features.transpose(1, 2)  # B x F x T
        mask = padding_mask_from_lengths(lengths, x.size(2))
        x = x.masked_fill(mask.unsqueeze(1), 0.0)
        for conv in self.subsampler.conv_layers:
            x = F.glu(conv(x), dim=1)
            lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
            mask = padding_mask_from_lengths(lengths, x.size(2))
            x = x.masked_fill(mask.unsqueeze(1), 0.0)
        return x.permute(2, 0, 1), mask, lengths

    def forward(self, features: torch.Tensor, lengths: torch.Tensor):
        """Returns (T' x B x C states, B x T' padding mask)."""
        x, padding_mask, _ = self.subsample(features, lengths)
        x = self.embed_scale * x + self.embed_positions(padding_mask).transpose(0, 1)
        x = self.dropout_module(x)
        for layer in self.layers:
            x = layer(x, padding_mask)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x, padding_mask
