"""Fresh classifiers that try to tell speech from text in the textual-encoder space.

The game's own discriminator is no evidence: it is at chance while the game oscillates, yet a
fresh one trained on the frozen states separates them perfectly (docs/ablations.md). So
the analysis trains new ones, of growing capacity: a linear probe and an MLP on the mean-pooled
sentence vectors, and the criterion's own architecture (``ModalNetwork``, per token, with the
game's joint batch standardisation) on the token states, trained to convergence.

All of them use the same folds over *sentences*: a sentence's speech and text are held out
together, so no classifier can score by recognising the sentence and every fold is balanced
(chance = 0.5). Identical speech and text give exactly 0.5 (a pair gets one prediction).
"""
from __future__ import annotations

from typing import Callable, Iterator, List, Sequence, Tuple

import numpy as np
import torch

MLP_HIDDEN = 64  # units of the MLP probe (as in the method notes' probe table)
PATIENCE_STEPS = 200  # the fresh modal network's early stopping waits at least this many steps


def sentence_folds(n: int, seed: int, folds: int = 5) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` sentence indices of seeded K-fold splits (K = min(folds, n))."""
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    return splitter.split(np.arange(n))


def _vector_probe(speech: np.ndarray, text: np.ndarray, make: Callable, seed: int, folds: int) -> float:
    """Held-out accuracy of ``make()`` (a scikit-learn classifier), standardised on the
    training fold only; speech is 0, text 1."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n, correct = speech.shape[0], 0
    for train, test in sentence_folds(n, seed, folds):
        probe = make_pipeline(StandardScaler(), make())
        probe.fit(np.concatenate([speech[train], text[train]]), np.repeat([0, 1], len(train)))
        correct += int((probe.predict(speech[test]) == 0).sum())
        correct += int((probe.predict(text[test]) == 1).sum())
    return correct / (2 * n)


def probe_accuracy(speech: np.ndarray, text: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """Held-out accuracy of a fresh logistic-regression probe on sentence vectors."""
    from sklearn.linear_model import LogisticRegression

    return _vector_probe(speech, text, lambda: LogisticRegression(max_iter=2000), seed, folds)


def mlp_probe_accuracy(speech: np.ndarray, text: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """Held-out accuracy of a fresh one-hidden-layer MLP (``MLP_HIDDEN`` ReLU units, Adam,
    seeded) on sentence vectors: what a linear probe misses but a small network finds."""
    from sklearn.neural_network import MLPClassifier

    return _vector_probe(
        speech, text, lambda: MLPClassifier((MLP_HIDDEN,), max_iter=2000, random_state=seed), seed, folds
    )


def _batch(sequences: Sequence[np.ndarray], device) -> Tuple[torch.Tensor, torch.Tensor]:
    """T x B x C zero-padded states and the B x T padding mask (True = pad)."""
    lengths = [len(s) for s in sequences]
    x = torch.zeros(max(lengths), len(sequences), sequences[0].shape[1])
    for b, s in enumerate(sequences):
        x[: len(s), b] = torch.from_numpy(np.asarray(s, np.float32))
    mask = torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]
    return x.to(device), mask.to(device)


def _paired_batches(speech, text, indices, size: int, device) -> List[Tuple]:
    """Batches of ``size`` paired sentences of similar length (as fairseq batches), built once."""
    order = sorted(indices, key=lambda i: (len(speech[i]), i))
    chunks = [order[k : k + size] for k in range(0, len(order), size)]
    return [(_batch([speech[i] for i in c], device), _batch([text[i] for i in c], device)) for c in chunks]


def _loss(network, batch) -> torch.Tensor:
    """The game's discriminator loss (speech 0, text 1), both modalities standardised with
    their joint token statistics; also the correct count."""
    from ..modules.modal_network import joint_token_stats

    speech, text = batch
    stats = joint_token_stats([speech, text])
    s_logit, t_logit = network(*speech, stats), network(*text, stats)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    loss = bce(s_logit, torch.zeros_like(s_logit)) + bce(t_logit, torch.ones_like(t_logit))
    return loss, int((s_logit < 0).sum()) + int((t_logit > 0).sum())


def _fit(network, batches, valid, rng, lr: float, max_epochs: int, patience: int) -> None:
    """Adam until the loss on ``valid`` has not fallen for ``patience`` epochs and at least
    ``PATIENCE_STEPS`` steps (a small fold has few steps per epoch), or is ~0; the best epoch's
    weights are kept."""
    patience = max(patience, -(-PATIENCE_STEPS // len(batches)))
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    best, best_state, stale = float("inf"), None, 0
    for _ in range(max_epochs):
        network.train()
        for k in rng.permutation(len(batches)):
            optimizer.zero_grad()
            _loss(network, batches[k])[0].backward()
            optimizer.step()
        network.eval()
        with torch.no_grad():
            valid_loss = _loss(network, valid)[0].item()
        if valid_loss < best - 1e-4:
            best, stale = valid_loss, 0
            best_state = {k: v.clone() for k, v in network.state_dict().items()}
        else:
            stale += 1
        if stale >= patience or best < 1e-3:
            break
    network.load_state_dict(best_state)


def modal_network_accuracy(
    speech: List[np.ndarray],
    text: List[np.ndarray],
    seed: int = 0,
    folds: int = 5,
    hidden_dim: int = 256,
    dropout: float = 0.1,
    batch_sentences: int = 32,
    lr: float = 1e-3,
    max_epochs: int = 200,
    patience: int = 5,
    device="cpu",
) -> float:
    """Held-out accuracy of a fresh ``ModalNetwork`` on per-token states (``speech[i]``,
    ``text[i]``: T_i x C arrays of sentence i).

    Per fold it trains on batches of paired sentences, standardised jointly as the game
    standardises a batch, with Adam until the loss on a tenth of the training sentences stops
    falling (early stopping: the discriminator that generalises best, not one that memorised
    the training sentences); the held-out fold is one batch. Seeded, and without side effects
    on torch's global random state."""
    from ..modules.modal_network import ModalNetwork

    if len(speech) != len(text) or len(speech) < 4:
        raise ValueError(
            f"need paired token states of at least 4 sentences, got {len(speech)} and {len(text)}"
        )
    correct = 0
    with torch.random.fork_rng(devices=[]):
        for fold, (train, test) in enumerate(sentence_folds(len(speech), seed, folds)):
            torch.manual_seed(seed * 1000 + fold)
            rng = np.random.default_rng(seed * 1000 + fold)
            train = rng.permutation(train)
            n_valid = max(1, len(train) // 10)
            batches = _paired_batches(speech, text, train[n_valid:], batch_sentences, device)
            valid = _paired_batches(speech, text, train[:n_valid], n_valid, device)[0]
            network = ModalNetwork(speech[0].shape[1], hidden_dim, dropout).to(device)
            _fit(network, batches, valid, rng, lr, max_epochs, patience)
            with torch.no_grad():
                correct += _loss(network, _paired_batches(speech, text, test, len(test), device)[0])[1]
    return correct / (2 * len(speech))
