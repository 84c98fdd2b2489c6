"""Check a fairseq S2T manifest (``{split}.tsv``) against the files it points at, at load time.

fairseq reads a manifest row only when a batch needs it: a row whose ``audio`` points past the end
of its zip dies mid-epoch with a bare ``IndexError``, and an empty ``tgt_text`` / ``src_text``
trains on nothing without a word. Here every row is checked when the split is loaded, without
decoding audio: each referenced file is stat-ed once (not per row), so a 250k-row manifest costs
a fraction of a second on top of reading it (``benchmarks/manifest_check_cost.py``).
"""
from __future__ import annotations

import csv
import logging
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

logger = logging.getLogger(__name__)

# fairseq's parse_path: these suffixes are whole files, anything else is ``file:offset:length``
WHOLE_FILE_SUFFIXES = {".npy", ".wav", ".flac", ".ogg"}
LISTED_ROWS = 5
FIX = ("re-run the recipe (examples/mustc/prep_mustc_data.py) so that the manifest and its zip "
       "are written together, or fix these rows")


class ManifestError(ValueError):
    """A manifest whose rows do not match their files or lack the texts training reads."""


@dataclass
class BadRow:
    line: int  # 1-based line in the manifest (the header is line 1)
    id: str
    kind: str  # what the drop count is kept by: "duplicate id", "audio", "n_frames", "empty text"
    reason: str


def read_manifest(path: Path) -> Tuple[List[Dict[str, str]], List[int]]:
    """Rows exactly as fairseq's ``_load_samples_from_tsv`` reads them, with their line numbers."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Dataset not found: {path}")
    rows, lines = [], []
    with open(path) as f:
        reader = csv.DictReader(f, delimiter="\t", quotechar=None, doublequote=False,
                                lineterminator="\n", quoting=csv.QUOTE_NONE)
        for row in reader:
            rows.append(dict(row))
            lines.append(reader.line_num)
    if not rows:
        raise ValueError(f"Empty manifest: {path}")
    return rows, lines


class _FileSizes:
    """``os.stat`` of each referenced file once; None when it is missing."""

    def __init__(self):
        self._sizes: Dict[str, Optional[int]] = {}

    def __call__(self, path: str) -> Optional[int]:
        if path not in self._sizes:
            try:
                info = os.stat(path)
                self._sizes[path] = info.st_size if stat.S_ISREG(info.st_mode) else None
            except OSError:
                self._sizes[path] = None
        return self._sizes[path]


def _resolve(root: str, value: str) -> str:
    """``(Path(audio_root) / value).as_posix()`` as fairseq resolves it (to the same file),
    without building two Paths per row."""
    return value if not root or root == "." or value.startswith("/") else f"{root}/{value}"


class _NpyFrames:
    """The first dimension a stored ``.npy`` member's header promises, read from the zip at the
    member's offset (the header only, never the array): one open file per zip, one short read
    per row. None for members that are not .npy (flac, wav)."""

    def __init__(self):
        self._files: Dict[str, object] = {}

    def __call__(self, path: str, offset: int) -> Optional[int]:
        import numpy as np

        f = self._files.get(path)
        if f is None:
            f = self._files[path] = open(path, "rb")
        f.seek(offset)
        if f.read(6) != b"\x93NUMPY":
            return None
        f.seek(offset)
        try:  # numpy's own header reader (np.save writes format 1.0; 2.0 for huge headers)
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape = read(f)[0]
        except ValueError:
            return None
        return int(shape[0]) if shape else None

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def _audio_problem(value: str, root: str, size_of: _FileSizes) -> Optional[str]:
    """What is wrong with one ``audio`` value, resolved as fairseq resolves it, or None."""
    resolved = _resolve(root, value)
    if os.path.splitext(resolved)[1] in WHOLE_FILE_SUFFIXES:
        return None if size_of(resolved) is not None else f"audio {value}: {resolved} not found"
    file_path, *span = resolved.split(":")
    if len(span) != 2:
        return f"audio {value}: neither a file path nor file:byte_offset:byte_length"
    size = size_of(file_path)
    if size is None:
        return f"audio {value}: {file_path} not found"
    try:
        offset, length = int(span[0]), int(span[1])
    except ValueError:
        return f"audio {value}: offset and length must be integers"
    if offset < 0 or length <= 0:
        return f"audio {value}: offset must be >= 0 and length > 0"
    if offset + length > size:
        return (f"audio {value}: bytes {offset}-{offset + length} run past the end of "
                f"{file_path} ({size} bytes)")
    return None


def _shape_problem(value: str, root: str, n_frames: int, npy_frames: _NpyFrames) -> Optional[str]:
    """A stored array whose header's length differs from the manifest's ``n_frames``."""
    file_path, *span = _resolve(root, value).split(":")
    if len(span) != 2:
        return None  # a whole file: its length is fairseq's to read
    stored = npy_frames(file_path, int(span[0]))
    if stored is not None and stored != n_frames:
        return (f"n_frames {n_frames}, but the array stored at {value} holds {stored} frames "
                "(the manifest does not belong to this zip)")
    return None


# rows whose n_frames is compared with the stored array's header, spread evenly over a manifest:
# a manifest of another preparation disagrees on nearly every row, and one header read per row of
# a 250k-row manifest took 24 s on a cold page cache of the project machine (docs/faults.md)
HEADER_SAMPLE = 1000


def _speech_problem(row: Dict[str, str], root: str, size_of: _FileSizes,
                    npy_frames: Optional[_NpyFrames]) -> Tuple[Optional[str], Optional[str]]:
    """``(kind, reason)`` of a bad ``audio`` / ``n_frames`` entry, or ``(None, None)``;
    ``npy_frames``: also compare ``n_frames`` with the stored array's header."""
    reason = _audio_problem(row.get("audio") or "", root, size_of)
    if reason is not None:
        return "audio", reason
    frames = (row.get("n_frames") or "").strip()
    if not (frames.isdigit() and int(frames) > 0):
        return "n_frames", f"n_frames {frames!r} is not a positive integer"
    if npy_frames is None:
        return None, None
    reason = _shape_problem(row["audio"], root, int(frames), npy_frames)
    return ("n_frames", reason) if reason else (None, None)


def find_bad_rows(rows: Sequence[Dict[str, str]], lines: Sequence[int], audio_root: Optional[str],
                  texts: Sequence[str] = ()) -> List[BadRow]:
    """Rows with a duplicate id, a bad ``audio`` reference or ``n_frames`` (when ``audio_root``
    is not None, i.e. speech is read; for stored arrays also the header's length, on
    ``HEADER_SAMPLE`` rows spread over the manifest) or an empty column of ``texts``; one reason
    per row."""
    size_of, npy_frames, seen, bad = _FileSizes(), _NpyFrames(), set(), []
    root = Path(audio_root).as_posix() if audio_root else ""
    every = max(1, -(-len(rows) // HEADER_SAMPLE))  # ceil: at most HEADER_SAMPLE rows
    try:
        for i, (row, line) in enumerate(zip(rows, lines)):
            uid = row.get("id") or ""
            kind, reason = None, None
            if uid in seen:
                kind, reason = "duplicate id", f"duplicate id {uid}"
            seen.add(uid)
            if reason is None and audio_root is not None:
                kind, reason = _speech_problem(row, root, size_of,
                                               npy_frames if i % every == 0 else None)
            if reason is None:
                empty = [c for c in texts if not (row.get(c) or "").strip()]
                if empty:
                    kind, reason = "empty text", f"empty {' and '.join(empty)}"
            if reason is not None:
                bad.append(BadRow(line, uid, kind, reason))
    finally:
        npy_frames.close()
    return bad


def _required_columns(rows, manifest: Path, audio_root: Optional[str], texts: Sequence[str]):
    needed = ["id"] + (["audio", "n_frames"] if audio_root is not None else []) + list(texts)
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise ManifestError(f"{manifest}: no {', '.join(missing)} column(s) (needed here: "
                            f"{', '.join(needed)}); {FIX.split(', or')[0]}")


def describe(manifest: Path, bad: List[BadRow], total: int) -> str:
    listed = "; ".join(f"line {b.line} (id {b.id or '?'}): {b.reason}" for b in bad[:LISTED_ROWS])
    more = f"; and {len(bad) - LISTED_ROWS} more" if len(bad) > LISTED_ROWS else ""
    return f"{manifest}: {len(bad)} of {total} rows invalid: {listed}{more}"


def check_rows(manifest: Path, rows: List[Dict[str, str]], lines: List[int], *,
               audio_root: Optional[str], texts: Sequence[str] = (), is_train: bool = False,
               skip_invalid: bool = False) -> List[Dict[str, str]]:
    """``rows`` if all are valid; else one :class:`ManifestError` naming the manifest, lines, ids
    and what to do; or, for a train split with ``skip_invalid``, the valid rows (drops logged with
    their count per reason). Dev/test splits are scored: they are never thinned."""
    _required_columns(rows, manifest, audio_root, texts)
    bad = find_bad_rows(rows, lines, audio_root, texts)
    if not bad:
        return rows
    message = describe(manifest, bad, len(rows))
    if not skip_invalid:
        train_hint = ("; for a train split --skip-invalid-rows drops them (the count is logged)"
                      if is_train else "")
        raise ManifestError(f"{message}. {FIX[0].upper()}{FIX[1:]}{train_hint}")
    if not is_train:
        raise ManifestError(f"{message}. --skip-invalid-rows applies to train splits only: this "
                            f"split is validated or scored and must stay whole; {FIX}")
    if len(bad) == len(rows):
        raise ManifestError(f"{message}. No valid row is left; {FIX}")
    dropped = {b.line for b in bad}
    counts = Counter(b.kind for b in bad)
    logger.warning(f"--skip-invalid-rows: dropped {len(bad)} of {len(rows)} rows of {manifest} ("
                   + ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
                   + f"); {message}")
    return [row for row, line in zip(rows, lines) if line not in dropped]


def load_checked(manifest: Path, **options) -> List[Dict[str, str]]:
    """:func:`read_manifest` then :func:`check_rows` (same keyword options)."""
    rows, lines = read_manifest(manifest)
    return check_rows(Path(manifest), rows, lines, **options)
