"""Every change this plugin makes to stock fairseq 0.12 on Python 3.11 / torch 2.x, in one place
and installed explicitly by :func:`install` (the package's ``__init__`` calls it once; each patch
is idempotent). docs/compatibility.md says why each exists.

- ``atomic_copy``: checkpoint copies (``checkpoint_last.pt``, ``checkpoint_best.pt``) through a
  temporary file and a rename, never half-written;
- ``checkpoint_safety``: checkpoints loaded with torch's weights-only unpickler and an allow-list
  of the plain data fairseq pickles; a damaged file named with the intact ones beside it
  (``checkpoint_recovery``);
- ``cli_help``: ``fairseq-train --help`` lists the plugin's options;
- ``cpu_ddp``: fairseq's default DDP wrapper on CPU processes (gloo);
- ``ema`` (in ``fairseq_salign/ema.py``, beside the EMA tools): fairseq's ``--store-ema`` keeps
  this model's tied weights and version buffers right.
"""
from .. import ema
from . import atomic_copy, checkpoint_safety, cli_help, cpu_ddp

PATCHES = (atomic_copy, checkpoint_safety, cli_help, cpu_ddp, ema)


def install() -> None:
    """Install every patch (idempotent)."""
    for patch in PATCHES:
        patch.install()
