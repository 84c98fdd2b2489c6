"""English-German sentence pairs from the Ding dictionary (Debian ``trans-de-en``, GPL-2+).

Lines look like ``german :: english``; each half holds ``|``-separated sub-entries that
correspond one to one. Most entries are words or phrases; the whole sentences among them (capital
first letter, final ``.``/``!``/``?``, no annotations) are conversational English-German pairs.
Keeping only pairs whose words are all among the most common ones on both sides gives a
vocabulary a CPU model can learn in minutes.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

DING_PATH = Path("/usr/share/trans/de-en")
DING_LICENSE = "Ding dictionary (TU Chemnitz, Frank Richter), GPL-2+ - Debian package trans-de-en"
_ANNOTATION = re.compile(r"[{}\[\]()<>/;=~+\"@#*0-9]")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")


def is_sentence(text: str) -> bool:
    """A plain sentence: capitalised, ending in . ! or ?, no dictionary annotations."""
    return (
        len(text) > 1 and text[0].isupper() and text[-1] in ".!?"
        and not _ANNOTATION.search(text) and "..." not in text and " - " not in text
    )


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def read_ding_sentences(path: Path = DING_PATH, min_words: int = 3,
                        max_words: int = 12) -> list[tuple[str, str]]:
    """All (English, German) whole-sentence pairs, deduplicated by the English side."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the English-German pairs come from the Ding dictionary; "
            f"install it with: apt-get install trans-de-en")
    pairs, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or " :: " not in line:
                continue
            de_half, en_half = line.rstrip("\n").split(" :: ", 1)
            de_parts, en_parts = de_half.split(" | "), en_half.split(" | ")
            if len(de_parts) != len(en_parts):
                continue
            for de, en in zip(de_parts, en_parts):
                de, en = de.strip(), en.strip()
                if not (is_sentence(de) and is_sentence(en)):
                    continue
                if not (min_words <= len(words(en)) <= max_words) or en.lower() in seen:
                    continue
                seen.add(en.lower())
                pairs.append((en, de))
    return pairs


def restrict_vocabulary(pairs: list[tuple[str, str]], top_k: int = 2000) -> list[tuple[str, str]]:
    """Pairs whose every word is among the ``top_k`` most frequent words of its side."""
    en_counts = Counter(w for en, _ in pairs for w in words(en))
    de_counts = Counter(w for _, de in pairs for w in words(de))
    en_vocab = {w for w, _ in en_counts.most_common(top_k)}
    de_vocab = {w for w, _ in de_counts.most_common(top_k)}
    return [(en, de) for en, de in pairs
            if set(words(en)) <= en_vocab and set(words(de)) <= de_vocab]


def pairs_outside(data_dir: Path, path: Path = DING_PATH, skip: tuple = ()) -> list[tuple[str, str]]:
    """Ding sentence pairs whose English occurs in no split of a MuST-C-layout corpus (every
    ``data_dir/*/txt/*.en`` but the ``skip`` splits): external MT data that leaks no evaluation
    sentence, and no translation of an ASR-only segment."""
    used = set()
    for english in sorted(Path(data_dir).glob("*/txt/*.en")):
        if english.parent.parent.name not in skip:
            with open(english, encoding="utf-8") as f:
                used |= {line.strip().lower() for line in f}
    return [(en, de) for en, de in read_ding_sentences(path) if en.lower() not in used]


def main(argv=None) -> int:
    """Write the Ding pairs outside a corpus as a text-only split of the recipe
    (``--mt-only-splits NAME`` of prep_mustc_data.py)."""
    import argparse
    import os
    import sys

    p = argparse.ArgumentParser(description=main.__doc__.split("\n\n")[0])
    p.add_argument("--data-root", required=True, type=Path, help="the corpus root (holds en-de/data)")
    p.add_argument("--split", default="ding", help="name of the text-only split to write (the recipe then writes NAME_mt.tsv)")
    p.add_argument("--dictionary", type=Path, default=DING_PATH, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    data_dir = args.data_root / "en-de" / "data"
    if not data_dir.is_dir():
        print(f"error: {data_dir} not found (build or unpack the corpus first)", file=sys.stderr)
        return 1
    try:
        pairs = pairs_outside(data_dir, args.dictionary, skip=(args.split,))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    txt = data_dir / args.split / "txt"
    txt.mkdir(parents=True, exist_ok=True)
    for lang, side in (("en", 0), ("de", 1)):
        tmp = txt / f".{args.split}.{lang}.partial"
        tmp.write_text("".join(pair[side] + "\n" for pair in pairs), encoding="utf-8")
        os.replace(tmp, txt / f"{args.split}.{lang}")
    print(f"{len(pairs)} Ding pairs not in the corpus -> {txt}/{args.split}.{{en,de}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
