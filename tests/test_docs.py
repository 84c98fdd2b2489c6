"""The README and docs/ keep what they promise: every relative link resolves (file and heading),
the README stays a short guide, and the commands they show use only what exists: each `--option`
given to a salign-* tool is in that tool's own argparse parser (read in-process from the entry
points setup.py installs), and each `make TARGET` is a target of the Makefile. Text only, no
subprocess, no network."""
import argparse
import importlib
import re
import shlex
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple
from unittest import mock
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))  # the pages; docs/*/ holds generated results
LINKED_FILES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
COMMAND_FILES = [README, *DOC_PAGES]
MAX_README_LINES = 210
SHELL_FENCES = ("bash", "sh", "shell")

FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
SEPARATORS = {";", "&&", "||", "|", "&", "\n"}
LEADING_WORDS = {"do", "done", "then", "else", "fi", "time", "!", "exec"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def split_fences(text: str) -> Tuple[str, List[Tuple[str, str]]]:
    """(the text with fenced blocks blanked out, [(info string, block body)])."""
    prose, blocks, fence, info, body = [], [], None, "", []
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence is None and m:
            fence, info, body = m.group(1), m.group(2).lower(), []
            prose.append("")
        elif fence is not None and line.strip().startswith(fence):
            blocks.append((info, "\n".join(body)))
            fence = None
            prose.append("")
        elif fence is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), blocks


# ------------------------------------------------------------------------------------ links
def links(path: Path) -> Iterator[str]:
    prose, _ = split_fences(path.read_text(encoding="utf-8"))
    prose = INLINE_CODE.sub("", prose)
    yield from INLINE_LINK.findall(prose)
    yield from REFERENCE_LINK.findall(prose)


def relative_links(path: Path) -> Iterator[Tuple[str, Path, str]]:
    """(link as written, target path, fragment) for every link that is not a URL."""
    for link in links(path):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        target, _, fragment = link.partition("#")
        target = unquote(target.split("?")[0])
        yield link, (path.parent / target if target else path), unquote(fragment)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: markup and punctuation dropped, lower case, spaces -> '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    prose, _ = split_fences(path.read_text(encoding="utf-8"))
    seen: Dict[str, int] = {}
    out = set()
    for line in prose.split("\n"):
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_every_relative_link_resolves_to_a_file():
    broken = [f"{rel(page)}: ({link})" for page in LINKED_FILES
              for link, target, _ in relative_links(page) if not target.exists()]
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_every_heading_link_names_a_heading():
    broken = []
    for page in LINKED_FILES:
        for link, target, fragment in relative_links(page):
            if fragment and target.suffix == ".md" and target.is_file():
                if fragment.lower() not in anchors(target):
                    broken.append(f"{rel(page)}: ({link})")
    assert not broken, "links to headings that do not exist:\n" + "\n".join(broken)


# ------------------------------------------------------------------------------------ size
def test_readme_is_a_short_guide():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move detail under docs/ "
        "and link it from docs/README.md")


# ------------------------------------------------------------------------------------ commands
def shell_commands(script: str) -> Iterator[List[str]]:
    """Simple commands (word lists) of a shell snippet: continuation lines joined, heredoc
    bodies skipped, split at ; && || | and friends, comments dropped."""
    lines, skip_until = [], None
    for line in script.split("\n"):
        if skip_until is not None:
            if line.strip() == skip_until:
                skip_until = None
            continue
        m = HEREDOC.search(line)
        if m:
            skip_until = m.group(1)
            line = line[:m.start()]
        lines.append(line)
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    for line in joined.split("\n"):
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lex.whitespace_split = True
        lex.commenters = "#"
        try:
            words = list(lex)
        except ValueError:  # unbalanced quotes: fall back to plain words
            words = line.split("#")[0].split()
        command: List[str] = []
        for word in words + ["\n"]:
            if word in SEPARATORS:
                if command:
                    yield command
                command = []
            elif command or not (word in LEADING_WORDS or re.match(r"^\w+=", word)):
                command.append(word)


def documented_commands() -> Iterator[Tuple[Path, List[str]]]:
    """Commands in the shell blocks of the README and docs/*.md, and in inline code spans
    that start with a tool name (`salign-average --ema`, `make test`)."""
    for page in COMMAND_FILES:
        prose, blocks = split_fences(page.read_text(encoding="utf-8"))
        for info, body in blocks:
            if info in SHELL_FENCES:
                for command in shell_commands(body):
                    yield page, command
        for span in INLINE_CODE.findall(prose):
            for command in shell_commands(span.strip("`")):
                yield page, command


def entry_points() -> Dict[str, str]:
    """console_scripts of setup.py: tool -> 'module:function'."""
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    return dict(re.findall(r"[\"'](salign-[\w-]+)\s*=\s*([\w.]+:\w+)[\"']", text))


class _Parsed(Exception):
    pass


def tool_parser(target: str) -> argparse.ArgumentParser:
    """The tool's parser: its module's build_parser(), or the one its main() builds (caught
    when it parses, before anything runs)."""
    module_name, function = target.split(":")
    module = importlib.import_module(module_name)
    if hasattr(module, "build_parser"):
        return module.build_parser()

    def grab(self, *args, **kwargs):
        raise _Parsed(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", grab), \
            mock.patch.object(argparse.ArgumentParser, "parse_known_args", grab):
        try:
            getattr(module, function)([])
        except _Parsed as parsed:
            return parsed.args[0]
    raise AssertionError(f"{target} built no argparse parser")


@pytest.fixture(scope="module")
def tool_options() -> Dict[str, Set[str]]:
    return {tool: {s for action in tool_parser(target)._actions for s in action.option_strings}
            for tool, target in entry_points().items()}


def make_targets() -> Set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").split("\n"):
        m = re.match(r"^([^\t#=:][^=:]*?):(?![=:])", line)
        if m:
            targets.update(m.group(1).split())
        m = re.match(r"^\.PHONY\s*:(.*)", line)
        if m:
            targets.update(m.group(1).split())
    return {t for t in targets if not t.startswith(("$", "."))}


def test_the_tools_entry_points_are_found(tool_options):
    assert {"salign-translate", "salign-export", "salign-average", "salign-analyze"} <= set(tool_options)
    assert all(tool_options.values()), "a tool's parser has no options"


def test_documented_tool_options_exist(tool_options):
    unknown, seen = [], 0
    for page, command in documented_commands():
        tool = Path(command[0]).name
        if tool not in tool_options:
            continue
        seen += 1
        for word in command[1:]:
            option = word.split("=", 1)[0]
            if re.match(r"^--[A-Za-z]", option) and option not in tool_options[tool]:
                unknown.append(f"{rel(page)}: {tool} {option}")
    assert seen, "no salign-* command found in the README and docs (is the parsing broken?)"
    assert not unknown, "options the tools do not have:\n" + "\n".join(sorted(set(unknown)))


def test_documented_make_targets_exist():
    targets = make_targets()
    assert {"test", "demo"} <= targets
    unknown, seen = [], 0
    for page, command in documented_commands():
        if Path(command[0]).name != "make":
            continue
        seen += 1
        for word in command[1:]:
            if re.match(r"^[A-Za-z][\w.-]*$", word) and word not in targets:
                unknown.append(f"{rel(page)}: make {word}")
    assert seen, "no make command found in the README and docs (is the parsing broken?)"
    assert not unknown, "make targets the Makefile does not have:\n" + "\n".join(sorted(set(unknown)))


def test_readme_test_command_is_what_ci_runs():
    """.ci/run runs `make test` on a fresh clone: the README's test command must be that one."""
    readme = [c for p, c in documented_commands() if p == README]
    assert ["make", "test"] in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------ the checker
def test_shell_commands_parsing():
    script = ("FOO=1 .venv/bin/salign-translate --model-dir ${DIR}/m \\\n  --mode both a.wav  # note --x\n"
              "python - <<EOF\nsalign-export --not-an-option\nEOF\n"
              "for m in st mt; do salign-average --ema --output=x.pt; done && make demo\n")
    assert list(shell_commands(script)) == [
        [".venv/bin/salign-translate", "--model-dir", "${DIR}/m", "--mode", "both", "a.wav"],
        ["python", "-"],
        ["for", "m", "in", "st", "mt"],
        ["salign-average", "--ema", "--output=x.pt"],
        ["make", "demo"],
    ]


def test_slugs_follow_github():
    assert slug("Multi-GPU, multi-node and mixed precision") == "multi-gpu-multi-node-and-mixed-precision"
    assert slug("What `make demo` installs") == "what-make-demo-installs"
    assert slug("3. Data imbalance and unpaired alignment") == "3-data-imbalance-and-unpaired-alignment"
    assert slug("Reproduce the paper's setting (En-De)") == "reproduce-the-papers-setting-en-de"
