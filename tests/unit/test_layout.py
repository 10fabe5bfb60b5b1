"""The layout is the architecture: one module per connector, no import cycles, small modules."""

from __future__ import annotations

import typing
from pathlib import Path

import grimp
import pytest

from imgpipe.config.job import JobConfig
from imgpipe.sinks import SINKS
from imgpipe.sources import SOURCES

PACKAGE = Path(__file__).resolve().parents[2] / "imgpipe"
MAX_LINES = 300


def config_types(field: str) -> set[str]:
    """The ``type`` tags of every config class allowed in ``JobConfig.<field>`` (the discriminated union)."""
    classes = typing.get_args(JobConfig.model_fields[field].annotation)
    return {typing.get_args(cls.model_fields["type"].annotation)[0] for cls in classes}


@pytest.mark.parametrize(("field", "registry", "package"), [("source", SOURCES, "sources"), ("sink", SINKS, "sinks")])
def test_each_config_type_has_exactly_one_connector_module(field: str, registry: dict[str, object], package: str) -> None:
    assert set(registry) == config_types(field)
    modules = {tag: getattr(registry[tag], "__module__") for tag in registry}
    assert modules == {tag: f"imgpipe.{package}.{tag}" for tag in registry}
    assert len(set(modules.values())) == len(modules)


def test_no_import_cycles_even_through_imports_inside_functions() -> None:
    graph = grimp.build_graph("imgpipe")
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_no_module_is_long_without_saying_why() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_LINES and "Long because" not in "\n".join(lines[:15]):
            long.append(f"{path.relative_to(PACKAGE)}: {len(lines)} lines")
    assert long == []


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over module-level imports (grimp counts imports inside functions too)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.find_modules_directly_imported_by(node):
            if not nxt.startswith("imgpipe"):
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_test_modules_have_unique_names() -> None:
    """pytest imports test files by their base name (the tiers are not packages): two alike would clash."""
    names = [p.name for p in (PACKAGE.parent / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
