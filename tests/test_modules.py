"""Unit tests of the building blocks on tiny tensors: pooling, encoder stack, mix-up, CTC."""
import pytest
import torch
from fairseq.data import Dictionary

import fairseq_salign  # noqa: F401 (registers; installs the checkpoint allow-list)
from fairseq_salign.models.config import S2TSAlignConfig
from fairseq_salign.models.encoder import SAlignEncoder
from fairseq_salign.models.s2t_salign import transformer_args
from fairseq_salign.modules import (
    ModalNetwork,
    ctc_greedy_decode,
    ctc_loss,
    ctc_targets,
    masked_mean,
    mix_speech_with_text,
)
from fairseq_salign.modules.adapters import CTCShrinkAdapter


def tiny_dictionary(n: int = 20) -> Dictionary:
    d = Dictionary()
    for i in range(n):
        d.add_symbol(f"w{i}")
    return d


def tiny_encoder(adapter: str, dictionary: Dictionary) -> SAlignEncoder:
    cfg = S2TSAlignConfig(
        input_feat_per_channel=8,
        conv_channels=16,
        encoder_embed_dim=16,
        encoder_ffn_embed_dim=32,
        encoder_attention_heads=2,
        acoustic_encoder_layers=2,
        textual_encoder_layers=2,
        decoder_layers=1,
        decoder_ffn_embed_dim=32,
        decoder_attention_heads=2,
        adapter=adapter,
        max_source_positions=1000,
        max_target_positions=100,
    )
    embed = torch.nn.Embedding(len(dictionary), 16, padding_idx=dictionary.pad())
    return SAlignEncoder(cfg, transformer_args(cfg), dictionary, embed).eval()


def test_masked_mean_ignores_padding():
    x = torch.randn(5, 2, 3)
    mask = torch.tensor([[False] * 5, [False, False, True, True, True]])
    pooled = masked_mean(x, mask)
    torch.testing.assert_close(pooled[0], x[:, 0].mean(0))
    torch.testing.assert_close(pooled[1], x[:2, 1].mean(0))
    x_garbage = x.clone()
    x_garbage[2:, 1] = 1e6  # whatever sits in padded steps must not matter
    torch.testing.assert_close(masked_mean(x_garbage, mask), pooled)


def test_modal_network_padded_item_equals_item_alone():
    torch.manual_seed(0)
    net = ModalNetwork(8, 4, dropout=0.1).eval()
    short, long = torch.randn(3, 1, 8), torch.randn(6, 1, 8)
    batch = torch.cat([torch.cat([short, torch.randn(3, 1, 8)]), long], dim=1)
    mask = torch.tensor([[False] * 3 + [True] * 3, [False] * 6])
    alone = net(short, torch.zeros(1, 3, dtype=torch.bool))
    torch.testing.assert_close(net(batch, mask)[0], alone[0])


@pytest.mark.parametrize("adapter", ["linear", "ctc-soft", "ctc-shrink"])
def test_encoder_stack_padded_item_equals_item_alone(adapter):
    """A-enc -> CTC -> adapter -> T-enc: padding in a batch changes nothing for an item."""
    torch.manual_seed(0)
    encoder = tiny_encoder(adapter, tiny_dictionary())
    short = torch.randn(1, 37, 8)
    long = torch.randn(1, 64, 8)
    batch = torch.zeros(2, 64, 8)
    batch[0, :37], batch[1] = short[0], long[0]
    batch[0, 37:] = 5.0  # padding content must not leak either
    out_batch = encoder(batch, torch.tensor([37, 64]))
    out_alone = encoder(short, torch.tensor([37]))
    n = out_alone["encoder_out"][0].size(0)
    assert int((~out_batch["encoder_padding_mask"][0][0]).sum()) == n
    torch.testing.assert_close(out_batch["encoder_out"][0][:n, 0], out_alone["encoder_out"][0][:, 0])
    n_frames = out_alone["ctc_logits"][0].size(0)
    torch.testing.assert_close(
        out_batch["ctc_logits"][0][:n_frames, 0], out_alone["ctc_logits"][0][:, 0]
    )


def test_text_path_padded_item_equals_item_alone():
    torch.manual_seed(0)
    d = tiny_dictionary()
    encoder = tiny_encoder("ctc-soft", d)
    tokens = torch.tensor([[5, 6, 7, d.eos()], [8, 9, d.eos(), d.pad()]])
    out = encoder(tokens)
    alone = encoder(tokens[1:, :3])
    torch.testing.assert_close(out["encoder_out"][0][:3, 1], alone["encoder_out"][0][:, 0])


def test_speech_path_ignores_transcripts_in_net_input():
    """A joint dataset puts the transcript into net_input; it must not reach speech encoding."""
    d = tiny_dictionary()
    encoder = tiny_encoder("ctc-soft", d)
    feats, lengths = torch.randn(2, 30, 8), torch.tensor([30, 22])
    plain = encoder(feats, lengths)
    with_text = encoder(
        feats, lengths, src_txt_tokens=torch.tensor([[5, 2], [6, 2]]), src_txt_lengths=torch.tensor([2, 2])
    )
    torch.testing.assert_close(plain["encoder_out"][0], with_text["encoder_out"][0])


def test_mixup_labels_equal_mix_rate():
    torch.manual_seed(0)
    speech, text = torch.zeros(3, 200, 4), torch.ones(3, 200, 4)
    eligible = torch.ones(3, 200, dtype=torch.bool)
    mask = torch.zeros(3, 200, dtype=torch.bool)
    mask[2, 100:] = True
    rate = torch.tensor([0.0, 1.0, 0.3])
    mixed, label = mix_speech_with_text(speech, text, eligible, mask, rate)
    replaced = mixed[..., 0].eq(1.0) & ~mask
    # the label is exactly the fraction of valid positions that now hold text
    torch.testing.assert_close(label, replaced.sum(1).float() / (~mask).sum(1).float())
    assert label[0] == 0.0 and label[1] == 1.0
    assert abs(label[2].item() - 0.3) < 0.12  # 100 draws of p = 0.3
    assert not mixed[2, 100:].eq(1.0).any(), "padding is never replaced"


def test_mixup_only_replaces_eligible_positions():
    speech, text = torch.zeros(1, 10, 2), torch.ones(1, 10, 2)
    eligible = torch.tensor([[True, False] * 5])
    mixed, label = mix_speech_with_text(speech, text, eligible, None, torch.tensor([1.0]))
    assert mixed[0, :, 0].tolist() == [1.0, 0.0] * 5
    assert label.item() == pytest.approx(0.5)


def test_ctc_targets_drop_eos_and_padding():
    pad, eos = 1, 2
    tokens = torch.tensor([[5, 6, 7, eos], [8, eos, pad, pad]])
    targets, lengths = ctc_targets(tokens, pad, eos)
    assert lengths.tolist() == [3, 1]
    assert targets[0].tolist() == [5, 6, 7] and targets[1, :1].tolist() == [8]


def test_ctc_blank_is_bos_and_greedy_decoding_merges_repeats():
    d = tiny_dictionary()
    blank = d.bos()
    assert blank == 0
    path = [blank, 5, 5, blank, 5, 6, 6, blank]  # -> 5 5 6
    logits = torch.full((len(path), 1, len(d)), -10.0)
    for t, tok in enumerate(path):
        logits[t, 0, tok] = 10.0
    mask = torch.zeros(1, len(path), dtype=torch.bool)
    assert ctc_greedy_decode(logits, mask, blank)[0].tolist() == [5, 5, 6]
    # the same path has near-zero CTC loss for its transcript, a large one for another
    target = torch.tensor([[5, 5, 6]])
    good = ctc_loss(logits.half(), mask, target, torch.tensor([3]), blank)
    bad = ctc_loss(logits, mask, torch.tensor([[7, 8, 9]]), torch.tensor([3]), blank)
    assert good.dtype == torch.float32 and good.item() < 1e-3 and bad.item() > 10


def test_ctc_loss_is_finite_when_output_is_shorter_than_target():
    logits = torch.randn(2, 1, 10)
    loss = ctc_loss(logits, None, torch.tensor([[3, 4, 5, 6]]), torch.tensor([4]), blank=0)
    assert torch.isfinite(loss) and loss.item() == 0.0


def test_shrink_adapter_collapses_runs_of_equal_labels():
    adapter = CTCShrinkAdapter(4, blank=0).eval()
    labels = [0, 0, 5, 5, 5, 0, 6, 6]
    logits = torch.full((8, 1, 10), -5.0)
    for t, tok in enumerate(labels):
        logits[t, 0, tok] = 5.0
    states = torch.arange(8, dtype=torch.float).view(8, 1, 1).expand(8, 1, 4).contiguous()
    out = adapter(states, torch.zeros(1, 8, dtype=torch.bool), logits, None)
    assert out.tokens[0].tolist() == [0, 5, 0, 6]
    assert out.x.shape == (1, 4, 4) and not out.padding_mask.any()
    # each position is the LayerNorm of its run's mean (runs: 0-1, 2-4, 5, 6-7)
    means = torch.tensor([0.5, 3.0, 5.0, 6.5]).view(1, 4, 1).expand(1, 4, 4)
    torch.testing.assert_close(out.x, adapter.layer_norm(means))


def test_beam_reordering_carries_only_what_the_decoder_reads():
    encoder = tiny_encoder("ctc-soft", tiny_dictionary())
    out = encoder(torch.randn(2, 30, 8), torch.tensor([30, 22]))
    order = torch.tensor([1, 1, 0])
    reordered = encoder.reorder_encoder_out(out, order)
    assert set(reordered) == {"encoder_out", "encoder_padding_mask"}
    torch.testing.assert_close(reordered["encoder_out"][0], out["encoder_out"][0][:, order])
    assert torch.equal(reordered["encoder_padding_mask"][0], out["encoder_padding_mask"][0][order])
