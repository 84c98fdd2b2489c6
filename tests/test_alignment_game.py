"""The adversarial game alone (no speech): does the real AdversarialAlignment align two clearly
different distributions through a small learnable encoder, and only when the generator is on?"""
import pytest

from fairseq_salign.analysis.toy_alignment import ToyConfig, run

STEPS = 300


@pytest.fixture(scope="module")
def discriminator_only():
    return run(ToyConfig(adversarial_weight=0.0, steps=STEPS))


def test_without_generator_the_modalities_stay_separable(discriminator_only):
    assert discriminator_only["probe_accuracy"] > 0.95
    assert discriminator_only["speech_token_accuracy"] > 0.9, "the task is learnt either way"


@pytest.mark.parametrize(
    "options",
    [{}, {"mixup_prob": 0.5}, {"mixup_prob": 0.5, "mixup_mode": "replace"}],
    ids=["plain", "mixup", "mixup-replace"],
)
def test_generator_drives_a_fresh_probe_towards_chance(options, discriminator_only):
    result = run(ToyConfig(adversarial_weight=1.0, steps=STEPS, **options))
    assert result["probe_accuracy"] < 0.7, result
    assert result["mmd2_rbf"] < 0.5 * discriminator_only["mmd2_rbf"], result
    assert result["speech_token_accuracy"] > 0.9, "alignment must not destroy the content"
