"""Joint SentencePiece vocabulary over source and target text, exported as a fairseq dict.

Special ids match fairseq's S2T recipes (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3). The
model uses ``<s>`` (index 0 in the fairseq dictionary too) as the CTC blank, so no extra symbol
is added. A vocabulary larger than the corpus supports is retried with the largest size
SentencePiece says it can build, with a warning naming both sizes.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

logger = logging.getLogger(__name__)

SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_SMALL = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")
MAX_RETRIES = 8


@dataclass
class VocabResult:
    model_path: Path
    dict_path: Path
    size_asked: int
    size: int


def spm_prefix(vocab_type: str, vocab_size: int) -> str:
    """File prefix as in fairseq's recipe: ``spm_unigram8000_st``, ``spm_char_st``."""
    return f"spm_{vocab_type}{'' if vocab_type == 'char' else vocab_size}_st"


def train_joint_spm(
    sentences: Iterable[str], out_dir: Path, vocab_type: str, vocab_size: int, num_threads: int = 1
) -> VocabResult:
    """Train on ``sentences`` (source and target lines mixed) and write ``.model``/``.txt``.

    The files are named after the size *asked* (so re-runs and configs find them) and written
    atomically.
    """
    import sentencepiece as spm

    if vocab_type not in ("unigram", "bpe", "char"):
        raise ValueError(f"unknown vocab type {vocab_type!r} (unigram, bpe or char)")
    out_dir = Path(out_dir)
    prefix = spm_prefix(vocab_type, vocab_size)
    tmp_prefix = out_dir / f".{prefix}.partial"
    text_path = out_dir / f".{prefix}.train.txt"
    n_lines = 0
    with open(text_path, "w", encoding="utf-8") as f:
        for s in sentences:
            if s:
                f.write(s + "\n")
                n_lines += 1
    if n_lines == 0:
        raise ValueError("no text to train the SentencePiece model on")
    size = vocab_size
    try:
        for _ in range(MAX_RETRIES):
            try:
                spm.SentencePieceTrainer.Train(
                    input=str(text_path), model_prefix=str(tmp_prefix), model_type=vocab_type,
                    vocab_size=size, character_coverage=1.0, num_threads=max(1, num_threads),
                    unk_id=SPECIALS["<unk>"], bos_id=SPECIALS["<s>"], eos_id=SPECIALS["</s>"],
                    pad_id=SPECIALS["<pad>"], minloglevel=2,
                    # char models take exactly the characters seen, whatever size was asked
                    **({"use_all_vocab": True, "hard_vocab_limit": False}
                       if vocab_type == "char" else {}),
                )
                break
            except RuntimeError as e:
                m = _TOO_HIGH.search(str(e))
                if m is None:
                    raise
                new = int(m.group(2))
                if new >= size or new <= len(SPECIALS):
                    raise
                logger.warning(
                    "vocabulary size %d is too large for this corpus; using %d instead "
                    "(SentencePiece: %s)", size, new, m.group(0))
                size = new
        else:
            raise RuntimeError(f"SentencePiece failed after {MAX_RETRIES} vocabulary sizes")
        model = spm.SentencePieceProcessor(model_file=f"{tmp_prefix}.model")
        pieces = [model.id_to_piece(i) for i in range(model.get_piece_size())]
        for sym, idx in SPECIALS.items():
            assert pieces[idx] == sym, (sym, idx, pieces[:4])
        dict_tmp = Path(f"{tmp_prefix}.txt")
        with open(dict_tmp, "w", encoding="utf-8") as f:
            for piece in pieces:
                if piece not in SPECIALS:
                    f.write(f"{piece} 1\n")
        model_path, dict_path = out_dir / f"{prefix}.model", out_dir / f"{prefix}.txt"
        os.replace(f"{tmp_prefix}.model", model_path)
        os.replace(dict_tmp, dict_path)
        Path(f"{tmp_prefix}.vocab").unlink(missing_ok=True)
    finally:
        text_path.unlink(missing_ok=True)
    return VocabResult(model_path, dict_path, vocab_size, len(pieces))
