"""A truncated checkpoint_last.pt stops resume with a message naming it, listing the intact
checkpoints beside it (newest first) and the --restore-file that continues from the newest, and
that option does resume."""
import logging
import os
import re
import time

import pytest
import torch
from conftest import train_args
from fairseq import checkpoint_utils
from in_process import fairseq_train

import fairseq_salign  # noqa: F401 (installs the wrapped checkpoint loader)
from fairseq_salign.patches.checkpoint_recovery import DamagedCheckpointError, readable_checkpoints


def truncate(path, fraction=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(int(size * fraction))


def test_truncated_file_named_with_intact_ones_newest_first(tmp_path):
    for i, name in enumerate(["checkpoint1.pt", "checkpoint2.pt", "checkpoint_last.pt"]):
        torch.save({"model": {"w": torch.zeros(1000)}, "i": i}, tmp_path / name)
        os.utime(tmp_path / name, (time.time() - 100 + i, time.time() - 100 + i))
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    truncate(tmp_path / "checkpoint_last.pt")
    assert readable_checkpoints(tmp_path) == [tmp_path / "checkpoint2.pt", tmp_path / "checkpoint1.pt"]
    with pytest.raises(DamagedCheckpointError) as err:
        checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "checkpoint_last.pt"))
    msg = str(err.value)
    assert f"Cannot read checkpoint {tmp_path / 'checkpoint_last.pt'}" in msg
    assert re.search(r"newest first: checkpoint2\.pt \(.+\); checkpoint1\.pt", msg)
    assert f"--restore-file {tmp_path / 'checkpoint2.pt'}" in msg


def test_empty_file_and_no_intact_one(tmp_path):
    (tmp_path / "checkpoint_best.pt").write_bytes(b"")
    with pytest.raises(DamagedCheckpointError, match="No intact checkpoint is in"):
        checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "checkpoint_best.pt"))


def test_resume_from_truncated_last_checkpoint(corpus, tmp_path, caplog):
    save = tmp_path / "save"
    fairseq_train(train_args(corpus, save, "--max-epoch", "2"))
    last = save / "checkpoint_last.pt"
    truncate(last)
    with pytest.raises(DamagedCheckpointError) as failed:  # the console script exits non-zero
        fairseq_train(train_args(corpus, save, "--max-epoch", "3"))
    log = str(failed.value)
    assert f"Cannot read checkpoint {last}" in log
    newest = readable_checkpoints(save)[0]
    assert newest.name in ("checkpoint2.pt", "checkpoint_best.pt")
    restore = f"--restore-file {newest}"
    assert restore in log
    caplog.clear()
    with caplog.at_level(logging.INFO):
        fairseq_train(train_args(corpus, save, "--max-epoch", "3", *restore.split()))
    assert re.search(rf"Loaded checkpoint {re.escape(str(newest))} \(epoch \d+ @ \d+ updates\)", caplog.text)
    assert (save / "checkpoint3.pt").is_file()
    checkpoint_utils.load_checkpoint_to_cpu(str(last))  # overwritten intact by the resumed run


def test_killed_while_saving_resumes_from_an_intact_checkpoint(corpus, tmp_path, caplog):
    """SIGKILL in the middle of writing checkpoint_last.pt (epoch 2's copy, slowed by a test shim):
    the file is still epoch 1's whole checkpoint, and the next run resumes from it, losing only
    the interrupted epoch."""
    import signal
    import subprocess

    from conftest import BIN, TESTS, cli_env

    save, marker = tmp_path / "save", tmp_path / "copying"
    env = {**cli_env(), "SALIGN_TEST_SLOW_COPY": str(marker),
           "PYTHONPATH": os.pathsep.join([str(TESTS / "shims"), os.environ.get("PYTHONPATH", "")])}
    cmd = [str(BIN / "fairseq-train"), *map(str, train_args(corpus, save, "--max-epoch", "3"))]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), f"the shim never slowed a copy (exit {proc.poll()})"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    last = save / "checkpoint_last.pt"
    updates = lambda p: checkpoint_utils.load_checkpoint_to_cpu(str(p))["optimizer_history"][-1]["num_updates"]  # noqa: E731
    # intact (no half-written file), and still epoch 1's; the interrupted save's own file is whole
    assert updates(last) == updates(save / "checkpoint1.pt") < updates(save / "checkpoint2.pt")
    caplog.clear()
    with caplog.at_level(logging.INFO):  # the resume in this process (the kill was of a real one)
        fairseq_train(train_args(corpus, save, "--max-epoch", "3"))
    n = updates(save / "checkpoint1.pt")
    assert re.search(rf"Loaded checkpoint {re.escape(str(last))} \(epoch \d+ @ {n} updates\)", caplog.text)
    assert updates(last) == updates(save / "checkpoint3.pt")
    assert not list(save.glob("checkpoint*.partial"))  # the leftover is hidden: .checkpoint_last.pt.partial
