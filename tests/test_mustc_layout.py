"""The MuST-C layout writer (fairseq_salign.data.mustc_layout): what it writes reads back through
the recipe's reader, and a write cut short leaves a split that reads as unfinished."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from fairseq_salign.data.mustc import PrepError, read_split
from fairseq_salign.data.mustc_layout import (
    LayoutSegment,
    LayoutTalk,
    write_mustc,
    write_split_text,
)

SR = 16_000


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def tiny_talks():
    return [
        LayoutTalk("train", "ted_1.wav", "spk1", tone(3.0), [
            LayoutSegment(1.5, 1.0, "The house is big.", "Das Haus ist groß."),
            LayoutSegment(0.25, 1.0, "I love you.", "Ich liebe dich."),
        ]),
        LayoutTalk("train", "ted_2.wav", "spk2", tone(2.0, 220.0), [
            LayoutSegment(0.5, 1.2, "Where is the station?", "Wo ist der Bahnhof?"),
        ]),
        LayoutTalk("dev", "ted_3.wav", "spk3", tone(1.5), [
            LayoutSegment(0.1, 1.0, "Thank you!", "Danke!"),
        ]),
    ]


def test_written_layout_reads_back(tmp_path):
    counts = write_mustc(tmp_path, "de", tiny_talks(), splits=("train", "dev", "tst-COMMON"))
    assert counts == {"train": 3, "dev": 1, "tst-COMMON": 0}
    lang_root = tmp_path / "en-de"
    txt = lang_root / "data" / "train" / "txt"
    assert (txt / "train.yaml").read_text(encoding="utf-8").splitlines() == [
        "- {duration: 1.0, offset: 1.5, rW: 4, uW: 0, speaker_id: spk1, wav: ted_1.wav}",
        "- {duration: 1.0, offset: 0.25, rW: 3, uW: 0, speaker_id: spk1, wav: ted_1.wav}",
        "- {duration: 1.2, offset: 0.5, rW: 4, uW: 0, speaker_id: spk2, wav: ted_2.wav}",
    ]
    assert (txt / "train.de").read_text(encoding="utf-8") == (
        "Das Haus ist groß.\nIch liebe dich.\nWo ist der Bahnhof?\n")
    info = sf.info(lang_root / "data" / "train" / "wav" / "ted_1.wav")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 1, 3 * SR, "PCM_16")
    assert not list(tmp_path.rglob(".*.partial"))

    train = read_split(lang_root, "train", "de")
    assert [(s.id, s.src, s.tgt, s.speaker) for s in train.segments] == [
        ("ted_1_1", "The house is big.", "Das Haus ist groß.", "spk1"),  # ids rank by offset
        ("ted_1_0", "I love you.", "Ich liebe dich.", "spk1"),
        ("ted_2_0", "Where is the station?", "Wo ist der Bahnhof?", "spk2"),
    ]
    assert [(s.start, s.end) for s in train.segments] == [(24000, 40000), (4000, 20000),
                                                          (8000, 27200)]
    assert [s.id for s in read_split(lang_root, "dev", "de").segments] == ["ted_3_0"]
    # a declared split without talks is made, with empty text files (as before the writer)
    empty = lang_root / "data" / "tst-COMMON"
    assert (empty / "wav").is_dir()
    texts = [(empty / "txt" / f"tst-COMMON.{x}").read_text() for x in ("en", "de", "yaml")]
    assert texts == ["", "", ""]


def test_an_interrupted_write_leaves_the_split_unfinished(tmp_path):
    write_mustc(tmp_path, "de", tiny_talks())
    lang_root = tmp_path / "en-de"
    assert len(read_split(lang_root, "train", "de").segments) == 3

    def cut_short():  # a rewrite that dies after its first wav
        yield tiny_talks()[0]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_mustc(tmp_path, "de", cut_short())
    # the old yaml went before the first wav: nothing reads as a whole, stale split
    with pytest.raises(PrepError, match="train: missing .*train.yaml"):
        read_split(lang_root, "train", "de")
    # dev was not reached by the rewrite and is still whole
    assert len(read_split(lang_root, "dev", "de").segments) == 1


def test_an_asr_only_split_has_no_translation_file(tmp_path):
    write_mustc(tmp_path, "de", tiny_talks())
    lang_root = tmp_path / "en-de"
    entries = [{"duration": 1.0, "offset": 0.1, "rW": 2, "uW": 0, "speaker_id": "spk3",
                "wav": "ted_3.wav"}]
    write_split_text(lang_root, "dev", "de", entries, ["Thank you!"], None)
    assert not (lang_root / "data" / "dev" / "txt" / "dev.de").exists()  # the stale one is gone
    (seg,) = read_split(lang_root, "dev", "de", translated=False).segments
    assert (seg.src, seg.tgt) == ("Thank you!", "")
    with pytest.raises(ValueError, match="1 yaml entries but 2 transcripts"):
        write_split_text(lang_root, "dev", "de", entries, ["a", "b"], None)
