"""LibreOffice help pairs: alignment by page + id, markup cleaning, counted drops, recipe layout.

A synthetic two-language tree shaped like the Debian packages' HTML help (no packages needed).
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import libreoffice_pairs as lo  # noqa: E402
from fairseq_salign.data.text_corpus import read_text_split  # noqa: E402

HEAD = ('<!DOCTYPE html><html><head><title>t</title><script>var x = "<p id=par_x>no</p>";'
        '</script></head><body><div id="DisplayArea"><p id="bm_system" dir="auto"></p>\n')


def switch(mac: str, default: str) -> str:
    return (f'<span id="swlnsys_1" class="switchinline"><span hidden="true" id="MACtext_1" '
            f'class="MAC">{mac}</span><span hidden="true" id="defaulttext_1">{default}</span></span>')


EN = {
    "text/shared/a.html": [
        ('p', 'par_id1', 'Click <span class="emph">Insert</span> to add a\n  '
                         '<a href="x.html">chart</a>.'),
        ('p', 'par_id2', f'Press {switch("Command", "Ctrl")}+S to save the document.'),
        ('h2', 'hd_id3', 'LibreOffice Basic IDE'),
        ('p', 'par_id4', 'Click OK.'),
        ('p', 'par_id6', 'Click <span class="emph">Insert</span> to add a '
                         '<a href="x.html">chart</a>.'),
        ('p', 'par_id7', 'This paragraph has no German page counterpart.'),
        ('p', 'par_id8', 'One two three four five six seven eight nine ten eleven.'),
        ('p', 'par_id9', 'This sentence is in the test set.'),
        ('p', 'par_id10', 'Choose a range<span id="swlnappl_2" class="switchinline">'
                          '<span hidden="true" id="CALCtext_2" class="CALC"> in Calc only</span>'
                          '</span>, then click Sort.'),
    ],
    "text/swriter/b.html": [
        ('p', 'par_id1', 'Click <span class="emph">Insert</span> to add a '
                         '<a href="x.html">chart</a>.'),
        ('p', 'par_id5', 'Tables hold <span class="literal">rows</span> and columns.<br>Really.'),
    ],
}
DE = {
    "text/shared/a.html": [
        ('p', 'par_id1', 'Klicken Sie auf <span class="emph">Einfügen</span>, um ein '
                         '<a href="x.html">Diagramm</a> einzufügen.'),
        ('p', 'par_id2', f'Drücken Sie {switch("Befehl", "Strg")}+S, um das Dokument zu speichern.'),
        ('h2', 'hd_id3', 'LibreOffice Basic IDE'),
        ('p', 'par_id4', 'Klicken Sie auf OK.'),
        ('p', 'par_id6', 'Wählen Sie Einfügen, um ein Diagramm hinzuzufügen.'),
        ('p', 'par_id8', 'Eins zwei drei vier fünf sechs sieben acht neun zehn elf.'),
        ('p', 'par_id9', 'Dieser Satz ist im Testset.'),
        ('p', 'par_id10', 'Wählen Sie einen Bereich<span id="swlnappl_2" class="switchinline">'
                          '<span hidden="true" id="CALCtext_2" class="CALC"> nur in Calc</span>'
                          '</span> und klicken Sie auf Sortieren.'),
        ('p', 'par_id11', 'Nur auf Deutsch.'),
    ],
    "text/swriter/b.html": [
        ('p', 'par_id1', 'Klicken Sie auf <span class="emph">Einfügen</span>, um ein '
                         '<a href="x.html">Diagramm</a> einzufügen.'),
        ('p', 'par_id5', 'Tabellen haben <span class="literal">Zeilen</span> und Spalten.<br>Wirklich.'),
    ],
}
PAIRS = [
    ("Click Insert to add a chart.", "Klicken Sie auf Einfügen, um ein Diagramm einzufügen."),
    ("Press Ctrl+S to save the document.", "Drücken Sie Strg+S, um das Dokument zu speichern."),
    ("Choose a range, then click Sort.", "Wählen Sie einen Bereich und klicken Sie auf Sortieren."),
    ("Tables hold rows and columns. Really.", "Tabellen haben Zeilen und Spalten. Wirklich."),
]
DROPS = {
    "fewer than 3 English words": 1,
    "more than 10 English words": 1,
    "untranslated (German == English)": 1,
    "duplicate pair": 1,
    "English repeated with another German": 1,
    "excluded (--exclude)": 1,
    "no German paragraph with that page and id": 1,
    "German paragraph with no English one": 1,
}


def write_tree(root: Path, lang_dir: str, pages: dict) -> Path:
    """An extracted package: root/usr/share/libreoffice/help/LANG/text/..."""
    for page, paras in pages.items():
        path = root / lo.HELP_ROOT / lang_dir / page
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(f'<{t} id="{i}" class="paragraph" dir="auto">{x}</{t}>' for t, i, x in paras)
        path.write_text(HEAD + body + "\n</div></body></html>\n", encoding="utf-8")
    return root


@pytest.fixture
def trees(tmp_path):
    return (write_tree(tmp_path / "en", "en-US", EN), write_tree(tmp_path / "de", "de", DE))


def run(tmp_path, trees, *extra):
    exclude = tmp_path / "tst.en"
    exclude.write_text("this SENTENCE is in the test set.\n", encoding="utf-8")
    root = tmp_path / "out"
    rc = lo.main(["--en-tree", str(trees[0]), "--de-tree", str(trees[1]), "--data-root", str(root),
                  "--max-words", "10", "--exclude", str(exclude), *extra])
    assert rc == 0
    return root / "en-de"


def test_pairs_drops_and_recipe_reads_them(tmp_path, trees, capsys):
    lang_root = run(tmp_path, trees)
    txt = lang_root / "data" / "libreoffice" / "txt"
    en = (txt / "libreoffice.en").read_text(encoding="utf-8").splitlines()
    de = (txt / "libreoffice.de").read_text(encoding="utf-8").splitlines()
    assert list(zip(en, de)) == PAIRS
    assert sorted(p.name for p in txt.iterdir()) == ["libreoffice.de", "libreoffice.en"]  # no temp
    out = capsys.readouterr().out
    for reason, n in DROPS.items():
        assert f"dropped: {reason}: {n}\n" in out
    assert out.count("dropped:") == len(DROPS)
    split = read_text_split(lang_root, "libreoffice", "de")
    assert [(en, de) for _, en, de in split.pairs] == PAIRS


def test_align_counts_every_paragraph(trees):
    en = lo.page_paragraphs(lo.language_root(trees[0], "en"))
    de = lo.page_paragraphs(lo.language_root(trees[1], "de"))
    # neither the <script> text nor the bm_* metadata are paragraphs
    assert len(en) == sum(len(p) for p in EN.values())
    filters = lo.Filters(max_words=10, exclude={"this sentence is in the test set."})
    pairs, drops = lo.align(en, de, filters)
    assert pairs == PAIRS
    assert dict(drops) == DROPS
    assert len(pairs) + sum(drops.values()) == len(en) + drops["German paragraph with no English one"]


def test_max_pairs_sample_is_deterministic(tmp_path, trees, capsys):
    def sample(seed):
        txt = run(tmp_path, trees, "--max-pairs", "2", "--seed", str(seed)) / "data/libreoffice/txt"
        return list(zip(*(p.read_text(encoding="utf-8").splitlines()
                          for p in (txt / "libreoffice.en", txt / "libreoffice.de"))))
    first = sample(3)
    assert first == sample(3) and len(first) == 2 and set(first) <= set(PAIRS)
    assert [p for p in PAIRS if p in first] == first  # page order kept
    assert "dropped: not in the --max-pairs sample: 2\n" in capsys.readouterr().out


def test_download_without_apt_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(lo.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="apt-get download libreoffice-help-en-us"):
        lo.download(tmp_path / "debs")


def test_download_reuses_extracted_trees(tmp_path, monkeypatch):
    write_tree(tmp_path / "libreoffice-help-en-us", "en-US", EN)
    write_tree(tmp_path / "libreoffice-help-de", "de", DE)
    monkeypatch.setattr(lo.subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    trees = lo.download(tmp_path)
    assert trees == {"en": tmp_path / "libreoffice-help-en-us", "de": tmp_path / "libreoffice-help-de"}


def test_tree_without_help_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="dpkg-deb -x libreoffice-help-de"):
        lo.language_root(tmp_path, "de")
