"""docs/simulators.md: the kit part's Python examples run, and say what the code does."""

from __future__ import annotations

import re
import types
from pathlib import Path

import anyio
from starlette.routing import Route
from syncframe_simulators.admin import _routes

from simulators.kit.tests.ledger import LedgerSimulator
from syncframe.host import Host

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators.md"


def kit_examples() -> types.ModuleType:
    """The ``python`` blocks of the "Simulator kit" part, run in order as one module."""
    text = DOC.read_text(encoding="utf-8")
    kit = text.split("## Simulator kit", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", kit, flags=re.DOTALL)
    assert len(blocks) == 2, "docs/simulators.md: the kit part should have two python blocks"
    module = types.ModuleType("simulators_md_examples")
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), module.__dict__)
    return module


def test_the_example_simulator_works_as_the_doc_says() -> None:
    example = kit_examples()
    anyio.run(example.try_it)


def test_the_example_registers_through_its_hook() -> None:
    example = kit_examples()
    entry = Host(plugins=[example], entry_points=False).registry.simulators["notes"]
    assert entry.description == "A notes service"
    assert isinstance(entry.factory(clock=None, seed=3), example.NotesSimulator)


def test_every_admin_route_is_in_the_table() -> None:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    sim = LedgerSimulator()
    routes = [r for r in _routes(sim) if isinstance(r, Route)]
    assert len(routes) == 9
    for route in routes:
        for method in sorted((route.methods or set()) - {"HEAD"}):
            documented = f"| `{method} /_admin{route.path}"
            assert any(row.startswith(documented) for row in rows), (
                f"docs/simulators.md does not document {method} /_admin{route.path}"
            )
