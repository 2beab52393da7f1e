"""``syncframe demo``: the README's main job runs real flows and shows what landed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from syncframe.cli.commands.demo import MARKER
from syncframe.demo import (
    BAD_PHONE,
    DUPLICATE_EMAIL,
    MISSING_EMAIL,
    append_changes,
    generate_constituents,
)
from syncframe.host import Host
from tests.cli.conftest import Invoke, make_invoke


@pytest.fixture(scope="module")
def demo_cli() -> Invoke:
    """The installed plugins, as ``syncframe demo`` sees them (built-in demo included)."""
    return make_invoke(Host())


def warehouse(workdir: Path) -> dict[str, dict[str, str]]:
    db = sqlite3.connect(workdir / "constituents" / "warehouse.db")
    try:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM constituents").fetchall()
    finally:
        db.close()
    return {r["constituent_id"]: dict(r) for r in rows}


def test_demo_lands_clean_records_and_explains_the_rest(demo_cli: Invoke, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = demo_cli("demo", "--workdir", workdir)
    assert result.exit_code == 0, result.output
    rejected = MISSING_EMAIL + BAD_PHONE
    first_run_records = 2000 - rejected - DUPLICATE_EMAIL
    table = warehouse(workdir)
    assert len(table) == first_run_records + 10  # plus the new people of the change export
    # The mapping cleaned what it copied: emails trimmed and lower-case, phones as digits.
    assert all(r["email"] == r["email"].strip().lower() and r["email"] for r in table.values())
    assert all(r["phone"].isdigit() for r in table.values())
    assert all(r["first_name"] == r["first_name"].strip().title() for r in table.values())
    lines = (workdir / "constituents" / "export.jsonl").read_text().splitlines()
    assert len(lines) == 2000 + 50
    assert json.loads(lines[0])["id"] == "C00001"
    out = result.output
    assert "✓ constituents: 2,000 rows -> 1,991 new records" in out
    assert f"({rejected} rejected with a reason, {DUPLICATE_EMAIL} duplicates merged" in out
    assert "change export: 25 updated, 10 created, 15 unchanged" in out
    assert "field 'email' is required but empty" in out
    assert "'n/a' does not look like a phone number" in out
    assert out.count("matched on email") == DUPLICATE_EMAIL
    # Every installed step ran (the Luminate plugin adds one; its test is in plugins/luminate).
    steps = len(Host().registry.demos)
    assert f"demo finished: {steps} step" in out
    assert (workdir / MARKER).exists()


def test_demo_starts_afresh_each_time(demo_cli: Invoke, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    assert demo_cli("demo", "--workdir", workdir).exit_code == 0
    (workdir / "constituents" / "leftover.txt").write_text("from before")
    again = demo_cli("demo", "--workdir", workdir)
    assert again.exit_code == 0, again.output
    assert not (workdir / "constituents" / "leftover.txt").exists()
    assert len(warehouse(workdir)) == 2000 - MISSING_EMAIL - BAD_PHONE - DUPLICATE_EMAIL + 10


def test_demo_never_wipes_a_folder_it_did_not_make(demo_cli: Invoke, tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    result = demo_cli("demo", "--workdir", tmp_path)
    assert result.exit_code == 2
    assert "not made by `syncframe demo`" in result.output
    assert precious.read_text() == "keep me"


def test_unknown_step(demo_cli: Invoke, tmp_path: Path) -> None:
    result = demo_cli("demo", "--workdir", tmp_path / "d", "--step", "nope")
    assert result.exit_code == 2
    assert "no demo step named 'nope' (steps: " in result.output
    assert "constituents" in result.output


def test_a_failing_step_is_reported_and_exits_1(tmp_path: Path) -> None:
    class Broken:
        __name__ = "broken_demo"

        from syncframe import hookimpl

        @hookimpl
        def syncframe_register_demos(self, register: object) -> None:
            async def explode(ctx: object) -> str:
                raise RuntimeError("the simulator did not start")

            register("explode", explode, description="always fails")  # type: ignore[operator]

    result = make_invoke(Host(plugins=[Broken()], entry_points=False))(
        "demo", "--workdir", tmp_path / "d"
    )
    assert result.exit_code == 1
    assert "✗ explode: RuntimeError: the simulator did not start" in result.output
    assert "1 of 1 demo steps failed (explode)" in result.output


def test_generated_data_is_deterministic_and_dirty_on_purpose(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    generate_constituents(a)
    generate_constituents(b)
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert text.count(",n/a\n") == BAD_PHONE
    counts = append_changes(a)
    assert counts == {"moved": 25, "added": 10, "again": 15}
    assert len(a.read_text().splitlines()) == 1 + 2000 + 50
