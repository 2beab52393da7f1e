"""Schema versions of the state file: new files, upgrades, files from a newer syncframe."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncframe.clock import ManualClock
from syncframe.state import SchemaVersionError, SQLiteStateStore, StateError
from syncframe.state.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    applied_version,
    migrate,
)

Opener = Callable[[], SQLiteStateStore]

# Version 1 of the schema exactly as released, written out by hand so that a change to the
# migration steps that breaks old files shows up here.
VERSION_1 = [
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL,"
    " description TEXT NOT NULL)",
    "CREATE TABLE checkpoints (flow TEXT PRIMARY KEY, cursor TEXT NOT NULL,"
    " sink_position TEXT NOT NULL, batch_seq INTEGER NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE inflight (flow TEXT PRIMARY KEY, batch_seq INTEGER NOT NULL,"
    " token TEXT NOT NULL, cursor_after TEXT NOT NULL, run_id TEXT NOT NULL,"
    " started_at TEXT NOT NULL)",
    "CREATE TABLE runs (run_id TEXT PRIMARY KEY, flow TEXT NOT NULL, config_path TEXT NOT NULL,"
    " kind TEXT NOT NULL, dry_run INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,"
    " status TEXT NOT NULL, counts TEXT NOT NULL, error TEXT)",
    "CREATE TABLE run_outcomes (id INTEGER PRIMARY KEY,"
    " run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,"
    " batch_seq INTEGER NOT NULL, blob BLOB NOT NULL)",
    "CREATE INDEX run_outcomes_by_run ON run_outcomes (run_id, id)",
    "CREATE TABLE identity_map (system TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL,"
    " other_system TEXT NOT NULL, other_entity TEXT NOT NULL, other_key TEXT NOT NULL,"
    " flow TEXT NOT NULL, linked_at TEXT NOT NULL,"
    " PRIMARY KEY (system, entity, key, other_system)) WITHOUT ROWID",
    "CREATE TABLE ledger (system TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL,"
    " field_values TEXT NOT NULL, source_system TEXT NOT NULL, source_key TEXT NOT NULL,"
    " flow TEXT NOT NULL, run_id TEXT NOT NULL, source_changed_at TEXT NOT NULL,"
    " written_at TEXT NOT NULL, PRIMARY KEY (system, entity, key))",
    "CREATE TABLE failed_records (id INTEGER PRIMARY KEY, flow TEXT NOT NULL,"
    " change_id TEXT NOT NULL, change TEXT NOT NULL, reason TEXT NOT NULL, run_id TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 1,"
    " status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),"
    " first_failed_at TEXT NOT NULL, last_failed_at TEXT NOT NULL, UNIQUE (flow, change_id))",
    "INSERT INTO schema_migrations VALUES (1, '2025-12-01T00:00:00.000000+00:00', 'initial')",
]

V1_DATA = [
    "INSERT INTO checkpoints VALUES ('gifts', '{\"since\":\"x\"}', '17', 4,"
    " '2025-12-01T10:00:00.000000+00:00')",
    "INSERT INTO runs VALUES ('old-run', 'gifts', '/f.toml', 'run', 0,"
    " '2025-12-01T09:00:00.000000+00:00', NULL, 'running', '{}', NULL)",
    "INSERT INTO ledger VALUES ('mailchimp', 'member', 'm1', '{\"email\":\"a@b.org\"}',"
    " 'virtuous', 'v1', 'contacts', 'old-run', '2025-12-01T08:00:00.000000+00:00',"
    " '2025-12-01T09:00:00.000000+00:00')",
]


def write_file(path: Path, statements: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def index_names(path: Path) -> set[str]:
    rows = read(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    return {str(name) for (name,) in rows}


def test_migration_versions_run_one_by_one_from_1() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == LATEST_VERSION
    assert all(m.description and m.statements for m in MIGRATIONS)


def test_a_new_file_gets_every_step(open_store: Opener, db_path: Path, clock: ManualClock) -> None:
    store = open_store()
    assert store.schema_version == LATEST_VERSION
    rows = read(db_path, "SELECT version, applied_at, description FROM schema_migrations")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    assert {r[1] for r in rows} == {"2026-01-01T09:00:00.000000+00:00"}  # the store's clock
    assert [r[2] for r in rows] == [m.description for m in MIGRATIONS]
    assert {"ledger_by_source", "runs_by_flow", "failed_by_status"} <= index_names(db_path)


def test_reopening_applies_nothing_again(open_store: Opener, db_path: Path) -> None:
    open_store().close()
    open_store().close()
    count = read(db_path, "SELECT COUNT(*) FROM schema_migrations")[0][0]
    assert count == len(MIGRATIONS)


def test_a_version_1_file_is_migrated_and_keeps_its_data(open_store: Opener, db_path: Path) -> None:
    write_file(db_path, VERSION_1 + V1_DATA)
    assert "ledger_by_source" not in index_names(db_path)

    store = open_store()

    assert store.schema_version == LATEST_VERSION
    versions = read(db_path, "SELECT version, description FROM schema_migrations ORDER BY 1")
    assert versions[0] == (1, "initial")  # the old step's record is kept as it was
    assert [v for v, _ in versions] == list(range(1, LATEST_VERSION + 1))
    assert {"ledger_by_source", "runs_by_start", "runs_by_flow"} <= index_names(db_path)
    checkpoint = store.get_checkpoint("gifts")
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.sink_position, checkpoint.batch_seq) == (
        {"since": "x"},
        17,
        4,
    )
    latest = store.ledger_latest("mailchimp", "virtuous")
    assert latest is not None
    assert latest.values == {"email": "a@b.org"}
    assert latest.written_at == datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
    old = store.get_run("old")
    assert old is not None
    assert old.run_id == "old-run"


def test_a_file_from_a_newer_syncframe_is_refused(db_path: Path) -> None:
    write_file(db_path, [*VERSION_1, "INSERT INTO schema_migrations VALUES (99, 'x', 'future')"])

    with pytest.raises(SchemaVersionError) as raised:
        SQLiteStateStore(db_path)

    message = str(raised.value)
    assert str(db_path) in message
    assert "version 99" in message
    assert f"up to {LATEST_VERSION}" in message
    assert isinstance(raised.value, StateError)
    # Nothing was changed: no step of ours ran on the newer file.
    assert "ledger_by_source" not in index_names(db_path)
    assert read(db_path, "SELECT MAX(version) FROM schema_migrations")[0][0] == 99


def test_a_failing_step_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        steps = (
            Migration(1, "one", ("CREATE TABLE a (x INTEGER)",)),
            Migration(2, "two", ("CREATE TABLE b (x INTEGER)", "CREATE TABLE a (x INTEGER)")),
        )
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            migrate(conn, str(path), "2026-01-01T00:00:00.000000+00:00", steps)
        assert not conn.in_transaction
        assert applied_version(conn) == 0
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []

        assert migrate(conn, str(path), "now", steps[:1]) == [1]
        assert migrate(conn, str(path), "now", steps[:1]) == []
        assert applied_version(conn) == 1
    finally:
        conn.close()


def test_a_file_that_is_not_sqlite_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StateError, match=r"cannot use state file .*syncframe-state\.db"):
        SQLiteStateStore(db_path)
    assert db_path.read_text().startswith("these are my notes")
