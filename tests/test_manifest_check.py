"""Manifests are checked when a split is loaded: a row pointing past the end of its zip, a missing
file, a duplicate id or an empty text the stage trains on is named by manifest, line and id, before
any batch; --skip-invalid-rows drops such rows of train splits only, with a count in the log."""
import logging
import os
import shutil
from pathlib import Path

import pytest
from conftest import build_in_process, run_cli, train_args

from fairseq_salign.data import manifest_check
from fairseq_salign.data.manifest_check import ManifestError, check_rows, read_manifest

HEADER = "id\taudio\tn_frames\tsrc_text\ttgt_text\tspeaker\n"


def write(path: Path, rows) -> Path:
    path.write_text(HEADER + "".join("\t".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def zip_dir(tmp_path) -> Path:
    (tmp_path / "f.zip").write_bytes(b"\0" * 1000)
    return tmp_path


def good(i, offset=0):
    return (f"u{i}", f"f.zip:{offset}:100", 10, f"hello {i}", f"hallo {i}", "spk")


def check(path, root, **options):
    rows, lines = read_manifest(path)
    return check_rows(path, rows, lines, audio_root=str(root), **options)


def test_valid_manifest_passes(zip_dir):
    path = write(zip_dir / "train.tsv", [good(i, 100 * i) for i in range(10)])
    assert len(check(path, zip_dir, texts=("src_text", "tgt_text"))) == 10


def test_each_fault_named_by_line_and_id(zip_dir):
    rows = [good(0), ("u1", "f.zip:99999999:4000", 10, "a", "b", "s"), ("u2", "gone.zip:0:10", 10, "a", "b", "s"),
            good(0), ("u4", "f.zip:0:100", 10, "a", "", "s"), ("u5", "f.zip:0:100", 0, "a", "b", "s")]
    path = write(zip_dir / "train.tsv", rows)
    with pytest.raises(ManifestError) as err:
        check(path, zip_dir, texts=("src_text", "tgt_text"), is_train=True)
    msg = str(err.value)
    assert msg.startswith(f"{path}: 5 of 6 rows invalid")
    assert "line 3 (id u1): audio f.zip:99999999:4000: bytes 99999999-100003999 run past the end" in msg
    assert f"{zip_dir / 'f.zip'} (1000 bytes)" in msg
    assert "line 4 (id u2)" in msg and "gone.zip not found" in msg
    assert "line 5 (id u0): duplicate id u0" in msg
    assert "line 6 (id u4): empty tgt_text" in msg
    assert "line 7 (id u5): n_frames '0'" in msg
    assert "re-run the recipe" in msg.lower() and "--skip-invalid-rows" in msg


def test_first_few_then_a_count(zip_dir):
    path = write(zip_dir / "train.tsv", [(f"u{i}", "f.zip:990:100", 10, "a", "b", "s") for i in range(30)])
    with pytest.raises(ManifestError, match=r"30 of 30 rows invalid: .*line 6 \(id u4\).*; and 25 more"):
        check(path, zip_dir)


def test_texts_checked_only_where_the_stage_reads_them(zip_dir):
    path = write(zip_dir / "dev.tsv", [("u0", "f.zip:0:100", 10, "", "b", "s")])
    assert len(check(path, zip_dir, texts=("tgt_text",))) == 1
    with pytest.raises(ManifestError, match="empty src_text"):
        check(path, zip_dir, texts=("src_text", "tgt_text"))


def test_skip_invalid_rows_drops_and_counts_on_train(zip_dir, caplog):
    rows = [good(i, 100 * i) for i in range(8)] + [("bad", "f.zip:950:100", 10, "a", "b", "s"), good(1)]
    path = write(zip_dir / "train.tsv", rows)
    with caplog.at_level(logging.WARNING):
        kept = check(path, zip_dir, texts=("tgt_text",), is_train=True, skip_invalid=True)
    assert [r["id"] for r in kept] == [f"u{i}" for i in range(8)]
    assert "dropped 2 of 10 rows of" in caplog.text and "audio: 1, duplicate id: 1" in caplog.text


def test_skip_invalid_rows_refused_for_dev(zip_dir):
    path = write(zip_dir / "dev.tsv", [good(0), ("bad", "f.zip:950:100", 10, "a", "b", "s")])
    with pytest.raises(ManifestError, match="--skip-invalid-rows applies to train splits only"):
        check(path, zip_dir, is_train=False, skip_invalid=True)


def test_each_file_stat_once(zip_dir, monkeypatch):
    path = write(zip_dir / "train.tsv", [good(i, i) for i in range(500)])
    rows, lines = read_manifest(path)
    calls = []
    real_stat = os.stat
    monkeypatch.setattr(manifest_check.os, "stat", lambda p, *a, **k: calls.append(p) or real_stat(p, *a, **k))
    assert len(check_rows(path, rows, lines, audio_root=str(zip_dir))) == 500
    assert calls == [f"{zip_dir}/f.zip"]


# ---- through the task, as fairseq-train loads a split ----------------------------------------
def damaged_copy(corpus: Path, tmp_path: Path, split: str, line: int, **fields) -> Path:
    """A copy of the prepared data directory (audio_root still points at the original zip) with
    one manifest row changed."""
    data = tmp_path / "data"
    shutil.copytree(corpus, data, ignore=shutil.ignore_patterns("*.zip"))
    path = data / f"{split}.tsv"
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    row = dict(zip(header, lines[line - 1].split("\t")))
    row.update(fields)
    lines[line - 1] = "\t".join(row[c] for c in header)
    path.write_text("\n".join(lines), encoding="utf-8")
    return data


def n_rows(data: Path, split: str) -> int:
    return len(read_manifest(data / f"{split}.tsv")[0])


def test_load_dataset_names_row_past_end_of_zip(corpus, tmp_path):
    data = damaged_copy(corpus, tmp_path, "train_st", 4, audio="fbank80.zip:99999999:4000")
    task, _, _ = build_in_process(data)
    with pytest.raises(ManifestError, match=r"train_st.tsv: 1 of \d+ rows invalid: line 4 \(id .+\): "
                                            r"audio fbank80.zip:99999999:4000: .* run past the end"):
        task.load_dataset("train_st")


@pytest.mark.parametrize("column, stage", [("tgt_text", "multitask"), ("src_text", "multitask"),
                                           ("src_text", "mt")])
def test_load_dataset_refuses_empty_text(corpus, tmp_path, column, stage):
    data = damaged_copy(corpus, tmp_path, "train_st", 2, **{column: ""})
    task, _, _ = build_in_process(data, "--training-stage", stage, *(["--alignment", "none"] if stage == "mt" else []))
    with pytest.raises(ManifestError, match=rf"line 2 \(id .+\): empty {column}"):
        task.load_dataset("train_st")


def test_dev_split_checked_too(corpus, tmp_path):
    data = damaged_copy(corpus, tmp_path, "dev_st", 3, tgt_text="")
    task, _, _ = build_in_process(data, "--skip-invalid-rows")
    with pytest.raises(ManifestError, match="dev_st.tsv.*train splits only"):
        task.load_dataset("dev_st")


def test_fairseq_train_skips_and_counts(corpus, tmp_path):
    data = damaged_copy(corpus, tmp_path, "train_st", 4, audio="fbank80.zip:99999999:4000")
    n = n_rows(data, "train_st")
    failed = run_cli("fairseq-train", train_args(data, tmp_path / "a", "--max-update", "1"), check=False)
    assert failed.returncode != 0
    assert f"train_st.tsv: 1 of {n} rows invalid: line 4" in failed.stderr
    ran = run_cli("fairseq-train", train_args(data, tmp_path / "b", "--max-update", "1", "--skip-invalid-rows"))
    log = ran.stdout + ran.stderr
    assert f"--skip-invalid-rows: dropped 1 of {n} rows of" in log and "(audio: 1)" in log
    assert f"train_st: {n - 1} utterances" in log


def test_n_frames_checked_against_the_stored_array_header(corpus, tmp_path):
    """A manifest whose n_frames disagrees with the .npy header at its offset (a manifest of
    another preparation of the same zip) is named; the array itself is not read."""
    rows, _ = read_manifest(corpus / "dev_st.tsv")
    data = damaged_copy(corpus, tmp_path, "dev_st", 3, n_frames=str(int(rows[1]["n_frames"]) + 7))
    task, _, _ = build_in_process(data)
    with pytest.raises(ManifestError, match=r"dev_st.tsv: 1 of \d+ rows invalid: line 3 \(id .+\): "
                       rf"n_frames {int(rows[1]['n_frames']) + 7}, but the array stored at "
                       rf"fbank80.zip:\d+:\d+ holds {rows[1]['n_frames']} frames"):
        task.load_dataset("dev_st")


def test_headers_read_for_a_sample_of_rows_spread_over_the_manifest(tmp_path, monkeypatch):
    """One header read per row costs minutes on a cold network disk for a 250k-row manifest:
    HEADER_SAMPLE rows, evenly spread, are compared (a wrong manifest disagrees on nearly all)."""
    import io

    import numpy as np

    with open(tmp_path / "f.zip", "wb") as f:
        for i in range(6):
            buf = io.BytesIO()
            np.save(buf, np.zeros((5, 2), np.float32))
            f.seek(200 * i)
            f.write(buf.getvalue())
    rows = [(f"u{i}", f"f.zip:{200 * i}:150", 7, "a", "b", "s") for i in range(6)]
    path = write(tmp_path / "train.tsv", rows)
    monkeypatch.setattr(manifest_check, "HEADER_SAMPLE", 3)
    with pytest.raises(ManifestError) as err:
        check(path, tmp_path)
    assert str(err.value).startswith(f"{path}: 3 of 6 rows invalid")
    assert [f"line {n} (id u{n - 2}): n_frames 7, but the array stored at f.zip:{200 * (n - 2)}:150 "
            "holds 5 frames" in str(err.value) for n in (2, 4, 6)] == [True] * 3
