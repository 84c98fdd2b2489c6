"""What a device can do, for an MFU estimate: its spec sheet peak and a measured matmul.

MFU = counted model FLOPs per step / step time / peak. The spec peak is the vendor's dense
(no sparsity) tensor-core figure for the precision the step computes in; an unknown device (a
CPU, an unlisted GPU) has none and gets ``None``, never a guess. The measured matmul peak (a
large square product in that precision through PyTorch, on the same device) is reported beside
it for every device, a CPU included: what this software stack reaches on this machine. The
precision is the one a step was *observed* to compute its matrix products in (``dtype_spy.py``),
not the one its flags ask for: fairseq's ``--amp`` autocasts on CUDA only.
"""
from __future__ import annotations

import time
from typing import Optional

# dense TFLOP/s by the vendors' data sheets; "fp32" is plain fp32 (PyTorch does not use TF32
# for matmuls unless torch.backends.cuda.matmul.allow_tf32 is set, and fairseq does not set it)
SPEC_TFLOPS = {
    "H200": {"fp32": 67.0, "fp16": 989.0, "bf16": 989.0},
    "H100 80GB HBM3": {"fp32": 67.0, "fp16": 989.0, "bf16": 989.0},  # H100 SXM
    "H100 PCIe": {"fp32": 51.0, "fp16": 756.0, "bf16": 756.0},
    "A100": {"fp32": 19.5, "fp16": 312.0, "bf16": 312.0},
}
DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}  # torch name -> table key


def spec_tflops(device_name: str, dtype: str) -> Optional[float]:
    """The data-sheet peak of ``device_name`` (``torch.cuda.get_device_name()``) in ``dtype``
    (fp32, fp16, bf16), or None for a device not in the table."""
    for key, table in SPEC_TFLOPS.items():
        if key.lower() in device_name.lower():
            return table[dtype]
    return None


def matmul_tflops(dtype: str, cuda: bool, n: Optional[int] = None, repeats: int = 5) -> float:
    """Best of ``repeats`` timings of an n x n x n product in ``dtype`` (fp32, fp16, bf16)."""
    import torch

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    device = "cuda" if cuda else "cpu"
    n = n or (8192 if cuda else 1024)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e12
