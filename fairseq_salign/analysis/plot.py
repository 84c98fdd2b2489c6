"""One PNG that shows the modality gap: per model, speech and text sentence vectors in one 2-D
PCA projection fitted on their union, with lines joining some speech/text pairs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

SPEECH_COLOUR, TEXT_COLOUR = "#d95f02", "#1b9e77"


@dataclass(frozen=True)
class Panel:
    label: str
    speech: np.ndarray  # N x C
    text: np.ndarray  # N x C
    metrics: Dict[str, float]


def pca_2d(speech: np.ndarray, text: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project both sets onto the top-2 principal axes of their union.

    Returns (speech N x 2, text N x 2, explained-variance ratios). Axis signs are fixed (largest
    loading positive) so reruns draw the same picture. One projection for both modalities is the
    point: separate fits would hide the gap.
    """
    union = np.concatenate([speech, text]).astype(np.float64)
    centred = union - union.mean(0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:  # 1-D vectors: pad with a zero axis
        axes = np.vstack([axes, np.zeros_like(axes)])
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    variance = sv**2
    ratio = variance[:2] / max(variance.sum(), 1e-12)
    projected = centred @ axes.T
    n = len(speech)
    return projected[:n], projected[n:], np.pad(ratio, (0, 2 - len(ratio)))


def _title(panel: Panel) -> str:
    m = panel.metrics
    return (
        f"{panel.label} (N={m['n_sentences']})\nprobe acc LR {m['probe_accuracy']:.2f} / MLP "
        f"{m.get('mlp_probe_accuracy', float('nan')):.2f} / modal net "
        f"{m.get('modal_network_accuracy', float('nan')):.2f} (0.5 = no gap)\n"
        f"R@1 {m['retrieval_top1']:.2f} (chance {m['retrieval_chance']:.2f}) | "
        f"MMD\u00b2 {m['mmd2_rbf']:.3f} | pair cos {m['paired_cosine']:.2f} | "
        f"centroid gap {m['centroid_gap']:.2f}"
    )


def plot_panels(panels: Sequence[Panel], out_png: Path, max_pair_lines: int = 40) -> None:
    """Draw one panel per model side by side and save a PNG (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        speech, text, ratio = pca_2d(panel.speech, panel.text)
        step = max(1, len(speech) // max_pair_lines)
        for i in range(0, len(speech), step):
            ax.plot(*zip(speech[i], text[i]), color="0.75", lw=0.6, zorder=1)
        ax.scatter(*speech.T, s=14, c=SPEECH_COLOUR, label="speech", zorder=2)
        ax.scatter(*text.T, s=14, c=TEXT_COLOUR, marker="^", label="text", zorder=2)
        ax.set_title(_title(panel), fontsize=8.5)
        ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)")
        ax.legend(loc="best", fontsize=8)
    fig.suptitle("Textual-encoder sentence vectors (mean-pooled), PCA on speech \u222a text")
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
