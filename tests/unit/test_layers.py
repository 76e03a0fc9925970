"""The layout's rules, enforced: imports point down the layers, and no module imports itself back.

`lint-imports` (import-linter, contracts in pyproject.toml) sees the modules under
`goldrush/`; `goldrush.models`, `goldrush.agents` and `goldrush.patterns` are installed
from other folders, out of its sight, so this test also walks every import (function-level
ones included) of all four folders itself.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"goldrush": "goldrush", "models": "goldrush.models", "agents": "goldrush.agents",
           "patterns": "goldrush.patterns"}
#: low to high: a module may import its own layer and those below it only
LAYERS = ("dsl", "events", "operators", "compiler", "actions", "engine", "explainer", "kafka", "cli")
CORE = LAYERS[:6]


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*parent, base]))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return {_known(m) for m in out if _known(m)}


def _known(name: str) -> str | None:
    """The goldrush module an import names (an attribute import names its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


GRAPH = {name: _imports(name, path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "goldrush" and parts[1] in LAYERS else None


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_back():
    assert _cycles() == []


def test_imports_point_down_the_layers():
    upward = []
    for module, imported in GRAPH.items():
        own = _layer(module)
        if own is None:
            continue
        for target in imported:
            layer = _layer(target)
            if layer is not None and LAYERS.index(layer) > LAYERS.index(own):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_the_core_imports_neither_the_runtime_nor_plugins():
    """The engine core runs without Faust; plug-ins (models) register themselves with it."""
    bad = [f"{m} -> {t}" for m, ts in GRAPH.items() if _layer(m) in CORE for t in ts
           if t.startswith(("goldrush.agents", "goldrush.models", "goldrush.patterns"))
           or _layer(t) is None and t not in ("goldrush.errors",)]
    assert bad == []


def test_models_do_not_import_the_runtime():
    bad = [f"{m} -> {t}" for m, ts in GRAPH.items() if m.startswith("goldrush.models") for t in ts
           if t.startswith("goldrush.agents") or _layer(t) in ("cli", "kafka", "explainer")]
    assert bad == []


def test_the_import_linter_contracts_hold():
    # a dev dependency, installed beside this interpreter (whose venv need not be on PATH)
    beside = Path(sys.executable).parent / "lint-imports"
    command = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert command, "import-linter (a dev dependency) is not installed: pip install -e '.[dev]'"
    proc = subprocess.run([command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
