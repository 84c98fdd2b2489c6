"""H-Align, the paper's comparison: pull each utterance's pooled speech encoding towards its own
transcript's and away from the other transcripts in the batch (cosine InfoNCE)."""
import torch
import torch.nn.functional as F

from ..modules import masked_mean


def contrastive_loss(speech: dict, text: dict, temperature: float) -> torch.Tensor:
    """Per-sentence symmetric InfoNCE between mean-pooled T-enc outputs (fp32), shape B."""
    s = masked_mean(speech["encoder_out"][0], speech["encoder_padding_mask"][0]).float()
    t = masked_mean(text["encoder_out"][0], text["encoder_padding_mask"][0]).float()
    sim = F.normalize(s, dim=-1) @ F.normalize(t, dim=-1).t() / temperature
    labels = torch.arange(sim.size(0), device=sim.device)
    return 0.5 * (
        F.cross_entropy(sim, labels, reduction="none") + F.cross_entropy(sim.t(), labels, reduction="none")
    )
