"""The import graph: no cycle, the core never imports an interface, interfaces never the store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"matcher": REPO / "src" / "matcher", "service": REPO / "service"}
INTERFACES = ("matcher.cli", "matcher.__main__", "service")


def _module_name(path: Path) -> str:
    for package, root in ROOTS.items():
        if path.is_relative_to(root):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for root in ROOTS.values()
        for p in root.rglob("*.py")
        if "migrations" not in p.parts
    }


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every project module ``path`` imports, at any depth of the file (function-level too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return found & known


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def _is_interface(module: str) -> bool:
    return any(module == i or module.startswith(f"{i}.") for i in INTERFACES)


def test_the_core_never_imports_an_interface(graph: dict[str, set[str]]) -> None:
    arrows = {
        (m, i) for m, imported in graph.items() if not _is_interface(m) for i in imported if _is_interface(i)
    }
    assert arrows == set()


def test_interfaces_never_reach_the_store(graph: dict[str, set[str]]) -> None:
    arrows = {
        (m, i)
        for m, imported in graph.items()
        if _is_interface(m)
        for i in imported
        if i == "matcher.store" or i.startswith("matcher.store.")
    }
    assert arrows == set()


def test_the_import_graph_has_no_cycle(graph: dict[str, set[str]]) -> None:
    # A package's __init__ re-exporting its own submodules is not a cycle: Python runs it first.
    def edges(module: str) -> set[str]:
        return {i for i in graph[module] if not module.startswith(f"{i}.")}

    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(module: str, path: list[str]) -> bool:
        state[module] = 1
        for imported in sorted(edges(module)):
            if state.get(imported) == 1:
                cycle.extend(
                    [*path[path.index(imported) :], imported] if imported in path else [module, imported]
                )
                return True
            if imported not in state and visit(imported, [*path, imported]):
                return True
        state[module] = 2
        return False

    for module in sorted(graph):
        if module not in state and visit(module, [module]):
            break
    assert cycle == []


def test_the_graph_is_read_at_all(graph: dict[str, set[str]]) -> None:
    assert "matcher.engine" in graph["service.auth"]
    assert "matcher.store" in graph["matcher.engine.facade"]
    assert "matcher.cli.common" in graph["matcher.cli.digest"]
