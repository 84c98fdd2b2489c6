"""The demo pipeline's bookkeeping (no training here): its commands come from the recipe's
conf file for the demo (overridden by the demo's command line), a corpus is reused only when it
was built with the demo's settings, a rebuild removes what was made from the old corpus, and the
soft mode gets the demo's adversarial weight and schedule."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "demo"))
sys.path.insert(0, str(REPO / "examples" / "mustc"))

import build_mini_mustc  # noqa: E402
import run_demo  # noqa: E402
from pipeline import Pipeline  # noqa: E402


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, name, cmd, show=None):
        self.calls.append((name, [str(c) for c in cmd]))
        return ""


def make_pipeline(tmp_path, *argv):
    args = run_demo.build_parser().parse_args(["--out", str(tmp_path / "demo"), "--cpu", *argv])
    pipe = Pipeline(args, REPO)
    pipe.run = Recorder()
    return pipe


def fake_built_corpus(pipe, marker: str) -> None:
    data = pipe.data / "data"
    (data / "tst-HE" / "txt").mkdir(parents=True)
    (data / "tst-HE" / "txt" / "tst-HE.yaml").write_text("- {}\n")
    (data / build_mini_mustc.MARKER).write_text(marker)


def test_corpus_is_reused_only_when_built_with_the_same_settings(tmp_path):
    pipe = make_pipeline(tmp_path)
    fake_built_corpus(pipe, "size=1500 seed=1 vocab_top_k=2000\n")
    (pipe.ckpt / "mt").mkdir(parents=True)
    pipe.build_corpus()
    assert pipe.run.calls == [] and (pipe.ckpt / "mt").is_dir()

    other = make_pipeline(tmp_path, "--size", "900")
    (other.data / "mt_extra.tsv").write_text("id\tsrc_text\ttgt_text\n")
    other.build_corpus()
    (name, cmd), = other.run.calls
    assert name == "build_corpus" and cmd[cmd.index("--size") + 1] == "900"
    # made from the old corpus: fairseq-train would otherwise resume from these checkpoints
    assert not other.ckpt.exists() and not (other.data / "mt_extra.tsv").exists()


def test_soft_mode_gets_the_demo_weight_and_a_schedule_scaled_to_its_updates(tmp_path):
    pipe = make_pipeline(tmp_path, "--st-epochs", "4", "--adversarial-weight", "1.5")
    pipe.st_updates_per_epoch = lambda: 50
    pipe.train_st("soft")
    (name, cmd), _average = pipe.run.calls
    assert name == "train_soft_whisper"  # the default features
    option = lambda flag: cmd[cmd.index(flag) + 1]  # noqa: E731
    assert option("--adversarial-weight") == "1.5"
    assert (option("--adversarial-warmup-updates"), option("--adversarial-decay-start"),
            option("--adversarial-decay-end")) == ("20", "100", "181")
    pipe.run.calls.clear()
    pipe.train_st("none")
    assert "--adversarial-weight" not in pipe.run.calls[0][1]


def test_whisper_features_train_speech_stages_on_their_own_data_and_share_stage_1(tmp_path):
    pipe = make_pipeline(tmp_path, "--features", "whisper")
    pipe.st_updates_per_epoch = lambda: 10
    pipe.train_mt()
    pipe.train_asr()
    pipe.train_st("none")
    (mt, mt_cmd), (asr, asr_cmd), (st, st_cmd), _ = pipe.run.calls
    assert mt_cmd[1] == str(pipe.data) and "--conv-layers" not in mt_cmd
    for cmd in (asr_cmd, st_cmd):
        assert cmd[1] == str(pipe.data / "whisper")
        assert cmd[cmd.index("--conv-layers") + 1] == "1"
        assert cmd[cmd.index("--max-tokens") + 1] == "2000"  # 50 Hz: the fbank batch's seconds
        assert cmd[cmd.index("--load-pretrained-mt-from") + 1] == str(pipe.ckpt / "mt" / "checkpoint_best.pt")
    assert st_cmd[st_cmd.index("--save-dir") + 1] == str(pipe.ckpt / "whisper" / "none")
    assert (asr, st) == ("train_asr_whisper", "train_none_whisper")


def test_demo_hands_over_its_model_and_subtitles_an_unseen_talk(tmp_path):
    pipe = make_pipeline(tmp_path)
    wav_dir = pipe.data / "data" / "tst-HE" / "wav"
    wav_dir.mkdir(parents=True)
    for name in ("ted_tstHE2.wav", "ted_tstHE1.wav"):
        (wav_dir / name).write_bytes(b"")
    model = pipe.hand_over("soft", {"st_bleu_tst-COMMON": {"score": 12.345, "signature": "nrefs:1|x"},
                                    "asr_wer_tst-COMMON": {"score": 40.0, "words": 9},
                                    "st_bleu_tst-HE": {"score": 3.0, "signature": "nrefs:1|x"}})
    (export, export_cmd), (subs, subs_cmd) = pipe.run.calls
    assert (export, subs) == ("export_whisper", "subtitles_whisper")
    option = lambda cmd, flag: cmd[cmd.index(flag) + 1]  # noqa: E731
    assert option(export_cmd, "--checkpoint") == str(pipe.ckpt / "whisper" / "soft" / "average.pt")
    assert option(export_cmd, "--data-dir") == str(pipe.data / "whisper")
    assert option(export_cmd, "--out") == str(pipe.out / "model") and "--force" in export_cmd
    assert "--score=tst-COMMON ST BLEU=12.35" in export_cmd  # tst-HE is not the model's score
    assert "--score=tst-COMMON ASR WER=40.00" in export_cmd and not any("tst-HE" in c for c in export_cmd)
    assert option(export_cmd, "--sacrebleu-signature") == "nrefs:1|x"
    assert subs_cmd[0].endswith("salign-translate") and option(subs_cmd, "--mode") == "both"
    assert "--segment" in subs_cmd and subs_cmd[-1] == str(wav_dir / "ted_tstHE1.wav")
    assert option(subs_cmd, "--model-dir") == str(pipe.out / "model")
    assert model["subtitles"][0].endswith("subtitles/ted_tstHE1.srt")
    assert "--model-dir" in model["command"] and model["command"].endswith("your_recording.wav")


def option_of(cmd, flag):
    assert cmd.count(flag) == 1, f"{flag} given {cmd.count(flag)} times in {cmd}"
    return cmd[cmd.index(flag) + 1]


def test_demo_commands_come_from_its_conf_file(tmp_path):
    """Every stage's options are the conf's (a changed file changes the commands), the demo's
    command line overrides them, and run-tied options are the pipeline's."""
    conf = tmp_path / "demo.yaml"
    text = run_demo.CONF.read_text()
    assert "  lr: 5e-3\n" in text and "  beam: 5\n" in text and "  vocab-size: 1000" in text
    conf.write_text(text.replace("  lr: 5e-3\n", "  lr: 7e-4\n").replace("  beam: 5\n", "  beam: 3\n")
                    .replace("  vocab-size: 1000", "  vocab-size: 321"))
    pipe = make_pipeline(tmp_path, "--conf", str(conf), "--mt-epochs", "2", "--average", "4")
    pipe.st_updates_per_epoch = lambda: 10
    pipe.prepare()
    pipe.train_mt()
    pipe.train_st("soft")
    pipe._generate("soft", "asr", "tst-HE")
    (_, prep), _prep_whisper, (_, mt), (_, st), (_, average), (_, gen) = pipe.run.calls
    assert option_of(prep, "--vocab-size") == "321" and "--no-progress" in prep
    assert option_of(mt, "--lr") == "7e-4" and option_of(mt, "--max-epoch") == "2"  # conf, CLI
    assert option_of(mt, "--training-stage") == "mt" and option_of(mt, "--mt-extra-subsets") == "mt_extra"
    assert option_of(st, "--keep-last-epochs") == "4" and option_of(average, "--num-epochs") == "4"
    assert option_of(st, "--modal-adam-betas") == "(0.9, 0.98)"  # the conf's, for soft
    assert option_of(st, "--warmup-updates") == "5"  # 4 epochs x 10 updates / 8: the pipeline's
    assert option_of(gen, "--beam") == "3" and option_of(gen, "--gen-subset") == "tst-HE_st"
    assert pipe.settings()["vocab_size"] == 321 and pipe.settings()["mt_epochs"] == 2


def test_soft_only_options_stay_out_of_the_other_systems(tmp_path):
    pipe = make_pipeline(tmp_path)
    pipe.st_updates_per_epoch = lambda: 10
    for mode in ("none", "hard"):
        pipe.train_st(mode)
    for name, cmd in pipe.run.calls[::2]:
        assert not [w for w in cmd if w.startswith(("--adversarial", "--modal"))], name
        assert option_of(cmd, "--alignment") in ("none", "hard")


def test_fbank80_features_replace_the_confs_whisper_options(tmp_path):
    pipe = make_pipeline(tmp_path, "--features", "fbank80")
    pipe.st_updates_per_epoch = lambda: 10
    pipe.train_asr()
    pipe.train_st("none", updates=40)
    (asr_name, asr), (st_name, st), _average = pipe.run.calls
    assert (asr_name, st_name) == ("train_asr", "train_none")  # fbank80's names are unsuffixed
    for cmd in (asr, st):
        assert "--conv-layers" not in cmd and option_of(cmd, "--max-tokens") == "4000"
        assert cmd[1] == str(pipe.data)
    # a budget in updates: checkpoints by updates, no epoch validation left from the conf
    assert option_of(st, "--max-update") == "40" and "--validate-interval" not in st


def test_a_conf_without_what_the_demo_reads_is_refused_naming_it(tmp_path):
    conf = tmp_path / "demo.yaml"
    conf.write_text(run_demo.CONF.read_text().replace("  num-epochs: 3\n", ""))
    with pytest.raises(SystemExit, match=rf"{conf} sets no average: num-epochs"):
        make_pipeline(tmp_path, "--conf", str(conf))
    conf.write_text("stage3:\n  lr: 1\n")
    with pytest.raises(SystemExit, match="unknown section"):
        make_pipeline(tmp_path, "--conf", str(conf))


def test_modality_gap_analysis_of_the_systems(tmp_path):
    pipe = make_pipeline(tmp_path)
    out_json = pipe.out / "modality_gap_whisper.json"
    out_json.write_text('{"models": [{"label": "none", "mmd2_rbf": 0.2}, {"label": "soft", "mmd2_rbf": 0.1}]}')
    gap = pipe.analyze(["none", "soft"])
    assert gap["soft"]["mmd2_rbf"] == 0.1 and set(gap) == {"none", "soft"}
    (name, cmd), = pipe.run.calls
    assert name == "analyze_whisper" and cmd[0].endswith("salign-analyze")
    assert cmd[cmd.index("--checkpoint") + 1:cmd.index("--label")] == [
        str(pipe.ckpt / "whisper" / m / "average.pt") for m in ("none", "soft")]
    assert option_of(cmd, "--data-dir") == str(pipe.data / "whisper")
    assert option_of(cmd, "--out-png").endswith("modality_gap_whisper.png") and "--cpu" in cmd


def test_updates_per_epoch_batch_by_the_confs_max_tokens(tmp_path):
    """5 utterances of 900 frames: 2 a batch at whisper's 2000 tokens, 4 at fbank80's 4000."""
    for features, batches in (("whisper", 3), ("fbank80", 2)):
        pipe = make_pipeline(tmp_path / features, "--features", features)
        pipe.speech_data.mkdir(parents=True)
        (pipe.speech_data / "train_st.tsv").write_text(
            "id\taudio\tn_frames\ttgt_text\n" + "".join(f"u{i}\ta.npy\t900\tx\n" for i in range(5)))
        assert pipe.st_updates_per_epoch() == batches, features
