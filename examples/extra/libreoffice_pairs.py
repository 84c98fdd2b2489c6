"""English-German sentence pairs from the LibreOffice help, as an MT-only split of the recipe.

Source: Debian ``libreoffice-help-en-us`` and ``libreoffice-help-de`` (LibreOffice help, MPL-2.0,
The Document Foundation; see ``usr/share/doc/libreoffice-help-*/copyright`` in the packages).
The packages ship the help as HTML pages compiled from the .xhp sources, one tree per language
(``usr/share/libreoffice/help/{en-US,de}/text/**/*.html``), in which every paragraph and heading
keeps its source ``id`` (``par_id...``, ``hd_id...``). Paragraphs are aligned by (page path below
the language root, id, occurrence), cleaned to plain text, filtered, and written line-aligned as
``ROOT/en-de/data/SPLIT/txt/SPLIT.{en,de}`` for ``prep_mustc_data.py --mt-only-splits SPLIT``.

Platform/application variants (``switchinline``/``switch`` spans, one hidden child per case:
MAC, WIN, UNIX, CALC, WRITER, ... and ``default``) keep only the ``default`` case, the generic
text, the same choice in both languages: a sentence never mixes variants and Mac key names
(Command, Option) do not leak in; where there is no default the span adds nothing.

    python examples/extra/libreoffice_pairs.py --download /work/lo-debs --data-root ROOT
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

PACKAGES = {"en": "libreoffice-help-en-us", "de": "libreoffice-help-de"}
HELP_DIRS = {"en": "en-US", "de": "de"}
HELP_ROOT = Path("usr/share/libreoffice/help")
PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
VOID_TAGS = {"br", "img", "input", "meta", "link", "hr", "wbr", "col", "area", "embed", "source"}
SKIP_TAGS = {"script", "style"}
_SPACES = re.compile(r"\s+")


class ParagraphParser(HTMLParser):
    """Collects ``(id, text)`` for every ``<p>``/``<h1-6>`` with an id, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[tuple[str, str]] = []
        self._pid: str | None = None
        self._ptag = ""
        self._parts: list[str] = []
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, is switch, hidden)

    def _close(self) -> None:
        if self._pid is not None:
            self.paragraphs.append((self._pid, _SPACES.sub(" ", "".join(self._parts)).strip()))
        self._pid, self._parts, self._stack = None, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in PARAGRAPH_TAGS:  # HTML paragraphs do not nest: a new one ends the open one
            self._close()
            pid = a.get("id") or ""
            if pid and not pid.startswith("bm_"):  # bm_*: empty index metadata
                self._pid, self._ptag = pid, tag
            return
        if self._pid is None:
            return
        if tag == "br":
            self._parts.append(" ")
        if tag in VOID_TAGS:
            return
        parent_switch = bool(self._stack) and self._stack[-1][1]
        hidden = (bool(self._stack) and self._stack[-1][2]) or tag in SKIP_TAGS
        if parent_switch and not (a.get("id") or "").startswith("default"):
            hidden = True  # a platform/application case other than the default
        is_switch = tag == "span" and (a.get("class") or "") in ("switchinline", "switch")
        self._stack.append((tag, is_switch, hidden))

    def handle_endtag(self, tag):
        if self._pid is None:
            return
        if tag == self._ptag:
            self._close()
            return
        for i in range(len(self._stack) - 1, -1, -1):  # tolerate unclosed inner tags
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        if self._pid is not None and not (self._stack and self._stack[-1][2]):
            self._parts.append(data)

    def close(self):
        super().close()
        self._close()


def read_page(path: Path) -> list[tuple[str, str]]:
    parser = ParagraphParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser.paragraphs


def page_paragraphs(lang_root: Path) -> dict[tuple[str, str, int], str]:
    """``(page, id, k) -> text`` for the k-th paragraph with that id on the page."""
    out = {}
    for path in sorted(lang_root.rglob("*.html")):
        page = path.relative_to(lang_root).as_posix()
        seen: Counter = Counter()
        for pid, text in read_page(path):
            out[(page, pid, seen[pid])] = text
            seen[pid] += 1
    return out


def language_root(tree: Path, lang: str) -> Path:
    """The help tree of one language, given an extracted package or the language folder."""
    for cand in (tree / HELP_ROOT / HELP_DIRS[lang], tree):
        if (cand / "text").is_dir():
            return cand
    raise SystemExit(
        f"error: {tree} holds no LibreOffice help for {lang!r}: expected "
        f"{tree / HELP_ROOT / HELP_DIRS[lang] / 'text'} (extract the package with "
        f"`dpkg-deb -x {PACKAGES[lang]}_*.deb {tree}`, or pass --download DIR)")


def download(dest: Path) -> dict[str, Path]:
    """``apt-get download`` + ``dpkg-deb -x`` into ``dest/PACKAGE`` unless already there."""
    dest.mkdir(parents=True, exist_ok=True)
    trees = {lang: dest / pkg for lang, pkg in PACKAGES.items()}
    missing = [lang for lang, t in trees.items() if not (t / HELP_ROOT / HELP_DIRS[lang]).is_dir()]
    for lang in missing:
        pkg = PACKAGES[lang]
        debs = sorted(dest.glob(f"{pkg}_*.deb"))
        cmd = ["apt-get", "download", pkg]
        if not debs:
            if shutil.which("apt-get") is None:
                raise SystemExit(f"error: apt-get not found; on a Debian/Ubuntu machine run "
                                 f"`cd {dest} && apt-get update && {' '.join(cmd)}`, "
                                 f"or pass --en-tree/--de-tree")
            r = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
            debs = sorted(dest.glob(f"{pkg}_*.deb"))
            if r.returncode != 0 or not debs:
                raise SystemExit(f"error: `{' '.join(cmd)}` failed in {dest} "
                                 f"(exit {r.returncode}): {r.stderr.strip()[-500:]}\n"
                                 f"run `apt-get update` first (as root), then "
                                 f"`cd {dest} && {' '.join(cmd)}`")
        tmp = dest / f".{pkg}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)], check=True)
        os.replace(tmp, trees[lang])
    return trees


@dataclass
class Filters:
    min_words: int = 3       # fewer English words: a label or a menu name, not a sentence
    max_words: int = 50      # more English words: too long for the recipe's batches
    max_pairs: int | None = None  # deterministic sample of this many pairs
    seed: int = 1            # seed of that sample
    exclude: set[str] = field(default_factory=set)  # casefolded English sentences to leave out


def _key(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


def align(en: dict, de: dict, f: Filters) -> tuple[list[tuple[str, str]], Counter]:
    """Filtered, deduplicated (English, German) pairs in page order, and each drop reason's count."""
    drops: Counter = Counter()
    drops["no German paragraph with that page and id"] = sum(k not in de for k in en)
    drops["German paragraph with no English one"] = (
        sum(k not in en for k in de))
    pairs, seen_pairs, seen_en = [], set(), set()
    for key, src in en.items():
        if key not in de:
            continue
        tgt, n = de[key], len(src.split())
        reason = ("empty" if not src or not tgt else
                  f"fewer than {f.min_words} English words" if n < f.min_words else
                  f"more than {f.max_words} English words" if n > f.max_words else
                  "untranslated (German == English)" if src == tgt else
                  "duplicate pair" if (src, tgt) in seen_pairs else
                  "English repeated with another German" if src in seen_en else
                  "excluded (--exclude)" if _key(src) in f.exclude else None)
        seen_pairs.add((src, tgt))
        seen_en.add(src)
        if reason:
            drops[reason] += 1
        else:
            pairs.append((src, tgt))
    if f.max_pairs is not None and len(pairs) > f.max_pairs:
        keep = sorted(random.Random(f.seed).sample(range(len(pairs)), f.max_pairs))
        drops["not in the --max-pairs sample"] = len(pairs) - f.max_pairs
        pairs = [pairs[i] for i in keep]
    return pairs, drops


def write_split(root: Path, split: str, pairs: list[tuple[str, str]]) -> dict[str, Path]:
    """``root/en-de/data/split/txt/split.{en,de}``, each through a temp name and os.replace."""
    txt = root / "en-de" / "data" / split / "txt"
    txt.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, lang in enumerate(("en", "de")):
        path = txt / f"{split}.{lang}"
        tmp = path.with_name(f".{path.name}.partial")
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(pair[i] + "\n" for pair in pairs)
        out[lang] = tmp
    for lang, tmp in out.items():
        out[lang] = tmp.with_name(tmp.name[1:-len(".partial")])
        os.replace(tmp, out[lang])
    return out


def read_exclude(paths: list[Path]) -> set[str]:
    out = set()
    for p in paths:
        if not p.is_file():
            raise SystemExit(f"error: --exclude {p}: no such file")
        out.update(_key(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--en-tree", type=Path, help="extracted libreoffice-help-en-us (or its en-US folder)")
    p.add_argument("--de-tree", type=Path, help="extracted libreoffice-help-de (or its de folder)")
    p.add_argument("--download", type=Path, metavar="DIR",
                   help="apt-get download + dpkg-deb -x both packages into DIR/PACKAGE when "
                        "not there yet; the default for --en-tree/--de-tree")
    p.add_argument("--data-root", type=Path, required=True, help="corpus root (prep's --data-root)")
    p.add_argument("--split", default="libreoffice", help="split name (prep's --mt-only-splits)")
    p.add_argument("--min-words", type=int, default=3, help="drop pairs with fewer English words")
    p.add_argument("--max-words", type=int, default=50, help="drop pairs with more English words")
    p.add_argument("--max-pairs", type=int, help="keep a deterministic sample of this many pairs")
    p.add_argument("--seed", type=int, default=1, help="seed of the --max-pairs sample")
    p.add_argument("--exclude", type=Path, nargs="+", default=[], metavar="FILE",
                   help="files of English sentences, one a line, to leave out (case-insensitive), "
                        "e.g. the corpus' test sets")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.time()
    trees = download(args.download) if args.download else {}
    trees = {"en": args.en_tree or trees.get("en"), "de": args.de_tree or trees.get("de")}
    if None in trees.values():
        raise SystemExit("error: give --en-tree and --de-tree, or --download DIR")
    if args.max_pairs is not None and args.max_pairs < 1:
        raise SystemExit(f"error: --max-pairs {args.max_pairs}: must be >= 1")
    filters = Filters(args.min_words, args.max_words, args.max_pairs, args.seed,
                      read_exclude(args.exclude))
    en = page_paragraphs(language_root(trees["en"], "en"))
    de = page_paragraphs(language_root(trees["de"], "de"))
    pairs, drops = align(en, de, filters)
    if not pairs:
        raise SystemExit(f"error: no pair left of {len(en)} English paragraphs ({dict(drops)})")
    paths = write_split(args.data_root, args.split, pairs)
    print(f"{len(en)} English / {len(de)} German paragraphs -> {len(pairs)} pairs "
          f"in {paths['en']} and {paths['de']}")
    for reason, n in drops.most_common():
        print(f"  dropped: {reason}: {n}")
    avg = lambda i: sum(len(p[i].split()) for p in pairs) / len(pairs)  # noqa: E731
    print(f"  words per line: English {avg(0):.1f}, German {avg(1):.1f}; "
          f"{time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
