"""llmos_tui.core never imports Textual (docs/design.md §11): the TUI, the headless CLI and the watcher
are faces on the same core, and the core must load — and run headless — without the UI library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import llmos_tui.core

CORE = Path(llmos_tui.core.__file__).resolve().parent


def _is_textual(module: str | None) -> bool:
    return module is not None and (module == "textual" or module.startswith("textual."))


def test_core_sources_never_import_textual():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10  # the walk really found the core
    offenders = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module] if node.level == 0 else []
            else:
                continue
            for name in names:
                if _is_textual(name):
                    offenders.append(f"{path.relative_to(CORE.parent)}:{node.lineno}: {name}")
    assert offenders == []


def test_the_check_itself_sees_textual_imports():
    samples = [
        "import textual",
        "import textual.app as a",
        "from textual import on",
        "from textual.widgets import Static",
        "def f():\n    import textual.app\n",
    ]
    for src in samples:
        found = [
            n
            for n in ast.walk(ast.parse(src))
            if (isinstance(n, ast.Import) and any(_is_textual(a.name) for a in n.names))
            or (isinstance(n, ast.ImportFrom) and n.level == 0 and _is_textual(n.module))
        ]
        assert found, src
    assert not _is_textual("textualize") and not _is_textual("mytextual")


PROBE = r"""
import importlib, json, pkgutil, sys
import pytest

import llmos_tui.core
loaded = []
for info in pkgutil.walk_packages(llmos_tui.core.__path__, prefix="llmos_tui.core."):
    importlib.import_module(info.name)
    loaded.append(info.name)
import llmos_tui.cli
print(json.dumps({"loaded": loaded,
                  "textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))}))
"""


def test_importing_all_of_core_and_the_cli_does_not_load_textual():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {
        f"llmos_tui.core.{p.relative_to(CORE).with_suffix('').as_posix().replace('/', '.')}".removesuffix(".__init__")
        for p in CORE.rglob("*.py")
        if p.name != "__init__.py" or p.parent != CORE
    }
    assert expected <= set(result["loaded"])  # every core module was really imported
    assert result["textual"] == []


def test_no_import_cycle_even_inside_functions():
    """A module that imports another inside a function still depends on it: grimp (import-linter's
    graph) sees those imports too, and the package's module graph has no cycle."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("llmos_tui")
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    # Tarjan's strongly connected components, iteratively
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            for j in range(i, len(edges[node])):
                nxt = edges[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    # a package and the modules inside it do not form a cycle of interest
    cycles = [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert cycles == []
