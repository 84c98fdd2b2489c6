"""Mix-up of a speech sequence with the embeddings of its CTC-predicted tokens (S-Align)."""
from typing import Optional, Tuple

import torch


def mix_speech_with_text(
    speech: torch.Tensor,
    token_embeddings: torch.Tensor,
    eligible: torch.Tensor,
    padding_mask: Optional[torch.Tensor],
    rate: torch.Tensor,
    generator: Optional[torch.Generator] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Replace each eligible position of ``speech`` by its token embedding with probability
    ``rate`` (one rate per sentence).

    Args:
        speech, token_embeddings: B x T x C, aligned position by position.
        eligible: B x T bool, positions that carry a predicted (non-blank) token.
        padding_mask: B x T bool, True = pad (or None).
        rate: B, per-sentence replacement probability in [0, 1].

    Returns the mixed sequence and, per sentence, the fraction of its valid positions that now
    hold text: the discriminator's target. It equals ``rate`` in expectation when every position
    is eligible and is exact for the sequence the discriminator actually sees.
    """
    valid = torch.ones_like(eligible) if padding_mask is None else ~padding_mask
    draw = torch.rand(eligible.shape, device=speech.device, generator=generator)
    replace = (draw < rate.unsqueeze(1).to(draw.dtype)) & eligible & valid
    mixed = torch.where(replace.unsqueeze(-1), token_embeddings.to(speech.dtype), speech)
    mixed_rate = replace.sum(dim=1).float() / valid.sum(dim=1).clamp(min=1).float()
    return mixed, mixed_rate
