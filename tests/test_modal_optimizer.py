"""``--optimizer salign_adam``: the modal network steps with its own betas and learning rate
inside fairseq's trainer, through fp16 wrappers, checkpoints and resume."""
import logging

import pytest
import torch

from conftest import build_in_process, first_batch, train_args
from in_process import fairseq_train
from fairseq_salign.optim import MODAL_GROUP, modal_group_of
from fairseq_salign.optim.param_groups import check_modal_group

SOFT = ["--alignment", "soft", "--adversarial-warmup-updates", "0"]
GROUPS = ["--optimizer", "salign_adam", "--modal-adam-betas", "(0.0, 0.95)", "--modal-lr-scale", "3",
          "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "4", "--warmup-init-lr", "1e-4"]


def trainer_of(corpus, *extra):
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq import options
    from fairseq.trainer import Trainer

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, input_args=[str(a) for a in train_args(corpus, "/nonexistent", *extra)])
    cfg = convert_namespace_to_omegaconf(args)
    task, model, criterion = build_in_process(corpus, *extra)
    return Trainer(cfg, task, model, criterion), task


def modal_parameters(trainer):
    return {id(p) for p in trainer.criterion.adversarial.modal_network.parameters()}


def test_modal_network_has_its_own_group_at_the_scheduled_rate(corpus):
    trainer, task = trainer_of(corpus, *SOFT, *GROUPS)
    trainer.lr_step_begin_epoch(1)
    for num_updates in (1, 2):
        trainer.set_num_updates(num_updates)  # the scheduler sets the rate of every group
        task_group, modal = trainer.optimizer.param_groups
        assert modal["name"] == MODAL_GROUP and modal["betas"] == (0.0, 0.95)
        assert tuple(task_group["betas"]) == (0.9, 0.999)  # fairseq's --adam-betas default, untouched
        assert task_group["lr"] == pytest.approx(trainer.get_lr())
        assert modal["lr"] == pytest.approx(3 * trainer.get_lr())
    assert {id(p) for p in modal["params"]} == modal_parameters(trainer)
    assert not modal_parameters(trainer) & {id(p) for p in task_group["params"]}


def test_plain_adam_keeps_one_group_and_the_first_update_warns(corpus, caplog):
    trainer, task = trainer_of(corpus, *SOFT, "--optimizer", "adam")
    assert modal_group_of(trainer.optimizer) is None and len(trainer.optimizer.param_groups) == 1
    sample = first_batch(task, "train_st")
    with caplog.at_level(logging.WARNING):
        trainer.train_step([sample])
    assert "--optimizer salign_adam" in caplog.text


def test_a_real_update_steps_the_modal_network_without_momentum(corpus):
    """With beta1 0 Adam's first moment is the last gradient alone: after two updates the modal
    network's exp_avg equals its second gradient, the task's does not."""
    trainer, task = trainer_of(corpus, *SOFT, *GROUPS, "--mixup-prob", "0")
    trainer.lr_step_begin_epoch(1)
    sample = first_batch(task, "train_st")
    grads = []
    for _ in range(2):
        trainer.train_step([sample])
        modal = modal_group_of(trainer.optimizer)
        grads.append([p.grad.clone() for p in modal["params"]])
    state = trainer.optimizer.optimizer.state
    for p, g in zip(modal["params"], grads[1]):
        if g.abs().sum() > 0:
            torch.testing.assert_close(state[p]["exp_avg"], g)
    task_params = [p for p in trainer.optimizer.param_groups[0]["params"] if p.grad is not None and p.grad.abs().sum() > 0]
    assert any(not torch.allclose(state[p]["exp_avg"], p.grad) for p in task_params)


def test_fp16_without_flattening_keeps_the_group(corpus):
    from fairseq import optim

    trainer, _ = trainer_of(corpus, *SOFT, *GROUPS, "--fp16", "--fp16-no-flatten-grads")
    params = [p for p in trainer.model.parameters()] + list(trainer.criterion.parameters())
    fp16 = optim.FP16Optimizer.build_optimizer(trainer.cfg, [p for p in params if p.requires_grad])
    modal = modal_group_of(fp16)
    assert modal is not None and modal["betas"] == (0.0, 0.95)
    assert all(p.dtype == torch.float32 for p in modal["params"])  # fairseq's fp32 copies
    assert check_modal_group(fp16) is None
    mem = optim.MemoryEfficientFP16Optimizer.build_optimizer(trainer.cfg, [p for p in params if p.requires_grad])
    assert modal_group_of(mem) is not None


def test_flattened_fp16_is_refused_with_the_flag_to_add(corpus):
    """fairseq's plain --fp16 copies every parameter into one flat fp32 tensor (on a GPU); built
    by hand here on the CPU."""
    from fairseq.optim import FP16Optimizer
    from fairseq_salign.optim import SAlignAdam

    trainer, _ = trainer_of(corpus, *SOFT, *GROUPS)
    params = [p for p in list(trainer.model.parameters()) + list(trainer.criterion.parameters()) if p.requires_grad]
    flat = torch.nn.Parameter(torch.cat([p.data.float().view(-1) for p in params]))
    inner = SAlignAdam(trainer.cfg.optimizer, [flat])
    wrapped = FP16Optimizer(trainer.cfg, params, inner, flat)
    with pytest.raises(ValueError, match="--fp16-no-flatten-grads"):
        check_modal_group(wrapped)


def _optimizer_state(path):
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state["last_optimizer_state"], state["optimizer_history"][-1]


# the runs below are fairseq-train's own main in this process (fairseq's trainer, checkpoints and
# resume; the console script is tested in test_cli_e2e), seconds of imports less each
def test_checkpoint_keeps_the_group_and_resume_restores_it(corpus, mt_checkpoint, tmp_path):
    base = train_args(corpus, tmp_path, "--load-pretrained-mt-from", mt_checkpoint, *SOFT, *GROUPS)
    fairseq_train([*base, "--max-update", "2"])
    saved, history = _optimizer_state(tmp_path / "checkpoint_last.pt")
    assert history["optimizer_name"] == "SAlignAdam"
    names = [g["name"] for g in saved["param_groups"]]
    assert names == ["task", MODAL_GROUP]
    task_lr, modal_lr = (g["lr"] for g in saved["param_groups"])
    assert modal_lr == pytest.approx(3 * task_lr)
    modal_ids = saved["param_groups"][1]["params"]
    assert all(float(saved["state"][i]["step"]) == 2 for i in modal_ids if i in saved["state"])

    # resume with other modal betas: the moments continue (step 3), the new betas apply
    fairseq_train([*base, "--max-update", "3", "--modal-adam-betas", "(0.5, 0.9)"])
    resumed, _ = _optimizer_state(tmp_path / "checkpoint_last.pt")
    assert resumed["param_groups"][1]["betas"] == (0.5, 0.9)
    steps = {float(resumed["state"][i]["step"]) for i in modal_ids if i in resumed["state"]}
    assert steps == {3.0}


def test_resume_across_a_changed_group_layout_names_reset_optimizer(corpus, mt_checkpoint, tmp_path):
    base = train_args(corpus, tmp_path, "--load-pretrained-mt-from", mt_checkpoint, *GROUPS)
    fairseq_train([*base, *SOFT, "--max-update", "1"])
    with pytest.raises(ValueError) as refused:  # the console script exits non-zero with it
        fairseq_train([*base, "--alignment", "hard", "--max-update", "2"])
    assert "--reset-optimizer" in str(refused.value)
    assert "param groups ['task', 'salign_modal_network']" in str(refused.value)
    fairseq_train([*base, "--alignment", "hard", "--max-update", "2", "--reset-optimizer"])


@pytest.mark.parametrize("option, value, message", [
    ("modal_adam_betas", "(0.9,)", "--modal-adam-betas must be two numbers"),
    ("modal_adam_betas", "(1.0, 0.98)", "--modal-adam-betas must be two numbers"),
    ("modal_adam_betas", "oops", "--modal-adam-betas must be two numbers"),
    ("modal_lr_scale", 0.0, "--modal-lr-scale must be > 0"),
])
def test_bad_modal_settings_are_refused_naming_the_option(option, value, message):
    from fairseq_salign.optim import SAlignAdam, SAlignAdamConfig

    cfg = SAlignAdamConfig(lr=[1e-3], tpu=False, **{option: value})
    with pytest.raises(ValueError, match=message):
        SAlignAdam(cfg, [torch.nn.Parameter(torch.zeros(2))])
