"""Shared fixtures: a tiny prepared MuST-C-shaped corpus, fairseq CLI runners, in-process builds;
and the test tiers (``-m unit``, ``-m e2e``, ``-m research``), assigned here at collection."""
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
BIN = Path(sys.executable).parent
TEST_SIZES = {"train": 40, "dev": 8, "tst-COMMON": 13, "tst-HE": 5}

# a model small enough to train for a few updates in seconds on 2 cores
TINY_MODEL = [
    "--arch", "s2t_salign_xs",
    "--encoder-embed-dim", "32",
    "--encoder-ffn-embed-dim", "64",
    "--decoder-ffn-embed-dim", "64",
    "--encoder-attention-heads", "2",
    "--decoder-attention-heads", "2",
    "--conv-channels", "32",
]


def cli_env() -> dict:
    """The environment of a user who did not disable torch's weights-only loading."""
    env = dict(os.environ)
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_cli(tool: str, args: List, check: bool = True, timeout: int = 300):
    cmd = [str(BIN / tool), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def train_args(data: Path, save_dir: Path, *extra) -> list:
    return [
        data,
        "--user-dir", str(TESTS.parent / "fairseq_salign"),
        "--task", "speech_to_text_salign",
        "--train-subset", "train_st",
        "--valid-subset", "dev_st",
        *TINY_MODEL,
        "--criterion", "salign",
        "--label-smoothing", "0.1",
        "--optimizer", "adam",
        "--lr", "2e-3",
        "--max-tokens", "4000",
        "--save-dir", save_dir,
        "--cpu",
        "--no-progress-bar",
        "--log-interval", "1",
        "--num-workers", "0",
        "--seed", "1",
        *extra,
    ]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A prepared tiny corpus (synthetic voices): manifests, fbank zip, joint spm, config."""
    from mustc_synth import make_synthetic_mustc

    from fairseq_salign.data.prep import prepare_mustc

    root = tmp_path_factory.mktemp("mustc")
    make_synthetic_mustc(root, n_per_split=TEST_SIZES)
    prepare_mustc(root, ["de"], vocab_size=100, num_workers=1, progress=False)
    return root / "en-de"


@pytest.fixture(scope="session")
def mt_checkpoint(corpus, tmp_path_factory) -> Path:
    """Stage 1: a few MT updates of T-enc + decoder, through fairseq-train."""
    save_dir = tmp_path_factory.mktemp("stage1")
    run_cli(
        "fairseq-train",
        train_args(corpus, save_dir, "--training-stage", "mt", "--alignment", "none", "--max-update", "3"),
    )
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="session")
def st_checkpoint(corpus, tmp_path_factory) -> Path:
    """Stage 3 from scratch: two multi-task updates with S-Align (enough to decode with)."""
    save_dir = tmp_path_factory.mktemp("st_ckpt")
    run_cli("fairseq-train",
            train_args(corpus, save_dir, "--alignment", "soft", "--max-update", "2"))
    return save_dir / "checkpoint_last.pt"


def build_in_process(data: Path, *extra):
    """Task, model and criterion built by fairseq's own option parsing, as fairseq-train does."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser, input_args=[str(a) for a in train_args(data, "/nonexistent", *extra)]
    )
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    return task, model, criterion


def first_batch(task, split: str, n: int = 6):
    task.load_dataset(split)
    dataset = task.dataset(split)
    return dataset.collater([dataset[i] for i in range(n)])


def gloo_args(world_size: int = 2) -> list:
    """fairseq options of a CPU data-parallel run on a free local port (one process per rank,
    launched by :func:`run_ranks`)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return ["--distributed-backend", "gloo", "--distributed-world-size", str(world_size),
            "--distributed-init-method", f"tcp://127.0.0.1:{port}", "--distributed-no-spawn",
            "--device-id", "0"]


def run_ranks(command_of_rank, world_size: int = 2, timeout: int = 300) -> List[str]:
    """Start ``command_of_rank(r)`` for every rank, wait for all, assert they all exited 0;
    returns their combined stdout/stderr, rank by rank."""
    procs = [subprocess.Popen([str(c) for c in command_of_rank(r)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=cli_env())
             for r in range(world_size)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=timeout)[0])
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0] * world_size, "".join(l[-4000:] for l in logs)
    return logs


# ---------------------------------------------------------------- tiers
# research: the alignment game's acceptance runs on the toy (minutes of training, statistics);
# e2e: anything that starts a process (fairseq's command-line tools, DDP ranks, spawned workers)
# or runs a tool in this one (tests/in_process.py), in the test or in a fixture it uses; unit:
# the rest (`make test-fast`). A test may also carry an explicit @pytest.mark.e2e / research.
RESEARCH_MODULES = {"test_alignment_game"}
_PROCESS_MARKS = ("run_cli(", "run_ranks(", "subprocess.", "Popen(", "_run([", "mp_context",
                  "get_context(", "ProcessPool", "fairseq_train(", "run_tool(", "in_process(")
_STARTS_PROCESS: dict = {}


def _starts_process(func) -> bool:
    if func not in _STARTS_PROCESS:
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            source = ""
        _STARTS_PROCESS[func] = any(mark in source for mark in _PROCESS_MARKS)
    return _STARTS_PROCESS[func]


def pytest_configure(config):
    # One torch thread in the test process, as the tools it starts get (cli_env): the tests'
    # models are tiny, and on 2 busy cores a second thread made them many times slower (a hub
    # call 0.2 s at 1 thread, 1-53 s at 2, December 2026); on idle cores it changed nothing
    # measurable (unit tier 31 s vs 33 s).
    import torch

    torch.set_num_threads(1)
    for name, what in (("unit", "fast: no process started, no training run (make test-fast)"),
                       ("e2e", "runs fairseq's or the plugin's tools, DDP ranks or worker processes"),
                       ("research", "the alignment game's acceptance runs on the toy")):
        config.addinivalue_line("markers", f"{name}: {what}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(item.get_closest_marker(m) for m in ("unit", "e2e", "research")):
            continue
        if item.module.__name__.rsplit(".", 1)[-1] in RESEARCH_MODULES:
            item.add_marker(pytest.mark.research)
            continue
        fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        funcs = [getattr(item, "function", None), *fixtures]
        tier = "e2e" if any(_starts_process(f) for f in funcs if f is not None) else "unit"
        item.add_marker(getattr(pytest.mark, tier))
