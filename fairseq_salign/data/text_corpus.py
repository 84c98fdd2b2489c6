"""MT-only corpora for the recipe: line-aligned ``{split}.en`` / ``{split}.{lang}`` text.

Layout, beside the MuST-C splits: ``en-{lang}/data/{split}/txt/{split}.en`` and
``{split}.{lang}`` (no yaml, no wav). Written as ``{split}_mt.tsv`` (``id``, ``src_text``,
``tgt_text``), the source normalized like the transcripts, for the task's
``--mt-extra-subsets {split}_mt``. Every problem is listed by file and line; with
``skip_bad`` bad lines are dropped and counted instead (this is always training data).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from .mustc import PrepError, SplitReport, _read_lines, problems_error, split_paths
from .text import clean_field, normalize_source

MT_COLUMNS = ["id", "src_text", "tgt_text"]


@dataclass
class TextSplit:
    split: str
    pairs: list[tuple[int, str, str]]  # (1-based line, English, translation)
    report: SplitReport


def read_text_split(lang_root: Path, split: str, lang: str, *, skip_bad: bool = False) -> TextSplit:
    paths = split_paths(lang_root, split, lang)
    for key in ("en", lang):
        if not paths[key].is_file():
            raise PrepError(
                f"MT-only split {split}: missing {paths[key]} (expected line-aligned "
                f"{paths['en']} and {paths[lang]})"
            )
    src, tgt = _read_lines(paths["en"]), _read_lines(paths[lang])
    if len(src) != len(tgt):
        raise PrepError(f"MT-only split {split}: {paths['en']} has {len(src)} lines but "
                        f"{paths[lang]} has {len(tgt)}; the files must be line-aligned")
    report = SplitReport(split, total=len(src), unit="sentence pairs")
    pairs, problems = [], []
    for i, (en, xx) in enumerate(zip(src, tgt), 1):
        en, xx = clean_field(en), clean_field(xx)
        if not en or not xx:
            which = paths["en"] if not en else paths[lang]
            reason = "empty source" if not en else "empty translation"
            problems.append((reason, f"{which} line {i}: empty line"))
            continue
        if not normalize_source(en):
            problems.append(("source has no words", f"{paths['en']} line {i}: only punctuation ({en!r})"))
            continue
        pairs.append((i, en, xx))
    if problems and not skip_bad:
        raise problems_error(f"MT-only split {split}: {len(problems)} bad line(s)", problems,
                             "fix the text, or pass --skip-bad-segments to drop those lines")
    for reason, _ in problems:
        report.dropped[reason] += 1
    if not pairs:
        raise PrepError(f"MT-only split {split}: no sentence pair left ({report.summary()})")
    return TextSplit(split, pairs, report)


def write_mt_manifest(path: Path, data: TextSplit, normalize_src: bool) -> None:
    """``{split}_mt.tsv`` in fairseq's manifest TSV dialect, written atomically."""
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\",
                            lineterminator="\n")
        writer.writerow(MT_COLUMNS)
        for line, en, xx in data.pairs:
            writer.writerow([f"{data.split}_{line}", normalize_source(en) if normalize_src else en, xx])
    os.replace(tmp, path)
