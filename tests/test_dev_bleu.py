"""--eval-bleu: dev-set corpus BLEU during validation, for checkpoint selection by BLEU."""
import re

import pytest
from conftest import run_cli, train_args
from fairseq import metrics

from fairseq_salign.tasks.dev_bleu import parse_generation_args, reduce_bleu, sufficient_statistics


def test_batch_statistics_sum_to_the_corpus_bleu():
    import sacrebleu

    hyps = ["das ist ein kleiner test", "ich habe heute frei", "wo ist der bahnhof bitte", "gut"]
    refs = ["das ist ein kleiner test", "ich habe morgen frei", "wo ist bitte der bahnhof", "sehr gut"]
    logs = [sufficient_statistics(hyps[:2], refs[:2]), sufficient_statistics(hyps[2:], refs[2:])]
    with metrics.aggregate() as agg:
        reduce_bleu(logs)
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="13a").score
    assert agg.get_smoothed_values()["bleu"] == pytest.approx(round(expected, 2), abs=0.01)


def test_generation_args_must_be_a_json_object():
    assert parse_generation_args('{"beam": 8}').beam == 8
    with pytest.raises(ValueError, match="--eval-bleu-args"):
        parse_generation_args("beam=8")


def test_checkpoints_are_selected_by_dev_bleu(corpus, mt_checkpoint, tmp_path):
    out = run_cli("fairseq-train", train_args(
        corpus, tmp_path, "--load-pretrained-mt-from", mt_checkpoint, "--alignment", "none",
        "--max-update", "2", "--eval-bleu", "--eval-bleu-args", '{"beam": 2, "max_len_b": 10}',
        "--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric",
        "--keep-best-checkpoints", "2",
    ))
    log = out.stdout + out.stderr
    assert re.search(r"valid on 'dev_st' subset .*\| bleu [\d.]+", log), log[-2000:]
    assert list(tmp_path.glob("checkpoint.best_bleu_*.pt")), sorted(p.name for p in tmp_path.iterdir())
