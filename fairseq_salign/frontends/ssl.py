"""The ``hubert`` / ``wav2vec2`` front ends: built from --ssl-checkpoint, or, for a trained
S-Align checkpoint, from the SSL config it stores (``ssl_args``) without the original file."""

from omegaconf import OmegaConf, open_dict

from .fbank import transformer_layers
from ..pretrained_ssl.ssl_checkpoint import SSLCheckpointError, SSLSpec, build_ssl_model, load_ssl_weights, read_ssl_checkpoint
from .ssl_encoder import SSLAcousticEncoder



def ssl_overrides(cfg) -> dict:
    """Fine-tuning settings written over the checkpoint's own (pretraining) config, under the
    names fairseq's wav2vec/HuBERT configs use."""
    return dict(
        dropout=cfg.ssl_dropout,
        attention_dropout=cfg.ssl_attention_dropout,
        activation_dropout=cfg.ssl_activation_dropout,
        encoder_layerdrop=cfg.ssl_layerdrop,
        dropout_input=cfg.ssl_dropout_input,
        dropout_features=0.0,
        mask_prob=cfg.ssl_mask_prob,
        mask_length=cfg.ssl_mask_length,
        mask_channel_prob=cfg.ssl_mask_channel_prob,
        mask_channel_length=cfg.ssl_mask_channel_length,
        feature_grad_mult=cfg.ssl_feature_grad_mult,
    )


def _set(cfg, key, value) -> None:
    if OmegaConf.is_config(cfg):
        with open_dict(cfg):
            setattr(cfg, key, value)
    else:
        setattr(cfg, key, value)


def build_ssl_encoder(cfg, layer_args, kind: str) -> SSLAcousticEncoder:
    weights = None
    if getattr(cfg, "ssl_args", None):
        spec = SSLSpec.from_dict(cfg.ssl_args)
        if spec.kind != kind:
            raise SSLCheckpointError(f"this model's stored front end is {spec.kind}, not {kind}")
    else:
        if not cfg.ssl_checkpoint:
            raise SSLCheckpointError(f"--speech-encoder {kind} needs --ssl-checkpoint PATH (a fairseq "
                                     "HuBERT / wav2vec 2.0 checkpoint, e.g. hubert_base_ls960.pt)")
        spec, weights = read_ssl_checkpoint(cfg.ssl_checkpoint, kind)
        _set(cfg, "ssl_args", spec.to_dict())  # saved with the model: rebuilds without the file
    model = build_ssl_model(spec, ssl_overrides(cfg))
    if weights is not None:
        load_ssl_weights(model, weights, cfg.ssl_checkpoint)
    return SSLAcousticEncoder(
        model,
        kind,
        spec.embed_dim,
        cfg.encoder_embed_dim,
        transformer_layers(cfg, layer_args),
        normalize_input=spec.normalize,
        apply_mask=cfg.ssl_apply_mask,
        freeze_updates=cfg.ssl_freeze_updates,
        feature_grad_mult=cfg.ssl_feature_grad_mult,
        final_dropout=cfg.ssl_final_dropout,
        normalize_before=not cfg.post_norm,
    )
