"""Paired comparisons that say what they can resolve: paired bootstrap of the BLEU (or chrF)
*difference* between a system and the baseline, on sacreBLEU's own sentence statistics, per seed and pooled over seeds, with its 95 %
interval. The interval's half-width is the smallest difference this test set can call
significant (the minimal detectable difference, MDD): a comparison whose delta lies inside it
settles nothing either way.

Pooled: the seeds' test sets are concatenated (seed k of the system paired with seed k of the
baseline), so the bootstrap resamples sentences across all seeds; seed-to-seed variation of the
training itself is shown by the per-seed rows beside it, not folded into this interval.
"""
from typing import Dict, List, Sequence

import numpy as np


def _metric(name: str):
    from sacrebleu.metrics import BLEU, CHRF

    return {"bleu": BLEU, "chrf": CHRF}[name]()


def sentence_stats(hypotheses: Sequence[str], references: Sequence[str], metric: str = "bleu") -> np.ndarray:
    """Per-sentence sufficient statistics of sacreBLEU's BLEU or chrF (sacreBLEU's own), one
    row per sentence: corpus scores of any resample are sums of rows."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    return np.asarray(_metric(metric)._extract_corpus_statistics(list(hypotheses), [list(references)]))


def corpus_bleu(stats: np.ndarray, metric: str = "bleu") -> float:
    return float(_metric(metric)._compute_score_from_stats(list(stats.sum(0))).score)


def paired_delta(base: np.ndarray, system: np.ndarray, n_samples: int = 1000, seed: int = 12345,
                 metric: str = "bleu") -> Dict:
    """score(system) - score(base) on the same sentences, with a paired-bootstrap 95 % interval
    and two-sided p-value (the share of resamples on the other side of 0, doubled)."""
    if base.shape != system.shape:
        raise ValueError(f"unpaired statistics: {base.shape} vs {system.shape}")
    rng = np.random.default_rng(seed)
    n = len(base)
    deltas = np.empty(n_samples)
    for k in range(n_samples):
        idx = rng.integers(0, n, n)
        deltas[k] = corpus_bleu(system[idx], metric) - corpus_bleu(base[idx], metric)
    delta = corpus_bleu(system, metric) - corpus_bleu(base, metric)
    low, high = np.percentile(deltas, [2.5, 97.5])
    p = min(1.0, 2 * min(np.mean(deltas <= 0), np.mean(deltas >= 0)))
    return {"delta": delta, "ci95": [float(low), float(high)], "mdd": float((high - low) / 2),
            "p_value": float(p), "n_sentences": int(n)}


def pooled_delta(pairs: List[tuple], references: Sequence[str], metric: str = "bleu", **kwargs) -> Dict:
    """``pairs``: (baseline hypotheses, system hypotheses) per seed, all on ``references``."""
    base = np.concatenate([sentence_stats(b, references, metric) for b, _ in pairs])
    system = np.concatenate([sentence_stats(s, references, metric) for _, s in pairs])
    return paired_delta(base, system, metric=metric, **kwargs)
