"""The stacked S-Align encoder: A-enc -> CTC head -> adapter -> T-enc, plus the text path."""
from argparse import Namespace
from typing import Dict, List

import torch
import torch.nn as nn
from fairseq.models import FairseqEncoder
from fairseq.modules import TransformerEncoderLayer

from ..frontends import build_acoustic_encoder
from ..modules import ADAPTERS, TextualEncoder


class SAlignEncoder(FairseqEncoder):
    """Encodes speech (float: B x T x F features, or B x S waveforms for an SSL front end) or
    source tokens (B x S, int).

    The two inputs are told apart by dtype, as fairseq's S2T and MT models expect them under the
    same ``src_tokens`` key, so fairseq's SequenceGenerator works for ST and MT alike. Any other
    ``net_input`` entry (a joint dataset adds the transcript as ``src_txt_tokens``) is ignored:
    transcripts cannot leak into speech inference through this encoder.
    """

    def __init__(self, cfg, layer_args: Namespace, dictionary, embed_tokens: nn.Embedding):
        super().__init__(dictionary)
        dim = cfg.encoder_embed_dim
        self.blank = dictionary.bos()
        self.acoustic_encoder = build_acoustic_encoder(cfg, layer_args)
        self.ctc_proj = nn.Linear(dim, len(dictionary))
        if not cfg.untie_ctc_projection:
            self.ctc_proj.weight = embed_tokens.weight
        self.adapter = ADAPTERS.build(cfg.adapter, dim, blank=self.blank, reduce=getattr(cfg, "shrink_reduce", "mean"))
        self.textual_encoder = TextualEncoder(
            embed_tokens,
            nn.ModuleList(
                TransformerEncoderLayer(layer_args) for _ in range(cfg.textual_encoder_layers)
            ),
            cfg.max_source_positions,
            cfg.dropout,
            not cfg.post_norm,
        )
        self.max_source_positions = cfg.max_source_positions

    def forward(self, src_tokens, src_lengths=None, **unused) -> Dict[str, List[torch.Tensor]]:
        if src_tokens.is_floating_point():
            if src_lengths is None:
                raise ValueError("speech input needs src_lengths (frames or samples per item)")
            return self.forward_speech(src_tokens, src_lengths)
        if src_tokens.dim() == 2:
            return self.forward_text(src_tokens)
        raise ValueError(
            "src_tokens must be float speech (B x T x F features or B x S waveform samples) or "
            f"B x S token ids, got {src_tokens.dtype} {tuple(src_tokens.shape)}"
        )

    def forward_ctc(self, features, lengths):
        """A-enc and CTC head only (ASR pre-training): the adapter and T-enc are not run."""
        states, frame_mask = self.acoustic_encoder(features, lengths)
        return states, frame_mask, self.ctc_proj(states)

    def forward_speech(self, features, lengths):
        states, frame_mask, ctc_logits = self.forward_ctc(features, lengths)
        adapted = self.adapter(states, frame_mask, ctc_logits, self.textual_encoder.embed_tokens.weight)
        out = self.textual_encoder(adapted.x, adapted.padding_mask)
        return {
            "encoder_out": [out],  # T x B x C, T-enc output
            "encoder_padding_mask": [adapted.padding_mask],  # B x T
            "ctc_logits": [ctc_logits],  # T_frames x B x V
            "ctc_padding_mask": [frame_mask],  # B x T_frames
            "adapter_out": [adapted.x],  # B x T x C, T-enc input (for mix-up)
            "adapter_tokens": [adapted.tokens],  # B x T, CTC-predicted token per position
        }

    def forward_text(self, tokens):
        x, padding_mask = self.textual_encoder.embed_text(tokens)
        return {
            "encoder_out": [self.textual_encoder(x, padding_mask)],
            "encoder_padding_mask": [padding_mask],
        }

    def _speech_only(self, *modules):
        """Parameters of ``modules`` not shared with the text path (a tied CTC weight is) nor
        frozen for the whole run (an SSL conv feature extractor)."""
        skip = {id(p) for p in self.textual_encoder.parameters()}
        fixed = getattr(self.acoustic_encoder, "fixed_parameters", None)
        skip |= {id(p) for p in (fixed() if fixed else [])}
        for module in modules:
            for param in module.parameters():
                if id(param) not in skip:
                    yield param

    def acoustic_parameters(self):
        """Parameters only the speech path uses: A-enc, adapter, CTC head (less tied weights)."""
        return self._speech_only(self.acoustic_encoder, self.ctc_proj, self.adapter)

    def ctc_parameters(self):
        """Parameters that ASR pre-training trains: A-enc and the CTC head's own (untied) part."""
        return self._speech_only(self.acoustic_encoder, self.ctc_proj)

    def freeze_acoustic(self, frozen: bool = True):
        for param in self.acoustic_parameters():
            param.requires_grad_(not frozen)

    def reorder_encoder_out(self, encoder_out, new_order):
        """Beam search calls this at every step: carry only what the decoder reads. The CTC
        logits alone (frames x beam x vocabulary) made ST decoding 4x slower than fairseq's
        stock model when they were reordered too (docs/benchmarks.md)."""
        return {
            "encoder_out": [x.index_select(1, new_order) for x in encoder_out["encoder_out"]],
            "encoder_padding_mask": [
                m.index_select(0, new_order) for m in encoder_out["encoder_padding_mask"]
            ],
        }

    def max_positions(self):
        """In the speech front end's input units (10 ms frames, or samples for waveforms);
        text inputs are limited by the task to max_source_positions tokens."""
        return self.max_source_positions * getattr(self.acoustic_encoder, "input_units_per_frame", 1)
