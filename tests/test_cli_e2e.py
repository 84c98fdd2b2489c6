"""End to end through fairseq's own command-line tools, without TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD:
stage-1 MT -> stage-3 multi-task (each alignment mode) -> resume -> generate ST, MT and ASR."""
import re

import pytest
from conftest import TEST_SIZES, TESTS, run_cli, train_args

PLUGIN = str(TESTS.parent / "fairseq_salign")
N_TEST = TEST_SIZES["tst-COMMON"]  # 13: not a multiple of fairseq's default batch multiple 8


def test_help_lists_the_plugin_options():
    out = run_cli(
        "fairseq-train",
        ["--user-dir", PLUGIN, "--task", "speech_to_text_salign", "--arch", "s2t_salign_s",
         "--criterion", "salign", "--help"],
    ).stdout
    for option in ("--training-stage", "--infer-mode", "--alignment", "--adapter",
                   "--acoustic-encoder-layers", "--mixup-prob", "--load-pretrained-mt-from",
                   "--speech-encoder", "--ssl-checkpoint", "--ssl-freeze-updates", "--ssl-apply-mask"):
        assert option in out, option


@pytest.fixture(scope="module")
def stage3(corpus, mt_checkpoint, tmp_path_factory):
    """Stage 3 with S-Align from the stage-1 checkpoint: 2 updates, then resumed to 4."""
    save_dir = tmp_path_factory.mktemp("stage2_soft")
    common = ["--load-pretrained-mt-from", mt_checkpoint, "--alignment", "soft",
              "--adversarial-warmup-updates", "1", "--mixup-prob", "0.5",
              "--alignment-grad-log-interval", "1", "--tensorboard-logdir", save_dir / "tb"]
    first = run_cli("fairseq-train", train_args(corpus, save_dir, *common, "--max-update", "2"))
    resumed = run_cli("fairseq-train", train_args(corpus, save_dir, *common, "--max-update", "4"))
    return save_dir, first.stdout + first.stderr, resumed.stdout + resumed.stderr


def test_multitask_training_logs_every_loss_part(stage3):
    _, log, _ = stage3
    line = [l for l in log.splitlines() if "train_inner" in l][-1]
    for key in ("st_loss", "mt_loss", "ctc_loss", "disc_loss", "adv_loss",
                "disc_acc_speech", "disc_acc_text", "adv_weight",
                "align_grad_ratio_speech", "align_grad_ratio_text"):
        assert f"{key}=" in line, key
    assert "loaded" in log and "--load-pretrained-mt-from" in log


def read_scalars(event_dir):
    """{tag: [(step, value)]} from the TensorBoard event files under ``event_dir`` (the TFRecord
    framing read by hand, records decoded with tensorboardX's own Event protobuf)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    scalars = {}
    for path in sorted(event_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_holds_the_alignment_curves(stage3):
    save_dir, log, _ = stage3
    assert "tensorboard not found" not in log
    inner = read_scalars(save_dir / "tb" / "train_inner")
    for tag in ("disc_acc_speech", "disc_acc_text", "adv_loss", "disc_loss", "st_loss",
                "align_grad_ratio_speech"):
        assert tag in inner, (tag, sorted(inner))
    # one point per update, the resumed run (updates 3-4) continuing the first run's curve
    assert [step for step, _ in inner["disc_acc_speech"]] == [1, 2, 3, 4]
    assert all(value > 0 for _, value in inner["align_grad_ratio_speech"])
    assert {"train", "dev_st"} <= {p.name for p in (save_dir / "tb").iterdir()}, "epoch and validation curves"


def test_training_resumes_from_checkpoint_last(stage3):
    save_dir, _, resumed = stage3
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 2 updates\)", resumed)
    assert "num_updates=3" in resumed and "num_updates=4" in resumed
    assert (save_dir / "checkpoint_last.pt").is_file()


@pytest.mark.parametrize("alignment", ["none", "hard"])
def test_multitask_starts_from_stage1_with_each_alignment(corpus, mt_checkpoint, tmp_path, alignment):
    out = run_cli(
        "fairseq-train",
        train_args(corpus, tmp_path, "--load-pretrained-mt-from", mt_checkpoint,
                   "--alignment", alignment, "--max-update", "2"),
    )
    log = out.stdout + out.stderr
    assert "num_updates=2" in log
    assert ("contrastive_loss=" in log) == (alignment == "hard")
    assert (tmp_path / "checkpoint_last.pt").is_file()


def _generate(corpus, checkpoint, mode, *extra):
    out = run_cli(
        "fairseq-generate",
        [corpus, "--user-dir", PLUGIN, "--task", "speech_to_text_salign", "--infer-mode", mode,
         "--gen-subset", "tst-COMMON_st", "--path", checkpoint, "--max-tokens", "50000", "--cpu",
         *extra],
    )
    hyps = [l for l in out.stdout.splitlines() if l.startswith("D-")]
    return out.stdout, hyps


def test_generate_st_one_hypothesis_per_utterance_scored_with_sacrebleu(corpus, stage3):
    log, hyps = _generate(corpus, stage3[0] / "checkpoint_last.pt", "st", "--beam", "3",
                          "--scoring", "sacrebleu", "--max-len-b", "30")
    assert len(hyps) == N_TEST
    assert sorted(int(h.split("\t")[0][2:]) for h in hyps) == list(range(N_TEST))
    assert re.search(r"Generate tst-COMMON_st with beam=3: BLEU = \d", log)
    assert not [l for l in log.splitlines() if l.startswith("S-")], "no transcript in ST mode"


def test_generate_mt_uses_transcripts(corpus, stage3):
    log, hyps = _generate(corpus, stage3[0] / "checkpoint_last.pt", "mt", "--beam", "3",
                          "--scoring", "sacrebleu", "--max-len-b", "30")
    assert len(hyps) == N_TEST
    sources = [l.split("\t")[1] for l in log.splitlines() if l.startswith("S-")]
    assert len(sources) == N_TEST and all(s == s.lower() for s in sources)
    assert "BLEU = " in log


def test_generate_asr_by_ctc_scored_with_wer(corpus, stage3):
    log, hyps = _generate(corpus, stage3[0] / "checkpoint_last.pt", "asr", "--scoring", "wer")
    assert len(hyps) == N_TEST
    refs = [l.split("\t")[1] for l in log.splitlines() if l.startswith("T-")]
    assert len(refs) == N_TEST and all(r == r.lower() for r in refs), "ASR references are transcripts"
    assert re.search(r"WER: \d+(\.\d+)?", log)
