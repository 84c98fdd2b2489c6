"""The adversarial game alone (no speech): the real AdversarialAlignment between two clearly
different synthetic distributions, each through a small learnable encoder into the real T-enc.

What holds, and is tested: the modal network learns to tell the two apart; the generator acts
on the encoders (it drives the online discriminator's accuracy down). What the method promises,
that a *fresh* probe then can no longer tell them apart, does not hold for any generator
objective or setting measured (docs/ablations.md): that acceptance test is a strict xfail, so the
day a change makes the game align, the suite says so and the test must be promoted.
"""
import pytest

from fairseq_salign.analysis.toy_alignment import ToyConfig, run

STEPS = 300


@pytest.fixture(scope="module")
def generator_off():
    return run(ToyConfig(adversarial_weight=0.0, steps=STEPS))


@pytest.fixture(scope="module")
def generator_on():
    return run(ToyConfig(adversarial_weight=1.0, steps=STEPS))


def test_without_generator_the_modal_network_wins_and_the_spaces_stay_apart(generator_off):
    assert generator_off["disc_acc_speech"] > 0.95 and generator_off["disc_acc_text"] > 0.95
    assert generator_off["probe_accuracy"] > 0.95


def test_the_generator_fools_the_online_modal_network(generator_off, generator_on):
    off = generator_off["disc_acc_speech"] + generator_off["disc_acc_text"]
    on = generator_on["disc_acc_speech"] + generator_on["disc_acc_text"]
    assert on < off - 0.3, (generator_off, generator_on)


@pytest.mark.xfail(strict=True, reason="the game fools its own discriminator without aligning the "
                   "spaces (docs/ablations.md, 'The game on a toy'); promote this test when it does")
@pytest.mark.parametrize(
    "options",
    [{}, {"generator_target": "features"}, {"mixup_prob": 0.5},
     {"mixup_prob": 0.5, "mixup_mode": "replace"}],
    ids=["uniform", "feature-matching", "mixup", "mixup-replace"],
)
def test_generator_drives_a_fresh_probe_towards_chance(options):
    result = run(ToyConfig(adversarial_weight=1.0, steps=STEPS, **options))
    assert result["probe_accuracy"] < 0.7, result
