"""Console tools (``salign-analyze``, ``salign-translate``, ``salign-export``) and what they
share: loading a model (a checkpoint + data dir, or an exported model directory) with clear
errors, choosing the device, one-line errors."""
from __future__ import annotations

import logging
import sys
import torch

from ..api.loading import ModelError, load_salign  # noqa: F401 (the tools load through it)

logger = logging.getLogger("fairseq_salign.cli")


class CliError(ModelError):
    """A user-facing error: printed as one line (no traceback), exit status 2."""


def pick_device(cpu: bool) -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def add_model_args(parser, data_dir_help: str) -> None:
    """``--model-dir`` (an exported model directory), or ``--checkpoint`` with ``--data-dir``."""
    group = parser.add_argument_group("model (--model-dir, or --checkpoint with --data-dir)")
    group.add_argument("--model-dir", help="a model directory written by salign-export")
    group.add_argument("--checkpoint", help="s2t_salign checkpoint (.pt)")
    group.add_argument("--data-dir", help=data_dir_help)
    group.add_argument("--ema", action="store_true",
                       help="with --checkpoint: the EMA weights fairseq-train saved with "
                       "--store-ema, not the model's")
    group.add_argument("--feature-weights", metavar="PATH",
                       help="models on Whisper / SSL states: the Whisper model directory or SSL "
                       "checkpoint the features came from, when it is not at the path recorded "
                       "at training time (checked against the recorded sha1)")


def model_source(args):
    """``(checkpoint, data_dir)`` of the options :func:`add_model_args` added."""
    if args.model_dir:
        if args.checkpoint or args.data_dir:
            raise CliError("--model-dir holds the checkpoint and its data config: do not also "
                           "pass --checkpoint or --data-dir")
        if args.ema:
            raise CliError("--ema: a model directory holds one set of weights; export the EMA "
                           "weights with salign-export --ema and use that directory")
        from ..api.model_dir import open_model_dir

        layout = open_model_dir(args.model_dir)
        return str(layout.checkpoint), str(layout.root)
    if not (args.checkpoint and args.data_dir):
        raise CliError("give --model-dir DIR (from salign-export), or --checkpoint with --data-dir")
    return args.checkpoint, args.data_dir


def run_main(body, argv=None) -> int:
    """Run a tool's body with fairseq's log format; turn CliError into one line and exit 2."""
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        level=logging.INFO,
        stream=sys.stderr,
        force=True,  # importing fairseq may already have configured the root logger
    )
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        return body(argv)
    except ModelError as err:  # CliError too
        print(f"error: {err}", file=sys.stderr)
        return 2
