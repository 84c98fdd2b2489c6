"""Text-only views of an S2T manifest: transcript -> translation pairs for MT training/inference."""
from typing import Callable, Dict, List

import numpy as np
import torch
from fairseq.data import Dictionary, LanguagePairDataset, ListDataset


def encode_texts(texts: List[str], encode: Callable[[str], str], dictionary: Dictionary):
    """Sub-word-encode each text and map it to ids with EOS, like fairseq's S2T datasets do."""
    return [
        dictionary.encode_line(encode(t), add_if_not_exist=False, append_eos=True).long()
        for t in texts
    ]


def text_pair_dataset(
    samples: List[Dict[str, str]],
    manifest: str,
    encode: Callable[[str], str],
    dictionary: Dictionary,
    shuffle: bool,
) -> LanguagePairDataset:
    """``src_text`` -> ``tgt_text`` pairs of a manifest's rows, batched like fairseq's MT data.

    Source padding is on the right, as in the speech datasets, so the two paths of T-enc see
    identical layouts.
    """
    for column in ("src_text", "tgt_text"):
        if column not in samples[0]:
            raise ValueError(
                f"{manifest} has no '{column}' column; MT training and --infer-mode mt need "
                "transcripts and translations (prepare data with examples/mustc/prep_mustc_data.py)"
            )
    src = encode_texts([s["src_text"] for s in samples], encode, dictionary)
    tgt = encode_texts([s["tgt_text"] for s in samples], encode, dictionary)
    src_sizes = np.array([len(t) for t in src])
    tgt_sizes = np.array([len(t) for t in tgt])
    return LanguagePairDataset(
        ListDataset(src, src_sizes),
        src_sizes,
        dictionary,
        ListDataset(tgt, tgt_sizes),
        tgt_sizes,
        dictionary,
        left_pad_source=False,
        left_pad_target=False,
        shuffle=shuffle,
    )


def transcripts_as_targets(samples: List[Dict[str, str]], manifest: str) -> List[Dict[str, str]]:
    """Rows whose target is the transcript: ASR references for ``--infer-mode asr``."""
    if "src_text" not in samples[0]:
        raise ValueError(f"{manifest} has no 'src_text' column: ASR scoring needs transcripts")
    return [dict(s, tgt_text=s["src_text"]) for s in samples]
