"""S-Align's adversarial alignment: a modal network tells speech from text T-enc outputs; the
encoders are trained to make it fail.

Why GAN-style updates and not gradient reversal: with reversal the encoders maximise the
discriminator's loss, which rewards *flipping* the modalities (speech that looks like text and
vice versa) as much as mixing them, and its strength is tied to the discriminator's. Training the
generator side towards the uniform target 0.5 with the discriminator frozen (the authors'
shipped setting) asks exactly for indistinguishable spaces and lets the two sides have their
own weights. Both passes happen in one optimizer step: the discriminator sees detached encoder
outputs (its loss trains only itself); the generator pass uses detached discriminator
parameters (its loss trains only the encoders). Reversal is not offered, so it cannot be
mis-configured alongside.
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from ..modules import ModalNetwork, mix_speech_with_text


def _bce(logits: torch.Tensor, target) -> torch.Tensor:
    """Per-sentence BCE with logits, always in fp32 (fp16/AMP-safe)."""
    logits = logits.float()
    if not torch.is_tensor(target):
        target = torch.full_like(logits, float(target))
    return F.binary_cross_entropy_with_logits(logits, target.float(), reduction="none")


class AdversarialAlignment(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        hidden_dim: int,
        dropout: float,
        weight: float,
        warmup_updates: int,
        decay_start: int,
        decay_end: int,
        mixup_prob: float,
        mixup_discriminator_scale: float,
    ):
        super().__init__()
        self.modal_network = ModalNetwork(embed_dim, hidden_dim, dropout)
        self.weight = weight
        self.warmup_updates = warmup_updates
        self.decay_start = decay_start
        self.decay_end = decay_end
        self.mixup_prob = mixup_prob
        self.mixup_discriminator_scale = mixup_discriminator_scale

    def generator_weight(self, num_updates: int) -> float:
        """0 during warm-up, then ``weight`` until decay_start, linearly down to 0 at decay_end."""
        if num_updates < self.warmup_updates or num_updates >= self.decay_end:
            return 0.0
        if num_updates < self.decay_start:
            return self.weight
        return self.weight * (self.decay_end - num_updates) / (self.decay_end - self.decay_start)

    def forward(
        self,
        textual_encoder,
        speech: Dict,
        text: Dict,
        speech_weights: torch.Tensor,
        text_weights: torch.Tensor,
        num_updates: int,
        blank: int,
        generator: Optional[torch.Generator] = None,
    ) -> Dict[str, torch.Tensor]:
        """Returns the weighted loss to add and its parts: ``disc_loss`` (gradient reaches only
        the modal network), ``adv_loss`` (gradient reaches only the encoders), both sums over
        sentences weighted by ``*_weights``, and the discriminator's correct counts."""
        s_out, s_mask = speech["encoder_out"][0], speech["encoder_padding_mask"][0]
        t_out, t_mask = text["encoder_out"][0], text["encoder_padding_mask"][0]
        disc = self.modal_network

        logit_s = disc(s_out.detach(), s_mask)
        logit_t = disc(t_out.detach(), t_mask)
        disc_loss = (_bce(logit_s, 0.0) * speech_weights).sum() + (_bce(logit_t, 1.0) * text_weights).sum()
        mixed = self.training and torch.rand((), generator=generator).item() < self.mixup_prob
        if mixed:
            disc_loss = disc_loss + self._mixup_loss(textual_encoder, speech, speech_weights, blank, generator)
            disc_loss = disc_loss * self.mixup_discriminator_scale

        gen_weight = self.generator_weight(num_updates) if self.training else 0.0
        if gen_weight > 0 or not self.training:
            frozen = {name: p.detach() for name, p in disc.named_parameters()}
            g_s = functional_call(disc, frozen, (s_out, s_mask))
            g_t = functional_call(disc, frozen, (t_out, t_mask))
            gen_loss = (_bce(g_s, 0.5) * speech_weights).sum() + (_bce(g_t, 0.5) * text_weights).sum()
        else:
            gen_loss = s_out.new_zeros((), dtype=torch.float)
        return {
            "loss": disc_loss + gen_weight * gen_loss,
            "disc_loss": disc_loss,
            "adv_loss": gen_loss,
            "adv_weight": gen_weight,
            "disc_correct_speech": (logit_s.detach() < 0).sum(),
            "disc_correct_text": (logit_t.detach() > 0).sum(),
        }

    def _mixup_loss(self, textual_encoder, speech, weights, blank, generator):
        """Mix-up sequence -> T-enc (no gradient: it only trains the discriminator) -> label =
        the fraction of positions that hold text."""
        x, mask, tokens = speech["adapter_out"][0], speech["encoder_padding_mask"][0], speech["adapter_tokens"][0]
        with torch.no_grad():
            token_embeddings, token_pad = textual_encoder.embed_text(tokens)
            rate = torch.rand(x.size(0), generator=generator).to(x.device)
            mixed, mixed_rate = mix_speech_with_text(
                x, token_embeddings, tokens.ne(blank) & ~token_pad, mask, rate, generator=None
            )
            mixed_out = textual_encoder(mixed, mask)
        logits = self.modal_network(mixed_out, mask)
        return (_bce(logits, mixed_rate) * weights).sum()
