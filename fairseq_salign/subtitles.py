"""Timed hypotheses -> subtitle files (SRT with ``srt``, WebVTT with ``webvtt-py``), plain text
and JSON lines, each written to a temporary name and renamed, so an interrupted run leaves no file
that looks complete. A cue's text may hold several lines (a bilingual cue: transcript, then
translation): each stays one subtitle line."""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

FORMATS = ("srt", "vtt")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str  # one line per language of a bilingual cue

    @property
    def lines(self) -> List[str]:
        """The cue's lines, each on one line (whitespace collapsed), none empty."""
        return [" ".join(line.split()) or "…" for line in self.text.split("\n")]


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _vtt_text(cue: Cue) -> str:
    """WebVTT cue text is markup: escape it, and keep each line non-blank (a blank line ends a
    cue)."""
    text = "\n".join(cue.lines)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(cues: Sequence[Cue]) -> str:
    import srt

    return srt.compose([srt.Subtitle(i + 1, datetime.timedelta(seconds=c.start),
                                     datetime.timedelta(seconds=c.end), "\n".join(c.lines))
                        for i, c in enumerate(cues)], reindex=False)


def to_vtt(cues: Sequence[Cue]) -> str:
    import webvtt

    doc = webvtt.WebVTT()
    for c in cues:
        doc.captions.append(webvtt.Caption(_vtt_time(c.start), _vtt_time(c.end), _vtt_text(c)))
    return doc.content


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_subtitles(cues: Sequence[Cue], stem: Path, fmt: str) -> List[Path]:
    """``stem.{fmt}`` with the cues and ``stem.txt`` with one line per cue (a bilingual cue's
    lines separated by a tab); their paths."""
    if fmt not in FORMATS:
        raise ValueError(f"subtitle format {fmt!r}: choose one of {', '.join(FORMATS)}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    sub = stem.with_name(f"{stem.name}.{fmt}")
    txt = stem.with_name(f"{stem.name}.txt")
    _write(sub, to_srt(cues) if fmt == "srt" else to_vtt(cues))
    _write(txt, "".join("\t".join(c.lines) + "\n" for c in cues))
    return [sub, txt]


def write_jsonl(rows: Sequence[Dict], path: Path) -> Path:
    """One JSON object per line (UTF-8, not ASCII-escaped)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path
