"""Modality-gap analysis of the textual-encoder space (used by ``salign-analyze``)."""
from .metrics import (
    centroid_gap,
    gap_metrics,
    mmd2_rbf,
    paired_cosine,
    probe_accuracy,
    retrieval_accuracy,
)
from .probes import mlp_probe_accuracy, modal_network_accuracy

__all__ = [
    "centroid_gap",
    "gap_metrics",
    "mlp_probe_accuracy",
    "mmd2_rbf",
    "modal_network_accuracy",
    "paired_cosine",
    "probe_accuracy",
    "retrieval_accuracy",
]
