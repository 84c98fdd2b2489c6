"""The S-Align modal network: a discriminator that tells speech from text encoder outputs."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.modules import LayerNorm

from .pooling import masked_mean


class ModalNetwork(nn.Module):
    """Per-token residual bottleneck, masked mean-pool over time, one logit per sentence.

    The logit is for "this came from text" (label 1); speech is label 0 and a mix-up sequence
    carries its mix rate. Shape follows the authors' public code (512 -> 256 -> 512, ReLU,
    dropout, residual, LayerNorm, then Linear -> 1).
    """

    def __init__(self, embed_dim: int, hidden_dim: int, dropout: float = 0.1):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = LayerNorm(embed_dim)
        self.out = nn.Linear(embed_dim, 1)

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """``x``: T x B x C encoder output, ``padding_mask``: B x T (True = pad) -> B logits."""
        h = self.layer_norm(x + self.dropout(self.fc2(F.relu(self.fc1(x)))))
        return self.out(masked_mean(h, padding_mask)).squeeze(-1)
