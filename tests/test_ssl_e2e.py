"""HuBERT / wav2vec 2.0 front ends end to end through fairseq's own tools, on the recipe's
waveform data: stage 3 from the stage-1 checkpoint, decoding in st / mt / asr without the SSL
file, and 2-process gloo DDP with a front end that is frozen at start and unfrozen mid-run."""
import re

import pytest
import torch
from conftest import BIN, TEST_SIZES, TESTS, gloo_args, run_cli, run_ranks, train_args
from fairseq.checkpoint_utils import torch_persistent_save

from fairseq_salign.pretrained_ssl.random_checkpoint import random_ssl_state

PLUGIN = str(TESTS.parent / "fairseq_salign")
N_TEST = TEST_SIZES["tst-COMMON"]


@pytest.fixture(scope="session")
def waveform_corpus(corpus):
    """The session corpus prepared again with --features waveform (its own directory)."""
    from fairseq_salign.data.prep import prepare_mustc

    result = prepare_mustc(corpus.parent, ["de"], features="waveform", vocab_size=100,
                           num_workers=1, progress=False)["de"]
    assert (result.out_dir / "config_st.yaml").read_text().count("use_audio_input: true") == 1
    return result.out_dir


def test_waveform_dataset_reads_the_stored_samples_with_soundfile(waveform_corpus, tmp_path):
    """The task's dataset gives the recipe's samples unchanged (config standardize_audio:
    false; fairseq's own dataset would standardize them: it tests a bound method)."""
    from conftest import build_in_process

    from fairseq_salign.data.stored_audio import load_stored_waveform

    task, _, _ = build_in_process(waveform_corpus, *ssl_args(ssl_checkpoint(tmp_path, "hubert"), "hubert"))
    task.load_dataset("dev_st")
    dataset = task.dataset("dev_st")
    item = dataset[0]
    expected = load_stored_waveform(dataset.audio_paths[0])
    assert item.source.dim() == 1 and torch.equal(item.source, torch.from_numpy(expected))
    batch = dataset.collater([dataset[i] for i in range(3)])
    assert batch["net_input"]["src_tokens"].dtype == torch.float32
    assert batch["net_input"]["src_tokens"].dim() == 2


def ssl_args(ckpt, kind, *extra):
    return ["--speech-encoder", kind, "--ssl-checkpoint", ckpt, "--acoustic-encoder-layers", "0",
            "--adapter", "ctc-shrink", *extra]


def ssl_checkpoint(tmp_path, kind):
    path = tmp_path / f"{kind}_tiny.pt"
    torch_persistent_save(random_ssl_state(kind, "tiny"), str(path))
    return path


def _generate(data, checkpoint, mode, *extra):
    out = run_cli("fairseq-generate", [
        data, "--user-dir", PLUGIN, "--task", "speech_to_text_salign", "--infer-mode", mode,
        "--gen-subset", "tst-COMMON_st", "--path", checkpoint, "--max-tokens", "800000", "--cpu",
        "--beam", "2", "--max-len-b", "20", *extra])
    return out.stdout, [l for l in out.stdout.splitlines() if l.startswith("D-")]


@pytest.fixture(scope="module", params=["hubert", "wav2vec2"])
def trained(request, waveform_corpus, mt_checkpoint, tmp_path_factory):
    """Stage 3 with each SSL front end (frozen for 2 of 4 updates: two epochs of two batches)."""
    kind = request.param
    tmp_path = tmp_path_factory.mktemp(f"stage2_{kind}")
    ckpt = ssl_checkpoint(tmp_path, kind)
    out = run_cli("fairseq-train", train_args(
        waveform_corpus, tmp_path / "st", "--load-pretrained-mt-from", mt_checkpoint,
        "--alignment", "soft", "--adversarial-warmup-updates", "0", "--max-update", "4",
        "--max-tokens", "400000",
        *ssl_args(ckpt, kind, "--ssl-freeze-updates", "2", "--ssl-apply-mask",
                  "--ssl-mask-prob", "0.3", "--ssl-mask-length", "2")))
    ckpt.unlink()  # the trained checkpoint carries the SSL config: nothing below needs the file
    return kind, tmp_path / "st", out.stdout + out.stderr, str(ckpt)


def test_stage2_trains_and_decodes_in_every_mode(trained, waveform_corpus):
    kind, save_dir, log, ckpt = trained
    assert "num_updates=4" in log and "ctc_loss=" in log and "disc_loss=" in log
    assert f"--ssl-checkpoint {ckpt}: loaded" in log
    for mode, scoring in (("st", "sacrebleu"), ("mt", "sacrebleu"), ("asr", "wer")):
        log, hyps = _generate(waveform_corpus, save_dir / "checkpoint_last.pt", mode, "--scoring", scoring)
        assert sorted(int(h.split("\t")[0][2:]) for h in hyps) == list(range(N_TEST)), mode
        assert ("BLEU = " if scoring == "sacrebleu" else "WER: ") in log


def test_average_translate_and_analyze_take_the_ssl_model(trained, waveform_corpus, tmp_path, capsys):
    """salign-average, -translate and -analyze through their own main, in this process
    (test_checkpoint_average.py, test_translate.py and test_analyze.py launch the console tools)."""
    import json

    import numpy as np
    import soundfile as sf
    from in_process import run_tool

    from fairseq_salign.checkpoint_average import main as average
    from fairseq_salign.cli.analyze import main as analyze
    from fairseq_salign.cli.translate import main as translate

    kind, save_dir, _, _ = trained
    if kind != "hubert":
        pytest.skip("one front end is enough for the tools (the checkpoints differ only in the SSL model)")
    avg = tmp_path / "avg.pt"
    status, _, err = run_tool(average, ["--save-dir", save_dir, "--num-epochs", "2", "--output", avg],
                              capsys)
    assert status == 0 and avg.is_file(), err
    wav = tmp_path / "one.wav"
    t = np.arange(16000 * 2) / 16000
    sf.write(wav, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    for mode in ("st", "asr"):
        status, out, err = run_tool(translate, ["--checkpoint", avg, "--data-dir", waveform_corpus,
                                                "--mode", mode, "--beam", "2", "--max-len-b", "10",
                                                "--cpu", wav], capsys)
        assert status == 0, err
        (line,) = out.splitlines()
        assert line.startswith(f"{wav}\t")
    status, _, err = run_tool(analyze, ["--checkpoint", avg, "--data-dir", waveform_corpus,
                                        "--split", "tst-COMMON_st", "--out-json", tmp_path / "gap.json",
                                        "--cpu"], capsys)
    assert status == 0, err
    assert json.loads((tmp_path / "gap.json").read_text())["models"][0]["n_sentences"] == N_TEST


def test_front_end_and_data_must_match(corpus, waveform_corpus, tmp_path):
    ckpt = ssl_checkpoint(tmp_path, "hubert")
    wrong = run_cli("fairseq-train", train_args(corpus, tmp_path / "a", "--max-update", "1",
                                                *ssl_args(ckpt, "hubert")), check=False)
    assert wrong.returncode != 0
    assert "--speech-encoder hubert reads 16 kHz waveforms" in wrong.stderr
    assert "--features waveform" in wrong.stderr
    wrong = run_cli("fairseq-train", train_args(waveform_corpus, tmp_path / "b", "--max-update", "1"),
                    check=False)
    assert wrong.returncode != 0 and "stores waveforms (use_audio_input: true)" in wrong.stderr


def test_two_process_gloo_unfreezes_in_sync(waveform_corpus, mt_checkpoint, tmp_path):
    """DDP (fairseq's default c10d backend) with the front end frozen for 2 updates and trained
    for 2 more: every step must give every parameter a gradient, and afterwards both ranks hold
    the same, changed, front-end weights (the conv extractor, frozen throughout, unchanged)."""
    ckpt = ssl_checkpoint(tmp_path, "hubert")
    initial = torch.load(ckpt, weights_only=False)["model"]
    args = [str(a) for a in train_args(
        waveform_corpus, tmp_path / "ddp", "--load-pretrained-mt-from", mt_checkpoint,
        "--alignment", "soft", "--adversarial-warmup-updates", "0", "--max-update", "4",
        "--max-tokens", "150000", "--lr", "5e-3",
        *ssl_args(ckpt, "hubert", "--ssl-freeze-updates", "2", "--ssl-apply-mask",
                  "--ssl-mask-prob", "0.3", "--ssl-mask-length", "2", "--ssl-layerdrop", "0.5"),
        *gloo_args())]
    driver = TESTS / "ddp_rank_driver.py"
    logs = run_ranks(lambda r: [BIN / "python", driver, tmp_path / f"rank{r}.pt", "--", *args,
                                "--distributed-rank", r])
    assert "num_updates=4" in logs[0]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    ssl_keys = [k for k in rank0 if k.startswith("ssl.")]
    assert ssl_keys and all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    changed = [k for k in ssl_keys if not torch.equal(rank0[k], initial[k[len("ssl."):]])]
    conv = [k for k in ssl_keys if k.startswith("ssl.feature_extractor.")]
    assert conv and not set(conv) & set(changed), "conv extractor frozen throughout"
    assert len(changed) >= (len(ssl_keys) - len(conv)) // 2, "unfrozen: the SSL encoder trained"
    assert re.search(r"distributed init \(rank 0\)", logs[0])
