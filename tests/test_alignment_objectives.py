"""The --alignment registry and the distribution-matching objectives (moments, mmd, swd):
numbers against numpy hand computations on tiny inputs, then the criterion and fairseq-train."""
import numpy as np
import pytest
import torch
from conftest import build_in_process, first_batch, run_cli, train_args

from fairseq_salign.criterions.alignment import (
    ALIGNMENTS,
    AlignmentInputs,
    AlignmentObjective,
    parse_alignment,
    register_alignment,
)
from fairseq_salign.criterions.alignment.matching import standardize
from fairseq_salign.criterions.alignment.mmd import MMDAlignment, mmd_discrepancy
from fairseq_salign.criterions.alignment.moments import MomentsAlignment, moments_discrepancy
from fairseq_salign.criterions.alignment.swd import SWDAlignment, swd_discrepancy, wasserstein_1d

MATCHING = [MomentsAlignment, MMDAlignment, SWDAlignment]
FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _np(t):
    return t.detach().double().numpy()


def np_moments(x, px, y, py):
    mx, my = px @ x, py @ y
    cx = sum(p * np.outer(a - mx, a - mx) for a, p in zip(x, px))
    cy = sum(p * np.outer(b - my, b - my) for b, p in zip(y, py))
    return np.mean((mx - my) ** 2) + np.mean((cx - cy) ** 2)


def np_mmd(x, px, y, py):
    z = np.concatenate([x, y])
    dists = sorted(np.sum((z[i] - z[j]) ** 2) for i in range(len(z)) for j in range(i + 1, len(z)))
    m = dists[(len(dists) - 1) // 2]  # lower median

    def k(a, b):
        return np.mean([np.exp(-np.sum((a - b) ** 2) / (f * m)) for f in FACTORS])

    def term(u, pu, v, pv):
        return sum(pu[i] * pv[j] * k(u[i], v[j]) for i in range(len(u)) for j in range(len(v)))

    return term(x, px, x, px) + term(y, py, y, py) - 2 * term(x, px, y, py)


def tiny(bsz, length, dim=4, seed=0, shift=0.0, pad_last=0, dtype=torch.float32):
    """One side as the encoder returns it (T x B x C, B x T padding mask), with gradient."""
    g = torch.Generator().manual_seed(seed)
    out = (torch.randn(length, bsz, dim, generator=g) + shift).to(dtype).requires_grad_()
    mask = torch.zeros(bsz, length, dtype=torch.bool)
    if pad_last:
        mask[-1, length - pad_last:] = True
    return {"encoder_out": [out], "encoder_padding_mask": [mask]}


def test_moments_by_hand():
    torch.manual_seed(0)
    x, y = torch.randn(3, 4), torch.randn(5, 4) * 2 + 1
    px, py = torch.tensor([0.2, 0.3, 0.5]), torch.full((5,), 0.2)
    got = moments_discrepancy(x, px, y, py)
    assert got.item() == pytest.approx(np_moments(*map(_np, (x, px, y, py))), rel=1e-5)


def test_mmd_by_hand():
    torch.manual_seed(1)
    x, y = torch.randn(3, 4), torch.randn(4, 4) + 0.5
    px, py = torch.tensor([0.5, 0.25, 0.25]), torch.full((4,), 0.25)
    got = mmd_discrepancy(x, px, y, py)
    assert got.item() == pytest.approx(np_mmd(*map(_np, (x, px, y, py))), rel=1e-5)


def test_swd_by_hand_equal_and_unequal_sizes_and_weights():
    torch.manual_seed(2)
    proj = torch.nn.functional.normalize(torch.randn(4, 3), dim=0)
    x, y3, y2 = torch.randn(3, 4), torch.randn(3, 4) + 1, torch.randn(2, 4)
    u3, u2 = torch.full((3,), 1 / 3), torch.full((2,), 0.5)
    xp, y3p, y2p = (_np(t @ proj) for t in (x, y3, y2))
    # equal sizes and weights: sorted values against sorted values
    expected = np.mean(np.mean((np.sort(xp, 0) - np.sort(y3p, 0)) ** 2, axis=0))
    assert swd_discrepancy(x, u3, y3, u3, proj).item() == pytest.approx(expected, rel=1e-5)
    # 3 against 2: each quantile function on the 6 equal steps of their common grid
    expected = np.mean(np.mean((np.repeat(np.sort(xp, 0), 2, 0) - np.repeat(np.sort(y2p, 0), 3, 0)) ** 2, 0))
    assert swd_discrepancy(x, u3, y2, u2, proj).item() == pytest.approx(expected, rel=1e-5)
    # weights: the quantile functions evaluated on a fine grid of levels
    px = torch.tensor([0.6, 0.1, 0.3])
    levels = (np.arange(200000) + 0.5) / 200000

    def quantiles(values, weights):
        order = np.argsort(values)
        return values[order][np.searchsorted(np.cumsum(weights[order]), levels)]

    expected = np.mean((quantiles(xp[:, 0], _np(px)) - quantiles(y2p[:, 0], _np(u2))) ** 2)
    got = wasserstein_1d(x @ proj[:, :1], px, y2 @ proj[:, :1], u2)
    assert got.item() == pytest.approx(expected, rel=1e-3)


def test_standardisation_by_hand_and_blind_to_a_shared_offset_and_scale():
    torch.manual_seed(3)
    x, y = torch.randn(3, 4), torch.randn(2, 4) * 3 + 2
    px, py = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.5, 0.5])
    sx, sy = standardize(x, px, y, py)
    nx, ny, npx, npy = map(_np, (x, y, px, py))
    mean = 0.5 * (npx @ nx + npy @ ny)
    std = np.sqrt(0.5 * (npx @ (nx - mean) ** 2 + npy @ (ny - mean) ** 2) + 1e-5)
    np.testing.assert_allclose(_np(sx), (nx - mean) / std, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(sy), (ny - mean) / std, rtol=1e-5, atol=1e-6)
    # the encoders cannot lower a matching loss by shrinking or shifting the whole space
    s, t, w = tiny(3, 4), tiny(2, 3, seed=1, shift=1.0), torch.ones(3)
    for cls in (MomentsAlignment, MMDAlignment):
        before = cls(1.0).align(AlignmentInputs(s, t, w, w[:2])).loss
        small = [{**d, "encoder_out": [0.1 * d["encoder_out"][0] + 5]} for d in (s, t)]
        after = cls(1.0).align(AlignmentInputs(*small, w, w[:2])).loss
        assert after.item() == pytest.approx(before.item(), rel=1e-2), cls.name


def test_objective_pools_standardises_and_scales_by_the_sentence_weights():
    s, t = tiny(3, 5, pad_last=2), tiny(2, 4, seed=1, shift=0.5, pad_last=1)
    s_w, t_w = torch.tensor([4.0, 2.0, 1.0]), torch.tensor([3.0, 5.0])
    out = MomentsAlignment(2.0).align(AlignmentInputs(s, t, s_w, t_w))

    def pool(side):
        x, mask = _np(side["encoder_out"][0]), _np(side["encoder_padding_mask"][0])
        return np.stack([x[mask[b] == 0, b].mean(0) for b in range(x.shape[1])])

    px, py = _np(s_w) / 7, _np(t_w) / 8
    x, y = pool(s), pool(t)
    mean = 0.5 * (px @ x + py @ y)
    std = np.sqrt(0.5 * (px @ (x - mean) ** 2 + py @ (y - mean) ** 2) + 1e-5)
    part = 0.5 * (7 + 8) * np_moments((x - mean) / std, px, (y - mean) / std, py)
    assert out.log["moments_loss"].item() == pytest.approx(part, rel=1e-4)
    assert out.loss.item() == pytest.approx(2 * part, rel=1e-4)
    assert out.generator_loss is out.loss


@pytest.mark.parametrize("cls", MATCHING)
def test_zero_for_identical_inputs_and_small_for_the_same_distribution(cls):
    s, w = tiny(4, 3), torch.ones(4)
    assert abs(cls(1.0).align(AlignmentInputs(s, s, w, w)).loss.item()) < 1e-4
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(128, 4, generator=g) for _ in range(3))
    p = torch.full((128,), 1 / 128)
    x, y = standardize(a, p, b, p)
    same = cls(1.0).discrepancy(x, p, y, p)
    x, y = standardize(a, p, c + 1.0, p)
    shifted = cls(1.0).discrepancy(x, p, y, p)
    assert same.item() < 0.1 * shifted.item(), (same.item(), shifted.item())


@pytest.mark.parametrize("cls", MATCHING)
def test_gradient_reaches_both_sides(cls):
    s, t = tiny(3, 4, pad_last=1), tiny(2, 3, seed=1, shift=1.0)
    cls(1.0).align(AlignmentInputs(s, t, torch.ones(3), torch.ones(2))).loss.backward()
    for side in (s, t):
        grad = side["encoder_out"][0].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("cls", MATCHING)
def test_half_inputs_give_a_finite_fp32_loss(cls):
    s, t = tiny(3, 4, dtype=torch.half), tiny(2, 3, seed=1, shift=1.0, dtype=torch.half)
    out = cls(1.0).align(AlignmentInputs(s, t, torch.ones(3), torch.ones(2)))
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    assert s["encoder_out"][0].grad.dtype == torch.half and torch.isfinite(s["encoder_out"][0].grad).all()


def test_registry_lookup_parse_and_registration():
    assert ALIGNMENTS.get("mmd") is MMDAlignment and ALIGNMENTS.get("soft").attribute == "adversarial"
    assert parse_alignment("soft+moments") == ("soft", "moments") and parse_alignment("none") == ()
    with pytest.raises(ValueError, match="--alignment 'soft\\+mmd': unknown alignment objective; choose one of none"):
        ALIGNMENTS.get("soft+mmd")
    for bad, why in [("foo", "unknown objective 'foo'"), ("soft+", "unknown objective ''"),
                     ("mmd+mmd", "named twice"), ("none+swd", "none cannot be combined")]:
        with pytest.raises(ValueError, match=f"--alignment .*{why}.*registered: none, soft, hard"):
            parse_alignment(bad)

    @register_alignment("test_zero")
    class Zero(AlignmentObjective):
        pass

    try:
        assert ALIGNMENTS.get("test_zero") is Zero and parse_alignment("hard+test_zero") == ("hard", "test_zero")
        with pytest.raises(ValueError, match="already registered"):
            register_alignment("test_zero")(Zero)
    finally:
        ALIGNMENTS.unregister("test_zero")


@pytest.mark.parametrize(
    "options, message",
    [
        (("--alignment", "soft+foo"), "--alignment soft+foo: unknown objective 'foo'; registered: "),
        (("--alignment", "moments", "--matching-weight", "-1"), "--matching-weight must be >= 0"),
        (("--alignment", "hard+mmd", "--contrastive-temperature", "0"), "--contrastive-temperature"),
        (("--training-stage", "mt", "--alignment", "mmd"), "pass --alignment none for stage 1"),
        (("--alignment", "soft+moments", "--alignment-data", "all"), "needs --alignment soft alone"),
    ],
)
def test_bad_alignment_options_are_refused_at_start(corpus, options, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        build_in_process(corpus, *options)


def test_soft_plus_moments_logs_both_and_validation_loss_holds_only_the_task(corpus):
    task, model, criterion = build_in_process(
        corpus, "--alignment", "soft+moments", "--adversarial-warmup-updates", "0", "--mixup-prob", "0",
        "--dropout", "0", "--alignment-grad-log-interval", "1",
    )
    assert [o.name for o in criterion.objectives] == ["soft", "moments"]
    assert criterion.adversarial is criterion.objectives[0], "the game's checkpoint keys are kept"
    assert any(k.startswith("adversarial.modal_network.") for k in criterion.state_dict())
    sample = first_batch(task, "train_st")
    model.train()
    criterion.train()
    loss, _, log = criterion(model, sample)
    assert {"disc_loss", "adv_loss", "moments_loss", "grad_ratio_speech", "grad_ratio_text"} <= set(log)
    assert log["moments_loss"] > 0
    task_loss = log["st_loss"] + 0.3 * log["ctc_loss"] + 0.5 * log["mt_loss"]
    assert loss.item() > task_loss.item() + log["moments_loss"].item()
    model.eval()
    criterion.eval()
    with torch.no_grad():
        loss, _, log = criterion(model, sample)
    assert "moments_loss" in log and "disc_loss" in log
    torch.testing.assert_close(loss, log["st_loss"] + 0.3 * log["ctc_loss"] + 0.5 * log["mt_loss"])


@pytest.mark.parametrize("alignment, parts", [("mmd", ["mmd_loss="]),
                                              ("soft+moments", ["moments_loss=", "disc_loss="])])
def test_fairseq_train_logs_the_matching_loss(corpus, tmp_path, alignment, parts):
    out = run_cli("fairseq-train", train_args(corpus, tmp_path, "--alignment", alignment,
                                              "--adversarial-warmup-updates", "0", "--max-update", "2"))
    log = out.stdout + out.stderr
    assert "num_updates=2" in log
    for part in parts:
        assert part in log, part
