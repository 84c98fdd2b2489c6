"""Read and validate a MuST-C release tree (``en-{lang}/data/{split}/{wav,txt}``).

Everything that can be checked without decoding audio is checked here, before any feature is
computed, so a bad corpus fails in seconds with every problem listed by file and line, or (train
splits with ``skip_bad=True``) loses exactly the listed segments with a per-reason count.
Segment ids follow fairseq's recipe: ``{talk wav stem}_{rank of the segment by offset}``
(fairseq sorts the offsets as strings; here they are sorted as numbers).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .errors import PrepError  # noqa: F401 (the recipe's error, raised here and re-exported)
from ..audio import (
    TARGET_SAMPLE_RATE,
    AudioError,
    AudioInfo,
    audio_info,
    n_fbank_frames,
    seconds_to_span,
)

SPLITS = ("train", "dev", "tst-COMMON", "tst-HE")
YAML_KEYS = ("duration", "offset", "speaker_id", "wav")
MAX_LISTED_PROBLEMS = 20


def is_train_split(split: str) -> bool:
    """Only training splits may lose segments; dev and tst-* are scored and must stay whole."""
    return split.startswith("train")


@dataclass
class Segment:
    """One yaml entry with its text lines; ``line`` is 1-based in the yaml list and text files."""

    split: str
    line: int
    wav: str
    offset: float
    duration: float
    speaker: str
    src: str
    tgt: str
    id: str = ""
    start: int = 0  # sample span at the wav's own rate
    end: int = 0
    n_samples: int = 0  # samples after resampling to 16 kHz
    n_frames: int = 0  # 10 ms fbank frames of those samples: the unit of the length filters


@dataclass
class SplitReport:
    """What happened to one split: kept segments, drops per reason, audio conversions."""

    split: str
    total: int = 0
    dropped: Counter = field(default_factory=Counter)
    notices: Counter = field(default_factory=Counter)
    unit: str = "segments"  # "sentence pairs" for an MT-only split

    def summary(self) -> str:
        kept = self.total - sum(self.dropped.values())
        parts = [f"{self.split}: {kept}/{self.total} {self.unit} kept"]
        parts += [f"dropped {n} ({reason})" for reason, n in sorted(self.dropped.items())]
        parts += [f"{reason}: {n}" for reason, n in sorted(self.notices.items())]
        return "; ".join(parts)


@dataclass
class SplitData:
    split: str
    segments: list[Segment]
    wavs: dict[str, AudioInfo]
    report: SplitReport
    files: list[Path]  # inputs, for change detection


def split_paths(lang_root: Path, split: str, lang: str) -> dict[str, Path]:
    base = lang_root / "data" / split
    return {
        "dir": base,
        "wav": base / "wav",
        "yaml": base / "txt" / f"{split}.yaml",
        "en": base / "txt" / f"{split}.en",
        lang: base / "txt" / f"{split}.{lang}",
    }


def _read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise PrepError(f"{path}: not valid UTF-8 ({e})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _load_yaml(path: Path) -> list[dict]:
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # strings only, C speed when present
    try:
        with open(path, encoding="utf-8") as f:
            entries = yaml.load(f, Loader=loader)
    except yaml.YAMLError as e:
        raise PrepError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(entries, list):
        raise PrepError(f"{path}: expected a YAML list of segments, got {type(entries).__name__}")
    for i, entry in enumerate(entries, 1):
        missing = [k for k in YAML_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise PrepError(f"{path} entry {i}: missing key(s) {', '.join(missing)}")
    return entries


def _float(value: str) -> Optional[float]:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def read_split(
    lang_root: Path,
    split: str,
    lang: str,
    *,
    skip_bad: bool = False,
    min_n_frames: int = 5,
    max_n_frames: int = 3000,
    translated: bool = True,
) -> SplitData:
    """Parse and validate one split; raise :class:`PrepError` listing every problem found.

    ``translated=False`` reads an ASR-only split: the same layout without the ``{split}.{lang}``
    file (speech and transcripts only); its segments carry an empty translation.

    Structural problems (missing directory or file, yaml/text line counts that differ) are
    always fatal. Per-segment problems are fatal too, except on train splits with
    ``skip_bad``; train also drops segments outside ``[min_n_frames, max_n_frames]`` like
    fairseq, while eval splits keep short segments that still give one frame. The bounds are
    in 10 ms fbank frames whatever feature kind is stored, so every kind keeps the same
    segments (and preparations of one corpus compare like for like).
    """
    paths = split_paths(lang_root, split, lang)
    if not paths["dir"].is_dir():
        raise PrepError(
            f"split directory not found: {paths['dir']} (expected the MuST-C layout "
            f"{lang_root}/data/{split}/{{wav,txt}}; choose splits with --splits)"
        )
    text_keys = ("en", lang) if translated else ("en",)
    for key in ("wav", "yaml", *text_keys):
        if not paths[key].exists():
            raise PrepError(f"{split}: missing {paths[key]}")
    entries = _load_yaml(paths["yaml"])
    texts = {k: _read_lines(paths[k]) for k in text_keys}
    texts.setdefault(lang, [""] * len(entries))
    for key, lines in texts.items():
        if len(lines) != len(entries):
            raise PrepError(
                f"{split}: {paths['yaml']} has {len(entries)} segments but {paths[key]} has "
                f"{len(lines)} lines; the files must be line-aligned"
            )

    report = SplitReport(split, total=len(entries))
    problems: list[tuple[str, str]] = []  # (reason, message)
    wavs: dict[str, AudioInfo] = {}
    wav_errors: dict[str, tuple[str, str]] = {}
    segments: list[Segment] = []
    all_segments = []
    for i, entry in enumerate(entries, 1):
        offset, duration = _float(entry["offset"]), _float(entry["duration"])
        all_segments.append(Segment(
            split, i, str(entry["wav"]), math.inf if offset is None else offset,
            math.nan if duration is None else duration, str(entry["speaker_id"]),
            texts["en"][i - 1].strip(), texts[lang][i - 1].strip(),
        ))
    _assign_ids(all_segments)  # before any drop, so ids do not depend on what was dropped
    for seg, entry in zip(all_segments, entries):
        i = seg.line
        where = (f"{paths['yaml']} entry {i} / "
                 + ", ".join(paths[k].name for k in text_keys) + f" line {i}")
        offset, duration = seg.offset, seg.duration
        if not (math.isfinite(offset) and math.isfinite(duration)) or offset < 0 or duration <= 0:
            problems.append(("invalid offset/duration", f"{where}: invalid offset "
                             f"{entry['offset']!r} / duration {entry['duration']!r}"))
            continue
        if not seg.src:
            problems.append(("empty transcript", f"{where}: empty transcript in {paths['en']}"))
            continue
        if translated and not seg.tgt:
            problems.append(("empty translation", f"{where}: empty translation in {paths[lang]}"))
            continue
        if seg.wav not in wavs and seg.wav not in wav_errors:
            wav_path = paths["wav"] / seg.wav
            if not wav_path.is_file():
                wav_errors[seg.wav] = ("missing wav", f"wav file not found: {wav_path}")
            else:
                try:
                    wavs[seg.wav] = audio_info(wav_path)
                except AudioError as e:
                    wav_errors[seg.wav] = ("unreadable or empty audio", str(e))
        if seg.wav in wav_errors:
            reason, msg = wav_errors[seg.wav]
            problems.append((reason, f"{where}: {msg}"))
            continue
        info = wavs[seg.wav]
        seg.start, seg.end = seconds_to_span(offset, duration, info.sample_rate)
        if seg.end > info.frames:
            problems.append(("segment past end of wav", (
                f"{where}: segment offset {offset}s + duration {duration}s = "
                f"{offset + duration:.3f}s runs past the end of {info.path} "
                f"({info.duration_s:.3f}s = {info.frames} samples at {info.sample_rate} Hz)")))
            continue
        # resample_poly gives ceil(n * 16000 / rate) samples
        seg.n_samples = math.ceil((seg.end - seg.start) * TARGET_SAMPLE_RATE / info.sample_rate)
        seg.n_frames = n_fbank_frames(seg.n_samples)
        if seg.n_frames == 0:
            problems.append(("too short for one frame", (
                f"{where}: duration {duration}s is shorter than one 25 ms analysis window")))
            continue
        if is_train_split(split):
            if seg.n_frames < min_n_frames:
                report.dropped[f"short speech (<{min_n_frames} frames)"] += 1
                continue
            if seg.n_frames > max_n_frames:
                report.dropped[f"long speech (>{max_n_frames} frames)"] += 1
                continue
        elif seg.n_frames < min_n_frames:
            report.notices[f"kept short segments (<{min_n_frames} frames, eval split)"] += 1
        segments.append(seg)

    if problems:
        if not (skip_bad and is_train_split(split)):
            hint = (
                "fix the data, or pass --skip-bad-segments to drop them from train splits"
                if is_train_split(split)
                else "dev and tst-* splits never drop segments: fix the data"
            )
            raise problems_error(f"{split}: {len(problems)} bad segment(s)", problems, hint)
        for reason, _ in problems:
            report.dropped[reason] += 1

    used = {s.wav for s in segments}
    for name in sorted(used):
        info = wavs[name]
        if info.sample_rate != TARGET_SAMPLE_RATE:
            report.notices[f"wavs resampled to 16 kHz (from {info.sample_rate} Hz)"] += 1
        if info.channels != 1:
            report.notices[f"wavs mixed down to mono (from {info.channels} channels)"] += 1
    files = [paths["yaml"], *(paths[k] for k in text_keys)] + [paths["wav"] / w for w in sorted(wavs)]
    return SplitData(split, segments, {w: wavs[w] for w in used}, report, files)


def problems_error(what: str, problems: list[tuple[str, str]], hint: str) -> PrepError:
    """One error for a list of (reason, message) problems: counts per reason, the first
    MAX_LISTED_PROBLEMS messages, and what to do."""
    counts = Counter(reason for reason, _ in problems)
    listed = "\n  ".join(msg for _, msg in problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    return PrepError(
        f"{what} ({', '.join(f'{r}: {n}' for r, n in sorted(counts.items()))}):\n  {listed}"
        + (f"\n  ... and {more} more" if more > 0 else "")
        + f"\n{hint}"
    )


def _assign_ids(segments: list[Segment]) -> None:
    by_wav: dict[str, list[Segment]] = {}
    for seg in segments:
        by_wav.setdefault(seg.wav, []).append(seg)
    for name, group in by_wav.items():
        stem = Path(name).stem
        for rank, seg in enumerate(sorted(group, key=lambda s: (s.offset, s.line))):
            seg.id = f"{stem}_{rank}"
