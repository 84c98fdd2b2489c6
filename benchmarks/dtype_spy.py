"""Which dtypes a training step really computes in: a read-only ``TorchFunctionMode``.

``--fp16`` halves the model, ``--amp`` autocasts matrix products: whether the losses that
overflow in half precision (the modal network's BCE, CTC) still run in fp32 is a property of
the running code, not of its flags, so it is observed on a real ``Trainer.train_step``: every
call of ``binary_cross_entropy_with_logits`` and ``ctc_loss`` records the dtype of its input and
of its result, and matrix products are tallied by output dtype (what the step really computes in:
under ``--amp`` on a CPU, fairseq's CUDA autocast does nothing). Nothing is changed: each call is
passed through as is.
"""
from __future__ import annotations

from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

LOSSES = {"binary_cross_entropy_with_logits": "bce", "ctc_loss": "ctc"}
PRODUCTS = {"linear", "matmul", "bmm", "mm", "addmm", "baddbmm", "conv1d", "conv2d",
            "scaled_dot_product_attention", "multi_head_attention_forward"}


def _name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            if isinstance(v, torch.Tensor):
                return v
    return None


class DtypeSpy(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.losses = {kind: Counter() for kind in LOSSES.values()}  # "input->output" -> calls
        self.products = Counter()  # output dtype -> calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        if name in LOSSES:
            x, y = _first_tensor(args), _first_tensor(out)
            if x is not None and y is not None:
                self.losses[LOSSES[name]][f"{_name(x.dtype)}->{_name(y.dtype)}"] += 1
        elif name in PRODUCTS:
            y = _first_tensor(out)
            if y is not None:
                self.products[_name(y.dtype)] += 1
        return out

    def summary(self) -> dict:
        return {"loss_dtypes": {k: dict(v) for k, v in self.losses.items()},
                "product_dtypes": dict(self.products)}
