"""Stage 3 with extra ASR-only and MT-only corpora: recipe outputs, sampling, per-kind losses,
fairseq-train end to end and two-process DDP with all three kinds."""
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BIN, TESTS, build_in_process, gloo_args, run_cli, run_ranks, train_args

sys.path.insert(0, str(TESTS))
from mustc_synth import PAIRS, make_synthetic_mustc  # noqa: E402

from fairseq_salign.data.mustc import PrepError  # noqa: E402
from fairseq_salign.data.prep import prepare_mustc  # noqa: E402
from fairseq_salign.tasks.data_kinds import draw_counts, sampling_shares  # noqa: E402

EXTRAS = ["--asr-extra-subsets", "train_asr_asr", "--mt-extra-subsets", "mt_extra_mt"]
N_ASR, N_MT = 12, 3 * len(PAIRS)


def write_text_split(lang_root: Path, split: str, en, de) -> None:
    txt = lang_root / "data" / split / "txt"
    txt.mkdir(parents=True, exist_ok=True)
    (txt / f"{split}.en").write_text("".join(f"{line}\n" for line in en), encoding="utf-8")
    (txt / f"{split}.de").write_text("".join(f"{line}\n" for line in de), encoding="utf-8")


def make_extras_tree(root: Path):
    corpus = make_synthetic_mustc(root, n_per_split={"train": 40, "dev": 8, "train_asr": N_ASR},
                                  splits=("train", "dev", "train_asr"))
    (corpus.txt_dir("train_asr") / "train_asr.de").unlink()  # ASR-only: no translation
    pairs = PAIRS * 3
    write_text_split(corpus.lang_root, "mt_extra", [en for en, _ in pairs], [de for _, de in pairs])
    return corpus


@pytest.fixture(scope="module")
def extras(tmp_path_factory) -> Path:
    corpus = make_extras_tree(tmp_path_factory.mktemp("extras"))
    prepare_mustc(corpus.root, ["de"], splits=("train", "dev"), asr_only_splits=("train_asr",),
                  mt_only_splits=("mt_extra",), vocab_size=100, num_workers=1, progress=False)
    return corpus.lang_root


# ---- recipe ---------------------------------------------------------------------------------
def test_recipe_writes_asr_only_and_mt_only_manifests(extras, tmp_path):
    from test_prep_mustc import read_tsv

    asr = read_tsv(extras / "train_asr_asr.tsv")
    assert len(asr) == N_ASR and "tgt_text" not in asr[0]
    assert {"id", "audio", "n_frames", "src_text", "speaker"} <= set(asr[0])
    mt = read_tsv(extras / "mt_extra_mt.tsv")
    assert len(mt) == N_MT and list(mt[0]) == ["id", "src_text", "tgt_text"]
    assert mt[0]["src_text"] == "i love you" and mt[0]["tgt_text"] == "Ich liebe dich."
    # neither corpus enters the vocabulary: it equals the one of the ST triples alone
    alone = make_extras_tree(tmp_path / "alone")
    prepare_mustc(alone.root, ["de"], splits=("train", "dev"), vocab_size=100, num_workers=1, progress=False)
    name = "spm_unigram100_st.txt"
    assert (extras / name).read_text() == (alone.lang_root / name).read_text()


def test_recipe_cli_options(extras, tmp_path):
    corpus = make_extras_tree(tmp_path / "cli")
    proc = run_cli("python", [TESTS.parent / "examples/mustc/prep_mustc_data.py", "--data-root", corpus.root,
                              "--splits", "train", "dev", "--asr-only-splits", "train_asr",
                              "--mt-only-splits", "mt_extra", "--vocab-size", "100", "--no-progress"])
    assert f"train_asr: {N_ASR}/{N_ASR} segments kept" in proc.stdout
    assert f"mt_extra: {N_MT}/{N_MT} sentence pairs kept" in proc.stdout
    assert (corpus.lang_root / "mt_extra_mt.tsv").is_file()


def test_mt_only_split_bad_input_is_named_by_file_and_line(tmp_path):
    corpus = make_extras_tree(tmp_path / "bad")
    write_text_split(corpus.lang_root, "mt_extra", ["a b", "", "c d", "..."], ["x", "y", "", "z"])
    kwargs = dict(splits=("train",), mt_only_splits=("mt_extra",), vocab_size=100, progress=False)
    with pytest.raises(PrepError) as e:
        prepare_mustc(corpus.root, ["de"], **kwargs)
    msg = str(e.value)
    assert "mt_extra.en line 2: empty line" in msg and "mt_extra.de line 3: empty line" in msg
    assert "mt_extra.en line 4: only punctuation" in msg and "--skip-bad-segments" in msg
    result = prepare_mustc(corpus.root, ["de"], skip_bad_segments=True, **kwargs)["de"]
    assert "mt_extra: 1/4 sentence pairs kept" in result.summary()
    assert "dropped 1 (empty source)" in result.summary()

    write_text_split(corpus.lang_root, "mt_extra", ["a b", "c d"], ["x"])
    with pytest.raises(PrepError, match=r"mt_extra\.en has 2 lines but .*mt_extra\.de has 1"):
        prepare_mustc(corpus.root, ["de"], **kwargs)


def test_asr_only_split_problems(tmp_path):
    corpus = make_extras_tree(tmp_path / "asr")
    with pytest.raises(PrepError, match="ASR-only split 'dev'.*train_"):
        prepare_mustc(corpus.root, ["de"], splits=("train",), asr_only_splits=("dev",), progress=False)
    (corpus.txt_dir("train_asr") / "train_asr.en").unlink()
    with pytest.raises(PrepError, match=r"train_asr: missing .*train_asr\.en"):
        prepare_mustc(corpus.root, ["de"], splits=("train",), asr_only_splits=("train_asr",), progress=False)


# ---- sampling -------------------------------------------------------------------------------
def test_sampling_shares_weights_and_temperature():
    sizes = {"st": 100, "asr": 900, "mt": 0}
    assert sampling_shares({"st": 100, "asr": 300}, {"st": None, "asr": None}, 1.0) == {"st": 0.25, "asr": 0.75}
    flat = sampling_shares({"st": 100, "asr": 900}, {"st": None, "asr": None}, 1e9)
    assert flat["st"] == pytest.approx(0.5, abs=1e-6)
    assert sampling_shares(sizes, {"st": 1, "asr": 10, "mt": 1}, 1.0) == pytest.approx(
        {"st": 1 / 12, "asr": 10 / 12, "mt": 1 / 12})
    with pytest.raises(ValueError, match="no sampling weight for the asr"):
        sampling_shares({"st": 1, "asr": 1}, {"st": 1.0, "asr": None}, 1.0)
    counts = draw_counts({"st": 1 / 12, "asr": 10 / 12, "mt": 1 / 12}, 1000)
    assert sum(counts.values()) == 1000
    assert all(abs(counts[k] - 1000 * s) < 1 for k, s in {"st": 1 / 12, "asr": 10 / 12, "mt": 1 / 12}.items())


def epoch_batches(task, split="train_st", max_tokens=1000, epoch=1):
    task.load_dataset(split, epoch=epoch)
    dataset = task.dataset(split)
    itr = task.get_batch_iterator(dataset, max_tokens=max_tokens, max_positions=task.max_positions(),
                                  seed=1, epoch=epoch, disable_iterator_cache=True)
    return dataset, list(itr.next_epoch_itr(shuffle=True))


def test_batches_hold_one_kind_and_follow_the_weights(extras):
    task, _, _ = build_in_process(extras, *EXTRAS, "--st-sampling-weight", "1",
                                  "--asr-sampling-weight", "2", "--mt-sampling-weight", "1")
    dataset, batches = epoch_batches(task)
    kinds = [b["data_kind"] for b in batches]
    assert set(kinds) == {"st", "asr", "mt"}
    sentences = {k: sum(b["nsentences"] for b in batches if b["data_kind"] == k) for k in ("st", "asr", "mt")}
    assert sentences == {"st": 40, "asr": 80, "mt": 40}, "one pass over ST at its share"
    for b in batches:
        text = b["data_kind"] == "mt"
        assert text != b["net_input"]["src_tokens"].is_floating_point()
        if b["data_kind"] == "asr":  # the transcript is the target
            torch.testing.assert_close(b["target"], b["net_input"]["src_txt_tokens"])
    # an MT batch holds about as many sentences as a speech batch of the same --max-tokens
    mean = {k: np.mean([b["nsentences"] for b in batches if b["data_kind"] == k]) for k in ("st", "mt")}
    assert 0.5 < mean["mt"] / mean["st"] < 2.0, mean
    # a new draw every epoch
    _, again = epoch_batches(task, epoch=2)
    assert [b["id"].tolist() for b in again] != [b["id"].tolist() for b in batches]


# ---- criterion ------------------------------------------------------------------------------
def grads_of(module):
    return [p.grad for p in module.parameters() if p.requires_grad]


def step(task, model, criterion, sample):
    model.zero_grad()
    criterion.zero_grad()
    loss, _, log = criterion(model, sample)
    loss.backward()
    return log


def test_each_kind_trains_the_losses_it_supports(extras):
    task, model, criterion = build_in_process(extras, *EXTRAS, "--alignment", "soft",
                                              "--adversarial-warmup-updates", "0", "--mixup-prob", "0")
    model.train(), criterion.train()
    _, batches = epoch_batches(task)
    first = {b["data_kind"]: b for b in reversed(batches)}
    log = step(task, model, criterion, first["asr"])
    assert log["n_asr"] > 0 and log["ctc_loss_ss"] > 0 and log["st_loss_ss"] == log["disc_loss_ss"] == 0
    assert all(g is None for g in grads_of(model.decoder.layers)), "ASR data never reaches the decoder"
    assert all(g is None for g in grads_of(criterion)), "paired: ASR-only batches do not play"
    assert any(g is not None for g in grads_of(model.encoder.acoustic_encoder))
    log = next_log = step(task, model, criterion, first["mt"])
    assert log["n_mt"] > 0 and log["mt_loss_ss"] > 0 and log["ctc_loss_ss"] == 0
    assert all(g is None for g in grads_of(model.encoder.acoustic_encoder))
    log = step(task, model, criterion, first["st"])
    assert log["n_st"] > 0 and all(log[f"{p}_ss"] > 0 for p in ("st_loss", "mt_loss", "ctc_loss", "disc_loss"))
    assert set(log) == set(next_log), "every kind logs the same keys (fairseq sums them across ranks)"


def test_unpaired_game_plays_single_modality_batches_against_the_memory(extras):
    task, model, criterion = build_in_process(extras, *EXTRAS, "--alignment", "soft", "--alignment-data", "all",
                                              "--adversarial-warmup-updates", "0", "--mixup-prob", "0")
    model.train(), criterion.train()
    _, batches = epoch_batches(task)
    first = {b["data_kind"]: b for b in reversed(batches)}
    log = step(task, model, criterion, first["asr"])
    assert log["game_skipped"] == 1 and log["disc_loss_ss"] == 0, "no text seen yet"
    log = step(task, model, criterion, first["mt"])  # text live, speech from the ASR batch
    assert log["game_n_text"] == first["mt"]["nsentences"] and log["game_n_speech"] == 0
    assert all(g is not None for g in grads_of(criterion)), "the modal network trains"
    assert all(g is None for g in grads_of(model.encoder.acoustic_encoder)), "memory is detached"
    log = step(task, model, criterion, first["asr"])  # speech live, text from the MT batch
    assert log["game_n_speech"] == first["asr"]["nsentences"] and log["adv_loss"] > 0
    assert any(g is not None for g in grads_of(model.encoder.textual_encoder.layers))
    assert all(g is None for g in grads_of(model.decoder.layers))


def test_asr_pretraining_takes_the_asr_only_data_too(extras):
    task, model, criterion = build_in_process(extras, "--training-stage", "asr", "--alignment", "none",
                                              "--asr-extra-subsets", "train_asr_asr")
    model.train(), criterion.train()
    _, batches = epoch_batches(task)
    sentences = {k: sum(b["nsentences"] for b in batches if b["data_kind"] == k) for k in ("st", "asr")}
    assert sentences == {"st": 40, "asr": N_ASR}, "shares by corpus size: one pass over each"
    for kind in ("st", "asr"):
        log = step(task, model, criterion, next(b for b in batches if b["data_kind"] == kind))
        assert log["ctc_loss_ss"] > 0 and log["st_loss_ss"] == 0
        assert any(g is not None for g in grads_of(model.encoder.acoustic_encoder))


@pytest.mark.parametrize("extra, message", [
    (["--training-stage", "mt", "--alignment", "none", "--asr-extra-subsets", "train_asr_asr"],
     "--asr-extra-subsets: stage mt reads no speech"),
    (["--st-sampling-weight", "1"], "sampling weights need --asr-extra-subsets"),
    ([*EXTRAS, "--alignment", "hard", "--alignment-data", "all"], "needs --alignment soft"),
    ([*EXTRAS, "--data-sampling-temperature", "0"], "--data-sampling-temperature must be > 0"),
])
def test_option_errors(extras, extra, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_in_process(extras, *extra)


def test_manifest_errors_name_the_file(extras, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(extras, data, ignore=shutil.ignore_patterns("data"))
    task, _, _ = build_in_process(data, "--asr-extra-subsets", "nope")
    with pytest.raises(FileNotFoundError, match=r"--asr-extra-subsets nope: manifest .*nope\.tsv not found"):
        task.load_dataset("train_st")
    (data / "noscript.tsv").write_text("id\taudio\tn_frames\nx\tfbank80.zip:1:2\t3\n")
    task, _, _ = build_in_process(data, "--asr-extra-subsets", "noscript")
    with pytest.raises(ValueError, match=r"noscript\.tsv: no src_text column"):
        task.load_dataset("train_st")


# ---- fairseq-train, single process and two-process DDP --------------------------------------
def test_stage2_from_the_command_line_logs_parts_and_realised_shares(extras, tmp_path):
    out = run_cli("fairseq-train", train_args(
        extras, tmp_path, *EXTRAS, "--st-sampling-weight", "1", "--asr-sampling-weight", "1",
        "--mt-sampling-weight", "1", "--alignment", "soft", "--adversarial-warmup-updates", "0",
        "--max-tokens", "1000", "--max-epoch", "1"))
    log = out.stdout + out.stderr
    summary = [line for line in log.splitlines() if "| train | epoch 001" in line][0]
    for part in ("st_loss", "mt_loss", "ctc_loss", "disc_loss", "adv_loss"):
        assert f"| {part} " in summary, part
    shares = {k: float(v) for k, v in re.findall(r"share_(st|asr|mt) ([\d.]+)", summary)}
    assert shares == {"st": pytest.approx(1 / 3, abs=0.01), "asr": pytest.approx(1 / 3, abs=0.01),
                      "mt": pytest.approx(1 / 3, abs=0.01)}
    assert "stage-3 data per epoch: st 40 of 40 (33.3%), asr 40 of 12 (33.3%), mt 40 of 72 (33.3%)" in log
    assert (tmp_path / "checkpoint_last.pt").is_file()


def test_two_process_gloo_with_all_three_kinds(extras, tmp_path):
    """Ranks take different kinds of batch in the same step; fairseq's default c10d backend
    fails such a step unless every parameter (model and modal network) gets a gradient."""
    args = [*train_args(extras, tmp_path, *EXTRAS, "--alignment", "soft", "--alignment-data", "all",
                        "--adversarial-warmup-updates", "0", "--mixup-prob", "0.5", "--max-tokens", "600",
                        "--max-update", "8", "--st-sampling-weight", "1", "--asr-sampling-weight", "1",
                        "--mt-sampling-weight", "1", "--no-save"),
            *gloo_args()]
    driver = TESTS / "ddp_rank_driver.py"
    logs = run_ranks(lambda r: [BIN / "python", driver, tmp_path / f"rank{r}.pt", "--", *args,
                                "--distributed-rank", r])
    assert "num_updates=8" in logs[0]
    inner = [line for line in logs[0].splitlines() if "train_inner" in line]
    mixed = [line for line in inner if len(re.findall(r"share_(?:st|asr|mt)=(?:0\.\d*[1-9]|1\b)", line)) > 1]
    assert mixed, "some step had batches of different kinds on the two ranks"
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "the ranks stayed in sync"
