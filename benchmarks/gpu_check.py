#!/usr/bin/env python3
"""GPU readiness: stage-3 S-Align training in fp32, fp16, AMP and bf16, checked and timed.

For each precision, three systems train side by side on the same synthetic batches of MuST-C
length (4.8-7.2 s utterances, ~30 target and ~25 transcript pieces, 8k vocabulary), each in its
own worker process through fairseq's own ``Trainer.train_step`` (``harness.py``, ``worker.py``):

* ``salign-fbank``: ``s2t_salign_m``, stage 3 (ST + MT + CTC), ``--alignment soft`` from update 0;
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
The pieces: ``gpu_runs.py`` (systems, precisions, workers), ``gpu_figures.py`` (figures and
checks), ``peak.py`` (device peaks), ``dtype_spy.py``, ``gpu_report.py`` (the two files).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_figures import FRAME_RATE, ratios, summarize  # noqa: E402
from gpu_report import write_report  # noqa: E402
from gpu_runs import PRECISIONS, SYSTEMS, Run, run_precision  # noqa: E402
from harness import describe_machine, med  # noqa: E402
from inputs import as_waveform_batches, make_batches, write_data_dir, write_waveform_data_dir  # noqa: E402
from peak import matmul_tflops, spec_tflops  # noqa: E402


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

        from fairseq_salign.pretrained_ssl.random_checkpoint import random_ssl_state

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
