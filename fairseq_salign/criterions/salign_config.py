"""Options of the ``salign`` criterion and their cross-checks (kept apart from the losses)."""
from dataclasses import dataclass, field
from typing import Optional

from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterionConfig
from fairseq.dataclass import ChoiceEnum

from .adversarial import (
    GENERATOR_TARGETS,
    INPUT_NORMS,
    MIXUP_LABELS,
    MIXUP_MODES,
    MIXUP_POSITIONS,
)
from .alignment import ALIGNMENTS, choices_help, parse_alignment
from .alignment.soft import GAME_OPTIONS  # noqa: F401 (re-exported: it lived here)

GENERATOR_TARGET_CHOICES = ChoiceEnum(list(GENERATOR_TARGETS))
INPUT_NORM_CHOICES = ChoiceEnum(list(INPUT_NORMS))
MIXUP_MODE_CHOICES = ChoiceEnum(list(MIXUP_MODES))
MIXUP_POSITION_CHOICES = ChoiceEnum(list(MIXUP_POSITIONS))
MIXUP_LABEL_CHOICES = ChoiceEnum(list(MIXUP_LABELS))
SENTENCE_WEIGHT_CHOICES = ChoiceEnum(["target", "encoder", "one"])
ALIGNMENT_DATA_CHOICES = ChoiceEnum(["paired", "all"])


@dataclass
class SAlignCriterionConfig(LabelSmoothedCrossEntropyCriterionConfig):
    alignment: str = field(
        default="soft",
        metadata={
            "help": "alignment objective(s) of the T-enc spaces, one or several joined with + "
            "(e.g. soft+moments: their losses are added); registered (criterions/alignment/): "
            + choices_help()
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
            "back-propagated outside fp16 loss scaling (docs/alignment.md, 'The adversarial weight'). "
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
            "help": "every N updates log the norm of the alignment loss's gradient "
            "over the task losses' at the T-enc output (speech and text side): the generator's "
            "strength in terms that mean the same in any code base; 0 disables it"
        },
    )
    alignment_data: ALIGNMENT_DATA_CHOICES = field(
        default="paired",
        metadata={
            "help": "soft, with the task's --asr-extra-subsets / --mt-extra-subsets: which "
            "batches play the game. paired: ST triples only (speech and its own transcript in "
            "one batch; the authors'); all: ASR-only speech and MT-only text too, unpaired (the "
            "modal network compares distributions, not pairs): each single-modality batch plays "
            "against the other modality's T-enc states from the latest batch that had them "
            "(detached; the game is skipped, and counted as game_skipped, until there is one)"
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
    matching_weight: float = field(
        default=1.0,
        metadata={
            "help": "moments/mmd/swd: scale of each distribution-matching loss; its discrepancy "
            "between the standardised pooled speech and text vectors is multiplied by the mean of "
            "the two sides' summed sentence weights, so with --alignment-sentence-weight target "
            "it sits on the per-token scale of the cross-entropies. Statistics are those of each "
            "rank's local batch (not gathered across GPUs)"
        },
    )


def validate(cfg: SAlignCriterionConfig, task) -> None:
    """Reject option combinations that cannot do what they say, before any training."""
    problems = []
    try:
        parts = parse_alignment(cfg.alignment)
    except ValueError as e:
        problems.append(str(e))
        parts = ()
    for name in parts:
        problems.extend(ALIGNMENTS.get(name).problems(cfg))
    for name in ("st_weight", "mt_weight", "ctc_weight", "adversarial_weight", "contrastive_weight",
                 "matching_weight"):
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
    if cfg.alignment_data == "all" and parts != ("soft",):
        problems.append(
            "--alignment-data all plays the adversarial game on unpaired speech and text: it "
            f"needs --alignment soft alone (--alignment {cfg.alignment} "
            + ("has no alignment" if not parts else "aligns paired batches only") + ")"
        )
    stage = getattr(getattr(task, "cfg", None), "training_stage", None)
    if stage is None:
        problems.append("--criterion salign needs --task speech_to_text_salign")
    elif stage == "mt" and parts:
        problems.append(
            "--training-stage mt trains on text only, so there is nothing to align: "
            "pass --alignment none for stage 1"
        )
    elif stage == "asr" and parts:
        problems.append(
            "--training-stage asr trains the acoustic encoder with CTC only, so there is "
            "nothing to align: pass --alignment none for ASR pre-training"
        )
    if problems:
        raise ValueError("salign criterion: " + "; ".join(problems))
