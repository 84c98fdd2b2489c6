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
