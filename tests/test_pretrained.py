"""Progressive training: loading a stage-1 (MT) checkpoint fills exactly T-enc, embeddings and
decoder, and refuses a checkpoint that does not fit."""
import re

import pytest
import torch
from conftest import build_in_process, run_cli, train_args
from fairseq import checkpoint_utils

from fairseq_salign.models.pretrained import TEXT_PREFIXES


def test_stage1_checkpoint_fills_exactly_the_textual_side(corpus, mt_checkpoint):
    torch.manual_seed(123)
    _, fresh, _ = build_in_process(corpus, "--alignment", "none")
    torch.manual_seed(123)  # same initialisation, plus the stage-1 weights
    _, loaded, _ = build_in_process(
        corpus, "--alignment", "none", "--load-pretrained-mt-from", mt_checkpoint
    )
    stage1 = checkpoint_utils.load_checkpoint_to_cpu(str(mt_checkpoint))["model"]
    text_storage = {loaded.state_dict()[k].data_ptr() for k in loaded.state_dict() if k.startswith(TEXT_PREFIXES)}
    n_text = n_other = 0
    for key, value in loaded.state_dict().items():
        if key.startswith(TEXT_PREFIXES) or value.data_ptr() in text_storage:  # tied CTC weight
            torch.testing.assert_close(value, stage1[key], msg=key)
            n_text += 1
        else:
            torch.testing.assert_close(value, fresh.state_dict()[key], msg=key)
            n_other += 1
    assert n_text > 10 and n_other > 10
    # stage 1 trained the text side: it differs from a fresh initialisation
    emb = "encoder.textual_encoder.embed_tokens.weight"
    assert not torch.equal(loaded.state_dict()[emb], fresh.state_dict()[emb])


def test_checkpoint_of_another_size_is_refused_with_the_list(corpus, mt_checkpoint):
    with pytest.raises(ValueError) as err:
        build_in_process(
            corpus, "--load-pretrained-mt-from", mt_checkpoint, "--textual-encoder-layers", "3"
        )
    message = str(err.value)
    assert "--load-pretrained-mt-from" in message and "missing: encoder.textual_encoder.layers.2" in message


def test_missing_pretrained_file_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        build_in_process(corpus, "--load-pretrained-acoustic-from", tmp_path / "nope.pt")


def test_progressive_mt_then_asr_then_multitask(corpus, mt_checkpoint, tmp_path):
    """Stage 1b (ASR pre-training from the stage-1 checkpoint) through fairseq-train; stage 2
    then takes the acoustic side from it and the text side from stage 1."""
    asr_dir, st_dir = tmp_path / "asr", tmp_path / "st"
    out = run_cli("fairseq-train", train_args(
        corpus, asr_dir, "--training-stage", "asr", "--alignment", "none",
        "--load-pretrained-mt-from", mt_checkpoint, "--max-update", "3"))
    log = out.stdout + out.stderr
    assert "ctc_loss" in log and "num_updates=3" in log and not re.search(r"\b(st|mt)_loss", log)
    asr = checkpoint_utils.load_checkpoint_to_cpu(str(asr_dir / "checkpoint_last.pt"))["model"]
    mt = checkpoint_utils.load_checkpoint_to_cpu(str(mt_checkpoint))["model"]
    for key in mt:  # the text side is frozen in stage 1b
        if key.startswith(TEXT_PREFIXES):
            torch.testing.assert_close(asr[key], mt[key], msg=key)

    run_cli("fairseq-train", train_args(
        corpus, st_dir, "--alignment", "soft", "--max-update", "1",
        "--load-pretrained-acoustic-from", asr_dir / "checkpoint_last.pt",
        "--load-pretrained-mt-from", mt_checkpoint))
    torch.manual_seed(0)
    _, model, _ = build_in_process(
        corpus, "--alignment", "none", "--load-pretrained-acoustic-from",
        asr_dir / "checkpoint_last.pt", "--load-pretrained-mt-from", mt_checkpoint)
    state = model.state_dict()
    for key in ("encoder.acoustic_encoder.layers.0.fc1.weight", "encoder.ctc_proj.bias"):
        torch.testing.assert_close(state[key], asr[key], msg=key)
