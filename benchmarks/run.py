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
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VOCAB_SIZE = 8000  # the MuST-C recipe's spm_unigram8000
FEATURES = 80

# name -> (label, fairseq-train arguments after the data directory)
OPTIMIZATION = [
    "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--lr", "2e-3",
    "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "4000", "--clip-norm", "10",
    "--label-smoothing", "0.1", "--max-tokens", "100000", "--seed", "1",
]
SALIGN = ["--user-dir", str(REPO / "fairseq_salign"), "--task", "speech_to_text_salign",
          "--arch", "s2t_salign_s", "--criterion", "salign"]
STOCK = ["--task", "speech_to_text", "--config-yaml", "config_st.yaml", "--arch", "s2t_transformer_s",
         "--share-decoder-input-output-embed", "--criterion", "label_smoothed_cross_entropy"]
SYSTEMS = {
    "soft-mix1": ("S-Align soft, mix-up every batch",
                  SALIGN + ["--alignment", "soft", "--adversarial-warmup-updates", "0",
                            "--mixup-prob", "1"]),
    "soft-mix0": ("S-Align soft, no mix-up",
                  SALIGN + ["--alignment", "soft", "--adversarial-warmup-updates", "0",
                            "--mixup-prob", "0"]),
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


# ---------------------------------------------------------------------------------------------
# inputs
def write_data_dir(root: Path) -> None:
    """The smallest directory fairseq's speech-to-text tasks accept: config + dictionary."""
    with open(root / "dict.txt", "w") as f:
        for i in range(VOCAB_SIZE - 4):  # fairseq adds <s> <pad> </s> <unk>
            f.write(f"tok{i} 1\n")
    (root / "config_st.yaml").write_text(
        f"input_feat_per_channel: {FEATURES}\ninput_channels: 1\nvocab_filename: dict.txt\n"
    )


def make_batches(n_batches: int, batch_size: int, seed: int) -> list:
    """Random fbank-like features of MuST-C length and random tokens, collated as fairseq's
    joint speech/text dataset does (targets end in </s>, prev_output_tokens start with it)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    pad, eos, first = 1, 2, 4
    batches = []

    def tokens(lengths):
        out = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
        for i, n in enumerate(lengths):
            out[i, : n - 1] = torch.randint(first, VOCAB_SIZE, (n - 1,), generator=g)
            out[i, n - 1] = eos
        return out

    def lengths(lo, hi):
        return sorted((int(x) for x in torch.randint(lo, hi + 1, (batch_size,), generator=g)),
                      reverse=True)

    for b in range(n_batches):
        frames = lengths(480, 720)  # 4.8-7.2 s, MuST-C's typical segment
        feats = torch.zeros(batch_size, frames[0], FEATURES)
        for i, n in enumerate(frames):
            feats[i, :n] = torch.randn(n, FEATURES, generator=g)
        tgt_len = [n // 20 for n in frames]  # ~30 target pieces per 6 s
        src_len = [n // 24 for n in frames]  # ~25 transcript pieces
        target = tokens(tgt_len)
        prev = torch.full_like(target, pad)
        for i, n in enumerate(tgt_len):
            prev[i, 0] = eos
            prev[i, 1:n] = target[i, : n - 1]
        batches.append({
            "id": torch.arange(b * batch_size, (b + 1) * batch_size),
            "net_input": {
                "src_tokens": feats,
                "src_lengths": torch.tensor(frames),
                "prev_output_tokens": prev,
                "src_txt_tokens": tokens(src_len),
                "src_txt_lengths": torch.tensor(src_len),
            },
            "target": target,
            "target_lengths": torch.tensor(tgt_len),
            "ntokens": sum(tgt_len),
            "nsentences": batch_size,
        })
    return batches


# ---------------------------------------------------------------------------------------------
# worker: one system, driven over stdin/stdout
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(name: str, data: Path, batches_path: Path, decode_len: int) -> None:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to stderr, not into the protocol
    import torch
    from argparse import Namespace

    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    cuda = torch.cuda.is_available()
    argv = [str(data), *SYSTEMS[name][1], *OPTIMIZATION, *([] if cuda else ["--cpu"])]
    args = options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, model, criterion)
    trainer.optimizer  # built now, not inside the first (untimed) step
    batches = torch.load(batches_path, weights_only=True)
    if name == "stock":  # its model takes no transcripts; S-Align's criterion reads them
        for b in batches:
            b["net_input"] = {k: v for k, v in b["net_input"].items() if not k.startswith("src_txt")}
    n_params = sum(p.numel() for p in model.parameters())
    n_params += sum(p.numel() for p in criterion.parameters())
    generator = None

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def reply(**msg):
        proto.write(json.dumps(msg) + "\n")

    rss_built = peak_rss_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    reply(ready=True, params=n_params, threads=torch.get_num_threads(),
          device=torch.cuda.get_device_name() if cuda else "cpu")
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        if op == "train":
            sample = batches[msg["batch"]]
            sync()
            start = time.perf_counter()
            trainer.train_step([sample])
            sync()
            reply(seconds=time.perf_counter() - start)
        elif op == "memory":
            reply(rss_built_mb=rss_built, peak_rss_mb=peak_rss_mb(),
                  cuda_peak_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None)
        elif op == "decode":
            if generator is None:
                gen_args = Namespace(beam=5, max_len_a=0, max_len_b=decode_len,
                                     min_len=decode_len, prefix_size=0)
                generator = task.build_generator([trainer.model], gen_args)
            batch = batches[msg["batch"]]
            sample = {"id": batch["id"], "net_input": {
                k: batch["net_input"][k] for k in ("src_tokens", "src_lengths")}}
            if cuda:
                sample = utils.move_to_cuda(sample)
            trainer.model.eval()
            encoder = trainer.model.encoder
            with torch.no_grad():  # the encoder alone, to attribute the difference
                sync()
                start = time.perf_counter()
                encoder(**sample["net_input"])
                sync()
                encoder_seconds = time.perf_counter() - start
            sync()
            start = time.perf_counter()
            hypos = task.inference_step(generator, [trainer.model], sample)
            sync()
            seconds = time.perf_counter() - start
            lengths = {len(h[0]["tokens"]) for h in hypos}
            if lengths != {decode_len + 1}:
                raise RuntimeError(f"{name}: hypothesis lengths {lengths}, expected {decode_len + 1}")
            reply(seconds=seconds, encoder_seconds=encoder_seconds)
        elif op == "profile":
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
            with profile(activities=activities) as prof:
                for i in range(msg["steps"]):
                    trainer.train_step([batches[i % len(batches)]])
                sync()
            sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
            print(prof.key_averages().table(sort_by=sort, row_limit=msg["rows"]), file=sys.stderr)
            reply(done=True)
        elif op == "quit":
            reply(bye=True)
            return


class Worker:
    def __init__(self, name: str, data: Path, batches: Path, decode_len: int, log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--_worker", name, str(data), str(batches), str(decode_len)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "w"), text=True)

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            tail = self.log.read_text()[-4000:]
            raise RuntimeError(f"worker {self.name} exited {self.proc.returncode}:\n{tail}")
        return json.loads(line)

    def ask(self, **msg) -> dict:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask(op="quit")
            except (RuntimeError, BrokenPipeError):
                pass
        self.proc.wait()


# ---------------------------------------------------------------------------------------------
# parent
def rotated(names, r):
    names = list(names)
    k = r % len(names)
    return names[k:] + names[:k]


def interleave(entries: dict, op: str, warmup: int, repeats: int, n_batches: int,
               deadline: float, min_repeats: int = 3) -> dict:
    """``entries``: key -> (worker, extra message). Round r: every entry runs batch
    r % n_batches, in an order rotated by r; the first ``warmup`` rounds are not kept. After
    ``deadline`` (a perf_counter time) no new round starts beyond ``min_repeats`` timed ones, so
    that `make bench` stays within its 10 minutes on a busy machine."""
    times = {k: [] for k in entries}
    for r in range(warmup + repeats):
        if r >= warmup + min_repeats and time.perf_counter() > deadline:
            break
        for k in rotated(entries, r):
            w, extra = entries[k]
            reply = w.ask(op=op, batch=r % n_batches, **extra)
            if r >= warmup:
                times[k].append(reply["seconds"])
                if "encoder_seconds" in reply:
                    times.setdefault(k + ":encoder", []).append(reply["encoder_seconds"])
    return times


def med(xs):
    return statistics.median(xs)


def paired(a: list, b: list) -> float:
    return med([x / y for x, y in zip(a, b)])


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
    p.add_argument("--_worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._worker:
        name, data, batches, decode_len = args._worker
        worker(name, Path(data), Path(batches), int(decode_len))
        return

    import torch

    cuda = torch.cuda.is_available()
    bsz = args.batch_size or (48 if cuda else 8)
    repeats = args.repeats or (30 if cuda else 9)
    decode_repeats = args.decode_repeats or (20 if cuda else 5)
    device = torch.cuda.get_device_name() if cuda else f"CPU, {os.cpu_count()} cores"
    t_start = time.perf_counter()
    print(f"machine: {platform.node()} {platform.machine()}, {device}; Python "
          f"{platform.python_version()}, torch {torch.__version__}")

    tmp = Path(tempfile.mkdtemp(prefix="salign-bench-"))
    write_data_dir(tmp)
    batches = make_batches(args.batches, bsz, seed=1)
    torch.save(batches, tmp / "batches.pt")
    frames = [int(b["net_input"]["src_lengths"].float().mean()) for b in batches]
    print(f"batches: {args.batches} x {bsz} utterances, mean {med(frames)} frames "
          f"(480-720, ~{med(frames) / 100:.1f} s), ~30 target / ~25 transcript pieces, "
          f"vocabulary {VOCAB_SIZE}; worker logs in {tmp} (removed on success)")

    names = [args.profile] if args.profile else list(SYSTEMS)
    workers = {n: Worker(n, tmp, tmp / "batches.pt", args.decode_len, tmp) for n in names}
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
