"""``syncframe validate`` names every mistake of a flow file, where it is, and nothing secret."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Workspace


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the only line of ``text`` that contains ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def test_validate_names_every_problem_with_file_line_and_path(ws: Workspace, run_cli: Any) -> None:
    path = ws.flow("broken.toml")
    text = path.read_text()
    # No token for crm anywhere: that connection's secret is missing.
    ws.env.pop("SYNCFRAME_CRM_API_TOKEN")

    result = run_cli("validate", "broken.toml")

    result.check(2)
    assert "Traceback" not in result.output
    assert "file-secret-5d4c3b2a" not in result.output
    problems = [line for line in result.stderr.splitlines() if line.startswith("broken.toml:")]

    def problem(needle: str, field_path: str, *words: str) -> None:
        where = f"broken.toml:{line_of(text, needle)}: {field_path}: "
        hits = [p for p in problems if p.startswith(where)]
        assert hits, f"no problem reported at {where!r}\n{result}"
        assert any(all(w in hit for w in words) for hit in hits), f"{hits} lack {words}"

    problem("[connections.crm]", "connections.crm.api_token", "SYNCFRAME_CRM_API_TOKEN")
    problem('colour = "blue"', "connections.warehouse.colour", "unknown")
    problem("batch_size = 0", "flows.contacts.batch_size", "greater than or equal to 1")
    problem("bach_size = 5", "flows.contacts.bach_size", "unknown", "batch_size")
    problem('type = "memory_recordz"', "flows.contacts.source.type", "memory_records")
    problem('convert = ["shout"]', "flows.contacts.mapping.fields.email.convert[0]", "shout")
    problem('connection = "warehous"', "flows.contacts.sink.connection", "warehouse")
    problem("reject_status = 42", "flows.people.sink.reject_status", "string")
    problem('entitty = "x"', "flows.people.sink.entitty", "unknown", "entity")
    assert len(problems) == 9, "\n".join(problems)
    assert "9 problems in broken.toml" in result.stderr


def test_a_valid_file_passes(ws: Workspace, run_cli: Any) -> None:
    ws.flow("contacts.toml", "flow.toml")
    result = run_cli("validate", "flow.toml")
    result.check(0)
    assert "flow.toml is valid: 2 connections, 1 flow" in result.stdout


def test_the_test_plugin_is_listed_with_what_it_registers(ws: Workspace, run_cli: Any) -> None:
    out = run_cli("plugins").check(0).stdout
    assert "tests.e2e.memory_plugin" in out
    assert "memory_records" in out
