#!/usr/bin/env python3
"""GPU readiness: stage-2 S-Align training in fp32, fp16, AMP and bf16, checked and timed.

For each precision, three systems train side by side on the same synthetic batches of MuST-C
length (4.8-7.2 s utterances, ~30 target and ~25 transcript pieces, 8k vocabulary), each in its
own worker process through fairseq's own ``Trainer.train_step`` (``harness.py``, ``worker.py``):

* ``salign-fbank``: ``s2t_salign_m``, stage 2 (ST + MT + CTC), ``--alignment soft`` from update 0;
* ``salign-hubert``: the same with the largest SSL front end of ``random_checkpoint.py``
  (HuBERT-Large shape, random weights, fine-tuned from update 0, waveform input);
* ``stock``: fairseq's ``s2t_transformer_m`` (same 12 encoder layers of 512, 6 decoder layers).

Checked (a failed check makes the exit status 1; the tables are written either way): every
logged loss finite at every update; under ``--fp16``/``--amp`` no loss-scale collapse (final
scale and the share of overflow-skipped updates); the modal network's BCE and the CTC loss
computed in fp32 (observed on a real step by ``dtype_spy.py``); beam-search scores finite.
Reported: median step time, target tokens/s and audio seconds/s, peak memory, FLOPs of a step
counted by ``torch.utils.flop_counter`` and MFU against the device's spec peak (``peak.py``) and
against a measured matmul, the S-Align/stock step ratio (paired rounds), and beam-search speed.

A precision the machine or fairseq cannot run is reported as skipped with the error it raised
(``--fp16`` needs CUDA in fairseq; fairseq's ``--bf16`` implies ``--tpu``); on CUDA, fp32, fp16
and AMP must build. Without CUDA (or with ``--tiny``) every size is tiny: a check of the script
on a CPU, not a measurement. Writes ``gpu_check.json`` and ``gpu_check.md`` in ``--out``.
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_report import write_report  # noqa: E402
from harness import Worker, describe_machine, interleave, med, paired  # noqa: E402
from inputs import as_waveform_batches, make_batches, write_data_dir, write_waveform_data_dir  # noqa: E402
from peak import DTYPES, matmul_tflops, spec_tflops  # noqa: E402
from systems import (TINY_SALIGN, TINY_STOCK, optimization, salign, soft_alignment,  # noqa: E402
                     ssl_front_end, stock)

PRECISIONS = {"fp32": [], "fp16": ["--fp16"], "amp": ["--amp"], "bf16": ["--bf16"]}
SYSTEMS = ["salign-fbank", "salign-hubert", "stock"]
DECODERS = ["salign-fbank", "stock"]
LABELS = {"salign-fbank": "S-Align soft, fbank", "salign-hubert": "S-Align soft, HuBERT",
          "stock": "stock s2t_transformer"}
SAMPLE_RATE, FRAME_RATE = 16000, 100


def system_args(name: str, tiny: bool, ssl: Path) -> List[str]:
    """fairseq-train arguments (after the data directory) of one system."""
    if name == "stock":
        return [*stock("s2t_transformer_s" if tiny else "s2t_transformer_m"),
                *(TINY_STOCK if tiny else [])]
    args = [*salign("s2t_salign_xs" if tiny else "s2t_salign_m"), *soft_alignment(),
            *(TINY_SALIGN if tiny else [])]
    return args + (ssl_front_end(ssl, "hubert") if name == "salign-hubert" else [])


def must_run(precision: str, cuda: bool) -> bool:
    """Whether a failure to build is a defect (else: reported as skipped, with the error)."""
    return precision == "fp32" or (cuda and precision in ("fp16", "amp"))


class Run:
    """One system in one precision: its replies, then its figures and checks."""

    def __init__(self, system: str, precision: str):
        self.system, self.precision = system, precision
        self.status, self.reason = "ok", None
        self.info: dict = {}
        self.steps: List[dict] = []  # every train reply, warm-up included, with its batch
        self.extra: Dict[str, dict] = {}  # flops per batch, dtypes, memory

    def fail(self, status: str, reason: str) -> None:
        self.status, self.reason = status, reason


def run_precision(precision: str, systems: List[str], data: Dict[str, Path], batch_files: Dict[str, Path],
                  tiny: bool, ssl: Path, args, cuda: bool, tmp: Path, seconds: float,
                  counted: Dict[str, Dict[int, int]]) -> Dict[str, Run]:
    """All systems in one precision: built together, ``seconds`` of interleaved training (beyond
    --min-updates), then FLOP counting (once per system: ``counted`` keeps it across precisions,
    the count does not depend on the dtype), one spied step each, memory, beam search."""
    runs = {s: Run(s, precision) for s in systems}
    workers = {}
    try:
        for s in systems:
            kind = "waveform" if s == "salign-hubert" else "fbank"
            workers[s] = Worker({"name": f"{s}-{precision}",
                                 "argv": [str(data[kind]), *system_args(s, tiny, ssl),
                                          *optimization(args.lr, 10000000, args.lr_warmup),
                                          *PRECISIONS[precision]],
                                 "batches": str(batch_files[kind]), "decode_len": args.decode_len,
                                 "drop_transcripts": s == "stock"}, tmp)
        for s, w in workers.items():
            ready = w.read(tolerate=True)
            if "error" in ready:
                status = "failed" if must_run(precision, cuda) else "skipped"
                runs[s].fail(status, f"could not be built: {ready['error']}")
            else:
                runs[s].info = ready
        live = {s: workers[s] for s in systems if runs[s].status == "ok"}
        if not live:
            return runs

        def record(key, r, reply):
            runs[key].steps.append({**reply, "batch": r % args.batches, "timed": r >= args.warmup})

        failed: Dict[str, str] = {}
        deadline = time.perf_counter() + seconds
        interleave({s: (w, {}) for s, w in live.items()}, "train", args.warmup, args.updates,
                   args.batches, deadline, min_repeats=args.min_updates, failed=failed, on_reply=record)
        for s, error in failed.items():
            runs[s].fail("failed", f"training step raised: {error}")
            del live[s]
        for s, w in live.items():  # one step under the FLOP counter per batch, one under the spy
            for b in range(args.batches):
                if b in counted.get(s, {}):
                    continue
                reply = w.ask(tolerate=True, op="flops", batch=b)
                if "error" in reply:
                    runs[s].fail("failed", f"FLOP-counted step raised: {reply['error']}")
                    break
                counted.setdefault(s, {})[b] = reply["flops"]
                runs[s].steps.append({**reply, "batch": b, "timed": False})
            runs[s].extra["flops"] = dict(counted.get(s, {}))
            if runs[s].status != "ok":
                continue
            reply = w.ask(tolerate=True, op="dtypes", batch=0)
            if "error" in reply:
                runs[s].fail("failed", f"spied step raised: {reply['error']}")
            else:
                runs[s].extra["dtypes"] = reply
                runs[s].steps.append({**reply, "batch": 0, "timed": False})
            runs[s].extra["memory"] = w.ask(op="memory")
        decoders = {s: (live[s], {}) for s in DECODERS if s in live and runs[s].status == "ok"}
        if decoders:
            failed = {}
            times = interleave(decoders, "decode", 1, args.decode_repeats, args.batches,
                               time.perf_counter(), min_repeats=args.decode_repeats, failed=failed,
                               on_reply=lambda k, r, reply: runs[k].extra.setdefault("decode", []).append(reply))
            for s in decoders:
                if s in failed:
                    runs[s].extra["decode_error"] = failed[s]
                elif times[s]:
                    runs[s].extra["decode_s"] = times[s]
                    runs[s].extra["encoder_s"] = times[s + ":encoder"]
    finally:
        for w in workers.values():
            w.close()
    return runs


def summarize(run: Run, bsz: int, cuda: bool, peaks, args) -> dict:
    """One row of the JSON: figures of a run and its checks. ``peaks(dtype)``: (spec, measured)
    TFLOP/s of the device in the dtype the run's matrix products were observed in."""
    row = {"system": run.system, "label": LABELS[run.system], "precision": run.precision,
           "status": run.status, "reason": run.reason, "checks": {}}
    if not run.info:
        return row
    row.update(params=run.info["params"], trainable=run.info["trainable"], model_dtype=run.info["dtype"])
    steps = run.steps
    timed = [s for s in steps if s["timed"]]
    row["updates_attempted"] = len(steps)
    row["updates_skipped_overflow"] = sum(1 for s in steps if s.get("skipped"))
    losses = [s["losses"] for s in steps if s.get("losses")]
    finite = all(math.isfinite(v) for d in losses for v in d.values())
    row["checks"]["losses finite"] = finite and len(losses) > 0
    totals = [d["loss"] for d in losses if "loss" in d]
    k = max(1, min(5, len(totals) // 4))
    if totals:
        row["loss_first"], row["loss_last"] = sum(totals[:k]) / k, sum(totals[-k:]) / k
        row["loss_components_last"] = losses[-1]
    scales = [s["loss_scale"] for s in steps if s.get("loss_scale") is not None]
    if scales:
        row["loss_scale_final"], row["loss_scale_min"] = scales[-1], min(scales)
        skipped_frac = row["updates_skipped_overflow"] / max(1, len(steps))
        row["checks"]["no loss-scale collapse"] = (
            scales[-1] >= args.min_loss_scale and skipped_frac <= args.max_skipped)
    if timed:
        seconds = [s["seconds"] for s in timed]
        per_audio = SAMPLE_RATE if run.system == "salign-hubert" else FRAME_RATE
        row.update(timed_updates=len(timed), step_s_median=med(seconds), step_s_min=min(seconds),
                   tokens_per_s=sum(s["ntokens"] for s in timed) / sum(seconds),
                   audio_s_per_s=sum(s["audio_s"] for s in timed) / per_audio / sum(seconds),
                   utterances_per_batch=bsz)
        flops = run.extra.get("flops")
        spied = run.extra.get("dtypes")
        if flops and len(flops) == args.batches and spied and spied["product_dtypes"]:
            done = sum(flops[s["batch"]] for s in timed)
            achieved = done / sum(seconds) / 1e12
            products = spied["product_dtypes"]
            compute = DTYPES.get(max(products, key=products.get), "fp32")
            spec, measured = peaks(compute)
            row.update(flops_per_step=med(list(flops.values())), achieved_tflops=achieved,
                       compute_dtype=compute, peak_spec_tflops=spec, peak_matmul_tflops=measured,
                       mfu_spec=achieved / spec if spec else None,
                       mfu_matmul=achieved / measured if measured else None)
    mem = run.extra.get("memory")
    if mem:
        row["peak_memory_mb"] = mem["cuda_peak_mb"] if cuda else mem["peak_rss_mb"]
        row["peak_memory_kind"] = "CUDA max allocated" if cuda else "process peak RSS"
    spied = run.extra.get("dtypes")
    if spied:
        row["loss_dtypes"], row["product_dtypes"] = spied["loss_dtypes"], spied["product_dtypes"]
        if run.system != "stock":  # the stock criterion has no BCE or CTC
            seen = spied["loss_dtypes"]
            row["checks"]["BCE and CTC losses in fp32"] = bool(seen["bce"]) and bool(seen["ctc"]) and all(
                key == "float32->float32" for kind in ("bce", "ctc") for key in seen[kind])
    if "decode_s" in run.extra:
        d = run.extra["decode_s"]
        row.update(decode_s_per_batch=med(d), decode_sentences_per_s=bsz / med(d),
                   decode_encoder_s=med(run.extra["encoder_s"]), decode_len=args.decode_len)
        row["checks"]["beam scores finite"] = all(r["finite_scores"] for r in run.extra["decode"])
    if "decode_error" in run.extra:
        row["checks"]["beam search runs"] = False
        row["decode_error"] = run.extra["decode_error"]
    return row


def ratios(runs: Dict[str, Dict[str, Run]]) -> List[dict]:
    """Paired per-round step ratios within a precision (same batch, same round)."""
    out = []

    def times(run):
        return [s["seconds"] for s in run.steps if s["timed"]]

    for precision, group in runs.items():
        for a, b in (("salign-fbank", "stock"), ("salign-hubert", "salign-fbank"), ("salign-hubert", "stock")):
            if a in group and b in group and group[a].status == group[b].status == "ok":
                ta, tb = times(group[a]), times(group[b])
                n = min(len(ta), len(tb))
                if n:
                    out.append({"precision": precision, "quantity": f"step: {a} / {b}",
                                "medians": med(ta[:n]) / med(tb[:n]), "paired": paired(ta[:n], tb[:n])})
        if all(s in group and "decode_s" in group[s].extra for s in DECODERS):
            da, db = group["salign-fbank"].extra["decode_s"], group["stock"].extra["decode_s"]
            out.append({"precision": precision, "quantity": "beam search: salign-fbank / stock",
                        "medians": med(da) / med(db), "paired": paired(da, db)})
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("gpu-check"), help="directory of gpu_check.json/.md")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (the default without CUDA): "
                   "checks the script, measures nothing worth quoting")
    p.add_argument("--precisions", default="fp32,fp16,amp,bf16",
                   help=f"comma-separated, of {', '.join(PRECISIONS)}")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    p.add_argument("--updates", type=int, help="timed updates per run (default 300 GPU, 4 tiny)")
    p.add_argument("--min-updates", type=int, help="timed updates even past the budget "
                   "(default 50 GPU, 1 tiny)")
    p.add_argument("--warmup", type=int, help="untimed updates first (default 10 GPU, 1 tiny)")
    p.add_argument("--batch-size", type=int, help="utterances per batch (default 16 GPU, 2 tiny)")
    p.add_argument("--batches", type=int, default=None, help="distinct batches, cycled (default 4 GPU, 2 tiny)")
    p.add_argument("--decode-repeats", type=int, help="timed beam-search batches (default 10 GPU, 1 tiny)")
    p.add_argument("--decode-len", type=int, default=30, help="tokens every hypothesis gets")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (inverse_sqrt)")
    p.add_argument("--lr-warmup", type=int, default=100, help="learning-rate warm-up updates: "
                   "short, so that the check trains (and meets fp16's overflows) at the peak rate")
    p.add_argument("--ssl-shape", choices=["tiny", "base", "large"], help="random HuBERT shape "
                   "(default large GPU, tiny tiny)")
    p.add_argument("--budget", type=float, default=240, help="seconds for all precisions "
                   "together: each gets an equal share of what is left, and its training starts no "
                   "new round past its share (beyond --min-updates); FLOP counting, the spied step "
                   "and beam search come on top")
    p.add_argument("--min-loss-scale", type=float, default=2 ** -4, help="fp16/AMP: a final loss "
                   "scale below this is a collapse (fairseq starts at 128 and gives up at 1e-4)")
    p.add_argument("--max-skipped", type=float, default=0.1, help="fp16/AMP: share of "
                   "overflow-skipped updates above which the scale is deemed collapsing")
    args = p.parse_args(argv)
    args.precisions = [x for x in args.precisions.split(",") if x]
    args.systems = [x for x in args.systems.split(",") if x]
    for value, known, option in ((args.precisions, PRECISIONS, "--precisions"), (args.systems, SYSTEMS, "--systems")):
        unknown = [x for x in value if x not in known]
        if unknown:
            p.error(f"{option}: unknown {', '.join(unknown)} (choose from {', '.join(known)})")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    t_start = time.perf_counter()
    cuda, device = describe_machine()
    tiny = args.tiny or not cuda
    defaults = dict(updates=(4, 300), min_updates=(1, 50), warmup=(1, 10), batch_size=(2, 16),
                    batches=(2, 4), decode_repeats=(1, 10), ssl_shape=("tiny", "large"))
    for key, (small, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, small if tiny else full)
    if args.min_updates > args.updates:
        args.min_updates = args.updates

    tmp = Path(tempfile.mkdtemp(prefix="salign-gpu-check-"))
    write_data_dir(tmp)
    write_waveform_data_dir(tmp / "waveform")
    data = {"fbank": tmp, "waveform": tmp / "waveform"}
    batches = make_batches(args.batches, args.batch_size, seed=1)
    batch_files = {"fbank": tmp / "fbank.pt", "waveform": tmp / "waveform.pt"}
    torch.save(batches, batch_files["fbank"])
    ssl = tmp / f"hubert_{args.ssl_shape}_random.pt"
    if "salign-hubert" in args.systems:
        from fairseq.checkpoint_utils import torch_persistent_save

        from fairseq_salign.frontends.random_checkpoint import random_ssl_state

        torch.save(as_waveform_batches(batches, seed=2), batch_files["waveform"])
        torch_persistent_save(random_ssl_state("hubert", args.ssl_shape), str(ssl))
    audio = med([float(b["net_input"]["src_lengths"].float().mean()) / FRAME_RATE for b in batches])
    print(f"mode: {'tiny (a check of the script, not a measurement)' if tiny else 'full'}; "
          f"{args.batches} batches x {args.batch_size} utterances, mean {audio:.1f} s; "
          f"random HuBERT {args.ssl_shape}; worker logs in {tmp}", flush=True)

    runs: Dict[str, Dict[str, Run]] = {}
    counted: Dict[str, Dict[int, int]] = {}
    try:
        t_train = time.perf_counter()
        for i, precision in enumerate(args.precisions):
            print(f"== {precision}: {', '.join(args.systems)}", flush=True)
            share = (args.budget - (time.perf_counter() - t_train)) / (len(args.precisions) - i)
            runs[precision] = run_precision(precision, args.systems, data, batch_files, tiny, ssl,
                                            args, cuda, tmp, max(0.0, share), counted)
    except BaseException:
        print(f"(worker logs kept in {tmp})", file=sys.stderr)
        raise
    measured_peaks: Dict[str, tuple] = {}

    def peaks(dtype: str) -> tuple:
        if dtype not in measured_peaks:
            measured_peaks[dtype] = (spec_tflops(device, dtype) if cuda else None,
                                     matmul_tflops(dtype, cuda))
        return measured_peaks[dtype]

    rows = [summarize(r, args.batch_size, cuda, peaks, args)
            for group in runs.values() for r in group.values()]
    failures = [f"{r['system']} {r['precision']}: {name}" for r in rows
                for name, ok in r["checks"].items() if not ok]
    failures += [f"{r['system']} {r['precision']}: {r['reason']}" for r in rows if r["status"] == "failed"]
    result = {
        "machine": device, "cuda": cuda, "mode": "tiny" if tiny else "full",
        "torch": torch.__version__, "python": sys.version.split()[0],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "peaks_tflops": {d: {"spec": s, "matmul": m} for d, (s, m) in measured_peaks.items()},
        "runs": rows, "ratios": ratios(runs), "failures": failures,
        "seconds": time.perf_counter() - t_start,
    }
    markdown = write_report(result, args.out)
    print(markdown)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        print(f"(worker logs kept in {tmp})", file=sys.stderr)
        return 1
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
