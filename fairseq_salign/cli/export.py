"""``salign-export``: one self-contained, movable directory for a trained model.

    salign-export --checkpoint avg.pt --data-dir ROOT/en-de --out exported/ \\
        --training-data "MuST-C v1 En-De train" --sacrebleu-signature "nrefs:1|..." \\
        --score "tst-COMMON ST BLEU=22.1"

writes the checkpoint (with ``--ema`` its EMA weights) without optimizer state or
training-only paths, the SentencePiece model and vocabulary, the data config with relative paths
(and global CMVN statistics if the config uses them), ``salign_model.json`` and ``README.md``
(``fairseq_salign.api.model_dir``). Load it with ``SAlignHub.from_pretrained(DIR)``,
``salign-translate --model-dir DIR`` or ``fairseq-generate --path DIR/model.pt``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional

from . import CliError, run_main

logger = logging.getLogger("fairseq_salign.cli.export")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="salign-export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="s2t_salign checkpoint (e.g. averaged)")
    p.add_argument("--data-dir", required=True,
                   help="the prepared data dir the model was trained on (config_st.yaml, spm)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--ema", action="store_true",
                   help="export the EMA weights fairseq-train saved with --store-ema, not the "
                   "checkpoint's model weights")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--name", help="a title for the README")
    p.add_argument("--training-data", help="what the model was trained on (free text)")
    p.add_argument("--sacrebleu-signature", help="sacreBLEU signature of the scores given")
    p.add_argument("--score", action="append", default=[], metavar="NAME=VALUE",
                   help="a score to record, e.g. 'tst-COMMON ST BLEU=22.1' (repeatable)")
    return p


def _scores(items: List[str]) -> dict:
    scores = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip() or not value.strip():
            raise CliError(f"--score {item!r}: give NAME=VALUE, e.g. 'tst-COMMON ST BLEU=22.1'")
        try:
            scores[name.strip()] = float(value)
        except ValueError:
            raise CliError(f"--score {item!r}: {value!r} is not a number") from None
    return scores


def export(argv: Optional[List[str]] = None) -> int:
    from ..api.model_dir import export_model_dir

    args = build_parser().parse_args(argv)
    info = {"name": args.name, "training_data": args.training_data,
            "sacrebleu_signature": args.sacrebleu_signature, "scores": _scores(args.score)}
    layout = export_model_dir(args.checkpoint, args.data_dir, args.out,
                              {k: v for k, v in info.items() if v}, force=args.force, ema=args.ema)
    files = sorted(p.name for p in layout.root.iterdir())
    print(f"wrote {layout.root}: {', '.join(files)}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(export, argv)


if __name__ == "__main__":
    raise SystemExit(main())
