"""``s2t_salign``: one model for speech translation, machine translation and speech recognition.

speech -> A-enc -> CTC head (ASR) -> adapter -> T-enc -> decoder (ST)
text   -> embeddings ------------------------> T-enc -> decoder (MT)
The joint source/target vocabulary lets embeddings, output projection and CTC head share one
matrix. The modal network (discriminator) belongs to the ``salign`` criterion: it is a training
objective, so inference checkpoints do not carry it and ``--alignment none`` leaves no idle
parameters under DDP.
"""
from argparse import Namespace

from fairseq.models import FairseqEncoderDecoderModel, register_model, register_model_architecture
from fairseq.models.transformer import Embedding, TransformerDecoder

from .config import S2TSAlignConfig
from .encoder import SAlignEncoder


def transformer_args(cfg) -> Namespace:
    """The Namespace that fairseq's legacy TransformerEncoderLayer/TransformerDecoder read."""
    dim = cfg.encoder_embed_dim
    return Namespace(
        encoder_embed_dim=dim,
        encoder_ffn_embed_dim=cfg.encoder_ffn_embed_dim,
        encoder_attention_heads=cfg.encoder_attention_heads,
        encoder_normalize_before=not cfg.post_norm,
        decoder_embed_dim=dim,
        decoder_output_dim=dim,
        decoder_input_dim=dim,
        decoder_ffn_embed_dim=cfg.decoder_ffn_embed_dim,
        decoder_attention_heads=cfg.decoder_attention_heads,
        decoder_layers=cfg.decoder_layers,
        decoder_normalize_before=not cfg.post_norm,
        decoder_learned_pos=False,
        share_decoder_input_output_embed=True,
        no_scale_embedding=False,
        no_token_positional_embeddings=False,
        layernorm_embedding=False,
        adaptive_input=False,
        max_target_positions=cfg.max_target_positions,
        dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout,
        activation_dropout=cfg.activation_dropout,
        activation_fn=str(cfg.activation_fn),
    )


@register_model("s2t_salign", dataclass=S2TSAlignConfig)
class S2TSAlignModel(FairseqEncoderDecoderModel):
    def __init__(self, encoder: SAlignEncoder, decoder: TransformerDecoder):
        super().__init__(encoder, decoder)
        self.num_updates = 0

    @classmethod
    def build_model(cls, cfg: S2TSAlignConfig, task):
        dictionary = task.target_dictionary
        embed_tokens = Embedding(len(dictionary), cfg.encoder_embed_dim, dictionary.pad())
        args = transformer_args(cfg)
        encoder = SAlignEncoder(cfg, args, dictionary, embed_tokens)
        decoder = TransformerDecoder(args, dictionary, embed_tokens)
        return cls(encoder, decoder)

    def forward(self, src_tokens, src_lengths, prev_output_tokens, ctc_only=False, encoder_only=False, **unused):
        """One pass over one input (speech or text). The encoder output rides along in the
        decoder's extra output so the criterion needs no second forward for CTC or alignment.
        ``ctc_only`` (ASR pre-training) stops after the CTC head and returns its logits and
        frame padding mask; ``encoder_only`` (ASR-only data in stage 3) returns the encoder's
        output dict; both go through ``forward`` so that DDP sees the pass."""
        if ctc_only:
            _, frame_mask, ctc_logits = self.encoder.forward_ctc(src_tokens, src_lengths)
            return ctc_logits, frame_mask
        encoder_out = self.encoder(src_tokens, src_lengths)
        if encoder_only:
            return encoder_out
        logits, extra = self.decoder(prev_output_tokens, encoder_out=encoder_out)
        extra["encoder_out"] = encoder_out
        return logits, extra

    def upgrade_state_dict_named(self, state_dict, name):
        """Fill in any missing ``*.version`` buffer with the model's own before fairseq's
        upgrades run. fairseq's EMA (``--store-ema``) leaves the version buffers out of the
        weights it loads back into its copy after every update, and ``TransformerDecoder`` reads
        a missing version as a pre-2019 checkpoint and deletes its final LayerNorm: the EMA model
        lost ``decoder.layer_norm`` and was saved without it."""
        for key, buffer in self.named_buffers(prefix=name):
            if key.endswith(".version") and key not in state_dict:
                state_dict[key] = buffer.detach().clone()
        super().upgrade_state_dict_named(state_dict, name)

    def set_num_updates(self, num_updates):
        super().set_num_updates(num_updates)
        self.num_updates = num_updates


# Size presets, each derived from "s" (fairseq's s2t_transformer_s width, its 12 encoder layers
# split 8 A-enc + 4 T-enc); options given on the command line win over a preset.
_S = dict(
    encoder_embed_dim=256,
    encoder_ffn_embed_dim=2048,
    encoder_attention_heads=4,
    decoder_ffn_embed_dim=2048,
    decoder_attention_heads=4,
    conv_channels=1024,
    acoustic_encoder_layers=8,
    textual_encoder_layers=4,
    decoder_layers=6,
)
ARCH_PRESETS = {
    # tiny: CPU tests and the demo
    "s2t_salign_xs": {
        **_S,
        "encoder_embed_dim": 128,
        "encoder_ffn_embed_dim": 512,
        "decoder_ffn_embed_dim": 512,
        "conv_channels": 256,
        "acoustic_encoder_layers": 2,
        "textual_encoder_layers": 2,
        "decoder_layers": 2,
    },
    "s2t_salign_s": _S,
    # s2t_transformer_m width
    "s2t_salign_m": {**_S, "encoder_embed_dim": 512, "encoder_attention_heads": 8, "decoder_attention_heads": 8},
}


def _register_arch(name: str, preset: dict) -> None:
    def apply_preset(cfg):
        for option, value in preset.items():
            if getattr(cfg, option, None) is None:
                setattr(cfg, option, value)

    apply_preset.__name__ = name
    register_model_architecture("s2t_salign", name)(apply_preset)


for _name, _preset in ARCH_PRESETS.items():
    _register_arch(_name, _preset)
