"""Two-process data-parallel training on CPU (gloo) with S-Align and fairseq's default DDP
backend (c10d, find_unused_parameters=False): any parameter left without a gradient fails."""
import socket
import subprocess

from conftest import BIN, cli_env, train_args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_training_with_soft_alignment(corpus, mt_checkpoint, tmp_path):
    port = _free_port()
    args = [str(a) for a in train_args(
        corpus, tmp_path, "--load-pretrained-mt-from", mt_checkpoint, "--alignment", "soft",
        "--adversarial-warmup-updates", "0", "--mixup-prob", "0.5", "--max-update", "2",
        # the gradient-ratio probe (autograd.grad inside the DDP forward) and mix-up in the
        # authors' replace mode, on every update
        "--alignment-grad-log-interval", "1", "--mixup-mode", "replace",
        "--max-tokens", "1500", "--distributed-backend", "gloo", "--distributed-world-size", "2",
        "--distributed-init-method", f"tcp://127.0.0.1:{port}", "--distributed-no-spawn",
        "--device-id", "0",
    )]
    procs = [
        subprocess.Popen([str(BIN / "fairseq-train"), *args, "--distributed-rank", str(rank)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env())
        for rank in (0, 1)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=240)[0])
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], logs[0][-4000:] + logs[1][-4000:]
    log = logs[0]
    assert "distributed init (rank 0)" in log and "distributed_world_size': 2" in log
    assert "num_updates=2" in log and "disc_loss=" in log and "align_grad_ratio_speech=" in log
    assert (tmp_path / "checkpoint_last.pt").is_file()
