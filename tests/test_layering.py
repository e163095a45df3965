"""Imports point down the pipeline: no cycles, no domain module importing the CLI, and
inference needs nothing from training."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "boxpromptiml"


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at any depth of its code)."""
    mods = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = f
    edges: dict[str, set[str]] = defaultdict(set)
    for name, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges[name].update(t for t in targets if t in mods and t != name)
    is_pkg = {n for n, f in mods.items() if f.name == "__init__.py"}
    # a package re-exporting its submodules (and a module importing its parent) is no cycle
    return {
        m: {
            t
            for t in ts
            if not (m in is_pkg and t.startswith(m + "."))
            and not (t in is_pkg and m.startswith(t + "."))
        }
        for m, ts in edges.items()
    }


def test_no_import_cycles() -> None:
    edges = _graph()
    sys.setrecursionlimit(10_000)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == []


def test_only_the_cli_imports_commands_and_inference_never_imports_train() -> None:
    edges = _graph()
    into_cli = [
        (m, t)
        for m, ts in edges.items()
        for t in ts
        if t.startswith("boxpromptiml.commands")
        and not m.startswith("boxpromptiml.commands")
        and m != "boxpromptiml.cli"
    ]
    assert into_cli == []
    inference = ("predict", "export", "bench", "student", "teachers", "data", "metrics")
    into_train = [
        (m, t)
        for m, ts in edges.items()
        for t in ts
        if t.startswith("boxpromptiml.train") and m.split(".")[1] in inference
    ]
    assert into_train == []
