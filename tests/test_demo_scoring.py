"""The demo's scoring: one hypothesis per manifest row, real sacreBLEU with its signature, WER."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "demo"))
from scoring import bleu, hypotheses, wer  # noqa: E402

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
