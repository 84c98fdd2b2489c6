"""``hard``: H-Align, the paper's comparison (cosine InfoNCE of pooled speech vs transcript)."""
from ..contrastive import contrastive_loss
from .base import AlignmentObjective, AlignmentOutput, register_alignment


@register_alignment("hard")
class HardAlignment(AlignmentObjective):
    """Pulls each utterance towards its own transcript (pairs, not spaces); sentence losses
    summed with the mean of the two sides' weights (the cross-entropies' scale)."""

    summary = "H-Align, contrastive speech/transcript pairs (--contrastive-weight)"

    def __init__(self, weight: float, temperature: float):
        super().__init__()
        self.weight, self.temperature = weight, temperature

    @classmethod
    def build(cls, cfg, task):
        return cls(cfg.contrastive_weight, cfg.contrastive_temperature)

    @classmethod
    def problems(cls, cfg):
        return ["--contrastive-temperature must be > 0"] if cfg.contrastive_temperature <= 0 else []

    def align(self, inputs):
        per_sentence = contrastive_loss(inputs.speech, inputs.text, self.temperature)
        contrastive = (per_sentence * 0.5 * (inputs.speech_weights + inputs.text_weights)).sum()
        weighted = self.weight * contrastive
        return AlignmentOutput(weighted, weighted, {"contrastive_loss": contrastive.data})
