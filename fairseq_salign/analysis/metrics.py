"""Modality-gap metrics on paired sentence vectors (numpy / scikit-learn).

``speech[i]`` and ``text[i]`` are the pooled textual-encoder outputs of the same sentence. Each
metric answers a different question: can a fresh classifier tell the modalities apart (linear
and MLP probes, :mod:`.probes`), is the paired sentence still the nearest one across modalities
(retrieval), and how far apart are the two distributions as a whole (MMD, centroid gap).
S-Align should push the probes towards 0.5 and MMD towards 0 without hurting retrieval.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from .probes import mlp_probe_accuracy, probe_accuracy

MIN_PAIRS = 4  # fewer sentences leave the probe without a held-out fold


def _check_pairs(speech: np.ndarray, text: np.ndarray) -> None:
    if speech.ndim != 2 or speech.shape != text.shape:
        raise ValueError(
            f"need paired N x C vectors of equal shape, got {speech.shape} and {text.shape}"
        )
    if speech.shape[0] < MIN_PAIRS:
        raise ValueError(f"need at least {MIN_PAIRS} sentence pairs, got {speech.shape[0]}")
    if not (np.isfinite(speech).all() and np.isfinite(text).all()):
        raise ValueError("sentence vectors contain NaN or inf")


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def paired_cosine(speech: np.ndarray, text: np.ndarray) -> float:
    """Mean cosine similarity between each sentence's speech and text vector."""
    return float(np.mean(np.sum(_unit(speech) * _unit(text), axis=1)))


def retrieval_accuracy(speech: np.ndarray, text: np.ndarray) -> float:
    """Top-1 speech->text retrieval by cosine: the share of speech vectors whose nearest text
    vector is their own transcript's (chance = 1/N). Ties go to the lower index."""
    similarity = _unit(speech) @ _unit(text).T
    return float(np.mean(similarity.argmax(axis=1) == np.arange(len(speech))))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def mmd2_rbf(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between two samples with an RBF kernel ``exp(-d^2 / (2 s^2))``.

    The bandwidth ``s`` is the median pairwise distance of the pooled sample (median heuristic),
    which makes the value scale-free and so comparable across models of different widths. The
    unbiased estimator drops the kernel's diagonal; it is ~0 (and may be slightly negative) when
    both samples come from one distribution.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("MMD needs at least 2 vectors per sample")
    pooled = np.concatenate([x, y])
    d2 = _squared_distances(pooled, pooled)
    off_diagonal = d2[~np.eye(len(pooled), dtype=bool)]
    s2 = float(np.median(off_diagonal))  # squared median distance
    if s2 <= 0.0:  # (almost) all vectors coincide: no distance to measure
        return 0.0
    k = np.exp(-d2 / (2.0 * s2))
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def centroid_gap(speech: np.ndarray, text: np.ndarray) -> float:
    """Distance between the two modality centroids divided by the RMS distance of the vectors
    to their own centroid: > 1 means the modalities sit further apart than they are wide."""
    cs, ct = speech.mean(0), text.mean(0)
    spread = np.sqrt(0.5 * (((speech - cs) ** 2).sum(1).mean() + ((text - ct) ** 2).sum(1).mean()))
    return float(np.linalg.norm(cs - ct) / max(spread, 1e-12))


def gap_metrics(speech: np.ndarray, text: np.ndarray, seed: int = 0) -> Dict[str, float]:
    """All metrics for one set of sentence pairs, as one flat JSON-ready dict."""
    speech, text = np.asarray(speech, np.float64), np.asarray(text, np.float64)
    _check_pairs(speech, text)
    n = speech.shape[0]
    return {
        "n_sentences": n,
        "dim": int(speech.shape[1]),
        "probe_accuracy": probe_accuracy(speech, text, seed=seed),
        "mlp_probe_accuracy": mlp_probe_accuracy(speech, text, seed=seed),
        "retrieval_top1": retrieval_accuracy(speech, text),
        "retrieval_chance": 1.0 / n,
        "mmd2_rbf": mmd2_rbf(speech, text),
        "paired_cosine": paired_cosine(speech, text),
        "centroid_gap": centroid_gap(speech, text),
    }
