"""Checkpoints load with torch's weights-only unpickler; anything beyond fairseq's own data
classes is refused with a message naming the file and the object."""
import os

import pytest
import torch
from conftest import TESTS, run_cli
from fairseq import checkpoint_utils

from fairseq_salign.patches.checkpoint_safety import UnsafeCheckpointError


def test_fairseq_checkpoint_loads_weights_only(mt_checkpoint):
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    state = checkpoint_utils.load_checkpoint_to_cpu(str(mt_checkpoint))
    assert "encoder.textual_encoder.embed_tokens.weight" in state["model"]


@pytest.fixture
def foreign_checkpoint(mt_checkpoint, tmp_path):
    state = torch.load(mt_checkpoint, map_location="cpu", weights_only=False)  # trusted: ours
    state["extra_state"]["payload"] = os.system  # what a malicious file would smuggle in
    path = tmp_path / "foreign.pt"
    torch.save(state, path)
    return path


def test_foreign_pickled_object_is_refused(foreign_checkpoint):
    with pytest.raises(UnsafeCheckpointError) as err:
        checkpoint_utils.load_checkpoint_to_cpu(str(foreign_checkpoint))
    message = str(err.value)
    assert str(foreign_checkpoint) in message and "system" in message
    assert "Refusing to load" in message


def test_fairseq_generate_refuses_it_too(corpus, foreign_checkpoint):
    out = run_cli(
        "fairseq-generate",
        [corpus, "--user-dir", TESTS.parent / "fairseq_salign", "--task", "speech_to_text_salign",
         "--gen-subset", "tst-COMMON_st", "--path", foreign_checkpoint, "--cpu"],
        check=False,
    )
    assert out.returncode != 0
    assert "Refusing to load checkpoint" in out.stderr
    assert not [l for l in out.stdout.splitlines() if l.startswith("H-")]
