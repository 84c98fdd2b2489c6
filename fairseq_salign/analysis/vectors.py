"""Paired sentence vectors of one split: the mean-pooled textual-encoder output of each
utterance's speech and of its transcript, from one forward pass per batch and modality."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch

from ..modules.pooling import masked_mean


@dataclass(frozen=True)
class PairedVectors:
    ids: List[str]  # utterance ids from the manifest, in manifest order
    speech: np.ndarray  # N x C
    text: np.ndarray  # N x C


def select_indices(n_total: int, max_utterances: Optional[int], seed: int) -> List[int]:
    """All utterances, or a seeded random subset in manifest order (the same subset for every
    checkpoint analysed with the same seed, so models are compared on the same sentences)."""
    if max_utterances is None or max_utterances >= n_total:
        return list(range(n_total))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n_total, size=max_utterances, replace=False))


def batches_by_size(
    indices: Sequence[int], sizes: Sequence[int], max_tokens: int
) -> Iterator[List[int]]:
    """Length-sorted batches whose padded size (items x longest) stays within ``max_tokens``;
    an item longer than ``max_tokens`` forms a batch of its own."""
    batch: List[int] = []
    longest = 0
    for i in sorted(indices, key=lambda i: (sizes[i], i)):
        if batch and (len(batch) + 1) * max(longest, sizes[i]) > max_tokens:
            yield batch
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, sizes[i])
    if batch:
        yield batch


def use_eval_transforms(dataset, data_cfg, split: str) -> None:
    """Give a dataset its eval-time transforms even for a ``train*`` split, which fairseq loads
    with the training ones (SpecAugment, concat/noise augmentation): the analysis must measure
    the model, not random masking, and be deterministic."""
    from fairseq.data.audio.dataset_transforms import CompositeAudioDatasetTransform
    from fairseq.data.audio.feature_transforms import CompositeAudioFeatureTransform
    from fairseq.data.audio.waveform_transforms import CompositeAudioWaveformTransform

    dataset.feature_transforms = CompositeAudioFeatureTransform.from_config_dict(
        data_cfg.get_feature_transforms(split, False)
    )
    dataset.waveform_transforms = CompositeAudioWaveformTransform.from_config_dict(
        data_cfg.get_waveform_transforms(split, False)
    )
    dataset.dataset_transforms = CompositeAudioDatasetTransform.from_config_dict(
        data_cfg.get_dataset_transforms(split, False)
    )


def _pooled(model, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    out = model.encoder(tokens, lengths)
    masks = out["encoder_padding_mask"]
    mask = masks[0] if len(masks) > 0 else None
    return masked_mean(out["encoder_out"][0], mask).float().cpu()


@torch.no_grad()
def paired_vectors(
    model, dataset, indices: Sequence[int], device: torch.device, max_tokens: int = 20000
) -> PairedVectors:
    """Encode speech and transcript of ``indices`` of a joint speech/text dataset (the task's
    multi-task dataset: ``src_tokens`` are features, ``src_txt_tokens`` the transcript)."""
    model.eval()
    rows, speech, text = [], [], []
    for batch in batches_by_size(indices, dataset.n_frames, max_tokens):
        sample = dataset.collater([dataset[i] for i in batch])
        net = sample["net_input"]
        if net.get("src_txt_tokens") is None:
            raise ValueError("the dataset has no transcripts (src_text column) to pair with")
        speech.append(_pooled(model, net["src_tokens"].to(device), net["src_lengths"].to(device)))
        text.append(
            _pooled(model, net["src_txt_tokens"].to(device), net["src_txt_lengths"].to(device))
        )
        rows.extend(int(i) for i in sample["id"])
    order = np.argsort(rows)
    return PairedVectors(
        ids=[str(dataset.ids[rows[k]]) for k in order],
        speech=torch.cat(speech).numpy()[order],
        text=torch.cat(text).numpy()[order],
    )


def available_splits(data_dir: Path) -> List[str]:
    return sorted(p.stem for p in Path(data_dir).glob("*.tsv"))
