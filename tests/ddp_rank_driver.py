"""Run ``fairseq-train`` in this process as one DDP rank, then save the rank's own A-enc weights.

Only rank 0 writes checkpoints, so a checkpoint cannot show whether the ranks stayed in sync.
Test-only: fairseq's Trainer is observed (its instance recorded), not changed.

    python ddp_rank_driver.py OUT.pt -- <fairseq-train arguments>
"""
import sys

import torch
from fairseq import trainer as trainer_module
from fairseq_cli import train

made = []
original_init = trainer_module.Trainer.__init__


def recording_init(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    made.append(self)


if __name__ == "__main__":
    out, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: ddp_rank_driver.py OUT.pt -- <fairseq-train arguments>"
    trainer_module.Trainer.__init__ = recording_init
    sys.argv = ["fairseq-train", *argv]
    train.cli_main()
    model = made[-1]._model
    torch.save({k: v.detach().clone() for k, v in model.encoder.acoustic_encoder.state_dict().items()}, out)
