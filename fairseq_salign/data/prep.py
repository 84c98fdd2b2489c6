"""MuST-C -> fairseq S2T data: a stored zip of features (``fbank80.zip`` by default; a kind
from ``features/`` otherwise), ``{split}_st.tsv``, joint SentencePiece, ``config_st.yaml``. Used
by ``examples/mustc/prep_mustc_data.py``; callable from Python as
``prepare_mustc(root, ["de"], features="fbank80", ...)``.

Each kind writes a complete fairseq data directory of its own: ``en-{lang}/`` for fbank80 (as
always), ``en-{lang}/{kind}/`` for the others (or ``output_subdir``), so preparations of one
corpus never overwrite each other; they share the SentencePiece model when their training text
is the same (copied), so checkpoints trained on one can be loaded with another.

Re-runs skip finished work: ``prep_state.json`` records a fingerprint per split (text files,
wav names/sizes/mtimes, options), so unchanged splits are copied byte-for-byte from the existing
zip instead of being featurized again, and the SentencePiece model is only retrained when the
training text changes. Every output is written to a temporary name and ``os.replace``d, and the
state file is written last, so an interrupted run never leaves a file that looks complete.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import struct
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union


from ..audio import TARGET_SAMPLE_RATE, AudioError, read_audio, resample, to_mono
from .features import KINDS, FeatureKind
from .features.base import SPECAUGMENT_CHOICES, SPECAUGMENT_POLICIES  # noqa: F401 (re-exported)
from .features.record import RECORD_KEY
from .mustc import SPLITS, PrepError, SplitData, SplitReport, is_train_split, read_split
from .text import clean_field, normalize_source
from .text_corpus import read_text_split, write_mt_manifest
from .vocab import VocabResult, spm_prefix, train_joint_spm

logger = logging.getLogger(__name__)

STATE_NAME = "prep_state.json"
MANIFEST_COLUMNS = ["id", "audio", "n_frames", "src_text", "tgt_text", "speaker"]


@dataclass
class PrepResult:
    """Where the outputs of one language pair are, and what happened to each split."""

    lang_root: Path  # en-{lang}/, the MuST-C input
    config: Path
    manifests: dict[str, Path]
    vocab: VocabResult
    reports: dict[str, SplitReport] = field(default_factory=dict)
    featurized_splits: list[str] = field(default_factory=list)  # [] when all were reused
    out_dir: Optional[Path] = None  # the data directory written (lang_root for fbank80)
    features: str = "fbank80"  # the kind, described
    featurized_audio_s: float = 0.0  # seconds of segment audio featurized in this run
    featurize_wall_s: float = 0.0  # and the wall time it took
    vocab_copied_from: Optional[Path] = None  # another preparation's identical vocabulary

    def summary(self) -> str:
        lines = [r.summary() for r in self.reports.values()]
        v = self.vocab
        lines.append(f"vocabulary: {v.size} pieces ({v.model_path.name})"
                     + (f", asked {v.size_asked}" if v.size != v.size_asked else "")
                     + (f", copied from {self.vocab_copied_from} (same training text)"
                        if self.vocab_copied_from else ""))
        lines.append(f"features: {self.features} in {self.out_dir or self.lang_root}")
        if self.featurized_audio_s > 0 and self.featurize_wall_s > 0:
            lines.append(f"featurized {self.featurized_audio_s:.1f} s of audio in "
                         f"{self.featurize_wall_s:.1f} s "
                         f"({self.featurized_audio_s / self.featurize_wall_s:.0f}x real time)")
        reused = [s for s, r in self.reports.items()
                  if s not in self.featurized_splits and r.unit == "segments"]
        if reused:
            lines.append(f"features reused (inputs unchanged): {', '.join(reused)}")
        return "\n".join(lines)


# ---------------------------------------------------------------- small file helpers
def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fingerprint(data: SplitData, options: dict) -> str:
    h = hashlib.sha1(json.dumps(options, sort_keys=True).encode())
    for path in data.files:
        st = path.stat()
        if path.suffix.lower() in (".yaml", ".en") or path.parent.name == "txt":
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        else:  # audio: name, size and mtime are enough to notice a replaced file
            h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _load_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------- features
Job = tuple[FeatureKind, str, list[tuple[str, int, int]]]


def _featurize_talk(job: Job) -> tuple[str, list, Optional[str]]:
    """Worker: decode one talk wav once, cut its segments, return ``(id, member bytes)``."""
    kind, wav_path, spans = job
    try:
        data, info = read_audio(wav_path)
    except AudioError as e:
        return wav_path, [], str(e)
    out = []
    for seg_id, start, end in spans:
        if end > data.shape[0]:  # header and decoded length disagree: a truncated file
            return wav_path, [], (f"{wav_path}: decoded {data.shape[0]} samples, segment "
                                  f"{seg_id} needs samples {start}-{end}")
        wave = resample(to_mono(data[start:end]), info.sample_rate)
        out.append((seg_id, kind.featurize(wave)))
    return wav_path, out, None


def _talk_jobs(kind: FeatureKind, data: SplitData, wav_dir: Path) -> list[Job]:
    by_wav: dict[str, list[tuple[str, int, int]]] = {}
    for s in data.segments:
        by_wav.setdefault(s.wav, []).append((s.id, s.start, s.end))
    return [(kind, str(wav_dir / w), spans) for w, spans in by_wav.items()]


@contextmanager
def _mapper(num_workers: int, n_jobs: int, fork_safe: bool = True):
    """``map`` over talk jobs: in this process, or in one pool of ``num_workers`` processes for
    the whole run. Kinds whose libraries cannot survive ``fork()`` get spawned workers, which
    pay the package import (seconds) once each."""
    if num_workers <= 1 or n_jobs <= 1:
        yield map
        return
    context = None if fork_safe else multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
        yield lambda fn, jobs: pool.map(fn, jobs, chunksize=1)


def _progress(it: Iterable, total: int, desc: str, enabled: bool) -> Iterable:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="talk")


def _zip_data_spans(zip_path: Path, suffix: str) -> dict[str, tuple[int, int]]:
    """``{segment id: (byte offset of the data, length)}`` read from the local headers, so
    ``zip:offset:length`` points at the raw member exactly as fairseq's reader expects."""
    spans = {}
    with zipfile.ZipFile(zip_path) as zf, open(zip_path, "rb") as raw:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise PrepError(f"{zip_path}: member {info.filename} is compressed")
            raw.seek(info.header_offset)
            header = raw.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            if not info.filename.endswith(suffix):
                raise PrepError(f"{zip_path}: member {info.filename} is not a {suffix} file: "
                                f"the zip was not written by this preparation; delete it")
            spans[info.filename[: -len(suffix)]] = (
                info.header_offset + 30 + name_len + extra_len, info.file_size)
    return spans


def _write_features(
    kind: FeatureKind,
    lang_root: Path,
    out_dir: Path,
    splits: dict[str, SplitData],
    reuse: set[str],
    num_workers: int,
    progress: bool,
    skip_bad: bool,
) -> None:
    """Build the kind's zip from scratch into a temporary file; reused splits are copied."""
    zip_path = out_dir / kind.zip_name
    tmp = out_dir / f".{kind.zip_name}.partial"
    try:
        _fill_zip(kind, tmp, zip_path, lang_root, splits, reuse, num_workers, progress, skip_bad)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, zip_path)


def _fill_zip(kind: FeatureKind, tmp: Path, zip_path: Path, lang_root: Path,
              splits: dict[str, SplitData], reuse: set[str], num_workers: int, progress: bool,
              skip_bad: bool) -> None:
    zip_stamp = (1980, 1, 1, 0, 0, 0)  # deterministic archives
    suffix = kind.member_suffix
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
        def put(seg_id: str, blob: bytes) -> None:
            out.writestr(zipfile.ZipInfo(f"{seg_id}{suffix}", zip_stamp), blob)

        if reuse:
            with zipfile.ZipFile(zip_path) as old:
                for split in reuse:
                    for s in splits[split].segments:
                        put(s.id, old.read(f"{s.id}{suffix}"))
        jobs = {split: _talk_jobs(kind, data, lang_root / "data" / split / "wav")
                for split, data in splits.items() if split not in reuse}
        with _mapper(num_workers, sum(map(len, jobs.values())), kind.fork_safe) as map_jobs:
            for split, split_jobs in jobs.items():
                _fill_split(kind, put, splits[split], split_jobs, lang_root, map_jobs,
                            progress, skip_bad)


def _fill_split(kind: FeatureKind, put, data: SplitData, jobs: list[Job], lang_root: Path,
                map_jobs, progress: bool, skip_bad: bool) -> None:
    split = data.split
    by_id = {s.id: s for s in data.segments}
    failed: set[str] = set()
    results = map_jobs(_featurize_talk, jobs)
    for wav_path, feats, error in _progress(results, len(jobs), f"{kind.name} {split}", progress):
        if error is not None:
            if not (skip_bad and is_train_split(split)):
                raise PrepError(f"{split}: {error}")
            failed.add(wav_path)
            continue
        for seg_id, blob in feats:
            n, want = kind.stored_frames(blob), kind.n_frames(by_id[seg_id].n_samples)
            if n != want:  # the manifest promises this length
                raise AssertionError(f"{seg_id}: {n} frames stored, expected {want}")
            put(seg_id, blob)
    if failed:
        keep = [s for s in data.segments
                if str(lang_root / "data" / split / "wav" / s.wav) not in failed]
        data.report.dropped["unreadable or empty audio"] += len(data.segments) - len(keep)
        data.segments = keep


# ---------------------------------------------------------------- manifests, vocab, config
def _write_manifest(path: Path, kind: FeatureKind, data: SplitData, spans: dict,
                    normalize_src: bool, translated: bool = True) -> None:
    """TSV exactly as fairseq's ``save_df_to_tsv`` writes it (QUOTE_NONE, ``\\`` escapes);
    an ASR-only split has no ``tgt_text`` column."""
    import pandas as pd

    rows = []
    for s in sorted(data.segments, key=lambda s: s.line):
        offset, length = spans[s.id]
        src = clean_field(s.src)
        rows.append({
            "id": s.id, "audio": f"{kind.zip_name}:{offset}:{length}",
            "n_frames": kind.n_frames(s.n_samples),
            "src_text": normalize_source(src) if normalize_src else src,
            "tgt_text": clean_field(s.tgt), "speaker": clean_field(s.speaker),
        })
    columns = MANIFEST_COLUMNS if translated else [c for c in MANIFEST_COLUMNS if c != "tgt_text"]
    df = pd.DataFrame(rows, columns=columns)
    tmp = path.with_name(f".{path.name}.partial")
    df.to_csv(tmp, sep="\t", header=True, index=False, encoding="utf-8",
              escapechar="\\", quoting=csv.QUOTE_NONE)
    os.replace(tmp, path)


def _write_config(out_dir: Path, vocab: VocabResult, feature_config: dict, record: dict) -> Path:
    """``config_st.yaml``: vocabulary entries, the kind's ``feature_config`` and its ``record``
    (``salign_features``: how inference computes the same features from audio).

    The SentencePiece model is named relative to the directory: fairseq's ``S2TDataConfig``
    resolves ``bpe_tokenizer`` paths against the yaml's directory (the task reuses that
    tokenizer for transcripts, so ``src_bpe_tokenizer``, which fairseq does not resolve, is
    never opened). ``audio_root`` stays absolute: fairseq joins it with the manifests' paths as
    given, relative to the working directory; after moving the directory re-run the prep (it
    only rewrites this file), or export the model (``salign-export``) to use it elsewhere.
    """
    import yaml

    spm = {"bpe": "sentencepiece", "sentencepiece_model": vocab.model_path.name}
    config = {
        "audio_root": str(out_dir.resolve()),
        "vocab_filename": vocab.dict_path.name,
        "bpe_tokenizer": spm,
        "src_vocab_filename": vocab.dict_path.name,  # joint vocabulary: same files
        "src_bpe_tokenizer": dict(spm),
        **feature_config,
        RECORD_KEY: record,
    }
    path = out_dir / "config_st.yaml"
    _atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def _vocab_text(splits: dict[str, SplitData], normalize_src: bool) -> tuple[list[str], str]:
    train = [d for s, d in splits.items() if is_train_split(s)] or list(splits.values())
    if not any(is_train_split(s) for s in splits):
        logger.warning("no train split selected: training the vocabulary on %s",
                       ", ".join(splits))
    lines = []
    for data in train:
        for s in data.segments:
            src = clean_field(s.src)
            lines.append(normalize_source(src) if normalize_src else src)
            lines.append(clean_field(s.tgt))
    h = hashlib.sha1("\n".join(lines).encode()).hexdigest()
    return lines, h


# ---------------------------------------------------------------- output directory, vocabulary
def _out_dir(lang_root: Path, kind: FeatureKind, output_subdir: Optional[str]) -> Path:
    sub = kind.output_subdir if output_subdir is None else output_subdir
    if sub and (Path(sub).name != sub or sub in ("data", "..") or sub.startswith(".")):
        raise PrepError(f"output subdirectory {sub!r}: give one directory name (not 'data', "
                        f"which holds the MuST-C input, nor a hidden or nested path); it is "
                        f"created in {lang_root}")
    return lang_root / sub if sub else lang_root


def _state_features(state: dict) -> str:
    return state.get("features", "fbank80")  # states written before kinds existed: fbank80


def _shared_vocab(lang_root: Path, out_dir: Path, prefix: str, text_hash: str) -> Optional[Path]:
    """Another preparation of this language (``en-{lang}/`` or a subdirectory) whose vocabulary
    was trained on exactly this text: its directory, so the vocabulary is copied, not retrained
    (identical dictionaries let checkpoints move between feature kinds)."""
    for state_path in [lang_root / STATE_NAME, *sorted(lang_root.glob(f"*/{STATE_NAME}"))]:
        if state_path.parent == out_dir:
            continue
        vocab = _load_state(state_path).get("vocab", {})
        if vocab.get("prefix") == prefix and vocab.get("text_sha1") == text_hash and all(
                (state_path.parent / f"{prefix}{ext}").is_file() for ext in (".model", ".txt")):
            return state_path.parent
    return None


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.partial")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


# ---------------------------------------------------------------- entry point
def prepare_language(
    data_root: Path,
    lang: str,
    splits: Sequence[str] = SPLITS,
    *,
    features: Union[str, FeatureKind] = "fbank80",
    output_subdir: Optional[str] = None,
    vocab_type: str = "unigram",
    vocab_size: int = 8000,
    normalize_src: bool = True,
    num_workers: int = 1,
    skip_bad_segments: bool = False,
    min_n_frames: int = 5,
    max_n_frames: int = 3000,
    progress: bool = True,
    specaugment: Optional[str] = None,
    asr_only_splits: Sequence[str] = (),
    mt_only_splits: Sequence[str] = (),
) -> PrepResult:
    """Prepare ``data_root/en-{lang}``; raises :class:`PrepError` on refused input.

    ``features`` is a kind name (``fbank80``, ``waveform``, ``whisper``: default options) or a
    configured :class:`FeatureKind`; ``output_subdir`` overrides where in ``en-{lang}/`` its
    data directory goes (``""``: ``en-{lang}/`` itself); ``specaugment`` ``None`` is the kind's
    default (``lb`` for fbank80, ``none`` otherwise). ``min_n_frames``/``max_n_frames`` are
    10 ms fbank frames for every kind.

    ``asr_only_splits``: splits in the same layout without a translation file (speech +
    transcript), featurized like the others and written as ``{split}_asr.tsv``;
    ``mt_only_splits``: text-only splits (``{split}.en`` + ``{split}.{lang}``, see
    ``text_corpus``), written as ``{split}_mt.tsv``. Neither enters the vocabulary, which stays
    that of the ST triples: adding such a corpus later keeps every checkpoint usable.
    """
    kind = KINDS.build(features) if isinstance(features, str) else features
    specaugment = kind.default_specaugment if specaugment is None else specaugment
    if specaugment not in SPECAUGMENT_CHOICES:
        raise PrepError(f"unknown SpecAugment policy {specaugment!r}: choose one of "
                        f"{', '.join(SPECAUGMENT_CHOICES)}")
    lang_root = Path(data_root).absolute() / f"en-{lang}"
    if not lang_root.is_dir():
        raise PrepError(f"language directory not found: {lang_root} (expected the MuST-C "
                        f"release layout {data_root}/en-{lang}/data/{{train,dev,...}})")
    named = [*splits, *asr_only_splits, *mt_only_splits]
    if len(set(named)) != len(named):
        raise PrepError(f"a split is named twice in --splits / --asr-only-splits / "
                        f"--mt-only-splits: {named}")
    out_dir = _out_dir(lang_root, kind, output_subdir)
    state_path = out_dir / STATE_NAME
    old = _load_state(state_path)
    if old and _state_features(old) != kind.name:
        raise PrepError(f"{out_dir} holds a {_state_features(old)} preparation "
                        f"({state_path}); {kind.name} features would overwrite its manifests: "
                        f"choose another output subdirectory or delete that one")
    kind = kind.for_workers(num_workers)
    kind.check()  # a missing package or model fails now, not after reading the corpus
    feature_config = kind.config(specaugment)
    options = {"feature": kind.fingerprint(), "skip_bad": skip_bad_segments,
               "min_n_frames": min_n_frames, "max_n_frames": max_n_frames}
    data = {
        split: read_split(lang_root, split, lang, skip_bad=skip_bad_segments,
                          min_n_frames=min_n_frames, max_n_frames=max_n_frames)
        for split in splits
    }
    for split in asr_only_splits:
        if not is_train_split(split):
            raise PrepError(f"ASR-only split {split!r}: ASR-only data is training data; name it "
                            f"train_... (train splits are length-filtered like MuST-C's train)")
        data[split] = read_split(lang_root, split, lang, skip_bad=skip_bad_segments,
                                 min_n_frames=min_n_frames, max_n_frames=max_n_frames,
                                 translated=False)
    texts = {split: read_text_split(lang_root, split, lang, skip_bad=skip_bad_segments)
             for split in mt_only_splits}
    seen: dict[str, str] = {}
    for split, d in data.items():
        for s in d.segments:
            if s.id in seen:
                raise PrepError(f"segment id {s.id} occurs in both {seen[s.id]} and {split}: "
                                f"talk wav names must be unique across splits")
            seen[s.id] = split
    fingerprints = {s: _fingerprint(d, options) for s, d in data.items()}

    out_dir.mkdir(exist_ok=True)
    zip_path = out_dir / kind.zip_name
    old_splits = old.get("splits", {}) if zip_path.is_file() and \
        old.get("zip_size") == zip_path.stat().st_size else {}
    reuse = {s for s in data if old_splits.get(s, {}).get("fingerprint") == fingerprints[s]
             and old_splits[s].get("n_segments") == len(data[s].segments)}
    featurized = [s for s in data if s not in reuse]
    wall = 0.0
    if featurized or set(old_splits) != set(data):
        state_path.unlink(missing_ok=True)  # the zip is about to change
        t0 = time.perf_counter()
        _write_features(kind, lang_root, out_dir, data, reuse, num_workers, progress,
                        skip_bad_segments)
        wall = time.perf_counter() - t0
    audio_s = sum(s.n_samples for f in featurized for s in data[f].segments) / TARGET_SAMPLE_RATE
    spans = _zip_data_spans(zip_path, kind.member_suffix)

    manifests = {}
    for split, d in data.items():
        if not d.segments:
            raise PrepError(f"{split}: no segment left to write ({d.report.summary()})")
        translated = split not in asr_only_splits
        manifests[split] = out_dir / f"{split}_{'st' if translated else 'asr'}.tsv"
        _write_manifest(manifests[split], kind, d, spans, normalize_src, translated)
    for split, text in texts.items():
        manifests[split] = out_dir / f"{split}_mt.tsv"
        write_mt_manifest(manifests[split], text, normalize_src)

    lines, text_hash = _vocab_text({s: d for s, d in data.items() if s not in asr_only_splits},
                                   normalize_src)
    prefix = spm_prefix(vocab_type, vocab_size)
    old_vocab = old.get("vocab", {})
    model_path, dict_path = out_dir / f"{prefix}.model", out_dir / f"{prefix}.txt"
    shared = None
    if (old_vocab.get("prefix") == prefix and old_vocab.get("text_sha1") == text_hash
            and model_path.is_file() and dict_path.is_file()):
        vocab = VocabResult(model_path, dict_path, vocab_size, int(old_vocab["size"]))
    elif (shared := _shared_vocab(lang_root, out_dir, prefix, text_hash)) is not None:
        for path in (model_path, dict_path):
            _copy_atomic(shared / path.name, path)
        size = int(_load_state(shared / STATE_NAME)["vocab"]["size"])
        vocab = VocabResult(model_path, dict_path, vocab_size, size)
    else:
        vocab = train_joint_spm(lines, out_dir, vocab_type, vocab_size, num_workers)
    config = _write_config(out_dir, vocab, feature_config, kind.record())

    state = {
        "format": 1,
        "features": kind.name,
        "zip": kind.zip_name,
        "zip_size": zip_path.stat().st_size,
        "splits": {s: {"fingerprint": fingerprints[s], "n_segments": len(data[s].segments)}
                   for s in data},
        "vocab": {"prefix": prefix, "text_sha1": text_hash, "size": vocab.size},
    }
    _atomic_write_text(state_path, json.dumps(state, indent=1))
    reports = {s: d.report for s, d in data.items()}
    reports.update({s: t.report for s, t in texts.items()})
    return PrepResult(lang_root, config, manifests, vocab, reports, featurized, out_dir,
                      kind.describe(), audio_s, wall, shared)


def prepare_mustc(data_root, languages: Sequence[str] = ("de",), **kwargs) -> dict[str, PrepResult]:
    """Prepare each ``en-{lang}`` under ``data_root``; options as :func:`prepare_language`."""
    return {lang: prepare_language(Path(data_root), lang, **kwargs) for lang in languages}
