"""Console tools run in the test process through their own entry points: a new process costs
seconds of Python, torch and fairseq imports. Each console script is still launched as a process
by some test (``run_cli``), which covers its installation.

- :func:`run_tool`: a plugin tool's ``main(argv)`` (salign-translate, -analyze, -average, ...);
- :func:`fairseq_generate`: ``fairseq-generate`` through its console entry point, for tests that
  take its hypotheses as the reference;
- :func:`fairseq_train`: ``fairseq-train``: fairseq's option parsing and its
  ``fairseq_cli.train.main`` (trainer, checkpoint loading and saving, validation), as the console
  script runs them, for tests about training, checkpoints and resume (not about the console tool
  itself). fairseq's log goes to ``logging`` (``caplog``); an error ends the run by raising,
  where the console script would print it and exit non-zero.

Tests that call these are tiered e2e by tests/conftest.py, as those that start a process.
"""
import logging
from typing import List


def in_process(call, capsys):
    """``call()`` with its stdout and stderr captured: ``(result, stdout, stderr)``.

    The tools configure logging for their process (``basicConfig(force=True)`` onto the
    stderr of the moment, here this test's capture, which is closed when the test ends); the
    root logger's handlers and level are put back afterwards so that later tests' log records
    do not fail on a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    capsys.readouterr()
    try:
        result = call()
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
    captured = capsys.readouterr()
    return result, captured.out, captured.err


def run_tool(main, args, capsys):
    """A tool's ``main(argv) -> exit status`` on ``args`` (paths allowed):
    ``(status, stdout, stderr)``."""
    return in_process(lambda: main([str(a) for a in args]), capsys)


def fairseq_generate(args, capsys) -> List[str]:
    """``fairseq-generate ARGS`` through its console entry point (``fairseq_cli.generate:
    cli_main``, its own option parser) in this process: its detokenized hypotheses, in corpus
    order. Without a data-loader worker (``--num-workers 0``): one forked from here outlives the
    run, and collecting it later waits seconds for it to exit."""
    import sys

    from fairseq_cli.generate import cli_main

    argv = sys.argv
    sys.argv = ["fairseq-generate", *map(str, args), "--num-workers", "0"]
    try:
        _, out, _ = in_process(cli_main, capsys)
    finally:
        sys.argv = argv
    hyps = {}
    for line in out.splitlines():
        if line.startswith("D-"):
            key, _, text = line.split("\t", 2)
            hyps[int(key[2:])] = text
    return [hyps[i] for i in range(len(hyps))]


def _forget_runs() -> None:
    """What fairseq keeps in this process from a run: the best validation loss (on two functions)
    and its meters. A new process starts without them."""
    from fairseq import checkpoint_utils
    from fairseq.logging import metrics
    from fairseq_cli import train

    for func, names in ((checkpoint_utils.save_checkpoint, ("best",)),
                        (train.should_stop_early, ("best", "num_runs"))):
        for name in names:
            if hasattr(func, name):
                delattr(func, name)
    metrics.reset()


def fairseq_train(args: List) -> None:
    """``fairseq-train ARGS`` (e.g. :func:`conftest.train_args`) in this process."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.distributed import utils as distributed_utils
    from fairseq_cli import train

    parser = options.get_training_parser()
    parsed = options.parse_args_and_arch(parser, input_args=[str(a) for a in args])
    cfg = convert_namespace_to_omegaconf(parsed)
    _forget_runs()
    try:
        distributed_utils.call_main(cfg, train.main)
    finally:
        _forget_runs()
