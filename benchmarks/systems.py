"""The fairseq-train command lines the benchmarks compare, in one place.

Every benchmark builds its systems from these pieces, so "S-Align", "stock" and "the HuBERT
front end" mean the same options in ``run.py``, ``frontend.py`` and ``gpu_check.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[1]


def optimization(lr: float = 2e-3, max_tokens: int = 100000, warmup: int = 4000) -> List[str]:
    """Adam with the MuST-C recipe's schedule (by default no update here reaches the end of its
    4000-update warm-up)."""
    return ["--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--lr", str(lr),
            "--lr-scheduler", "inverse_sqrt", "--warmup-updates", str(warmup), "--clip-norm", "10",
            "--label-smoothing", "0.1", "--max-tokens", str(max_tokens), "--seed", "1"]


def salign(arch: str = "s2t_salign_s") -> List[str]:
    """The plugin's stage-3 training (ST + MT + CTC in every batch); add ``--alignment``."""
    return ["--user-dir", str(REPO / "fairseq_salign"), "--task", "speech_to_text_salign",
            "--arch", arch, "--criterion", "salign"]


def soft_alignment(mixup_prob: float = None) -> List[str]:
    """S-Align's adversarial game from update 0 (``None``: the default mix-up probability)."""
    extra = [] if mixup_prob is None else ["--mixup-prob", str(mixup_prob)]
    return ["--alignment", "soft", "--adversarial-warmup-updates", "0", *extra]


def stock(arch: str = "s2t_transformer_s") -> List[str]:
    """fairseq's own speech-to-text transformer with tied decoder embeddings (S-Align ties its
    own) and label-smoothed cross-entropy."""
    return ["--task", "speech_to_text", "--config-yaml", "config_st.yaml", "--arch", arch,
            "--share-decoder-input-output-embed", "--criterion", "label_smoothed_cross_entropy"]


def ssl_front_end(checkpoint: Path, kind: str = "hubert") -> List[str]:
    """A pretrained (here: random, real-shaped) SSL model as A-enc, no extra A-enc layers."""
    return ["--speech-encoder", kind, "--ssl-checkpoint", str(checkpoint),
            "--acoustic-encoder-layers", "0"]


# equal tiny sizes for a quick CPU run of a script: S-Align xs (2 A-enc + 2 T-enc layers, 2
# decoder layers) and a stock model of the same depth and width
TINY_WIDTH = ["--encoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64",
              "--decoder-ffn-embed-dim", "64",
              "--encoder-attention-heads", "2", "--decoder-attention-heads", "2"]
TINY_SALIGN = ["--conv-channels", "32", *TINY_WIDTH]
TINY_STOCK = ["--conv-channels", "32", "--encoder-layers", "4", "--decoder-layers", "2",
              *TINY_WIDTH]
