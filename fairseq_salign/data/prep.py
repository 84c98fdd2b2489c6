"""MuST-C -> fairseq S2T data: ``fbank80.zip``, ``{split}_st.tsv``, joint SentencePiece,
``config_st.yaml``. Used by ``examples/mustc/prep_mustc_data.py``; callable from Python as
``prepare_mustc(root, ["de"], ...)``.

Re-runs skip finished work: ``prep_state.json`` records a fingerprint per split (text files,
wav names/sizes/mtimes, options), so unchanged splits are copied byte-for-byte from the existing
zip instead of being featurized again, and the SentencePiece model is only retrained when the
training text changes. Every output is written to a temporary name and ``os.replace``d, and the
state file is written last, so an interrupted run never leaves a file that looks complete.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import struct
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from .audio import AudioError, compute_fbank, read_audio, resample, to_mono
from .mustc import SPLITS, PrepError, SplitData, SplitReport, is_train_split, read_split
from .text import clean_field, normalize_source
from .vocab import VocabResult, spm_prefix, train_joint_spm

logger = logging.getLogger(__name__)

ZIP_NAME = "fbank80.zip"
STATE_NAME = "prep_state.json"
MANIFEST_COLUMNS = ["id", "audio", "n_frames", "src_text", "tgt_text", "speaker"]
FEATURE_VERSION = "knf-fbank80-povey-25ms-10ms-dither0-v1"  # bump when features change
# fairseq's SpecAugment policies, as its recipes write them (examples/speech_to_text/data_utils.py).
# lb is what fairseq's MuST-C recipe uses; its time masks of up to 100 frames suit ~6 s segments
# but can hide most of a 1-2 s one, where ss/sm (masks capped at 20% of the length) fit better.
SPECAUGMENT_POLICIES = {
    "lb": {"time_warp_W": 0, "freq_mask_N": 1, "freq_mask_F": 27,
           "time_mask_N": 1, "time_mask_T": 100, "time_mask_p": 1.0},
    "ld": {"time_warp_W": 0, "freq_mask_N": 2, "freq_mask_F": 27,
           "time_mask_N": 2, "time_mask_T": 100, "time_mask_p": 1.0},
    "sm": {"time_warp_W": 0, "freq_mask_N": 2, "freq_mask_F": 15,
           "time_mask_N": 2, "time_mask_T": 70, "time_mask_p": 0.2},
    "ss": {"time_warp_W": 0, "freq_mask_N": 2, "freq_mask_F": 27,
           "time_mask_N": 2, "time_mask_T": 70, "time_mask_p": 0.2},
}
SPECAUGMENT_CHOICES = (*SPECAUGMENT_POLICIES, "none")


@dataclass
class PrepResult:
    """Where the outputs of one language pair are, and what happened to each split."""

    lang_root: Path
    config: Path
    manifests: dict[str, Path]
    vocab: VocabResult
    reports: dict[str, SplitReport] = field(default_factory=dict)
    featurized_splits: list[str] = field(default_factory=list)  # [] when all were reused

    def summary(self) -> str:
        lines = [r.summary() for r in self.reports.values()]
        v = self.vocab
        lines.append(f"vocabulary: {v.size} pieces ({v.model_path.name})"
                     + (f", asked {v.size_asked}" if v.size != v.size_asked else ""))
        reused = [s for s in self.reports if s not in self.featurized_splits]
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
def _featurize_talk(job: tuple[str, list[tuple[str, int, int]]]) -> tuple[str, list, Optional[str]]:
    """Worker: decode one talk wav once, cut its segments, return ``(id, npy bytes)`` pairs."""
    wav_path, spans = job
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
        buf = io.BytesIO()
        np.save(buf, compute_fbank(wave))
        out.append((seg_id, buf.getvalue()))
    return wav_path, out, None


def _talk_jobs(data: SplitData, wav_dir: Path) -> list[tuple[str, list[tuple[str, int, int]]]]:
    by_wav: dict[str, list[tuple[str, int, int]]] = {}
    for s in data.segments:
        by_wav.setdefault(s.wav, []).append((s.id, s.start, s.end))
    return [(str(wav_dir / w), spans) for w, spans in by_wav.items()]


def _map(fn, jobs: Sequence, num_workers: int) -> Iterator:
    if num_workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        yield from pool.map(fn, jobs, chunksize=1)


def _progress(it: Iterable, total: int, desc: str, enabled: bool) -> Iterable:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="talk")


def _npy_frames(blob: bytes) -> int:
    return int(np.load(io.BytesIO(blob), mmap_mode=None).shape[0])


def _zip_data_spans(zip_path: Path) -> dict[str, tuple[int, int]]:
    """``{member stem: (byte offset of the data, length)}`` read from the local headers, so
    ``zip:offset:length`` points at the raw .npy exactly as fairseq's reader expects."""
    spans = {}
    with zipfile.ZipFile(zip_path) as zf, open(zip_path, "rb") as raw:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise PrepError(f"{zip_path}: member {info.filename} is compressed")
            raw.seek(info.header_offset)
            header = raw.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            spans[info.filename[:-4]] = (info.header_offset + 30 + name_len + extra_len,
                                         info.file_size)
    return spans


def _write_features(
    lang_root: Path,
    splits: dict[str, SplitData],
    reuse: set[str],
    num_workers: int,
    progress: bool,
    skip_bad: bool,
) -> None:
    """Build ``fbank80.zip`` from scratch into a temporary file; reused splits are copied."""
    zip_path = lang_root / ZIP_NAME
    tmp = lang_root / f".{ZIP_NAME}.partial"
    try:
        _fill_zip(tmp, zip_path, lang_root, splits, reuse, num_workers, progress, skip_bad)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, zip_path)


def _fill_zip(tmp: Path, zip_path: Path, lang_root: Path, splits: dict[str, SplitData],
              reuse: set[str], num_workers: int, progress: bool, skip_bad: bool) -> None:
    zip_stamp = (1980, 1, 1, 0, 0, 0)  # deterministic archives
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
        def put(seg_id: str, blob: bytes) -> None:
            out.writestr(zipfile.ZipInfo(f"{seg_id}.npy", zip_stamp), blob)

        if reuse:
            with zipfile.ZipFile(zip_path) as old:
                for split in reuse:
                    for s in splits[split].segments:
                        put(s.id, old.read(f"{s.id}.npy"))
        for split, data in splits.items():
            if split in reuse:
                continue
            jobs = _talk_jobs(data, lang_root / "data" / split / "wav")
            by_id = {s.id: s for s in data.segments}
            failed: set[str] = set()
            results = _map(_featurize_talk, jobs, num_workers)
            for wav_path, feats, error in _progress(results, len(jobs), f"fbank {split}", progress):
                if error is not None:
                    if not (skip_bad and is_train_split(split)):
                        raise PrepError(f"{split}: {error}")
                    failed.add(wav_path)
                    continue
                for seg_id, blob in feats:
                    n = _npy_frames(blob)
                    if n != by_id[seg_id].n_frames:  # the manifest promises this length
                        raise AssertionError(f"{seg_id}: {n} frames, expected "
                                             f"{by_id[seg_id].n_frames}")
                    put(seg_id, blob)
            if failed:
                keep = [s for s in data.segments
                        if str(lang_root / "data" / split / "wav" / s.wav) not in failed]
                data.report.dropped["unreadable or empty audio"] += len(data.segments) - len(keep)
                data.segments = keep


# ---------------------------------------------------------------- manifests, vocab, config
def _write_manifest(path: Path, data: SplitData, spans: dict, normalize_src: bool) -> None:
    """TSV exactly as fairseq's ``save_df_to_tsv`` writes it (QUOTE_NONE, ``\\`` escapes)."""
    import pandas as pd

    rows = []
    for s in sorted(data.segments, key=lambda s: s.line):
        offset, length = spans[s.id]
        src = clean_field(s.src)
        rows.append({
            "id": s.id, "audio": f"{ZIP_NAME}:{offset}:{length}", "n_frames": s.n_frames,
            "src_text": normalize_source(src) if normalize_src else src,
            "tgt_text": clean_field(s.tgt), "speaker": clean_field(s.speaker),
        })
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    tmp = path.with_name(f".{path.name}.partial")
    df.to_csv(tmp, sep="\t", header=True, index=False, encoding="utf-8",
              escapechar="\\", quoting=csv.QUOTE_NONE)
    os.replace(tmp, path)


def _write_config(lang_root: Path, vocab: VocabResult, specaugment: str = "lb") -> Path:
    """``config_st.yaml``; paths are absolute because fairseq resolves ``audio_root`` against
    the working directory and never resolves ``src_bpe_tokenizer``: move the directory, re-run
    the prep (it only rewrites this file)."""
    import yaml

    spm = {"bpe": "sentencepiece", "sentencepiece_model": str(vocab.model_path.resolve())}
    config = {
        "audio_root": str(lang_root.resolve()),
        "vocab_filename": vocab.dict_path.name,
        "bpe_tokenizer": spm,
        "src_vocab_filename": vocab.dict_path.name,  # joint vocabulary: same files
        "src_bpe_tokenizer": dict(spm),
        "input_channels": 1,
        "input_feat_per_channel": 80,
        "feature_transforms": {
            "_train": ["utterance_cmvn"] + (["specaugment"] if specaugment != "none" else []),
            "*": ["utterance_cmvn"],
        },
    }
    if specaugment != "none":
        config["specaugment"] = dict(SPECAUGMENT_POLICIES[specaugment])
    path = lang_root / "config_st.yaml"
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


# ---------------------------------------------------------------- entry point
def prepare_language(
    data_root: Path,
    lang: str,
    splits: Sequence[str] = SPLITS,
    *,
    vocab_type: str = "unigram",
    vocab_size: int = 8000,
    normalize_src: bool = True,
    num_workers: int = 1,
    skip_bad_segments: bool = False,
    min_n_frames: int = 5,
    max_n_frames: int = 3000,
    progress: bool = True,
    specaugment: str = "lb",
) -> PrepResult:
    """Prepare ``data_root/en-{lang}``; raises :class:`PrepError` on refused input."""
    if specaugment not in SPECAUGMENT_CHOICES:
        raise PrepError(f"unknown SpecAugment policy {specaugment!r}: choose one of "
                        f"{', '.join(SPECAUGMENT_CHOICES)}")
    lang_root = Path(data_root).absolute() / f"en-{lang}"
    if not lang_root.is_dir():
        raise PrepError(f"language directory not found: {lang_root} (expected the MuST-C "
                        f"release layout {data_root}/en-{lang}/data/{{train,dev,...}})")
    if len(set(splits)) != len(splits):
        raise PrepError(f"duplicate split names in {list(splits)}")
    options = {"feature": FEATURE_VERSION, "skip_bad": skip_bad_segments,
               "min_n_frames": min_n_frames, "max_n_frames": max_n_frames}
    data = {
        split: read_split(lang_root, split, lang, skip_bad=skip_bad_segments,
                          min_n_frames=min_n_frames, max_n_frames=max_n_frames)
        for split in splits
    }
    seen: dict[str, str] = {}
    for split, d in data.items():
        for s in d.segments:
            if s.id in seen:
                raise PrepError(f"segment id {s.id} occurs in both {seen[s.id]} and {split}: "
                                f"talk wav names must be unique across splits")
            seen[s.id] = split
    fingerprints = {s: _fingerprint(d, options) for s, d in data.items()}

    state_path = lang_root / STATE_NAME
    old = _load_state(state_path)
    zip_path = lang_root / ZIP_NAME
    old_splits = old.get("splits", {}) if zip_path.is_file() and \
        old.get("zip_size") == zip_path.stat().st_size else {}
    reuse = {s for s in data if old_splits.get(s, {}).get("fingerprint") == fingerprints[s]
             and old_splits[s].get("n_segments") == len(data[s].segments)}
    featurized = [s for s in data if s not in reuse]
    if featurized or set(old_splits) != set(data):
        state_path.unlink(missing_ok=True)  # the zip is about to change
        _write_features(lang_root, data, reuse, num_workers, progress, skip_bad_segments)
    spans = _zip_data_spans(zip_path)

    manifests = {}
    for split, d in data.items():
        if not d.segments:
            raise PrepError(f"{split}: no segment left to write ({d.report.summary()})")
        manifests[split] = lang_root / f"{split}_st.tsv"
        _write_manifest(manifests[split], d, spans, normalize_src)

    lines, text_hash = _vocab_text(data, normalize_src)
    prefix = spm_prefix(vocab_type, vocab_size)
    old_vocab = old.get("vocab", {})
    if (old_vocab.get("prefix") == prefix and old_vocab.get("text_sha1") == text_hash
            and (lang_root / f"{prefix}.model").is_file()
            and (lang_root / f"{prefix}.txt").is_file()):
        vocab = VocabResult(lang_root / f"{prefix}.model", lang_root / f"{prefix}.txt",
                            vocab_size, int(old_vocab["size"]))
    else:
        vocab = train_joint_spm(lines, lang_root, vocab_type, vocab_size, num_workers)
    config = _write_config(lang_root, vocab, specaugment)

    state = {
        "format": 1,
        "zip_size": zip_path.stat().st_size,
        "splits": {s: {"fingerprint": fingerprints[s], "n_segments": len(data[s].segments)}
                   for s in data},
        "vocab": {"prefix": prefix, "text_sha1": text_hash, "size": vocab.size},
    }
    _atomic_write_text(state_path, json.dumps(state, indent=1))
    return PrepResult(lang_root, config, manifests, vocab,
                      {s: d.report for s, d in data.items()}, featurized)


def prepare_mustc(data_root, languages: Sequence[str] = ("de",), **kwargs) -> dict[str, PrepResult]:
    """Prepare each ``en-{lang}`` under ``data_root``; keyword options as :func:`prepare_language`."""
    return {lang: prepare_language(Path(data_root), lang, **kwargs) for lang in languages}
