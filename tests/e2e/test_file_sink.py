"""The built-in jsonl sink through the command line: batches that write nothing and retried
failed records must not move the file's committed position backwards."""

from __future__ import annotations

import json

from tests.e2e.conftest import Workspace, contacts


def _lines(ws: Workspace) -> list[dict[str, str]]:
    return [json.loads(x) for x in (ws.dir / "out" / "people.jsonl").read_text().splitlines()]


def test_a_batch_the_mapping_rejects_entirely_keeps_the_lines_written_before(ws: Workspace) -> None:
    ws.flow("contacts_jsonl.toml", "flow.toml")
    no_email = [{k: v for k, v in c.items() if k != "email"} for c in contacts(2, start=3)]
    ws.crm.add_changes("contact", [*contacts(2), *no_email])  # batch 2 rejected as a whole

    ws.cli("run", "flow.toml").check(0)
    assert ws.runs("contacts")[0].counts == {"created": 2, "rejected": 2}
    ws.crm.add_changes("contact", contacts(1, start=5))
    ws.cli("run", "flow.toml").check(0)

    assert _lines(ws) == [
        {"id": "1", "email": "ada1@example.org"},
        {"id": "2", "email": "ada2@example.org"},
        {"id": "5", "email": "ada5@example.org"},
    ]


def test_a_retried_record_stays_in_the_file_after_the_next_run(ws: Workspace) -> None:
    path = ws.flow("contacts_jsonl.toml", "flow.toml")
    late = {k: v for k, v in contacts(1, start=2)[0].items() if k != "email"}
    ws.crm.add_changes("contact", [*contacts(1), late])
    ws.cli("run", "flow.toml").check(0)
    assert [x["id"] for x in _lines(ws)] == ["1"]

    # Email becomes optional: the rejected record can now be delivered.
    path.write_text(path.read_text().replace(", required = true", ""))
    retry = ws.cli("failed", "retry", "flow.toml").check(0)
    assert "1 of 1 delivered" in retry.stdout
    ws.crm.add_changes("contact", contacts(1, start=3))
    ws.cli("run", "flow.toml").check(0)

    assert _lines(ws) == [
        {"id": "1", "email": "ada1@example.org"},
        {"id": "2"},  # a missing source field is left out
        {"id": "3", "email": "ada3@example.org"},
    ]
