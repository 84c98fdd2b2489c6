"""Modality-gap metrics on constructed vectors whose answer is known."""
import numpy as np
import pytest

from fairseq_salign.analysis import (
    centroid_gap,
    gap_metrics,
    mlp_probe_accuracy,
    mmd2_rbf,
    modal_network_accuracy,
    paired_cosine,
    probe_accuracy,
    retrieval_accuracy,
)


def _gaussian(n=120, dim=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim))


def test_same_distribution_is_indistinguishable():
    speech, text = _gaussian(seed=1), _gaussian(seed=2)
    assert abs(probe_accuracy(speech, text, seed=0) - 0.5) < 0.12
    assert abs(mmd2_rbf(speech, text)) < 0.02
    assert centroid_gap(speech, text) < 0.3


def test_identical_vectors_give_chance_probe_zero_mmd_perfect_retrieval():
    speech = _gaussian(n=20)
    assert probe_accuracy(speech, speech.copy()) == pytest.approx(0.5, abs=0.05)
    assert mmd2_rbf(speech, speech.copy()) == pytest.approx(0.0, abs=0.06)
    assert retrieval_accuracy(speech, speech.copy()) == 1.0
    assert paired_cosine(speech, speech.copy()) == pytest.approx(1.0)
    assert centroid_gap(speech, speech.copy()) == pytest.approx(0.0)


def test_shifted_distribution_is_separable():
    speech, text = _gaussian(seed=1), _gaussian(seed=2)
    text[:, 0] += 6.0
    assert probe_accuracy(speech, text) > 0.97
    assert mmd2_rbf(speech, text) > 0.2
    assert centroid_gap(speech, text) > 1.5


def _token_states(n=24, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(t), dim)).astype(np.float32) for t in rng.integers(3, 9, size=n)]


def test_fresh_classifiers_are_at_chance_on_identical_speech_and_text():
    """A pair gets one prediction: identical inputs give exactly one right answer per pair."""
    speech = _gaussian(n=30)
    assert mlp_probe_accuracy(speech, speech.copy(), seed=1) == 0.5
    tokens = _token_states()
    assert modal_network_accuracy(tokens, [t.copy() for t in tokens], seed=1) == 0.5


def test_fresh_classifiers_separate_shifted_speech_and_text():
    speech, text = _gaussian(n=40, seed=1), _gaussian(n=40, seed=2)
    text[:, 0] += 6.0
    assert mlp_probe_accuracy(speech, text, seed=1) > 0.97
    tokens = _token_states()
    shifted = [t + np.eye(8, dtype=np.float32)[0] * 3.0 for t in _token_states(seed=1)]
    assert modal_network_accuracy(tokens, shifted, seed=1) > 0.97


def test_fresh_modal_network_is_deterministic_and_leaves_torch_rng_alone():
    import torch

    tokens, other = _token_states(n=12), _token_states(n=12, seed=3)
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    first = modal_network_accuracy(tokens, other, seed=2, max_epochs=3)
    assert torch.rand(1) == expected
    assert first == modal_network_accuracy(tokens, other, seed=2, max_epochs=3)
    with pytest.raises(ValueError, match="at least 4 sentences"):
        modal_network_accuracy(tokens[:3], other[:3])


def test_mmd_unbiased_is_below_a_shifted_pair_and_grows_with_the_shift():
    x, y = _gaussian(seed=3), _gaussian(seed=4)
    values = [mmd2_rbf(x, y + shift) for shift in (0.0, 0.5, 1.0, 3.0)]
    assert values == sorted(values)


def test_retrieval_counts_only_the_own_pair():
    speech = np.eye(6)
    text = np.eye(6)[[1, 0, 2, 3, 4, 5]]  # the first two sentences swapped
    assert retrieval_accuracy(speech, text) == pytest.approx(4 / 6)


def test_gap_metrics_deterministic_and_in_range():
    speech, text = _gaussian(n=30, seed=5), _gaussian(n=30, seed=6) + 0.3
    first, again = gap_metrics(speech, text, seed=7), gap_metrics(speech, text, seed=7)
    assert first == again
    assert first["n_sentences"] == 30 and first["retrieval_chance"] == pytest.approx(1 / 30)
    for key in ("probe_accuracy", "mlp_probe_accuracy", "retrieval_top1"):
        assert 0.0 <= first[key] <= 1.0
    assert np.isfinite(first["mmd2_rbf"]) and -1.0 <= first["paired_cosine"] <= 1.0


@pytest.mark.parametrize(
    "speech, text, message",
    [
        (np.zeros((3, 4)), np.zeros((3, 4)), "at least 4"),
        (np.zeros((5, 4)), np.zeros((5, 3)), "equal shape"),
        (np.full((5, 4), np.nan), np.zeros((5, 4)), "NaN"),
    ],
)
def test_bad_inputs_are_refused(speech, text, message):
    with pytest.raises(ValueError, match=message):
        gap_metrics(speech, text)
