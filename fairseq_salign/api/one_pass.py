"""Transcript and translation from one acoustic-encoder pass.

The unified model's CTC head reads the acoustic encoder and the decoder reads the textual
encoder above it, so one encoder pass feeds both. fairseq's beam search computes its encoder
output itself (``EnsembleModel.forward_encoder``); :class:`OnePassModel` stands in for the model
and hands it the output already computed for the batch, so the search runs unchanged.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch


class _ComputedEncoder(torch.nn.Module):
    """The model's encoder for beam search, returning the output set by ``OnePassModel``."""

    def __init__(self, encoder):
        super().__init__()
        self.inner = encoder
        self.out: Optional[Dict] = None

    def forward_torchscript(self, net_input):  # what fairseq's EnsembleModel calls
        if self.out is None:
            raise RuntimeError("OnePassModel: no encoder output set for this batch")
        return self.out

    def reorder_encoder_out(self, encoder_out, new_order):
        return self.inner.reorder_encoder_out(encoder_out, new_order)

    def max_positions(self):
        return self.inner.max_positions()


class OnePassModel(torch.nn.Module):
    """``model`` for fairseq's SequenceGenerator, with the encoder output given per batch
    (:meth:`encode`); everything else is the model's own."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        self.encoder = _ComputedEncoder(model.encoder)
        self.decoder = model.decoder

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:  # max_decoder_positions, get_normalized_probs, ...
            return getattr(self._modules["inner"], name)

    def encode(self, net_input) -> Dict:
        """Run the real encoder once and keep its output for the next search."""
        self.encoder.out = self.inner.encoder(net_input["src_tokens"], net_input["src_lengths"])
        return self.encoder.out

    def release(self) -> None:
        self.encoder.out = None
