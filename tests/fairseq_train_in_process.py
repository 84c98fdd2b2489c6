"""``fairseq-train`` run in the test's own process: fairseq's option parsing and its
``fairseq_cli.train.main`` (trainer, checkpoint loading and saving, validation), as the console
script runs them, without the seconds a new process spends importing torch and fairseq.

For tests about training, checkpoints and resume, not about the console tool itself (tests that
are keep :func:`conftest.run_cli`). A test that calls this trains: mark it ``@pytest.mark.e2e``,
since the tiers of tests/conftest.py only see the processes a test starts. fairseq's log goes to
the ``logging`` module (``caplog``); an error ends the run by raising, where the console script
would print it and exit non-zero.
"""
from typing import List


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
    import torch
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.distributed import utils as distributed_utils
    from fairseq_cli import train

    parser = options.get_training_parser()
    parsed = options.parse_args_and_arch(parser, input_args=[str(a) for a in args])
    cfg = convert_namespace_to_omegaconf(parsed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the console tools run in the tests (conftest.cli_env)
    _forget_runs()
    try:
        distributed_utils.call_main(cfg, train.main)
    finally:
        _forget_runs()
        torch.set_num_threads(threads)
