"""``salign``: label-smoothed CE for ST and MT, CTC for ASR, and the modality alignment loss.

One forward over each input per batch: speech (ST logits, CTC logits and T-enc states come out
of the same pass) and transcript (MT logits and T-enc states); alignment reuses those states.
In validation ``loss`` holds only the task losses (ST, MT, CTC), so that checkpoint selection
compares alike across --alignment modes; the alignment terms are logged beside it.
"""
import math
from dataclasses import dataclass, field

import torch
from fairseq import metrics, utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)
from fairseq.dataclass import ChoiceEnum

from ..modules import ctc_loss, ctc_targets
from .adversarial import AdversarialAlignment
from .contrastive import contrastive_loss

ALIGNMENT_CHOICES = ChoiceEnum(["none", "soft", "hard"])


@dataclass
class SAlignCriterionConfig(LabelSmoothedCrossEntropyCriterionConfig):
    alignment: ALIGNMENT_CHOICES = field(
        default="soft",
        metadata={
            "help": "soft: S-Align (adversarial modal network + mix-up); hard: H-Align "
            "(contrastive speech/text); none: plain multi-task baseline"
        },
    )
    st_weight: float = field(default=1.0, metadata={"help": "weight of the ST cross-entropy"})
    mt_weight: float = field(
        default=0.5, metadata={"help": "weight of the MT cross-entropy on the batch's transcripts"}
    )
    ctc_weight: float = field(
        default=0.3, metadata={"help": "weight of the CTC (ASR) loss on the acoustic encoder"}
    )
    adversarial_weight: float = field(
        default=4.0, metadata={"help": "soft: scale of the encoders' (generator) adversarial loss"}
    )
    adversarial_warmup_updates: int = field(
        default=1000, metadata={"help": "soft: generator loss off before this update"}
    )
    adversarial_decay_start: int = field(
        default=25000, metadata={"help": "soft: generator weight starts its linear decay here"}
    )
    adversarial_decay_end: int = field(
        default=45000, metadata={"help": "soft: generator weight reaches 0 here"}
    )
    mixup_prob: float = field(
        default=0.3, metadata={"help": "soft: probability per batch of a mix-up discriminator pass"}
    )
    mixup_discriminator_scale: float = field(
        default=1.5, metadata={"help": "soft: discriminator loss scale in mix-up batches"}
    )
    modal_hidden_dim: int = field(
        default=256, metadata={"help": "soft: bottleneck width of the modal network"}
    )
    modal_dropout: float = field(default=0.1, metadata={"help": "soft: modal network dropout"})
    contrastive_weight: float = field(default=1.0, metadata={"help": "hard: InfoNCE weight"})
    contrastive_temperature: float = field(
        default=0.1, metadata={"help": "hard: InfoNCE temperature"}
    )


def validate(cfg: SAlignCriterionConfig, task) -> None:
    """Reject option combinations that cannot do what they say, before any training."""
    problems = []
    for name in ("st_weight", "mt_weight", "ctc_weight", "adversarial_weight", "contrastive_weight"):
        if getattr(cfg, name) < 0:
            problems.append(f"--{name.replace('_', '-')} must be >= 0")
    if not 0.0 <= cfg.label_smoothing < 1.0:
        problems.append("--label-smoothing must be in [0, 1)")
    if not 0.0 <= cfg.mixup_prob <= 1.0:
        problems.append("--mixup-prob must be in [0, 1]")
    if cfg.adversarial_decay_end < cfg.adversarial_decay_start:
        problems.append("--adversarial-decay-end must be >= --adversarial-decay-start")
    if cfg.alignment == "hard" and cfg.contrastive_temperature <= 0:
        problems.append("--contrastive-temperature must be > 0")
    stage = getattr(getattr(task, "cfg", None), "training_stage", None)
    if stage is None:
        problems.append("--criterion salign needs --task speech_to_text_salign")
    elif stage == "mt" and cfg.alignment != "none":
        problems.append(
            "--training-stage mt trains on text only, so there is nothing to align: "
            "pass --alignment none for stage 1"
        )
    elif stage == "asr" and cfg.alignment != "none":
        problems.append(
            "--training-stage asr trains the acoustic encoder with CTC only, so there is "
            "nothing to align: pass --alignment none for ASR pre-training"
        )
    if problems:
        raise ValueError("salign criterion: " + "; ".join(problems))


@register_criterion("salign", dataclass=SAlignCriterionConfig)
class SAlignCriterion(LabelSmoothedCrossEntropyCriterion):
    def __init__(self, cfg: SAlignCriterionConfig, task):
        validate(cfg, task)
        super().__init__(
            task, cfg.sentence_avg, cfg.label_smoothing, cfg.ignore_prefix_size, cfg.report_accuracy
        )
        self.cfg = cfg
        self.ctc_only = task.cfg.training_stage == "asr"
        self.blank = task.target_dictionary.bos()
        self.eos = task.target_dictionary.eos()
        self.adversarial = None
        if cfg.alignment == "soft":
            self.adversarial = AdversarialAlignment(
                embed_dim=task.model_embed_dim,
                hidden_dim=cfg.modal_hidden_dim,
                dropout=cfg.modal_dropout,
                weight=cfg.adversarial_weight,
                warmup_updates=cfg.adversarial_warmup_updates,
                decay_start=cfg.adversarial_decay_start,
                decay_end=cfg.adversarial_decay_end,
                mixup_prob=cfg.mixup_prob,
                mixup_discriminator_scale=cfg.mixup_discriminator_scale,
            )

    def forward(self, model, sample, reduce=True):
        net_input = sample["net_input"]
        if net_input["src_tokens"].dim() == 2:
            return self._text_only(model, sample)
        if "src_txt_tokens" not in net_input:
            raise ValueError(
                "multi-task training needs transcripts: the manifest has no src_text column "
                "(prepare data with examples/mustc/prep_mustc_data.py)"
            )
        if self.ctc_only:
            return self._ctc_only(model, sample)
        cfg = self.cfg
        prev = net_input["prev_output_tokens"]
        st_out = model(net_input["src_tokens"], net_input["src_lengths"], prev)
        speech = st_out[1]["encoder_out"]
        st_loss, st_nll = self.compute_loss(model, st_out, sample, reduce=reduce)

        transcripts = net_input["src_txt_tokens"]
        targets, target_lengths = ctc_targets(transcripts, self.padding_idx, self.eos)
        asr_loss = ctc_loss(
            speech["ctc_logits"][0], speech["ctc_padding_mask"][0], targets, target_lengths, self.blank
        )
        loss = cfg.st_weight * st_loss + cfg.ctc_weight * asr_loss
        log = {"st_loss": st_loss.data, "ctc_loss": asr_loss.data}

        text = None
        if cfg.mt_weight > 0:
            mt_out = model(transcripts, net_input["src_txt_lengths"], prev)
            text = mt_out[1]["encoder_out"]
            mt_loss, mt_nll = self.compute_loss(model, mt_out, sample, reduce=reduce)
            loss = loss + cfg.mt_weight * mt_loss
            log.update(mt_loss=mt_loss.data, mt_nll_loss=mt_nll.data)
        elif cfg.alignment != "none":
            text = model.encoder(transcripts, net_input["src_txt_lengths"])

        weights = self._sentence_weights(sample)
        if cfg.alignment == "soft":
            adv = self.adversarial(
                model.encoder.textual_encoder, speech, text, weights, weights,
                getattr(model, "num_updates", 0), self.blank,
            )
            if self.training:
                loss = loss + adv["loss"]
            log.update(disc_loss=adv["disc_loss"].data, adv_loss=adv["adv_loss"].data)
            log.update(disc_correct_speech=adv["disc_correct_speech"], disc_correct_text=adv["disc_correct_text"])
            log["adv_weight"] = adv["adv_weight"] * sample["nsentences"]
        elif cfg.alignment == "hard":
            contrastive = (contrastive_loss(speech, text, cfg.contrastive_temperature) * weights).sum()
            if self.training:
                loss = loss + cfg.contrastive_weight * contrastive
            log["contrastive_loss"] = contrastive.data
        return loss, *self._logging(model, st_out, sample, loss, st_nll, log)

    def _ctc_only(self, model, sample):
        """Stage 1b (--training-stage asr): CTC on the A-enc, per transcript token."""
        net_input = sample["net_input"]
        ctc_logits, frame_mask = model(
            net_input["src_tokens"], net_input["src_lengths"], None, ctc_only=True
        )
        targets, target_lengths = ctc_targets(net_input["src_txt_tokens"], self.padding_idx, self.eos)
        loss = ctc_loss(ctc_logits, frame_mask, targets, target_lengths, self.blank)
        ntokens = int(target_lengths.sum())
        sample_size = sample["target"].size(0) if self.sentence_avg else ntokens
        log = {
            "loss": loss.data,
            "ctc_loss": loss.data,
            "ntokens": ntokens,
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
        }
        return loss, sample_size, log

    def _text_only(self, model, sample):
        """Stage 1 (--training-stage mt): MT cross-entropy only."""
        net_output = model(**sample["net_input"])
        loss, nll = self.compute_loss(model, net_output, sample)
        return loss, *self._logging(model, net_output, sample, loss, nll, {"mt_loss": loss.data})

    def _sentence_weights(self, sample) -> torch.Tensor:
        """Sentence-level losses weighted by target length, so that they sum on the same
        per-token scale as the cross-entropies (or 1 each with --sentence-avg)."""
        target = sample["target"]
        if self.sentence_avg:
            return target.new_ones(target.size(0), dtype=torch.float)
        return target.ne(self.padding_idx).sum(dim=1).float()

    def _logging(self, model, net_output, sample, loss, nll_loss, parts):
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        log = {
            "loss": loss.data,
            "nll_loss": nll_loss.data,
            "ntokens": sample["ntokens"],
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
            **parts,
        }
        if self.report_accuracy:
            n_correct, total = self.compute_accuracy(model, net_output, sample)
            log["n_correct"] = utils.item(n_correct.data)
            log["total"] = utils.item(total.data)
        return sample_size, log

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        super().reduce_metrics(logging_outputs)

        def total(key):
            return utils.item(sum(log.get(key, 0) for log in logging_outputs))

        sample_size = total("sample_size")
        nsentences = total("nsentences")
        for key in ("st_loss", "mt_loss", "ctc_loss", "disc_loss", "adv_loss", "contrastive_loss"):
            if any(key in log for log in logging_outputs):
                metrics.log_scalar(key, total(key) / sample_size / math.log(2), sample_size, round=3)
        if any("mt_nll_loss" in log for log in logging_outputs):
            ntokens = total("ntokens")
            metrics.log_scalar("mt_nll_loss", total("mt_nll_loss") / ntokens / math.log(2), ntokens, round=3)
        if any("disc_correct_speech" in log for log in logging_outputs) and nsentences > 0:
            metrics.log_scalar("disc_acc_speech", total("disc_correct_speech") / nsentences, nsentences, round=3)
            metrics.log_scalar("disc_acc_text", total("disc_correct_text") / nsentences, nsentences, round=3)
            metrics.log_scalar("adv_weight", total("adv_weight") / nsentences, nsentences, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
