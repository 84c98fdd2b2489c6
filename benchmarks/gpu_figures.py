"""The GPU check's figures and checks, from the replies a :class:`gpu_runs.Run` kept.

Figures: step time, tokens and audio seconds per second, peak memory, counted FLOPs, achieved
TFLOP/s and MFU, loss trajectory, loss scale, beam-search speed; ratios between systems from
paired rounds. Checks (True = passed): losses finite, no loss-scale collapse (fp16/AMP), BCE
and CTC in fp32, beam scores finite.
"""
from __future__ import annotations

import math
from typing import Dict, List

from gpu_runs import DECODERS, LABELS, Run
from harness import med, paired
from peak import DTYPES

SAMPLE_RATE, FRAME_RATE = 16000, 100


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
