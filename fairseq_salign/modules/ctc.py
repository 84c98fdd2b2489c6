"""CTC conventions of this project, fixed in one place.

* Blank is the dictionary's ``<s>`` (bos, index 0): it is never a CTC target, so the joint
  vocabulary needs no extra symbol and the CTC projection can be tied to the embedding matrix.
* Targets are the transcript tokens without padding and without the trailing EOS that fairseq's
  datasets append.
* The loss is computed in fp32 (fp16/AMP-safe), summed over sentences, with infeasible
  alignments (output shorter than target) zeroed rather than turned into inf.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F


def ctc_targets(tokens: torch.Tensor, pad: int, eos: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """B x S token ids (with EOS and padding) -> (B x S' targets padded with ``pad``, lengths)."""
    keep = tokens.ne(pad) & tokens.ne(eos)
    lengths = keep.sum(dim=1)
    max_len = int(lengths.max()) if lengths.numel() else 0
    targets = tokens.new_full((tokens.size(0), max(max_len, 1)), pad)
    order = torch.cumsum(keep, dim=1) - 1  # target position of each kept token
    rows = torch.arange(tokens.size(0), device=tokens.device).unsqueeze(1).expand_as(tokens)
    targets[rows[keep], order[keep]] = tokens[keep]
    return targets, lengths


def ctc_loss(
    logits: torch.Tensor,
    padding_mask: Optional[torch.Tensor],
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
) -> torch.Tensor:
    """Summed CTC loss; ``logits`` T x B x V, ``padding_mask`` B x T (True = pad) or None."""
    lprobs = F.log_softmax(logits.float(), dim=-1)
    if padding_mask is None:
        input_lengths = lprobs.new_full((lprobs.size(1),), lprobs.size(0), dtype=torch.long)
    else:
        input_lengths = (~padding_mask).long().sum(dim=1)
    with torch.backends.cudnn.flags(enabled=False):
        return F.ctc_loss(
            lprobs,
            targets,
            input_lengths,
            target_lengths,
            blank=blank,
            reduction="sum",
            zero_infinity=True,
        )


def ctc_greedy_decode(
    logits: torch.Tensor, padding_mask: Optional[torch.Tensor], blank: int
) -> List[torch.Tensor]:
    """Best path: argmax per frame, merge repeats, drop blanks. One token tensor per sentence."""
    best = logits.argmax(dim=-1).t()  # B x T
    lengths = (
        [best.size(1)] * best.size(0)
        if padding_mask is None
        else (~padding_mask).sum(dim=1).tolist()
    )
    return [path[:n][best_path_emissions(path[:n], blank)] for path, n in zip(best, lengths)]


def best_path_emissions(path: torch.Tensor, blank: int) -> torch.Tensor:
    """Frames of a best path that emit a token: the first of each run, unless it is blank."""
    emits = torch.ones_like(path, dtype=torch.bool)
    emits[1:] = path[1:].ne(path[:-1])
    return emits & path.ne(blank)
