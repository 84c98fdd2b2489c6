"""Side-by-side timing of fairseq systems, each in its own worker process (the parent side).

A worker (``worker.py``) builds one system exactly as ``fairseq-train`` does and answers
requests over stdin/stdout: one ``Trainer.train_step`` on a given batch, a beam search, its peak
memory. The parent builds every worker before timing starts and interleaves them
(:func:`interleave`): every round gives each system one step on the same batch, the order
rotating between rounds, so a busy machine slows all systems alike. Peak RSS is then per system.
Used by ``run.py`` (S-Align vs stock), ``frontend.py`` (HuBERT vs fbank) and ``gpu_check.py``.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent


def describe_machine() -> tuple:
    """``(cuda available, one printed line naming the machine)``: every figure is quoted
    beside the machine it was measured on."""
    import platform

    import torch

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else f"CPU, {os.cpu_count()} cores"
    print(f"machine: {platform.node()} {platform.machine()}, {device}; Python "
          f"{platform.python_version()}, torch {torch.__version__}")
    return cuda, device


def med(xs):
    return statistics.median(xs)


def paired(a: list, b: list) -> float:
    """Median of per-round ratios: robust when the machine is shared."""
    return med([x / y for x, y in zip(a, b)])


# ---------------------------------------------------------------------------------------------
# parent side
class Worker:
    def __init__(self, spec: dict, log_dir: Path):
        self.name = spec["name"]
        self.log = log_dir / f"{self.name}.log"
        spec_path = log_dir / f"{self.name}.json"
        spec_path.write_text(json.dumps(spec))
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), str(spec_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "w"), text=True)

    def read(self, tolerate: bool = False) -> dict:
        """The next reply; one carrying ``error`` raises unless ``tolerate``."""
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            tail = self.log.read_text()[-4000:]
            raise RuntimeError(f"worker {self.name} exited {self.proc.returncode}:\n{tail}")
        reply = json.loads(line)
        if "error" in reply and not tolerate:
            raise RuntimeError(f"worker {self.name}: {reply['error']} (log: {self.log})")
        return reply

    def ask(self, tolerate: bool = False, **msg) -> dict:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self.read(tolerate)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask(op="quit")
            except (RuntimeError, BrokenPipeError):
                pass
        self.proc.wait()


def rotated(names, r):
    names = list(names)
    k = r % len(names)
    return names[k:] + names[:k]


def interleave(entries: dict, op: str, warmup: int, repeats: int, n_batches: int,
               deadline: float, min_repeats: int = 3, failed: Optional[dict] = None,
               on_reply: Optional[Callable[[str, int, dict], None]] = None) -> dict:
    """``entries``: key -> (worker, extra message). Round r: every entry runs batch
    r % n_batches, in an order rotated by r; the first ``warmup`` rounds are not kept. After
    ``deadline`` (a perf_counter time) no new round starts beyond ``min_repeats`` timed ones, so
    that `make bench` stays within its budget on a busy machine. A worker that replies with an
    error raises, or, given a ``failed`` dict, is recorded there (key -> error) and dropped from
    later rounds. ``on_reply(key, round, reply)`` sees every reply, warm-up ones included."""
    times = {k: [] for k in entries}
    live = dict(entries)
    for r in range(warmup + repeats):
        if r >= warmup + min_repeats and time.perf_counter() > deadline:
            break
        if not live:
            break
        for k in rotated(list(live), r):
            w, extra = live[k]
            reply = w.ask(tolerate=failed is not None, op=op, batch=r % n_batches, **extra)
            if "error" in reply:
                failed[k] = reply["error"]
                del live[k]
                continue
            if on_reply is not None:
                on_reply(k, r, reply)
            if r >= warmup:
                times[k].append(reply["seconds"])
                if "encoder_seconds" in reply:
                    times.setdefault(k + ":encoder", []).append(reply["encoder_seconds"])
    return times

