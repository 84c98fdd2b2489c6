"""Write a randomly initialised HuBERT / wav2vec 2.0 checkpoint in fairseq's download format.

No pretrained SSL weights can be fetched on every machine (or in CI), but the whole pipeline
(``--speech-encoder hubert --ssl-checkpoint ...``, stage 3, decoding, DDP, benchmarks) can be
exercised with a file of the same kind and shapes as ``hubert_base_ls960.pt`` or
``wav2vec_small.pt``: built with fairseq's own model classes, saved like fairseq saves them (a
``cfg`` with ``model`` and ``task`` sections, and the full pretraining ``model`` state including
its pretraining heads). The weights are random: such a front end learns nothing useful.

    python -m fairseq_salign.pretrained_ssl.random_checkpoint --kind hubert --shape base out.pt
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, Optional

import torch

CONV_STRIDE_320 = "[({c}, 10, 5)] + [({c}, 3, 2)] * 4 + [({c}, 2, 2)] * 2"  # 20 ms frames
SHAPES: Dict[str, Dict[str, Any]] = {
    # a few thousand parameters, the real 320-sample frame rate: tests
    "tiny": dict(conv_feature_layers=CONV_STRIDE_320.format(c=32), encoder_layers=2,
                 encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=2,
                 conv_pos=16, conv_pos_groups=4, final_dim=16, latent_vars=8, latent_groups=2),
    # hubert_base_ls960.pt / wav2vec_small.pt
    "base": dict(conv_feature_layers=CONV_STRIDE_320.format(c=512), encoder_layers=12,
                 encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
                 conv_pos=128, conv_pos_groups=16, final_dim=256),
    # wav2vec_vox_new.pt (layer-norm extractor, pre-LN, standardized input)
    "large": dict(conv_feature_layers=CONV_STRIDE_320.format(c=512), encoder_layers=24,
                  encoder_embed_dim=1024, encoder_ffn_embed_dim=4096, encoder_attention_heads=16,
                  conv_pos=128, conv_pos_groups=16, final_dim=768, extractor_mode="layer_norm",
                  layer_norm_first=True, conv_bias=True),
}
TASKS = {"hubert": "hubert_pretraining", "wav2vec2": "audio_pretraining"}


def random_ssl_state(kind: str, shape: str, seed: int = 0,
                     overrides: Optional[Dict[str, Any]] = None) -> dict:
    """The checkpoint dict (``cfg`` as an omegaconf DictConfig, like a downloaded file)."""
    from omegaconf import OmegaConf

    from .ssl_checkpoint import SSLSpec

    model_cfg = dict(SHAPES[shape], **(overrides or {}))
    if kind == "hubert":
        model_cfg = {k: v for k, v in model_cfg.items() if not k.startswith("latent_")}
    task_cfg = {"_name": TASKS[kind], "data": "", "sample_rate": 16000,
                "normalize": bool(model_cfg.get("layer_norm_first", False))}
    if kind == "hubert":
        task_cfg.update(label_rate=50.0, labels=["km"])
    torch.manual_seed(seed)
    spec = SSLSpec(kind, dict(model_cfg), task_cfg)
    model = _pretraining_model(spec)
    cfg = OmegaConf.create({"model": {"_name": kind, **model_cfg}, "task": task_cfg})
    history = [{"criterion_name": kind, "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": None}, "num_updates": 0}]
    return {"cfg": cfg, "model": model.state_dict(), "optimizer_history": history,
            "extra_state": {}, "last_optimizer_state": None}


def _pretraining_model(spec):
    """The model *with* its pretraining heads, as the real downloads hold them."""
    from fairseq.data import Dictionary

    from .ssl_checkpoint import fairseq_model

    if spec.kind == "wav2vec2":
        return fairseq_model(spec)
    labels = Dictionary()
    for i in range(100):  # a 100-unit k-means label set, like HuBERT's second iteration
        labels.add_symbol(str(i))
    return fairseq_model(spec, label_dictionaries=[labels])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="checkpoint file to write (e.g. hubert_base_random.pt)")
    p.add_argument("--kind", choices=sorted(TASKS), default="hubert")
    p.add_argument("--shape", choices=sorted(SHAPES), default="base")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from fairseq.checkpoint_utils import torch_persistent_save

    from pathlib import Path

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    state = random_ssl_state(args.kind, args.shape, args.seed)
    n = sum(t.numel() for t in state["model"].values())
    torch_persistent_save(state, args.out)
    print(f"wrote {args.out}: random {args.kind} ({args.shape} shape), {n / 1e6:.1f}M parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
