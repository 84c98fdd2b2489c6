"""salign-analyze on a tiny trained S-Align checkpoint: metrics in range, JSON + PNG written,
deterministic per seed, vectors correctly paired, clear refusals."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TEST_SIZES, run_cli, train_args

from fairseq_salign.api import ModelError
from fairseq_salign.cli import load_salign
from fairseq_salign.cli.analyze import analyze

SPLIT = "tst-COMMON_st"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def save_dir(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("analyze_ckpt")
    run_cli("fairseq-train", train_args(corpus, out, "--alignment", "soft", "--max-update", "2"))
    return out


def test_cli_two_checkpoints_table_json_png(save_dir, corpus, tmp_path):
    out = run_cli(
        "salign-analyze",
        ["--checkpoint", save_dir / "checkpoint_last.pt", save_dir / "checkpoint1.pt",
         "--label", "soft", "epoch1", "--data-dir", corpus, "--split", SPLIT, "--seed", "3",
         "--out-json", tmp_path / "gap.json", "--out-png", tmp_path / "gap.png"],
    )
    assert "probe acc" in out.stdout and "soft" in out.stdout and "epoch1" in out.stdout
    assert "MLP acc" in out.stdout and "modal net acc" in out.stdout
    report = json.loads((tmp_path / "gap.json").read_text())
    assert report["split"] == SPLIT and report["seed"] == 3
    assert [m["label"] for m in report["models"]] == ["soft", "epoch1"]
    for metrics in report["models"]:
        assert metrics["n_sentences"] == TEST_SIZES["tst-COMMON"]
        assert metrics["weights"] == "model"
        for probe in ("probe_accuracy", "mlp_probe_accuracy", "modal_network_accuracy"):
            assert 0.0 <= metrics[probe] <= 1.0
        assert 0.0 <= metrics["retrieval_top1"] <= 1.0
        assert metrics["retrieval_chance"] == pytest.approx(1 / TEST_SIZES["tst-COMMON"])
        assert np.isfinite(metrics["mmd2_rbf"]) and np.isfinite(metrics["centroid_gap"])
        assert -1.0 <= metrics["paired_cosine"] <= 1.0
    png = (tmp_path / "gap.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000


def test_same_seed_same_report(save_dir, corpus, tmp_path):
    """Also on a train split, which fairseq loads with SpecAugment (analysis must not)."""
    reports = []
    for name in ("a.json", "b.json"):
        args = ["--checkpoint", str(save_dir / "checkpoint_last.pt"), "--data-dir", str(corpus),
                "--split", "train_st", "--max-utterances", "9", "--seed", "5", "--cpu",
                "--out-json", str(tmp_path / name)]
        assert analyze(args) == 0
        reports.append(json.loads((tmp_path / name).read_text()))
    assert reports[0] == reports[1]
    assert reports[0]["models"][0]["n_sentences"] == 9


def test_vectors_are_paired_and_batching_invariant(save_dir, corpus):
    """Small batches (reordered by length) give each utterance the vectors and token states it
    gets alone; the token states pool to the vectors."""
    from fairseq_salign.analysis.vectors import paired_vectors

    model, _, task = load_salign(
        str(save_dir / "checkpoint_last.pt"), str(corpus),
        {"infer_mode": None, "training_stage": "multitask"},
    )
    task.load_dataset(SPLIT)
    dataset = task.dataset(SPLIT)
    indices = list(range(len(dataset)))
    batched = paired_vectors(model, dataset, indices, torch.device("cpu"), max_tokens=200, tokens=True)
    assert batched.ids == list(dataset.ids)
    for i in (0, 5, len(dataset) - 1):
        alone = paired_vectors(model, dataset, [i], torch.device("cpu"), tokens=True)
        np.testing.assert_allclose(batched.speech[i], alone.speech[0], atol=1e-5)
        np.testing.assert_allclose(batched.text[i], alone.text[0], atol=1e-5)
        np.testing.assert_allclose(batched.speech_tokens[i], alone.speech_tokens[0], atol=1e-5)
        np.testing.assert_allclose(batched.text_tokens[i], alone.text_tokens[0], atol=1e-5)
        np.testing.assert_allclose(batched.text_tokens[i].mean(0), batched.text[i], atol=1e-5)
        np.testing.assert_allclose(batched.speech_tokens[i].mean(0), batched.speech[i], atol=1e-5)
    assert paired_vectors(model, dataset, [0], torch.device("cpu")).speech_tokens is None
    assert not np.allclose(batched.speech[0], batched.speech[1])


def test_refusals(save_dir, corpus, tmp_path):
    ckpt = str(save_dir / "checkpoint_last.pt")
    with pytest.raises(ModelError, match=r"split 'tst-COMMON' not found.*tst-COMMON_st"):
        analyze(["--checkpoint", ckpt, "--data-dir", str(corpus), "--split", "tst-COMMON"])
    with pytest.raises(ModelError, match="data directory .* not found"):
        analyze(["--checkpoint", ckpt, "--data-dir", str(tmp_path / "none")])
    with pytest.raises(ModelError, match="1 --label values for 2 checkpoints"):
        analyze(["--checkpoint", ckpt, ckpt, "--label", "x", "--data-dir", str(corpus)])
    with pytest.raises(ModelError, match=r"checkpoint .*missing\.pt not found"):
        analyze(["--checkpoint", str(tmp_path / "missing.pt"), "--data-dir", str(corpus)])

    # another copy of the data (the checkpoint points elsewhere) with a 3-utterance split
    data = tmp_path / "copy"
    data.mkdir()
    for path in [corpus / "config_st.yaml", *corpus.glob("spm*")]:  # config + vocabulary + spm
        shutil.copy(path, data / path.name)
    rows = (corpus / "tst-HE_st.tsv").read_text().splitlines()[:4]
    (data / "three_st.tsv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ModelError, match="gives 3 utterances; the probe needs at least 4"):
        analyze(["--checkpoint", ckpt, "--data-dir", str(data), "--split", "three_st"])
