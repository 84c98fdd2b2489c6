"""Architecture presets fill what the command line leaves open; the command line wins."""
from conftest import build_in_process


def test_preset_fills_unset_options_and_command_line_wins(corpus):
    _, model, _ = build_in_process(corpus, "--alignment", "none")  # xs preset, width 32 from CLI
    encoder = model.encoder
    assert encoder.textual_encoder.embed_tokens.embedding_dim == 32  # command line
    assert len(encoder.acoustic_encoder.layers) == 2 and len(encoder.textual_encoder.layers) == 2
    assert len(model.decoder.layers) == 2  # preset
    assert encoder.ctc_proj.weight is encoder.textual_encoder.embed_tokens.weight  # tied by default
    assert model.decoder.output_projection.weight is encoder.textual_encoder.embed_tokens.weight


def test_untied_ctc_head_has_its_own_matrix(corpus):
    _, model, _ = build_in_process(corpus, "--untie-ctc-projection", "--acoustic-encoder-layers", "1")
    assert model.encoder.ctc_proj.weight is not model.encoder.textual_encoder.embed_tokens.weight
    assert len(model.encoder.acoustic_encoder.layers) == 1
