"""Timed hypotheses -> subtitle files (SRT with ``srt``, WebVTT with ``webvtt-py``) and plain
text, each written to a temporary name and renamed, so an interrupted run leaves no file that
looks complete."""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

FORMATS = ("srt", "vtt")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _vtt_text(text: str) -> str:
    """WebVTT cue text is markup: escape it, and keep it on one line (a blank line ends a cue)."""
    text = " ".join(text.split()) or "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(cues: Sequence[Cue]) -> str:
    import srt

    return srt.compose([srt.Subtitle(i + 1, datetime.timedelta(seconds=c.start),
                                     datetime.timedelta(seconds=c.end), c.text or "…")
                        for i, c in enumerate(cues)], reindex=False)


def to_vtt(cues: Sequence[Cue]) -> str:
    import webvtt

    doc = webvtt.WebVTT()
    for c in cues:
        doc.captions.append(webvtt.Caption(_vtt_time(c.start), _vtt_time(c.end), _vtt_text(c.text)))
    return doc.content


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_subtitles(cues: Sequence[Cue], stem: Path, fmt: str) -> List[Path]:
    """``stem.{fmt}`` with the cues and ``stem.txt`` with one line per cue; their paths."""
    if fmt not in FORMATS:
        raise ValueError(f"subtitle format {fmt!r}: choose one of {', '.join(FORMATS)}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    sub = stem.with_name(f"{stem.name}.{fmt}")
    txt = stem.with_name(f"{stem.name}.txt")
    _write(sub, to_srt(cues) if fmt == "srt" else to_vtt(cues))
    _write(txt, "".join(f"{' '.join(c.text.split())}\n" for c in cues))
    return [sub, txt]
