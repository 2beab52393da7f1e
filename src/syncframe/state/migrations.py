"""The SQLite state file's schema, as an ordered list of versioned migration steps.

Every state file records the steps applied to it in ``schema_migrations``. Opening a file applies
the steps it lacks, all in one transaction; a file written by a newer syncframe (a version this
code does not know) is refused rather than guessed at.

A released step is never edited: a schema change is a new step at the end of :data:`MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "Migration",
    "SchemaVersionError",
    "StateError",
    "applied_version",
    "migrate",
]


class StateError(Exception):
    """The state store cannot be used (wrong file, unknown schema, unsupported URL...)."""


class SchemaVersionError(StateError):
    """The state file was written by a newer syncframe than this one."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: the SQL statements that take version ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema: checkpoints, in-flight batches, runs and their outcomes, identity map, "
        "loop-guard ledger, failed records",
        (
            """
            CREATE TABLE checkpoints (
                flow          TEXT PRIMARY KEY,
                cursor        TEXT NOT NULL,  -- JSON
                sink_position TEXT NOT NULL,  -- JSON
                batch_seq     INTEGER NOT NULL,
                updated_at    TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE inflight (
                flow         TEXT PRIMARY KEY,
                batch_seq    INTEGER NOT NULL,
                token        TEXT NOT NULL,
                cursor_after TEXT NOT NULL,  -- JSON
                run_id       TEXT NOT NULL,
                started_at   TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE runs (
                run_id      TEXT PRIMARY KEY,
                flow        TEXT NOT NULL,
                config_path TEXT NOT NULL,
                kind        TEXT NOT NULL,
                dry_run     INTEGER NOT NULL,
                started_at  TEXT NOT NULL,
                finished_at TEXT,
                status      TEXT NOT NULL,
                counts      TEXT NOT NULL,  -- JSON
                error       TEXT
            )
            """,
            # One row per committed batch; ``id`` gives commit order. The blob holds the batch's
            # outcome rows as column lists (see syncframe.state.sqlite) so a large batch costs
            # one insert rather than one per record.
            """
            CREATE TABLE run_outcomes (
                id        INTEGER PRIMARY KEY,
                run_id    TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
                batch_seq INTEGER NOT NULL,
                blob      BLOB NOT NULL
            )
            """,
            "CREATE INDEX run_outcomes_by_run ON run_outcomes (run_id, id)",
            # Both directions of every link are stored, so a lookup from either side is one
            # primary-key range scan.
            """
            CREATE TABLE identity_map (
                system       TEXT NOT NULL,
                entity       TEXT NOT NULL,
                key          TEXT NOT NULL,
                other_system TEXT NOT NULL,
                other_entity TEXT NOT NULL,
                other_key    TEXT NOT NULL,
                flow         TEXT NOT NULL,
                linked_at    TEXT NOT NULL,
                PRIMARY KEY (system, entity, key, other_system)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE ledger (
                system            TEXT NOT NULL,
                entity            TEXT NOT NULL,
                key               TEXT NOT NULL,
                field_values      TEXT NOT NULL,  -- JSON
                source_system     TEXT NOT NULL,
                source_key        TEXT NOT NULL,
                flow              TEXT NOT NULL,
                run_id            TEXT NOT NULL,
                source_changed_at TEXT NOT NULL,
                written_at        TEXT NOT NULL,
                PRIMARY KEY (system, entity, key)
            )
            """,
            """
            CREATE TABLE failed_records (
                id              INTEGER PRIMARY KEY,
                flow            TEXT NOT NULL,
                change_id       TEXT NOT NULL,
                change          TEXT NOT NULL,  -- JSON (Change.to_dict())
                reason          TEXT NOT NULL,
                run_id          TEXT NOT NULL,
                attempts        INTEGER NOT NULL DEFAULT 1,
                status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
                first_failed_at TEXT NOT NULL,
                last_failed_at  TEXT NOT NULL,
                UNIQUE (flow, change_id)
            )
            """,
        ),
    ),
    Migration(
        2,
        "indexes for run listing, ledger_latest and failed-record listing",
        (
            "CREATE INDEX runs_by_start ON runs (started_at)",
            "CREATE INDEX runs_by_flow ON runs (flow, started_at)",
            "CREATE INDEX ledger_by_source ON ledger (system, source_system, written_at)",
            "CREATE INDEX failed_by_status ON failed_records (status, flow, first_failed_at)",
        ),
    ),
    Migration(
        3,
        "webhook inbox: events delivered to push-driven flows, de-duplicated by event id",
        (
            """
            CREATE TABLE inbox (
                seq         INTEGER PRIMARY KEY AUTOINCREMENT,
                flow        TEXT NOT NULL,
                event_id    TEXT NOT NULL,
                payload     TEXT NOT NULL,  -- JSON
                received_at TEXT NOT NULL,
                outcome     TEXT,
                reason      TEXT,
                UNIQUE (flow, event_id)
            )
            """,
            "CREATE INDEX inbox_by_flow ON inbox (flow, seq)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    applied_at  TEXT NOT NULL,
    description TEXT NOT NULL
)
"""


def applied_version(conn: sqlite3.Connection) -> int:
    """The highest schema version recorded in the file (0 for a new, empty file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def migrate(
    conn: sqlite3.Connection,
    where: str,
    applied_at: str,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[int]:
    """Bring the schema of the file behind ``conn`` up to date; return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``): every missing step runs in
    one ``BEGIN IMMEDIATE`` transaction, so a failed step leaves the file as it was. ``where``
    names the file in error messages; ``applied_at`` is the timestamp recorded for each step.

    Raises :class:`SchemaVersionError` if the file is newer than ``migrations`` know.
    """
    latest = migrations[-1].version if migrations else 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = applied_version(conn)
        if current > latest:
            raise SchemaVersionError(
                f"state file {where} has schema version {current}, but this version of "
                f"syncframe only knows versions up to {latest}: upgrade syncframe, or point "
                "[state] url at another file"
            )
        conn.execute(_BOOKKEEPING)
        applied: list[int] = []
        for step in migrations:
            if step.version <= current:
                continue
            for statement in step.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at, description) VALUES (?, ?, ?)",
                (step.version, applied_at, step.description),
            )
            applied.append(step.version)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied
