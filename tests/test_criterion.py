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


@pytest.mark.parametrize("alignment", ["none", "soft", "hard", "moments", "mmd", "swd", "soft+moments"])
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
    if "soft" in alignment:
        assert {"disc_loss", "adv_loss", "disc_correct_speech", "adv_weight"} <= set(log)
    for part in alignment.split("+"):
        if part in ("moments", "mmd", "swd"):
            assert torch.isfinite(log[f"{part}_loss"]) and log[f"{part}_loss"] > 0


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


def _train_step_log(corpus, *options, num_updates=0):
    """One training-mode criterion call; the same seeds give the same model and batch."""
    torch.manual_seed(0)
    task, model, criterion = build_in_process(corpus, *options)
    model.train()
    criterion.train()
    model.set_num_updates(num_updates)
    torch.manual_seed(0)
    sample = first_batch(task, "train_st")
    torch.manual_seed(0)
    loss, _, log = criterion(model, sample)
    return loss, log


def test_st_loss_is_off_before_st_start_updates(corpus):
    task, model, criterion = build_in_process(
        corpus, "--alignment", "none", "--dropout", "0", "--st-start-updates", "10"
    )
    model.eval()  # no dropout anywhere: the two calls see the same network
    criterion.train()
    sample = first_batch(task, "train_st")
    losses = {}
    for updates in (9, 10):
        model.set_num_updates(updates)
        losses[updates], _, log = criterion(model, sample)
    # default weights: ST 1, CTC 0.3, MT 0.5
    torch.testing.assert_close(losses[9], 0.3 * log["ctc_loss"] + 0.5 * log["mt_loss"])
    torch.testing.assert_close(losses[10] - losses[9], log["st_loss"])


def test_st_as_a_ce_ctc_split(corpus):
    """The authors' ST = 0.7 CE + 0.3 CTC is --st-weight 0.7 --ctc-weight 0.3."""
    loss, log = _train_step_log(
        corpus, "--alignment", "none", "--st-weight", "0.7", "--ctc-weight", "0.3", "--mt-weight", "0"
    )
    torch.testing.assert_close(loss, 0.7 * log["st_loss"] + 0.3 * log["ctc_loss"])


@pytest.mark.parametrize("kind", ["target", "encoder", "one"])
def test_alignment_sentence_weights(corpus, kind):
    task, model, criterion = build_in_process(corpus, "--alignment", "hard", "--alignment-sentence-weight", kind)
    sample = first_batch(task, "train_st")
    net = sample["net_input"]
    speech = model(net["src_tokens"], net["src_lengths"], net["prev_output_tokens"])[1]["encoder_out"]
    text = model.encoder(net["src_txt_tokens"], net["src_txt_lengths"])
    s_w, t_w = (criterion._side_weights(sample, out) for out in (speech, text))
    if kind == "target":
        expected = sample["target"].ne(task.target_dictionary.pad()).sum(1).float()
        torch.testing.assert_close(s_w, expected) and torch.testing.assert_close(t_w, expected)
    elif kind == "encoder":
        torch.testing.assert_close(s_w, (~speech["encoder_padding_mask"][0]).sum(1).float())
        torch.testing.assert_close(t_w, net["src_txt_lengths"].float())
        assert not torch.equal(s_w, t_w)
    else:
        assert s_w.eq(1).all() and t_w.eq(1).all()


@pytest.mark.parametrize("alignment", ["soft", "hard"])
def test_gradient_ratio_is_logged_on_its_interval_and_computed_by_hand(corpus, alignment):
    options = ("--alignment", alignment, "--adversarial-warmup-updates", "0", "--mixup-prob", "0",
               "--dropout", "0", "--alignment-grad-log-interval", "5")
    _, off = _train_step_log(corpus, *options, num_updates=3)
    assert "grad_ratio_speech" not in off
    task, model, criterion = build_in_process(corpus, *options)
    model.train()
    criterion.train()
    model.set_num_updates(5)
    sample = first_batch(task, "train_st")
    captured = {}
    from fairseq_salign.criterions import salign

    real = salign.gradient_ratios

    def spy(align, task_loss, speech, text):
        captured.update(align=align, task=task_loss, speech=speech["encoder_out"][0])
        return real(align, task_loss, speech, text)

    salign.gradient_ratios = spy
    try:
        _, _, log = criterion(model, sample)
    finally:
        salign.gradient_ratios = real
    (g_align,) = torch.autograd.grad(captured["align"], captured["speech"], retain_graph=True)
    (g_task,) = torch.autograd.grad(captured["task"], captured["speech"], retain_graph=True)
    assert log["grad_ratio_speech"] == pytest.approx((g_align.norm() / g_task.norm()).item(), rel=1e-4)
    assert log["grad_ratio_speech"] > 0 and log["grad_ratio_text"] > 0
    # scaling every loss by the same factor (fp16 loss scaling, another normalisation) leaves it
    ratio = salign.gradient_ratios(128 * captured["align"], 128 * captured["task"], {"encoder_out": [captured["speech"]]},
                                   {"encoder_out": [captured["speech"]]})
    assert ratio["grad_ratio_speech"] == pytest.approx(log["grad_ratio_speech"], rel=1e-4)


@pytest.mark.parametrize(
    "options, message",
    [
        (("--mixup-rate", "1.5"), "--mixup-rate must be in [0, 1]"),
        (("--discriminator-scale", "-1"), "--discriminator-scale must be >= 0"),
        (("--st-start-updates", "-3"), "--st-start-updates must be >= 0"),
    ],
)
def test_invalid_game_options_are_rejected_at_start(corpus, options, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_in_process(corpus, *options)
