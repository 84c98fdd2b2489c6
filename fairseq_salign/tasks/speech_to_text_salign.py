"""``speech_to_text_salign``: fairseq's speech-to-text task with MT, multi-task and ASR modes.

Data: the recipe's ``{split}_st.tsv`` manifests (``src_text`` = transcript, ``tgt_text`` =
translation) and ``config_st.yaml`` with one joint SentencePiece vocabulary for both sides.
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from fairseq.data import ConcatDataset, Dictionary, ResamplingDataset
from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDataset, SpeechToTextDatasetCreator
from fairseq.data.audio.speech_to_text_joint_dataset import (
    S2TJointDataConfig,
    SpeechToTextJointDatasetCreator,
)
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.dataclass.utils import gen_parser_from_dataclass
from fairseq.tasks import register_task
from fairseq.tasks.speech_to_text import SpeechToTextTask
from omegaconf import II

from ..audio import FRAME_SHIFT_SAMPLES as SAMPLES_PER_FRAME  # waveform positions per 10 ms frame
from ..data.manifest_check import load_checked
from ..frontends import FRONTENDS
from ..optim.param_groups import check_modal_group
from ..modules.ctc_generator import CTCGreedyGenerator
from .dev_bleu import bleu_statistics, parse_generation_args, reduce_bleu
from .extra_data import subset_names, with_extra_kinds
from .text_pairs import text_pair_dataset, transcripts_as_targets
from .waveform_data import read_waveforms_with_soundfile

logger = logging.getLogger(__name__)

STAGE_CHOICES = ChoiceEnum(["mt", "asr", "multitask"])
INFER_CHOICES = ChoiceEnum(["st", "mt", "asr"])


@dataclass
class SpeechToTextSAlignConfig(FairseqDataclass):
    data: str = field(
        default="", metadata={"help": "manifest root: {split}.tsv files, config yaml, vocabulary"}
    )
    config_yaml: str = field(
        default="config_st.yaml", metadata={"help": "data config YAML under the manifest root"}
    )
    max_source_positions: int = field(
        default=6000,
        metadata={"help": "max input length: 10 ms frames for speech (waveform input: "
                  f"x{SAMPLES_PER_FRAME} samples) or tokens for text"},
    )
    max_target_positions: int = field(default=1024, metadata={"help": "max target tokens"})
    training_stage: STAGE_CHOICES = field(
        default="multitask",
        metadata={
            "help": "mt: stage 1, T-enc + decoder on transcript -> translation pairs (no audio "
            "is read); asr: optional stage 2, A-enc + CTC head on speech -> transcript with "
            "everything else frozen (start it from the stage-1 checkpoint: a tied CTC head then "
            "projects onto the frozen MT embeddings); multitask: stage 3, ST + MT + CTC ASR + alignment in "
            "every batch"
        },
    )
    mt_extra_subsets: Optional[str] = field(
        default=None,
        metadata={
            "help": "comma-separated extra text-only manifests under the data dir ({name}.tsv "
            "with src_text and tgt_text columns; external MT data), listed like --train-subset. "
            "Stage mt: added to the training pairs. Stage multitask: MT-only batches (MT "
            "cross-entropy; with --alignment-data all also the text side of the game), sampled "
            "with the ST triples (see --mt-sampling-weight)"
        },
    )
    asr_extra_subsets: Optional[str] = field(
        default=None,
        metadata={
            "help": "comma-separated ASR-only manifests under the data dir ({name}.tsv with "
            "id, audio, n_frames, src_text; no translation: prep_mustc_data.py "
            "--asr-only-splits writes them). Stage multitask: ASR-only batches (CTC; with "
            "--alignment-data all also the speech side of the game). Stage asr: more CTC data"
        },
    )
    st_sampling_weight: Optional[float] = field(
        default=None,
        metadata={
            "help": "with extra ASR/MT subsets: share of the ST triples among the utterances "
            "drawn per epoch, relative to --asr-sampling-weight and --mt-sampling-weight (give "
            "one for each kind in use: ASR:MT:ST = 10:1:1 is --asr-sampling-weight 10 "
            "--mt-sampling-weight 1 --st-sampling-weight 1). Unset: shares from corpus sizes "
            "and --data-sampling-temperature. An epoch is one pass over the ST triples at their share"
        },
    )
    asr_sampling_weight: Optional[float] = field(
        default=None, metadata={"help": "share of the ASR-only data, see --st-sampling-weight"}
    )
    mt_sampling_weight: Optional[float] = field(
        default=None, metadata={"help": "share of the MT-only data, see --st-sampling-weight"}
    )
    data_sampling_temperature: float = field(
        default=1.0,
        metadata={
            "help": "without sampling weights: each kind's share is proportional to its size ** "
            "(1 / T); 1 = as concatenated, larger T moves towards equal shares"
        },
    )
    text_frames_per_token: Optional[float] = field(
        default=None,
        metadata={
            "help": "--max-tokens counts speech frames; an MT-only text token counts this many "
            "(unset: the ST data's frames per transcript token), so text and speech batches "
            "hold about as many sentences"
        },
    )
    infer_mode: Optional[INFER_CHOICES] = field(
        default=None,
        metadata={
            "help": "fairseq-generate: st (speech -> translation, beam search; the default), mt "
            "(transcript -> translation), asr (CTC greedy decoding; score with --scoring wer). "
            "In st/asr mode transcripts are not even loaded"
        },
    )
    eval_bleu: bool = field(
        default=False,
        metadata={
            "help": "decode every validation batch and log the dev set's corpus BLEU as 'bleu' "
            "(sacreBLEU, detokenized), for --best-checkpoint-metric bleu "
            "--maximize-best-checkpoint-metric and --keep-best-checkpoints N"
        },
    )
    eval_bleu_args: str = field(
        default='{"beam": 5}',
        metadata={"help": "--eval-bleu: generation options as JSON, e.g. '{\"beam\": 8}'"},
    )
    skip_invalid_rows: bool = field(
        default=False,
        metadata={
            "help": "train splits (and extra subsets) only: drop manifest rows that fail the load-time "
            "check (audio missing or past the end of its zip, duplicate id, empty text the stage "
            "reads) and log their count, instead of stopping. Dev/test splits are never thinned"
        },
    )
    validate_on_ema: bool = field(
        default=False,
        metadata={
            "help": "validate (loss, --eval-bleu, so also checkpoint_best) on the EMA weights "
            "that --store-ema keeps instead of the last weights; needs --store-ema"
        },
    )
    seed: int = II("common.seed")
    train_subset: str = II("dataset.train_subset")
    store_ema: bool = II("ema.store_ema")


@register_task("speech_to_text_salign", dataclass=SpeechToTextSAlignConfig)
class SpeechToTextSAlignTask(SpeechToTextTask):
    @classmethod
    def add_args(cls, parser):
        # SpeechToTextTask defines argparse options; ours come from the dataclass
        gen_parser_from_dataclass(parser, SpeechToTextSAlignConfig())

    def __init__(self, cfg, dictionary: Dictionary):
        super().__init__(cfg, dictionary)
        self.cfg = cfg
        self.data_cfg = S2TJointDataConfig(Path(cfg.data) / cfg.config_yaml)
        self._check_joint_vocabulary()
        self._check_data_options()
        self._told_batch_multiple = False
        self._optimizer_checked = False

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        if not cfg.data:
            raise ValueError("speech_to_text_salign needs the data directory as first argument")
        config_path = Path(cfg.data) / cfg.config_yaml
        if not config_path.is_file():
            raise FileNotFoundError(
                f"data config {config_path} not found: prepare the data with "
                "examples/mustc/prep_mustc_data.py or pass --config-yaml"
            )
        return super().setup_task(cfg, **kwargs)

    def _check_joint_vocabulary(self):
        src_vocab = self.data_cfg.config.get("src_vocab_filename", self.data_cfg.vocab_filename)
        if src_vocab != self.data_cfg.vocab_filename:
            raise ValueError(
                f"{Path(self.cfg.data) / self.cfg.config_yaml}: src_vocab_filename ({src_vocab}) differs from vocab_filename "
                f"({self.data_cfg.vocab_filename}); S-Align shares one joint vocabulary between "
                "source and target (embeddings, output projection and CTC head are tied)"
            )

    def _check_data_options(self):
        """Extra-data options that cannot do what they say in this stage, refused up front."""
        cfg, problems = self.cfg, []
        asr, mt = subset_names(cfg.asr_extra_subsets), subset_names(cfg.mt_extra_subsets)
        if asr and cfg.training_stage == "mt":
            problems.append("--asr-extra-subsets: stage mt reads no speech")
        if mt and cfg.training_stage == "asr":
            problems.append("--mt-extra-subsets: stage asr trains CTC only (MT data is for stages mt and multitask)")
        weights = {"st": cfg.st_sampling_weight, "asr": cfg.asr_sampling_weight, "mt": cfg.mt_sampling_weight}
        for kind, weight in weights.items():
            if weight is not None and weight < 0:
                problems.append(f"--{kind}-sampling-weight must be >= 0")
        if cfg.training_stage != "mt" and not (asr or mt) and any(w is not None for w in weights.values()):
            problems.append("sampling weights need --asr-extra-subsets or --mt-extra-subsets (only ST data is in use)")
        if cfg.data_sampling_temperature <= 0:
            problems.append("--data-sampling-temperature must be > 0")
        if cfg.text_frames_per_token is not None and cfg.text_frames_per_token <= 0:
            problems.append("--text-frames-per-token must be > 0")
        if cfg.validate_on_ema and not cfg.store_ema:
            problems.append("--validate-on-ema needs --store-ema (and --ema-decay)")
        if problems:
            raise ValueError("speech_to_text_salign: " + "; ".join(problems))

    @property
    def text_input(self) -> bool:
        """Inputs are transcripts (stage 1, or --infer-mode mt), not speech."""
        mode = self.cfg.infer_mode
        return mode == "mt" or (mode is None and self.cfg.training_stage == "mt")

    @property
    def source_dictionary(self):
        """The joint vocabulary when inputs are text; None for speech (fairseq-generate then
        prints no source tokens)."""
        return self.tgt_dict if self.text_input else None

    @property
    def waveform_input(self) -> bool:
        """The data config stores 16 kHz waveforms (``use_audio_input``), not feature frames."""
        return bool(self.data_cfg.use_audio_input)

    def max_positions(self):
        if self.waveform_input and not self.text_input:
            return self.cfg.max_source_positions * SAMPLES_PER_FRAME, self.cfg.max_target_positions
        return self.cfg.max_source_positions, self.cfg.max_target_positions

    def _check_front_end(self, cfg):
        """The model's front end must read what the data config stores (unless no speech is
        read at all: stage 1 / --infer-mode mt)."""
        name = str(getattr(cfg, "speech_encoder", "fbank"))
        if self.text_input or FRONTENDS.get(name).waveform_input == self.waveform_input:
            return
        config = Path(self.cfg.data) / self.cfg.config_yaml
        if self.waveform_input:
            raise ValueError(
                f"{config} stores waveforms (use_audio_input: true) but --speech-encoder is "
                f"{name}, which reads feature frames: pass --speech-encoder hubert|wav2vec2 with "
                "--ssl-checkpoint, or use a data directory prepared with --features fbank80"
            )
        raise ValueError(
            f"--speech-encoder {name} reads 16 kHz waveforms but {config} stores "
            f"{self.data_cfg.input_feat_per_channel}-dim feature frames: prepare the data with "
            "examples/mustc/prep_mustc_data.py --features waveform and train on that directory"
        )

    def build_model(self, cfg, from_checkpoint=False):
        self._check_front_end(cfg)
        cfg.input_feat_per_channel = self.data_cfg.input_feat_per_channel
        cfg.input_channels = self.data_cfg.input_channels
        model = super(SpeechToTextTask, self).build_model(cfg, from_checkpoint)
        self.model_embed_dim = cfg.encoder_embed_dim  # the criterion's modal network needs it
        if self.cfg.eval_bleu:
            if self.cfg.infer_mode == "asr" or self.cfg.training_stage == "asr":
                raise ValueError("--eval-bleu scores translations: it does not apply to ASR")
            self._bleu_generator = self.build_generator([model], parse_generation_args(self.cfg.eval_bleu_args))
            self._bleu_bpe = self.build_bpe(self.cfg)
        if not from_checkpoint:
            from ..models.pretrained import load_pretrained_parts

            load_pretrained_parts(model, cfg)
        if self.cfg.training_stage == "mt" and not from_checkpoint:
            # Stage 1 never sees speech: freeze the acoustic side so that no parameter is left
            # without a gradient (DDP's c10d backend requires that) and Adam leaves it untouched.
            model.encoder.freeze_acoustic(True)
        elif self.cfg.training_stage == "asr" and not from_checkpoint:
            # ASR pre-training runs A-enc + CTC head only; everything else (the stage-1 text
            # side, the tied embeddings the CTC head projects onto) stays as loaded.
            model.requires_grad_(False)
            for param in model.encoder.ctc_parameters():
                param.requires_grad_(True)
        return model

    # ---- data --------------------------------------------------------------------------------
    def _samples(self, split, is_train=False):
        """The manifest's rows, checked before any is used (manifest_check): audio references
        inside their files when speech is read, unique ids, non-empty texts that this stage
        trains on (or, in inference, reads as input)."""
        speech = not self.text_input
        if self.cfg.infer_mode is not None:
            texts = ("src_text",) if self.cfg.infer_mode == "mt" else ()
        else:
            texts = ("src_text",) if self.cfg.training_stage == "asr" else ("src_text", "tgt_text")
        return load_checked(
            Path(self.cfg.data) / f"{split}.tsv",
            audio_root=self.data_cfg.audio_root if speech else None,
            texts=texts,
            is_train=is_train,
            skip_invalid=self.cfg.skip_invalid_rows,
        )

    def _joint_dataset(self, split, is_train, pre, bpe, epoch):
        """fairseq's ``SpeechToTextJointDatasetCreator.from_tsv`` on checked rows."""
        datasets = [
            SpeechToTextJointDatasetCreator._from_list(
                name, is_train, self._samples(name, is_train), self.data_cfg, self.tgt_dict,
                self.tgt_dict, pre, bpe, pre, bpe, True, 0,  # one joint vocabulary and tokenizer
            )
            for name in split.split(",")
        ]
        if is_train and len(datasets) > 1 and self.data_cfg.sampling_alpha != 1.0:
            ratios = SpeechToTextJointDatasetCreator.get_size_ratios(datasets, alpha=self.data_cfg.sampling_alpha)
            datasets = [ResamplingDataset(d, size_ratio=r, seed=self.cfg.seed, epoch=epoch, replace=(r >= 1.0))
                        for r, d in zip(ratios, datasets)]
        return ConcatDataset(datasets) if len(datasets) > 1 else datasets[0]

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        is_train = split.startswith("train")
        manifest = str(Path(self.cfg.data) / f"{split}.tsv")
        mode = self.cfg.infer_mode
        pre, bpe = self.build_tokenizer(self.cfg), self.build_bpe(self.cfg)
        encode = lambda text: SpeechToTextDataset.tokenize(bpe, SpeechToTextDataset.tokenize(pre, text))  # noqa: E731
        if self.text_input:
            samples = self._samples(split, is_train)
            if is_train and mode is None and self.cfg.mt_extra_subsets:
                for extra in self.cfg.mt_extra_subsets.split(","):
                    extra_samples = self._samples(extra, is_train)
                    logger.info(f"{split}: + {len(extra_samples)} text pairs from {extra}.tsv")
                    samples = samples + extra_samples
            dataset = text_pair_dataset(samples, manifest, encode, self.tgt_dict, shuffle=is_train)
        elif mode in ("st", "asr"):
            samples = self._samples(split, is_train)
            if mode == "asr":
                samples = transcripts_as_targets(samples, manifest)
            else:
                samples = [{k: v for k, v in s.items() if k != "src_text"} for s in samples]
            dataset = SpeechToTextDatasetCreator._from_list(
                split,
                False,
                samples,
                self.data_cfg,
                self.tgt_dict,
                pre,
                bpe,
                n_frames_per_step=1,
                speaker_to_id=self.speaker_to_id,
            )
        else:
            dataset = self._joint_dataset(split, is_train, pre, bpe, epoch)
        if self.waveform_input and not self.text_input:
            read_waveforms_with_soundfile(dataset)
        if is_train and mode is None and self.cfg.training_stage != "mt":
            dataset = with_extra_kinds(self, split, dataset, pre, bpe, encode, epoch)
        logger.info(f"{split}: {len(dataset)} utterances ({mode or self.cfg.training_stage})")
        self.datasets[split] = dataset

    def get_batch_iterator(self, dataset, *args, required_batch_size_multiple=1, **kwargs):
        """Never drop utterances: fairseq drops the last batch when its size is not a multiple
        of --required-batch-size-multiple (default 8), losing up to 7 sentences in validation
        and generation and the same longest utterances in every training epoch."""
        if required_batch_size_multiple != 1 and not self._told_batch_multiple:
            self._told_batch_multiple = True
            logger.info(
                f"--required-batch-size-multiple {required_batch_size_multiple} -> 1: "
                "fairseq would drop the last, shorter batch"
            )
        return super().get_batch_iterator(dataset, *args, required_batch_size_multiple=1, **kwargs)

    def optimizer_step(self, optimizer, model, update_num):
        """Once, at the first update: does the modal network step in its own Adam group?"""
        if not self._optimizer_checked:
            self._optimizer_checked = True
            warning = check_modal_group(optimizer)
            if warning:
                logger.warning(warning)
        super().optimizer_step(optimizer, model, update_num)

    # fairseq's trainer passes its EMA model (--store-ema) to train_step and valid_step only
    # when the task asks for it with ``uses_ema``
    @property
    def uses_ema(self) -> bool:
        return self.cfg.validate_on_ema

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False, ema_model=None):
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)

    def valid_step(self, sample, model, criterion, ema_model=None):
        generator = getattr(self, "_bleu_generator", None)
        if ema_model is not None:  # --validate-on-ema
            ema_model.set_num_updates(getattr(model, "num_updates", 0))
            model, generator = ema_model, self._ema_bleu_generator(ema_model)
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        if self.cfg.eval_bleu:
            logging_output.update(bleu_statistics(self, generator, model, sample, self._bleu_bpe))
        return loss, sample_size, logging_output

    def _ema_bleu_generator(self, ema_model):
        """fairseq's SequenceGenerator decodes with the models it was built with, whatever
        ``inference_step`` is given: the EMA model needs its own (built once; fairseq updates
        its one EMA copy in place)."""
        if not self.cfg.eval_bleu:
            return None
        if getattr(self, "_ema_generator_model", None) is not ema_model:
            options = parse_generation_args(self.cfg.eval_bleu_args)
            self._ema_generator = self.build_generator([ema_model], options)
            self._ema_generator_model = ema_model
        return self._ema_generator

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        reduce_bleu(logging_outputs)

    # ---- inference ---------------------------------------------------------------------------
    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None):
        if self.cfg.infer_mode == "asr":
            return CTCGreedyGenerator(self.tgt_dict)
        return super().build_generator(models, args, seq_gen_cls, extra_gen_cls_kwargs)
