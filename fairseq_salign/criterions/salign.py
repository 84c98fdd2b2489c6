"""``salign``: label-smoothed CE for ST and MT, CTC for ASR, and the modality alignment loss.

One forward over each input per batch: speech (ST logits, CTC logits and T-enc states come out
of the same pass) and transcript (MT logits and T-enc states); alignment reuses those states.
In validation ``loss`` holds only the task losses (ST, MT, CTC), so that checkpoint selection
compares alike across --alignment modes; the alignment terms are logged beside it. Options and
their checks: ``salign_config``.
"""
import itertools
import math

import torch
from fairseq import metrics, utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion

from ..distributed import multi_process, zero_touch
from ..modules import ctc_loss, ctc_targets
from .alignment import AlignmentInputs, align_all, build_alignments, parse_alignment
from .modality_memory import ModalityMemory
from .salign_config import SAlignCriterionConfig, validate


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
    """Batches of ST triples train every loss. With extra data (the task's
    ``--asr-extra-subsets`` / ``--mt-extra-subsets``) a batch holds one kind
    (``sample["data_kind"]``): ASR-only batches train CTC (x --ctc-weight), MT-only batches the
    MT cross-entropy (x --mt-weight); with ``--alignment-data all`` they also play their side of
    the game. Each loss part is logged per token of the batches that had it, with each kind's
    realised share of the sentences (``share_st``/``share_asr``/``share_mt``)."""

    def __init__(self, cfg: SAlignCriterionConfig, task):
        validate(cfg, task)
        super().__init__(
            task, cfg.sentence_avg, cfg.label_smoothing, cfg.ignore_prefix_size, cfg.report_accuracy
        )
        self.cfg = cfg
        self.ctc_only = task.cfg.training_stage == "asr"
        self.blank = task.target_dictionary.bos()
        self.eos = task.target_dictionary.eos()
        # the --alignment objectives (criterions/alignment/), each held under its own attribute
        # (the game as ``adversarial``: its parameters keep their checkpoint keys)
        self.adversarial = None
        self.objectives = build_alignments(parse_alignment(cfg.alignment), cfg, task)
        for objective in self.objectives:
            setattr(self, objective.attribute or f"{objective.name}_alignment", objective)
        self.unpaired = cfg.alignment_data == "all"  # validated: --alignment soft alone
        self.memory = ModalityMemory()

    def forward(self, model, sample, reduce=True):
        loss, sample_size, log = self._forward(model, sample, reduce)
        if "data_kind" in sample:
            log = self._uniform_log(log, loss.device)
        return loss, sample_size, log

    def _uniform_log(self, log: dict, device) -> dict:
        """fairseq sums the ranks' logging outputs as one flat buffer built from each rank's
        keys in order, tensors and numbers apart: batches of different kinds must log the same
        keys in the same order, all as tensors (absent parts as 0)."""
        keys = KIND_LOG_KEYS + (("n_correct", "total") if self.report_accuracy else ())
        keys += tuple(sorted(k for k in log if k not in keys))
        return {k: torch.as_tensor(log.get(k, 0), device=device).double() for k in keys}

    def _forward(self, model, sample, reduce):
        net_input = sample["net_input"]
        kind = sample.get("data_kind")
        if not net_input["src_tokens"].is_floating_point():  # token ids: stage 1 or MT-only data
            return self._mt_only(model, sample) if kind == "mt" else self._text_only(model, sample)
        if "src_txt_tokens" not in net_input:
            raise ValueError(
                "multi-task training needs transcripts: the manifest has no src_text column "
                "(prepare data with examples/mustc/prep_mustc_data.py)"
            )
        if self.ctc_only:
            return self._ctc_only(model, sample)
        if kind == "asr":
            return self._asr_only(model, sample)
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
        log = {"st_loss": st_loss.data, "ctc_loss": asr_loss.data, "nll_ntokens": sample["ntokens"]}
        if kind is not None:
            log["n_st"] = sample["nsentences"]

        text = None
        if cfg.mt_weight > 0:
            mt_out = model(transcripts, net_input["src_txt_lengths"], prev)
            text = mt_out[1]["encoder_out"]
            mt_loss, mt_nll = self.compute_loss(model, mt_out, sample, reduce=reduce)
            loss = loss + cfg.mt_weight * mt_loss
            log.update(mt_loss=mt_loss.data, mt_nll_loss=mt_nll.data, mt_ntokens=sample["ntokens"])
        elif self.objectives:
            text = model.encoder(transcripts, net_input["src_txt_lengths"])

        if not self.objectives:
            return loss, *self._logging(model, st_out, sample, loss, st_nll, log)
        speech_weights, text_weights = (self._side_weights(sample, out) for out in (speech, text))
        if self.unpaired and self.training:
            self.memory.store("speech", speech, speech_weights)
            self.memory.store("text", text, text_weights)
        align_loss, align_generator = self._align(
            model, log, sample, (speech, speech_weights), (text, text_weights), (True, True)
        )
        if self.training:
            interval = cfg.alignment_grad_log_interval
            if interval > 0 and num_updates % interval == 0:
                log.update(gradient_ratios(align_generator, loss, speech, text))
            loss = loss + align_loss
        return loss, *self._logging(model, st_out, sample, loss, st_nll, log)

    # ---- alignment ----------------------------------------------------------------------------
    def _align(self, model, log, sample, speech, text, live):
        """Run the --alignment objectives on (encoder output, sentence weights) of each side;
        logs their parts into ``log``; returns (loss to add, the part that trains the encoders)."""
        (s_out, s_w), (t_out, t_w) = speech, text
        inputs = AlignmentInputs(
            s_out, t_out, s_w, t_w, model.encoder.textual_encoder, getattr(model, "num_updates", 0),
            self.blank, sample["nsentences"], live,
        )
        out = align_all(self.objectives, inputs)
        log.update(out.log)
        return out.loss, out.generator_loss

    def _unpaired_game(self, model, log, sample, live_modality, live_out, loss):
        """A single-modality batch's side of the game, against the other modality's memory;
        skipped (and counted) while the memory is empty."""
        weights = self._side_weights(sample, live_out)
        other = "text" if live_modality == "speech" else "speech"
        remembered = self.memory.recall(other)
        self.memory.store(live_modality, live_out, weights)
        if remembered is None:
            log["game_skipped"] = 1
            return loss
        sides = {live_modality: (live_out, weights), other: (remembered.out, remembered.weights)}
        align_loss, _ = self._align(
            model, log, sample, sides["speech"], sides["text"],
            (live_modality == "speech", live_modality == "text"),
        )
        return loss + align_loss

    # ---- single-kind batches -----------------------------------------------------------------
    def _asr_only(self, model, sample):
        """ASR-only data in stage 3: CTC on the transcript (x --ctc-weight); with
        --alignment-data all also the speech side of the game (the encoder runs to T-enc)."""
        net_input = sample["net_input"]
        play = self.unpaired and self.training
        if play:
            speech = model(net_input["src_tokens"], net_input["src_lengths"], None, encoder_only=True)
            ctc_logits, frame_mask = speech["ctc_logits"][0], speech["ctc_padding_mask"][0]
        else:
            ctc_logits, frame_mask = model(net_input["src_tokens"], net_input["src_lengths"], None, ctc_only=True)
        targets, target_lengths = ctc_targets(net_input["src_txt_tokens"], self.padding_idx, self.eos)
        asr_loss = ctc_loss(ctc_logits, frame_mask, targets, target_lengths, self.blank)
        loss = self.cfg.ctc_weight * asr_loss
        nsentences = sample["nsentences"]
        sample_size = nsentences if self.sentence_avg else sample["ntokens"]
        log = {"ctc_loss": asr_loss.data, "n_asr": nsentences, "nll_ntokens": 0}
        if play:
            loss = self._unpaired_game(model, log, sample, "speech", speech, loss)
        loss = self._touch(model, loss)
        log.update(loss=loss.data, ntokens=sample["ntokens"], nsentences=nsentences, sample_size=sample_size)
        _part_sizes(log, sample_size)
        return loss, sample_size, log

    def _mt_only(self, model, sample):
        """MT-only data in stage 3: MT cross-entropy (x --mt-weight); with --alignment-data all
        also the text side of the game."""
        net_output = model(**sample["net_input"])
        mt_loss, mt_nll = self.compute_loss(model, net_output, sample)
        loss = self.cfg.mt_weight * mt_loss
        log = {"mt_loss": mt_loss.data, "mt_nll_loss": mt_nll.data, "mt_ntokens": sample["ntokens"],
               "nll_ntokens": sample["ntokens"], "n_mt": sample["nsentences"]}
        if self.unpaired and self.training:
            loss = self._unpaired_game(model, log, sample, "text", net_output[1]["encoder_out"], loss)
        loss = self._touch(model, loss)
        return loss, *self._logging(model, net_output, sample, loss, mt_nll, log)

    def _touch(self, model, loss):
        """A single-kind batch leaves parameters unused (an ASR-only batch never reaches the
        decoder, an MT-only one the A-enc; the modal network may sit out); under DDP each gets an
        exact zero gradient so that fairseq's default c10d backend can reduce. A single process
        leaves them without gradient (Adam skips them), as fairseq's legacy_ddp would give zeros."""
        if not (self.training and multi_process()):
            return loss
        return loss + zero_touch(itertools.chain(model.parameters(), self.parameters()))

    def _ctc_only(self, model, sample):
        """Stage 2 (--training-stage asr): CTC on the A-enc, per transcript token."""
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
        return loss, sample_size, _part_sizes(log, sample_size)

    def _text_only(self, model, sample):
        """Stage 1 (--training-stage mt): MT cross-entropy only."""
        net_output = model(**sample["net_input"])
        loss, nll = self.compute_loss(model, net_output, sample)
        return loss, *self._logging(model, net_output, sample, loss, nll, {"mt_loss": loss.data})

    def _side_weights(self, sample, encoder_out):
        """Sentence weights of one side's alignment loss, see --alignment-sentence-weight;
        "target" counts the batch's target tokens (the translation, or for ASR-only data the
        transcript): the cross-entropies' per-token scale."""
        target = sample["target"]
        kind = "one" if self.sentence_avg else self.cfg.alignment_sentence_weight
        if kind == "one":
            return target.new_ones(target.size(0), dtype=torch.float)
        if kind == "target":
            return target.ne(self.padding_idx).sum(dim=1).float()
        return (~encoder_out["encoder_padding_mask"][0]).sum(dim=1).float()

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
        return sample_size, _part_sizes(log, sample_size)

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        def total(key):
            return utils.item(sum(log.get(key, 0) for log in logging_outputs))

        def seen(key):
            return any(key in log for log in logging_outputs)

        # nll_loss / ppl: translation tokens only (ST and MT-only batches), not ASR transcripts
        translated = [dict(log, ntokens=log.get("nll_ntokens", log.get("ntokens", 0))) for log in logging_outputs]
        sample_size = total("sample_size")
        if sum(log["ntokens"] for log in translated) > 0:
            super().reduce_metrics(translated)
        elif sample_size > 0:
            metrics.log_scalar("loss", total("loss") / sample_size / math.log(2), sample_size, round=3)
        for key in LOSS_PARTS:
            size = total(f"{key}_ss") if seen(f"{key}_ss") else sample_size
            if seen(key) and size > 0:
                metrics.log_scalar(key, total(key) / size / math.log(2), size, round=3)
        ntokens = total("mt_ntokens") if seen("mt_ntokens") else total("ntokens")
        if seen("mt_nll_loss") and ntokens > 0:
            metrics.log_scalar("mt_nll_loss", total("mt_nll_loss") / ntokens / math.log(2), ntokens, round=3)
        for side in ("speech", "text"):
            count = total(f"grad_ratio_{side}_count")
            if count > 0:
                metrics.log_scalar(f"align_grad_ratio_{side}", total(f"grad_ratio_{side}") / count, count, round=4)
            n = total(f"game_n_{side}")
            if n > 0:
                metrics.log_scalar(f"disc_acc_{side}", total(f"disc_correct_{side}") / n, n, round=3)
        players = total("game_sentences")
        if players > 0:
            metrics.log_scalar("adv_weight", total("adv_weight") / players, players, round=3)
        if seen("game_skipped"):
            metrics.log_scalar_sum("game_skipped", total("game_skipped"))
        counts = {k: total(f"n_{k}") for k in ("st", "asr", "mt")}
        if sum(counts.values()) > 0:  # the realised sampling ratio, in sentences
            for k, n in counts.items():
                metrics.log_scalar(f"share_{k}", n / sum(counts.values()), sum(counts.values()), round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True


LOSS_PARTS = (
    "st_loss", "mt_loss", "ctc_loss", "disc_loss", "adv_loss", "contrastive_loss", "moments_loss",
    "mmd_loss", "swd_loss",
)
# every key a training batch may log when data kinds are mixed
KIND_LOG_KEYS = (
    "loss", "nll_loss", "ntokens", "nsentences", "sample_size", "nll_ntokens", "mt_nll_loss",
    "mt_ntokens", *LOSS_PARTS, *(f"{key}_ss" for key in LOSS_PARTS), "disc_correct_speech",
    "disc_correct_text", "game_n_speech", "game_n_text", "adv_weight", "game_sentences",
    "game_skipped", "grad_ratio_speech", "grad_ratio_speech_count", "grad_ratio_text",
    "grad_ratio_text_count", "n_st", "n_asr", "n_mt",
)


def _part_sizes(log: dict, sample_size) -> dict:
    """Each loss part is averaged over the batches that had it: log the sample size beside it."""
    for key in LOSS_PARTS:
        if key in log:
            log[f"{key}_ss"] = sample_size
    return log
