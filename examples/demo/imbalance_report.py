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

COLUMNS = [  # (header, getter)
    ("realised shares st / asr / mt", lambda r: tuple(r["realised_shares"].get(k, 0.0) for k in ("st", "asr", "mt"))),
    ("ST BLEU", lambda r: r["scores"]["st_bleu_tst-COMMON"]["score"]),
    ("ST chrF", lambda r: r["scores"]["st_chrf_tst-COMMON"]["score"]),
    ("MT BLEU", lambda r: r["scores"]["mt_bleu_tst-COMMON"]["score"]),
    ("ASR WER %", lambda r: r["scores"]["asr_wer_tst-COMMON"]["score"]),
    ("MMD^2", lambda r: r["gap"]["mmd2_rbf"]),
    ("probe acc", lambda r: r["gap"]["probe_accuracy"]),
    ("ST vs none: p", lambda r: r["paired_tests"].get("st_vs_none", {}).get("p_value")),
    ("ST vs soft (paired game): p", lambda r: r["paired_tests"].get("st_vs_soft", {}).get("p_value")),
    ("ST vs same system, ST only: p", lambda r: r["paired_tests"].get("st_vs_st-only", {}).get("p_value")),
]


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
    args = p.parse_args(argv)
    runs = [json.loads(line) for line in args.runs.read_text().splitlines() if line.strip()]
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
