"""Side-by-side timing of fairseq systems, each in its own worker process.

A worker builds one system exactly as ``fairseq-train`` does (task, model, criterion, fairseq's
``Trainer``) and then answers requests over stdin/stdout: one ``Trainer.train_step`` on a given
batch, a beam search, its peak memory. The parent builds every worker before timing starts and
interleaves them (:func:`interleave`): every round gives each system one step on the same batch,
the order rotating between rounds, so a busy machine slows all systems alike. Peak RSS is then
per system. Used by ``run.py`` (S-Align vs stock) and ``frontend.py`` (HuBERT vs fbank).
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

HERE = Path(__file__).resolve().parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
# worker side
def serve(spec: dict) -> None:
    """``spec``: name, argv (fairseq-train arguments, data dir first), batches (a torch file),
    decode_len, drop_transcripts (a model that takes no ``src_txt_*`` inputs)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to stderr, not into the protocol
    import torch
    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    cuda = torch.cuda.is_available()
    argv = [*spec["argv"], *([] if cuda else ["--cpu"])]
    args = options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, model, criterion)
    trainer.optimizer  # built now, not inside the first (untimed) step
    batches = torch.load(spec["batches"], weights_only=True)
    if spec.get("drop_transcripts"):
        for b in batches:
            b["net_input"] = {k: v for k, v in b["net_input"].items() if not k.startswith("src_txt")}
    n_params = sum(p.numel() for p in model.parameters()) + sum(p.numel() for p in criterion.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    decode_len = spec.get("decode_len", 30)
    generator = None

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def reply(**msg):
        proto.write(json.dumps(msg) + "\n")

    rss_built = peak_rss_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    reply(ready=True, params=n_params, trainable=n_trainable, threads=torch.get_num_threads(),
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
        elif op == "set_updates":
            trainer.set_num_updates(msg["updates"])
            reply(done=True)
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
                raise RuntimeError(f"{spec['name']}: hypothesis lengths {lengths}, expected {decode_len + 1}")
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


# ---------------------------------------------------------------------------------------------
# parent side
class Worker:
    def __init__(self, spec: dict, log_dir: Path):
        self.name = spec["name"]
        self.log = log_dir / f"{self.name}.log"
        spec_path = log_dir / f"{self.name}.json"
        spec_path.write_text(json.dumps(spec))
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "harness.py"), str(spec_path)],
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


def rotated(names, r):
    names = list(names)
    k = r % len(names)
    return names[k:] + names[:k]


def interleave(entries: dict, op: str, warmup: int, repeats: int, n_batches: int,
               deadline: float, min_repeats: int = 3) -> dict:
    """``entries``: key -> (worker, extra message). Round r: every entry runs batch
    r % n_batches, in an order rotated by r; the first ``warmup`` rounds are not kept. After
    ``deadline`` (a perf_counter time) no new round starts beyond ``min_repeats`` timed ones, so
    that `make bench` stays within its budget on a busy machine."""
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


if __name__ == "__main__":
    serve(json.loads(Path(sys.argv[1]).read_text()))
