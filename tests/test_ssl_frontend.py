"""The HuBERT / wav2vec 2.0 front end, in process: checkpoint reading, strict loading and its
errors, the freezing schedule, padding behaviour. Checkpoints are tiny random models built with
fairseq's own classes and saved as fairseq saves them (fairseq_salign.pretrained_ssl.random_checkpoint)."""
from argparse import Namespace

import pytest
import torch
from fairseq.checkpoint_utils import torch_persistent_save
from fairseq.data import Dictionary

from fairseq_salign.pretrained_ssl.random_checkpoint import random_ssl_state
from fairseq_salign.pretrained_ssl.ssl_checkpoint import SSLCheckpointError, read_ssl_checkpoint
from fairseq_salign.frontends.ssl_encoder import standardize
from fairseq_salign.models.config import S2TSAlignConfig
from fairseq_salign.models.s2t_salign import ARCH_PRESETS, S2TSAlignModel


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ssl")
    for kind in ("hubert", "wav2vec2"):
        torch_persistent_save(random_ssl_state(kind, "tiny"), str(d / f"{kind}.pt"))
    torch_persistent_save(random_ssl_state("wav2vec2", "tiny", overrides=dict(
        extractor_mode="layer_norm", layer_norm_first=True, conv_bias=True)), str(d / "w2v_ln.pt"))
    return d


def model_cfg(ckpt, kind="hubert", **options) -> S2TSAlignConfig:
    cfg = S2TSAlignConfig()
    cfg.max_source_positions, cfg.max_target_positions = 6000, 100
    for k, v in {**ARCH_PRESETS["s2t_salign_xs"], "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64,
                 "decoder_ffn_embed_dim": 64, "encoder_attention_heads": 2,
                 "decoder_attention_heads": 2, "acoustic_encoder_layers": 0}.items():
        setattr(cfg, k, v)
    cfg.speech_encoder, cfg.ssl_checkpoint = kind, None if ckpt is None else str(ckpt)
    for k, v in options.items():
        setattr(cfg, k, v)
    return cfg


def build(cfg):
    d = Dictionary()
    for w in "a b c d e".split():
        d.add_symbol(w)
    return S2TSAlignModel.build_model(cfg, Namespace(target_dictionary=d))


def step(model, updates):
    """One training forward/backward at ``updates``; returns the SSL encoder's gradients."""
    model.train()
    model.set_num_updates(updates)
    model.zero_grad()
    torch.manual_seed(0)
    wave, lengths = torch.randn(2, 16000), torch.tensor([16000, 9000])
    logits, _ = model(wave, lengths, torch.tensor([[2, 4, 5], [2, 6, 1]]))
    logits.float().sum().backward()
    ssl = model.encoder.acoustic_encoder.ssl
    return ([p.grad for p in ssl.encoder.parameters()], [p.grad for p in ssl.feature_extractor.parameters()])


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_checkpoint_loads_strictly_and_is_stored_in_the_model_config(ckpt_dir, kind):
    state = torch.load(ckpt_dir / f"{kind}.pt", weights_only=False)["model"]
    cfg = model_cfg(ckpt_dir / f"{kind}.pt", kind)
    model = build(cfg)
    ssl = model.encoder.acoustic_encoder.ssl.state_dict()
    assert ssl and all(torch.equal(ssl[k], state[k]) for k in ssl)
    assert cfg.ssl_args["kind"] == kind  # rebuilt later without the file:
    cfg.ssl_checkpoint = "/nonexistent.pt"
    rebuilt = build(cfg).encoder.acoustic_encoder.ssl.state_dict()
    assert rebuilt.keys() == ssl.keys()


def test_finetuned_ctc_checkpoint_contributes_its_encoder(ckpt_dir, tmp_path):
    pre = torch.load(ckpt_dir / "wav2vec2.pt", weights_only=False)
    weights = {f"w2v_encoder.w2v_model.{k}": v for k, v in pre["model"].items()}
    weights["w2v_encoder.proj.weight"] = torch.zeros(10, 32)
    weights["w2v_encoder.proj.bias"] = torch.zeros(10)
    cfg = {"model": {"_name": "wav2vec_ctc", "w2v_args": {"model": pre["cfg"]["model"],
                                                         "task": pre["cfg"]["task"]}},
           "task": {"_name": "audio_finetuning"}}
    path = tmp_path / "w2v_960h.pt"
    torch_persistent_save({**pre, "cfg": cfg, "model": weights}, str(path))
    spec, ssl_weights = read_ssl_checkpoint(str(path), "wav2vec2")
    assert spec.kind == "wav2vec2" and "w2v_encoder.proj.weight" not in ssl_weights
    model = build(model_cfg(path, "wav2vec2"))
    own = model.encoder.acoustic_encoder.ssl.state_dict()
    assert all(torch.equal(own[k], pre["model"][k]) for k in own)


def test_wrong_files_are_clear_errors(ckpt_dir, tmp_path, mt_checkpoint):
    with pytest.raises(SSLCheckpointError, match="no such file"):
        read_ssl_checkpoint(str(tmp_path / "missing.pt"))
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(SSLCheckpointError, match="cannot read it as a torch checkpoint"):
        read_ssl_checkpoint(str(tmp_path / "text.pt"))
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(SSLCheckpointError, match="not a fairseq checkpoint"):
        read_ssl_checkpoint(str(tmp_path / "plain.pt"))
    with pytest.raises(SSLCheckpointError, match="'s2t_salign_xs' model, not a HuBERT or wav2vec 2.0"):
        read_ssl_checkpoint(str(mt_checkpoint))  # a foreign fairseq checkpoint: our own MT stage
    with pytest.raises(SSLCheckpointError, match="holds a hubert model but --speech-encoder is wav2vec2"):
        build(model_cfg(ckpt_dir / "hubert.pt", "wav2vec2"))
    state = torch.load(ckpt_dir / "hubert.pt", weights_only=False)
    state["model"]["encoder.layers.0.fc1.weight"] = torch.zeros(3, 3)
    del state["model"]["encoder.layers.1.fc2.bias"]
    torch_persistent_save(state, str(tmp_path / "damaged.pt"))
    with pytest.raises(SSLCheckpointError, match=r"1 missing, 0 unexpected, 1 mismatched") as err:
        build(model_cfg(tmp_path / "damaged.pt"))
    assert "encoder.layers.1.fc2.bias" in str(err.value) and "(3, 3)" in str(err.value)
    with pytest.raises(SSLCheckpointError, match="needs --ssl-checkpoint"):
        build(model_cfg(None))


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_freezing_schedule(ckpt_dir, kind):
    model = build(model_cfg(ckpt_dir / f"{kind}.pt", kind, ssl_freeze_updates=3, ssl_apply_mask=True))
    before, conv = step(model, 2)
    assert all(g is None for g in before)  # frozen: nothing reaches the SSL encoder
    after, conv = step(model, 3)
    assert all(g is not None for g in after) and sum(float(g.abs().sum()) > 0 for g in after) > len(after) // 2
    assert all(g is None for g in conv)  # --ssl-feature-grad-mult 0: conv extractor stays frozen
    assert not any(p.requires_grad for p in model.encoder.acoustic_encoder.fixed_parameters())
    # no stage may switch the fixed extractor back on
    assert not set(map(id, model.encoder.acoustic_encoder.fixed_parameters())) & set(
        map(id, model.encoder.ctc_parameters()))


def test_feature_extractor_trains_with_a_gradient_multiplier(ckpt_dir):
    model = build(model_cfg(ckpt_dir / "hubert.pt", ssl_feature_grad_mult=0.1))
    _, conv = step(model, 0)
    assert all(g is not None for g in conv) and float(sum(g.abs().sum() for g in conv)) > 0


def _encode_alone_and_padded(model, n=9000, total=16000):
    torch.manual_seed(1)
    wave = torch.randn(2, total)
    model.eval()
    with torch.no_grad():
        alone, mask_a = model.encoder.acoustic_encoder(wave[1:, :n], torch.tensor([n]))
        both, mask_b = model.encoder.acoustic_encoder(wave, torch.tensor([total, n]))
    return alone[:, 0], mask_a[0], both[:, 1], mask_b[1]


def test_layer_norm_extractor_is_padding_invariant(ckpt_dir):
    """wav2vec 2.0 large's layer-norm extractor normalises each frame on its own and fairseq
    zeroes padded frames before the positional convolution: padding changes nothing."""
    model = build(model_cfg(ckpt_dir / "w2v_ln.pt", "wav2vec2"))
    alone, mask_a, padded, mask_b = _encode_alone_and_padded(model)
    valid = int((~mask_b).sum())
    assert valid == alone.size(0) == int((~mask_a).sum())
    torch.testing.assert_close(padded[:valid], alone, atol=1e-4, rtol=1e-4)


def test_group_norm_extractor_is_not_padding_invariant(ckpt_dir):
    """HuBERT / wav2vec 2.0 base normalise their first conv layer over the whole (padded) time
    axis: a padded utterance encodes differently from the same utterance alone, as in fairseq's
    own fine-tuning. What holds: the frame count and mask (HuBERT keeps a frame that is partly
    padding), and the outputs stay finite. Batching by length keeps the padding small."""
    for kind, extra_frame in (("hubert", 1), ("wav2vec2", 0)):
        model = build(model_cfg(ckpt_dir / f"{kind}.pt", kind))
        alone, _, padded, mask_b = _encode_alone_and_padded(model)
        valid = int((~mask_b).sum())
        assert valid == alone.size(0) + extra_frame
        assert torch.isfinite(padded).all()
        assert not torch.allclose(padded[: alone.size(0)], alone, atol=1e-3)


def test_input_standardization_ignores_padding():
    wave = torch.randn(2, 100) * 3 + 1
    lengths = torch.tensor([100, 60])
    mask = torch.arange(100)[None] >= lengths[:, None]
    out = standardize(wave, mask)
    alone = standardize(wave[1:, :60], torch.zeros(1, 60, dtype=torch.bool))
    torch.testing.assert_close(out[1, :60], alone[0])
    assert out[1, 60:].abs().max() == 0
    assert abs(float(out[0].mean())) < 1e-5 and abs(float(out[0].std(unbiased=False)) - 1) < 1e-3
