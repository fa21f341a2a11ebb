"""The simulator's reader, the tests' oracle, stands apart from its writer: checked from its imports.

reader.py may import layout.py (hours, folders, object names) and nothing else of devstack/simulator/:
not the writer nor what feeds it (events, stream, catalogue, records, options), not the writer's manifest,
and not the package itself (its __init__ re-exports everything).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "devstack.simulator"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "devstack" / "simulator"
WRITER_SIDE = ("writer", "events", "stream", "catalogue", "records", "options", "manifest")


def package_imports(source: str) -> set[str]:
    """The modules of the package that `source` imports by name; `__init__` for the package itself."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = PACKAGE if node.level else node.module or ""
            if node.level and node.module:
                base = f"{PACKAGE}.{node.module}"
            # `from devstack.simulator import writer` imports the package, and a module if the name is one.
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE:
                found.add("__init__")
            elif name.startswith(PACKAGE + "."):
                module = name.removeprefix(PACKAGE + ".").split(".")[0]
                if (PACKAGE_DIR / f"{module}.py").exists():
                    found.add(module)
    return found


def reachable_from(module: str) -> set[str]:
    """`module` and every module of the package it imports, directly or through another."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(package_imports((PACKAGE_DIR / f"{current}.py").read_text()))
    return seen


def test_the_reader_imports_nothing_of_the_simulator_but_its_layout():
    assert all((PACKAGE_DIR / f"{name}.py").exists() for name in WRITER_SIDE), "a module was renamed: update here"
    assert {"writer", "events", "stream", "manifest"} <= reachable_from("writer")

    reached = reachable_from("reader")

    assert reached == {"reader", "layout"}, f"the reader reaches {sorted(reached - {'reader', 'layout'})}"


@pytest.mark.parametrize(
    ("line", "modules"),
    [
        ("from devstack.simulator.writer import simulate", {"writer"}),
        ("import devstack.simulator.events", {"events"}),
        ("from devstack.simulator import read_landed_hour", {"__init__"}),
        ("from devstack import simulator", {"__init__"}),
        ("from devstack.simulator import stream", {"__init__", "stream"}),
        ("from . import manifest", {"__init__", "manifest"}),
        ("from .records import render_line", {"records"}),
        ("from include.event_log.land.hour_layout import Layout", set()),
    ],
)
def test_every_form_of_import_is_seen(line, modules):
    assert package_imports(line) == modules
