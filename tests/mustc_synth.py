"""A tiny synthetic MuST-C tree for tests: release layout, real-looking text, tone "speech".

Each word is voiced as a short tone whose pitch is a hash of the word, so audio and transcript
carry the same information (a model can learn the mapping) while staying deterministic and free
of any TTS engine. Segments are joined into talk wavs with pauses, as in MuST-C. Helpers below
inject each kind of bad input the recipe must report.

    corpus = make_synthetic_mustc(tmp_path / "mustc", n_per_split=8)
    prepare_mustc(corpus.root, ["de"], vocab_size=100)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf
import yaml

from fairseq_salign.data.mustc_layout import (
    LayoutSegment,
    LayoutTalk,
    write_mustc,
    write_text,
    yaml_text,
)

SPLITS = ("train", "dev", "tst-COMMON", "tst-HE")
SAMPLE_RATE = 16_000
WORD_S, GAP_S, PAUSE_S = 0.06, 0.03, 0.40

PAIRS = [  # (English, German), short everyday sentences
    ("I love you.", "Ich liebe dich."),
    ("The house is big.", "Das Haus ist groß."),
    ("Where is the station?", "Wo ist der Bahnhof?"),
    ("I have a dog.", "Ich habe einen Hund."),
    ("The water is cold.", "Das Wasser ist kalt."),
    ("We are going home.", "Wir gehen nach Hause."),
    ("She reads a book.", "Sie liest ein Buch."),
    ("It is raining today.", "Heute regnet es."),
    ("My name is Anna.", "Mein Name ist Anna."),
    ("Thank you very much!", "Vielen Dank!"),
    ("The child is sleeping.", "Das Kind schläft."),
    ("I do not know.", "Ich weiß es nicht."),
    ("He drinks coffee.", "Er trinkt Kaffee."),
    ("The door is open.", "Die Tür ist offen."),
    ("We need more time.", "Wir brauchen mehr Zeit."),
    ("Where do you live?", "Wo wohnst du?"),
    ("The car is red.", "Das Auto ist rot."),
    ("I am hungry.", "Ich habe Hunger."),
    ("That is a good idea.", "Das ist eine gute Idee."),
    ("Come here, please.", "Komm bitte her."),
    ("The sun is shining.", "Die Sonne scheint."),
    ("I don't like fish.", "Ich mag keinen Fisch."),
    ("The book is on the table.", "Das Buch liegt auf dem Tisch."),
    ("He is my brother.", "Er ist mein Bruder."),
]


@dataclass
class SynthSegment:
    id: str  # the id the recipe must give it: {talk stem}_{rank by offset}
    wav: str
    offset: float
    duration: float
    speaker: str
    en: str
    tgt: str


@dataclass
class SynthCorpus:
    root: Path  # the --data-root
    lang: str
    segments: dict[str, list[SynthSegment]] = field(default_factory=dict)

    @property
    def lang_root(self) -> Path:
        return self.root / f"en-{self.lang}"

    def txt_dir(self, split: str) -> Path:
        return self.lang_root / "data" / split / "txt"

    def wav_path(self, split: str, wav: str) -> Path:
        return self.lang_root / "data" / split / "wav" / wav


def word_frequency(word: str) -> float:
    """Deterministic pitch (200-3000 Hz) for a word."""
    h = int(hashlib.md5(word.lower().strip(".,!?").encode()).hexdigest()[:8], 16)
    return 200.0 + (h % 2800)


def voice_sentence(text: str, rng: np.random.Generator, pitch_scale: float = 1.0) -> np.ndarray:
    """Tones for the words of ``text`` with short gaps and faint noise (float32, 16 kHz)."""
    gap = np.zeros(int(GAP_S * SAMPLE_RATE))
    parts = [gap]
    for word in text.split():
        # longer words last longer, so segment durations vary like speech
        t = np.arange(int((WORD_S + 0.015 * len(word)) * SAMPLE_RATE)) / SAMPLE_RATE
        f = word_frequency(word) * pitch_scale
        parts += [0.3 * np.hanning(len(t)) * np.sin(2 * np.pi * f * t), gap]
    wave = np.concatenate(parts)
    return (wave + 0.003 * rng.standard_normal(len(wave))).astype(np.float32)


def make_synthetic_mustc(
    root: Path,
    lang: str = "de",
    n_per_split: int | dict[str, int] = 6,
    splits: Sequence[str] = SPLITS,
    talks_per_split: int = 2,
    seed: int = 0,
) -> SynthCorpus:
    """Write ``root/en-{lang}/data/{split}/{wav,txt}`` and return what the recipe should find.

    Sentence pairs cycle through :data:`PAIRS` (German text; other languages reuse it, which is
    fine for layout tests). Each talk has its own speaker id and pitch; offsets and durations are
    written with 2 decimals like MuST-C's.
    """
    corpus = SynthCorpus(Path(root), lang)
    talks = _talks(corpus, n_per_split, splits, talks_per_split, np.random.default_rng(seed))
    write_mustc(corpus.root, lang, talks, splits, SAMPLE_RATE)
    return corpus


def _talks(corpus: SynthCorpus, n_per_split: int | dict[str, int], splits: Sequence[str],
           talks_per_split: int, rng: np.random.Generator) -> Iterator[LayoutTalk]:
    """The talks of every split, in order; fills ``corpus.segments`` as they are made."""
    pair_index = 0
    for split in splits:
        n = n_per_split[split] if isinstance(n_per_split, dict) else n_per_split
        segs = corpus.segments.setdefault(split, [])
        n_talks = max(1, min(talks_per_split, n))
        for talk in range(n_talks):
            name = f"ted_{split.replace('-', '')}{talk + 1}.wav"
            speaker = f"spk.{split}.{talk + 1}"
            pitch = 0.9 + 0.1 * talk
            audio = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)]
            pos = 0.5
            layout = []
            for rank in range(talk, n, n_talks):
                en, tgt = PAIRS[pair_index % len(PAIRS)]
                pair_index += 1
                wave = voice_sentence(en, rng, pitch)
                duration = round(len(wave) / SAMPLE_RATE, 2)
                wave = np.pad(wave, (0, max(0, int(round(duration * SAMPLE_RATE)) - len(wave))))
                wave = wave[: int(round(duration * SAMPLE_RATE))]
                offset = round(pos, 2)
                audio += [wave, np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)]
                pos += duration + PAUSE_S
                seg_id = f"{Path(name).stem}_{len([s for s in segs if s.wav == name])}"
                segs.append(SynthSegment(seg_id, name, offset, duration, speaker, en, tgt))
                layout.append(LayoutSegment(offset, duration, en, tgt))
            # MuST-C lists segments talk by talk, in time order
            yield LayoutTalk(split, name, speaker, np.concatenate(audio), layout)


# ------------------------------------------------------------------ bad-input injection
def read_yaml(corpus: SynthCorpus, split: str) -> list[dict]:
    with open(corpus.txt_dir(split) / f"{split}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def write_yaml(corpus: SynthCorpus, split: str, entries: list[dict]) -> None:
    write_text(corpus.txt_dir(split) / f"{split}.yaml", yaml_text(entries))


def drop_last_line(corpus: SynthCorpus, split: str, side: str) -> Path:
    """Make ``{split}.{side}`` one line shorter than the yaml."""
    path = corpus.txt_dir(split) / f"{split}.{side}"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")
    return path


def blank_line(corpus: SynthCorpus, split: str, side: str, line: int) -> Path:
    """Empty the 1-based ``line`` of ``{split}.{side}``."""
    path = corpus.txt_dir(split) / f"{split}.{side}"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[line - 1] = ""
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def stretch_past_end(corpus: SynthCorpus, split: str, line: int, extra_s: float = 5.0) -> None:
    """Lengthen segment ``line`` (1-based) so it runs past the end of its wav."""
    entries = read_yaml(corpus, split)
    entries[line - 1]["duration"] = round(entries[line - 1]["duration"] + extra_s, 2)
    write_yaml(corpus, split, entries)


def corrupt_wav(corpus: SynthCorpus, split: str, wav: str) -> Path:
    path = corpus.wav_path(split, wav)
    path.write_bytes(b"this is not a wav file" * 10)
    return path


def empty_wav(corpus: SynthCorpus, split: str, wav: str) -> Path:
    path = corpus.wav_path(split, wav)
    sf.write(path, np.zeros(0, np.float32), SAMPLE_RATE, subtype="PCM_16")
    return path


def convert_wav(corpus: SynthCorpus, split: str, wav: str, sample_rate: int | None = None,
                channels: int = 1) -> Path:
    """Re-write a talk wav at another rate and/or with copies of the signal in more channels."""
    from scipy.signal import resample_poly

    path = corpus.wav_path(split, wav)
    data, sr = sf.read(path, dtype="float32")
    if sample_rate is not None and sample_rate != sr:
        from math import gcd

        g = gcd(sample_rate, sr)
        data = resample_poly(data, sample_rate // g, sr // g).astype(np.float32)
        sr = sample_rate
    if channels > 1:
        data = np.stack([data * (1 - 0.1 * c) for c in range(channels)], axis=1)
    sf.write(path, data, sr, subtype="PCM_16")
    return path
