"""The commands end to end on the built-in components: CSV in, SQLite table and JSONL out."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from syncframe.host import Host
from tests.cli.conftest import Invoke, make_invoke

FLOWS = """\
[state]
url = "sqlite:///state.db"

[flows.to_table]
batch_size = 2

[flows.to_table.source]
type = "csv"
path = "people.csv"
key = "id"
entity = "person"

[flows.to_table.mapping.fields]
person_id = "id"
name = { from = "name", convert = ["strip", "title"] }
email = { from = "email", convert = ["strip", "lower"], required = {required} }

[[flows.to_table.matchers]]
type = "key_cascade"
keys = [{ source = "person_id", target = "person_id" }]

[flows.to_table.sink]
type = "sql_table"
url = "sqlite:///target.db"
table = "people"
key = "person_id"

[flows.to_file]

[flows.to_file.source]
type = "csv"
path = "people.csv"
key = "id"

[flows.to_file.sink]
type = "jsonl"
path = "people.jsonl"
"""

PEOPLE = """\
id,name,email
1,  ada lovelace ,ADA@EXAMPLE.ORG
2,alan turing,alan@example.org
3,grace hopper,
"""


@pytest.fixture
def cli() -> Invoke:
    return make_invoke(Host(entry_points=False))


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    (tmp_path / "people.csv").write_text(PEOPLE)
    path = tmp_path / "flows.toml"
    path.write_text(FLOWS.replace("{required}", "true"))
    return path


def table(tmp_path: Path) -> dict[str, dict[str, str]]:
    db = sqlite3.connect(tmp_path / "target.db")
    try:
        db.row_factory = sqlite3.Row
        return {r["person_id"]: dict(r) for r in db.execute("SELECT * FROM people")}
    finally:
        db.close()


def test_validate_run_history_and_retry(cli: Invoke, flows: Path, tmp_path: Path) -> None:
    checked = cli("validate", flows)
    assert checked.exit_code == 0, checked.output
    assert "csv → sql_table" in checked.output
    assert "csv → jsonl" in checked.output

    dry = cli("run", flows, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert not (tmp_path / "people.jsonl").exists()
    assert "field 'email' is required but empty" in dry.output

    ran = cli("run", flows)
    # A rejected record (bad data) is kept with the failed records but is not a failed run.
    assert ran.exit_code == 0, ran.output
    rows = table(tmp_path)
    assert sorted(rows) == ["1", "2"]
    assert rows["1"]["name"] == "Ada Lovelace"
    assert rows["1"]["email"] == "ada@example.org"
    lines = [json.loads(line) for line in (tmp_path / "people.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ["1", "2", "3"]

    history = cli("runs", "list", flows, "--flow", "to_table")
    assert "created 2 · rejected 1" in history.output

    failed = cli("failed", "list", flows)
    (line,) = [line for line in failed.output.splitlines() if "person[id=3]" in line]
    assert "field 'email' is required but empty" in line

    flows.write_text(FLOWS.replace("{required}", "false"))  # accept people without email
    retried = cli("failed", "retry", flows)
    assert retried.exit_code == 0, retried.output
    assert "1 of 1 delivered" in retried.output
    assert table(tmp_path)["3"]["name"] == "Grace Hopper"
