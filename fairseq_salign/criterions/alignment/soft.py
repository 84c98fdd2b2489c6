"""``soft``: S-Align's adversarial game (``criterions/adversarial.py``) as a registered objective."""
from ..adversarial import AdversarialAlignment, GameSettings
from .base import AlignmentObjective, AlignmentOutput, register_alignment

# criterion options that are GameSettings fields of another name, and those of the same name
GAME_OPTIONS = {
    "weight": "adversarial_weight",
    "warmup_updates": "adversarial_warmup_updates",
    "decay_start": "adversarial_decay_start",
    "decay_end": "adversarial_decay_end",
}
GAME_OPTIONS.update({f: f for f in GameSettings.__dataclass_fields__ if f not in GAME_OPTIONS})


@register_alignment("soft")
class SoftAlignment(AdversarialAlignment, AlignmentObjective):
    """The game itself is AdversarialAlignment's; this adds the objective interface. A subclass
    rather than a holder so that the criterion keeps it as ``adversarial`` and the modal
    network's parameters keep their checkpoint keys (``adversarial.modal_network.*``)."""

    summary = "S-Align, adversarial modal network + mix-up (--adversarial-weight, --mixup-*)"
    attribute = "adversarial"

    @classmethod
    def build(cls, cfg, task):
        settings = GameSettings(**{f: getattr(cfg, o) for f, o in GAME_OPTIONS.items()})
        return cls(task.model_embed_dim, cfg.modal_hidden_dim, cfg.modal_dropout, settings)

    def align(self, inputs):
        adv = self(
            inputs.textual_encoder, inputs.speech, inputs.text, inputs.speech_weights,
            inputs.text_weights, inputs.num_updates, inputs.blank, live=inputs.live,
        )
        players = inputs.nsentences
        log = dict(
            disc_loss=adv["disc_loss"].data, adv_loss=adv["adv_loss"].data,
            disc_correct_speech=adv["disc_correct_speech"], disc_correct_text=adv["disc_correct_text"],
            game_n_speech=adv["n_speech"], game_n_text=adv["n_text"],
            adv_weight=adv["adv_weight"] * players, game_sentences=players,
        )
        return AlignmentOutput(adv["loss"], adv["weighted_adv_loss"], log)
