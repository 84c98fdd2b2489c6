"""``salign-analyze``: how large is the modality gap in a model's textual-encoder space?

For each checkpoint, every utterance of a split is encoded twice, as speech and as its
transcript; the mean-pooled T-enc outputs are compared with ``analysis.metrics.gap_metrics``.
Several checkpoints (e.g. ``--alignment none`` vs ``soft``) are analysed on the same sentences
and drawn side by side in one PNG; each panel has its own PCA, since different models' spaces
are not comparable axis by axis, but the metrics are.

    salign-analyze --checkpoint none/avg.pt soft/avg.pt --label baseline S-Align \\
        --data-dir ROOT/en-de --split tst-COMMON_st --out-json gap.json --out-png gap.png

Separability is measured by fresh classifiers, held out over the same 5 sentence folds (chance
0.5; ``analysis.probes``): a linear and an MLP probe on the pooled vectors, and a fresh modal
network (the criterion's architecture and joint batch standardisation, on the per-token states,
trained to convergence). The game's own discriminator is no evidence: it sits near chance while
a fresh one separates the frozen states. The modal network costs most (minutes for a few
hundred sentences of 256-dim states on one CPU core, seconds on a GPU; ``--max-utterances``
bounds it). With ``--weights ema`` a checkpoint is judged on the EMA weights fairseq-train saved
with ``--store-ema``: the game oscillates, and its last weights can look far more separable than
an average of recent ones.

JSON: {"split", "data_dir", "seed", "max_utterances", "models": [{"label", "checkpoint",
"weights", "n_sentences", "dim", "probe_accuracy", "mlp_probe_accuracy", "modal_network_accuracy",
"retrieval_top1", "retrieval_chance", "mmd2_rbf", "paired_cosine", "centroid_gap"}, ...]}, one
entry per checkpoint in the order given.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

from . import CliError, load_salign, pick_device, run_main

logger = logging.getLogger("fairseq_salign.cli.analyze")

WEIGHTS = ("model", "ema")
METRIC_COLUMNS = [  # (key, header, format)
    ("n_sentences", "N", "{:d}"),
    ("probe_accuracy", "probe acc", "{:.3f}"),
    ("mlp_probe_accuracy", "MLP acc", "{:.3f}"),
    ("modal_network_accuracy", "modal net acc", "{:.3f}"),
    ("retrieval_top1", "R@1", "{:.3f}"),
    ("retrieval_chance", "chance", "{:.3f}"),
    ("mmd2_rbf", "MMD^2", "{:.4f}"),
    ("paired_cosine", "pair cos", "{:.3f}"),
    ("centroid_gap", "centroid gap", "{:.3f}"),
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="salign-analyze",
        description="Modality-gap metrics (linear and MLP probes, a fresh modal network, "
        "speech->text retrieval, MMD) and a PCA "
        "plot of mean-pooled textual-encoder outputs of speech vs transcripts.",
    )
    models = p.add_mutually_exclusive_group(required=True)
    models.add_argument("--checkpoint", nargs="+", help="one or more s2t_salign checkpoints")
    models.add_argument("--model-dir", nargs="+",
                        help="one or more model directories written by salign-export (their "
                        "checkpoints are read with --data-dir's split and vocabulary)")
    p.add_argument("--label", nargs="+", help="one name per model (default: file names)")
    p.add_argument("--weights", nargs="+", choices=WEIGHTS, default=["model"],
                   help="model: the checkpoint's weights; ema: the EMA weights fairseq-train "
                   "saved with --store-ema. One for all models or one per model, e.g. the same "
                   "checkpoint twice with --weights model ema (default: model)")
    p.add_argument("--data-dir", required=True, help="prepared data dir (config_st.yaml, *.tsv)")
    p.add_argument("--split", default="tst-COMMON_st", help="manifest name without .tsv")
    p.add_argument("--max-utterances", type=int, help="seeded random subset of the split")
    p.add_argument("--seed", type=int, default=1, help="subset and probe folds (default 1)")
    p.add_argument("--max-tokens", type=int, default=20000, help="padded 10 ms frames per batch (waveform data: x160 samples)")
    p.add_argument("--out-json", type=Path, help="write the metrics here")
    p.add_argument("--out-png", type=Path, help="write the PCA plot here")
    p.add_argument("--cpu", action="store_true", help="do not use a GPU even if one is present")
    return p


def _checkpoints(args) -> List[str]:
    if args.checkpoint:
        return list(args.checkpoint)
    from ..api.model_dir import open_model_dir

    return [str(open_model_dir(d).checkpoint) for d in args.model_dir]


def _weights(args) -> List[str]:
    n = len(args.checkpoint)
    if len(args.weights) not in (1, n):
        raise CliError(f"{len(args.weights)} --weights values for {n} checkpoints: give one for "
                       "all or one per checkpoint")
    if args.model_dir and "ema" in args.weights:
        raise CliError("--weights ema: a model directory holds one set of weights; export the "
                       "EMA weights with salign-export --ema, or pass --checkpoint")
    return list(args.weights) * (n // len(args.weights))


def _labels(args, weights: List[str]) -> List[str]:
    if args.label is None:
        if args.model_dir:
            return [Path(d).name for d in args.model_dir]
        names = [Path(c).name for c in args.checkpoint]
        if len(set(zip(names, weights))) < len(names):  # several checkpoint_best.pt: dir/name
            names = [str(Path(*Path(c).parts[-2:])) for c in args.checkpoint]
        return [f"{name} (ema)" if w == "ema" else name for name, w in zip(names, weights)]
    if len(args.label) != len(args.checkpoint):
        raise CliError(f"{len(args.label)} --label values for {len(args.checkpoint)} checkpoints")
    return list(args.label)


def _check_split(data_dir: Path, split: str) -> None:
    from ..analysis.vectors import available_splits

    if not (data_dir / f"{split}.tsv").is_file():
        splits = ", ".join(available_splits(data_dir)) or "none"
        manifest = data_dir / f"{split}.tsv"
        raise CliError(f"split '{split}' not found: no {manifest} (splits: {splits})")


def analyze_checkpoint(checkpoint: str, args, device, weights: str = "model") -> tuple:
    """Metrics and paired vectors of one checkpoint (its ``weights``) on the split."""
    from ..analysis.metrics import MIN_PAIRS, gap_metrics
    from ..analysis.probes import modal_network_accuracy
    from ..analysis.vectors import paired_vectors, select_indices, use_eval_transforms
    from ..audio import FRAME_SHIFT_SAMPLES

    # the multi-task dataset pairs each utterance's features with its transcript
    model, cfg, task = load_salign(
        checkpoint, args.data_dir, {"infer_mode": None, "training_stage": "multitask"},
        ema=weights == "ema",
    )
    model.to(device)
    task.load_dataset(args.split)
    dataset = task.dataset(args.split)
    use_eval_transforms(dataset, task.data_cfg, args.split)
    indices = select_indices(len(dataset), args.max_utterances, args.seed)
    if len(indices) < MIN_PAIRS:
        raise CliError(
            f"split '{args.split}' gives {len(indices)} utterances; the probe needs at least "
            f"{MIN_PAIRS} (raise --max-utterances or use a larger split)"
        )
    max_tokens = args.max_tokens * (FRAME_SHIFT_SAMPLES if task.waveform_input else 1)
    vectors = paired_vectors(model, dataset, indices, device, max_tokens, tokens=True)
    metrics = gap_metrics(vectors.speech, vectors.text, seed=args.seed)
    game = cfg.get("criterion") or {}  # the modal network as the checkpoint's game built it
    logger.info(f"training a fresh modal network on {len(indices)} sentences' token states")
    metrics["modal_network_accuracy"] = modal_network_accuracy(
        vectors.speech_tokens, vectors.text_tokens, seed=args.seed,
        hidden_dim=game.get("modal_hidden_dim", 256), dropout=game.get("modal_dropout", 0.1),
        device=device)
    return metrics, vectors


def format_table(rows: List[Dict]) -> str:
    headers = ["model"] + [h for _, h, _ in METRIC_COLUMNS]
    body = [[r["label"]] + [f.format(r[k]) for k, _, f in METRIC_COLUMNS] for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *body)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(b) for b in body])


def analyze(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_utterances is not None and args.max_utterances < 1:
        raise CliError("--max-utterances must be positive")
    args.checkpoint = _checkpoints(args)
    weights = _weights(args)
    labels = _labels(args, weights)
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise CliError(f"data directory {data_dir} not found")
    _check_split(data_dir, args.split)
    device = pick_device(args.cpu)
    rows, panels = [], []
    from ..analysis.plot import Panel

    for label, checkpoint, which in zip(labels, args.checkpoint, weights):
        logger.info(f"{label}: encoding {args.split} with {checkpoint} ({which}) on {device}")
        metrics, vectors = analyze_checkpoint(checkpoint, args, device, which)
        rows.append({"label": label, "checkpoint": str(checkpoint), "weights": which, **metrics})
        panels.append(Panel(label, vectors.speech, vectors.text, metrics))
    print(f"modality gap on {args.split} (textual-encoder output, mean-pooled):")
    print(format_table(rows))
    report = {
        "split": args.split,
        "data_dir": str(data_dir),
        "seed": args.seed,
        "max_utterances": args.max_utterances,
        "models": rows,
    }
    if args.out_json:
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        args.out_json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out_json}")
    if args.out_png:
        from ..analysis.plot import plot_panels

        plot_panels(panels, args.out_png)
        print(f"wrote {args.out_png}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(analyze, argv)


if __name__ == "__main__":
    raise SystemExit(main())
