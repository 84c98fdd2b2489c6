#!/usr/bin/env python3
"""Expand a recipe config (``examples/mustc/conf/*.yaml``) into command-line options.

    python examples/mustc/conf_args.py CONF common mt     # -> --arch, s2t_salign_s, ... (one per line)
    python examples/mustc/conf_args.py --sections CONF    # -> the sections CONF has

Why: a setting's hyper-parameters live in one file per setting, with a section per stage of
``run.sh``, instead of in command lines copied out of prose (where they drift). Each section
maps option names (without ``--``) to values, as the tool of that stage takes them:
``true`` is a bare flag, ``false`` leaves the flag out, a list gives several values to one
option, anything else is one value. Sections given together are merged, a later one's value
replacing an earlier one's (``common`` then ``mt``), so each option is printed once. The
output is one word per line, which ``run.sh`` reads into a bash array (``mapfile``): no word
splitting, no quoting. ``${NAME}`` in a value is replaced by ``--var NAME=VALUE``; any other
``${...}``, an unknown section, a nested mapping or a missing value is an error naming the file.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import yaml

SECTIONS = {
    "recipe": "options of run.sh itself (its command line overrides them)",
    "prep": "prep_mustc_data.py (stage 0)",
    "common": "fairseq-train, every training stage (1-3)",
    "mt": "fairseq-train --training-stage mt (stage 1)",
    "asr": "fairseq-train --training-stage asr (stage 2; no section: no ASR pre-training)",
    "st": "fairseq-train, multi-task ST with the alignment (stage 3)",
    "average": "salign-average (stage 4)",
    "generate": "fairseq-generate, each of ST, MT and ASR (stage 5)",
    "export": "salign-export (stage 7)",
}
OPTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
VARIABLE = re.compile(r"\$\{([^}]*)\}")


class ConfError(ValueError):
    """A config file that cannot be expanded; the message names the file and the place."""


def load(path: Path) -> Dict[str, Dict[str, object]]:
    """The sections of ``path``, checked: known names, each a mapping (empty if left blank)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfError(f"{path}: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfError(f"{path}: the top level must map section names to options")
    unknown = sorted(set(data) - set(SECTIONS), key=str)
    if unknown:
        raise ConfError(f"{path}: unknown section(s) {', '.join(map(str, unknown))} "
                        f"(known: {', '.join(SECTIONS)})")
    sections = {}
    for name, options in data.items():
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ConfError(f"{path}: section {name} must map option names to values")
        sections[name] = options
    return sections


def _word(path: Path, where: str, value: object, variables: Mapping[str, str]) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise ConfError(f"{path}: {where}: {value!r} is not a value (give a string or number)")
    if isinstance(value, float):
        word = repr(value)
    else:
        word = str(value)

    def substitute(m: re.Match) -> str:
        if m.group(1) not in variables:
            known = ", ".join(sorted(variables)) or "none given"
            raise ConfError(f"{path}: {where}: unknown variable ${{{m.group(1)}}} (known: {known})")
        return variables[m.group(1)]

    word = VARIABLE.sub(substitute, word)
    if "\n" in word:
        raise ConfError(f"{path}: {where}: a value may not hold a line break")
    return word


def expand(path: Path, names: Sequence[str], variables: Mapping[str, str] = {},
           sections: Mapping[str, Mapping[str, object]] | None = None) -> List[str]:
    """The options of sections ``names`` of ``path``, merged in order, as command-line words.
    A known section the file does not have adds nothing. ``sections``: the file's sections as
    ``load`` returned them and a caller changed them (the demo's command-line overrides);
    ``path`` then only names the file in errors."""
    for name in names:
        if name not in SECTIONS:
            raise ConfError(f"{path}: no such section {name!r} (known: {', '.join(SECTIONS)})")
    sections = load(path) if sections is None else sections
    merged: Dict[str, Tuple[str, object]] = {}  # option -> (section, value)
    for name in names:
        for key, value in sections.get(name, {}).items():
            if not isinstance(key, str) or not OPTION_NAME.match(key):
                raise ConfError(f"{path}: section {name}: {key!r} is not an option name "
                                "(write it without the leading --)")
            merged.pop(key, None)  # a later section's value comes in the later place
            merged[key] = (name, value)
    words: List[str] = []
    for key, (name, value) in merged.items():
        where = f"section {name}, {key}"
        if value is True:
            words.append(f"--{key}")
        elif value is False:
            continue
        elif isinstance(value, list):
            if not value:
                raise ConfError(f"{path}: {where}: an empty list (leave the option out instead)")
            words += [f"--{key}", *(_word(path, where, v, variables) for v in value)]
        else:
            words += [f"--{key}", _word(path, where, value, variables)]
    return words


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", action="store_true",
                        help="print the sections CONF has instead of options")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="replace ${NAME} in values (repeatable)")
    parser.add_argument("conf", type=Path)
    parser.add_argument("section", nargs="*", help=f"any of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    variables = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--var {item!r}: give NAME=VALUE")
        variables[name] = value
    try:
        if args.sections:
            words = list(load(args.conf))
        else:
            if not args.section:
                parser.error("give one or more sections (or --sections)")
            words = expand(args.conf, args.section, variables)
    except ConfError as err:
        print(f"conf_args: {err}", file=sys.stderr)
        return 1
    for word in words:
        print(word)
    return 0


if __name__ == "__main__":
    sys.exit(main())
