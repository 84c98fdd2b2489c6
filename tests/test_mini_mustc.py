"""Mini MuST-C builder: Ding parsing, voice plan, release layout (with a fake voice, so no TTS
engine or dictionary package is needed), and the prep run on what it builds."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "mustc"))
sys.path.insert(0, str(REPO / "tests"))

import build_mini_mustc  # noqa: E402
from ding_pairs import read_ding_sentences, restrict_vocabulary  # noqa: E402
from mini_corpus import SPLITS, build_corpus, split_sizes  # noqa: E402
from mustc_synth import PAIRS, voice_sentence  # noqa: E402
from tts_voices import Voice, voice_plan  # noqa: E402

from fairseq_salign.data.prep import prepare_mustc  # noqa: E402

DING_SAMPLE = """\
# Version :: devel 2023-01-30
# License :: GPL Version 2 or later; GNU General Public License
Haus {n} | Das Haus ist groß. :: house | The house is big.
Ich liebe dich. :: I love you.
Wo ist der Bahnhof? | Wo ist das? :: Where is the station? | Where is it?
Er hat (viel) Geld. :: He has (a lot of) money.
Ungleich | Teil :: Unequal
Es regnet. :: It rains.
Das ist gut. :: That is good.
"""


def fake_speak(voice, text):
    """Tones instead of speech: deterministic per voice and text."""
    rng = np.random.default_rng(abs(hash((voice.speaker_id, text))) % 2**32)
    return voice_sentence(text, rng, voice.pitch)


def test_ding_keeps_whole_sentence_pairs_only(tmp_path):
    path = tmp_path / "de-en"
    path.write_text(DING_SAMPLE, encoding="utf-8")
    pairs = read_ding_sentences(path, min_words=3)
    assert pairs == [("The house is big.", "Das Haus ist groß."), ("I love you.", "Ich liebe dich."),
                     ("Where is the station?", "Wo ist der Bahnhof?"),
                     ("Where is it?", "Wo ist das?"), ("That is good.", "Das ist gut.")]
    # "is" and "ist" are the most common words: top-2 keeps only pairs made of them... none
    assert restrict_vocabulary(pairs, top_k=2) == []
    assert len(restrict_vocabulary(pairs, top_k=100)) == len(pairs)


def test_missing_sources_name_the_debian_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build_mini_mustc, "missing_engines", lambda: [])
    assert build_mini_mustc.main(["--out", str(tmp_path), "--dictionary",
                                  str(tmp_path / "nope")]) == 1
    assert "install it with: apt-get install trans-de-en" in capsys.readouterr().err
    monkeypatch.setattr(build_mini_mustc, "missing_engines", lambda: ["espeak-ng", "flite"])
    assert build_mini_mustc.main(["--out", str(tmp_path)]) == 1
    assert "install them with: apt-get install espeak-ng flite" in capsys.readouterr().err


def test_voice_plan_keeps_eval_speakers_out_of_train():
    plan = voice_plan(["espeak-ng", "flite"])
    train = {v.speaker_id for v in plan["train"]}
    base = lambda v: (v.engine, v.name)  # noqa: E731
    for split in ("dev", "tst-COMMON", "tst-HE"):
        assert not train & {v.speaker_id for v in plan[split]}
    # dev/tst-COMMON: same voices, other variants; tst-HE: voices never heard in training
    assert {base(v) for v in plan["dev"]} <= {base(v) for v in plan["train"]}
    assert not {base(v) for v in plan["tst-HE"]} & {base(v) for v in plan["train"]}
    assert len(voice_plan(["espeak-ng"])["tst-HE"]) > 0  # one engine still gives tst-HE


def test_build_layout_with_fake_voice_then_prepare(tmp_path):
    plan = {"train": [Voice("fake", "a"), Voice("fake", "b", pitch=1.2)],
            "dev": [Voice("fake", "a", 1.1, 0.9)], "tst-COMMON": [Voice("fake", "b", 0.9, 1.1)],
            "tst-HE": [Voice("fake", "c", 1.0, 1.3)]}
    pairs = PAIRS * 2  # 48 pairs (duplicates are fine for layout)
    counts = build_corpus(tmp_path, "de", pairs, plan, fake_speak, size=60, seed=3)
    assert counts == split_sizes(60) == {"train": 47, "dev": 4, "tst-COMMON": 5, "tst-HE": 4}
    for split in SPLITS:
        txt = tmp_path / "en-de" / "data" / split / "txt"
        entries = yaml.safe_load((txt / f"{split}.yaml").read_text())
        en = (txt / f"{split}.en").read_text(encoding="utf-8").splitlines()
        de = (txt / f"{split}.de").read_text(encoding="utf-8").splitlines()
        assert len(entries) == len(en) == len(de) == counts[split]
        assert list(entries[0]) == ["duration", "offset", "rW", "uW", "speaker_id", "wav"]
        for e in entries:
            info = sf.info(tmp_path / "en-de" / "data" / split / "wav" / e["wav"])
            assert info.samplerate == 16000 and info.channels == 1
            assert e["offset"] + e["duration"] <= info.duration
    res = prepare_mustc(tmp_path, ["de"], vocab_size=200, progress=False)["de"]
    for split in SPLITS:
        with open(res.manifests[split], encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        assert len(rows) == counts[split]  # nothing dropped


def test_too_small_dictionary_for_the_size_is_a_clear_error(tmp_path, monkeypatch, capsys):
    dictionary = tmp_path / "de-en"
    dictionary.write_text(DING_SAMPLE, encoding="utf-8")  # 5 sentence pairs
    monkeypatch.setattr(build_mini_mustc, "missing_engines", lambda: [])
    argv = ["--out", str(tmp_path / "mini"), "--size", "100", "--dictionary", str(dictionary)]
    assert build_mini_mustc.main(argv) == 1
    err = capsys.readouterr().err
    assert "5 sentence pairs cannot fill" in err and "lower --size or raise --vocab-top-k" in err
    assert not (tmp_path / "mini" / "en-de" / "data" / build_mini_mustc.MARKER).exists()


def test_hold_out_asr_only_talks_then_prepare(tmp_path):
    from mini_corpus import ASR_ONLY_SPLIT, hold_out_asr

    plan = {"train": [Voice("fake", "a"), Voice("fake", "b", pitch=1.2)],
            "dev": [Voice("fake", "a", 1.1, 0.9)], "tst-COMMON": [Voice("fake", "b", 0.9, 1.1)],
            "tst-HE": [Voice("fake", "c", 1.0, 1.3)]}
    counts = build_corpus(tmp_path, "de", PAIRS * 2, plan, fake_speak, size=60, seed=3)
    data = tmp_path / "en-de" / "data"
    before = (data / "train" / "txt" / "train.en").read_text().splitlines()
    moved, talks = hold_out_asr(data, "de", 0.3, seed=1)
    held_txt = data / ASR_ONLY_SPLIT / "txt"
    assert not (held_txt / f"{ASR_ONLY_SPLIT}.de").exists(), "no translation is kept"
    held_en = (held_txt / f"{ASR_ONLY_SPLIT}.en").read_text().splitlines()
    train_en = (data / "train" / "txt" / "train.en").read_text().splitlines()
    assert len(held_en) == moved and len(train_en) == counts["train"] - moved > 0
    assert sorted(held_en + train_en) == sorted(before)
    wavs = {e["wav"] for e in yaml.safe_load((held_txt / f"{ASR_ONLY_SPLIT}.yaml").read_text())}
    assert len(wavs) == talks and all((data / ASR_ONLY_SPLIT / "wav" / w).is_file() for w in wavs)
    assert not any((data / "train" / "wav" / w).exists() for w in wavs), "whole talks move"
    res = prepare_mustc(tmp_path, ["de"], asr_only_splits=[ASR_ONLY_SPLIT], vocab_size=200,
                        progress=False)["de"]
    assert res.manifests[ASR_ONLY_SPLIT].name == "train_asr_asr.tsv"
    with open(res.manifests[ASR_ONLY_SPLIT], encoding="utf-8") as f:
        assert len(list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))) == moved


def test_ding_pairs_outside_the_corpus_as_a_text_only_split(tmp_path):
    import ding_pairs

    from fairseq_salign.data.text_corpus import read_text_split

    dictionary = tmp_path / "de-en"
    dictionary.write_text(DING_SAMPLE, encoding="utf-8")
    txt = tmp_path / "en-de" / "data" / "train_asr" / "txt"
    txt.mkdir(parents=True)
    (txt / "train_asr.en").write_text("i love you.\n", encoding="utf-8")  # an ASR-only sentence
    assert ding_pairs.main(["--data-root", str(tmp_path), "--dictionary", str(dictionary)]) == 0
    split = read_text_split(tmp_path / "en-de", "ding", "de")
    english = [en for _, en, _ in split.pairs]
    assert "I love you." not in english and "The house is big." in english
    # a re-run does not read its own output as corpus text
    assert ding_pairs.main(["--data-root", str(tmp_path), "--dictionary", str(dictionary)]) == 0
    assert [en for _, en, _ in read_text_split(tmp_path / "en-de", "ding", "de").pairs] == english
