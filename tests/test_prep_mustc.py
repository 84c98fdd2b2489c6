"""MuST-C recipe on a synthetic release tree: outputs, fairseq compatibility, re-runs."""
from __future__ import annotations

import csv
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mustc_synth import SPLITS, make_synthetic_mustc  # noqa: E402

from fairseq_salign.audio import compute_fbank, load_audio  # noqa: E402
from fairseq_salign.data.prep import prepare_mustc  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def read_tsv(path: Path) -> list[dict]:
    """Read a manifest the way fairseq's SpeechToTextDatasetCreator does."""
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quotechar=None, doublequote=False,
                                   lineterminator="\n", quoting=csv.QUOTE_NONE))


def expected_frames(duration: float) -> int:
    return 1 + (int(duration * 16000) - 400) // 160


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    corpus = make_synthetic_mustc(tmp_path_factory.mktemp("mustc"), n_per_split=7)
    result = prepare_mustc(corpus.root, ["de"], vocab_size=120, progress=False)["de"]
    return corpus, result


def test_every_segment_in_its_manifest_with_exact_frames_and_text(prepared):
    corpus, result = prepared
    assert sorted(result.manifests) == sorted(SPLITS)
    for split in SPLITS:
        rows = read_tsv(corpus.lang_root / f"{split}_st.tsv")
        assert list(rows[0]) == ["id", "audio", "n_frames", "src_text", "tgt_text", "speaker"]
        by_id = {r["id"]: r for r in rows}
        want = corpus.segments[split]
        assert sorted(by_id) == sorted(s.id for s in want)
        for seg in want:
            row = by_id[seg.id]
            assert int(row["n_frames"]) == expected_frames(seg.duration)
            assert row["tgt_text"] == seg.tgt  # target kept as is
            assert row["src_text"] == seg.en.lower().replace(".", "").replace("?", "") \
                .replace("!", "").replace(",", "")
            assert row["speaker"] == seg.speaker
            assert row["audio"].startswith("fbank80.zip:")


def test_zip_features_read_by_fairseq_equal_direct_featurization(prepared):
    from fairseq.data.audio.audio_utils import get_features_or_waveform

    corpus, _ = prepared
    seg = corpus.segments["tst-COMMON"][3]
    row = {r["id"]: r for r in read_tsv(corpus.lang_root / "tst-COMMON_st.tsv")}[seg.id]
    feats = get_features_or_waveform((corpus.lang_root / row["audio"]).as_posix())
    wave = load_audio(corpus.wav_path("tst-COMMON", seg.wav), seg.offset, seg.duration)
    np.testing.assert_array_equal(feats, compute_fbank(wave))


def test_config_and_dataset_load_with_fairseq_from_another_directory(prepared, monkeypatch,
                                                                     tmp_path):
    from fairseq.data import Dictionary
    from fairseq.data.audio.data_cfg import S2TDataConfig
    from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDatasetCreator
    from fairseq.data.audio.speech_to_text_joint_dataset import S2TJointDataConfig
    from fairseq.data import encoders
    from argparse import Namespace

    corpus, result = prepared
    monkeypatch.chdir(tmp_path)  # paths in the config must not depend on the working directory
    raw = yaml.safe_load(result.config.read_text())
    assert "transforms" not in raw
    cfg = S2TDataConfig(result.config)
    assert cfg.input_feat_per_channel == 80 and cfg.input_channels == 1
    assert cfg.get_feature_transforms("train", True)["feature_transforms"] == \
        ["utterance_cmvn", "specaugment"]
    assert cfg.get_feature_transforms("tst-COMMON", False)["feature_transforms"] == \
        ["utterance_cmvn"]
    joint = S2TJointDataConfig(result.config)
    assert joint.src_vocab_filename == cfg.vocab_filename
    # the SentencePiece model is named relative to the config, and fairseq finds it from any
    # working directory; the transcripts' entry names the same file (the task never opens it)
    assert raw["bpe_tokenizer"]["sentencepiece_model"] == result.vocab.model_path.name
    assert Path(cfg.bpe_tokenizer["sentencepiece_model"]) == result.vocab.model_path
    assert joint.src_bpe_tokenizer == raw["bpe_tokenizer"]

    tgt_dict = Dictionary.load(str(corpus.lang_root / cfg.vocab_filename))
    assert tgt_dict.bos() == 0  # <s>: the CTC blank
    bpe = encoders.build_bpe(Namespace(**cfg.bpe_tokenizer))
    ds = SpeechToTextDatasetCreator.from_tsv(
        str(corpus.lang_root), cfg, "train_st", tgt_dict, None, bpe,
        is_train_split=True, epoch=1, seed=1)
    item = ds[0]
    assert item.source.shape[1] == 80 and item.source.shape[0] == ds.n_frames[0]
    assert tgt_dict.unk() not in item.target.tolist()
    assert bpe.decode(tgt_dict.string(item.target[:-1])) == ds.tgt_texts[0]


def test_rerun_reuses_features_and_detects_changed_split(tmp_path):
    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=4)
    first = prepare_mustc(corpus.root, ["de"], vocab_size=60, progress=False)["de"]
    assert first.featurized_splits == list(SPLITS)
    zip_path = corpus.lang_root / "fbank80.zip"
    before = zip_path.stat().st_mtime_ns
    again = prepare_mustc(corpus.root, ["de"], vocab_size=60, progress=False)["de"]
    assert again.featurized_splits == [] and zip_path.stat().st_mtime_ns == before

    dev_de = corpus.txt_dir("dev") / "dev.de"
    dev_de.write_text(dev_de.read_text(encoding="utf-8").replace("ist", "war"), encoding="utf-8")
    third = prepare_mustc(corpus.root, ["de"], vocab_size=60, progress=False)["de"]
    assert third.featurized_splits == ["dev"]
    assert any("war" in r["tgt_text"] for r in read_tsv(corpus.lang_root / "dev_st.tsv"))
    # the copied splits still point at valid features
    from fairseq.data.audio.audio_utils import get_features_or_waveform
    for split in SPLITS:
        for row in read_tsv(corpus.lang_root / f"{split}_st.tsv"):
            feats = get_features_or_waveform((corpus.lang_root / row["audio"]).as_posix())
            assert feats.shape == (int(row["n_frames"]), 80)


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    import fairseq_salign.audio as audio

    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=3)
    calls = {"n": 0}
    real = audio.compute_fbank

    def dying(wave):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(wave)

    monkeypatch.setattr(audio, "compute_fbank", dying)
    with pytest.raises(KeyboardInterrupt):
        prepare_mustc(corpus.root, ["de"], vocab_size=60, progress=False, num_workers=1)
    names = {p.name for p in corpus.lang_root.iterdir()}
    assert not names & {"fbank80.zip", "prep_state.json", "train_st.tsv", "config_st.yaml"}
    monkeypatch.setattr(audio, "compute_fbank", real)
    prepare_mustc(corpus.root, ["de"], vocab_size=60, progress=False)
    assert (corpus.lang_root / "prep_state.json").is_file()


def test_options_splits_no_normalize_char_vocab_and_backoff_warning(tmp_path, caplog):
    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=4, splits=("train", "dev"))
    with caplog.at_level(logging.WARNING):
        res = prepare_mustc(corpus.root, ["de"], splits=["train", "dev"], vocab_size=5000,
                            normalize_src=False, progress=False)["de"]
    assert f"vocabulary size 5000 is too large for this corpus; using {res.vocab.size}" \
        in caplog.text
    assert res.vocab.model_path.name == "spm_unigram5000_st.model"
    assert sorted(res.manifests) == ["dev", "train"]
    rows = read_tsv(corpus.lang_root / "train_st.tsv")
    assert [r["src_text"] for r in rows] == [s.en for s in corpus.segments["train"]]

    char = prepare_mustc(corpus.root, ["de"], splits=["train", "dev"], vocab_type="char",
                         progress=False)["de"]
    assert char.vocab.model_path.name == "spm_char_st.model"
    assert (corpus.lang_root / "spm_char_st.txt").is_file()


def test_specaugment_policy_is_written_as_fairseq_reads_it(tmp_path):
    from fairseq.data.audio.data_cfg import S2TDataConfig
    from fairseq.data.audio.feature_transforms.specaugment import SpecAugmentTransform

    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=4, splits=("train", "dev"))
    kw = dict(splits=["train", "dev"], vocab_size=40, progress=False)
    res = prepare_mustc(corpus.root, ["de"], specaugment="ss", **kw)["de"]
    cfg = S2TDataConfig(res.config)
    assert cfg.get_feature_transforms("train", True)["feature_transforms"] == ["utterance_cmvn", "specaugment"]
    transform = SpecAugmentTransform.from_config_dict(cfg.config["specaugment"])
    assert (transform.time_mask_n, transform.time_mask_t, transform.time_mask_p) == (2, 70, 0.2)

    res = prepare_mustc(corpus.root, ["de"], specaugment="none", **kw)["de"]  # re-run: config only
    cfg = S2TDataConfig(res.config)
    assert cfg.get_feature_transforms("train", True)["feature_transforms"] == ["utterance_cmvn"]
    assert "specaugment" not in cfg.config
    with pytest.raises(PrepError, match="unknown SpecAugment policy 'xx'"):
        prepare_mustc(corpus.root, ["de"], specaugment="xx", **kw)


def test_cli_runs_from_repo_root_and_reports(tmp_path):
    import subprocess

    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=3)
    proc = subprocess.run(
        [sys.executable, "examples/mustc/prep_mustc_data.py", "--data-root", str(corpus.root),
         "--languages", "de", "--vocab-size", "50", "--num-workers", "2", "--no-progress"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert "train: 3/3 segments kept" in proc.stdout
    assert (corpus.lang_root / "tst-HE_st.tsv").is_file()


# ------------------------------------------------------------------ bad input
from fairseq_salign.data.mustc import PrepError  # noqa: E402
import mustc_synth as synth  # noqa: E402


@pytest.fixture
def corpus(tmp_path):
    return make_synthetic_mustc(tmp_path / "m", n_per_split=4)


def prep(corpus, **kw):
    kw.setdefault("vocab_size", 60)
    kw.setdefault("progress", False)
    return prepare_mustc(corpus.root, ["de"], **kw)["de"]


def test_missing_split_directory(corpus):
    import shutil

    shutil.rmtree(corpus.lang_root / "data" / "tst-HE")
    with pytest.raises(PrepError, match=r"split directory not found: .*en-de/data/tst-HE "
                                        r"\(expected the MuST-C layout"):
        prep(corpus)
    prep(corpus, splits=["train", "dev", "tst-COMMON"])  # choosing splits avoids it


def test_line_counts_differ(corpus):
    path = synth.drop_last_line(corpus, "dev", "de")
    with pytest.raises(PrepError, match=rf"dev: .*dev\.yaml has 4 segments but {path} has 3 "
                                        r"lines; the files must be line-aligned"):
        prep(corpus, skip_bad_segments=True)  # structural: never skippable


def test_missing_wav_named_with_yaml_entry(corpus):
    wav = corpus.segments["train"][2].wav  # the second talk: yaml entries 3 and 4
    corpus.wav_path("train", wav).unlink()
    with pytest.raises(PrepError) as err:
        prep(corpus)
    msg = str(err.value)
    assert "train: 2 bad segment(s) (missing wav: 2)" in msg
    assert f"train.yaml entry 3 / train.en, train.de line 3: wav file not found: " \
           f"{corpus.wav_path('train', wav)}" in msg
    assert "pass --skip-bad-segments" in msg
    res = prep(corpus, skip_bad_segments=True)
    assert res.reports["train"].dropped == {"missing wav": 2}
    assert "train: 2/4 segments kept; dropped 2 (missing wav)" in res.summary()
    ids = {r["id"] for r in read_tsv(corpus.lang_root / "train_st.tsv")}
    assert ids == {s.id for s in corpus.segments["train"] if s.wav != wav}


def test_missing_wav_in_eval_split_is_fatal_even_when_skipping(corpus):
    wav = corpus.segments["tst-COMMON"][0].wav
    corpus.wav_path("tst-COMMON", wav).unlink()
    with pytest.raises(PrepError, match=r"(?s)tst-COMMON: 2 bad segment\(s\) \(missing wav: 2\)"
                                        r".*dev and tst-\* splits never drop segments"):
        prep(corpus, skip_bad_segments=True)


@pytest.mark.parametrize("damage,reason,detail", [
    (synth.corrupt_wav, "unreadable or empty audio", "cannot read audio"),
    (synth.empty_wav, "unreadable or empty audio", "audio is empty (0 samples)"),
])
def test_unreadable_or_empty_audio(corpus, damage, reason, detail):
    wav = corpus.segments["train"][0].wav
    path = damage(corpus, "train", wav)
    with pytest.raises(PrepError) as err:
        prep(corpus)
    assert f"train: 2 bad segment(s) ({reason}: 2)" in str(err.value)
    assert f"train.yaml entry 1 / train.en, train.de line 1: {path}: {detail}" in str(err.value)
    assert prep(corpus, skip_bad_segments=True).reports["train"].dropped == {reason: 2}


def test_segment_past_end_of_wav_gives_the_numbers(corpus):
    synth.stretch_past_end(corpus, "dev", line=4, extra_s=5.0)
    seg = corpus.segments["dev"][3]
    with pytest.raises(PrepError) as err:
        prep(corpus)
    msg = str(err.value)
    assert "dev: 1 bad segment(s) (segment past end of wav: 1)" in msg
    assert (f"dev.yaml entry 4 / dev.en, dev.de line 4: segment offset {seg.offset}s + "
            f"duration {round(seg.duration + 5.0, 2)}s = ") in msg
    assert f"runs past the end of {corpus.wav_path('dev', seg.wav)} (" in msg
    assert "samples at 16000 Hz)" in msg


@pytest.mark.parametrize("side,reason", [("en", "empty transcript"),
                                         ("de", "empty translation")])
def test_empty_text(corpus, side, reason):
    path = synth.blank_line(corpus, "train", side, line=2)
    with pytest.raises(PrepError) as err:
        prep(corpus)
    assert f"train.yaml entry 2 / train.en, train.de line 2: {reason} in {path}" \
        in str(err.value)
    res = prep(corpus, skip_bad_segments=True)
    assert res.reports["train"].dropped == {reason: 1}
    assert len(read_tsv(corpus.lang_root / "train_st.tsv")) == 3


def test_non_16k_and_non_mono_audio_is_converted_and_counted(corpus):
    seg_8k = corpus.segments["train"][0]
    seg_st = corpus.segments["dev"][1]
    synth.convert_wav(corpus, "train", seg_8k.wav, sample_rate=8000)
    synth.convert_wav(corpus, "dev", seg_st.wav, sample_rate=44100, channels=2)
    res = prep(corpus)
    assert res.reports["train"].notices == {"wavs resampled to 16 kHz (from 8000 Hz)": 1}
    assert res.reports["dev"].notices == {
        "wavs resampled to 16 kHz (from 44100 Hz)": 1,
        "wavs mixed down to mono (from 2 channels)": 1}
    assert "wavs mixed down to mono (from 2 channels): 1" in res.summary()
    for split, seg in (("train", seg_8k), ("dev", seg_st)):
        row = {r["id"]: r for r in read_tsv(corpus.lang_root / f"{split}_st.tsv")}[seg.id]
        assert abs(int(row["n_frames"]) - expected_frames(seg.duration)) <= 1


def test_train_drops_long_and_short_but_eval_keeps_them(tmp_path):
    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=10)
    frames = [expected_frames(s.duration) for s in corpus.segments["train"]]
    values = sorted(set(frames))
    assert len(values) >= 3  # the synthetic sentences have different lengths
    lo, hi = values[1], values[-2]
    res = prep(corpus, min_n_frames=lo, max_n_frames=hi)
    assert res.reports["train"].dropped == {
        f"long speech (>{hi} frames)": sum(f > hi for f in frames),
        f"short speech (<{lo} frames)": sum(f < lo for f in frames)}
    kept = [int(r["n_frames"]) for r in read_tsv(corpus.lang_root / "train_st.tsv")]
    assert kept and all(lo <= f <= hi for f in kept)
    for split in ("dev", "tst-COMMON", "tst-HE"):
        assert len(read_tsv(corpus.lang_root / f"{split}_st.tsv")) == 10
    assert res.reports["dev"].notices[f"kept short segments (<{lo} frames, eval split)"] > 0


def test_cli_reports_bad_input_and_exits_1(corpus, capsys):
    sys.path.insert(0, str(REPO / "examples" / "mustc"))
    import prep_mustc_data

    synth.blank_line(corpus, "dev", "de", line=1)
    code = prep_mustc_data.main(["--data-root", str(corpus.root), "--vocab-size", "60",
                                 "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: dev: 1 bad segment(s) (empty translation: 1)")
