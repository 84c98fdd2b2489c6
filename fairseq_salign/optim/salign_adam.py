"""``--optimizer salign_adam``: fairseq's Adam, with the modal network in a param group of its own.

Why: fairseq's trainer puts the criterion's parameters (the S-Align modal network) into the
model's one optimizer, so the discriminator runs on the task's Adam momentum (beta1 0.9, as in the
authors' code). Momentum makes a two-player game circle instead of settle: on the toy (3 seeds)
MMD^2 between the spaces ends at 0.24-0.36 with the task's momentum, 0.05-0.13 with beta1 0 for the
modal network alone, 0.81 with the generator off (docs/ablations.md, section 1). On the demo corpus
neither setting aligned and beta1 0 cost MT BLEU (section 2). Everything else steps exactly as
with ``--optimizer adam``: same class of update, same betas, same schedule.

Works with fp32, ``--amp``, ``--bf16`` and ``--memory-efficient-fp16`` (the parameters reach the
optimizer as they are) and with ``--fp16 --fp16-no-flatten-grads`` (fairseq copies the group tag
to its fp32 copies); plain ``--fp16`` flattens all parameters into one tensor, which cannot have
two groups: the task refuses that combination at the first update, naming the flag to add.
"""
from dataclasses import dataclass, field

from fairseq.optim import register_optimizer
from fairseq.optim.adam import FairseqAdam, FairseqAdamConfig

from .param_groups import MODAL_GROUP, split_by_tag

TASK_GROUP = "task"


@dataclass
class SAlignAdamConfig(FairseqAdamConfig):
    modal_adam_betas: str = field(
        default="(0.0, 0.98)",
        metadata={
            "help": "Adam betas of the modal network (the S-Align discriminator). beta1 0: no "
            "momentum, measured on the toy to let the game settle (MMD^2 0.05-0.13 vs 0.24-0.36 "
            "with the task's 0.9, 3 seeds); on the demo corpus it cost 0.9 MT BLEU against 0.9 "
            "(docs/ablations.md). The authors step it in the model's Adam (0.9, 0.98)"
        },
    )
    modal_lr_scale: float = field(
        default=1.0,
        metadata={
            "help": "the modal network's learning rate as a multiple of the schedule's (--lr and "
            "--lr-scheduler act on both groups). 1: in an independent check on the first toy "
            "its speed mattered little and faster with momentum was worse (docs/alignment.md); "
            "the authors: one rate for all"
        },
    )


def parse_betas(text: str, option: str) -> tuple:
    try:
        betas = tuple(float(b) for b in eval(text, {}, {}))  # "(0.0, 0.98)" as fairseq's --adam-betas
    except Exception:
        betas = ()
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{option} must be two numbers in [0, 1) like '(0.0, 0.98)', got {text!r}")
    return betas


@register_optimizer("salign_adam", dataclass=SAlignAdamConfig)
class SAlignAdam(FairseqAdam):
    """Group 0: every untagged parameter with the ``--adam-*`` settings (fairseq reports its
    rate). Group 1 (when a modal network is trained): ``--modal-adam-betas`` and
    ``--modal-lr-scale`` x the schedule's rate."""

    gives_modal_group = True  # what param_groups checks (without importing this module)

    def __init__(self, cfg: SAlignAdamConfig, params):
        if cfg.modal_lr_scale <= 0:
            raise ValueError(f"--modal-lr-scale must be > 0, got {cfg.modal_lr_scale}")
        self._modal_settings = {
            "betas": parse_betas(cfg.modal_adam_betas, "--modal-adam-betas"),
            "lr_scale": float(cfg.modal_lr_scale),
        }
        rest, modal = split_by_tag(params)
        groups = [{"params": rest, "name": TASK_GROUP}]
        if modal:
            groups.append({"params": modal, "name": MODAL_GROUP, **self._modal_settings})
        super().__init__(cfg, groups)
        self.set_lr(self.get_lr())

    def set_lr(self, lr):
        for group in self.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)

    def load_state_dict(self, state_dict, optimizer_overrides=None):
        """Restores the moments of both groups. The modal group's betas and scale come from this
        run's options, not the checkpoint's, so they can be changed on resume; a checkpoint whose
        groups differ (e.g. --alignment changed) needs --reset-optimizer."""
        saved = [g.get("name", TASK_GROUP) for g in state_dict["param_groups"]]
        current = [g["name"] for g in self.param_groups]
        if saved != current:
            raise ValueError(
                f"the checkpoint's optimizer state has param groups {saved}, this run has "
                f"{current} (the modal network was added or removed, e.g. --alignment changed): "
                "resume with --reset-optimizer"
            )
        super().load_state_dict(state_dict, optimizer_overrides)
        for group in self.param_groups:
            if group["name"] == MODAL_GROUP:
                group.update(self._modal_settings)
