"""The salign criterion on a real batch of the tiny corpus, built through fairseq's parser."""
import math

import pytest
import torch
from conftest import TEST_SIZES, build_in_process, first_batch
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion

from fairseq_salign.criterions.adversarial import AdversarialAlignment, GameSettings
from fairseq_salign.criterions.contrastive import contrastive_loss


def _grads(params):
    return [p.grad.abs().sum().item() if p.grad is not None else 0.0 for p in params]


def _encoder_params(model):
    return [p for p in model.encoder.parameters() if p.requires_grad]


def test_discriminator_and_encoders_get_gradient_only_from_their_own_loss(corpus):
    task, model, criterion = build_in_process(
        corpus, "--alignment", "soft", "--adversarial-warmup-updates", "0", "--mixup-prob", "0"
    )
    sample = first_batch(task, "train_st")
    net = sample["net_input"]
    speech = model(net["src_tokens"], net["src_lengths"], net["prev_output_tokens"])[1]["encoder_out"]
    text = model.encoder(net["src_txt_tokens"], net["src_txt_lengths"])
    weights = torch.ones(net["src_tokens"].size(0))
    adv = criterion.adversarial(model.encoder.textual_encoder, speech, text, weights, weights, 10, 0)
    disc = list(criterion.adversarial.parameters())

    adv["disc_loss"].backward(retain_graph=True)
    assert all(g > 0 for g in _grads(disc[:2])), "the modal network learns from its own loss"
    assert sum(_grads(_encoder_params(model))) == 0.0, "encoders must not follow the discriminator"

    for p in disc + _encoder_params(model):
        p.grad = None
    adv["adv_loss"].backward()
    assert sum(_grads(disc)) == 0.0, "the generator pass must not train the discriminator"
    assert sum(_grads(list(model.encoder.textual_encoder.layers.parameters()))) > 0
    assert sum(_grads(list(model.encoder.acoustic_encoder.parameters()))) > 0


def test_generator_loss_targets_one_half_computed_by_hand():
    torch.manual_seed(0)
    settings = GameSettings(weight=1.0, decay_start=10, decay_end=20, modal_input_norm="none")
    adv = AdversarialAlignment(4, 3, 0.0, settings).eval()
    s = {"encoder_out": [torch.randn(5, 2, 4)], "encoder_padding_mask": [torch.zeros(2, 5, dtype=torch.bool)]}
    t = {"encoder_out": [torch.randn(3, 2, 4)], "encoder_padding_mask": [torch.zeros(2, 3, dtype=torch.bool)]}
    w = torch.tensor([2.0, 3.0])
    out = adv(None, s, t, w, w, 0, 0)
    ls = adv.modal_network(s["encoder_out"][0], None)
    lt = adv.modal_network(t["encoder_out"][0], None)

    def bce(logit, y):
        p = torch.sigmoid(logit)
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p))

    torch.testing.assert_close(out["adv_loss"], (bce(ls, 0.5) * w).sum() + (bce(lt, 0.5) * w).sum())
    torch.testing.assert_close(out["disc_loss"], (bce(ls, 0.0) * w).sum() + (bce(lt, 1.0) * w).sum())


def test_adversarial_weight_schedule():
    adv = AdversarialAlignment(4, 3, 0.0, GameSettings(weight=4.0, warmup_updates=100, decay_start=1000, decay_end=2000))
    assert [adv.generator_weight(u) for u in (0, 99, 100, 999, 1000, 1500, 1999, 2000, 5000)] == [
        0.0, 0.0, 4.0, 4.0, 4.0, 2.0, pytest.approx(0.004), 0.0, 0.0
    ]


def test_discriminator_loss_is_fp32_for_half_inputs():
    adv = AdversarialAlignment(4, 3, 0.0, GameSettings(decay_start=10, decay_end=20)).half()
    s = {"encoder_out": [torch.randn(5, 2, 4).half()], "encoder_padding_mask": [torch.zeros(2, 5, dtype=torch.bool)]}
    out = adv(None, s, s, torch.ones(2), torch.ones(2), 5, 0)
    assert out["disc_loss"].dtype == torch.float32 and torch.isfinite(out["disc_loss"])


def test_no_alignment_and_zero_auxiliary_weights_equals_label_smoothed_ce(corpus):
    task, model, criterion = build_in_process(
        corpus, "--alignment", "none", "--mt-weight", "0", "--ctc-weight", "0"
    )
    model.eval()
    sample = first_batch(task, "train_st")
    reference = LabelSmoothedCrossEntropyCriterion(task, False, 0.1)
    with torch.no_grad():
        ours, size, log = criterion(model, sample)
        theirs, ref_size, ref_log = reference(model, sample)
    torch.testing.assert_close(ours, theirs)
    assert size == ref_size
    torch.testing.assert_close(log["nll_loss"], ref_log["nll_loss"])


def test_hard_alignment_is_symmetric_infonce():
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]]).transpose(0, 1)  # T=1 x B=2 x C=2
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # 1 x 2 x 2: sentence vectors e1, e2
    t = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    mask = torch.zeros(2, 1, dtype=torch.bool)
    loss = contrastive_loss(
        {"encoder_out": [s], "encoder_padding_mask": [mask]},
        {"encoder_out": [t], "encoder_padding_mask": [mask]},
        temperature=0.5,
    )
    c = 1 / math.sqrt(2)
    sim = torch.tensor([[1.0, c], [0.0, c]]) / 0.5  # cos(s_i, t_j) / T
    row = -torch.log_softmax(sim, dim=1).diagonal()
    col = -torch.log_softmax(sim, dim=0).diagonal()
    torch.testing.assert_close(loss, 0.5 * (row + col))


@pytest.mark.parametrize(
    "options, message",
    [
        (("--training-stage", "mt", "--alignment", "soft"), "pass --alignment none for stage 1"),
        (("--mt-weight", "-1"), "--mt-weight must be >= 0"),
        (("--adversarial-decay-start", "10", "--adversarial-decay-end", "5"), "--adversarial-decay-end"),
        (("--mixup-prob", "1.5"), "--mixup-prob must be in [0, 1]"),
        (("--alignment", "hard", "--contrastive-temperature", "0"), "--contrastive-temperature"),
    ],
)
def test_invalid_option_combinations_are_rejected_at_start(corpus, options, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_in_process(corpus, *options)


@pytest.mark.parametrize("alignment", ["none", "soft", "hard"])
def test_every_parameter_gets_a_gradient_in_a_multitask_step(corpus, alignment):
    """What DDP's default (find_unused_parameters=False) requires of every step."""
    task, model, criterion = build_in_process(
        corpus, "--alignment", alignment, "--adversarial-warmup-updates", "0", "--mixup-prob", "1"
    )
    model.train()
    criterion.train()
    loss, _, log = criterion(model, first_batch(task, "train_st"))
    loss.backward()
    missing = [
        n
        for n, p in list(model.named_parameters()) + list(criterion.named_parameters())
        if p.requires_grad and p.grad is None
    ]
    assert missing == []
    if alignment == "soft":
        assert {"disc_loss", "adv_loss", "disc_correct_speech", "adv_weight"} <= set(log)


def test_mt_stage_freezes_the_speech_side_and_trains_the_rest(corpus):
    task, model, criterion = build_in_process(corpus, "--training-stage", "mt", "--alignment", "none")
    sample = first_batch(task, "train_st")
    assert sample["net_input"]["src_tokens"].dim() == 2, "stage 1 batches hold text, no audio"
    loss, _, _ = criterion(model, sample)
    loss.backward()
    frozen = {id(p) for p in model.encoder.acoustic_parameters()}
    assert frozen and all(not p.requires_grad for p in model.encoder.acoustic_parameters())
    trainable = [(n, p) for n, p in model.named_parameters() if id(p) not in frozen]
    assert all(p.grad is not None for _, p in trainable)


def test_mt_stage_adds_external_text_pairs(corpus, tmp_path):
    extra = corpus / "mt_extra_test.tsv"
    extra.write_text("id\tsrc_text\ttgt_text\n" + "".join(
        f"x{i}\tgood morning number {i}\tGuten Morgen Nummer {i}.\n" for i in range(7)))
    try:
        task, _, _ = build_in_process(corpus, "--training-stage", "mt", "--alignment", "none",
                                      "--mt-extra-subsets", "mt_extra_test")
        task.load_dataset("train_st")
        task.load_dataset("dev_st")
    finally:
        extra.unlink()
    assert len(task.dataset("train_st")) == TEST_SIZES["train"] + 7
    assert len(task.dataset("dev_st")) == TEST_SIZES["dev"], "validation stays in-domain"


def test_asr_stage_trains_only_the_acoustic_encoder_and_ctc_head(corpus, mt_checkpoint):
    task, model, criterion = build_in_process(
        corpus, "--training-stage", "asr", "--alignment", "none",
        "--load-pretrained-mt-from", mt_checkpoint,
    )
    sample = first_batch(task, "train_st")
    assert sample["net_input"]["src_tokens"].dim() == 3, "ASR pre-training reads speech"
    loss, sample_size, log = criterion(model, sample)
    assert set(log) >= {"loss", "ctc_loss"} and "st_loss" not in log and "mt_loss" not in log
    assert math.isfinite(loss.item()) and loss.item() > 0 and sample_size > 0
    loss.backward()
    trainable = {id(p) for p in model.encoder.ctc_parameters()}
    assert any(n.startswith("encoder.acoustic_encoder.") for n, p in model.named_parameters() if id(p) in trainable)
    for name, param in model.named_parameters():
        if id(param) in trainable:
            assert param.requires_grad and param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert not param.requires_grad and param.grad is None, name
    # the tied CTC projection is the MT embedding matrix, left as stage 1 trained it
    emb = model.encoder.textual_encoder.embed_tokens.weight
    assert model.encoder.ctc_proj.weight is emb and not emb.requires_grad


def test_asr_stage_refuses_alignment(corpus):
    with pytest.raises(ValueError, match="pass --alignment none for ASR pre-training"):
        build_in_process(corpus, "--training-stage", "asr", "--alignment", "hard")
