"""Stage 3's training data by kind: ST triples, ASR-only speech, MT-only text pairs.

The three kinds need different collaters (speech + transcript + translation; speech +
transcript; text pairs), and the criterion trains the losses each kind supports, so every batch
holds one kind. Each epoch draws, per kind, its share of the epoch's utterances (whole passes
first, then a random remainder, as fairseq's ``MultiCorpusDataset``), batches each kind by
``--max-tokens`` on its own, and fairseq's epoch iterator shuffles the batches together.

``--max-tokens`` counts speech frames: a text item counts ``token_scale`` frames per token (the
ST data's frames per transcript token), so an MT batch holds about as many sentences as a speech
batch; otherwise 4,000 "tokens" would be ~6 talks' segments of speech but ~400 text sentences.
"""
import logging
import math
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from fairseq.data import FairseqDataset, data_utils

logger = logging.getLogger(__name__)

KINDS = ("st", "asr", "mt")


def sampling_shares(
    sizes: Mapping[str, int], weights: Mapping[str, Optional[float]], temperature: float
) -> Dict[str, float]:
    """Share of the epoch's utterances drawn from each kind.

    With any weight given, shares are the weights normalised (a kind present without a weight is
    an error: the caller names the option); otherwise ``size ** (1 / temperature)`` normalised:
    1 is plain concatenation, larger values flatten towards equal shares (fairseq's
    ``--sampling-alpha`` = 1 / temperature)."""
    if temperature <= 0:
        raise ValueError(f"sampling temperature must be > 0, got {temperature}")
    given = {k: w for k, w in weights.items() if w is not None}
    if given:
        missing = [k for k in sizes if k not in given]
        if missing:
            raise ValueError(f"no sampling weight for the {', '.join(missing)} data")
        raw = {k: float(given[k]) for k in sizes}
    else:
        raw = {k: float(n) ** (1.0 / temperature) for k, n in sizes.items()}
    if any(v < 0 for v in raw.values()) or sum(raw.values()) <= 0:
        raise ValueError(f"sampling weights must be >= 0 and not all 0, got {raw}")
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def draw_counts(shares: Mapping[str, float], epoch_size: int) -> Dict[str, int]:
    """Utterances per kind in an epoch of ``epoch_size`` (largest remainders, so they sum
    exactly; a kind with a positive share gets at least one)."""
    exact = {k: s * epoch_size for k, s in shares.items()}
    counts = {k: int(math.floor(v)) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: counts[k] - exact[k])[: epoch_size - sum(counts.values())]:
        counts[k] += 1
    for k, s in shares.items():
        if s > 0 and counts[k] == 0:
            counts[k] = 1
    return counts


class KindSampledDataset(FairseqDataset):
    """Several datasets, one per kind, sampled at fixed shares into single-kind batches.

    Items are ``(kind, item)``; the collater calls the kind's own collater and adds
    ``sample["data_kind"]``. ``token_scale[kind]`` multiplies that kind's ``num_tokens`` for
    batching only (``size``, used for the max-positions filter, stays in the kind's own units).
    """

    def __init__(
        self,
        datasets: "OrderedDict[str, FairseqDataset]",
        shares: Mapping[str, float],
        token_scale: Mapping[str, float],
        seed: int,
        epoch_size: Optional[int] = None,
    ):
        super().__init__()
        unknown = [k for k in datasets if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown data kind(s) {unknown}; expected {KINDS}")
        self.datasets = OrderedDict(datasets)
        self.kinds = list(self.datasets)
        self.shares = {k: float(shares[k]) for k in self.kinds}
        self.seed = seed
        self.epoch = 1
        lengths = [len(d) for d in self.datasets.values()]
        self.offsets = np.cumsum([0] + lengths)
        self.epoch_size = int(epoch_size or sum(lengths))
        self._num_tokens = np.concatenate([
            np.ceil(_num_tokens_of(d) * float(token_scale.get(k, 1.0))).astype(np.int64)
            for k, d in self.datasets.items()
        ])
        self.counts = draw_counts(self.shares, self.epoch_size)
        logger.info(
            "stage-3 data per epoch: "
            + ", ".join(f"{k} {self.counts[k]} of {len(d)} ({self.shares[k]:.1%})"
                        for k, d in self.datasets.items())
        )

    # ---- index space: the kinds' indices one after another ------------------------------------
    def _locate(self, index: int) -> Tuple[str, int]:
        k = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.kinds[k], int(index - self.offsets[k])

    def kind_of(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, indices, side="right") - 1

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int):
        kind, local = self._locate(index)
        return kind, self.datasets[kind][local]

    def collater(self, samples: List):
        if not samples:
            return {}
        kinds = {kind for kind, _ in samples}
        if len(kinds) != 1:
            raise ValueError(f"a batch mixes data kinds {sorted(kinds)}; batch_by_size keeps them apart")
        kind = kinds.pop()
        out = self.datasets[kind].collater([item for _, item in samples])
        if out:
            out["data_kind"] = kind
        return out

    def num_tokens(self, index: int) -> int:
        return int(self._num_tokens[index])

    def num_tokens_vec(self, indices):
        return self._num_tokens[indices]

    def size(self, index: int):
        kind, local = self._locate(index)
        return self.datasets[kind].size(local)

    # ---- sampling and batching ---------------------------------------------------------------
    def ordered_indices(self) -> np.ndarray:
        """This epoch's draw: per kind its count of indices (whole passes, then a random
        remainder), each kind sorted by size for tight batches (random order among equals)."""
        parts = []
        with data_utils.numpy_seed(self.seed, self.epoch):
            for i, kind in enumerate(self.kinds):
                n, size = self.counts[kind], len(self.datasets[kind])
                if n == 0 or size == 0:
                    continue
                local = np.concatenate(
                    [np.tile(np.arange(size), n // size), np.random.permutation(size)[: n % size]]
                )
                local = np.random.permutation(local)
                drawn = local + self.offsets[i]
                parts.append(drawn[np.argsort(-self._num_tokens[drawn], kind="stable")])
        return np.concatenate(parts).astype(np.int64)

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        """fairseq's batching, applied to each kind's indices apart: no batch mixes kinds."""
        indices = np.asarray(indices, dtype=np.int64)
        kind_ids = self.kind_of(indices)
        batches = []
        for k in range(len(self.kinds)):
            part = indices[kind_ids == k]
            if len(part):
                batches += data_utils.batch_by_size(
                    part, self.num_tokens, num_tokens_vec=self.num_tokens_vec(part),
                    max_tokens=max_tokens, max_sentences=max_sentences,
                    required_batch_size_multiple=required_batch_size_multiple,
                )
        return batches

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # a new draw every epoch

    @property
    def supports_prefetch(self) -> bool:
        return False

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.epoch = epoch
        for dataset in self.datasets.values():
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)


def _num_tokens_of(dataset) -> np.ndarray:
    vec = getattr(dataset, "num_tokens_vec", None)
    if vec is not None:
        try:
            return np.asarray(vec(np.arange(len(dataset))), dtype=np.float64)
        except NotImplementedError:
            pass
    return np.array([dataset.num_tokens(i) for i in range(len(dataset))], dtype=np.float64)


def frames_per_token(n_frames: Sequence[int], token_lengths: Sequence[int]) -> float:
    """Speech frames per transcript token in the ST data: the scale that makes a text item of N
    tokens count like the speech of an N-token transcript for --max-tokens."""
    tokens = float(sum(token_lengths))
    if tokens <= 0:
        raise ValueError("the ST data has no transcript tokens to measure frames per token")
    return float(sum(n_frames)) / tokens
