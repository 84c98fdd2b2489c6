"""``salign-translate``: translate (``--mode st``), transcribe (``--mode asr``) or both from one
acoustic-encoder pass (``--mode both``) audio files, from single utterances to whole talks.

Each file is read at any sample rate and channel count, mixed down and resampled to 16 kHz.
Files up to ``--max-seconds`` are decoded whole; longer ones (a talk) are cut into segments by
a voice-activity detector (``--vad``, with MuST-C-like limits: ``--max-segment-seconds`` ...)
and every segment is decoded, batched, with a progress bar. Features are the recipe's own
(``fairseq_salign.api.features``), decoding is the task's (beam search for ST, CTC best path for
ASR), through the same :class:`~fairseq_salign.api.SAlignHub` the Python API gives.

    salign-translate --model-dir exported/ talk1.wav talk2.flac
    salign-translate --model-dir exported/ --output-dir subs --subtitles vtt ted_talk.wav

stdout gets one ``path<TAB>hypothesis`` line per file that worked (``--mode both``:
``path<TAB>transcript<TAB>translation``), in argument order (a segmented file's segment
hypotheses joined by spaces). With ``--output-dir`` each file also gets ``DIR/<name>.srt`` (or
``.vtt``) with one timed cue per segment (``--mode both``: bilingual cues, the transcript above
the translation), ``DIR/<name>.txt`` with one line per cue (both: tab-separated) and
``DIR/<name>.jsonl`` with one JSON object per segment (``start``, ``end`` in seconds and
``transcript`` and/or ``translation``). A file that is missing, empty, corrupt, too short for one 25 ms frame, without
speech, or too long with ``--no-segment`` is reported on stderr (naming it) and skipped; the
others are still processed; voiced blips dropped by the segmenter are counted per file. Exit
status: 0 all files done, 1 some file failed, 2 bad usage/model.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from ..api.decoding import GenerationOptions
from ..api.features import split_hint
from ..audio import TARGET_SAMPLE_RATE, AudioError, audio_info, load_audio
from ..segmentation import VADS, SegmentLimits, VADError, segment_speech
from ..segmentation.base import Segment
from ..subtitles import FORMATS, Cue, write_jsonl, write_subtitles
from . import CliError, add_model_args, load_salign, model_source, pick_device, run_main

logger = logging.getLogger("fairseq_salign.cli.translate")
MODES = {"st": ("translation",), "asr": ("transcript",), "both": ("transcript", "translation")}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="salign-translate",
        description="Translate or transcribe audio files, from utterances to whole talks, with "
        "an S-Align model; optionally write SRT/WebVTT subtitles.",
    )
    add_model_args(p, "prepared data dir (config_st.yaml, vocabulary) of --checkpoint")
    p.add_argument("--mode", choices=list(MODES), default="st",
                   help="st: translation by beam search; asr: transcript by CTC greedy decoding; "
                   "both: transcript and translation from one acoustic-encoder pass")
    g = p.add_argument_group("search (st), as fairseq-generate's")
    d = GenerationOptions()  # fairseq-generate's defaults, stated once
    g.add_argument("--beam", type=int, default=d.beam, help=f"beam size (default {d.beam})")
    g.add_argument("--max-len-a", type=float, default=d.max_len_a,
                   help=f"max output tokens = a * source length + b (default a={d.max_len_a:g})")
    g.add_argument("--max-len-b", type=int, default=d.max_len_b, help=f"(default b={d.max_len_b})")
    g.add_argument("--lenpen", type=float, default=d.lenpen,
                   help=f"length penalty (default {d.lenpen:g})")
    g.add_argument("--batch-size", type=int, default=16, help="segments per batch")
    s = p.add_argument_group("long recordings")
    s.add_argument("--max-seconds", type=float, default=30.0,
                   help="files up to this length are decoded whole; longer ones are segmented "
                   "by voice activity (default 30)")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--segment", action="store_true", help="segment every file, short ones too")
    mode.add_argument("--no-segment", action="store_true",
                      help="never segment: refuse files longer than --max-seconds")
    s.add_argument("--vad", choices=VADS.choices, default="webrtc",
                   help="voice-activity detector (webrtc: WebRTC's GMM detector)")
    s.add_argument("--vad-aggressiveness", type=int, default=2, choices=[0, 1, 2, 3],
                   help="webrtc: how readily non-speech is rejected (3: most; default 2)")
    defaults = SegmentLimits()
    s.add_argument("--max-segment-seconds", type=float, default=defaults.max_segment_s,
                   help="longest segment; longer voiced stretches are cut at their longest "
                   f"pause (default {defaults.max_segment_s:g}, MuST-C-like)")
    s.add_argument("--min-silence-seconds", type=float, default=defaults.min_silence_s,
                   help=f"shorter pauses do not end a segment (default {defaults.min_silence_s:g})")
    s.add_argument("--min-speech-seconds", type=float, default=defaults.min_speech_s,
                   help="shorter voiced stretches are dropped as noise, and counted (default "
                   f"{defaults.min_speech_s:g})")
    s.add_argument("--pad-seconds", type=float, default=defaults.pad_s,
                   help=f"audio context around each segment (default {defaults.pad_s:g})")
    o = p.add_argument_group("output")
    o.add_argument("--output-dir", type=Path,
                   help="also write <name>.srt/.vtt (timed cues), <name>.txt and <name>.jsonl "
                   "(segments with times) per file here")
    o.add_argument("--subtitles", choices=FORMATS, default="srt",
                   help="subtitle format with --output-dir (default srt)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--cpu", action="store_true", help="do not use a GPU even if one is present")
    p.add_argument("files", nargs="+", help="audio files (anything libsndfile reads)")
    return p


def _progress(enabled: bool, desc: str):
    from tqdm import tqdm

    # disable=None: only on a terminal
    return lambda batches: tqdm(batches, desc=desc, unit="batch", disable=None if enabled else True,
                                file=sys.stderr, leave=False)


class Talk:
    """One file: its segments (the whole file, or the VAD's), their model inputs, decoded."""

    def __init__(self, path: str, args, hub, vad, limits: SegmentLimits):
        self.path = path
        if Path(path).is_file() and Path(path).stat().st_size == 0:
            raise AudioError(f"{path}: file is empty (0 bytes)")
        seconds = audio_info(path).duration_s  # header only: missing/corrupt fail before decoding
        segment = args.segment or seconds > args.max_seconds
        if segment and args.no_segment:
            raise AudioError(f"{path}: {seconds:.1f} s is longer than --max-seconds "
                             f"{args.max_seconds:g}; " + split_hint(path, args.max_seconds))
        wave = load_audio(path)
        if segment:
            self.segments, report = segment_speech(wave, vad, limits)
            logger.info(f"{path}: {report.summary()}")
            if not self.segments:
                raise AudioError(f"{path}: no speech found by the {args.vad} voice-activity "
                                 f"detector in {seconds:.1f} s ({report.summary()})")
        else:
            end = len(wave) / TARGET_SAMPLE_RATE
            self.segments = [Segment(0.0, end, 0.0, end)]
        self.inputs = []
        for i, seg in enumerate(self.segments):
            piece = wave[int(seg.start * TARGET_SAMPLE_RATE): int(seg.end * TARGET_SAMPLE_RATE)]
            name = path if len(self.segments) == 1 and not segment else \
                f"{path} [{seg.start:.2f}-{seg.end:.2f} s]"
            self.inputs.append(hub.featurize(piece, TARGET_SAMPLE_RATE, name))

    def rows(self, fields: tuple, hypotheses: List[tuple]) -> List[dict]:
        """One dict per segment: speech start and end (s), then the hypotheses by ``fields``."""
        return [{"start": round(s.speech_start, 3), "end": round(s.speech_end, 3), **dict(zip(fields, h))}
                for s, h in zip(self.segments, hypotheses)]

    def cues(self, hypotheses: List[tuple]) -> List[Cue]:
        return [Cue(s.speech_start, s.speech_end, "\n".join(h))
                for s, h in zip(self.segments, hypotheses)]


def _check_outputs(files: List[str], out_dir: Optional[Path]) -> None:
    if out_dir is None:
        return
    stems = {}
    for f in files:
        stem = Path(f).stem
        if stem in stems and stems[stem] != f:
            raise CliError(f"{stems[stem]} and {f} would both write {out_dir / stem}.*: "
                           "rename one or translate them in separate runs")
        stems[stem] = f


def translate(argv: Optional[List[str]] = None) -> int:
    from ..api import SAlignHub

    args = build_parser().parse_args(argv)
    if args.beam < 1 or args.max_seconds <= 0 or args.max_len_b < 1 or args.batch_size < 1:
        raise CliError("--beam, --max-len-b, --batch-size and --max-seconds must be positive")
    try:
        limits = SegmentLimits(args.max_segment_seconds, args.min_silence_seconds,
                               args.min_speech_seconds, pad_s=args.pad_seconds)
        vad = VADS.build(args.vad, aggressiveness=args.vad_aggressiveness)
    except VADError as e:
        raise CliError(str(e)) from None
    _check_outputs(args.files, args.output_dir)
    checkpoint, data_dir = model_source(args)
    device = pick_device(args.cpu)
    model, cfg, task = load_salign(checkpoint, data_dir, {"infer_mode": "st"}, ema=args.ema)
    hub = SAlignHub(model, task, cfg, feature_weights=args.feature_weights).to(device)
    max_seconds = hub.max_seconds  # a ModelError saying why if this model cannot read audio here
    if limits.max_segment_s > max_seconds:
        raise CliError(f"--max-segment-seconds {limits.max_segment_s:g} is beyond the model's "
                       f"{max_seconds:g} s of source positions; lower it")
    if args.max_seconds > max_seconds and not args.no_segment:
        logger.info(f"files over the model's {max_seconds:g} s of source positions are segmented")
        args.max_seconds = max_seconds
    search = {"beam": args.beam, "max_len_a": args.max_len_a, "max_len_b": args.max_len_b,
              "lenpen": args.lenpen}
    fields = MODES[args.mode]
    logger.info(f"{args.mode} with {checkpoint} on {device}, {hub.features} features: "
                f"{len(args.files)} files")
    failed = []
    for path in args.files:
        try:
            talk = Talk(path, args, hub, vad, limits)
        except (AudioError, VADError) as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            failed.append(path)
            continue
        progress = _progress(not args.no_progress and len(talk.inputs) > args.batch_size, path)
        decoded = hub.decode(talk.inputs, args.mode, args.batch_size, progress, **search)
        hypotheses = decoded if args.mode == "both" else [(h,) for h in decoded]  # one tuple each
        joined = "\t".join(" ".join(h[k] for h in hypotheses if h[k]) for k in range(len(fields)))
        print(f"{path}\t{joined}", flush=True)
        if args.output_dir is not None:
            stem = args.output_dir / Path(path).stem
            written = write_subtitles(talk.cues(hypotheses), stem, args.subtitles)
            written.append(write_jsonl(talk.rows(fields, hypotheses), stem.with_name(f"{stem.name}.jsonl")))
            logger.info(f"{path}: wrote {', '.join(map(str, written))}")
    if failed:
        print(f"error: {len(failed)} of {len(args.files)} files failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(translate, argv)


if __name__ == "__main__":
    raise SystemExit(main())
