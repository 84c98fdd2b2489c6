"""Half precision (fairseq's --fp16 halves the model and its float inputs): what would overflow.

Run on a CPU with half tensors, as fairseq's --fp16 hands them to the model on a GPU."""
import torch

from conftest import build_in_process, first_batch
from fairseq_salign.frontends.ssl_encoder import standardize
from fairseq_salign.modules import masked_mean


def test_waveform_standardization_of_a_long_utterance_in_half():
    """5 s at 16 kHz: 80,000 samples, more than fp16 can count (65,504)."""
    wave = torch.randn(2, 80000) * 0.1 + 0.01
    mask = torch.zeros(2, 80000, dtype=torch.bool)
    mask[1, 70000:] = True
    out = standardize(wave.half(), mask)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), standardize(wave, mask), atol=5e-3, rtol=5e-3)
    assert abs(float(out[0].float().std()) - 1) < 1e-2


def test_masked_mean_of_a_long_sequence_in_half():
    x = torch.full((3000, 2, 4), 30.0)  # the sum over time (90,000) exceeds fp16's range
    mask = torch.zeros(2, 3000, dtype=torch.bool)
    mask[1, 2000:] = True
    pooled = masked_mean(x.half(), mask)
    assert pooled.dtype == torch.float16
    torch.testing.assert_close(pooled.float(), torch.full((2, 4), 30.0))


def test_stage2_soft_alignment_step_in_half(corpus):
    """The whole multi-task + adversarial forward and backward of a halved model: every loss
    finite, and the ones that overflow in half (BCE of the modal network, CTC) in fp32."""
    task, model, criterion = build_in_process(corpus, "--alignment", "soft",
                                              "--adversarial-warmup-updates", "0", "--mixup-prob", "1")
    model, criterion = model.half(), criterion.half()
    sample = first_batch(task, "train_st")
    sample["net_input"]["src_tokens"] = sample["net_input"]["src_tokens"].half()
    loss, _, log = criterion(model, sample)
    loss.backward()
    for key in ("st_loss", "mt_loss", "ctc_loss", "disc_loss", "adv_loss"):
        assert torch.isfinite(torch.as_tensor(log[key], dtype=torch.float32)), key
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float16 and torch.isfinite(g).all() for g in grads)
