"""The stage recipe: ``examples/mustc/run.sh`` with ``conf/tiny.yaml`` from stage 0 to 7 on the
synthetic test corpus (one run, each stage's output checked, then a re-run that skips them all);
``conf_args.py``'s expansion; every conf file's options against the tools' own parsers; and
docs/training.md's written-out commands against ``conf/s2t_salign_s.yaml``."""
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest
import torch
from conftest import TEST_SIZES, TINY_MODEL, build_in_process, cli_env
from fairseq import checkpoint_utils

from fairseq_salign.models.pretrained import TEXT_PREFIXES

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "examples" / "mustc"
CONFS = sorted((RECIPE / "conf").glob("*.yaml"))
TINY = RECIPE / "conf" / "tiny.yaml"
sys.path.insert(0, str(RECIPE))
import conf_args  # noqa: E402

N_TEST = TEST_SIZES["tst-COMMON"]
MODES = ("st", "mt", "asr")
# what run.sh sets itself (tied to the stage, not the setting)
RECIPE_SET = {"--user-dir", "--task", "--training-stage", "--save-dir", "--load-pretrained-mt-from",
              "--load-pretrained-acoustic-from", "--infer-mode", "--path", "--scoring", "--output"}
TRAINING = {"mt": "mt", "asr": "asr", "st": "multitask"}  # conf section -> --training-stage


def run_recipe(data_root: Path, exp: Path, *extra) -> str:
    cmd = ["bash", RECIPE / "run.sh", "--conf", TINY, "--data-root", data_root, "--exp", exp,
           "--python", sys.executable, "--cpu", *extra]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=cli_env(),
                          timeout=600)
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Tuple[Path, Path, str]:
    """(prepared data dir, EXP, run.sh's output) of one run of stages 0-7 (a corpus of its own:
    stage 0 writes into it)."""
    from mustc_synth import make_synthetic_mustc

    root = tmp_path_factory.mktemp("recipe_mustc")
    make_synthetic_mustc(root, n_per_split=TEST_SIZES)
    exp = tmp_path_factory.mktemp("recipe_exp")
    out = run_recipe(root, exp, "--stage", "0", "--stop-stage", "7")
    return root / "en-de", exp, out


def options(words: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
    """--option -> its values, for the words of one command (positional words before the first
    option left out)."""
    out: Dict[str, List[str]] = {}
    key = None
    for word in words:
        if word.startswith("--"):
            key = word
            out[key] = []
        elif key is not None:
            out[key].append(word)
    return {k: tuple(v) for k, v in out.items()}


# ------------------------------------------------------------------------------- the tiny run
# (marked e2e by hand: run.sh is started in a helper, where conftest's tiering does not look)
@pytest.mark.e2e
def test_every_stage_prints_its_command(recipe):
    _, _, out = recipe
    for n in range(8):
        assert f"== stage {n}:" in out
    commands = [l for l in out.splitlines() if l.startswith("$ ")]
    assert any("prep_mustc_data.py" in c and "--vocab-size 100" in c for c in commands)
    for stage in ("mt", "asr", "multitask"):
        assert any("fairseq-train" in c and f"--training-stage {stage}" in c for c in commands)
    assert sum("fairseq-generate" in c for c in commands) == 3
    assert any("salign-average" in c for c in commands) and any("salign-export" in c for c in commands)


@pytest.mark.e2e
def test_stage0_prepares_the_corpus(recipe):
    data, exp, _ = recipe
    for name in ("config_st.yaml", "fbank80.zip", "train_st.tsv", "tst-COMMON_st.tsv",
                 "spm_unigram100_st.model", "prep_state.json"):
        assert (data / name).is_file(), name
    assert (exp / "logs" / "prep_fbank80.log").is_file()


@pytest.mark.e2e
def test_stages_1_to_3_train_progressively(recipe):
    """Stage 2 (ASR) starts from stage 1 and trains only A-enc + CTC; stage 3 starts from both."""
    data, exp, _ = recipe
    mt_best = exp / "mt" / "checkpoint_best.pt"
    assert mt_best.is_file() and "num_updates=3" in (exp / "logs" / "train_mt.log").read_text()

    log = (exp / "logs" / "train_asr.log").read_text()
    assert "ctc_loss" in log and "num_updates=3" in log and not re.search(r"\b(st|mt)_loss", log)
    asr = checkpoint_utils.load_checkpoint_to_cpu(str(exp / "asr" / "checkpoint_best.pt"))["model"]
    mt = checkpoint_utils.load_checkpoint_to_cpu(str(mt_best))["model"]
    text_keys = [k for k in mt if k.startswith(TEXT_PREFIXES)]
    assert len(text_keys) > 10
    for key in text_keys:  # the text side is frozen in ASR pre-training
        torch.testing.assert_close(asr[key], mt[key], msg=key)

    log = (exp / "logs" / "train_st.log").read_text()
    assert re.search(r"--load-pretrained-acoustic-from: loaded \d+ tensors from .*asr/checkpoint_best\.pt", log)
    assert re.search(r"--load-pretrained-mt-from: loaded \d+ tensors from .*mt/checkpoint_best\.pt", log)
    assert "num_updates=2" in log and "adv_loss" in log
    for epoch in (1, 2):
        assert (exp / "st" / f"checkpoint{epoch}.pt").is_file()
    # the model that stage 3 builds holds the ASR stage's acoustic side
    torch.manual_seed(0)
    _, model, _ = build_in_process(
        data, "--alignment", "none", "--untie-ctc-projection",
        "--load-pretrained-acoustic-from", exp / "asr" / "checkpoint_best.pt",
        "--load-pretrained-mt-from", mt_best)
    state = model.state_dict()
    for key in ("encoder.acoustic_encoder.layers.0.fc1.weight", "encoder.ctc_proj.bias",
                "encoder.ctc_proj.weight"):
        torch.testing.assert_close(state[key], asr[key], msg=key)


@pytest.mark.e2e
def test_stage4_averages_the_last_epochs(recipe):
    _, exp, _ = recipe
    avg = checkpoint_utils.load_checkpoint_to_cpu(str(exp / "st" / "average.pt"))["model"]
    ckpts = [checkpoint_utils.load_checkpoint_to_cpu(str(exp / "st" / f"checkpoint{e}.pt"))["model"]
             for e in (1, 2)]
    key = "encoder.textual_encoder.layers.0.fc1.weight"
    torch.testing.assert_close(avg[key], (ckpts[0][key] + ckpts[1][key]) / 2)


@pytest.mark.e2e
@pytest.mark.parametrize("mode", MODES)
def test_stage5_one_hypothesis_per_test_segment(recipe, mode):
    _, exp, _ = recipe
    lines = (exp / "generate" / f"{mode}.txt").read_text().splitlines()
    ids = sorted(int(l.split("\t")[0][2:]) for l in lines if l.startswith("D-"))
    assert ids == list(range(N_TEST))
    assert f"--infer-mode {mode}" in (exp / "done" / f"generate_{mode}").read_text()


@pytest.mark.e2e
def test_stage6_scores_one_line_per_task(recipe):
    _, exp, _ = recipe
    lines = (exp / "scores.txt").read_text().splitlines()
    assert [l.split("\t")[:2] for l in lines] == [[m, "tst-COMMON_st"] for m in MODES]
    assert re.match(r"BLEU = \d", lines[0].split("\t")[2]) and re.match(r"BLEU = \d", lines[1].split("\t")[2])
    assert re.match(r"WER: \d", lines[2].split("\t")[2])


@pytest.mark.e2e
def test_stage7_exports_a_model_dir_the_hub_loads(recipe):
    import json

    from fairseq_salign.api import SAlignHub

    _, exp, _ = recipe
    info = json.loads((exp / "model" / "salign_model.json").read_text())
    assert set(info["scores"]) == {"tst-COMMON ST BLEU", "tst-COMMON MT BLEU", "tst-COMMON ASR WER"}
    hub = SAlignHub.from_pretrained(exp / "model", device="cpu")
    assert hub.model.encoder.ctc_proj.weight.shape[0] == 100
    assert len(hub.translate_text(["i love you"], beam=1)) == 1


@pytest.mark.e2e
def test_a_rerun_skips_every_stage_that_is_done(recipe):
    data, exp, _ = recipe
    before = {p: p.stat().st_mtime_ns for p in exp.rglob("*.pt")}
    out = run_recipe(data.parent, exp)
    assert out.count("done before") == 9, out  # prep, 3 trainings, average, 3 generate, export
    assert {p: p.stat().st_mtime_ns for p in exp.rglob("*.pt")} == before


# ------------------------------------------------------------------------------- conf_args.py
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_conf_args_flags_lists_and_merge(tmp_path):
    conf = write(tmp_path, "common:\n  arch: s2t_salign_xs\n  lr: 1e-3\n  fp16: true\n  cpu: false\n"
                           "  adam-betas: '(0.9, 0.98)'\nmt:\n  lr: 5.0e-4\n  mt-extra-subsets: [a, b]\n"
                           "  log: ${EXP}/tb\n")
    words = conf_args.expand(conf, ["common", "mt"], {"EXP": "/e"})
    assert words == ["--arch", "s2t_salign_xs", "--fp16", "--adam-betas", "(0.9, 0.98)",
                     "--lr", "0.0005", "--mt-extra-subsets", "a", "b", "--log", "/e/tb"]
    assert conf_args.expand(conf, ["asr"]) == []  # a known section the file lacks: nothing
    assert list(conf_args.load(conf)) == ["common", "mt"]


def test_conf_args_main_prints_one_word_per_line(tmp_path, capsys):
    conf = write(tmp_path, "st:\n  eval-bleu-args: '{\"beam\": 8}'\n  discriminator-decay: true\n")
    assert conf_args.main([str(conf), "st"]) == 0
    assert capsys.readouterr().out.splitlines() == ["--eval-bleu-args", '{"beam": 8}', "--discriminator-decay"]
    assert conf_args.main(["--sections", str(conf)]) == 0
    assert capsys.readouterr().out.split() == ["st"]


@pytest.mark.parametrize("text, sections, message", [
    ("stage3:\n  lr: 1\n", ["common"], "unknown section(s) stage3"),
    ("mt:\n  lr: 1\n", ["train"], "no such section 'train'"),
    ("mt:\n  --lr: 1\n", ["mt"], "without the leading --"),
    ("mt:\n  lr:\n", ["mt"], "None is not a value"),
    ("mt:\n  lr: {a: 1}\n", ["mt"], "is not a value"),
    ("mt:\n  tb: ${HOME}/x\n", ["mt"], "unknown variable ${HOME}"),
    ("mt: [lr]\n", ["mt"], "section mt must map"),
], ids=["unknown-section", "unknown-asked", "dashes", "null", "mapping", "variable", "not-a-map"])
def test_conf_args_errors_name_the_file(tmp_path, text, sections, message):
    conf = write(tmp_path, text)
    with pytest.raises(conf_args.ConfError) as err:
        conf_args.expand(conf, sections)
    assert str(conf) in str(err.value) and message in str(err.value)


def test_a_conf_without_arch_is_refused_naming_the_file(tmp_path):
    conf = write(tmp_path, "common:\n  criterion: salign\nmt:\n  lr: 1e-3\n")
    (tmp_path / "root" / "en-de").mkdir(parents=True)
    proc = subprocess.run(["bash", str(RECIPE / "run.sh"), "--conf", str(conf), "--data-root",
                           str(tmp_path / "root"), "--exp", str(tmp_path / "exp"), "--python",
                           sys.executable, "--stage", "1", "--stop-stage", "1"],
                          capture_output=True, text=True, env=cli_env(), timeout=120)
    assert proc.returncode != 0
    assert f"{conf}: sections common + mt set no arch" in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------- the conf files
def test_tiny_conf_is_the_tests_model():
    want = options(TINY_MODEL)
    got = options(conf_args.expand(TINY, ["common"]))
    assert {k: got.get(k) for k in want} == want


@pytest.mark.parametrize("conf", CONFS, ids=lambda p: p.stem)
def test_conf_options_exist_in_each_tool(conf, tmp_path):
    """Every option of every section parses with the tool of its stage (fairseq's own parsers
    with the plugin's task, model and criterion options; the recipe scripts' argparse)."""
    import prep_mustc_data
    from fairseq import options as fairseq_options

    from fairseq_salign.checkpoint_average import main as average_main
    from fairseq_salign.cli.export import build_parser as export_parser

    sections = conf_args.load(conf)
    expand = lambda *names: conf_args.expand(conf, names, {"EXP": str(tmp_path)})  # noqa: E731
    plugin = ["--user-dir", str(ROOT / "fairseq_salign"), "--task", "speech_to_text_salign"]
    prep_mustc_data.build_parser().parse_args(["--data-root", str(tmp_path), *expand("prep")])
    for section, stage in TRAINING.items():
        if section in sections:
            fairseq_options.parse_args_and_arch(fairseq_options.get_training_parser(), input_args=[
                str(tmp_path), *plugin, *expand("common", section), "--training-stage", stage])
    for mode in MODES:
        fairseq_options.parse_args_and_arch(fairseq_options.get_generation_parser(), input_args=[
            str(tmp_path), *plugin, "--infer-mode", mode, *expand("generate"), "--path", "x.pt"])
    average = expand("average")
    if "--inputs" not in average:
        average = ["--save-dir", str(tmp_path), *average]
    # parsed (an unknown option would exit); then no checkpoint to average
    assert average_main([*average, "--output", str(tmp_path / "a.pt")]) == 1
    export_parser().parse_args(["--checkpoint", "x", "--data-dir", "d", "--out", "o", *expand("export")])
    for section in sections:
        assert not RECIPE_SET & set(expand(section)), f"{conf.name}: {section} sets what run.sh sets"
    usage = subprocess.run(["bash", str(RECIPE / "run.sh"), "--help"], capture_output=True,
                           text=True, check=True).stdout
    for word in expand("recipe"):  # run.sh's own options
        if word.startswith("--"):
            assert re.search(rf"^  {word} ", usage, re.M), f"{conf.name}: recipe: run.sh has no {word}"


def test_docs_stages_written_out_match_the_conf():
    """docs/training.md writes out what run.sh runs with s2t_salign_s.yaml: same options."""
    from test_docs import shell_commands, split_fences

    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    section = text.split("## The stages written out", 1)[1].split("\n## ", 1)[0]
    commands = [c for info, body in split_fences(section)[1] if info == "bash"
                for c in shell_commands(body)]
    conf = RECIPE / "conf" / "s2t_salign_s.yaml"
    without_recipe = lambda opts: {k: v for k, v in opts.items() if k not in RECIPE_SET}  # noqa: E731
    trained = {}
    for words in commands:
        tool, opts = Path(words[0]).name, options(words)
        if tool == "fairseq-train":
            trained[opts["--training-stage"][0]] = without_recipe(opts)
        elif tool == "salign-average":
            assert {k: v for k, v in opts.items() if k != "--output"} == {"--save-dir": ("${EXP}/st",),
                                            **options(conf_args.expand(conf, ["average"]))}
        elif tool == "fairseq-generate":
            assert without_recipe(opts) == options(conf_args.expand(conf, ["generate"]))
    assert trained == {stage: options(conf_args.expand(conf, ["common", section]))
                       for section, stage in TRAINING.items()}
