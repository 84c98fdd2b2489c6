"""The demo's scoring: one hypothesis per manifest row, real sacreBLEU with its signature, WER."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "demo"))
from scoring import bleu, chrf, hypotheses, wer  # noqa: E402

GENERATE = "S-1\tx\nD-1\t-0.5\tDas ist gut.\nH-1\t-0.5\t▁Das ▁ist ▁gut .\nD-0\t-0.2\tIch liebe dich.\n"


def test_hypotheses_in_manifest_order_and_gaps_refused():
    assert hypotheses(GENERATE, 2, "t") == ["Ich liebe dich.", "Das ist gut."]
    with pytest.raises(RuntimeError, match="1 of 3 utterances have no hypothesis"):
        hypotheses(GENERATE, 3, "t")


def test_bleu_is_sacrebleu_with_signature():
    result = bleu(["Ich liebe dich sehr."], ["Ich liebe dich sehr."])
    assert result["score"] == 100.0 and result["signature"].startswith("nrefs:1|")


def test_wer_counts_word_edits():
    assert wer(["the cat sat", "hello"], ["the cat sat down", "hello"])["score"] == pytest.approx(20.0)


def test_bleu_carries_a_bootstrap_interval_and_chrf_is_reported():
    hyps = ["Ich liebe dich.", "Das ist nicht gut.", "Wo ist der Bahnhof?", "Es regnet heute."]
    refs = ["Ich liebe dich.", "Das ist gut.", "Wo ist das Haus?", "Es regnet."]
    result = bleu(hyps, refs, n_bootstrap=200)
    assert 0 < result["score"] < 100 and result["ci95"] > 0 and result["n_bootstrap"] == 200
    assert bleu(refs, refs, n_bootstrap=50)["ci95"] == 0.0  # every resample is a perfect match
    scored = chrf(hyps, refs)
    assert 0 < scored["score"] < 100 and scored["signature"].startswith("nrefs:1|")
    assert chrf(refs, refs)["score"] == 100.0


def test_report_table_shows_intervals_and_chrf(tmp_path):
    from report import write_report

    def scores(value):
        return {"score": value, "ci95": 0.8, "n_bootstrap": 1000, "signature": "nrefs:1|sig"}

    system = {"st_bleu_tst-COMMON": scores(3.1), "st_chrf_tst-COMMON": scores(22.4),
              "st_bleu_tst-HE": scores(1.0), "mt_bleu_tst-COMMON": scores(6.2),
              "asr_wer_tst-COMMON": {"score": 68.0, "words": 700}}
    gap = {"probe_accuracy": 1.0, "retrieval_top1": 0.2, "mmd2_rbf": 0.3, "n_sentences": 120}
    results = {"settings": {}, "systems": {"none": system}, "modality_gap": {"none": gap},
               "wall_minutes": 21.7}
    table = write_report(results, tmp_path)
    assert "| multi-task baseline | 3.10 ± 0.80 | 22.4 | 1.00 | 6.20 ± 0.80 | 68.0 |" in table
    assert "1000-sample bootstrap 95 % interval" in (tmp_path / "results.md").read_text()
