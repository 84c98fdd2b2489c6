#!/usr/bin/env python3
"""Prepare MuST-C (release layout) for fairseq-salign speech translation.

    python examples/mustc/prep_mustc_data.py --data-root ROOT --languages de

writes ROOT/en-de/{fbank80.zip, {split}_st.tsv, spm_unigram8000_st.{model,txt}, config_st.yaml};
with --features waveform or whisper, the same layout in ROOT/en-de/waveform/ or
ROOT/en-de/whisper/ (wav16k.zip, whisper.zip). See examples/mustc/README.md. From Python:
``fairseq_salign.data.prep.prepare_mustc`` or ``main([...])`` below.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a plain checkout too

from fairseq_salign.data.features import KINDS  # noqa: E402
from fairseq_salign.data.mustc import SPLITS, PrepError  # noqa: E402
from fairseq_salign.data.prep import SPECAUGMENT_CHOICES, prepare_mustc  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", "-d", required=True, type=Path,
                   help="directory holding en-{lang}/data/{split}/{wav,txt}")
    p.add_argument("--languages", nargs="+", default=["de"], metavar="LANG",
                   help="target languages to prepare (default: de)")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), metavar="SPLIT",
                   help=f"splits to prepare (default: {' '.join(SPLITS)})")
    p.add_argument("--asr-only-splits", nargs="+", default=[], metavar="SPLIT",
                   help="extra splits in the same layout without a translation file (audio + "
                        "yaml + SPLIT.en only): ASR-only data, written as SPLIT_asr.tsv for "
                        "fairseq-train --asr-extra-subsets SPLIT_asr; not in the vocabulary")
    p.add_argument("--mt-only-splits", nargs="+", default=[], metavar="SPLIT",
                   help="text-only splits, en-{lang}/data/SPLIT/txt/SPLIT.en and SPLIT.{lang} "
                        "line-aligned (no audio): MT-only data, written as SPLIT_mt.tsv for "
                        "fairseq-train --mt-extra-subsets SPLIT_mt; not in the vocabulary")
    p.add_argument("--features", default="fbank80", choices=list(KINDS.choices),
                   help="what is stored: fbank80 (80-dim log-mel, default), waveform (16 kHz "
                        "FLAC/WAV segments), whisper (frozen Whisper encoder states)")
    p.add_argument("--output-subdir", default=None, metavar="NAME",
                   help="directory in en-{lang}/ for the outputs (default: en-{lang}/ itself for "
                        "fbank80, en-{lang}/{features}/ otherwise; '' = en-{lang}/)")
    p.add_argument("--vocab-type", default="unigram", choices=["unigram", "bpe", "char"])
    p.add_argument("--vocab-size", default=8000, type=int,
                   help="joint source+target SentencePiece size (reduced, with a warning, "
                        "when the corpus is too small)")
    p.add_argument("--no-normalize-src", dest="normalize_src", action="store_false",
                   help="keep source transcripts as they are (default: lower-case them and "
                        "strip punctuation)")
    p.add_argument("--num-workers", type=int, default=None,
                   help="feature extraction processes (default: min(4, CPUs); 1 for whisper, "
                        "whose CTranslate2 threads use every CPU)")
    p.add_argument("--skip-bad-segments", action="store_true",
                   help="drop bad train segments and count them instead of stopping "
                        "(dev and tst-* splits never drop segments)")
    p.add_argument("--min-n-frames", type=int, default=5,
                   help="train segments with fewer 10 ms fbank frames are dropped, whatever "
                        "--features stores (default: 5)")
    p.add_argument("--max-n-frames", type=int, default=3000,
                   help="train segments with more 10 ms fbank frames are dropped, whatever "
                        "--features stores (default: 3000, i.e. 30 s)")
    p.add_argument("--specaugment-policy", default=None, choices=SPECAUGMENT_CHOICES,
                   help="SpecAugment written to config_st.yaml, fairseq's policy names (default: "
                        "lb, fairseq's MuST-C setting, for fbank80; none for whisper; waveform "
                        "takes none); ss/sm cap time masks at 20%% of the segment, for short "
                        "segments. For whisper states the masks keep their seconds and their "
                        "fraction of the dimensions")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no tqdm progress bars")
    for kind in KINDS.values():
        kind.add_args(p.add_argument_group(f"--features {kind.name}"))
    return p


def kind_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """The chosen kind with its options; an option of another kind is an error, not ignored."""
    for group in parser._action_groups:
        name = group.title.removeprefix("--features ") if group.title else ""
        if name in KINDS and name != args.features:
            given = [a.option_strings[0] for a in group._group_actions
                     if getattr(args, a.dest) is not None]
            if given:
                parser.error(f"{', '.join(given)} applies to --features {name}, not "
                             f"--features {args.features}")
    return KINDS.get(args.features).from_args(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    start = time.time()
    try:
        kind = kind_from_args(parser, args)
        workers = args.num_workers or kind.default_num_workers(os.cpu_count() or 1)
        results = prepare_mustc(
            args.data_root, args.languages, splits=args.splits, features=kind,
            output_subdir=args.output_subdir, vocab_type=args.vocab_type,
            vocab_size=args.vocab_size, normalize_src=args.normalize_src,
            num_workers=workers, skip_bad_segments=args.skip_bad_segments,
            min_n_frames=args.min_n_frames, max_n_frames=args.max_n_frames,
            progress=args.progress, specaugment=args.specaugment_policy,
            asr_only_splits=args.asr_only_splits, mt_only_splits=args.mt_only_splits,
        )
    except PrepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for lang, result in results.items():
        print(f"en-{lang} -> {result.out_dir}\n{result.summary()}")
    print(f"done in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
