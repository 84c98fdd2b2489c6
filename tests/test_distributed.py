"""Two-process data-parallel training on CPU (gloo) with S-Align and fairseq's default DDP
backend (c10d, find_unused_parameters=False): any parameter left without a gradient fails."""
import torch

from conftest import BIN, gloo_args, run_ranks, train_args


def test_two_process_gloo_training_with_soft_alignment(corpus, mt_checkpoint, tmp_path):
    args = train_args(
        corpus, tmp_path, "--load-pretrained-mt-from", mt_checkpoint, "--alignment", "soft",
        "--adversarial-warmup-updates", "0", "--mixup-prob", "0.5", "--max-update", "2",
        # the gradient-ratio probe (autograd.grad inside the DDP forward) and mix-up in the
        # authors' replace mode, on every update
        "--alignment-grad-log-interval", "1", "--mixup-mode", "replace",
        "--max-tokens", "1500", *gloo_args(),
        # the modal network in its own Adam group (beta1 0) on every rank
        "--optimizer", "salign_adam",
    )
    logs = run_ranks(lambda r: [BIN / "fairseq-train", *args, "--distributed-rank", r], timeout=240)
    log = logs[0]
    assert "distributed init (rank 0)" in log and "distributed_world_size': 2" in log
    assert "num_updates=2" in log and "disc_loss=" in log and "align_grad_ratio_speech=" in log
    assert (tmp_path / "checkpoint_last.pt").is_file()
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    groups = state["last_optimizer_state"]["param_groups"]
    assert [g["name"] for g in groups] == ["task", "salign_modal_network"]
    assert tuple(groups[1]["betas"]) == (0.0, 0.98)
