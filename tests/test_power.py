"""The comparison's paired bootstrap of the BLEU difference (examples/demo/power.py)."""
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "demo"))
from power import corpus_bleu, paired_delta, pooled_delta, sentence_stats  # noqa: E402

WORDS = "der die das ein eine ist war hat und oder nicht sehr gut klein groß Haus Hund Katze".split()


def corpus(n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))) for _ in range(n)]


def degrade(sentences, share, seed):
    """Replace a word of ``share`` of the sentences."""
    rng = random.Random(seed)
    out = []
    for s in sentences:
        words = s.split()
        if rng.random() < share:
            words[rng.randrange(len(words))] = "xyz"
        out.append(" ".join(words))
    return out


def test_statistics_reproduce_sacrebleus_corpus_score():
    from sacrebleu import corpus_bleu as sacre

    refs = corpus(50, 1)
    hyps = degrade(refs, 0.5, 2)
    assert abs(corpus_bleu(sentence_stats(hyps, refs)) - sacre(hyps, [refs]).score) < 1e-9


def test_a_system_against_itself_is_no_difference():
    refs = corpus(80, 1)
    stats = sentence_stats(degrade(refs, 0.5, 2), refs)
    result = paired_delta(stats, stats, n_samples=200)
    assert result["delta"] == 0 and result["p_value"] == 1.0 and result["ci95"] == [0.0, 0.0]


def test_a_clearly_better_system_is_resolved_and_the_interval_shrinks_with_more_sentences():
    refs = corpus(600, 1)
    base, better = degrade(refs, 0.9, 2), degrade(refs, 0.3, 3)
    small = paired_delta(sentence_stats(base[:60], refs[:60]), sentence_stats(better[:60], refs[:60]), n_samples=300)
    large = paired_delta(sentence_stats(base, refs), sentence_stats(better, refs), n_samples=300)
    assert large["delta"] > 0 and large["ci95"][0] > 0 and large["p_value"] < 0.01
    assert large["mdd"] < small["mdd"]
    pooled = pooled_delta([(base, better), (base, better)], refs, n_samples=100)
    assert pooled["n_sentences"] == 1200 and abs(pooled["delta"] - large["delta"]) < 1e-9


def test_chrf_statistics_reproduce_sacrebleus_corpus_chrf():
    from sacrebleu import corpus_chrf

    refs = corpus(50, 1)
    hyps = degrade(refs, 0.5, 2)
    assert abs(corpus_bleu(sentence_stats(hyps, refs, "chrf"), "chrf") - corpus_chrf(hyps, [refs]).score) < 1e-9
