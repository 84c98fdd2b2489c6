#!/usr/bin/env python3
"""Alignment objectives on the synthetic toy (fairseq_salign.analysis.toy_alignment): the
game with the modal network in its own Adam group or in the task's, distribution matching without
an adversary, each with and without a (shared-head) task, several seeds each, judged on the last
and on the averaged (EMA) weights; writes OUT/toy_sweep_runs.jsonl (every run, appended as it
finishes, so a cut-off sweep resumes), OUT/toy_sweep.json and a Markdown table (mean and range over seeds) for docs/ablations.md.

    python examples/demo/toy_sweep.py --out docs/ablations --seeds 1 2 3
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fairseq_salign.analysis.toy_alignment import ToyConfig, run  # noqa: E402
from sweep import Sweep  # noqa: E402

GAMES = {  # name -> ToyConfig fields, without and with the task
    "generator off": dict(adversarial_weight=0.0),
    "soft, one Adam (task's momentum)": dict(optimizer="adam"),
    "soft, own group (beta1 0)": dict(),
    "soft, own group, beta1 0.5": dict(modal_adam_betas="(0.5, 0.98)"),
    "moments": dict(adversarial_weight=0.0, matching="moments"),
    "mmd": dict(adversarial_weight=0.0, matching="mmd"),
    "swd": dict(adversarial_weight=0.0, matching="swd"),
    "soft (own group) + moments": dict(matching="moments"),
}
CONFIGS = {**GAMES, **{f"with task: {k}": dict(v, task_weight=1.0) for k, v in GAMES.items()}}
COLUMNS = ("probe_accuracy", "ema_probe_accuracy", "mmd2_rbf", "ema_mmd2_rbf", "disc_acc_speech",
           "disc_acc_text", "speech_token_accuracy")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--steps", type=int, default=ToyConfig.steps)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = Sweep(args.out / "toy_sweep_runs.jsonl")  # a re-run resumes from the runs recorded
    for seed, name, steps in runs.pending(args.seeds, name=list(CONFIGS), steps=[args.steps]):
        result = run(ToyConfig(steps=steps, seed=seed, **CONFIGS[name]))
        runs.record({"name": name, "seed": seed, "steps": steps, "result": result})
        print(name, seed, json.dumps(result), flush=True)
    done = {(r["name"], r["seed"], r["steps"]): r["result"] for r in runs.records}
    results = {name: [done[(name, seed, args.steps)] for seed in args.seeds] for name in CONFIGS}
    lines = ["| configuration | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, runs in results.items():
        cells = []
        for key in COLUMNS:
            values = np.array([r[key] for r in runs])
            cells.append(f"{values.mean():.3f} ({values.min():.3f}-{values.max():.3f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    (args.out / "toy_sweep.json").write_text(json.dumps({"seeds": args.seeds, "steps": args.steps,
                                                         "results": results}, indent=1))
    (args.out / "toy_sweep.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
