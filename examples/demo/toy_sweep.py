#!/usr/bin/env python3
"""The adversarial game on the synthetic toy (fairseq_salign.analysis.toy_alignment), over
generator objectives, weights, modal-network inputs and mix-up, several seeds each; writes
OUT/toy_sweep.json and a Markdown table (mean and range over seeds) for docs/ablations.md.

    python examples/demo/toy_sweep.py --out demo/toy --seeds 1 2 3
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fairseq_salign.analysis.toy_alignment import ToyConfig, run  # noqa: E402

CONFIGS = {  # name -> ToyConfig fields (task_weight 0: the adversarial module alone)
    "generator off": dict(adversarial_weight=0.0),
    "uniform, w 1 (authors' objective)": dict(),
    "uniform, w 0.25": dict(adversarial_weight=0.25),
    "uniform, w 4": dict(adversarial_weight=4.0),
    "uniform, raw input (authors' network)": dict(modal_input_norm="none"),
    "text target": dict(generator_target="text"),
    "feature matching": dict(generator_target="features"),
    "uniform + mix-up (discriminator)": dict(mixup_prob=0.5),
    "uniform + mix-up (replace, authors')": dict(mixup_prob=0.5, mixup_mode="replace"),
    "with task: generator off": dict(adversarial_weight=0.0, task_weight=1.0),
    "with task: uniform, w 1": dict(task_weight=1.0),
    "with task: feature matching": dict(generator_target="features", task_weight=1.0),
}
COLUMNS = ("probe_accuracy", "mmd2_rbf", "paired_distance", "disc_acc_speech", "disc_acc_text")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, fields in CONFIGS.items():
        results[name] = [run(ToyConfig(steps=args.steps, seed=seed, **fields)) for seed in args.seeds]
        print(name, json.dumps(results[name]), flush=True)
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
