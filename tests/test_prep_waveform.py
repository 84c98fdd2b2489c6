"""MuST-C recipe with --features waveform: FLAC/WAV members, manifests in samples, side by side
with an fbank80 preparation of the same corpus; load_stored_waveform and its errors."""
from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mustc_synth as synth  # noqa: E402
from mustc_synth import SPLITS, make_synthetic_mustc  # noqa: E402
from test_prep_mustc import read_tsv  # noqa: E402

from fairseq_salign.audio import AudioError, load_audio, n_fbank_frames  # noqa: E402
from fairseq_salign.data.features import KINDS, Waveform  # noqa: E402
from fairseq_salign.data.mustc import PrepError  # noqa: E402
from fairseq_salign.data.prep import prepare_mustc  # noqa: E402
from fairseq_salign.data.stored_audio import load_stored_waveform  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HALF_LSB = 0.5 / 32768


def prep(corpus, **kw):
    kw.setdefault("vocab_size", 40)
    kw.setdefault("progress", False)
    return prepare_mustc(corpus.root, ["de"], **kw)["de"]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """fbank80 then waveform (FLAC) preparations of one corpus; one train talk is 8 kHz."""
    corpus = make_synthetic_mustc(tmp_path_factory.mktemp("mustc"), n_per_split=4)
    synth.convert_wav(corpus, "train", corpus.segments["train"][0].wav, sample_rate=8000)
    fbank = prep(corpus)
    fbank_files = {p.name: p.read_bytes() for p in corpus.lang_root.iterdir() if p.is_file()}
    wave = prep(corpus, features="waveform")
    return corpus, fbank, wave, fbank_files


def test_side_by_side_with_fbank_and_shared_vocabulary(both):
    corpus, fbank, wave, fbank_files = both
    assert fbank.out_dir == corpus.lang_root and wave.out_dir == corpus.lang_root / "waveform"
    # the fbank preparation is untouched, byte for byte
    assert {p.name: p.read_bytes() for p in corpus.lang_root.iterdir() if p.is_file()} \
        == fbank_files
    for split in SPLITS:
        assert read_tsv(corpus.lang_root / f"{split}_st.tsv")[0]["audio"].startswith("fbank80.zip:")
        rows = read_tsv(wave.out_dir / f"{split}_st.tsv")
        assert all(r["audio"].startswith("wav16k.zip:") for r in rows)
    # identical training text: the vocabulary is copied, so checkpoints move between the two
    assert wave.vocab_copied_from == corpus.lang_root and "copied from" in wave.summary()
    assert wave.vocab.dict_path.read_bytes() == fbank.vocab.dict_path.read_bytes()
    assert wave.vocab.model_path.read_bytes() == fbank.vocab.model_path.read_bytes()
    with zipfile.ZipFile(wave.out_dir / "wav16k.zip") as zf:
        infos = zf.infolist()
    assert all(i.compress_type == zipfile.ZIP_STORED and i.filename.endswith(".flac")
               for i in infos)
    assert len(infos) == sum(len(corpus.segments[s]) for s in SPLITS)


def test_members_decode_to_the_segment_samples(both):
    corpus, _, wave, _ = both
    resampled_wav = corpus.segments["train"][0].wav
    for split in SPLITS:
        rows = {r["id"]: r for r in read_tsv(wave.out_dir / f"{split}_st.tsv")}
        for seg in corpus.segments[split]:
            row = rows[seg.id]
            stored = load_stored_waveform(row["audio"], wave.out_dir)
            want = load_audio(corpus.wav_path(split, seg.wav), seg.offset, seg.duration)
            assert stored.dtype == np.float32 and len(stored) == int(row["n_frames"]) == len(want)
            if seg.wav == resampled_wav:  # 16-bit quantization of the resampled float samples
                assert np.abs(stored - np.clip(want, -1, 1)).max() <= HALF_LSB + 1e-7
            else:  # 16-bit 16 kHz input: FLAC is lossless
                np.testing.assert_array_equal(stored, want)
    # an already resolved path (audio_root None), as a dataset's audio_paths hold it
    row = read_tsv(wave.out_dir / "dev_st.tsv")[0]
    np.testing.assert_array_equal(
        load_stored_waveform((wave.out_dir / row["audio"]).as_posix()),
        load_stored_waveform(row["audio"], str(wave.out_dir)))


def test_config_is_audio_input_without_transforms(both):
    from fairseq.data.audio.data_cfg import S2TDataConfig

    _, _, wave, _ = both
    raw = yaml.safe_load(wave.config.read_text())
    assert {k: raw[k] for k in ("use_audio_input", "use_sample_rate", "standardize_audio",
                                "input_channels", "input_feat_per_channel")} == {
        "use_audio_input": True, "use_sample_rate": 16000, "standardize_audio": False,
        "input_channels": 1, "input_feat_per_channel": 1}
    assert "feature_transforms" not in raw and "specaugment" not in raw
    assert raw["audio_root"] == str(wave.out_dir)
    cfg = S2TDataConfig(wave.config)
    assert cfg.use_audio_input and cfg.use_sample_rate == 16000
    assert not cfg.get_feature_transforms("train", True).get("feature_transforms")
    with pytest.raises(PrepError, match="waveform features take no feature transforms"):
        prep(both[0], features="waveform", specaugment="lb")


def test_rerun_reuses_and_a_format_change_recomputes(both, tmp_path):
    corpus, _, wave, _ = both
    zip_path = wave.out_dir / "wav16k.zip"
    before = zip_path.stat().st_mtime_ns
    again = prep(corpus, features="waveform")
    assert again.featurized_splits == [] and zip_path.stat().st_mtime_ns == before

    wav = prep(corpus, features=Waveform(format="wav"), output_subdir="waveform-wav")
    assert wav.featurized_splits == list(SPLITS)
    rows = read_tsv(wav.out_dir / "train_st.tsv")
    seg = corpus.segments["train"][0]  # resampled: float WAV keeps it exactly
    stored = load_stored_waveform({r["id"]: r for r in rows}[seg.id]["audio"], wav.out_dir)
    want = load_audio(corpus.wav_path("train", seg.wav), seg.offset, seg.duration)
    np.testing.assert_array_equal(stored, np.clip(want, -1, 1))
    assert (wav.out_dir / "wav16k.zip").stat().st_size > 2 * zip_path.stat().st_size


def test_length_filters_keep_the_same_segments_for_every_kind(tmp_path):
    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=8, splits=("train", "dev"))
    frames = sorted({n_fbank_frames(int(s.duration * 16000)) for s in corpus.segments["train"]})
    kw = dict(splits=["train", "dev"], min_n_frames=frames[1], max_n_frames=frames[-2])
    fbank, wave = prep(corpus, **kw), prep(corpus, features="waveform", **kw)
    assert fbank.reports["train"].dropped == wave.reports["train"].dropped != {}
    ids = [r["id"] for r in read_tsv(fbank.out_dir / "train_st.tsv")]
    rows = read_tsv(wave.out_dir / "train_st.tsv")
    assert [r["id"] for r in rows] == ids
    assert all(int(r["n_frames"]) > 160 * kw["min_n_frames"] for r in rows)  # samples


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=3)
    calls = {"n": 0}
    real = Waveform.featurize

    def dying(self, wave):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, wave)

    monkeypatch.setattr(Waveform, "featurize", dying)
    with pytest.raises(KeyboardInterrupt):
        prep(corpus, features="waveform", num_workers=1)
    out = corpus.lang_root / "waveform"
    names = {p.name for p in out.iterdir()} if out.exists() else set()
    assert not names & {"wav16k.zip", "prep_state.json", "train_st.tsv", "config_st.yaml"}
    monkeypatch.setattr(Waveform, "featurize", real)
    assert prep(corpus, features="waveform").featurized_splits == list(SPLITS)


def test_bad_audio_and_bad_options_name_what_to_fix(tmp_path):
    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=4)
    bad = synth.corrupt_wav(corpus, "dev", corpus.segments["dev"][0].wav)
    with pytest.raises(PrepError, match=rf"dev\.yaml entry 1 / dev\.en, dev\.de line 1: "
                                        rf"{bad}: cannot read audio"):
        prep(corpus, features="waveform")
    with pytest.raises(PrepError, match="--waveform-format 'mp3': choose one of flac, wav"):
        KINDS.build("waveform", format="mp3")
    with pytest.raises(PrepError, match="--features 'mfcc': unknown feature kind"):
        prep(corpus, features="mfcc")
    with pytest.raises(PrepError, match="output subdirectory 'data': give one directory name"):
        prep(corpus, features="waveform", output_subdir="data")
    good = make_synthetic_mustc(tmp_path / "g", n_per_split=2)
    prep(good)  # fbank80 in en-de/ itself
    with pytest.raises(PrepError, match=r"en-de holds a fbank80 preparation .*choose another "
                                        r"output subdirectory"):
        prep(good, features="waveform", output_subdir="")


def test_load_stored_waveform_errors_name_the_manifest_path(both, tmp_path):
    corpus, fbank, wave, _ = both
    with pytest.raises(AudioError, match=r"gone\.zip:0:10 \(resolved: .*gone\.zip:0:10\): "
                                         r"file not found"):
        load_stored_waveform("gone.zip:0:10", tmp_path)
    npy = read_tsv(fbank.out_dir / "dev_st.tsv")[0]["audio"]  # an fbank .npy member
    with pytest.raises(AudioError, match=rf"{npy} .*stored bytes are not decodable audio"):
        load_stored_waveform(npy, fbank.out_dir)
    size = (wave.out_dir / "wav16k.zip").stat().st_size
    with pytest.raises(AudioError, match="run past the end of .*wav16k.zip"):
        load_stored_waveform(f"wav16k.zip:{size - 10}:100", wave.out_dir)
    sf.write(tmp_path / "a8k.flac", np.zeros(800, np.float32), 8000)
    with pytest.raises(AudioError, match=r"a8k\.flac: sample rate 8000 Hz, expected 16000"):
        load_stored_waveform(str(tmp_path / "a8k.flac"))
    sf.write(tmp_path / "st.wav", np.zeros((1600, 2), np.float32), 16000)
    with pytest.raises(AudioError, match=r"st\.wav \(resolved: .*st\.wav\): 2 channels, "
                                         r"expected mono"):
        load_stored_waveform("st.wav", tmp_path)
    with pytest.raises(AudioError, match=r"missing\.flac \(resolved: .*\): cannot read"):
        load_stored_waveform("missing.flac", tmp_path)
    buf = io.BytesIO()
    sf.write(buf, np.full(100, 0.25, np.float32), 16000, format="FLAC")
    (tmp_path / "ok.flac").write_bytes(buf.getvalue())
    assert load_stored_waveform("ok.flac", tmp_path).tolist() == [0.25] * 100


def test_cli_features_waveform_and_foreign_options(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "examples" / "mustc"))
    import prep_mustc_data

    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=2)
    base = ["--data-root", str(corpus.root), "--vocab-size", "30", "--no-progress"]
    assert prep_mustc_data.main(base + ["--features", "waveform", "--waveform-format", "wav",
                                        "--num-workers", "2"]) == 0
    out = capsys.readouterr().out
    assert f"en-de -> {corpus.lang_root / 'waveform'}" in out and "WAV FLOAT" in out
    assert (corpus.lang_root / "waveform" / "tst-HE_st.tsv").is_file()
    with pytest.raises(SystemExit):
        prep_mustc_data.main(base + ["--features", "waveform", "--whisper-model", "/x"])
    assert "--whisper-model applies to --features whisper, not --features waveform" \
        in capsys.readouterr().err
