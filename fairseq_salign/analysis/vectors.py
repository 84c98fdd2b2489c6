"""Paired sentence vectors of one split: the mean-pooled textual-encoder output of each
utterance's speech and of its transcript, from one forward pass per batch and modality; on
request also the per-token states (what the fresh modal network reads)."""
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
    # with tokens=True: sentence i's T_i x C states (float32, unpadded; sum(T_i) x C x 4 bytes
    # per modality, e.g. ~60 MB for 2,000 sentences of 30 tokens at C = 256)
    speech_tokens: Optional[List[np.ndarray]] = None
    text_tokens: Optional[List[np.ndarray]] = None


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


def _encode(model, tokens: torch.Tensor, lengths: torch.Tensor, keep_tokens: bool):
    """Pooled B x C vectors, and with ``keep_tokens`` each item's unpadded T_i x C states."""
    out = model.encoder(tokens, lengths)
    masks = out["encoder_padding_mask"]
    mask = masks[0] if len(masks) > 0 else None
    states = out["encoder_out"][0]  # T x B x C
    pooled = masked_mean(states, mask).float().cpu()
    if not keep_tokens:
        return pooled, []
    states = states.float().cpu().numpy()
    valid = [states.shape[0]] * states.shape[1] if mask is None else (~mask).sum(1).tolist()
    return pooled, [states[:n, b].copy() for b, n in enumerate(valid)]


@torch.no_grad()
def paired_vectors(
    model, dataset, indices: Sequence[int], device: torch.device, max_tokens: int = 20000,
    tokens: bool = False,
) -> PairedVectors:
    """Encode speech and transcript of ``indices`` of a joint speech/text dataset (the task's
    multi-task dataset: ``src_tokens`` are features, ``src_txt_tokens`` the transcript);
    ``tokens``: keep the per-token states too."""
    model.eval()
    rows, speech, text, speech_tokens, text_tokens = [], [], [], [], []
    for batch in batches_by_size(indices, dataset.n_frames, max_tokens):
        sample = dataset.collater([dataset[i] for i in batch])
        net = sample["net_input"]
        if net.get("src_txt_tokens") is None:
            raise ValueError("the dataset has no transcripts (src_text column) to pair with")
        for side, states, key in ((speech, speech_tokens, "src"), (text, text_tokens, "src_txt")):
            pooled, per_token = _encode(model, net[f"{key}_tokens"].to(device),
                                        net[f"{key}_lengths"].to(device), tokens)
            side.append(pooled)
            states.extend(per_token)
        rows.extend(int(i) for i in sample["id"])
    order = np.argsort(rows)
    return PairedVectors(
        ids=[str(dataset.ids[rows[k]]) for k in order],
        speech=torch.cat(speech).numpy()[order],
        text=torch.cat(text).numpy()[order],
        speech_tokens=[speech_tokens[k] for k in order] if tokens else None,
        text_tokens=[text_tokens[k] for k in order] if tokens else None,
    )


def available_splits(data_dir: Path) -> List[str]:
    return sorted(p.stem for p in Path(data_dir).glob("*.tsv"))
