"""Typed configuration of the ``s2t_salign`` model (one field per command-line option)."""
from dataclasses import dataclass, field
from typing import Optional

from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.utils import get_available_activation_fns
from omegaconf import II

ADAPTER_CHOICES = ChoiceEnum(["linear", "ctc-soft", "ctc-shrink"])
SHRINK_CHOICES = ChoiceEnum(["mean", "first"])
ACTIVATION_CHOICES = ChoiceEnum(get_available_activation_fns())


@dataclass
class S2TSAlignConfig(FairseqDataclass):
    # written by the task from config_st.yaml (SpeechToTextTask convention)
    input_feat_per_channel: int = field(default=80, metadata={"help": "feature dim (from config yaml)"})
    input_channels: int = field(default=1, metadata={"help": "feature channels (from config yaml)"})

    conv_kernel_size: int = field(default=5, metadata={"help": "kernel of each subsampling conv"})
    conv_layers: int = field(default=2, metadata={"help": "stride-2 convs: x4 subsampling for 2"})
    conv_channels: int = field(default=1024, metadata={"help": "channels of the subsampling convs"})

    encoder_embed_dim: int = field(
        default=256, metadata={"help": "model width, shared by A-enc, T-enc, decoder, embeddings"}
    )
    encoder_ffn_embed_dim: int = field(default=2048, metadata={"help": "encoder FFN width"})
    encoder_attention_heads: int = field(default=4, metadata={"help": "encoder attention heads"})
    acoustic_encoder_layers: int = field(default=8, metadata={"help": "A-enc transformer layers"})
    textual_encoder_layers: int = field(
        default=4, metadata={"help": "T-enc layers, shared by the speech and the text path"}
    )
    decoder_layers: int = field(default=6, metadata={"help": "decoder layers"})
    decoder_ffn_embed_dim: int = field(default=2048, metadata={"help": "decoder FFN width"})
    decoder_attention_heads: int = field(default=4, metadata={"help": "decoder attention heads"})
    # booleans default to False: fairseq turns a True-by-default field into a flag that sets False
    post_norm: bool = field(
        default=False, metadata={"help": "post-LayerNorm transformer layers (default: pre-LN)"}
    )
    activation_fn: ACTIVATION_CHOICES = field(default="relu", metadata={"help": "FFN activation"})

    dropout: float = field(default=0.1, metadata={"help": "dropout probability"})
    attention_dropout: float = field(default=0.1, metadata={"help": "attention dropout"})
    activation_dropout: float = field(default=0.1, metadata={"help": "FFN activation dropout"})

    adapter: ADAPTER_CHOICES = field(
        default="ctc-soft",
        metadata={
            "help": "A-enc -> T-enc adapter: linear projection; ctc-soft (states + CTC-posterior "
            "weighted embeddings, SATE); ctc-shrink (collapse frames by CTC label, as the S-Align "
            "authors' code). ctc-soft is the default because ctc-shrink needs a CTC that already "
            "works (the authors start from a pretrained HuBERT)"
        },
    )
    shrink_reduce: SHRINK_CHOICES = field(
        default="mean",
        metadata={
            "help": "ctc-shrink: a run of frames with one CTC label becomes its mean (default: "
            "every frame's state reaches T-enc and gets gradient) or its first frame (the "
            "authors' code; the other frames of the run are dropped)"
        },
    )
    untie_ctc_projection: bool = field(
        default=False,
        metadata={
            "help": "give the CTC head its own matrix (default: tied to the joint embeddings, "
            "as in the authors' code)"
        },
    )

    load_pretrained_mt_from: Optional[str] = field(
        default=None,
        metadata={
            "help": "stage-1 (--training-stage mt) checkpoint: loads T-enc, embeddings and decoder "
            "strictly when training starts"
        },
    )
    load_pretrained_acoustic_from: Optional[str] = field(
        default=None,
        metadata={"help": "checkpoint whose A-enc and CTC head are loaded strictly at start"},
    )

    max_source_positions: int = II("task.max_source_positions")
    max_target_positions: int = II("task.max_target_positions")
