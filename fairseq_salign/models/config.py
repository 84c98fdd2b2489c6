"""Typed configuration of the ``s2t_salign`` model (one field per command-line option)."""
from dataclasses import dataclass, field
from typing import Any, Optional

from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.utils import get_available_activation_fns
from omegaconf import II

from ..frontends import FRONTENDS
from ..modules.adapters import ADAPTERS

ADAPTER_CHOICES = ChoiceEnum(list(ADAPTERS.choices))
SHRINK_CHOICES = ChoiceEnum(["mean", "first"])
SPEECH_ENCODER_CHOICES = ChoiceEnum(list(FRONTENDS.choices))
ACTIVATION_CHOICES = ChoiceEnum(get_available_activation_fns())


@dataclass
class S2TSAlignConfig(FairseqDataclass):
    # written by the task from config_st.yaml (SpeechToTextTask convention)
    input_feat_per_channel: int = field(default=80, metadata={"help": "feature dim (from config yaml)"})
    input_channels: int = field(default=1, metadata={"help": "feature channels (from config yaml)"})

    speech_encoder: SPEECH_ENCODER_CHOICES = field(
        default="fbank",
        metadata={
            "help": "A-enc front end: fbank (stored feature frames -> conv subsampling -> "
            "transformer layers); hubert / wav2vec2 (16 kHz waveforms, data prepared with "
            "--features waveform, -> the pretrained model of --ssl-checkpoint, fine-tuned -> a "
            "projection to --encoder-embed-dim -> --acoustic-encoder-layers extra layers, 0 in "
            "the authors' setting)"
        },
    )
    ssl_checkpoint: Optional[str] = field(
        default=None,
        metadata={
            "help": "hubert/wav2vec2: a fairseq checkpoint as downloaded (hubert_base_ls960.pt, "
            "wav2vec_small.pt, wav2vec_vox_new.pt, or a CTC fine-tuned one, whose output head is "
            "left out), loaded strictly when training starts"
        },
    )
    ssl_args: Any = field(
        default=None,
        metadata={"help": "set by the model from --ssl-checkpoint (do not pass): the SSL model's "
                  "own config, saved in every checkpoint so that it rebuilds without the file"},
    )
    ssl_freeze_updates: int = field(
        default=0,
        metadata={"help": "keep the SSL model frozen for the first N updates (fairseq's "
                  "freeze_finetune_updates; the S-Align authors: 3000); DDP-safe (docs/pretrained-encoders.md)"},
    )
    ssl_feature_grad_mult: float = field(
        default=0.0,
        metadata={"help": "gradient scale into the SSL conv feature extractor; 0 (default, as "
                  "fairseq's fine-tuning) keeps it frozen for the whole run"},
    )
    ssl_apply_mask: bool = field(
        default=False,
        metadata={"help": "mask SSL input frames and channels in training (fairseq's apply_mask; "
                  "the authors: on, --ssl-mask-prob 0.5 --ssl-mask-channel-prob 0.25 "
                  "--ssl-mask-channel-length 6)"},
    )
    ssl_mask_prob: float = field(default=0.5, metadata={"help": "--ssl-apply-mask: share of frames masked (fairseq's mask_prob)"})
    ssl_mask_length: int = field(default=10, metadata={"help": "--ssl-apply-mask: frames per time mask"})
    ssl_mask_channel_prob: float = field(default=0.0, metadata={"help": "--ssl-apply-mask: share of channels masked"})
    ssl_mask_channel_length: int = field(default=10, metadata={"help": "--ssl-apply-mask: channels per channel mask"})
    ssl_dropout: float = field(default=0.0, metadata={"help": "dropout inside the SSL transformer"})
    ssl_attention_dropout: float = field(default=0.0, metadata={"help": "SSL attention dropout"})
    ssl_activation_dropout: float = field(default=0.0, metadata={"help": "SSL FFN activation dropout"})
    ssl_dropout_input: float = field(default=0.0, metadata={"help": "dropout on the SSL conv features"})
    ssl_layerdrop: float = field(default=0.0, metadata={"help": "SSL LayerDrop probability"})
    ssl_final_dropout: float = field(
        default=0.0, metadata={"help": "dropout on the SSL output before the projection (authors: 0.1)"}
    )

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
