#!/usr/bin/env python3
"""What a HuBERT-Base front end costs against fbank, at an equal batch of audio (`make bench`).

Three systems, each fairseq's own ``Trainer.train_step`` (forward, backward, clip, Adam) of
``s2t_salign_s`` with ``--alignment soft`` on the same utterances, targets and transcripts:

* ``fbank``: 80-dim frames -> conv subsampling -> 8 A-enc layers (the plugin's default);
* ``hubert-frozen``: 16 kHz waveforms -> a HuBERT-Base-shaped model (random weights, the real
  dimensions: 7 conv layers of 512, 12 layers of 768/3072, 94.6M parameters) -> 768 -> 256, no
  extra A-enc layers, while it is frozen (``--ssl-freeze-updates``: the authors' first 3000
  updates);
* ``hubert-finetune``: the same after unfreezing (its conv feature extractor stays frozen, as in
  fairseq's fine-tuning and the authors' setting).

Workers and interleaving as in ``run.py`` (``harness.py``): every system in its own process
(peak RSS per system), one step each per round in rotating order, medians and per-round ratios.
Not a test: numbers depend on the machine (docs/benchmarks.md records them).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Worker, describe_machine, interleave, med, paired  # noqa: E402
from inputs import as_waveform_batches, make_batches, write_data_dir, write_waveform_data_dir  # noqa: E402

from systems import optimization, salign, soft_alignment, ssl_front_end  # noqa: E402

COMMON = [*salign("s2t_salign_s"), *soft_alignment(),
          *optimization(lr=2e-4, max_tokens=10000000), "--max-source-positions", "100000"]


def systems(ssl: Path, shape: str) -> dict:
    hubert = ssl_front_end(ssl, "hubert")
    return {
        "fbank": ("fbank + conv + 8 A-enc layers", False, []),
        "hubert-frozen": (f"HuBERT-{shape}, frozen", True, hubert + ["--ssl-freeze-updates", "1000000000"]),
        "hubert-finetune": (f"HuBERT-{shape}, fine-tuned", True, hubert),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, help="utterances per batch (default 4 on CPU, 16 on GPU)")
    p.add_argument("--batches", type=int, default=2, help="distinct batches, cycled")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds")
    p.add_argument("--repeats", type=int, help="timed rounds (default 5 CPU, 20 GPU)")
    p.add_argument("--budget", type=float, default=300, help="seconds: no new round after it "
                   "(beyond 3 timed ones)")
    p.add_argument("--shape", default="base", choices=["tiny", "base", "large"],
                   help="shape of the random SSL model (tiny: a quick check of this script)")
    args = p.parse_args()

    import torch
    from fairseq.checkpoint_utils import torch_persistent_save

    from fairseq_salign.pretrained_ssl.random_checkpoint import random_ssl_state

    t_start = time.perf_counter()
    cuda, _ = describe_machine()
    bsz = args.batch_size or (16 if cuda else 4)
    repeats = args.repeats or (20 if cuda else 5)
    tmp = Path(tempfile.mkdtemp(prefix="salign-bench-frontend-"))
    write_data_dir(tmp)
    write_waveform_data_dir(tmp / "waveform")
    ssl = tmp / f"hubert_{args.shape}_random.pt"
    torch_persistent_save(random_ssl_state("hubert", args.shape), str(ssl))
    batches = make_batches(args.batches, bsz, seed=1)
    torch.save(batches, tmp / "fbank.pt")
    torch.save(as_waveform_batches(batches, seed=2), tmp / "waveform.pt")
    seconds = med([float(b["net_input"]["src_lengths"].float().mean()) / 100 for b in batches])
    print(f"batches: {args.batches} x {bsz} utterances, mean {seconds:.1f} s of audio each "
          f"(as 80-dim frames or 16 kHz samples), ~30 target / ~25 transcript pieces; "
          f"random HuBERT ({args.shape} shape); worker logs in {tmp} (removed on success)")

    table = systems(ssl, args.shape)
    workers = {}
    try:
        for name, (_, wave, extra) in table.items():
            data = tmp / "waveform" if wave else tmp
            workers[name] = Worker({"name": name, "argv": [str(data), *COMMON, *extra],
                                    "batches": str(tmp / ("waveform.pt" if wave else "fbank.pt"))}, tmp)
        info = {n: w.read() for n, w in workers.items()}
        print(f"workers ready after {time.perf_counter() - t_start:.0f} s; torch threads per "
              f"worker: {info['fbank']['threads']}")
        train = interleave({n: (w, {}) for n, w in workers.items()}, "train", args.warmup,
                           repeats, args.batches, t_start + args.budget)
        memory = {n: w.ask(op="memory") for n, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()
    shutil.rmtree(tmp)

    print(f"\n== Training step (fairseq Trainer.train_step), {len(train['fbank'])} interleaved "
          f"rounds after {args.warmup} warm-up, {bsz} utterances per batch")
    mem_head = "peak CUDA MB" if cuda else "peak RSS MB"
    print(f"{'front end':<32} {'params':>7} {'trained':>8} {'median s':>9} {'min s':>7} "
          f"{'max s':>7} {mem_head:>12} {'growth MB':>10}")
    for n, (label, _, _) in table.items():
        t, m = train[n], memory[n]
        peak = m["cuda_peak_mb"] if cuda else m["peak_rss_mb"]
        growth = m["cuda_peak_mb"] if cuda else m["peak_rss_mb"] - m["rss_built_mb"]
        print(f"{label:<32} {info[n]['params'] / 1e6:>6.1f}M {info[n]['trainable'] / 1e6:>7.1f}M "
              f"{med(t):>9.3f} {min(t):>7.3f} {max(t):>7.3f} {peak:>12.0f} {growth:>10.0f}")
    print("trained: parameters that require grad at the start (a frozen SSL model still "
          "requires grad, docs/pretrained-encoders.md); growth: peak RSS minus RSS once built (CPU)")
    print(f"\n{'ratio (paired: median of per-round ratios)':<44} {'medians':>8} {'paired':>7}")
    for a in ("hubert-frozen", "hubert-finetune"):
        print(f"{'step: ' + a + ' / fbank':<44} {med(train[a]) / med(train['fbank']):>8.2f} "
              f"{paired(train[a], train['fbank']):>7.2f}")
    print(f"{'step: hubert-finetune / hubert-frozen':<44} "
          f"{med(train['hubert-finetune']) / med(train['hubert-frozen']):>8.2f} "
          f"{paired(train['hubert-finetune'], train['hubert-frozen']):>7.2f}")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
