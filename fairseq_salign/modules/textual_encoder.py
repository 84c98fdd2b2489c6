"""T-enc: one stack of transformer layers shared by the text (MT) and speech (ST) paths."""
import math
from typing import Tuple

import torch
import torch.nn as nn
from fairseq.modules import FairseqDropout, LayerNorm, PositionalEmbedding


class TextualEncoder(nn.Module):
    """Source embeddings + sinusoidal positions + ``TransformerEncoderLayer``s.

    ``embed_text`` turns token ids into the layer input exactly as fairseq's TransformerEncoder
    does (scaled embeddings); ``forward`` takes any B x T x C input, so the adapted speech
    sequence and mix-up sequences go through the very same layers and positions.
    """

    def __init__(
        self,
        embed_tokens: nn.Embedding,
        layers: nn.ModuleList,
        max_source_positions: int,
        dropout: float,
        normalize_before: bool,
        scale_embedding: bool = True,
    ):
        super().__init__()
        embed_dim = embed_tokens.embedding_dim
        self.embed_tokens = embed_tokens
        self.padding_idx = embed_tokens.padding_idx
        self.embed_scale = math.sqrt(embed_dim) if scale_embedding else 1.0
        self.embed_positions = PositionalEmbedding(max_source_positions, embed_dim, padding_idx=1)
        self.layers = layers
        self.dropout_module = FairseqDropout(dropout, module_name=self.__class__.__name__)
        self.layer_norm = LayerNorm(embed_dim) if normalize_before else None

    def embed_text(self, tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """B x S token ids -> (B x S x C scaled embeddings, B x S padding mask)."""
        return self.embed_scale * self.embed_tokens(tokens), tokens.eq(self.padding_idx)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """B x T x C input, B x T padding mask (True = pad) -> T x B x C output."""
        x = x + self.embed_positions(padding_mask)
        x = self.dropout_module(x).transpose(0, 1)
        for layer in self.layers:
            x = layer(x, padding_mask)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x
