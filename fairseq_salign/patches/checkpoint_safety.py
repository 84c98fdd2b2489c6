"""Load fairseq checkpoints with torch's weights-only unpickler instead of disabling it.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``; fairseq checkpoints also pickle a
few plain-data classes (an ``argparse.Namespace`` in old checkpoints, omegaconf containers,
``collections`` types, numpy scalars in the meters), so fairseq's loader fails on resume and in
``fairseq-generate``. The common workaround, ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, lets any
checkpoint run arbitrary code. Instead we allow-list exactly the data classes fairseq writes, and
wrap fairseq's loader so that a checkpoint holding anything else is refused with a message that
names the file and the offending globals (torch's own message suggests allow-listing them, which
is the wrong advice for an untrusted file).
"""
import argparse
import collections
import functools
import logging
import pickle
from typing import List

import numpy as np
import torch

logger = logging.getLogger(__name__)


def _fairseq_checkpoint_globals() -> List[object]:
    """The classes and functions a fairseq checkpoint of this project may pickle."""
    import typing

    import omegaconf
    from omegaconf import base, nodes

    allowed = [
        argparse.Namespace,
        collections.OrderedDict,
        collections.defaultdict,
        collections.deque,
        dict,
        list,
        set,
        tuple,
        # omegaconf keeps key/element types as metadata (an SSL download's DictConfig cfg)
        int,
        float,
        str,
        bool,
        typing.Any,
        omegaconf.DictConfig,
        omegaconf.ListConfig,
        base.ContainerMetadata,
        base.Metadata,
        nodes.AnyNode,
        nodes.StringNode,
        nodes.IntegerNode,
        nodes.FloatNode,
        nodes.BooleanNode,
        nodes.EnumNode,
        nodes.ValueNode,
        # numpy scalars and arrays (meters, best-checkpoint scores)
        np.core.multiarray.scalar,
        np.core.multiarray._reconstruct,
        np.ndarray,
        np.dtype,
    ]
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return allowed


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles objects outside the fairseq allow-list."""


class NotACheckpointError(pickle.UnpicklingError):
    """A file that is neither a torch zip archive nor a pickle (a text file, a truncated file)."""


def _looks_like_torch_file(path) -> bool:
    import zipfile

    try:
        with open(path, "rb") as f:
            first = f.read(1)
    except OSError:
        return False
    return zipfile.is_zipfile(path) or first == b"\x80"  # pickle protocol >= 2


def install() -> None:
    """Allow-list fairseq's checkpoint classes and wrap fairseq's checkpoint loader (idempotent)."""
    torch.serialization.add_safe_globals(_fairseq_checkpoint_globals())
    from fairseq import checkpoint_utils

    if getattr(checkpoint_utils.load_checkpoint_to_cpu, "_salign_safe", False):
        return
    original = checkpoint_utils.load_checkpoint_to_cpu

    @functools.wraps(original)
    def load_checkpoint_to_cpu(path, *args, **kwargs):
        from .checkpoint_recovery import DamagedCheckpointError, damaged_message, is_damaged

        try:
            return original(path, *args, **kwargs)
        except (RuntimeError, EOFError, pickle.UnpicklingError) as err:
            # a truncated file: torch's "PytorchStreamReader failed reading zip archive" names none
            if is_damaged(path, err):
                raise DamagedCheckpointError(damaged_message(path)) from None
            if not isinstance(err, pickle.UnpicklingError):
                raise
            if not _looks_like_torch_file(path):
                raise NotACheckpointError(
                    f"{path} is not a torch checkpoint (neither a zip archive nor a pickle)"
                ) from None
            raise UnsafeCheckpointError(_refusal_message(path, err)) from None

    load_checkpoint_to_cpu._salign_safe = True
    checkpoint_utils.load_checkpoint_to_cpu = load_checkpoint_to_cpu


def _refusal_message(path, err: Exception) -> str:
    try:
        foreign = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint: fall back on torch's own wording
        foreign = []
    what = ", ".join(foreign) if foreign else str(err).splitlines()[0]
    return (
        f"Refusing to load checkpoint {path}: it contains pickled objects that a fairseq "
        f"checkpoint does not need ({what}). Loading it could run arbitrary code. fairseq-salign "
        "loads checkpoints with torch's weights-only unpickler and allow-lists only fairseq's own "
        "data classes; re-save the checkpoint without these objects, or obtain it from a source "
        "you trust and inspect it before use."
    )
