"""Voiced frames -> segments with MuST-C-like limits.

MuST-C's segments are sentences of a few seconds, rarely over 30 s; models trained on them
translate long inputs badly and have a source-position limit. So: pauses shorter than
``min_silence_s`` do not end a segment (words and phrases of one sentence stay together); voiced
stretches shorter than ``min_speech_s`` after that are noise (clicks, breaths) and are dropped,
counted in the report; a stretch longer than ``max_segment_s`` is cut at its longest inner pause,
preferring pauses that leave both sides within the limit (recursively; in the middle when it has
no pause), never leaving a piece under ``min_split_s``; each
segment's audio is padded by ``pad_s`` on both sides, never past the middle of the pause to its
neighbour. A cue's time span is the voiced part, without the padding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

from ..audio import TARGET_SAMPLE_RATE
from .base import Segment, VADError, VoiceActivityDetector

Run = Tuple[int, int]  # [start, end) in frames


@dataclass(frozen=True)
class SegmentLimits:
    max_segment_s: float = 20.0  # longest segment, padding included
    min_silence_s: float = 0.5  # shorter pauses do not end a segment
    min_speech_s: float = 0.25  # shorter voiced stretches are dropped as noise (counted)
    min_split_s: float = 1.0  # a cut never leaves a piece shorter than this
    pad_s: float = 0.2  # audio context added before and after the voiced part

    def __post_init__(self) -> None:
        if not self.max_segment_s > 2 * self.pad_s + 2 * self.min_split_s:
            raise VADError(f"max segment {self.max_segment_s:g} s must exceed twice the padding "
                           f"({self.pad_s:g} s) plus twice the shortest piece ({self.min_split_s:g} s)")
        if min(self.min_silence_s, self.min_speech_s, self.min_split_s, self.pad_s) < 0:
            raise VADError("segment limits must not be negative")


@dataclass
class SegmentationReport:
    duration_s: float = 0.0
    speech_s: float = 0.0  # voiced time in the segments
    n_segments: int = 0
    n_cut: int = 0  # stretches longer than max_segment_s that were cut
    dropped: List[Tuple[float, float]] = field(default_factory=list)  # short noise (s, e)

    def summary(self) -> str:
        text = (f"{self.n_segments} segments, {self.speech_s:.1f} s of speech in "
                f"{self.duration_s:.1f} s")
        if self.n_cut:
            text += f", {self.n_cut} stretches over the length limit cut at pauses"
        if self.dropped:
            text += (f", {len(self.dropped)} voiced blips under the minimum speech length "
                     f"dropped ({sum(e - s for s, e in self.dropped):.2f} s)")
        return text


def _runs(flags: np.ndarray, value: bool = True) -> List[Run]:
    padded = np.concatenate([[0], (flags == value).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _bridge(runs: List[Run], min_gap: int) -> List[Run]:
    out: List[Run] = []
    for start, end in runs:
        if out and start - out[-1][1] < min_gap:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _cut(run: Run, flags: np.ndarray, max_len: int, min_piece: int) -> List[Run]:
    start, end = run
    if end - start <= max_len:
        return [run]
    gaps = [(start + s, start + e) for s, e in _runs(flags[start:end], value=False)]
    middle = (start + end) / 2
    usable = [g for g in gaps if g[0] - start >= min_piece and end - g[1] >= min_piece]
    # pauses that leave both sides within the limit come first: one cut instead of several
    usable = [g for g in usable if g[0] - start <= max_len and end - g[1] <= max_len] or usable
    if usable:
        g = max(usable, key=lambda g: (g[1] - g[0], -abs((g[0] + g[1]) / 2 - middle)))
        left, right = (start, g[0]), (g[1], end)
    else:  # no pause: cut in the middle
        left, right = (start, int(middle)), (int(middle), end)
    return _cut(left, flags, max_len, min_piece) + _cut(right, flags, max_len, min_piece)


def segments_from_frames(flags: np.ndarray, frame_s: float, duration_s: float,
                         limits: SegmentLimits = SegmentLimits()):
    """``(segments, report)`` for a recording of ``duration_s`` whose VAD frames are ``flags``."""
    flags = np.asarray(flags, dtype=bool)
    frames = lambda s: int(round(s / frame_s))  # noqa: E731
    report = SegmentationReport(duration_s=duration_s)
    runs = _bridge(_runs(flags), frames(limits.min_silence_s))
    kept = []
    for s, e in runs:
        if e - s < frames(limits.min_speech_s):
            report.dropped.append((s * frame_s, e * frame_s))
        else:
            kept.append((s, e))
    max_len = frames(limits.max_segment_s - 2 * limits.pad_s)
    pieces = []
    for run in kept:
        cut = _cut(run, flags, max_len, max(1, frames(limits.min_split_s)))
        report.n_cut += len(cut) > 1
        pieces += cut
    segments = []
    for i, (s, e) in enumerate(pieces):
        speech_start, speech_end = s * frame_s, min(e * frame_s, duration_s)
        lo = 0.0 if i == 0 else (pieces[i - 1][1] * frame_s + speech_start) / 2
        hi = duration_s if i == len(pieces) - 1 else (speech_end + pieces[i + 1][0] * frame_s) / 2
        segments.append(Segment(max(lo, speech_start - limits.pad_s),
                                min(hi, speech_end + limits.pad_s), speech_start, speech_end))
        report.speech_s += speech_end - speech_start
    report.n_segments = len(segments)
    return segments, report


def segment_speech(wave16k: np.ndarray, vad: VoiceActivityDetector,
                   limits: SegmentLimits = SegmentLimits()):
    """``(segments, report)`` of a mono 16 kHz recording."""
    flags = vad.voiced_frames(wave16k)
    return segments_from_frames(flags, vad.frame_seconds, len(wave16k) / TARGET_SAMPLE_RATE, limits)
