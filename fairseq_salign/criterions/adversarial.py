"""S-Align's adversarial alignment: a modal network tells speech from text T-enc outputs; the
encoders are trained to make it fail.

Why GAN-style updates and not gradient reversal: with reversal the encoders maximise the
discriminator's loss, which rewards *flipping* the modalities (speech that looks like text and
vice versa) as much as mixing them, and its strength is tied to the discriminator's. Training the
generator side towards a target with the discriminator frozen (the authors' shipped setting)
lets the two sides have their own weights. Both passes happen in one optimizer step: the
discriminator sees detached encoder outputs (its loss trains only itself); the generator pass
uses detached discriminator parameters (its loss trains only the encoders).

Scale: every loss here is a sum over sentences of a per-sentence BCE times a sentence weight
(by default the sentence's target length), added to the cross-entropies that fairseq sums over
target tokens and divides by the batch's token count. So ``weight`` = 1 gives the generator the
same per-token footing as the ST cross-entropy, whatever the batch size, the number of GPUs or
the precision (the sum goes through fairseq's loss scaling like every other term).
"""
from dataclasses import dataclass
from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from ..modules import ModalNetwork, mix_speech_with_text
from ..modules.modal_network import joint_token_stats
from ..optim.param_groups import tag_parameters

MIXUP_MODES = ("discriminator", "replace")
GENERATOR_TARGETS = ("uniform", "text", "features")
INPUT_NORMS = ("batch", "none")
MIXUP_POSITIONS = ("tokens", "any")
MIXUP_LABELS = ("realised", "drawn")


def _bce(logits: torch.Tensor, target) -> torch.Tensor:
    """Per-sentence BCE with logits, always in fp32 (fp16/AMP-safe)."""
    logits = logits.float()
    if not torch.is_tensor(target):
        target = torch.full_like(logits, float(target))
    return F.binary_cross_entropy_with_logits(logits, target.float(), reduction="none")


@dataclass(frozen=True)
class GameSettings:
    """How the game is played; the criterion's options of the same names document each."""

    weight: float = 1.0
    warmup_updates: int = 0
    decay_start: int = 10**9
    decay_end: int = 10**9
    discriminator_scale: float = 1.0
    discriminator_decay: bool = False
    generator_target: str = "uniform"
    modal_input_norm: str = "batch"
    mixup_prob: float = 0.0
    mixup_mode: str = "discriminator"
    mixup_rate: Optional[float] = None  # None: p ~ U(0, 1) per sentence
    mixup_positions: str = "tokens"  # tokens: only positions with a predicted token; any
    mixup_label: str = "realised"  # realised: fraction actually replaced; drawn: p itself
    mixup_start_updates: int = 0

    def __post_init__(self):
        checks = {
            "generator_target": GENERATOR_TARGETS, "modal_input_norm": INPUT_NORMS,
            "mixup_mode": MIXUP_MODES, "mixup_positions": MIXUP_POSITIONS,
            "mixup_label": MIXUP_LABELS,
        }
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.mixup_rate is not None and not 0.0 <= self.mixup_rate <= 1.0:
            raise ValueError(f"mixup_rate must be in [0, 1], got {self.mixup_rate}")


class Mixed(NamedTuple):
    out: torch.Tensor  # T x B x C T-enc output of the mixed sequence
    label: torch.Tensor  # B, the discriminator's target


class AdversarialAlignment(nn.Module):
    def __init__(self, embed_dim: int, hidden_dim: int, dropout: float, settings: GameSettings):
        super().__init__()
        self.modal_network = ModalNetwork(embed_dim, hidden_dim, dropout)
        tag_parameters(self.modal_network.parameters())  # its own Adam group: optim/salign_adam.py
        self.settings = settings

    def generator_weight(self, num_updates: int) -> float:
        """0 during warm-up, then ``weight`` until decay_start, linearly down to 0 at decay_end."""
        return self.settings.weight * self.schedule(num_updates)

    def schedule(self, num_updates: int) -> float:
        s = self.settings
        if num_updates < s.warmup_updates or num_updates >= s.decay_end:
            return 0.0
        if num_updates < s.decay_start:
            return 1.0
        return (s.decay_end - num_updates) / (s.decay_end - s.decay_start)

    def discriminator_weight(self, num_updates: int) -> float:
        """``discriminator_scale``, decayed with the generator after decay_start when asked."""
        s = self.settings
        if s.discriminator_decay and num_updates >= s.decay_start:
            return s.discriminator_scale * self.schedule(num_updates)
        return s.discriminator_scale

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
        live: Tuple[bool, bool] = (True, True),
    ) -> Dict[str, torch.Tensor]:
        """Returns the weighted loss to add and its parts: ``disc_loss`` (gradient reaches only
        the modal network), ``adv_loss`` (gradient reaches only the encoders), both sums over
        sentences weighted by ``*_weights``, and the discriminator's correct counts on the
        plain speech and text inputs.

        ``live`` says which side was encoded in this batch; the other (unpaired training: an
        ASR-only or MT-only batch) is a detached memory of a recent batch of that modality. It
        trains the modal network like a live side, but is no generator target (its encoders
        are not in this graph), feeds no mix-up and is not counted."""
        s = self.settings
        live_speech, live_text = live
        s_out, s_mask = speech["encoder_out"][0], speech["encoder_padding_mask"][0]
        t_out, t_mask = text["encoder_out"][0], text["encoder_padding_mask"][0]
        disc = self.modal_network

        mixed = None
        if (
            self.training and live_speech and s.mixup_prob > 0 and num_updates >= s.mixup_start_updates
            and torch.rand((), generator=generator).item() < s.mixup_prob
        ):
            mixed = self._mix(textual_encoder, speech, blank, generator)
        replace = mixed is not None and s.mixup_mode == "replace"
        # the speech-side input of both passes: the mixed sequence replaces it in "replace" mode
        d_out, d_label = (mixed.out, mixed.label) if replace else (s_out, 0.0)
        # joint statistics, with gradient for the generator pass (with target "text" the text
        # side is the anchor: not even the statistics move it), detached for the discriminator
        g_stats = d_stats = None
        if s.modal_input_norm == "batch":
            t_in = t_out.detach() if s.generator_target == "text" else t_out
            g_stats = joint_token_stats([(d_out, s_mask), (t_in, t_mask)])
            d_stats = tuple(x.detach() for x in g_stats)
        logit_d = disc(d_out.detach(), s_mask, d_stats)
        logit_t = disc(t_out.detach(), t_mask, d_stats)
        disc_loss = (_bce(logit_d, d_label) * speech_weights).sum() + (_bce(logit_t, 1.0) * text_weights).sum()
        if mixed is not None and not replace:
            logit_m = disc(mixed.out, s_mask, d_stats)
            disc_loss = disc_loss + (_bce(logit_m, mixed.label) * speech_weights).sum()
        if replace:
            with torch.no_grad():
                logit_s = disc(s_out, s_mask, d_stats)
        else:
            logit_s = logit_d.detach()
        disc_loss = disc_loss * (self.discriminator_weight(num_updates) if self.training else 1.0)

        gen_weight = self.generator_weight(num_updates) if self.training else 0.0
        if gen_weight > 0 or not self.training:
            frozen = {name: p.detach() for name, p in disc.named_parameters()}
            # a remembered side's term is a constant: weight 0 keeps it out of the loss value
            # (feature matching keeps it: it is the target the live side's mean moves to)
            keep = s.generator_target == "features"
            g_speech_w = speech_weights if live_speech or keep else speech_weights * 0
            g_text_w = text_weights if live_text or keep else text_weights * 0
            gen_loss = self._generator_loss(
                frozen, (d_out, s_mask, g_speech_w), (t_out, t_mask, g_text_w), g_stats
            )
        else:
            gen_loss = s_out.new_zeros((), dtype=torch.float)
        return {
            "loss": disc_loss + gen_weight * gen_loss,
            "disc_loss": disc_loss,
            "adv_loss": gen_loss,
            "adv_weight": gen_weight,
            "weighted_adv_loss": gen_weight * gen_loss,
            "mixed": mixed is not None,
            "disc_correct_speech": (logit_s.detach() < 0).sum() if live_speech else 0,
            "disc_correct_text": (logit_t.detach() > 0).sum() if live_text else 0,
            "n_speech": logit_s.numel() if live_speech else 0,
            "n_text": logit_t.numel() if live_text else 0,
        }

    def _generator_loss(self, frozen, speech, text, stats):
        """The encoders' loss against the frozen modal network; ``speech``/``text`` are
        (T x B x C states, B x T padding mask, B sentence weights)."""
        target = self.settings.generator_target
        (s_out, s_mask, s_w), (t_out, t_mask, t_w) = speech, text
        if target == "features":
            # Feature matching (Salimans et al., 2016): squared distance between the weighted
            # means of the network's pooled features of speech and of text, times the batch's
            # total weight (the scale of the BCE sums). It vanishes only when the feature means
            # agree: the encoders cannot satisfy it by parking sentences on the boundary.
            f_s = functional_call(self.modal_network, frozen, (s_out, s_mask, stats), {"features": True}).float()
            f_t = functional_call(self.modal_network, frozen, (t_out, t_mask, stats), {"features": True}).float()
            mean_s = (f_s * s_w.unsqueeze(1)).sum(0) / s_w.sum().clamp(min=1e-6)
            mean_t = (f_t * t_w.unsqueeze(1)).sum(0) / t_w.sum().clamp(min=1e-6)
            return 0.5 * (s_w.sum() + t_w.sum()) * ((mean_s - mean_t) ** 2).sum()
        g_s = functional_call(self.modal_network, frozen, (s_out, s_mask, stats))
        if target == "uniform":
            g_t = functional_call(self.modal_network, frozen, (t_out, t_mask, stats))
            return (_bce(g_s, 0.5) * s_w).sum() + (_bce(g_t, 0.5) * t_w).sum()
        return (_bce(g_s, 1.0) * s_w).sum()  # "text": only speech moves; text is the anchor

    def _mix(self, textual_encoder, speech, blank, generator) -> Mixed:
        """The T-adapter output with positions replaced by the embedding of their CTC-predicted
        token, through T-enc. In "discriminator" mode without gradient (it only trains the
        modal network); in "replace" mode with gradient, text embeddings included (as the
        authors' code)."""
        s = self.settings
        x, mask, tokens = speech["adapter_out"][0], speech["encoder_padding_mask"][0], speech["adapter_tokens"][0]
        with torch.set_grad_enabled(torch.is_grad_enabled() and s.mixup_mode == "replace"):
            token_embeddings, token_pad = textual_encoder.embed_text(tokens)
            if s.mixup_rate is None:
                rate = torch.rand(x.size(0), generator=generator).to(x.device)
            else:
                rate = torch.full((x.size(0),), s.mixup_rate, device=x.device)
            eligible = ~token_pad if s.mixup_positions == "any" else tokens.ne(blank) & ~token_pad
            mixed, realised = mix_speech_with_text(x, token_embeddings, eligible, mask, rate, generator=None)
            out = textual_encoder(mixed, mask)
        label = realised if s.mixup_label == "realised" else rate.float()
        return Mixed(out, label)
