"""What the manifest check costs ``fairseq-train``'s start-up on a real prepared corpus, paired.

fairseq-train's start-up differs with and without the check only where the task loads a split
(``task.load_dataset``: the manifest is read, checked, and the dataset built). This loads the
train and dev splits of a prepared directory (default: the demo's, ``demo/mini/en-de``) through
the task as fairseq-train builds it, alternately with the check and with ``check_rows`` replaced
by a pass-through, ``--rounds`` times in one process (file contents cached after the warm-up
round), and reports medians, the median of the per-round differences and its spread.

    .venv/bin/python benchmarks/startup_cost.py [--data demo/mini/en-de] [--rounds 15]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_task(data: Path):
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    argv = [str(data), "--user-dir", str(REPO / "fairseq_salign"), "--task", "speech_to_text_salign",
            "--arch", "s2t_salign_xs", "--criterion", "salign", "--cpu"]
    args = options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
    return tasks.setup_task(convert_namespace_to_omegaconf(args).task)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO / "demo" / "mini" / "en-de")
    p.add_argument("--splits", nargs="+", default=["train_st", "dev_st"])
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    if not (args.data / "config_st.yaml").is_file():
        raise SystemExit(f"{args.data}: no prepared data (run `make demo` first, or give --data)")
    from fairseq_salign.data import manifest_check

    task = build_task(args.data)
    real = manifest_check.check_rows

    def load(checked: bool) -> float:
        manifest_check.check_rows = real if checked else (lambda manifest, rows, lines, **kw: rows)
        try:
            start = time.perf_counter()
            for split in args.splits:
                task.load_dataset(split)
            return time.perf_counter() - start
        finally:
            manifest_check.check_rows = real

    load(True), load(False)  # warm-up: imports, page cache
    on, off = [], []
    for r in range(args.rounds):
        order = (True, False) if r % 2 == 0 else (False, True)
        for checked in order:
            (on if checked else off).append(load(checked))
    diffs = sorted(a - b for a, b in zip(on, off))
    rows = sum(len(manifest_check.read_manifest(args.data / f"{s}.tsv")[0]) for s in args.splits)
    q = lambda f: diffs[min(len(diffs) - 1, int(f * len(diffs)))]  # noqa: E731
    print(f"{args.data}: {', '.join(args.splits)} ({rows} rows), {args.rounds} paired rounds")
    print(f"  load_dataset with the check     median {statistics.median(on) * 1000:7.1f} ms")
    print(f"  load_dataset without it         median {statistics.median(off) * 1000:7.1f} ms")
    print(f"  paired difference               median {statistics.median(diffs) * 1000:+7.1f} ms "
          f"(10-90%: {q(0.1) * 1000:+.1f} .. {q(0.9) * 1000:+.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
