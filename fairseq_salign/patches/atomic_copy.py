"""Checkpoint copies that are never seen half-written.

fairseq's ``save_checkpoint`` writes the first checkpoint of a save atomically (a ``.tmp`` file,
then a rename), but copies it to the other names (``checkpoint_best.pt``, ``checkpoint_last.pt``)
with ``PathManager.copy``, a plain ``shutil.copyfile`` into the final name: a run killed during
that copy (SIGKILL, a pre-empted node, a full disk) leaves a ``checkpoint_last.pt`` cut short,
and the next run cannot resume from it. Here a local copy goes to a hidden temporary name in the
same directory, is flushed to disk, and is renamed over the target, so the target is always
either the old file or the whole new one. Remote paths (an ``iopath`` handler) are left to it.
"""
from __future__ import annotations

import os
import shutil


def atomic_copy(src_path: str, dst_path: str) -> bool:
    """Copy ``src_path`` over ``dst_path`` through a temporary file and a rename."""
    directory, name = os.path.split(os.path.abspath(dst_path))
    tmp = os.path.join(directory, f".{name}.partial")
    try:
        shutil.copyfile(src_path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return True


def install() -> None:
    from fairseq.file_io import PathManager

    if getattr(PathManager.copy, "_salign_atomic", False):
        return
    original = PathManager.copy

    def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
        if "://" in str(src_path) or "://" in str(dst_path):  # an iopath handler's own paths
            return original(src_path, dst_path, overwrite)
        return atomic_copy(src_path, dst_path)  # overwrites, as fairseq's own local copy does

    copy._salign_atomic = True
    PathManager.copy = staticmethod(copy)
