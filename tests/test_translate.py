"""salign-translate on a tiny trained S-Align checkpoint: any rate/channels in, one line per file
out, bad files named on stderr while good ones are still translated, features as the recipe's."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import run_cli

from fairseq_salign.api import ModelError, load_salign
from fairseq_salign.audio import AudioError, load_audio

SPLIT = "tst-COMMON"
GOOD = ("mono16k", "stereo44k")


@pytest.fixture(scope="module")
def checkpoint(st_checkpoint) -> Path:
    return st_checkpoint


def _first_segment(corpus: Path):
    entry = yaml.safe_load((corpus / "data" / SPLIT / "txt" / f"{SPLIT}.yaml").read_text())[0]
    wav = corpus / "data" / SPLIT / "wav" / entry["wav"]
    return load_audio(wav, entry["offset"], entry["duration"])


@pytest.fixture(scope="module")
def audio(corpus, tmp_path_factory) -> dict:
    """A corpus utterance as 16 kHz mono and as 44.1 kHz stereo, plus broken files."""
    from scipy.signal import resample_poly

    root = tmp_path_factory.mktemp("audio")
    wave = _first_segment(corpus)
    files = {name: root / f"{name}.wav" for name in
             ("mono16k", "stereo44k", "empty", "no_samples", "corrupt", "long")}
    sf.write(files["mono16k"], wave, 16000, subtype="FLOAT")
    wave44 = resample_poly(wave, 441, 160).astype(np.float32)
    sf.write(files["stereo44k"], np.stack([wave44, 0.5 * wave44], axis=1), 44100)
    files["empty"].write_bytes(b"")
    sf.write(files["no_samples"], np.zeros(0, np.float32), 16000)
    files["corrupt"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64)))
    sf.write(files["long"], np.zeros(16000 * 3, np.float32), 8000)  # 6.0 s at 8 kHz
    return files


def _lines(text: str):
    return [line for line in text.splitlines() if line]


def test_st_translates_good_files_and_names_every_bad_one(checkpoint, corpus, audio):
    files = [audio[n] for n in ("mono16k", "empty", "stereo44k", "no_samples", "corrupt", "long")]
    missing = audio["mono16k"].parent / "missing.wav"
    out = run_cli(
        "salign-translate",
        ["--checkpoint", checkpoint, "--data-dir", corpus, "--beam", "2", "--max-len-b", "10",
         "--max-seconds", "5", "--no-segment", *files, missing],
        check=False,
    )
    assert out.returncode == 1, out.stderr[-2000:]
    lines = _lines(out.stdout)
    assert [line.split("\t")[0] for line in lines] == [str(audio[n]) for n in GOOD]
    assert all(line.count("\t") == 1 for line in lines)
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    expected = {
        "empty": "file is empty (0 bytes)",
        "no_samples": "audio is empty",
        "corrupt": "cannot read audio",
        "long": "6.0 s is longer than --max-seconds 5",
    }
    for name, reason in expected.items():
        assert any(str(audio[name]) in e and reason in e for e in errors), (name, errors)
    assert any(str(missing) in e and "not found" in e for e in errors)
    assert "5 of 7 files failed" in errors[-1]


def test_asr_mode_transcribes_mono_and_stereo_alike(checkpoint, corpus, audio):
    out = run_cli(
        "salign-translate",
        ["--checkpoint", checkpoint, "--data-dir", corpus, "--mode", "asr",
         audio["mono16k"], audio["stereo44k"]],
    )
    lines = _lines(out.stdout)
    assert [line.split("\t")[0] for line in lines] == [str(audio[n]) for n in GOOD]


def test_features_match_the_recipe_and_model_length_limit(checkpoint, corpus, audio):
    """The featurizer reproduces the prepared corpus features (fbank + utterance CMVN), and a
    file beyond the model's source positions is refused with its length."""
    from fairseq.data.audio.audio_utils import get_features_or_waveform
    from fairseq.data.audio.feature_transforms.utterance_cmvn import UtteranceCMVN

    from fairseq_salign.api.features import Featurizer

    _, _, task = load_salign(str(checkpoint), str(corpus), {"infer_mode": "st"})
    row = (corpus / f"{SPLIT}_st.tsv").read_text().splitlines()[1].split("\t")
    stored = get_features_or_waveform(str(corpus / row[1]))
    ours = Featurizer(task.data_cfg, max_frames=6000)(load_audio(audio["mono16k"]), "mono16k.wav")
    np.testing.assert_allclose(ours, UtteranceCMVN()(stored), atol=1e-3)

    with pytest.raises(AudioError, match=r"mono16k\.wav: 0\.4 s \(\d+ frames\) is beyond the "
                       r"model's 20 source positions \(0\.22 s\); split it"):
        Featurizer(task.data_cfg, max_frames=20)(load_audio(audio["mono16k"]), str(audio["mono16k"]))


def test_refuses_missing_and_foreign_checkpoints(checkpoint, corpus, tmp_path):
    import torch

    with pytest.raises(ModelError, match="not found"):
        load_salign(str(tmp_path / "nope.pt"), str(corpus))
    state = torch.load(checkpoint)  # weights-only, with the plugin's allow-list
    state["cfg"]["model"]["_name"] = "s2t_transformer"
    state["cfg"]["task"]["_name"] = "speech_to_text"
    foreign = tmp_path / "s2t_transformer.pt"
    torch.save(state, foreign)
    with pytest.raises(ModelError, match="'s2t_transformer' checkpoint of task 'speech_to_text', "
                       "not an S-Align model"):
        load_salign(str(foreign), str(corpus))
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ModelError, match=r"cannot read checkpoint .*text\.pt"):
        load_salign(str(tmp_path / "text.pt"), str(corpus))
