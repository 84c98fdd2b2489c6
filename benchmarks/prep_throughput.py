#!/usr/bin/env python3
"""MuST-C prep throughput: x-real-time and peak memory, 1 vs N workers, side by side.

    python benchmarks/prep_throughput.py                       # synthetic tone corpus
    python benchmarks/prep_throughput.py --data-root /tmp/mini # e.g. a built mini MuST-C

Each measurement is a fresh ``prepare_mustc`` run (outputs deleted first) in its own process, so
peak RSS is per run; runs of the configurations alternate and the medians are reported. Not a
test: numbers depend on the machine (docs/data.md records them).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("fbank80.zip", "prep_state.json", "config_st.yaml")


def audio_seconds(lang_root: Path) -> float:
    import yaml

    total = 0.0
    for y in (lang_root / "data").glob("*/txt/*.yaml"):
        total += sum(float(e["duration"]) for e in yaml.load(y.read_text(), Loader=yaml.CBaseLoader))
    return total


def clean(lang_root: Path) -> None:
    for p in lang_root.iterdir():
        if p.is_file() and (p.name in OUTPUTS or p.name.endswith("_st.tsv")
                            or p.name.startswith("spm_")):
            p.unlink()


def child(data_root: Path, lang: str, workers: int) -> None:
    sys.path.insert(0, str(REPO))
    from fairseq_salign.data.prep import prepare_mustc

    clean(data_root / f"en-{lang}")
    start = time.perf_counter()
    prepare_mustc(data_root, [lang], vocab_size=1000, num_workers=workers, progress=False)
    seconds = time.perf_counter() - start
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss / 1024}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, help="existing MuST-C-layout corpus (default: "
                   "a synthetic one in a temporary directory)")
    p.add_argument("--lang", default="de")
    p.add_argument("--segments", type=int, default=1500, help="synthetic corpus size")
    p.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._child:
        child(Path(args._child[0]), args._child[1], int(args._child[2]))
        return

    tmp = None
    if args.data_root is None:
        sys.path.insert(0, str(REPO / "tests"))
        from mustc_synth import make_synthetic_mustc

        tmp = Path(tempfile.mkdtemp(prefix="prep-bench-"))
        n = args.segments
        sizes = {"train": n - 3 * (n // 10), "dev": n // 10, "tst-COMMON": n // 10,
                 "tst-HE": n // 10}
        make_synthetic_mustc(tmp, args.lang, n_per_split=sizes, talks_per_split=12)
        args.data_root = tmp
    lang_root = args.data_root / f"en-{args.lang}"
    audio_s = audio_seconds(lang_root)
    print(f"corpus: {lang_root} ({audio_s / 60:.1f} min of segments); "
          f"{os.cpu_count()} CPUs; {args.repeats} runs per setting, alternating")
    results: dict[int, list[dict]] = {w: [] for w in args.workers}
    try:
        for _ in range(args.repeats):
            for w in args.workers:
                out = subprocess.run(
                    [sys.executable, __file__, "--_child", str(args.data_root), args.lang, str(w)],
                    capture_output=True, text=True, check=True)
                results[w].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp)
    print(f"{'workers':>7} {'median s':>9} {'x real time':>12} {'peak RSS MB':>12}")
    for w, runs in results.items():
        sec = statistics.median(r["seconds"] for r in runs)
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        print(f"{w:>7} {sec:>9.2f} {audio_s / sec:>12.0f} {rss:>12.0f}")


if __name__ == "__main__":
    main()
