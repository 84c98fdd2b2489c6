"""A console tool run in the test process through its own entry point: a new process costs
seconds of Python, torch and fairseq imports. Each console script is still launched as a process
by some test (``run_cli``), which covers its installation."""
import logging

import torch


def in_process(call, capsys):
    """``call()`` with its stdout and stderr captured: ``(result, stdout, stderr)``.

    It runs with one torch thread, as a tool started by ``run_cli`` does (``cli_env``:
    OMP_NUM_THREADS=1): on 2 busy cores, 2 threads made these tiny models many times slower.
    The tools configure logging for their process (``basicConfig(force=True)`` onto the
    stderr of the moment, here this test's capture, which is closed when the test ends); the
    root logger's handlers and level are put back afterwards so that later tests' log records
    do not fail on a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    threads = torch.get_num_threads()
    capsys.readouterr()
    torch.set_num_threads(1)
    try:
        result = call()
    finally:
        torch.set_num_threads(threads)
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
