"""Write a MuST-C release tree (``en-{lang}/data/{split}/{wav,txt}``), the layout :mod:`.mustc`
reads. The one writer of it: the demo's offline mini corpus (``examples/mustc/mini_corpus.py``)
and the tests' synthetic corpus (``tests/mustc_synth.py``) both write through it.

Per split: ``wav/{talk}.wav`` (16-bit PCM), ``txt/{split}.en``, ``txt/{split}.{lang}`` (none in an
ASR-only split) and ``txt/{split}.yaml``, one flow mapping per segment and line as in the release:
``{duration: 2.41, offset: 0.5, rW: 4, uW: 0, speaker_id: spk1, wav: ted_1.wav}``, talk by talk.

Every file is written under a hidden ``.{name}.partial`` name and renamed into place. A split's
yaml goes first, before anything of the split is (re)written, and comes back last, so a write cut
short leaves a split without its yaml: the reader reports it missing instead of reading a
half-written split as whole.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import soundfile as sf
import yaml

from ..audio import TARGET_SAMPLE_RATE
from .mustc import split_paths


@dataclass
class LayoutSegment:
    """One segment of a talk: where it lies in the wav (seconds, written as given; the release
    has 2 decimals) and its text."""

    offset: float
    duration: float
    en: str
    tgt: str


@dataclass
class LayoutTalk:
    """One talk wav of a split and its segments, in the order they are listed."""

    split: str
    wav: str  # file name under wav/
    speaker_id: str
    audio: np.ndarray  # mono, float in [-1, 1]
    segments: Sequence[LayoutSegment]


def segment_entry(talk: LayoutTalk, segment: LayoutSegment) -> dict:
    """The yaml entry of a segment, keys in the release's order."""
    return {"duration": segment.duration, "offset": segment.offset,
            "rW": len(segment.en.split()), "uW": 0, "speaker_id": talk.speaker_id,
            "wav": talk.wav}


def yaml_text(entries: Iterable[dict]) -> str:
    """A MuST-C yaml: one flow mapping per line, as in the release."""
    return "".join("- " + yaml.safe_dump(e, default_flow_style=True, sort_keys=False, width=10**4)
                   .strip() + "\n" for e in entries)


def write_text(path: Path, text: str) -> None:
    """``text`` (UTF-8) to ``path`` through a hidden partial file."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = TARGET_SAMPLE_RATE) -> None:
    """``audio`` as a 16-bit PCM wav at ``path`` through a hidden partial file."""
    tmp = path.with_name(f".{path.name}.partial")
    sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def _open_split(lang_root: Path, split: str, lang: str) -> dict[str, Path]:
    """Make the split's directories and take its yaml away: from here until its text is written
    the split reads as unfinished."""
    paths = split_paths(lang_root, split, lang)
    paths["wav"].mkdir(parents=True, exist_ok=True)
    paths["yaml"].parent.mkdir(parents=True, exist_ok=True)
    paths["yaml"].unlink(missing_ok=True)
    return paths


def write_split_text(lang_root: Path, split: str, lang: str, entries: Sequence[dict],
                     en: Sequence[str], tgt: Optional[Sequence[str]]) -> None:
    """A split's text files, line-aligned: ``{split}.en``, ``{split}.{lang}`` (``tgt=None``: an
    ASR-only split, whose translation file is removed if one was there) and the yaml last."""
    if len(en) != len(entries) or (tgt is not None and len(tgt) != len(entries)):
        raise ValueError(f"{split}: {len(entries)} yaml entries but {len(en)} transcripts and "
                         f"{'no' if tgt is None else len(tgt)} translations")
    paths = _open_split(lang_root, split, lang)
    write_text(paths["en"], "".join(line + "\n" for line in en))
    if tgt is None:
        paths[lang].unlink(missing_ok=True)
    else:
        write_text(paths[lang], "".join(line + "\n" for line in tgt))
    write_text(paths["yaml"], yaml_text(entries))


def write_mustc(root: Path, lang: str, talks: Iterable[LayoutTalk], splits: Sequence[str] = (),
                sample_rate: int = TARGET_SAMPLE_RATE) -> dict[str, int]:
    """Write ``talks`` under ``root/en-{lang}/data``; return the segments written per split.

    ``talks`` may be a generator: each wav is written as its talk arrives, the text files of
    every split once all talks are in (the yaml of each last). ``splits`` are made even when no
    talk falls in them (empty text files); other splits follow in the order their talks come.
    """
    lang_root = Path(root) / f"en-{lang}"
    rows: dict[str, list[tuple[dict, str, str]]] = {}
    paths: dict[str, dict[str, Path]] = {}

    def open_split(split: str) -> None:
        if split not in rows:
            rows[split] = []
            paths[split] = _open_split(lang_root, split, lang)

    for split in splits:
        open_split(split)
    for talk in talks:
        open_split(talk.split)
        write_wav(paths[talk.split]["wav"] / talk.wav, talk.audio, sample_rate)
        rows[talk.split] += [(segment_entry(talk, s), s.en, s.tgt) for s in talk.segments]
    for split, split_rows in rows.items():
        write_split_text(lang_root, split, lang, [e for e, _, _ in split_rows],
                         [en for _, en, _ in split_rows], [t for _, _, t in split_rows])
    return {split: len(split_rows) for split, split_rows in rows.items()}
