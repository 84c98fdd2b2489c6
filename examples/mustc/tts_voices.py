"""Offline English voices (espeak-ng, flite) with speed/pitch variants, returned at 16 kHz.

Every engine's output rate is read from the wav header and resampled: flite's ``kal`` speaks at
8 kHz and espeak-ng at 22.05 kHz, and a voice labelled with the wrong rate plays at the wrong
speed and becomes unintelligible.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fairseq_salign.audio import resample, to_mono  # noqa: E402

LICENSES = {
    "espeak-ng": "espeak-ng and its voice data: GPL-3+ (Debian package espeak-ng)",
    "flite": "flite and its CMU voices (kal, kal16, awb, rms, slt): BSD-style Flite licence "
             "(Debian package flite; see /usr/share/doc/flite/copyright)",
}


@dataclass(frozen=True)
class Voice:
    """A pseudo-speaker: an engine voice plus a speed and pitch variant."""

    engine: str  # "espeak-ng" or "flite"
    name: str  # espeak-ng voice ("en-us+f3") or flite voice ("slt")
    speed: float = 1.0  # relative speaking rate
    pitch: float = 1.0  # relative pitch

    @property
    def speaker_id(self) -> str:
        return f"{self.engine}.{self.name}.s{self.speed:.2f}.p{self.pitch:.2f}".replace("+", "-")


def missing_engines(engines: tuple[str, ...] = ("espeak-ng", "flite")) -> list[str]:
    return [e for e in engines if shutil.which(e) is None]


def install_hint(engines: list[str]) -> str:
    return "apt-get install " + " ".join(engines)


def _run(cmd: list[str]) -> bytes:
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed: {proc.stderr.decode()[-300:]}")
    return proc.stdout


def synthesize(voice: Voice, text: str) -> np.ndarray:
    """Speak ``text``; mono float32 at 16 kHz with leading/trailing silence trimmed."""
    if voice.engine == "espeak-ng":
        wav = _run(["espeak-ng", "-v", voice.name, "-s", str(int(165 * voice.speed)),
                    "-p", str(int(50 * voice.pitch)), "--stdout", text])
        data, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    elif voice.engine == "flite":
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.wav")
            _run(["flite", "-voice", voice.name,
                  "--setf", f"duration_stretch={1.0 / voice.speed:.3f}",
                  "--setf", f"int_f0_target_mean={int(110 * voice.pitch)}",
                  "-t", text, "-o", out])
            data, sr = sf.read(out, dtype="float32", always_2d=True)
    else:
        raise ValueError(f"unknown TTS engine {voice.engine!r}")
    wave = resample(to_mono(data), sr)  # the real rate of this voice, whatever it is
    return trim_silence(wave)


def trim_silence(wave: np.ndarray, threshold: float = 1e-3, margin: int = 800) -> np.ndarray:
    loud = np.flatnonzero(np.abs(wave) > threshold)
    if len(loud) == 0:
        return wave
    return wave[max(0, loud[0] - margin): loud[-1] + margin]


# Voice plan: train and the "seen voice" test sets share base voices but never a variant; the
# tst-HE set is voiced only by base voices absent from training (the unseen-engine condition).
ESPEAK_BASES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3",
                "en-gb+m3", "en-us+f2"]
FLITE_BASES = ["kal16", "awb", "rms", "slt", "kal"]
UNSEEN_BASES = {("flite", "slt"), ("espeak-ng", "en-us+f2"), ("flite", "kal")}
TRAIN_VARIANTS = [(1.0, 1.0), (1.15, 0.9)]
HELD_OUT_VARIANTS = [(0.9, 1.12), (1.08, 1.05)]


def voice_plan(engines: list[str]) -> dict[str, list[Voice]]:
    """Speakers per split: train, dev/tst-COMMON (seen voices, unseen variants), tst-HE."""
    bases = [("espeak-ng", v) for v in ESPEAK_BASES] + [("flite", v) for v in FLITE_BASES]
    bases = [b for b in bases if b[0] in engines]
    seen = [b for b in bases if b not in UNSEEN_BASES]
    unseen = [b for b in bases if b in UNSEEN_BASES]
    if not seen:
        raise RuntimeError("no training voice available")
    if not unseen:  # only one engine installed: hold one of its voices out for tst-HE
        unseen, seen = seen[-1:], seen[:-1] or seen
    train = [Voice(e, n, s, p) for e, n in seen for s, p in TRAIN_VARIANTS]
    dev = [Voice(e, n, *HELD_OUT_VARIANTS[0]) for e, n in seen]
    tst = [Voice(e, n, *HELD_OUT_VARIANTS[1]) for e, n in seen]
    he = [Voice(e, n, s, p) for e, n in unseen for s, p in TRAIN_VARIANTS[:1] + HELD_OUT_VARIANTS]
    return {"train": train, "dev": dev, "tst-COMMON": tst, "tst-HE": he}
