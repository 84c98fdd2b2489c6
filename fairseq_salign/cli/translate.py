"""``salign-translate``: translate (``--mode st``) or transcribe (``--mode asr``) audio files.

Each file is read at any sample rate and channel count, mixed down and resampled to 16 kHz,
featurised exactly as the recipe does (``data.audio.compute_fbank``) and normalised by the data
config's eval-time feature transforms (utterance CMVN), then decoded with the task's generator
(beam search for ST, CTC greedy for ASR) and detokenised with the config's SentencePiece model.

    salign-translate --checkpoint avg.pt --data-dir ROOT/en-de talk1.wav talk2.flac

stdout gets one ``path<TAB>hypothesis`` line per file that worked, in argument order. A file
that is missing, empty, corrupt, too short for one 25 ms frame or too long is reported on stderr
(naming it, with its length where known) and skipped; the others are still processed. Exit
status: 0 all files done, 1 some file failed, 2 bad usage/checkpoint/data dir.
"""
from __future__ import annotations

import argparse
import logging
import sys
from argparse import Namespace
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from ..data.audio import FRAME_LENGTH_SAMPLES, TARGET_SAMPLE_RATE, AudioError, audio_info, compute_fbank, load_audio
from ..tasks.waveform_data import standardize_audio
from . import CliError, load_salign, pick_device, run_main

logger = logging.getLogger("fairseq_salign.cli.translate")
FRAMES_PER_SECOND = 100  # 10 ms fbank shift


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="salign-translate",
        description="Translate or transcribe audio files with an s2t_salign checkpoint.",
    )
    p.add_argument("--checkpoint", required=True, help="s2t_salign checkpoint (.pt)")
    p.add_argument("--data-dir", required=True, help="prepared data dir (config_st.yaml, ...)")
    p.add_argument("--mode", choices=["st", "asr"], default="st",
                   help="st: translation by beam search; asr: transcript by CTC greedy decoding")
    p.add_argument("--beam", type=int, default=5, help="beam size (st)")
    p.add_argument("--max-len-b", type=int, default=200, help="max output tokens (st)")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="refuse longer files (default 60); split them first")
    p.add_argument("--cpu", action="store_true", help="do not use a GPU even if one is present")
    p.add_argument("files", nargs="+", help="audio files (anything libsndfile reads)")
    return p


def _split_hint(path: str, seconds: float) -> str:
    return (
        f"split it into pieces of at most {seconds:g} s, e.g. `sox {path} part.wav trim 0 "
        f"{seconds:g} : newfile : restart`"
    )


class Featurizer:
    """Audio file -> what the model reads (normalised fbank frames, or the 16 kHz waveform for
    an SSL front end), refusing what the model cannot or should not take."""

    def __init__(self, data_cfg, max_seconds: float, max_frames: int):
        from fairseq.data.audio.feature_transforms import CompositeAudioFeatureTransform

        self.waveform = bool(data_cfg.use_audio_input)
        self.standardize = standardize_audio(data_cfg)
        fbank80 = data_cfg.input_feat_per_channel == 80 and data_cfg.input_channels == 1
        if not (self.waveform or fbank80):
            raise CliError(
                "the data config describes neither 80-dim filterbanks nor waveforms "
                "(use_audio_input); salign-translate computes only those"
            )
        # not a split name: selects the config's `_eval` (else `*`) transforms
        self.transforms = CompositeAudioFeatureTransform.from_config_dict(
            data_cfg.get_feature_transforms("salign-translate", False)
        )
        self.max_seconds, self.max_frames = max_seconds, max_frames

    def __call__(self, path: str) -> np.ndarray:
        if Path(path).is_file() and Path(path).stat().st_size == 0:
            raise AudioError(f"{path}: file is empty (0 bytes)")
        seconds = audio_info(path).duration_s  # header only: long files are not decoded
        if seconds > self.max_seconds:
            raise AudioError(
                f"{path}: {seconds:.1f} s is longer than --max-seconds {self.max_seconds:g}; "
                + _split_hint(path, self.max_seconds)
            )
        wave = load_audio(path)
        if self.waveform:
            return self._waveform(path, wave, seconds)
        features = compute_fbank(wave)
        if len(features) == 0:
            raise AudioError(f"{path}: {seconds * 1000:.0f} ms is shorter than one 25 ms frame")
        if len(features) > self.max_frames:
            limit = self.max_frames / FRAMES_PER_SECOND
            raise AudioError(
                f"{path}: {seconds:.1f} s ({len(features)} frames) is beyond the model's "
                f"{self.max_frames} source positions ({limit:g} s); " + _split_hint(path, limit)
            )
        return self.transforms(features) if self.transforms is not None else features

    def _waveform(self, path: str, wave: np.ndarray, seconds: float) -> np.ndarray:
        max_samples = self.max_frames  # the encoder counts samples for waveform input
        if len(wave) < FRAME_LENGTH_SAMPLES:  # one 25 ms window: the shortest either front end takes
            raise AudioError(f"{path}: {seconds * 1000:.0f} ms is shorter than one 25 ms frame")
        if len(wave) > max_samples:
            limit = max_samples / TARGET_SAMPLE_RATE
            raise AudioError(f"{path}: {seconds:.1f} s is beyond the model's {limit:g} s of "
                             "source positions; " + _split_hint(path, limit))
        if self.standardize:  # as fairseq's dataset does for standardize_audio configs
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-5)
        return wave.astype(np.float32)


class Decoder:
    """Features -> detokenised text with the task's generator (one file per call)."""

    def __init__(self, model, task, args, device: torch.device):
        if task.data_cfg.prepend_tgt_lang_tag:
            raise CliError("multilingual configs (prepend_tgt_lang_tag) are not supported")
        self.model, self.task, self.device = model, task, device
        gen_args = Namespace(beam=args.beam, max_len_a=0, max_len_b=args.max_len_b, prefix_size=0)
        self.generator = task.build_generator([model], gen_args)
        # what fairseq-generate strips: the generator's own list, else EOS
        self.strip = getattr(
            self.generator, "symbols_to_strip_from_output", {task.target_dictionary.eos()}
        )
        self.bpe = task.build_bpe(None)
        self.tokenizer = task.build_tokenizer(None)

    @torch.no_grad()
    def __call__(self, features: np.ndarray) -> str:
        x = torch.from_numpy(np.ascontiguousarray(features)).float().unsqueeze(0)  # 1 x T [x F]
        sample = {
            "id": torch.tensor([0]),
            "net_input": {
                "src_tokens": x.to(self.device),
                "src_lengths": torch.tensor([x.size(1)], device=self.device),
            },
        }
        best = self.task.inference_step(self.generator, [self.model], sample)[0][0]
        text = self.task.target_dictionary.string(
            best["tokens"].int().cpu(), extra_symbols_to_ignore=self.strip
        )
        if self.bpe is not None:
            text = self.bpe.decode(text)
        if self.tokenizer is not None:
            text = self.tokenizer.decode(text)
        return text


def translate(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.beam < 1 or args.max_seconds <= 0 or args.max_len_b < 1:
        raise CliError("--beam, --max-len-b and --max-seconds must be positive")
    device = pick_device(args.cpu)
    model, _, task = load_salign(args.checkpoint, args.data_dir, {"infer_mode": args.mode})
    model.to(device)
    logger.info(f"{args.mode} with {args.checkpoint} on {device}: {len(args.files)} files")
    featurize = Featurizer(task.data_cfg, args.max_seconds, model.encoder.max_positions())
    decode = Decoder(model, task, args, device)
    failed = []
    for path in args.files:
        try:
            hypothesis = decode(featurize(path))
        except AudioError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            failed.append(path)
            continue
        print(f"{path}\t{hypothesis}", flush=True)
    if failed:
        print(f"error: {len(failed)} of {len(args.files)} files failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(translate, argv)


if __name__ == "__main__":
    raise SystemExit(main())
