#!/usr/bin/env python3
"""What S-Align costs, measured side by side (`make bench`; issue 6).

1. Training step time and peak memory: ``s2t_salign`` with ``--alignment soft`` (generator loss
   on from update 0; mix-up in every batch and in none, the default 0.3 being their mix), the
   same model with ``--alignment none`` (ST + MT + CTC), and fairseq's stock
   ``s2t_transformer_s`` (12 = 8 A-enc + 4 T-enc encoder layers, 256 wide, same 6-layer decoder,
   tied embeddings) with ``label_smoothed_cross_entropy``.
   A step is fairseq's own ``Trainer.train_step``: forward, backward, clip-norm, Adam update,
   learning-rate schedule and logging, exactly what ``fairseq-train`` runs per update.
2. Beam search (beam 5) of the S-Align model in ST mode vs the stock model, through
   ``task.build_generator`` and ``task.inference_step``; ``min_len = max_len`` makes both
   untrained models emit the same number of tokens, so both run the same number of steps.
3. Data-prep throughput: ``benchmarks/prep_throughput.py``, called as is.

Each system lives in its own worker process (so peak RSS is per system) and all workers are
built before timing starts; the parent then interleaves them: every round gives each system one
step on the same batch, the order rotating between rounds. Warm-up rounds are not timed;
medians over the timed rounds are reported, and ratios both as ratio of medians and as the
median of the per-round ratios (robust when the machine is shared). Inputs are random 80-dim
features of MuST-C length (~6 s = ~600 frames) with random targets over an 8k vocabulary, the
same tensors for every system. Runs on the GPU when torch sees one, on the CPU otherwise.
Not a test: numbers depend on the machine (docs/benchmarks.md records them).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Worker, describe_machine, interleave, med, paired  # noqa: E402
from inputs import VOCAB_SIZE, make_batches, write_data_dir  # noqa: E402

from systems import REPO, optimization, salign, soft_alignment, stock  # noqa: E402

# name -> (label, fairseq-train arguments after the data directory)
OPTIMIZATION = optimization()
SALIGN = salign("s2t_salign_s")
STOCK = stock("s2t_transformer_s")
SYSTEMS = {
    "soft-mix1": ("S-Align soft, mix-up every batch", SALIGN + soft_alignment(mixup_prob=1)),
    "soft-mix0": ("S-Align soft, no mix-up", SALIGN + soft_alignment(mixup_prob=0)),
    "none": ("same model, --alignment none", SALIGN + ["--alignment", "none"]),
    "stock": ("stock s2t_transformer_s + LS-CE", STOCK),
}
# decoding: key -> (worker, label, variant; None: the model as shipped). The S-Align model is the same in every alignment
# mode, so the "none" worker decodes.
DECODERS = {
    "salign": ("none", "S-Align, ST mode", None),
    "stock": ("stock", "stock s2t_transformer_s", None),
}
DEFAULT_MIXUP_PROB = 0.3


def run_prep(segments: int, repeats: int) -> tuple[str, list]:
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "prep_throughput.py"),
         "--segments", str(segments), "--repeats", str(repeats)],
        capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0].isdigit():
            rows.append({"workers": int(parts[0]), "seconds": float(parts[1]),
                         "xrt": float(parts[2]), "rss": float(parts[3])})
    return out, rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, help="utterances per batch (default 8 on CPU, "
                   "48 on GPU: ~29k frames, two thirds of the README's --max-tokens 40000)")
    p.add_argument("--batches", type=int, default=3, help="distinct batches, cycled")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    p.add_argument("--repeats", type=int, help="timed training rounds (default 9 CPU, 30 GPU)")
    p.add_argument("--decode-repeats", type=int, help="timed decoding rounds (default 5 CPU, 20 GPU)")
    p.add_argument("--budget", type=float, default=420, help="seconds: no new training round "
                   "starts after 45%% of it (beyond 3 timed ones), no decoding round after 70%% "
                   "(beyond 2); the data-prep benchmark then takes about a minute")
    p.add_argument("--decode-len", type=int, default=30, help="tokens every hypothesis gets")
    p.add_argument("--prep-segments", type=int, default=1000)
    p.add_argument("--prep-repeats", type=int, default=2)
    p.add_argument("--skip-prep", action="store_true")
    p.add_argument("--profile", choices=sorted(SYSTEMS), help="instead: torch.profiler table of "
                   "a few training steps of one system (printed from its log)")
    args = p.parse_args()

    import torch

    t_start = time.perf_counter()
    cuda, _ = describe_machine()
    bsz = args.batch_size or (48 if cuda else 8)
    repeats = args.repeats or (30 if cuda else 9)
    decode_repeats = args.decode_repeats or (20 if cuda else 5)

    tmp = Path(tempfile.mkdtemp(prefix="salign-bench-"))
    write_data_dir(tmp)
    batches = make_batches(args.batches, bsz, seed=1)
    torch.save(batches, tmp / "batches.pt")
    frames = [int(b["net_input"]["src_lengths"].float().mean()) for b in batches]
    print(f"batches: {args.batches} x {bsz} utterances, mean {med(frames)} frames "
          f"(480-720, ~{med(frames) / 100:.1f} s), ~30 target / ~25 transcript pieces, "
          f"vocabulary {VOCAB_SIZE}; worker logs in {tmp} (removed on success)")

    names = [args.profile] if args.profile else list(SYSTEMS)
    workers = {n: Worker({"name": n, "argv": [str(tmp), *SYSTEMS[n][1], *OPTIMIZATION],
                          "batches": str(tmp / "batches.pt"), "decode_len": args.decode_len,
                          "drop_transcripts": n == "stock"}, tmp) for n in names}
    try:
        info = {n: w.read() for n, w in workers.items()}
        print(f"workers ready after {time.perf_counter() - t_start:.0f} s; "
              f"torch threads per worker: {info[names[0]]['threads']}")
        if args.profile:
            workers[args.profile].ask(op="profile", steps=4, rows=30)
            workers[args.profile].close()
            print(workers[args.profile].log.read_text())
            shutil.rmtree(tmp)
            return
        train = interleave({n: (workers[n], {}) for n in names}, "train", args.warmup, repeats,
                           args.batches, t_start + 0.45 * args.budget)
        memory = {n: workers[n].ask(op="memory") for n in names}
        decode = interleave({k: (workers[w], {"variant": v}) for k, (w, _, v) in DECODERS.items()},
                            "decode", 1, decode_repeats, args.batches,
                            t_start + 0.7 * args.budget, min_repeats=2)
    finally:
        for w in workers.values():
            w.close()
    shutil.rmtree(tmp)
    print(f"timing done after {time.perf_counter() - t_start:.0f} s")

    # -- training table
    print(f"\n== Training step (fairseq Trainer.train_step: forward + backward + clip + Adam), "
          f"{len(train[names[0]])} interleaved rounds after {args.warmup} warm-up")
    mem_head = "peak CUDA MB" if cuda else "peak RSS MB"
    print(f"{'system':<36} {'params':>7} {'median s':>9} {'min s':>7} {'max s':>7} "
          f"{mem_head:>12} {'growth MB':>10}")
    for n in names:
        t, m = train[n], memory[n]
        peak = m["cuda_peak_mb"] if cuda else m["peak_rss_mb"]
        growth = m["cuda_peak_mb"] if cuda else m["peak_rss_mb"] - m["rss_built_mb"]
        print(f"{SYSTEMS[n][0]:<36} {info[n]['params'] / 1e6:>6.1f}M {med(t):>9.3f} "
              f"{min(t):>7.3f} {max(t):>7.3f} {peak:>12.0f} {growth:>10.0f}")
    q = DEFAULT_MIXUP_PROB
    soft_default = [(1 - q) * a + q * b for a, b in zip(train["soft-mix0"], train["soft-mix1"])]
    print(f"{'S-Align soft, mix-up p=0.3 (expected)':<36} {'':>7} {med(soft_default):>9.3f}"
          f"   = 0.7 x no mix-up + 0.3 x mix-up, per round")
    print("growth: peak RSS minus RSS once built (CPU); on GPU the peak allocated by torch")

    # -- decoding table
    print(f"\n== Beam search, beam 5, exactly {args.decode_len} tokens + </s> per hypothesis, "
          f"{len(decode['stock'])} interleaved rounds after 1 warm-up")
    print(f"{'model':<36} {'median s/batch':>15} {'sentences/s':>12} {'encoder alone s':>16}")
    for k, (_, label, _) in DECODERS.items():
        print(f"{label:<36} {med(decode[k]):>15.3f} {bsz / med(decode[k]):>12.2f} "
              f"{med(decode[k + ':encoder']):>16.3f}")
    print("encoder alone: one encoder forward of the batch (no_grad), timed before the search")

    # -- prep
    prep_rows = []
    if not args.skip_prep:
        print(f"\n== Data prep: benchmarks/prep_throughput.py --segments {args.prep_segments} "
              f"--repeats {args.prep_repeats}")
        out, prep_rows = run_prep(args.prep_segments, args.prep_repeats)
        print(out.rstrip())

    # -- ratios
    rows = []

    def ratio(label, a, b, target=None):
        r_med, r_pair = med(a) / med(b), paired(a, b)
        ok = "" if target is None else ("met" if r_pair <= target else "MISSED")
        rows.append((label, f"{r_med:.2f}", f"{r_pair:.2f}",
                     "" if target is None else f"<= {target:.2f}", ok))

    ratio("step: soft (p=0.3) / none", soft_default, train["none"], 1.35)
    ratio("step: soft, mix-up every batch / none", train["soft-mix1"], train["none"], 1.35)
    ratio("step: soft, no mix-up / none", train["soft-mix0"], train["none"])
    ratio("step: none / stock", train["none"], train["stock"])
    ratio("step: soft (p=0.3) / stock", soft_default, train["stock"])
    if cuda:
        rows.append(("peak memory: soft mix-up / none",
                     f"{memory['soft-mix1']['cuda_peak_mb'] / memory['none']['cuda_peak_mb']:.2f}",
                     "", "", ""))
    ratio("decode time: S-Align / stock", decode["salign"], decode["stock"], 1.10)
    ratio("encoder alone: S-Align / stock", decode["salign:encoder"], decode["stock:encoder"])
    if prep_rows:
        best = max(prep_rows, key=lambda r: r["workers"])
        rows.append((f"prep x real time ({best['workers']} workers)", f"{best['xrt']:.0f}", "",
                     ">= 100", "met" if best["xrt"] >= 100 else "MISSED"))
    print("\n== Ratios (time ratios: ratio of medians, and median of per-round ratios; the "
          "target is checked on the latter)")
    print(f"{'quantity':<40} {'medians':>8} {'paired':>7} {'target':>8} {'':>6}")
    for label, a, b, c, d in rows:
        print(f"{label:<40} {a:>8} {b:>7} {c:>8} {d:>6}")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
