"""MuST-C recipe with --features ssl: frozen layer-N states of a HuBERT / wav2vec 2.0
checkpoint (a tiny random one saved by the test), trained on unchanged by the fbank model."""
import io
import zipfile

import numpy as np
import pytest
import torch
from conftest import run_cli, train_args
from fairseq.checkpoint_utils import torch_persistent_save

from fairseq_salign.data.features import SSLStates
from fairseq_salign.data.mustc import PrepError
from fairseq_salign.data.prep import prepare_mustc
from fairseq_salign.pretrained_ssl.random_checkpoint import random_ssl_state


@pytest.fixture(scope="module")
def hubert(tmp_path_factory):
    path = tmp_path_factory.mktemp("ssl_prep") / "hubert_tiny.pt"
    torch_persistent_save(random_ssl_state("hubert", "tiny"), str(path))
    return path


def test_frame_count_and_layer_choice(hubert):
    wave = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    last = SSLStates(checkpoint=str(hubert))
    first = SSLStates(checkpoint=str(hubert), layer=1)
    assert last.n_frames(16000) == 49 == (16000 - 400) // 320 + 1 and last.n_frames(399) == 0
    a = np.load(io.BytesIO(last.featurize(wave)))
    b = np.load(io.BytesIO(first.featurize(wave)))
    assert a.shape == b.shape == (49, 32) and not np.allclose(a, b)
    with pytest.raises(PrepError, match="--ssl-layer 3: .* has 2 layers"):
        SSLStates(checkpoint=str(hubert), layer=3).check()
    with pytest.raises(PrepError, match="needs --ssl-checkpoint"):
        SSLStates().check()


def test_recipe_writes_states_the_model_trains_on(corpus, hubert, mt_checkpoint, tmp_path):
    result = prepare_mustc(corpus.parent, ["de"], features=SSLStates(checkpoint=str(hubert)),
                           vocab_size=100, num_workers=1, progress=False)["de"]
    out = result.out_dir
    assert out == corpus / "ssl" and "input_feat_per_channel: 32" in (out / "config_st.yaml").read_text()
    with zipfile.ZipFile(out / "ssl.zip") as zf:
        member = zf.infolist()[0]
        assert np.load(io.BytesIO(zf.read(member))).shape[1] == 32
    log = run_cli("fairseq-train", train_args(
        out, tmp_path, "--load-pretrained-mt-from", mt_checkpoint, "--conv-layers", "1",
        "--max-update", "1"))
    assert "num_updates=1" in log.stdout + log.stderr
    assert torch.load(tmp_path / "checkpoint_last.pt", weights_only=False)["cfg"]["model"]["input_feat_per_channel"] == 32
