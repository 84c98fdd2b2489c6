"""A checkpoint that cannot be read (cut short by a full disk or an interrupted copy): say which
file, which checkpoints beside it are intact, and the exact option to go on from the newest.

torch alone says ``PytorchStreamReader failed reading zip archive: failed finding central
directory`` and nothing of the file. Why no automatic fallback to the newest intact checkpoint:
fairseq's loader is shared by resume, ``fairseq-generate --path``, checkpoint averaging and
pretrained-part loading, where substituting another file is never right; "newest" can only be
judged by modification time, which a later copy of ``checkpoint_best.pt`` or files copied between
machines make wrong, and resuming from the wrong point silently repeats or skips training; and a
truncated last checkpoint often means a full disk that the next save would hit again. An explicit
``--restore-file`` costs one re-run and leaves the choice with the user, who can see the list.
"""
import os
import time
import zipfile
from pathlib import Path
from typing import List


class DamagedCheckpointError(RuntimeError):
    """A checkpoint file that is empty or truncated (its zip directory or pickle is cut off)."""


def is_damaged(path, err: BaseException) -> bool:
    """Did loading ``path`` fail with ``err`` because the file is cut short? Empty; a zip archive
    (torch's format since 1.6) without its central directory or that torch's zip reader cannot
    read; a legacy pickle that ends early. Cheap: reads the file's head and zip directory only."""
    try:
        if os.path.getsize(path) == 0:
            return True
        with open(path, "rb") as f:
            head = f.read(4)
    except (OSError, TypeError):
        return False
    if head.startswith(b"PK"):
        return "PytorchStreamReader" in str(err) or not readable_archive(path)
    return head[:1] == b"\x80" and (isinstance(err, EOFError) or "truncated" in str(err))


def readable_archive(path) -> bool:
    """The zip directory of a torch checkpoint is intact and lists its ``data.pkl``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def readable_checkpoints(directory) -> List[Path]:
    """``*.pt`` files in ``directory`` whose archive is intact, newest (modified) first."""
    found = [p for p in Path(directory).glob("*.pt") if p.is_file() and readable_archive(p)]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def damaged_message(path) -> str:
    path = Path(path)
    size = path.stat().st_size if path.exists() else 0
    intact = [p for p in readable_checkpoints(path.parent) if p.resolve() != path.resolve()]
    listed = "; ".join(
        f"{p.name} ({time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(p.stat().st_mtime))})"
        for p in intact[:10]
    )
    more = f"; and {len(intact) - 10} more" if len(intact) > 10 else ""
    message = (f"Cannot read checkpoint {path} ({size} bytes): the file is empty or cut short "
               "(an interrupted copy or save, a full disk).")
    if not intact:
        return message + f" No intact checkpoint is in {path.parent}: start again without it."
    message += f" Intact checkpoints in {path.parent}, newest first: {listed}{more}."
    if path.name.startswith("checkpoint_last"):
        return message + (f" To continue training from the newest, re-run the same command with "
                          f"--restore-file {intact[0]} (fairseq restores its model, optimizer, "
                          "epoch and data position); the damaged file is overwritten at the next save.")
    return message + f" Use one of them instead, e.g. {intact[0]}."
