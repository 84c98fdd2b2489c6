"""The package's layers run one way: no module imports from a higher layer, and no two modules
import each other, directly or around a circle (function-level imports count too). Read from the
source with ``ast``; docs/README.md names the layers."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parents[1] / "fairseq_salign"

# lowest first; a unit is a top-level module or subpackage of fairseq_salign
LAYERS: List[Set[str]] = [
    # foundation: audio I/O and framing, plain helpers, the fairseq patches
    {"audio", "distributed", "subtitles", "ema", "patches", "registry"},
    {"segmentation", "modules", "optim"},
    {"pretrained_ssl"},  # reading HuBERT / wav2vec 2.0 checkpoints: below data and front ends
    {"data", "frontends"},
    {"models", "criterions"},
    {"tasks", "analysis", "checkpoint_average"},
    {"api"},
    {"cli"},
]
# the package itself registers the task, model and criterion with fairseq; a tool imports it
# (lazily) for that side effect, so it sits outside the layers
ROOT = "fairseq_salign"


def module_names(package: Path = PACKAGE) -> Dict[str, Path]:
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def imports_of(name: str, path: Path, names: Dict[str, Path]) -> Set[str]:
    """Modules of the package that ``name`` imports, at any level of its code."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in names and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in names and target != name:
                found.add(target)
                break
    return found


def graph(package: Path = PACKAGE) -> Dict[str, Set[str]]:
    names = module_names(package)
    return {name: imports_of(name, path, names) for name, path in names.items()}


def layer_of(module: str) -> int:
    unit = module.split(".")[1] if "." in module else module
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    raise AssertionError(f"{module}: its unit {unit!r} is in no layer of tests/test_layers.py")


def upward(edges: Dict[str, Set[str]]) -> List[str]:
    return sorted(f"{a} -> {b}" for a, deps in edges.items() if a != ROOT
                  for b in deps if b != ROOT and layer_of(b) > layer_of(a))


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack, on, found = [], set(), []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start] - {ROOT})))]
        index[start] = low[start] = len(index)
        stack.append(start), on.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child), on.add(child)
                    work.append((child, iter(sorted(edges.get(child, set()) - {ROOT}))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_unit_has_a_layer_and_no_import_runs_upward():
    edges = graph()
    for module in edges:
        if module != ROOT:
            layer_of(module)
    assert upward(edges) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    package = tmp_path / "fairseq_salign"
    (package / "audio").mkdir(parents=True)
    (package / "cli").mkdir()
    (package / "__init__.py").write_text("")
    (package / "audio" / "__init__.py").write_text("from ..cli import tool\n")
    (package / "cli" / "__init__.py").write_text("")
    (package / "cli" / "tool.py").write_text("def f():\n    from . import other\n")
    (package / "cli" / "other.py").write_text("from .tool import f\n")
    edges = graph(package)
    assert upward(edges) == ["fairseq_salign.audio -> fairseq_salign.cli.tool"]
    assert cycles(edges) == [["fairseq_salign.cli.other", "fairseq_salign.cli.tool"]]


def test_the_api_does_not_reach_into_the_task():
    """api/ decodes with the model's own pieces (modules.ctc_generator, the audio foundation),
    not with the fairseq task's training-side modules."""
    reaching = sorted(f"{a} -> {b}" for a, deps in graph().items() if a.startswith(f"{ROOT}.api")
                      for b in deps if b.startswith(f"{ROOT}.tasks"))
    assert reaching == []
