#!/usr/bin/env python3
"""Tables and a plot from the runs of examples/demo/ablations.py (OUT/ablations.jsonl): one
row per variant, each cell the mean over seeds with the per-seed values, and a PNG of the modal
network's accuracy (train log) and the T-enc space's MMD^2 (epoch checkpoints) over updates.

    python examples/demo/ablation_report.py --runs demo/ablations.jsonl --out docs/ablations \
        --hyps demo/ablation_hyps --references demo/mini/en-de/tst-COMMON_st.tsv
"""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

COLUMNS = [  # (header, getter)
    ("ST BLEU", lambda r: r["scores"]["st_bleu_tst-COMMON"]["score"]),
    ("ST chrF", lambda r: r["scores"]["st_chrf_tst-COMMON"]["score"]),
    ("MT BLEU", lambda r: r["scores"]["mt_bleu_tst-COMMON"]["score"]),
    ("ASR WER %", lambda r: r["scores"]["asr_wer_tst-COMMON"]["score"]),
    ("disc acc speech / text, generator at full weight", lambda r: _at_full_weight(r)),
    ("disc acc speech / text, end", lambda r: _last(r, "disc_acc_speech", "disc_acc_text")),
    ("grad ratio (speech)", lambda r: _last(r, "align_grad_ratio_speech")),
    ("probe acc", lambda r: r["gap"]["probe_accuracy"]),
    ("MLP probe", lambda r: r["gap"].get("mlp_probe_accuracy")),
    ("fresh modal net", lambda r: r["gap"].get("modal_network_accuracy")),
    ("MMD^2", lambda r: r["gap"]["mmd2_rbf"]),
    ("pair cos", lambda r: r["gap"]["paired_cosine"]),
    ("R@1", lambda r: r["gap"]["retrieval_top1"]),
    ("ST vs none: p (paired bs)", lambda r: r["scores"].get("st_paired_vs_none", {}).get("p_value")),
]


def _last(run, *keys):
    """The last logged value of each key in the run's train_inner lines (None if never)."""
    values = []
    for key in keys:
        points = [v[key] for _, v in run["train_curve"] if key in v]
        values.append(points[-1] if points else None)
    return values[0] if len(values) == 1 else tuple(values)


def _at_full_weight(run):
    """Mean discriminator accuracies over the logged points where the generator weight is at
    its maximum (the game fully on), or None without a modal network."""
    points = [v for _, v in run["train_curve"] if "adv_weight" in v]
    if not points or max(v["adv_weight"] for v in points) <= 0:
        return None
    top = max(v["adv_weight"] for v in points)
    full = [v for v in points if v["adv_weight"] >= top - 1e-9]
    return (float(np.mean([v["disc_acc_speech"] for v in full])), float(np.mean([v["disc_acc_text"] for v in full])))


def _fmt(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if isinstance(values[0], tuple):
        parts = list(zip(*values))
        return " / ".join(_fmt(list(p)) for p in parts)
    text = "{:.3g}".format(float(np.mean(values)))
    return text if len(values) == 1 else f"{text} ({', '.join('{:.3g}'.format(v) for v in values)})"


def table(runs):
    by_variant = defaultdict(list)
    for run in runs:
        by_variant[run["variant"]].append(run)
    lines = ["| variant | seeds | " + " | ".join(h for h, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    for variant, group in by_variant.items():
        group.sort(key=lambda r: r["seed"])
        cells = [_fmt([get(r) for r in group]) for _, get in COLUMNS]
        lines.append(f"| {variant} | {','.join(str(r['seed']) for r in group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs, path: Path, variants=("none", "hard", "soft"), seed=1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = {r["variant"]: r for r in runs if r["seed"] == seed and r["variant"] in variants}
    fig, (ax_d, ax_m) = plt.subplots(1, 2, figsize=(10, 3.6))
    for variant, run in chosen.items():
        curve = [(u, v) for u, v in run["train_curve"] if "disc_acc_speech" in v]
        if curve:
            ax_d.plot([u for u, _ in curve], [v["disc_acc_speech"] for _, v in curve], label=f"{variant}: speech")
            ax_d.plot([u for u, _ in curve], [v["disc_acc_text"] for _, v in curve], "--", label=f"{variant}: text")
        epochs = run.get("gap_by_epoch") or []
        if epochs:
            per_epoch = max(int(run["train_curve"][-1][0]) // max(len(epochs), 1), 1) if run["train_curve"] else 1
            xs = [int("".join(c for c in e["label"] if c.isdigit())) * per_epoch for e in epochs]
            ax_m.plot(xs, [e["mmd2_rbf"] for e in epochs], marker="o", label=variant)
    ax_d.set(title="modal network accuracy (train batches)", xlabel="update", ylabel="accuracy", ylim=(0, 1.05))
    ax_m.set(title="MMD$^2$ speech vs text, tst-COMMON", xlabel="update (epoch checkpoints)", ylabel="MMD$^2$")
    for ax in (ax_d, ax_m):
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def power_table(runs, hyps_dir: Path, references, baseline: str = "none") -> str:
    """Per variant: the BLEU and chrF delta to the baseline per seed and pooled over seeds, ST
    and MT, with the paired-bootstrap 95 % interval (its half-width: the smallest difference the
    test set resolves)."""
    from power import paired_delta, pooled_delta, sentence_stats

    def read(variant, seed, kind):
        path = hyps_dir / f"{variant}_s{seed}{'' if kind == 'st' else '.' + kind}.txt"
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else None

    seeds = sorted({r["seed"] for r in runs})
    variants = [v for v in dict.fromkeys(r["variant"] for r in runs) if v != baseline]
    header = [f"ST BLEU delta s{s}" for s in seeds] + [
        f"{kind} {metric} delta pooled [95% CI], p" for kind in ("ST", "MT") for metric in ("BLEU", "chrF")]
    lines = ["| variant | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    mdds = {"bleu": [], "chrf": []}
    for variant in variants:
        cells = []
        for seed in seeds:
            base, hyps = read(baseline, seed, "st"), read(variant, seed, "st")
            if base is None or hyps is None:
                cells.append("-")
                continue
            for metric in ("bleu", "chrf"):
                d = paired_delta(sentence_stats(base, references, metric), sentence_stats(hyps, references, metric),
                                 metric=metric)
                mdds[metric].append(d["mdd"])
                if metric == "bleu":
                    cells.append(f"{d['delta']:+.2f} (p {d['p_value']:.2f})")
        for kind in ("st", "mt"):
            pairs = [(read(baseline, s, kind), read(variant, s, kind)) for s in seeds]
            pairs = [(b, h) for b, h in pairs if b is not None and h is not None]
            for metric in ("bleu", "chrf"):
                if not pairs:
                    cells.append("-")
                    continue
                d = pooled_delta(pairs, references, metric=metric)
                cells.append(f"{d['delta']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}], "
                             f"p {d['p_value']:.3f} ({len(pairs)} seeds)")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    for metric, values in mdds.items():
        if values:
            lines.append("")
            lines.append(f"Minimal detectable ST {metric} difference of one seed's test set (half-width of "
                         f"the paired 95% interval, {len(references)} sentences): median {np.median(values):.2f}, "
                         f"range {min(values):.2f}-{max(values):.2f} over {len(values)} comparisons.")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.png")
    p.add_argument("--hyps", type=Path, help="the sweep's ablation_hyps directory: adds the paired "
                   "BLEU deltas to none, per seed and pooled (needs --references)")
    p.add_argument("--references", type=Path, help="the test manifest (tst-COMMON_st.tsv)")
    args = p.parse_args(argv)
    runs = [json.loads(line) for line in args.runs.read_text().splitlines() if line.strip()]
    text = table(runs)
    if args.hyps:
        from scoring import read_manifest

        refs = [r["tgt_text"] for r in read_manifest(args.references)]
        text += "\n\n" + power_table(runs, args.hyps, refs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(str(args.out) + ".md").write_text(text + "\n")
    plot(runs, Path(str(args.out) + ".png"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
