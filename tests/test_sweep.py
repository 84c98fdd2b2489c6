"""The demo sweeps' shared runner (examples/demo/sweep.py): resume from the JSONL of finished runs,
a torn last line, the seed loop, one whole line per run, and the paired sacreBLEU test."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "demo"))
from sweep import Sweep, paired_test, paired_tests, train_curve  # noqa: E402

REFS = ["Ich liebe dich sehr.", "Das ist ein gutes Haus.", "Wo ist der Bahnhof heute?",
        "Es regnet heute den ganzen Tag.", "Der Hund schläft im Garten.", "Wir gehen morgen ins Kino."]
WEAK = ["Ich dich.", "Das Haus.", "Wo ist?", "Es regnet.", "Der Hund.", "Wir gehen."]


def test_seeds_outermost_then_axes_in_order(tmp_path):
    runs = Sweep(tmp_path / "runs.jsonl")
    assert list(runs.pending([1, 2], data=["a", "b"], system=["x", "y"])) == [
        (1, "a", "x"), (1, "a", "y"), (1, "b", "x"), (1, "b", "y"),
        (2, "a", "x"), (2, "a", "y"), (2, "b", "x"), (2, "b", "y")]


def test_a_rerun_skips_the_recorded_runs(tmp_path):
    path = tmp_path / "runs.jsonl"
    first = Sweep(path)
    for seed, variant in first.pending([1, 2], variant=["none", "soft"]):
        if (seed, variant) != (2, "soft"):  # the sweep was cut off before its last run
            first.record({"variant": variant, "seed": seed, "scores": {"bleu": seed}})
    again = Sweep(path)
    assert list(again.pending([1, 2, 3], variant=["none", "soft"])) == [(2, "soft"), (3, "none"), (3, "soft")]
    assert [(r["variant"], r["seed"]) for r in again.records] == [("none", 1), ("soft", 1), ("none", 2)]
    assert again.torn == 0


def test_a_record_is_one_whole_line_or_nothing(tmp_path):
    path = tmp_path / "runs.jsonl"
    runs = Sweep(path)
    runs.record({"variant": "none", "seed": 1})
    with pytest.raises(TypeError):  # not serialisable: nothing of it may reach the file
        runs.record({"variant": "soft", "seed": 1, "gap": object()})
    runs.record({"variant": "hard", "seed": 1})
    assert path.read_text() == '{"variant": "none", "seed": 1}\n{"variant": "hard", "seed": 1}\n'


def test_a_torn_last_line_is_counted_set_aside_and_run_again(tmp_path, capsys):
    path = tmp_path / "runs.jsonl"
    whole = json.dumps({"variant": "none", "seed": 1, "scores": {}}) + "\n"
    path.write_text(whole + '{"variant": "soft", "seed": 1, "sco')  # interrupted mid-write
    runs = Sweep(path)
    assert runs.torn == 1 and "1 torn line" in capsys.readouterr().err
    assert list(runs.pending([1], variant=["none", "soft"])) == [(1, "soft")]
    assert (tmp_path / "runs.jsonl.torn").read_text() == '{"variant": "soft", "seed": 1, "sco\n'
    runs.record({"variant": "soft", "seed": 1, "scores": {}})
    # what the report scripts read: every line a whole record
    assert [json.loads(line)["variant"] for line in path.read_text().splitlines()] == ["none", "soft"]


def test_only_the_last_line_can_be_torn(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"variant": "none", "seed": 1}\n{"variant": "so\n{"variant": "hard", "seed": 1}\n')
    with pytest.raises(SystemExit, match="line 2: not a JSON record"):
        Sweep(path)


def test_a_whole_last_record_that_lost_its_newline_is_kept(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"variant": "none", "seed": 1}')
    runs = Sweep(path)
    assert runs.torn == 0 and list(runs.pending([1], variant=["none"])) == []
    runs.record({"variant": "soft", "seed": 1})
    assert [json.loads(line)["variant"] for line in path.read_text().splitlines()] == ["none", "soft"]


def test_paired_test_scores_the_system_against_the_baseline():
    better = paired_test(WEAK, REFS, REFS)
    worse = paired_test(REFS, WEAK, REFS)
    assert set(better) == {"p_value", "mean", "ci95"}
    assert better["mean"] == pytest.approx(100.0) and worse["mean"] == pytest.approx(0.0)
    assert 0 < better["p_value"] < 0.05


def test_paired_tests_only_against_baselines_that_ran(tmp_path):
    (tmp_path / "none_s1.txt").write_text("\n".join(WEAK) + "\n", encoding="utf-8")
    tests = paired_tests({"st_vs_none": tmp_path / "none_s1.txt", "st_vs_soft": tmp_path / "soft_s1.txt"},
                         REFS, REFS)
    assert list(tests) == ["st_vs_none"] and tests["st_vs_none"] == paired_test(WEAK, REFS, REFS)


def test_train_curve_reads_fairseqs_train_inner_lines():
    log = ("2024 | INFO | train_inner | epoch 001:  5 / 9 loss=3.1, lr=2e-03, num_updates=5\n"
           "2024 | INFO | valid | epoch 001 | loss 2.9 | num_updates 9\n"
           "2024 | INFO | train_inner | epoch 002:  1 / 9 loss=2.5, disc_acc_speech=0.75, num_updates=10\n")
    assert train_curve(log) == [(5, {"loss": 3.1, "lr": 0.002, "num_updates": 5.0}),
                                (10, {"loss": 2.5, "disc_acc_speech": 0.75, "num_updates": 10.0})]
