"""salign-average: the averaged model is the mean of the inputs; mismatches are refused."""
import shutil

import pytest
import torch
from conftest import run_cli, train_args
from fairseq import checkpoint_utils


@pytest.fixture(scope="module")
def epoch_checkpoints(corpus, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("avg")
    run_cli("fairseq-train", train_args(corpus, save_dir, "--alignment", "none", "--max-epoch", "3",
                                        "--mt-weight", "0"))
    return save_dir


def test_average_of_last_epochs_is_the_mean(epoch_checkpoints, tmp_path):
    out = tmp_path / "avg.pt"
    run_cli("salign-average", ["--save-dir", epoch_checkpoints, "--num-epochs", "2", "--output", out])
    avg = checkpoint_utils.load_checkpoint_to_cpu(str(out))["model"]
    a, b = (checkpoint_utils.load_checkpoint_to_cpu(str(epoch_checkpoints / f"checkpoint{i}.pt"))["model"]
            for i in (2, 3))
    key = "decoder.layers.0.fc1.weight"
    torch.testing.assert_close(avg[key], (a[key] + b[key]) / 2)
    assert not torch.equal(a[key], b[key])
    assert not list(tmp_path.glob("*.partial"))


def average(args, capsys):
    """salign-average's own main in this process (the console tool itself runs above):
    ``(exit status, stderr)``."""
    from in_process import run_tool

    from fairseq_salign.checkpoint_average import main

    status, _, err = run_tool(main, args, capsys)
    return status, err


def test_too_few_epochs_and_missing_files_are_clear_errors(epoch_checkpoints, tmp_path, capsys):
    status, err = average(["--save-dir", epoch_checkpoints, "--num-epochs", "9",
                           "--output", tmp_path / "x.pt"], capsys)
    assert status == 1 and "3 epoch checkpoints, 9 asked" in err
    status, err = average(["--inputs", tmp_path / "nope.pt", "--output", tmp_path / "x.pt"], capsys)
    assert status == 1 and "checkpoint not found" in err
    assert not (tmp_path / "x.pt").exists()


def test_checkpoints_of_different_models_are_refused(epoch_checkpoints, mt_checkpoint, tmp_path,
                                                     capsys):
    other = tmp_path / "other.pt"
    shutil.copy(mt_checkpoint, other)
    state = torch.load(other, weights_only=False)
    state["model"].pop("decoder.layers.0.fc1.weight")
    torch.save(state, other)
    status, err = average(["--inputs", epoch_checkpoints / "checkpoint1.pt", other,
                           "--output", tmp_path / "x.pt"], capsys)
    assert status == 1 and "different parameters" in err
