"""The GPU check's systems and precisions, and one precision's run of them in worker processes.

Every system of a precision is built in its own worker (``harness.py``, ``worker.py``) and they
are interleaved: each round gives every system one ``Trainer.train_step`` on the same batch.
What each reply said is kept in a :class:`Run`; ``gpu_figures.py`` turns it into figures and
checks.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

from harness import Worker, interleave
from systems import TINY_SALIGN, TINY_STOCK, optimization, salign, soft_alignment, ssl_front_end, stock

PRECISIONS = {"fp32": [], "fp16": ["--fp16"], "amp": ["--amp"], "bf16": ["--bf16"]}
SYSTEMS = ["salign-fbank", "salign-hubert", "stock"]
DECODERS = ["salign-fbank", "stock"]
LABELS = {"salign-fbank": "S-Align soft, fbank", "salign-hubert": "S-Align soft, HuBERT",
          "stock": "stock s2t_transformer"}


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
