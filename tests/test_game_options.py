"""Each option of the adversarial game (the authors' behaviours among them) does what it says,
on tiny tensors with the real modules."""
from argparse import Namespace

import pytest
import torch

import fairseq_salign  # noqa: F401 (registers; installs the checkpoint allow-list)
from fairseq_salign.criterions.adversarial import AdversarialAlignment, GameSettings
from fairseq_salign.modules import ModalNetwork, TextualEncoder
from fairseq_salign.modules.adapters import CTCShrinkAdapter
from fairseq_salign.modules.modal_network import joint_token_stats

DIM, BLANK, PAD = 8, 0, 1


def textual_encoder():
    from fairseq.modules import TransformerEncoderLayer

    args = Namespace(
        encoder_embed_dim=DIM, encoder_ffn_embed_dim=16, encoder_attention_heads=2,
        encoder_normalize_before=True, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, activation_fn="relu",
    )
    embed = torch.nn.Embedding(12, DIM, padding_idx=PAD)
    return TextualEncoder(embed, torch.nn.ModuleList([TransformerEncoderLayer(args)]), 64, 0.0, True)


def batch(tenc, tokens=None, bsz=3, length=5):
    """Speech and text dicts as the encoder returns them, with gradient to adapter and tokens."""
    torch.manual_seed(0)
    adapter_out = torch.randn(bsz, length, DIM, requires_grad=True)
    mask = torch.zeros(bsz, length, dtype=torch.bool)
    if tokens is None:
        tokens = torch.randint(4, 12, (bsz, length))
    speech = {
        "encoder_out": [tenc(adapter_out, mask)], "encoder_padding_mask": [mask],
        "adapter_out": [adapter_out], "adapter_tokens": [tokens],
    }
    x, text_mask = tenc.embed_text(tokens)
    text = {"encoder_out": [tenc(x, text_mask)], "encoder_padding_mask": [text_mask]}
    return speech, text, torch.ones(bsz)


def game(**settings):
    return AdversarialAlignment(DIM, 4, 0.0, GameSettings(**settings))


def test_batch_standardised_input_is_blind_to_an_offset_and_scale_shared_by_both_modalities():
    torch.manual_seed(0)
    net = ModalNetwork(DIM, 4, 0.0).eval()
    s, t = torch.randn(5, 2, DIM), torch.randn(4, 2, DIM) + 1.0
    ms, mt = torch.zeros(2, 5, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.bool)
    shift = 50.0 * torch.randn(DIM)
    before = [net(x, m, joint_token_stats([(s, ms), (t, mt)])) for x, m in ((s, ms), (t, mt))]
    s2, t2 = 3.0 * s + shift, 3.0 * t + shift
    after = [net(x, m, joint_token_stats([(s2, ms), (t2, mt)])) for x, m in ((s2, ms), (t2, mt))]
    for b, a in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    raw = net(s2, ms), net(t2, mt)
    assert (raw[0] - raw[1]).abs().max() < 0.5 * (before[0] - before[1]).abs().max(), (
        "without standardisation the shared offset swamps the difference (the trap it removes)"
    )


def test_joint_stats_ignore_padding():
    x = torch.randn(4, 2, DIM)
    mask = torch.tensor([[False] * 4, [False, False, True, True]])
    garbage = x.clone()
    garbage[2:, 1] = 1e4
    for a, b in zip(joint_token_stats([(x, mask)]), joint_token_stats([(garbage, mask)])):
        torch.testing.assert_close(a, b)


def test_text_target_moves_only_speech_towards_the_text_label():
    tenc = textual_encoder()
    speech, text, w = batch(tenc)
    adv = game(generator_target="text", modal_input_norm="none").train()
    out = adv(tenc, speech, text, w, w, 10, BLANK)
    logit = adv.modal_network(speech["encoder_out"][0], speech["encoder_padding_mask"][0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.ones(3), reduction="sum")
    torch.testing.assert_close(out["adv_loss"], expected)
    grads = torch.autograd.grad(out["adv_loss"], [speech["encoder_out"][0], text["encoder_out"][0]], allow_unused=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0 and grads[1] is None


def test_feature_matching_is_zero_for_identical_modalities_and_reaches_both_sides():
    tenc = textual_encoder()
    speech, text, w = batch(tenc)
    adv = game(generator_target="features").train()
    same = adv(tenc, {**speech, "encoder_out": text["encoder_out"]}, text, w, w, 10, BLANK)
    assert same["adv_loss"].item() == pytest.approx(0.0, abs=1e-6)
    out = adv(tenc, speech, text, w, w, 10, BLANK)
    assert out["adv_loss"] > 0
    gs, gt = torch.autograd.grad(out["adv_loss"], [speech["encoder_out"][0], text["encoder_out"][0]])
    assert gs.abs().sum() > 0 and gt.abs().sum() > 0
    assert all(p.grad is None for p in adv.parameters()), "the modal network stays frozen"


@pytest.mark.parametrize("mode", ["discriminator", "replace"])
def test_mixup_mode_decides_whether_the_generator_moves_the_mixed_sequence(mode):
    """With only speech moving (target text), the text embeddings get generator gradient only
    through the mixed sequence, i.e. only in "replace" mode (the authors')."""
    tenc = textual_encoder()
    speech, text, w = batch(tenc)
    adv = game(generator_target="text", mixup_prob=1.0, mixup_mode=mode, mixup_rate=1.0,
               mixup_positions="any").train()
    out = adv(tenc, speech, text, w, w, 10, BLANK)
    assert out["mixed"]
    out["adv_loss"].backward()
    embed_grad = tenc.embed_tokens.weight.grad
    moved = embed_grad is not None and embed_grad.abs().sum() > 0
    assert moved == (mode == "replace")
    adapter_grad = speech["adapter_out"][0].grad
    # rate 1, any position: every speech position is replaced, nothing of the adapter is left
    # in "replace" mode; in "discriminator" mode the generator sees the plain speech
    assert (adapter_grad is None or adapter_grad.abs().sum() == 0) == (mode == "replace")


def test_replace_mode_discriminator_target_is_the_mix_label():
    tenc = textual_encoder()
    speech, text, w = batch(tenc)
    adv = game(mixup_prob=1.0, mixup_mode="replace", mixup_rate=1.0, mixup_positions="any",
               mixup_label="drawn", modal_input_norm="none", discriminator_scale=1.0).train()
    adv.modal_network.dropout.p = 0.0
    torch.manual_seed(1)
    out = adv(tenc, speech, text, w, w, 10, BLANK)
    # rate 1 and every position: the mixed sequence is the transcript's embeddings, label 1
    x, mask = tenc.embed_text(speech["adapter_tokens"][0])
    mixed_out = tenc(x, speech["encoder_padding_mask"][0])
    net = adv.modal_network
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(net(mixed_out, mask), torch.ones(3), reduction="sum") + bce(
        net(text["encoder_out"][0], mask), torch.ones(3), reduction="sum")
    torch.testing.assert_close(out["disc_loss"], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("positions, label, expected", [
    ("tokens", "realised", 0.0), ("any", "realised", 1.0), ("tokens", "drawn", 1.0),
])
def test_mixup_positions_and_label(positions, label, expected):
    """All-blank CTC labels: "tokens" replaces nothing (realised label 0), "any" replaces every
    position; "drawn" reports the rate whatever was replaced."""
    tenc = textual_encoder()
    speech, _, _ = batch(tenc, tokens=torch.full((3, 5), BLANK))
    adv = game(mixup_prob=1.0, mixup_rate=1.0, mixup_positions=positions, mixup_label=label).train()
    mixed = adv._mix(tenc, speech, BLANK, None)
    torch.testing.assert_close(mixed.label, torch.full((3,), expected))


def test_fixed_mixup_rate_and_uniform_draws():
    tenc = textual_encoder()
    speech, _, _ = batch(tenc, bsz=64, length=40)
    fixed = game(mixup_prob=1.0, mixup_rate=0.3, mixup_label="drawn")._mix(tenc, speech, BLANK, None)
    assert torch.all(fixed.label == 0.3)
    drawn = game(mixup_prob=1.0, mixup_label="drawn")._mix(tenc, speech, BLANK, torch.Generator().manual_seed(0))
    assert drawn.label.min() < 0.2 and drawn.label.max() > 0.8 and drawn.label.std() > 0.2


def test_mixup_waits_for_its_start_update():
    tenc = textual_encoder()
    speech, text, w = batch(tenc)
    adv = game(mixup_prob=1.0, mixup_start_updates=100).train()
    assert not adv(tenc, speech, text, w, w, 99, BLANK)["mixed"]
    assert adv(tenc, speech, text, w, w, 100, BLANK)["mixed"]


def test_discriminator_scale_and_decay():
    adv = game(weight=2.0, decay_start=100, decay_end=200, discriminator_scale=1.5, discriminator_decay=True)
    assert [adv.discriminator_weight(u) for u in (0, 99, 150, 200)] == [1.5, 1.5, 0.75, 0.0]
    assert adv.generator_weight(150) == 1.0
    steady = game(decay_start=100, decay_end=200, discriminator_scale=1.5)
    assert steady.discriminator_weight(150) == 1.5


def test_discriminator_scale_multiplies_the_training_loss():
    tenc = textual_encoder()
    speech, text, w = batch(tenc)
    plain = game(discriminator_scale=1.0).train()
    scaled = game(discriminator_scale=1.5).train()
    scaled.load_state_dict(plain.state_dict())
    a = plain(tenc, speech, text, w, w, 0, BLANK)["disc_loss"]
    b = scaled(tenc, speech, text, w, w, 0, BLANK)["disc_loss"]
    torch.testing.assert_close(b, 1.5 * a)


def test_invalid_game_settings_are_refused():
    with pytest.raises(ValueError, match="mixup_mode"):
        GameSettings(mixup_mode="sometimes")
    with pytest.raises(ValueError, match="mixup_rate"):
        GameSettings(mixup_rate=1.5)


@pytest.mark.parametrize("reduce", ["mean", "first"])
def test_shrink_keeps_the_mean_or_the_first_frame_of_a_run(reduce):
    adapter = CTCShrinkAdapter(4, blank=0, reduce=reduce).eval()
    labels = [0, 0, 5, 5, 5, 0, 6, 6]
    logits = torch.full((8, 1, 10), -5.0)
    for t, tok in enumerate(labels):
        logits[t, 0, tok] = 5.0
    states = torch.randn(8, 1, 4)
    out = adapter(states, torch.zeros(1, 8, dtype=torch.bool), logits, None)
    runs = [(0, 2), (2, 5), (5, 6), (6, 8)]
    if reduce == "mean":
        expected = torch.stack([states[a:b, 0].mean(0) for a, b in runs])
    else:
        expected = torch.stack([states[a, 0] for a, _ in runs])
    torch.testing.assert_close(out.x[0], adapter.layer_norm(expected))


def test_shrink_reduce_is_checked():
    with pytest.raises(ValueError, match="--shrink-reduce"):
        CTCShrinkAdapter(4, blank=0, reduce="max")
