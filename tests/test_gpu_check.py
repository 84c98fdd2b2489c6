"""benchmarks/gpu_check.py's core path, tiny and on the CPU, so the device check cannot rot.

Not a timing test: it runs two fp32 updates of S-Align (and tries fp16, which fairseq cannot
run without CUDA) and checks what the script writes and asserts."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import cli_env

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU (tiny) mode")
def test_gpu_check_tiny_run_writes_checked_figures(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--precisions", "fp32,fp16", "--systems", "salign-fbank",
         "--updates", "2", "--warmup", "0", "--decode-len", "3", "--out", str(out)],
        capture_output=True, text=True, env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads((out / "gpu_check.json").read_text())
    assert {"machine", "mode", "settings", "peaks_tflops", "runs", "ratios", "failures"} <= set(result)
    assert result["mode"] == "tiny" and result["failures"] == []
    runs = {r["precision"]: r for r in result["runs"]}
    fp32 = runs["fp32"]
    assert fp32["status"] == "ok" and fp32["timed_updates"] == 2
    assert fp32["checks"] == {"losses finite": True, "BCE and CTC losses in fp32": True,
                              "beam scores finite": True}
    assert fp32["loss_dtypes"]["ctc"] == {"float32->float32": 1}
    assert fp32["loss_dtypes"]["bce"] and fp32["compute_dtype"] == "fp32"
    for key in ("loss_first", "loss_last", "step_s_median", "tokens_per_s", "flops_per_step",
                "achieved_tflops", "peak_memory_mb", "decode_s_per_batch"):
        assert math.isfinite(fp32[key]) and fp32[key] > 0, key
    assert fp32["mfu_spec"] is None and 0 < fp32["mfu_matmul"]  # a CPU has no spec peak
    # fp16 is reported as skipped, with fairseq's reason, not dropped
    assert runs["fp16"]["status"] == "skipped" and "CUDA" in runs["fp16"]["reason"]
    text = (out / "gpu_check.md").read_text()
    assert "| S-Align soft, fbank | fp32 | ok |" in text and "skipped: could not be built" in text
