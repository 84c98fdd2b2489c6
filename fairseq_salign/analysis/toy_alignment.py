"""The alignment objective alone, on two synthetic "modalities", in seconds on a CPU.

Why: on real speech it takes many minutes to see whether an objective aligns anything, and a
failure there can come from the data, the schedule or the objective itself. Here it is isolated:
sentences of random tokens reach the real ``TextualEncoder`` either as token embeddings ("text")
or through a fresh linear front end from token-dependent feature vectors with a constant modality
offset ("speech"; a linear map can align the two exactly). The optimizer is the plugin's own
``SAlignAdam`` (``--optimizer salign_adam``: the modal network in its own Adam group), or with
``optimizer="adam"`` fairseq's single-group Adam (the old setup).

The task (``task_weight`` > 0) is a per-position token classifier. With ``task_head="shared"``
(default) one head reads both modalities, as the shared decoder does: the task then asks only
that each token's states fall on the same side of the head's decision boundaries, and leaves the
rest of the space (norms, directions the head ignores, the pooled distribution) free to differ,
so a gap remains that an alignment objective can close. With one head per modality the task
alone already matches the pooled distributions (probe ~0.7, MMD^2 ~0.01): such a toy can show
harm from an alignment term but never benefit.

After training, fresh probes on mean-pooled outputs (the ones ``salign-analyze`` uses) and
MMD^2 say whether the two spaces can still be told apart, for the last weights and for an
exponential moving average of them (``ema_decay``): a game that circles leaves its last iterate
separable while its average is not.

    python -m fairseq_salign.analysis.toy_alignment --adversarial-weight 1.0
"""
from __future__ import annotations

import argparse
import copy
import json
from argparse import Namespace
from dataclasses import asdict, dataclass
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..criterions.adversarial import AdversarialAlignment, GameSettings
from ..criterions.alignment import ALIGNMENTS, AlignmentInputs
from ..modules import TextualEncoder, masked_mean
from ..optim import SAlignAdam, SAlignAdamConfig
from .metrics import mmd2_rbf, probe_accuracy

PAD, BLANK = 1, 0
FIRST_TOKEN = 4  # 0-3: blank/bos, pad, eos, unk as in a fairseq dictionary


@dataclass
class ToyConfig:
    adversarial_weight: float = 1.0  # generator weight (0: discriminator only)
    steps: int = 1000
    dim: int = 32
    vocab: int = 20  # 16 token types: a low-rank task head leaves room for a modality gap
    feat_dim: int = 48
    noise: float = 0.0
    layers: int = 1  # T-enc layers between the inputs and the modal network
    task_weight: float = 0.0  # 0: the adversarial module alone moves the encoders; 1: + a task
    batch: int = 64
    max_len: int = 8
    lr: float = 2e-3
    mixup_prob: float = 0.0
    mixup_mode: str = "discriminator"
    mixup_rate: Optional[float] = None
    modal_input_norm: str = "batch"
    generator_target: str = "uniform"
    optimizer: str = "salign_adam"  # adam: fairseq's Adam, modal network in the task's group
    adam_betas: str = "(0.9, 0.98)"
    modal_adam_betas: str = "(0.0, 0.98)"
    modal_lr_scale: float = 1.0
    task_head: str = "shared"  # shared: one head for both modalities; per_modality: one each
    matching: str = "none"  # a registered distribution-matching objective: moments, mmd, swd
    matching_weight: float = 1.0
    ema_decay: float = 0.995  # the averaged weights judged beside the last ones
    seed: int = 1


class ToyData:
    """Random token sentences and their "speech": per token a fixed random feature vector plus
    noise and a constant modality offset, so the content is shared and the modality obvious."""

    def __init__(self, cfg: ToyConfig, generator: torch.Generator):
        self.cfg = cfg
        self.g = generator
        self.codebook = torch.randn(cfg.vocab, cfg.feat_dim, generator=generator)
        self.offset = 3.0 * torch.randn(cfg.feat_dim, generator=generator)

    def batch_like(self, other: "ToyData", n: int):
        """New sentences from this generator, in ``other``'s modalities (its codebook/offset)."""
        self.codebook, self.offset = other.codebook, other.offset
        return self.batch(n)

    def batch(self, n: int):
        cfg = self.cfg
        lengths = torch.randint(cfg.max_len // 2, cfg.max_len + 1, (n,), generator=self.g)
        tokens = torch.randint(FIRST_TOKEN, cfg.vocab, (n, cfg.max_len), generator=self.g)
        pad = torch.arange(cfg.max_len).unsqueeze(0) >= lengths.unsqueeze(1)
        tokens = tokens.masked_fill(pad, PAD)
        noise = cfg.noise * torch.randn(n, cfg.max_len, cfg.feat_dim, generator=self.g)
        feats = self.codebook[tokens] + noise + self.offset
        return tokens, feats, pad


class ToyModel(nn.Module):
    """Speech front end (Linear) and token embeddings into one shared T-enc layer, plus a
    per-position token classifier as the task."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        from fairseq.modules import TransformerEncoderLayer

        layer_args = Namespace(
            encoder_embed_dim=cfg.dim, encoder_ffn_embed_dim=2 * cfg.dim,
            encoder_attention_heads=2, encoder_normalize_before=True, dropout=0.0,
            attention_dropout=0.0, activation_dropout=0.0, activation_fn="relu",
        )
        embed = nn.Embedding(cfg.vocab, cfg.dim, padding_idx=PAD)
        self.textual_encoder = TextualEncoder(
            embed, nn.ModuleList([TransformerEncoderLayer(layer_args) for _ in range(cfg.layers)]), 64, 0.0, True
        )
        self.front = nn.Linear(cfg.feat_dim, cfg.dim)
        if cfg.task_head not in ("shared", "per_modality"):
            raise ValueError(f"task_head must be shared or per_modality, got {cfg.task_head!r}")
        shared = nn.Linear(cfg.dim, cfg.vocab)
        self.heads = nn.ModuleDict({
            m: shared if cfg.task_head == "shared" else nn.Linear(cfg.dim, cfg.vocab)
            for m in ("speech", "text")
        })

    def encode(self, tokens, feats, pad):
        adapted = self.front(feats)
        speech = {
            "encoder_out": [self.textual_encoder(adapted, pad)],
            "encoder_padding_mask": [pad],
            "adapter_out": [adapted],
            "adapter_tokens": [tokens.masked_fill(pad, BLANK)],
        }
        x, text_pad = self.textual_encoder.embed_text(tokens)
        text = {"encoder_out": [self.textual_encoder(x, text_pad)], "encoder_padding_mask": [text_pad]}
        return speech, text

    def task_loss(self, out, tokens, pad, modality: str):
        logits = self.heads[modality](out["encoder_out"][0].transpose(0, 1))
        return F.cross_entropy(logits[~pad], tokens[~pad], reduction="sum")


def pooled(out) -> np.ndarray:
    return masked_mean(out["encoder_out"][0], out["encoder_padding_mask"][0]).detach().double().numpy()


def run(cfg: ToyConfig, log_every: int = 0) -> Dict[str, float]:
    """Train the toy for ``cfg.steps`` updates; returns the final measurements."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    data = ToyData(cfg, g)
    model = ToyModel(cfg)
    settings = GameSettings(
        weight=cfg.adversarial_weight, mixup_prob=cfg.mixup_prob, mixup_mode=cfg.mixup_mode,
        mixup_rate=cfg.mixup_rate, modal_input_norm=cfg.modal_input_norm,
        generator_target=cfg.generator_target,
    )
    adversarial = AdversarialAlignment(cfg.dim, cfg.dim, 0.0, settings)
    optimizer = build_optimizer(cfg, list(model.parameters()) + list(adversarial.parameters()))
    average = copy.deepcopy(model)
    matching = None if cfg.matching == "none" else ALIGNMENTS.get(cfg.matching)(cfg.matching_weight)
    tail = max(cfg.steps // 6, 1)  # the discriminator's accuracy is averaged over the last steps
    correct = {"speech": 0, "text": 0}
    for step in range(cfg.steps):
        tokens, feats, pad = data.batch(cfg.batch)
        speech, text = model.encode(tokens, feats, pad)
        weights = (~pad).sum(1).float()
        task = model.task_loss(speech, tokens, pad, "speech") + model.task_loss(text, tokens, pad, "text")
        adv = adversarial(model.textual_encoder, speech, text, weights, weights, step, BLANK, generator=g)
        loss = cfg.task_weight * task + adv["loss"]
        if matching is not None:
            loss = loss + matching.align(AlignmentInputs(speech, text, weights, weights)).loss
        ntokens = float(weights.sum())
        optimizer.zero_grad()
        optimizer.backward(loss / ntokens)
        optimizer.step()
        with torch.no_grad():
            for p_avg, p in zip(average.parameters(), model.parameters()):
                p_avg.mul_(cfg.ema_decay).add_(p, alpha=1.0 - cfg.ema_decay)
        if step >= cfg.steps - tail:
            correct["speech"] += adv["disc_correct_speech"].item()
            correct["text"] += adv["disc_correct_text"].item()
        if log_every and (step % log_every == 0 or step == cfg.steps - 1):
            record = {
                "step": step,
                "task": round(task.item() / ntokens / 2, 4),
                "disc_acc_speech": adv["disc_correct_speech"].item() / cfg.batch,
                "disc_acc_text": adv["disc_correct_text"].item() / cfg.batch,
            }
            print(json.dumps(record), flush=True)
    result = evaluate(model, data)
    result.update({f"ema_{k}": v for k, v in evaluate(average, data).items()})
    result["disc_acc_speech"] = correct["speech"] / (tail * cfg.batch)
    result["disc_acc_text"] = correct["text"] / (tail * cfg.batch)
    return result


def build_optimizer(cfg: ToyConfig, params):
    """The optimizer fairseq-train builds for ``--optimizer salign_adam`` (or ``adam``)."""
    from fairseq.optim.adam import FairseqAdam, FairseqAdamConfig

    common = dict(lr=[cfg.lr], adam_betas=cfg.adam_betas, tpu=False)
    if cfg.optimizer == "salign_adam":
        return SAlignAdam(SAlignAdamConfig(
            modal_adam_betas=cfg.modal_adam_betas, modal_lr_scale=cfg.modal_lr_scale, **common), params)
    if cfg.optimizer == "adam":
        return FairseqAdam(FairseqAdamConfig(**common), params)
    raise ValueError(f"optimizer must be salign_adam or adam, got {cfg.optimizer!r}")


@torch.no_grad()
def evaluate(model: ToyModel, data: ToyData, n: int = 256) -> Dict[str, float]:
    """Fresh probes and MMD^2 on the pooled states of ``n`` new sentences (the same sentences
    for every model evaluated: the data generator is re-seeded)."""
    model.eval()
    g = torch.Generator().manual_seed(10**6 + data.cfg.seed)
    tokens, feats, pad = ToyData(data.cfg, g).batch_like(data, n)
    speech, text = model.encode(tokens, feats, pad)
    s, t = pooled(speech), pooled(text)
    paired_distance = float(np.linalg.norm(s - t, axis=1).mean() / np.linalg.norm(t - t.mean(0), axis=1).mean())
    logits = model.heads["speech"](speech["encoder_out"][0].transpose(0, 1))
    model.train()
    return {
        "probe_accuracy": probe_accuracy(s, t),
        "mmd2_rbf": mmd2_rbf(s, t),
        "paired_distance": paired_distance,  # |s_i - t_i| over the text spread: 0 = aligned pairs
        "speech_token_accuracy": float((logits.argmax(-1)[~pad] == tokens[~pad]).float().mean()),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = ToyConfig()
    for name, value in asdict(defaults).items():
        kind = type(value) if value is not None else float
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=value)
    p.add_argument("--log-every", type=int, default=50)
    args = vars(p.parse_args(argv))
    log_every = args.pop("log_every")
    print(json.dumps(run(ToyConfig(**args), log_every=log_every)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
