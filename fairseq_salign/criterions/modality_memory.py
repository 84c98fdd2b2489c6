"""The most recent T-enc states of each modality, for the game on single-modality batches.

With ``--alignment-data all`` an ASR-only batch has speech but no text and an MT-only batch text
but no speech. The modal network still needs both classes in every game, so each batch plays its
live side against the other modality's states from the latest batch that had them (this rank's,
detached: no gradient reaches back into an earlier step). They are at most a few updates old;
the memory starts empty after a (re)start, and a batch that finds it empty skips the game.
"""
from typing import Dict, NamedTuple, Optional

import torch


class Remembered(NamedTuple):
    out: Dict  # {"encoder_out": [T x B x C], "encoder_padding_mask": [B x T]}, detached
    weights: torch.Tensor  # B sentence weights


class ModalityMemory:
    def __init__(self):
        self._sides: Dict[str, Remembered] = {}

    def store(self, modality: str, encoder_out: Dict, weights: torch.Tensor) -> None:
        out = {
            "encoder_out": [encoder_out["encoder_out"][0].detach()],
            "encoder_padding_mask": [encoder_out["encoder_padding_mask"][0].detach()],
        }
        self._sides[modality] = Remembered(out, weights.detach())

    def recall(self, modality: str) -> Optional[Remembered]:
        return self._sides.get(modality)

    def clear(self) -> None:
        self._sides.clear()
