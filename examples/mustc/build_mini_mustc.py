#!/usr/bin/env python3
"""Build an offline, MuST-C-shaped English->German corpus (no download needed).

    python examples/mustc/build_mini_mustc.py --out data/mini-mustc --lang de --size 1500 --seed 1

Sentence pairs come from the Ding dictionary (Debian trans-de-en), restricted to a small common
vocabulary; they are voiced by espeak-ng and flite voices with speed/pitch variants and joined
into talks. train, dev and tst-COMMON share base voices but never a speaker variant; tst-HE is
voiced only by base voices absent from training (an honest unseen-voice condition). Then run
``prep_mustc_data.py --data-root OUT``. The generated data is never committed (see .gitignore).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))  # the package (its layout writer), from a plain checkout

from ding_pairs import DING_LICENSE, DING_PATH, read_ding_sentences, restrict_vocabulary  # noqa
from mini_corpus import ASR_ONLY_SPLIT, SPLITS, build_corpus, hold_out_asr  # noqa: E402
from tts_voices import LICENSES, install_hint, missing_engines, synthesize, voice_plan  # noqa

MARKER = ".mini_mustc"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="corpus root (the --data-root)")
    p.add_argument("--lang", default="de", choices=["de"],
                   help="target language (only German has an offline parallel source)")
    p.add_argument("--size", type=int, default=1500, help="number of segments (all splits)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tst-common-size", type=int, default=None,
                   help="exact number of tst-COMMON segments (default: 8%% of --size), e.g. 600 "
                        "for a test set that can resolve about 1 BLEU; its sentences are never "
                        "in train, so it needs that many more sentence pairs")
    p.add_argument("--vocab-top-k", type=int, default=2000,
                   help="keep sentences whose words are all among the K most common per side")
    p.add_argument("--asr-only-fraction", type=float, default=0.0,
                   help="move this fraction of the train talks to an ASR-only split "
                        "(train_asr: speech + transcript, no translation; prepare it with "
                        "prep_mustc_data.py --asr-only-splits train_asr); default 0: none")
    p.add_argument("--num-workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--dictionary", type=Path, default=DING_PATH, help=argparse.SUPPRESS)
    return p


def marker_text(args: argparse.Namespace) -> str:
    """What the corpus was built with: the demo reuses a corpus only if this matches."""
    held = f" asr_only_fraction={args.asr_only_fraction}" if args.asr_only_fraction else ""
    test = f" tst_common_size={args.tst_common_size}" if args.tst_common_size else ""
    return f"size={args.size} seed={args.seed} vocab_top_k={args.vocab_top_k}{held}{test}\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    missing = missing_engines()
    if len(missing) == 2:
        print(f"error: no offline TTS engine found; install them with: {install_hint(missing)}",
              file=sys.stderr)
        return 1
    if missing:
        print(f"warning: {missing[0]} not found ({install_hint(missing)}); "
              f"using the other engine's voices only", file=sys.stderr)
    try:
        pairs = restrict_vocabulary(read_ding_sentences(args.dictionary), args.vocab_top_k)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    engines = [e for e in ("espeak-ng", "flite") if e not in missing]
    print("Reading (licences):")
    print(f"  {DING_LICENSE}")
    for e in engines:
        print(f"  {LICENSES[e]}")

    data_dir = args.out / f"en-{args.lang}" / "data"
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).is_file():
            print(f"error: {data_dir} exists and was not made by this script; "
                  f"choose another --out", file=sys.stderr)
            return 1
        shutil.rmtree(data_dir)  # an earlier mini corpus: rebuild it whole
    data_dir.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    plan = voice_plan(engines)
    start = time.time()
    try:
        counts = build_corpus(
            args.out, args.lang, pairs, plan, synthesize, args.size, args.seed, args.num_workers,
            progress=lambda it, n: tqdm(it, total=n, desc="talks", unit="talk"),
            tst_common=args.tst_common_size,
        )
    except ValueError as e:  # e.g. more evaluation segments than sentence pairs
        print(f"error: {e} (lower --size or raise --vocab-top-k)", file=sys.stderr)
        return 1
    if args.asr_only_fraction:
        n_seg, n_talks = hold_out_asr(data_dir, args.lang, args.asr_only_fraction, args.seed)
        counts["train"] -= n_seg
        print(f"held out {n_seg} train segments ({n_talks} talks) as ASR-only data: "
              f"{data_dir / ASR_ONLY_SPLIT}")
    (data_dir / MARKER).write_text(marker_text(args))
    print(f"{len(pairs)} sentence pairs available; wrote {sum(counts.values())} segments in "
          f"{time.time() - start:.1f}s to {data_dir}")
    for split in SPLITS:
        speakers = sorted({v.speaker_id for v in plan[split]})
        print(f"  {split}: {counts[split]} segments, {len(speakers)} speakers")
    print(f"next: python examples/mustc/prep_mustc_data.py --data-root {args.out} "
          f"--languages {args.lang}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
