"""Source-side transcript normalization (lower-case, no punctuation), as the S-Align authors
prepared MuST-C transcripts for the CTC/alignment objectives. Targets are never normalized."""
from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_INNER_APOSTROPHE = {"'", "\u2019"}  # kept between letters: "don't", "it's"


def normalize_source(text: str) -> str:
    """Lower-case and replace Unicode punctuation by spaces, keeping word-internal apostrophes.

    ``"(Laughter) Well -- it's "new"!"`` -> ``"laughter well it's new"``. Symbols such as ``%``
    or ``$`` are kept: they are spoken.
    """
    chars = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch).startswith("P"):
            if (
                ch in _INNER_APOSTROPHE
                and 0 < i < len(text) - 1
                and text[i - 1].isalnum()
                and text[i + 1].isalnum()
            ):
                chars.append("'")
            else:
                chars.append(" ")
        else:
            chars.append(ch)
    return _SPACES.sub(" ", "".join(chars)).strip().lower()


def clean_field(text: str) -> str:
    """Tabs and line breaks would break a TSV row: turn every whitespace run into one space."""
    return _SPACES.sub(" ", text).strip()
