"""Progressive training: loading a stage-1 (MT) checkpoint fills exactly T-enc, embeddings and
decoder, and refuses a checkpoint that does not fit. The whole chain (MT, then ASR, then
multi-task from both) runs through fairseq-train in tests/test_recipe.py."""
import pytest
import torch
from conftest import build_in_process
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
