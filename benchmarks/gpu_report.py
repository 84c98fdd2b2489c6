"""The GPU check's output: ``gpu_check.json`` (every figure) and ``gpu_check.md`` (tables).

Both are written to a temporary name and moved into place, so an interrupted run never leaves a
file that looks complete.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def _fmt(value, spec: str = ".3f", none: str = "-") -> str:
    if value is None:
        return none
    return format(value, spec)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def markdown(result: dict) -> str:
    lines = [f"Machine: {result['machine']} (torch {result['torch']}, Python {result['python']}); "
             f"mode: {result['mode']}; {result['seconds']:.0f} s in all.", ""]
    s = result["settings"]
    lines += [f"{s['batches']} synthetic batches x {s['batch_size']} utterances of MuST-C length, "
              f"cycled; {s['warmup']} untimed + up to {s['updates']} timed updates per run; "
              f"HuBERT shape {s['ssl_shape']} (random weights).", ""]
    lines += ["| system | precision | status | params | step s (median) | tokens/s | audio s/s | "
              "peak MB | TFLOP/step | TFLOP/s | MFU spec | MFU matmul | loss first -> last | "
              "loss scale (final/min) | skipped | products in | BCE / CTC dtype |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["runs"]:
        if r["status"] != "ok" and "step_s_median" not in r:
            lines.append(f"| {r['label']} | {r['precision']} | {r['status']}: {r['reason']} |"
                         + " |" * 14)
            continue
        dtypes = r.get("loss_dtypes") or {}
        seen = " / ".join(",".join(sorted(dtypes.get(k, {}))) or "-" for k in ("bce", "ctc"))
        scale = (f"{r['loss_scale_final']:g} / {r['loss_scale_min']:g}"
                 if "loss_scale_final" in r else "-")
        mfu = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
        lines.append(
            f"| {r['label']} | {r['precision']} | {r['status']} | {r['params'] / 1e6:.1f}M | "
            f"{_fmt(r.get('step_s_median'))} | {_fmt(r.get('tokens_per_s'), '.0f')} | "
            f"{_fmt(r.get('audio_s_per_s'), '.1f')} | {_fmt(r.get('peak_memory_mb'), '.0f')} | "
            f"{_fmt(r.get('flops_per_step') and r['flops_per_step'] / 1e12, '.4f')} | "
            f"{_fmt(r.get('achieved_tflops'), '.3f')} | {mfu(r.get('mfu_spec'))} | "
            f"{mfu(r.get('mfu_matmul'))} | {_fmt(r.get('loss_first'), '.2f')} -> "
            f"{_fmt(r.get('loss_last'), '.2f')} | {scale} | "
            f"{r.get('updates_skipped_overflow', 0)}/{r.get('updates_attempted', 0)} | "
            f"{r.get('compute_dtype', '-')} | {seen} |")
    lines += ["", "| precision | quantity | ratio of medians | paired (median of per-round ratios) |",
              "| --- | --- | --- | --- |"]
    for q in result["ratios"]:
        lines.append(f"| {q['precision']} | {q['quantity']} | {q['medians']:.2f} | {q['paired']:.2f} |")
    lines += ["", "| system | precision | beam search s/batch | sentences/s | encoder alone s |",
              "| --- | --- | --- | --- | --- |"]
    for r in result["runs"]:
        if "decode_s_per_batch" in r:
            lines.append(f"| {r['label']} | {r['precision']} | {r['decode_s_per_batch']:.3f} | "
                         f"{r['decode_sentences_per_s']:.2f} | {r['decode_encoder_s']:.3f} |")
    lines += ["", "Peaks (TFLOP/s, in the dtype the steps' matrix products were observed in): " + "; ".join(
        f"{d} spec {_fmt(v['spec'], 'g', 'unknown')}, matmul measured {_fmt(v['matmul'], '.3f')}"
        for d, v in result["peaks_tflops"].items())]
    checks = [(f"{r['system']} {r['precision']}", name, ok) for r in result["runs"]
              for name, ok in r["checks"].items()]
    lines += ["", "Checks: " + (", ".join(f"{who}: {name} {'ok' if ok else 'FAILED'}"
                                          for who, name, ok in checks) or "none ran")]
    if result["failures"]:
        lines += ["", "FAILED: " + "; ".join(result["failures"])]
    return "\n".join(lines) + "\n"


def write_report(result: dict, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(result)
    _atomic_write(out / "gpu_check.json", json.dumps(result, indent=1) + "\n")
    _atomic_write(out / "gpu_check.md", text)
    return text
