"""The backend seam, checked on the source: the code that drives, reports and times runs names no backend, and no import
circle joins bench/ and backends/ (imports inside functions counted too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGES = ("bench", "backends", "search_space")
NEUTRAL = ["bench/run", "bench/report", "bench/speed", "backends/conformance.py"]  # must treat every backend alike
# The report uses Optuna as an analysis library whatever backend ran (fANOVA importance, plot_pareto_front, hypervolume):
# it may import optuna and the neutral space's Optuna distributions, but no backend adapter.
ANALYSIS_LIBRARY = {"bench/report": ("optuna", "backends.optuna_space")}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, *, top_level_only: bool) -> set[str]:
    """The project modules `name` imports by name (in functions too unless `top_level_only`, TYPE_CHECKING blocks left out)."""
    tree = ast.parse(MODULES[name].read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    nodes = tree.body if top_level_only else [n for n in ast.walk(tree) if id(n) not in skipped]
    targets = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets.add(node.module)
            targets.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in MODULES and t != name}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs: those it names anywhere, and the packages above them that it is not inside
    (a package's __init__ runs its top-level imports only)."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        edges = set()
        for target in _imports(name, top_level_only=False):
            edges.add(target)
            parts = target.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in MODULES and not (name == parent or name.startswith(parent + ".")):
                    edges.update(t for t in _imports(parent, top_level_only=True) if not (name == t or name.startswith(t + ".")))
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _backend_names() -> set[str]:
    from backends.registry import BUILTINS

    return set(BUILTINS)


def _words_in_code(path: Path) -> list[tuple[int, str]]:
    """String constants (docstrings left out) and imported modules of a file, with their line numbers."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append((node.lineno, node.value))
        elif isinstance(node, ast.Import):
            words += [(node.lineno, f"import {alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.append((node.lineno, f"import {node.module}"))
    return words


@pytest.mark.parametrize("where", NEUTRAL)
def test_neutral_code_names_no_backend(where):
    """No string that is a backend's name (a branch on it, a default), and no import of a backend's adapter modules."""
    names = _backend_names()
    adapters = {path.stem for path in (ROOT / "backends").glob("*.py")} - {"__init__", "base", "registry", "conformance", "translation",
                                                                          "translation_table"}
    allowed = ANALYSIS_LIBRARY.get(where, ())
    root = ROOT / where
    problems = []
    for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
        for line, word in _words_in_code(path):
            module = word.removeprefix("import ") if word.startswith("import ") else None
            if module is not None:
                if module.startswith("backends.") and module.split(".")[1] in adapters and module not in allowed:
                    problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
                elif module.split(".")[0] in ("optuna", "keras_tuner", "ray") and module.split(".")[0] not in allowed:
                    problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
            elif word.strip().lower() in names:
                problems.append(f"{path.relative_to(ROOT)}:{line}: names backend {word!r}")
    assert problems == []
