"""Lay out a MuST-C-shaped corpus from sentence pairs and a voice function.

Kept apart from the TTS engines so it can be tested with a fake voice: ``build_corpus`` only
needs ``speak(voice, text) -> float32 16 kHz waveform`` and a list of voices per split.
Segments of one speaker are joined into "talk" wavs with random pauses and light background
noise; offsets and durations are written with 2 decimals (like the release) and always lie
inside their wav. The files are written by the package's one writer of the release layout,
``fairseq_salign.data.mustc_layout``.
"""
from __future__ import annotations

import math
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import yaml

from fairseq_salign.data.mustc_layout import (
    LayoutSegment,
    LayoutTalk,
    write_mustc,
    write_split_text,
)

SPLITS = ("train", "dev", "tst-COMMON", "tst-HE")
EVAL_FRACTIONS = {"dev": 0.06, "tst-COMMON": 0.08, "tst-HE": 0.06}
SAMPLE_RATE = 16_000
TALK_SIZE = (6, 14)  # segments per talk


@dataclass
class Talk:
    split: str
    wav: str
    voice: Any  # anything with a ``speaker_id``
    lines: list[tuple[str, str]]  # (English, target)
    seed: int


def split_sizes(size: int, tst_common: int | None = None) -> dict[str, int]:
    """Segments per split: the evaluation splits a share of ``size`` each (``tst_common``: an
    exact tst-COMMON size instead, e.g. large enough to resolve 1 BLEU), train the rest."""
    sizes = {s: max(1, round(size * f)) for s, f in EVAL_FRACTIONS.items()}
    if tst_common is not None:
        if tst_common < 1:
            raise ValueError(f"the tst-COMMON size must be positive, got {tst_common}")
        sizes["tst-COMMON"] = tst_common
    sizes["train"] = size - sum(sizes.values())
    if sizes["train"] < 1:
        raise ValueError(f"--size {size} is too small for four splits (need at least 4)")
    return {s: sizes[s] for s in SPLITS}


def plan_talks(pairs: Sequence[tuple[str, str]], voices: dict[str, list], size: int,
               seed: int, tst_common: int | None = None) -> list[Talk]:
    """Assign sentences and speakers. Eval sentences never occur in train; train reuses its
    sentences (with other voices) only when ``size`` exceeds the pairs available."""
    rng = random.Random(seed)
    order = list(pairs)
    rng.shuffle(order)
    sizes = split_sizes(size, tst_common)
    n_eval = sum(v for s, v in sizes.items() if s != "train")
    if n_eval >= len(order):
        raise ValueError(f"{len(order)} sentence pairs cannot fill {n_eval} evaluation segments")
    pools, start = {}, 0
    for split in SPLITS[1:]:
        pools[split] = order[start:start + sizes[split]]
        start += sizes[split]
    train_pool = order[start:]
    pools["train"] = [train_pool[i % len(train_pool)] for i in range(sizes["train"])]

    talks, talk_no = [], 1000
    for split in SPLITS:
        lines = pools[split]
        split_voices = voices[split]
        i = 0
        while i < len(lines):
            n = rng.randint(*TALK_SIZE)
            # rotate through the voices so every speaker of the split is used
            voice = split_voices[(talk_no - 1000) % len(split_voices)]
            talk_no += 1
            talks.append(Talk(split, f"ted_{talk_no}.wav", voice, lines[i:i + n],
                              rng.randrange(2**31)))
            i += n
    return talks


def render_talk(talk: Talk, speak: Callable) -> LayoutTalk:
    """Speak every line, join with pauses and noise; return the talk's wav and segments."""
    rng = np.random.default_rng(talk.seed)
    noise_level = rng.uniform(0.0005, 0.003)
    pieces = [np.zeros(int(rng.uniform(0.3, 1.0) * SAMPLE_RATE), np.float32)]
    pos = len(pieces[0])
    segments = []
    for en, tgt in talk.lines:
        wave = np.asarray(speak(talk.voice, en), dtype=np.float32)
        peak = float(np.abs(wave).max()) or 1.0
        wave = wave * (rng.uniform(0.4, 0.8) / peak)
        offset = math.floor(pos / SAMPLE_RATE * 100) / 100
        end = (pos + len(wave)) / SAMPLE_RATE
        duration = math.ceil((end - offset) * 100) / 100
        segments.append(LayoutSegment(offset, duration, en, tgt))
        pause = np.zeros(int(rng.uniform(0.3, 0.9) * SAMPLE_RATE), np.float32)
        pieces += [wave, pause]
        pos += len(wave) + len(pause)
    audio = np.concatenate(pieces)
    audio += noise_level * rng.standard_normal(len(audio)).astype(np.float32)
    return LayoutTalk(talk.split, talk.wav, talk.voice.speaker_id, np.clip(audio, -1.0, 1.0),
                      segments)


def _render_job(job: tuple[Talk, Callable]) -> LayoutTalk:
    talk, speak = job
    return render_talk(talk, speak)


def build_corpus(out: Path, lang: str, pairs: Sequence[tuple[str, str]],
                 voices: dict[str, list], speak: Callable, size: int, seed: int = 1,
                 num_workers: int = 1, progress: Callable[[Iterable, int], Iterable] = None,
                 tst_common: int | None = None) -> dict[str, int]:
    """Write ``out/en-{lang}/data/{split}/{wav,txt}``; return segments per split."""
    talks = plan_talks(pairs, voices, size, seed, tst_common)
    jobs = [(t, speak) for t in talks]
    if num_workers > 1:
        pool = ProcessPoolExecutor(num_workers)
        results = pool.map(_render_job, jobs)
    else:
        pool, results = None, map(_render_job, jobs)
    if progress is not None:
        results = progress(results, len(jobs))
    try:
        return write_mustc(out, lang, results, SPLITS, SAMPLE_RATE)
    finally:
        if pool is not None:
            pool.shutdown()


ASR_ONLY_SPLIT = "train_asr"


def hold_out_asr(data_dir: Path, lang: str, fraction: float, seed: int = 1) -> tuple[int, int]:
    """Move ``fraction`` of the train talks (whole talks, drawn with ``seed``) to an ASR-only
    split ``train_asr``: their wavs, yaml entries and transcripts, without the translations,
    which are gone from the corpus. Returns (segments, talks) moved."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the ASR-only fraction must be in (0, 1), got {fraction}")
    train, held = data_dir / "train", data_dir / ASR_ONLY_SPLIT
    entries = yaml.safe_load((train / "txt" / "train.yaml").read_text(encoding="utf-8"))
    en = (train / "txt" / "train.en").read_text(encoding="utf-8").splitlines()
    tgt = (train / "txt" / f"train.{lang}").read_text(encoding="utf-8").splitlines()
    talks = sorted({e["wav"] for e in entries})
    n_held = max(1, round(fraction * len(talks)))
    if n_held >= len(talks):
        raise ValueError(f"holding out {n_held} of {len(talks)} train talks leaves no ST data")
    chosen = set(random.Random(seed).sample(talks, n_held))
    keep = [i for i, e in enumerate(entries) if e["wav"] not in chosen]
    moved = [i for i, e in enumerate(entries) if e["wav"] in chosen]
    # train's yaml goes first: a hold-out cut short leaves train visibly unfinished
    (train / "txt" / "train.yaml").unlink()
    (held / "wav").mkdir(parents=True, exist_ok=True)
    for wav in sorted(chosen):
        (train / "wav" / wav).replace(held / "wav" / wav)

    lang_root = data_dir.parent
    write_split_text(lang_root, ASR_ONLY_SPLIT, lang, [entries[i] for i in moved],
                     [en[i] for i in moved], None)
    write_split_text(lang_root, "train", lang, [entries[i] for i in keep], [en[i] for i in keep],
                     [tgt[i] for i in keep])
    return len(moved), len(chosen)
