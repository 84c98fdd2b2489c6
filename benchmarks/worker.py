"""The worker side of the benchmarks: one fairseq system in its own process, driven over stdin.

A worker builds one system exactly as ``fairseq-train`` does (option parser, task, model,
criterion, fairseq's ``Trainer``) and then answers one JSON request per line on stdin with one
JSON reply per line on stdout: a ``Trainer.train_step`` on a given batch (its time, the losses it
logged, the fp16/AMP loss scale), a beam search, one step under a FLOP counter or a dtype spy,
its peak memory. A system that cannot be built (or a step that raises) replies
``{"error": ...}`` instead, so the parent can report it rather than die. The parent side is
``harness.py``.
"""
from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
import traceback
from argparse import Namespace
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def error_text(exc: BaseException) -> str:
    """``Type: message (where)``: the innermost frame and the last one in fairseq's or the
    plugin's code, enough to tell a precision a machine lacks from a bug."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []

    def short(frame):
        parts = Path(frame.filename).parts
        for root in ("fairseq_salign", "fairseq"):
            if root in parts:
                return "/".join(parts[len(parts) - parts[::-1].index(root) - 1:]) + f":{frame.lineno}"
        return f"{Path(frame.filename).name}:{frame.lineno}"

    where = [short(f) for f in frames[-1:]]
    ours = [f for f in frames[:-1] if "fairseq" in f.filename]
    if ours:
        where.insert(0, short(ours[-1]))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" + (f" (at {' -> '.join(where)})" if where else "")


def logged_losses(logging_output) -> dict:
    """Every ``*loss*`` value a train step logged (base 2, per token), the loss scale excluded."""
    if not logging_output:
        return {}
    return {k: float(v) for k, v in logging_output.items()
            if "loss" in k and k != "loss_scale" and isinstance(v, (int, float))}


def serve(spec: dict) -> None:
    """``spec``: name, argv (fairseq-train arguments, data dir first), batches (a torch file),
    decode_len, drop_transcripts (a model that takes no ``src_txt_*`` inputs)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to stderr, not into the protocol

    def reply(**msg):
        proto.write(json.dumps(msg) + "\n")

    import torch

    try:
        from fairseq import options, tasks
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
    except Exception as exc:  # reported by the parent (e.g. a precision this machine lacks)
        traceback.print_exc()
        reply(error=error_text(exc))
        return
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

    def loss_scale():
        scaler = getattr(trainer.optimizer, "scaler", None)
        if scaler is None:
            return None
        return float(scaler.get_scale() if cfg.common.amp else scaler.loss_scale)

    def train(batch):
        before = trainer.get_num_updates()
        sync()
        start = time.perf_counter()
        out = trainer.train_step([batches[batch]])
        sync()
        seconds = time.perf_counter() - start
        return dict(seconds=seconds, losses=logged_losses(out), loss_scale=loss_scale(),
                    skipped=trainer.get_num_updates() == before,
                    ntokens=int(batches[batch]["ntokens"]),
                    audio_s=float(batches[batch]["net_input"]["src_lengths"].sum()))

    rss_built = peak_rss_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    reply(ready=True, params=n_params, trainable=n_trainable, threads=torch.get_num_threads(),
          device=torch.cuda.get_device_name() if cuda else "cpu",
          dtype=str(next(trainer.model.parameters()).dtype).replace("torch.", ""))
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        try:
            if op == "train":
                reply(**train(msg["batch"]))
            elif op == "set_updates":
                trainer.set_num_updates(msg["updates"])
                reply(done=True)
            elif op == "memory":
                reply(rss_built_mb=rss_built, peak_rss_mb=peak_rss_mb(),
                      cuda_peak_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None)
            elif op == "flops":  # one train step under torch's FLOP counter (forward + backward)
                from torch.utils.flop_counter import FlopCounterMode

                with FlopCounterMode(display=False) as counter:
                    step = train(msg["batch"])
                reply(flops=int(counter.get_total_flops()), **step)
            elif op == "dtypes":  # one train step under the dtype spy
                sys.path.insert(0, str(Path(__file__).resolve().parent))
                from dtype_spy import DtypeSpy

                with DtypeSpy() as spy:
                    step = train(msg["batch"])
                reply(**spy.summary(), **step)
            elif op == "decode":
                if generator is None:
                    gen_args = Namespace(beam=5, max_len_a=0, max_len_b=decode_len,
                                         min_len=decode_len, prefix_size=0)
                    generator = task.build_generator([trainer.model], gen_args)
                reply(**decode(task, generator, trainer.model, batches[msg["batch"]], decode_len,
                               spec["name"], sync))
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
            else:
                reply(error=f"unknown op {op!r}")
        except Exception as exc:  # e.g. fairseq's "Minimum loss scale reached": the parent reports it
            traceback.print_exc()
            reply(error=error_text(exc))


def decode(task, generator, model, batch, decode_len: int, name: str, sync) -> dict:
    """Beam search of one batch (and, before it, the encoder alone), inputs in the model's dtype
    as fairseq-generate casts them under ``--fp16``."""
    import torch

    param = next(model.parameters())
    sample = {"id": batch["id"], "net_input": {
        k: batch["net_input"][k].to(param.device) for k in ("src_tokens", "src_lengths")}}
    if sample["net_input"]["src_tokens"].is_floating_point():
        sample["net_input"]["src_tokens"] = sample["net_input"]["src_tokens"].to(param.dtype)
    model.eval()
    with torch.no_grad():  # the encoder alone, to attribute the difference
        sync()
        start = time.perf_counter()
        model.encoder(**sample["net_input"])
        sync()
        encoder_seconds = time.perf_counter() - start
    sync()
    start = time.perf_counter()
    hypos = task.inference_step(generator, [model], sample)
    sync()
    seconds = time.perf_counter() - start
    model.train()
    lengths = {len(h[0]["tokens"]) for h in hypos}
    if lengths != {decode_len + 1}:
        raise RuntimeError(f"{name}: hypothesis lengths {lengths}, expected {decode_len + 1}")
    scores = [float(h[0]["score"]) for h in hypos]
    return dict(seconds=seconds, encoder_seconds=encoder_seconds,
                finite_scores=all(math.isfinite(s) for s in scores))


if __name__ == "__main__":
    serve(json.loads(Path(sys.argv[1]).read_text()))
