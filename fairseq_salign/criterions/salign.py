"""``salign``: label-smoothed CE for ST and MT, CTC for ASR, and the modality alignment loss.

One forward over each input per batch: speech (ST logits, CTC logits and T-enc states come out
of the same pass) and transcript (MT logits and T-enc states); alignment reuses those states.
In validation ``loss`` holds only the task losses (ST, MT, CTC), so that checkpoint selection
compares alike across --alignment modes; the alignment terms are logged beside it.
"""
import math
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq import metrics, utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)
from fairseq.dataclass import ChoiceEnum

from ..modules import ctc_loss, ctc_targets
from .adversarial import (
    GENERATOR_TARGETS,
    INPUT_NORMS,
    MIXUP_LABELS,
    MIXUP_MODES,
    MIXUP_POSITIONS,
    AdversarialAlignment,
    GameSettings,
)
from .contrastive import contrastive_loss

ALIGNMENT_CHOICES = ChoiceEnum(["none", "soft", "hard"])
GENERATOR_TARGET_CHOICES = ChoiceEnum(list(GENERATOR_TARGETS))
INPUT_NORM_CHOICES = ChoiceEnum(list(INPUT_NORMS))
MIXUP_MODE_CHOICES = ChoiceEnum(list(MIXUP_MODES))
MIXUP_POSITION_CHOICES = ChoiceEnum(list(MIXUP_POSITIONS))
MIXUP_LABEL_CHOICES = ChoiceEnum(list(MIXUP_LABELS))
SENTENCE_WEIGHT_CHOICES = ChoiceEnum(["target", "encoder", "one"])


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
    st_start_updates: int = field(
        default=0,
        metadata={
            "help": "ST cross-entropy off before this update while MT, CTC and the alignment train "
            "(the authors: 3000 of 50k; 0 here because short runs, like the demo's 192 updates, "
            "would lose most of their ST training). ST's CE/CTC split is --st-weight / "
            "--ctc-weight (theirs: 0.7 / 0.3)"
        },
    )
    adversarial_weight: float = field(
        default=0.25,
        metadata={
            "help": "soft: weight of the encoders' (generator) adversarial loss, on the per-token "
            "scale of the ST cross-entropy: the sentence BCEs are summed with target-length "
            "weights into the loss fairseq divides by the batch's target tokens, so the value "
            "means the same at any batch size, GPU count and precision. The authors' at-scale "
            "4.0 is not comparable: their loss is a length-weighted mean over sentences "
            "back-propagated outside fp16 loss scaling (README, 'The adversarial weight'). "
            "0.25 from the demo (3 seeds, docs/ablations.md): ST, MT BLEU and MMD^2 all better "
            "than at 1.0, where the generator's gradient is ~2x the task's at the T-enc output"
        },
    )
    adversarial_warmup_updates: int = field(
        default=1000, metadata={"help": "soft: generator loss off before this update (authors: 1000)"}
    )
    adversarial_decay_start: int = field(
        default=25000, metadata={"help": "soft: generator weight starts its linear decay here"}
    )
    adversarial_decay_end: int = field(
        default=45000, metadata={"help": "soft: generator weight reaches 0 here"}
    )
    generator_target: GENERATOR_TARGET_CHOICES = field(
        default="uniform",
        metadata={
            "help": "soft: the encoders' objective against the frozen modal network: uniform "
            "(both modalities towards 0.5, the authors'); text (only speech moves, towards the "
            "text label: the MT-trained text space is the anchor); features (match the means of "
            "the network's pooled features of speech and text: feature matching)"
        },
    )
    modal_input_norm: INPUT_NORM_CHOICES = field(
        default="batch",
        metadata={
            "help": "soft: batch standardises the modal network's input with the batch's joint "
            "speech+text token statistics, so that an offset or scale shared by both "
            "modalities cannot fool it; none feeds it raw T-enc states (the authors'), which the "
            "encoders defeat on the demo without aligning anything (docs/ablations.md)"
        },
    )
    discriminator_scale: float = field(
        default=1.5, metadata={"help": "soft: scale of the discriminator loss (authors: 1.5)"}
    )
    discriminator_decay: bool = field(
        default=False,
        metadata={
            "help": "soft: decay the discriminator loss with the generator's after "
            "--adversarial-decay-start (the authors decay both; off by default: under Adam a "
            "scaled-down loss still takes full steps until it is 0, so the decay mostly decides "
            "when the network stops learning)"
        },
    )
    mixup_prob: float = field(
        default=0.3, metadata={"help": "soft: probability per batch of a mix-up batch"}
    )
    mixup_mode: MIXUP_MODE_CHOICES = field(
        default="discriminator",
        metadata={
            "help": "soft: discriminator (an extra mixed sequence, through T-enc without gradient, "
            "trains only the modal network); replace (the authors': the mixed sequence replaces "
            "the speech input of the discriminator and generator passes, with gradient). Not the "
            "default: the authors' mix-up settings together cost MT BLEU on the demo "
            "(docs/ablations.md, soft-authors)"
        },
    )
    mixup_rate: Optional[float] = field(
        default=None,
        metadata={"help": "soft: fixed mix-up rate p in [0, 1]; unset: p ~ U(0, 1) per sentence (authors)"},
    )
    mixup_positions: MIXUP_POSITION_CHOICES = field(
        default="tokens",
        metadata={
            "help": "soft: tokens (only positions whose CTC label is a token: a blank's embedding "
            "is no text T-enc has seen); any (blank positions too, with the blank's embedding: "
            "the authors')"
        },
    )
    mixup_label: MIXUP_LABEL_CHOICES = field(
        default="realised",
        metadata={
            "help": "soft: realised (the fraction of positions actually replaced: exact for the "
            "sequence the network sees); drawn (the drawn p, the authors': off by the share of "
            "positions that could not be replaced)"
        },
    )
    mixup_start_updates: int = field(
        default=0, metadata={"help": "soft: no mix-up before this update (authors: 3000)"}
    )
    alignment_sentence_weight: SENTENCE_WEIGHT_CHOICES = field(
        default="target",
        metadata={
            "help": "weights of the sentence-level alignment losses: target (target tokens: the "
            "cross-entropies' scale, so --adversarial-weight keeps one meaning); encoder (each "
            "input's encoder-output length, the authors': speech and text then weigh differently "
            "and the scale follows the adapter's output length); one (1 per sentence; also what "
            "--sentence-avg uses)"
        },
    )
    alignment_grad_log_interval: int = field(
        default=100,
        metadata={
            "help": "soft/hard: every N updates log the norm of the alignment loss's gradient "
            "over the task losses' at the T-enc output (speech and text side): the generator's "
            "strength in terms that mean the same in any code base; 0 disables it"
        },
    )
    modal_hidden_dim: int = field(
        default=256, metadata={"help": "soft: bottleneck width of the modal network"}
    )
    modal_dropout: float = field(default=0.1, metadata={"help": "soft: modal network dropout"})
    contrastive_weight: float = field(default=1.0, metadata={"help": "hard: InfoNCE weight"})
    contrastive_temperature: float = field(
        default=0.1, metadata={"help": "hard: InfoNCE temperature"}
    )


# criterion options that are GameSettings fields of another name, and those of the same name
GAME_OPTIONS = {
    "weight": "adversarial_weight",
    "warmup_updates": "adversarial_warmup_updates",
    "decay_start": "adversarial_decay_start",
    "decay_end": "adversarial_decay_end",
}
GAME_OPTIONS.update({f: f for f in GameSettings.__dataclass_fields__ if f not in GAME_OPTIONS})


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
    if cfg.mixup_rate is not None and not 0.0 <= cfg.mixup_rate <= 1.0:
        problems.append("--mixup-rate must be in [0, 1] (leave it unset for p ~ U(0, 1))")
    for name in ("discriminator_scale", "st_start_updates", "mixup_start_updates", "alignment_grad_log_interval"):
        if getattr(cfg, name) < 0:
            problems.append(f"--{name.replace('_', '-')} must be >= 0")
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


def gradient_ratios(alignment_loss, task_loss, speech, text):
    """||d alignment / d h|| / ||d task / d h|| at the T-enc outputs h of speech and text.

    Both gradients come from ``torch.autograd.grad`` on the unscaled losses of this batch, so the
    ratio does not depend on fp16 loss scaling, batch size or how a code base normalises its
    losses; it costs one extra backward of the task losses down to the T-enc output."""
    if not (torch.is_tensor(alignment_loss) and alignment_loss.requires_grad):
        return {}
    outs = [speech["encoder_out"][0], text["encoder_out"][0]]
    align = torch.autograd.grad(alignment_loss, outs, retain_graph=True, allow_unused=True)
    task = torch.autograd.grad(task_loss, outs, retain_graph=True, allow_unused=True)
    log = {}
    for side, a, t in zip(("speech", "text"), align, task):
        a_norm = 0.0 if a is None else a.float().norm().item()
        t_norm = 0.0 if t is None else t.float().norm().item()
        if t_norm > 0:
            log[f"grad_ratio_{side}"] = a_norm / t_norm
            log[f"grad_ratio_{side}_count"] = 1
    return log


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
            settings = GameSettings(**{f: getattr(cfg, o) for f, o in GAME_OPTIONS.items()})
            self.adversarial = AdversarialAlignment(
                task.model_embed_dim, cfg.modal_hidden_dim, cfg.modal_dropout, settings
            )

    def forward(self, model, sample, reduce=True):
        net_input = sample["net_input"]
        if not net_input["src_tokens"].is_floating_point():  # token ids: stage 1 (MT)
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
        num_updates = getattr(model, "num_updates", 0)

        transcripts = net_input["src_txt_tokens"]
        targets, target_lengths = ctc_targets(transcripts, self.padding_idx, self.eos)
        asr_loss = ctc_loss(
            speech["ctc_logits"][0], speech["ctc_padding_mask"][0], targets, target_lengths, self.blank
        )
        # ST off early (--st-start-updates): x 0 keeps every parameter in the graph under DDP
        st_weight = 0.0 if self.training and num_updates < cfg.st_start_updates else cfg.st_weight
        loss = st_weight * st_loss + cfg.ctc_weight * asr_loss
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

        if cfg.alignment == "none":
            return loss, *self._logging(model, st_out, sample, loss, st_nll, log)
        speech_weights, text_weights = self._sentence_weights(sample, speech, text)
        if cfg.alignment == "soft":
            adv = self.adversarial(
                model.encoder.textual_encoder, speech, text, speech_weights, text_weights,
                num_updates, self.blank,
            )
            align_loss, align_generator = adv["loss"], adv["weighted_adv_loss"]
            log.update(disc_loss=adv["disc_loss"].data, adv_loss=adv["adv_loss"].data)
            log.update(disc_correct_speech=adv["disc_correct_speech"], disc_correct_text=adv["disc_correct_text"])
            log["adv_weight"] = adv["adv_weight"] * sample["nsentences"]
        else:
            contrastive = contrastive_loss(speech, text, cfg.contrastive_temperature)
            contrastive = (contrastive * 0.5 * (speech_weights + text_weights)).sum()
            align_loss = align_generator = cfg.contrastive_weight * contrastive
            log["contrastive_loss"] = contrastive.data
        if self.training:
            interval = cfg.alignment_grad_log_interval
            if interval > 0 and num_updates % interval == 0:
                log.update(gradient_ratios(align_generator, loss, speech, text))
            loss = loss + align_loss
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

    def _sentence_weights(self, sample, speech, text):
        """Weights of the sentence-level alignment losses (speech, text), see
        --alignment-sentence-weight; "target" sums them on the cross-entropies' per-token scale."""
        target = sample["target"]
        kind = "one" if self.sentence_avg else self.cfg.alignment_sentence_weight
        if kind == "one":
            ones = target.new_ones(target.size(0), dtype=torch.float)
            return ones, ones
        if kind == "target":
            lengths = target.ne(self.padding_idx).sum(dim=1).float()
            return lengths, lengths
        return tuple(
            (~out["encoder_padding_mask"][0]).sum(dim=1).float() for out in (speech, text)
        )

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
        for side in ("speech", "text"):
            count = total(f"grad_ratio_{side}_count")
            if count > 0:
                metrics.log_scalar(f"align_grad_ratio_{side}", total(f"grad_ratio_{side}") / count, count, round=4)
        if any("disc_correct_speech" in log for log in logging_outputs) and nsentences > 0:
            metrics.log_scalar("disc_acc_speech", total("disc_correct_speech") / nsentences, nsentences, round=3)
            metrics.log_scalar("disc_acc_text", total("disc_correct_text") / nsentences, nsentences, round=3)
            metrics.log_scalar("adv_weight", total("adv_weight") / nsentences, nsentences, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
