"""``salign-average``: average the model weights of several fairseq checkpoints.

Averaging the last few epoch checkpoints is a standard, reliable gain in speech translation
(fairseq's MuST-C recipe and the S-Align authors both decode from averaged checkpoints).
fairseq ships its averaging script outside the installed package, so this is a small installed
equivalent that also loads with the weights-only allow-list and writes atomically. With
``--ema`` it averages the EMA weights that ``--store-ema`` saved in each checkpoint; either way
the average is the output's ``model`` and the output holds no EMA weights (the last input's
would not be an average).
"""
import argparse
import logging
import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import List

import torch
from omegaconf import OmegaConf

logger = logging.getLogger("salign-average")


def average_checkpoints(paths: List[Path], ema: bool = False) -> dict:
    """The state of the last checkpoint, with each model tensor replaced by the mean over all
    (``ema``: the mean of their EMA weights)."""
    from fairseq import checkpoint_utils

    import fairseq_salign  # noqa: F401 (weights-only allow-list)
    from fairseq_salign.ema import use_ema_weights, without_ema

    if not paths:
        raise ValueError("no checkpoints to average")
    sums, state = None, None
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
        if ema:
            state = use_ema_weights(state, path)
        model = state["model"]
        if sums is None:
            sums = OrderedDict((k, v.double().clone()) for k, v in model.items())
            first = path
            continue
        if model.keys() != sums.keys():
            diff = sorted(set(model) ^ set(sums))[:10]
            raise ValueError(f"{path} and {first} hold different parameters, e.g. {diff}")
        for key, value in model.items():
            if value.shape != sums[key].shape:
                raise ValueError(f"{key}: shape {tuple(value.shape)} in {path}, {tuple(sums[key].shape)} in {first}")
            sums[key] += value.double()
    reference = state["model"]
    state["model"] = OrderedDict(
        (k, (v / len(paths)).to(reference[k].dtype)) for k, v in sums.items()
    )
    state["last_optimizer_state"] = None  # not meaningful for an average; saves space
    state["extra_state"] = without_ema(state)
    if OmegaConf.is_config(state.get("cfg")):  # stored as plain containers, as fairseq saves it
        state["cfg"] = OmegaConf.to_container(state["cfg"])
    return state


def last_epoch_checkpoints(save_dir: Path, n: int) -> List[Path]:
    """The ``n`` highest-numbered ``checkpointN.pt`` files of a fairseq save directory."""
    found = sorted(
        (int(p.stem[len("checkpoint"):]), p)
        for p in save_dir.glob("checkpoint*.pt")
        if p.stem[len("checkpoint"):].isdigit()
    )
    if len(found) < n:
        raise FileNotFoundError(
            f"{save_dir} has {len(found)} epoch checkpoints, {n} asked for averaging "
            "(keep more with --keep-last-epochs, or average fewer)"
        )
    return [p for _, p in found[-n:]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--inputs", nargs="+", type=Path, help="checkpoint files to average")
    group.add_argument("--save-dir", type=Path, help="average the last --num-epochs epoch checkpoints here")
    parser.add_argument("--num-epochs", type=int, default=5, help="with --save-dir (default: 5)")
    parser.add_argument("--output", type=Path, required=True, help="averaged checkpoint to write")
    parser.add_argument("--ema", action="store_true",
                        help="average the EMA weights fairseq-train saved with --store-ema (the "
                        "output holds their mean as its model weights)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        paths = args.inputs or last_epoch_checkpoints(args.save_dir, args.num_epochs)
        state = average_checkpoints(paths, ema=args.ema)
    except (FileNotFoundError, ValueError) as err:
        print(f"salign-average: {err}", file=sys.stderr)
        return 1
    tmp = args.output.with_name(args.output.name + ".partial")
    torch.save(state, tmp)
    os.replace(tmp, args.output)
    what = "EMA weights of " if args.ema else ""
    logger.info(f"averaged {what}{len(paths)} checkpoints ({', '.join(p.name for p in paths)}) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
