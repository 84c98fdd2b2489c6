"""salign-export: one movable directory per model. Exported, moved elsewhere and loaded from
Python (SAlignHub) and from salign-translate, it gives exactly fairseq-generate's hypotheses on
the same inputs; an incomplete directory is a clear error."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from conftest import TESTS, cli_env, run_cli

from fairseq_salign.api import ModelError, SAlignHub
from fairseq_salign.audio import load_audio

SPLIT = "tst-COMMON"
SEARCH = ["--beam", "2", "--max-len-b", "10"]


def _run(args, cwd, check=True):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=cli_env(),
                          cwd=cwd, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def exported(st_checkpoint, corpus, tmp_path_factory) -> Path:
    """Exported under one directory, then moved to another: only the moved copy exists."""
    first = tmp_path_factory.mktemp("export") / "model"
    _run([sys.executable, "-m", "fairseq_salign.cli.export", "--checkpoint", st_checkpoint,
          "--data-dir", corpus, "--out", first, "--training-data", "synthetic tone corpus",
          "--sacrebleu-signature", "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0",
          "--score", "tst-COMMON ST BLEU=1.25"], cwd=TESTS.parent)
    moved = tmp_path_factory.mktemp("elsewhere") / "my-model"
    shutil.move(str(first), str(moved))
    return moved


def _generate(corpus, checkpoint, mode, capsys):
    """fairseq-generate's hypotheses, in this process (test_cli_e2e.py launches the console tool)."""
    from in_process import fairseq_generate

    return fairseq_generate([corpus, "--user-dir", TESTS.parent / "fairseq_salign", "--task",
                             "speech_to_text_salign", "--infer-mode", mode, "--gen-subset",
                             f"{SPLIT}_st", "--path", checkpoint, "--max-tokens", "50000",
                             *SEARCH, "--cpu"], capsys)


def _segments(corpus):
    entries = yaml.safe_load((corpus / "data" / SPLIT / "txt" / f"{SPLIT}.yaml").read_text())
    return [load_audio(corpus / "data" / SPLIT / "wav" / e["wav"], e["offset"], e["duration"])
            for e in entries]


def test_export_holds_what_inference_needs_and_nothing_training_only(exported, corpus):
    names = sorted(p.name for p in exported.iterdir())
    assert names == ["README.md", "config_st.yaml", "model.pt", "salign_model.json",
                     "spm_unigram100_st.model", "spm_unigram100_st.txt"]
    for name in ("config_st.yaml", "salign_model.json", "README.md"):
        assert str(corpus) not in (exported / name).read_text(), name  # no absolute paths
    config = yaml.safe_load((exported / "config_st.yaml").read_text())
    assert config["bpe_tokenizer"]["sentencepiece_model"] == "spm_unigram100_st.model"
    assert "audio_root" not in config
    state = torch.load(exported / "model.pt")
    assert "last_optimizer_state" not in state and "criterion" not in state  # modal network
    assert state["cfg"]["task"]["data"] == "."
    meta = json.loads((exported / "salign_model.json").read_text())
    assert meta["architecture"]["arch"] == "s2t_salign_xs" and meta["alignment"] == "soft"
    assert meta["scores"] == {"tst-COMMON ST BLEU": 1.25} and meta["parameters"] > 0
    assert meta["training_data"] == "synthetic tone corpus"
    assert "| sacreBLEU signature | nrefs:1\\|case:mixed\\|" in (exported / "README.md").read_text()


def test_python_api_and_salign_translate_match_fairseq_generate(exported, corpus, tmp_path, capsys,
                                                                monkeypatch):
    """fairseq-generate and salign-translate through their console entry points in this process
    (test_cli_e2e.py and test_translate.py launch the tools), from another directory."""
    from in_process import run_tool

    from fairseq_salign.cli.translate import main as translate

    monkeypatch.chdir(tmp_path)
    reference_st = _generate(corpus, exported / "model.pt", "st", capsys)
    reference_mt = _generate(corpus, exported / "model.pt", "mt", capsys)
    waves = _segments(corpus)
    assert len(reference_st) == len(waves) == 13

    hub = SAlignHub.from_pretrained(exported, device="cpu")
    assert hub.translate(waves, sample_rate=16000, beam=2, max_len_b=10, batch_size=4) == reference_st
    rows = [r.split("\t") for r in (corpus / f"{SPLIT}_st.tsv").read_text().splitlines()[1:]]
    assert hub.translate_text([r[3] for r in rows], beam=2, max_len_b=10) == reference_mt
    assert hub.translate_text(rows[0][3], beam=2, max_len_b=10) == reference_mt[0]  # one -> str
    transcripts = hub.transcribe(waves, sample_rate=16000)
    assert len(transcripts) == 13 and all(isinstance(t, str) for t in transcripts)

    files = []
    for i in (0, 5):
        files.append(tmp_path / f"utt{i}.wav")
        sf.write(files[-1], waves[i], 16000, subtype="FLOAT")
    assert hub.translate(str(files[1]), beam=2, max_len_b=10) == reference_st[5]
    status, out, err = run_tool(translate, ["--model-dir", exported, *SEARCH, *files], capsys)
    assert status == 0, err
    assert out.splitlines() == [f"{files[0]}\t{reference_st[0]}", f"{files[1]}\t{reference_st[5]}"]


def test_salign_analyze_reads_a_model_directory(exported, corpus, tmp_path):
    from fairseq_salign.cli.analyze import analyze

    assert analyze(["--model-dir", str(exported), "--data-dir", str(corpus), "--cpu",
                    "--out-json", str(tmp_path / "gap.json")]) == 0
    report = json.loads((tmp_path / "gap.json").read_text())
    assert [m["label"] for m in report["models"]] == ["my-model"]
    assert report["models"][0]["checkpoint"] == str(exported / "model.pt")


def test_incomplete_model_directory_is_a_clear_error(exported, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "spm_unigram100_st.model").unlink()
    with pytest.raises(ModelError, match=r"broken is incomplete: missing spm_unigram100_st\.model "
                       r"\(SentencePiece model .*\); copy the whole directory"):
        SAlignHub.from_pretrained(broken)
    (broken / "model.pt").unlink()
    out = run_cli("salign-translate", ["--model-dir", broken, "x.wav"], check=False)
    assert out.returncode == 2
    assert "missing model.pt, spm_unigram100_st.model" in out.stderr
    with pytest.raises(ModelError, match="model directory .*nowhere not found"):
        SAlignHub.from_pretrained(tmp_path / "nowhere")


def test_arrays_at_any_rate_and_layout_become_16k_mono():
    from fairseq_salign.api.features import to_wave16k
    from fairseq_salign.audio import AudioError

    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo_pcm = (np.stack([tone, tone], axis=1) * 32767).astype(np.int16)
    wave = to_wave16k(stereo_pcm, 44100, "x")
    assert wave.dtype == np.float32 and wave.shape == (16000,)
    assert abs(np.abs(wave[1000:-1000]).max() - 0.5) < 0.01  # int16 scaled to [-1, 1]
    assert np.array_equal(to_wave16k(torch.ones(8000), 16000, "t"), np.ones(8000, np.float32))
    with pytest.raises(AudioError, match="input 3: an array needs its sample_rate"):
        to_wave16k(tone, None, "input 3")
    with pytest.raises(AudioError, match=r"input 0: expected a non-empty 1-D"):
        to_wave16k(np.zeros((2, 2, 2)), 16000, "input 0")


def test_transcript_and_translation_from_one_encoder_pass(exported, corpus):
    hub = SAlignHub.from_pretrained(exported, device="cpu")
    waves = _segments(corpus)
    passes = []
    hook = hub.model.encoder.acoustic_encoder.register_forward_hook(lambda *_: passes.append(1))
    both = hub.transcribe_and_translate(waves, sample_rate=16000, batch_size=4, beam=2, max_len_b=10)
    hook.remove()
    assert len(passes) == 4  # 13 inputs in batches of 4: one acoustic-encoder pass per batch
    assert [b.transcript for b in both] == hub.transcribe(waves, 16000, batch_size=4)
    assert [b.translation for b in both] == hub.translate(waves, 16000, batch_size=4, beam=2,
                                                         max_len_b=10)
    one = hub.transcribe_and_translate(waves[2], sample_rate=16000, beam=2, max_len_b=10)
    assert one == both[2]


def test_salign_translate_mode_both_writes_bilingual_subtitles_and_segments(exported, corpus,
                                                                          tmp_path, capsys):
    import srt
    import webvtt

    from fairseq_salign.cli.translate import translate

    gap = np.zeros(16000, np.float32)
    talk = tmp_path / "talk.wav"
    sf.write(talk, np.concatenate([gap, *[x for w in _segments(corpus)[:4] for x in (w, gap)]]),
             16000, subtype="FLOAT")
    rows = {}
    for mode, fmt in (("st", "srt"), ("asr", "srt"), ("both", "srt"), ("both", "vtt")):
        out = tmp_path / f"{mode}_{fmt}"
        assert translate(["--model-dir", str(exported), "--mode", mode, "--segment", *SEARCH,
                          "--output-dir", str(out), "--subtitles", fmt, "--no-progress", "--cpu",
                          str(talk)]) == 0
        rows[mode, fmt] = [json.loads(r) for r in (out / "talk.jsonl").read_text().splitlines()]
        stdout = capsys.readouterr().out
    st, asr, both = rows["st", "srt"], rows["asr", "srt"], rows["both", "srt"]
    assert len(both) >= 2 and rows["both", "vtt"] == both
    assert [set(r) for r in both] == [{"start", "end", "transcript", "translation"}] * len(both)
    assert [r["translation"] for r in both] == [r["translation"] for r in st]
    assert [r["transcript"] for r in both] == [r["transcript"] for r in asr]
    assert [(r["start"], r["end"]) for r in both] == [(r["start"], r["end"]) for r in st]
    cues = list(srt.parse((tmp_path / "both_srt" / "talk.srt").read_text()))
    lines = lambda r: [x or "…" for x in (r["transcript"], r["translation"])]  # noqa: E731
    assert [c.content.split("\n") for c in cues] == [lines(r) for r in both]
    vtt = webvtt.read(str(tmp_path / "both_vtt" / "talk.vtt"))
    assert [c.text.split("\n") for c in vtt] == [lines(r) for r in both]  # escaping aside
    text = (tmp_path / "both_srt" / "talk.txt").read_text().splitlines()
    assert text == ["\t".join(lines(r)) for r in both]
    assert stdout.split("\t")[0] == str(talk) and len(stdout.split("\t")) == 3
