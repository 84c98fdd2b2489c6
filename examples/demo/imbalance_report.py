#!/usr/bin/env python3
"""A Markdown table from the runs of examples/demo/imbalance.py (OUT/imbalance.jsonl): one row
per (data, system), each cell the mean over seeds with the per-seed values.

    python examples/demo/imbalance_report.py --runs demo-imbalance/imbalance.jsonl
"""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation_report import _fmt  # noqa: E402

def run_shares(run):
    """Realised shares of the sentences over the whole run: the train_inner lines' share_* weighted
    by their sentences (bsz x updates of the interval); None for a run on ST triples alone."""
    totals, last = {"st": 0.0, "asr": 0.0, "mt": 0.0}, 0
    for update, values in run["train_curve"]:
        if "share_st" in values and "bsz" in values and update > last:
            for k in totals:
                totals[k] += values.get(f"share_{k}", 0.0) * values["bsz"] * (update - last)
            last = update
    n = sum(totals.values())
    return tuple(round(totals[k] / n, 3) for k in ("st", "asr", "mt")) if n else None


COLUMNS = [  # (header, getter)
    ("realised shares st / asr / mt", run_shares),
    ("ST BLEU", lambda r: r["scores"]["st_bleu_tst-COMMON"]["score"]),
    ("ST chrF", lambda r: r["scores"]["st_chrf_tst-COMMON"]["score"]),
    ("MT BLEU", lambda r: r["scores"]["mt_bleu_tst-COMMON"]["score"]),
    ("ASR WER %", lambda r: r["scores"]["asr_wer_tst-COMMON"]["score"]),
    ("MMD^2", lambda r: r["gap"]["mmd2_rbf"]),
    ("probe acc", lambda r: r["gap"]["probe_accuracy"]),
    ("ST vs none: p", lambda r: r["paired_tests"].get("st_vs_none", {}).get("p_value")),
    ("ST vs soft (paired game): p", lambda r: r["paired_tests"].get("st_vs_soft", {}).get("p_value")),
    ("ST vs same system, ST only: p", lambda r: r["paired_tests"].get("st_vs_st-only", {}).get("p_value")),
    ("MT vs same system, ST only: p", lambda r: r["paired_tests"].get("mt_vs_st-only", {}).get("p_value")),
]


def mt_paired_tests(runs, hyps_dir: Path, refs) -> None:
    """MT BLEU paired bootstrap of each run against the same system and seed on the ST triples
    alone (from the hypotheses imbalance.py keeps), stored as paired_tests["mt_vs_st-only"]."""
    from ablations import paired_test

    for run in runs:
        stem = f"{run['system']}_{{}}_s{run['seed']}.mt.txt"
        mine, base = hyps_dir / stem.format(run["data"].replace(":", "-")), hyps_dir / stem.format("st-only")
        if run["data"] != "st-only" and mine.is_file() and base.is_file():
            run["paired_tests"]["mt_vs_st-only"] = paired_test(
                base.read_text(encoding="utf-8").splitlines(), mine.read_text(encoding="utf-8").splitlines(), refs)


def table(runs) -> str:
    groups = defaultdict(list)
    for run in runs:
        groups[(run["data"], run["system"])].append(run)
    lines = ["| ASR:MT:ST | system | seeds | " + " | ".join(h for h, _ in COLUMNS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |"]
    for (data, system), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["seed"])
        cells = [_fmt([get(r) for r in rows]) for _, get in COLUMNS]
        seeds = ",".join(str(r["seed"]) for r in rows)
        lines.append(f"| {data} | {system} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, required=True, help="imbalance.jsonl")
    p.add_argument("--data", type=Path, help="the speech data directory (tst-COMMON_st.tsv): "
                   "with it, MT paired tests from the kept hypotheses beside --runs")
    args = p.parse_args(argv)
    runs = [json.loads(line) for line in args.runs.read_text().splitlines() if line.strip()]
    if args.data:
        from scoring import read_manifest

        refs = [r["tgt_text"] for r in read_manifest(args.data / "tst-COMMON_st.tsv")]
        mt_paired_tests(runs, args.runs.parent / "imbalance_hyps", refs)
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
