"""fairseq's --store-ema with this task and model, and the tools that read the EMA weights
(salign-average/-export/-analyze/-translate, SAlignHub): the EMA is exact for every weight
(tied ones included), and a checkpoint without one is a clear error."""
import json
import shutil
from argparse import Namespace

import pytest
import torch
from conftest import train_args
from fairseq import checkpoint_utils
from in_process import fairseq_train, run_tool

from fairseq_salign.api import ModelError, SAlignHub, load_salign
from fairseq_salign.cli import CliError, model_source
from fairseq_salign.cli.analyze import analyze

DECAY = 0.9
SPLIT = "tst-COMMON_st"


def _load(path):
    return checkpoint_utils.load_checkpoint_to_cpu(str(path))


def _tool(name, args, capsys):
    """``salign-average`` / ``salign-export`` through their own ``main``, in this process (a
    subprocess start costs seconds of imports): ``(exit status, stderr)``."""
    from fairseq_salign.checkpoint_average import main as average
    from fairseq_salign.cli.export import main as export

    status, _, err = run_tool({"salign-average": average, "salign-export": export}[name], args, capsys)
    return status, err


@pytest.fixture(scope="module")
def save_dir(corpus, tmp_path_factory):
    """3 updates, one per epoch; the EMA copies update 1 (--ema-start-update 2), then decays.
    fairseq-train's own main in this process (its trainer, EMA and checkpoints; the console script
    is tested in test_cli_e2e): its tests are marked e2e, they train."""
    out = tmp_path_factory.mktemp("ema")
    fairseq_train(train_args(corpus, out, "--alignment", "soft", "--max-update", "3",
                             "--store-ema", "--ema-decay", str(DECAY), "--ema-start-update", "2"))
    return out


def test_trainer_saves_the_exact_ema_of_every_weight(save_dir):
    """fairseq's EMA lost the decoder's final LayerNorm and decayed the tied embedding matrix
    once per name (4 times per update) before the fixes."""
    state = _load(save_dir / "checkpoint3.pt")
    ema, model = state["extra_state"]["ema"], state["model"]
    assert list(ema) == list(model)
    w1, w2, w3 = (_load(save_dir / f"checkpoint{i}.pt")["model"] for i in (1, 2, 3))
    for key, value in ema.items():
        expected = DECAY * (DECAY * w1[key] + (1 - DECAY) * w2[key]) + (1 - DECAY) * w3[key]
        torch.testing.assert_close(value, expected, atol=1e-6, rtol=1e-5, msg=key)
    assert not torch.equal(ema["decoder.layer_norm.weight"], model["decoder.layer_norm.weight"])


def test_average_of_ema_weights(save_dir, tmp_path, capsys):
    out = tmp_path / "avg_ema.pt"
    assert _tool("salign-average", ["--inputs", save_dir / "checkpoint2.pt",
                                    save_dir / "checkpoint3.pt", "--ema", "--output", out], capsys)[0] == 0
    avg = _load(out)
    a, b = (_load(save_dir / f"checkpoint{i}.pt")["extra_state"]["ema"] for i in (2, 3))
    for key in ("decoder.layer_norm.weight", "decoder.embed_tokens.weight"):
        torch.testing.assert_close(avg["model"][key], (a[key] + b[key]) / 2)
    assert "ema" not in avg["extra_state"]  # the average is the model now

    plain = tmp_path / "avg.pt"  # a plain average drops the last input's EMA: not an average
    assert _tool("salign-average", ["--inputs", save_dir / "checkpoint2.pt",
                                    save_dir / "checkpoint3.pt", "--output", plain], capsys)[0] == 0
    assert "ema" not in _load(plain)["extra_state"]
    status, err = _tool("salign-average", ["--inputs", plain, "--ema", "--output", tmp_path / "x.pt"],
                        capsys)
    assert status == 1 and f"{plain} holds no EMA weights" in err
    assert "--store-ema" in err and not (tmp_path / "x.pt").exists()


def test_export_ema_and_load_it_back(save_dir, corpus, tmp_path, capsys):
    checkpoint = save_dir / "checkpoint_last.pt"
    assert _tool("salign-export", ["--checkpoint", checkpoint, "--data-dir", corpus, "--out",
                                   tmp_path / "m", "--ema"], capsys)[0] == 0
    meta = json.loads((tmp_path / "m" / "salign_model.json").read_text())
    assert meta["weights"] == "ema" and "| weights | ema |" in (tmp_path / "m" / "README.md").read_text()
    ema = _load(checkpoint)["extra_state"]["ema"]
    loaded = SAlignHub.from_pretrained(tmp_path / "m", device="cpu").model.state_dict()
    for key in ("decoder.layer_norm.bias", "encoder.ctc_proj.weight"):
        torch.testing.assert_close(loaded[key], ema[key])
    assert "ema" not in torch.load(tmp_path / "m" / "model.pt")["extra_state"]

    plain = tmp_path / "plain.pt"
    assert _tool("salign-average", ["--inputs", checkpoint, "--output", plain], capsys)[0] == 0
    status, err = _tool("salign-export", ["--checkpoint", plain, "--data-dir", corpus, "--out",
                                          tmp_path / "n", "--ema"], capsys)
    assert status == 2 and "holds no EMA weights" in err
    assert not (tmp_path / "n").exists()


def test_hub_and_translate_options(save_dir, corpus, tmp_path):
    checkpoint = save_dir / "checkpoint_last.pt"
    state = _load(checkpoint)
    hub = SAlignHub.from_checkpoint(checkpoint, corpus, device="cpu", ema=True)
    key = "decoder.embed_tokens.weight"
    torch.testing.assert_close(hub.model.state_dict()[key], state["extra_state"]["ema"][key])
    assert isinstance(hub.translate_text("hello"), str)
    model, _, _ = load_salign(str(checkpoint), str(corpus))
    torch.testing.assert_close(model.state_dict()[key], state["model"][key])

    broken = tmp_path / "old_ema.pt"  # EMA weights as an earlier version saved them
    shutil.copy(checkpoint, broken)
    raw = torch.load(broken, weights_only=False)
    del raw["extra_state"]["ema"]["decoder.layer_norm.weight"]
    torch.save(raw, broken)
    with pytest.raises(ModelError, match=r"old_ema.pt: its EMA weights do not match its model "
                       r"\(1 tensors missing, e.g. \['decoder.layer_norm.weight'\]"):
        load_salign(str(broken), str(corpus), ema=True)
    with pytest.raises(CliError, match="salign-export --ema"):
        model_source(Namespace(model_dir=str(tmp_path), checkpoint=None, data_dir=None, ema=True))


def test_analyze_last_and_ema_weights_side_by_side(save_dir, corpus, tmp_path, capsys):
    checkpoint = str(save_dir / "checkpoint_last.pt")
    out = tmp_path / "gap.json"
    assert analyze(["--checkpoint", checkpoint, checkpoint, "--weights", "model", "ema",
                    "--data-dir", str(corpus), "--split", SPLIT, "--cpu",
                    "--out-json", str(out)]) == 0
    rows = json.loads(out.read_text())["models"]
    assert [r["weights"] for r in rows] == ["model", "ema"]
    assert [r["label"] for r in rows] == ["checkpoint_last.pt", "checkpoint_last.pt (ema)"]
    assert rows[0]["paired_cosine"] != rows[1]["paired_cosine"]

    with pytest.raises(ModelError, match="3 --weights values for 2 checkpoints"):
        analyze(["--checkpoint", checkpoint, checkpoint, "--weights", "ema", "ema", "model",
                 "--data-dir", str(corpus)])
    plain = tmp_path / "plain.pt"
    assert _tool("salign-average", ["--inputs", checkpoint, "--output", plain], capsys)[0] == 0
    with pytest.raises(ModelError, match=r"plain.pt holds no EMA weights.*--store-ema"):
        analyze(["--checkpoint", str(plain), "--weights", "ema", "--data-dir", str(corpus),
                 "--split", SPLIT, "--cpu"])


def test_validate_on_ema(save_dir, corpus, tmp_path):
    """--validate-on-ema validates fairseq's EMA model (fairseq's task hook ``uses_ema``): with
    the EMA a copy of the model (--ema-start-update beyond the run) the valid loss is the plain
    run's (fairseq's copy is made in training mode: validation must not see dropout); with the
    decaying EMA it differs, training does not."""
    for name, start in (("copy", "100"), ("decayed", "2")):
        fairseq_train(train_args(
            corpus, tmp_path / name, "--alignment", "soft", "--max-update", "3", "--store-ema",
            "--ema-decay", str(DECAY), "--ema-start-update", start, "--validate-on-ema",
            "--eval-bleu", "--eval-bleu-args", '{"beam": 1, "max_len_b": 5}'))
    for epoch in (1, 2, 3):
        val_loss = _load(tmp_path / "copy" / f"checkpoint{epoch}.pt")["extra_state"]["val_loss"]
        assert val_loss == pytest.approx(_load(save_dir / f"checkpoint{epoch}.pt")["extra_state"]["val_loss"])
    plain, decayed = _load(save_dir / "checkpoint3.pt"), _load(tmp_path / "decayed" / "checkpoint3.pt")
    assert decayed["extra_state"]["val_loss"] != pytest.approx(plain["extra_state"]["val_loss"], abs=1e-3)
    key = "decoder.layers.0.fc1.weight"
    torch.testing.assert_close(decayed["model"][key], plain["model"][key])
    torch.testing.assert_close(decayed["extra_state"]["ema"][key], plain["extra_state"]["ema"][key])


def test_validate_on_ema_needs_store_ema(corpus):
    from conftest import build_in_process

    with pytest.raises(ValueError, match="--validate-on-ema needs --store-ema"):
        build_in_process(corpus, "--validate-on-ema")


def test_validation_loss_and_bleu_come_from_the_ema_model(corpus):
    """fairseq's SequenceGenerator ignores the models inference_step is given: --eval-bleu on the
    EMA needs a generator of its own."""
    import copy

    from conftest import build_in_process, first_batch

    from fairseq_salign.tasks.dev_bleu import bleu_statistics, parse_generation_args

    options = '{"beam": 1, "max_len_b": 8}'
    torch.manual_seed(1)
    task, model, criterion = build_in_process(corpus, "--store-ema", "--validate-on-ema",
                                              "--eval-bleu", "--eval-bleu-args", options)
    criterion.eval()  # as fairseq's trainer validates
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(torch.randn_like(p))
    sample = first_batch(task, "dev_st")
    log = task.valid_step(sample, model, criterion, ema_model=ema)[2]
    ema_bleu = bleu_statistics(task, task.build_generator([ema], parse_generation_args(options)),
                               ema, sample, task._bleu_bpe)
    model_bleu = bleu_statistics(task, task._bleu_generator, model, sample, task._bleu_bpe)
    assert {k: log[k] for k in ema_bleu} == ema_bleu != model_bleu
    assert log["loss"] == task.valid_step(sample, ema, criterion)[2]["loss"]
    assert log["loss"] != task.valid_step(sample, model, criterion)[2]["loss"]
