"""The SQLite state store: the default backend, everything in one file.

The file runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the
process being killed at any point (it is in the WAL before ``COMMIT`` returns); only an operating
system crash or power loss may lose the last few commits, never corrupt the file. Foreign keys
are enforced and a busy timeout lets a second process (``syncframe runs`` while a sync runs) wait
for the writer instead of failing at once.

One connection is shared by every thread that uses the store (the engine may call it from a
worker thread), so every call holds a lock for the time it touches the connection.

Stored formats: timestamps are ISO-8601 text in UTC with microseconds (fixed width, so they sort
as text); JSON values (cursors, sink positions, counts, changes, ledger values) are orjson text.
The outcomes of one committed batch are one ``run_outcomes`` row whose blob holds the rows as
column lists (see :func:`encode_outcomes`), which keeps a 10,000-record batch to one insert.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from syncframe.clock import Clock, SystemClock
from syncframe.state.base import (
    BatchCommit,
    Checkpoint,
    FailedRecord,
    InboxEvent,
    Inflight,
    LedgerEntry,
    Link,
    OutcomeRow,
    RunRecord,
)
from syncframe.state.migrations import StateError, migrate

__all__ = [
    "MEMORY",
    "AmbiguousRunIdError",
    "SQLiteStateStore",
    "decode_outcomes",
    "encode_outcomes",
]

log = logging.getLogger("syncframe.state")

MEMORY = ":memory:"
"""The path of a private in-memory store (tests, demos): gone when it is closed."""

BUSY_TIMEOUT_MS = 10_000
"""How long a call waits for another process's write transaction before failing."""

_OUTCOMES_FORMAT = 1


class AmbiguousRunIdError(StateError, LookupError):
    """A run id prefix matches more than one run."""


# ---- value encoding ----------------------------------------------------------------------------


def _json_default(value: object) -> Any:
    # Field values written to a sink may be Decimals (amounts) or sets; JSON has neither.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"a {type(value).__name__} cannot be stored as JSON")


def _dump(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def _load(text: str | bytes) -> Any:
    return orjson.loads(text)


def _ts(when: datetime) -> str:
    """A timestamp as stored: UTC, microseconds, fixed width. Naive times are taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _dt_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def encode_outcomes(rows: Sequence[OutcomeRow]) -> bytes:
    """One batch's outcome rows as a compact blob: column lists, outcomes as small integers
    into a list of the distinct outcome names, and the optional columns sparse (positions and
    values of the rows that have one)."""
    records: list[str] = []
    codes: list[int] = []
    names: dict[str, int] = {}
    reason_at: list[int] = []
    reasons: list[str] = []
    target_at: list[int] = []
    targets: list[str] = []
    change_at: list[int] = []
    change_ids: list[str] = []
    steps_at: list[int] = []
    steps: list[list[dict[str, str | None]]] = []
    # One pass with local appends: this runs for every committed record, so it is kept tight.
    for i, row in enumerate(rows):
        records.append(row.record)
        code = names.get(row.outcome)
        if code is None:
            code = names[row.outcome] = len(names)
        codes.append(code)
        if row.reason is not None:
            reason_at.append(i)
            reasons.append(row.reason)
        if row.target_key is not None:
            target_at.append(i)
            targets.append(row.target_key)
        if row.change_id is not None:
            change_at.append(i)
            change_ids.append(row.change_id)
        if row.steps is not None:
            steps_at.append(i)
            steps.append(row.steps)
    return orjson.dumps(
        {
            "format": _OUTCOMES_FORMAT,
            "record": records,
            "names": list(names),
            "outcome": codes,
            "reason": [reason_at, reasons],
            "target_key": [target_at, targets],
            "change_id": [change_at, change_ids],
            "steps": [steps_at, steps],
        }
    )


def decode_outcomes(blob: bytes) -> list[OutcomeRow]:
    """The outcome rows of one batch, from :func:`encode_outcomes`'s blob."""
    data = orjson.loads(blob)
    if data.get("format") != _OUTCOMES_FORMAT:
        raise StateError(f"unknown run outcome format {data.get('format')!r}")
    names: list[str] = data["names"]
    reasons = dict(zip(*data["reason"], strict=True))
    targets = dict(zip(*data["target_key"], strict=True))
    change_ids = dict(zip(*data["change_id"], strict=True))
    # Blobs written before step logs existed have no "steps" column.
    steps = dict(zip(*data.get("steps", ([], [])), strict=True))
    return [
        OutcomeRow(
            record, names[code], reasons.get(i), targets.get(i), change_ids.get(i), steps.get(i)
        )
        for i, (record, code) in enumerate(zip(data["record"], data["outcome"], strict=True))
    ]


# ---- SQL ---------------------------------------------------------------------------------------

_RUN_COLUMNS = (
    "run_id, flow, config_path, kind, dry_run, started_at, finished_at, status, counts, error"
)
_LEDGER_COLUMNS = (
    "system, entity, key, field_values, source_system, source_key, flow, run_id, "
    "source_changed_at, written_at"
)
_FAILED_COLUMNS = (
    "id, flow, change_id, change, reason, run_id, attempts, status, first_failed_at, last_failed_at"
)

_UPSERT_CHECKPOINT = """
INSERT INTO checkpoints (flow, cursor, sink_position, batch_seq, updated_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (flow) DO UPDATE SET
    cursor = excluded.cursor,
    sink_position = excluded.sink_position,
    batch_seq = excluded.batch_seq,
    updated_at = excluded.updated_at
"""

_UPSERT_INFLIGHT = """
INSERT INTO inflight (flow, batch_seq, token, cursor_after, run_id, started_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (flow) DO UPDATE SET
    batch_seq = excluded.batch_seq,
    token = excluded.token,
    cursor_after = excluded.cursor_after,
    run_id = excluded.run_id,
    started_at = excluded.started_at
"""

# Newest wins: an entry older than the one stored (by written_at) does not replace it; equal
# times let the later commit win.
_UPSERT_LEDGER = f"""
INSERT INTO ledger ({_LEDGER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (system, entity, key) DO UPDATE SET
    field_values = excluded.field_values,
    source_system = excluded.source_system,
    source_key = excluded.source_key,
    flow = excluded.flow,
    run_id = excluded.run_id,
    source_changed_at = excluded.source_changed_at,
    written_at = excluded.written_at
WHERE excluded.written_at >= ledger.written_at
"""

# An open record failing again counts one more attempt; a resolved one failing again is a new
# failure (attempts and first_failed_at start over). SET expressions see the old row.
_UPSERT_FAILED = """
INSERT INTO failed_records
    (flow, change_id, change, reason, run_id, attempts, status, first_failed_at, last_failed_at)
VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)
ON CONFLICT (flow, change_id) DO UPDATE SET
    change = excluded.change,
    reason = excluded.reason,
    run_id = excluded.run_id,
    attempts = CASE WHEN failed_records.status = 'open'
                    THEN failed_records.attempts + 1 ELSE excluded.attempts END,
    first_failed_at = CASE WHEN failed_records.status = 'open'
                           THEN failed_records.first_failed_at ELSE excluded.first_failed_at END,
    last_failed_at = excluded.last_failed_at,
    status = 'open'
"""

_RESOLVE_FAILED = """
UPDATE failed_records SET status = 'resolved'
WHERE flow = ? AND status = 'open' AND change_id IN (SELECT value FROM json_each(?))
"""

# Linking a and b replaces each one's earlier partner in the other system. Both directions are
# stored, so first the rows pointing back at a's and b's old partners go, then a's and b's own.
_UNLINK_PARTNERS = """
DELETE FROM identity_map WHERE (system, entity, key, other_system) IN (
    SELECT other_system, other_entity, other_key, system FROM identity_map
    WHERE (system = :sa AND entity = :ea AND key = :ka AND other_system = :sb)
       OR (system = :sb AND entity = :eb AND key = :kb AND other_system = :sa)
)
"""
_UNLINK_ENDS = """
DELETE FROM identity_map
WHERE (system = :sa AND entity = :ea AND key = :ka AND other_system = :sb)
   OR (system = :sb AND entity = :eb AND key = :kb AND other_system = :sa)
"""
_LINK = """
INSERT OR REPLACE INTO identity_map
    (system, entity, key, other_system, other_entity, other_key, flow, linked_at)
VALUES (:sa, :ea, :ka, :sb, :eb, :kb, :flow, :at), (:sb, :eb, :kb, :sa, :ea, :ka, :flow, :at)
"""


class SQLiteStateStore:
    """The :class:`~syncframe.state.base.StateStore` in one SQLite file (or in memory).

    ``path`` is a file path (its folder is created if missing) or :data:`MEMORY`. Opening applies
    any schema migrations the file lacks; a file from a newer syncframe raises
    :class:`~syncframe.state.migrations.SchemaVersionError`. ``clock`` stamps the times the store
    records itself (checkpoint updates, failures, link times, run ends).
    """

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._closed = False
        if str(path) == MEMORY:
            self.path: Path | None = None
            where = MEMORY
        else:
            self.path = Path(path)
            where = str(self.path)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot create the folder of state file {where}: {exc}") from exc
        try:
            conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state file {where}: {exc}") from exc
        try:
            self._configure(conn, where)
            migrate(conn, where, self._now())
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StateError(f"cannot use state file {where}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @staticmethod
    def _configure(conn: sqlite3.Connection, where: str) -> None:
        # The busy timeout comes first: switching to WAL itself needs a lock.
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if where != MEMORY and str(mode).lower() != "wal":
            log.warning("state file %s: WAL mode unavailable, using journal mode %s", where, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")

    def _now(self) -> str:
        return _ts(self._clock.now())

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: taken at once (``BEGIN IMMEDIATE``), all or nothing."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads and single-statement writes (each atomic on its own)."""
        with self._lock:
            yield self._conn

    def close(self) -> None:
        """Flush and release the store. Closing twice is harmless; any other call after it
        raises :class:`sqlite3.ProgrammingError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        with self._connection() as conn:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0])

    # ---- checkpoints -------------------------------------------------------------------------

    def get_checkpoint(self, flow: str) -> Checkpoint | None:
        """The last committed checkpoint of ``flow``, or ``None`` before its first batch."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT cursor, sink_position, batch_seq, updated_at FROM checkpoints"
                " WHERE flow = ?",
                (flow,),
            ).fetchone()
        if row is None:
            return None
        return Checkpoint(flow, _load(row[0]), _load(row[1]), row[2], _dt(row[3]))

    def begin_batch(self, inflight: Inflight) -> None:
        """Record that a batch goes to the sink now (replaces any earlier in-flight marker)."""
        params = (
            inflight.flow,
            inflight.batch_seq,
            inflight.token,
            _dump(inflight.cursor_after),
            inflight.run_id,
            _ts(inflight.started_at),
        )
        with self._connection() as conn:
            conn.execute(_UPSERT_INFLIGHT, params)

    def get_inflight(self, flow: str) -> Inflight | None:
        """The batch that was handed to the sink and never committed, if any."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT batch_seq, token, cursor_after, run_id, started_at FROM inflight"
                " WHERE flow = ?",
                (flow,),
            ).fetchone()
        if row is None:
            return None
        return Inflight(flow, row[0], row[1], _load(row[2]), row[3], _dt(row[4]))

    def clear_inflight(self, flow: str) -> None:
        """Forget the in-flight marker (the batch will be read again)."""
        with self._connection() as conn:
            conn.execute("DELETE FROM inflight WHERE flow = ?", (flow,))

    def commit_batch(self, commit: BatchCommit) -> None:
        """In one transaction: move the checkpoint (if ``move_cursor``), clear the in-flight
        marker, append the run's outcomes, write ledger entries and links, add failed records
        (incrementing ``attempts`` of one already open) and resolve delivered ones.

        With ``move_cursor=False`` (a failed-record retry) the cursor and the flow's in-flight
        marker are not touched (that marker belongs to a source batch, which a retry batch
        neither delivers nor replaces), but the sink position of an existing checkpoint is.
        A batch without outcome rows stores no outcome row.

        Ledger entries replace an older entry of the same record only (``written_at`` decides;
        equal times: the later commit wins). A link replaces the earlier link of either record to
        the other system. A failed record that is already open counts one more attempt and
        takes the new reason; one that was resolved opens again as a new failure.

        Raises whatever the database raises (e.g. :class:`sqlite3.IntegrityError` for outcomes of
        a run that was never started); then nothing of the batch has been stored.
        """
        # Encoding happens before the lock is taken: it is the CPU-heavy part.
        now = self._now()
        blob = encode_outcomes(commit.outcomes) if commit.outcomes else None
        ledger = [
            (
                e.system,
                e.entity,
                e.key,
                _dump(e.values),
                e.source_system,
                e.source_key,
                e.flow,
                e.run_id,
                _ts(e.source_changed_at),
                _ts(e.written_at),
            )
            for e in commit.ledger
        ]
        failed = [
            (
                f.flow,
                f.change_id,
                _dump(f.change),
                f.reason,
                f.run_id,
                f.attempts,
                _ts(f.first_failed_at) if f.first_failed_at else now,
                _ts(f.last_failed_at) if f.last_failed_at else now,
            )
            for f in commit.failed
        ]
        links = [_link_params(link, now) for link in commit.links]
        with self._transaction() as conn:
            if commit.move_cursor:
                conn.execute(
                    _UPSERT_CHECKPOINT,
                    (
                        commit.flow,
                        _dump(commit.cursor),
                        _dump(commit.sink_position),
                        commit.batch_seq,
                        now,
                    ),
                )
                conn.execute("DELETE FROM inflight WHERE flow = ?", (commit.flow,))
            else:
                # A retry batch moved the sink (a file grew) but not the source: keep the
                # sink's position, or the next run would cut the retried records off again.
                conn.execute(
                    "UPDATE checkpoints SET sink_position = ?, updated_at = ? WHERE flow = ?",
                    (_dump(commit.sink_position), now, commit.flow),
                )
            if blob is not None:
                conn.execute(
                    "INSERT INTO run_outcomes (run_id, batch_seq, blob) VALUES (?, ?, ?)",
                    (commit.run_id, commit.batch_seq, blob),
                )
            if ledger:
                conn.executemany(_UPSERT_LEDGER, ledger)
            if links:
                _store_links(conn, links)
            if failed:
                conn.executemany(_UPSERT_FAILED, failed)
            if commit.resolved_failed:
                conn.execute(_RESOLVE_FAILED, (commit.flow, _dump(commit.resolved_failed)))

    def reset_flow(self, flow: str) -> None:
        """Forget the checkpoint and in-flight marker of ``flow`` (next run starts over)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM checkpoints WHERE flow = ?", (flow,))
            conn.execute("DELETE FROM inflight WHERE flow = ?", (flow,))

    # ---- identity map ------------------------------------------------------------------------

    def find_links(
        self, system: str, entity: str, keys: Sequence[str], other_system: str
    ) -> dict[str, str]:
        """For each key of ``system``/``entity`` that is linked to a record in ``other_system``,
        that record's key. Links are symmetric."""
        if not keys:
            return {}
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT key, other_key FROM identity_map"
                " WHERE system = ? AND entity = ? AND other_system = ?"
                " AND key IN (SELECT value FROM json_each(?))",
                (system, entity, other_system, _dump(list(keys))),
            ).fetchall()
        return {key: other for key, other in rows}

    # ---- loop-guard ledger -------------------------------------------------------------------

    def ledger_get(self, system: str, entity: str, keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """The latest ledger entry of each key that has one."""
        if not keys:
            return {}
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_LEDGER_COLUMNS} FROM ledger WHERE system = ? AND entity = ?"
                " AND key IN (SELECT value FROM json_each(?))",
                (system, entity, _dump(list(keys))),
            ).fetchall()
        return {row[2]: _ledger_entry(row) for row in rows}

    def ledger_latest(self, system: str, source_system: str) -> LedgerEntry | None:
        """The most recent write into ``system`` caused by a change in ``source_system``."""
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_LEDGER_COLUMNS} FROM ledger WHERE system = ? AND source_system = ?"
                " ORDER BY written_at DESC LIMIT 1",
                (system, source_system),
            ).fetchone()
        return None if row is None else _ledger_entry(row)

    # ---- runs --------------------------------------------------------------------------------

    def start_run(self, run: RunRecord) -> None:
        """Record a run as started (a run id already recorded raises
        :class:`sqlite3.IntegrityError`)."""
        params = (
            run.run_id,
            run.flow,
            run.config_path,
            run.kind,
            int(run.dry_run),
            _ts(run.started_at),
            _ts(run.finished_at) if run.finished_at else None,
            run.status,
            _dump(run.counts),
            run.error,
        )
        with self._connection() as conn:
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", params
            )

    def finish_run(
        self, run_id: str, status: str, counts: dict[str, int], error: str | None
    ) -> None:
        """Record how a run ended (now, by the store's clock). An unknown run id raises
        :class:`~syncframe.state.migrations.StateError`."""
        with self._connection() as conn:
            updated = conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, counts = ?, error = ?"
                " WHERE run_id = ?",
                (self._now(), status, _dump(counts), error, run_id),
            ).rowcount
        if updated == 0:
            raise StateError(f"cannot finish run {run_id!r}: no such run was started")

    def list_runs(self, flow: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Most recent runs first (by start time; runs started at the same time: last recorded
        first)."""
        where, params = ("WHERE flow = ?", [flow]) if flow is not None else ("", [])
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where}"
                " ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (*params, max(limit, 0)),
            ).fetchall()
        return [_run_record(row) for row in rows]

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run, by its id or a unique prefix of it.

        An exact id always wins. ``None`` when nothing matches (or ``run_id`` is empty); a prefix
        that matches several runs raises :class:`AmbiguousRunIdError` naming some of them.
        """
        if not run_id:
            return None
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is not None:
                return _run_record(row)
            # Ids sharing a prefix sort together right after it: the first few ids from the
            # prefix on tell whether it is unique.
            candidates = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id > ? ORDER BY run_id LIMIT 6",
                (run_id,),
            ).fetchall()
        matches = [row for row in candidates if row[0].startswith(run_id)]
        if not matches:
            return None
        if len(matches) > 1:
            shown = ", ".join(row[0] for row in matches[:5])
            more = ", ..." if len(matches) > 5 else ""
            raise AmbiguousRunIdError(
                f"run id {run_id!r} is ambiguous: it starts {shown}{more}; give more characters"
            )
        return _run_record(matches[0])

    def run_outcomes(self, run_id: str) -> Iterator[OutcomeRow]:
        """The per-record outcomes of a run, in the order they were committed (streamed).

        One committed batch is read at a time, and the lock is not held between batches, so the
        engine may keep committing while a caller consumes the stream.
        """
        last = 0
        while True:
            with self._connection() as conn:
                row = conn.execute(
                    "SELECT id, blob FROM run_outcomes WHERE run_id = ? AND id > ?"
                    " ORDER BY id LIMIT 1",
                    (run_id, last),
                ).fetchone()
            if row is None:
                return
            last = row[0]
            yield from decode_outcomes(row[1])

    # ---- failed records ----------------------------------------------------------------------

    def list_failed(self, flow: str | None = None, status: str = "open") -> list[FailedRecord]:
        """Failed records with ``status`` (``open`` or ``resolved``), oldest first."""
        where, params = "WHERE status = ?", [status]
        if flow is not None:
            where, params = where + " AND flow = ?", [*params, flow]
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_FAILED_COLUMNS} FROM failed_records {where}"
                " ORDER BY first_failed_at, id",
                params,
            ).fetchall()
        return [_failed_record(row) for row in rows]

    def get_failed(self, ids: Sequence[int]) -> list[FailedRecord]:
        """Failed records by id, in the order asked for; unknown ids are left out."""
        if not ids:
            return []
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_FAILED_COLUMNS} FROM failed_records"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (_dump(list(ids)),),
            ).fetchall()
        by_id = {row[0]: _failed_record(row) for row in rows}
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    # ---- webhook inbox -----------------------------------------------------------------------

    def inbox_add(self, flow: str, events: Sequence[tuple[str, Any]]) -> list[InboxEvent]:
        """Store delivered events, once per event id; see the protocol."""
        now = self._now()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO inbox (flow, event_id, payload, received_at)"
                " VALUES (?, ?, ?, ?)",
                [(flow, event_id, _dump(payload), now) for event_id, payload in events],
            )
            stored = self._inbox_rows(conn, flow, [event_id for event_id, _ in events])
        return [stored[event_id] for event_id, _ in events]

    def inbox_read(self, flow: str, after: int, limit: int) -> list[InboxEvent]:
        """Events of ``flow`` after ``seq``, oldest first."""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE flow = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (flow, after, limit),
            ).fetchall()
        return [_inbox_event(row) for row in rows]

    def inbox_get(self, flow: str, event_ids: Sequence[str]) -> dict[str, InboxEvent]:
        """Stored events by id."""
        with self._connection() as conn:
            return self._inbox_rows(conn, flow, event_ids)

    @staticmethod
    def _inbox_rows(
        conn: sqlite3.Connection, flow: str, event_ids: Sequence[str]
    ) -> dict[str, InboxEvent]:
        if not event_ids:
            return {}
        rows = conn.execute(
            f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE flow = ?"
            " AND event_id IN (SELECT value FROM json_each(?))",
            (flow, _dump(list(event_ids))),
        ).fetchall()
        return {row[2]: _inbox_event(row) for row in rows}

    def inbox_settle(self, flow: str, outcomes: Mapping[str, tuple[str, str | None]]) -> None:
        """Record events' outcomes."""
        if not outcomes:
            return
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE inbox SET outcome = ?, reason = ? WHERE flow = ? AND event_id = ?",
                [(o, r, flow, event_id) for event_id, (o, r) in outcomes.items()],
            )

    def inbox_prune(self, flow: str, before: datetime, upto_seq: int) -> int:
        """Forget old events the flow has read."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM inbox WHERE flow = ? AND received_at < ? AND seq <= ?",
                (flow, _ts(before), upto_seq),
            )
            return cursor.rowcount


_INBOX_COLUMNS = "seq, flow, event_id, payload, received_at, outcome, reason"


def _inbox_event(row: Sequence[Any]) -> InboxEvent:
    return InboxEvent(row[0], row[1], row[2], _load(row[3]), _dt(row[4]), row[5], row[6])


# ---- helpers -------------------------------------------------------------------------------------


def _link_params(link: Link, now: str) -> dict[str, str]:
    return {
        "sa": link.system_a,
        "ea": link.entity_a,
        "ka": link.key_a,
        "sb": link.system_b,
        "eb": link.entity_b,
        "kb": link.key_b,
        "flow": link.flow,
        "at": now,
    }


def _store_links(conn: sqlite3.Connection, links: list[dict[str, str]]) -> None:
    """Store links in order: a later link replaces an earlier one of the same record."""
    ends: set[tuple[str, str, str, str]] = set()
    for p in links:
        ends.add((p["sa"], p["ea"], p["ka"], p["sb"]))
        ends.add((p["sb"], p["eb"], p["kb"], p["sa"]))
    if len(ends) == 2 * len(links):
        # No record is linked twice in this batch, so the links do not interact: all
        # unlinking first, then all linking, gives the same result as one link at a time.
        conn.executemany(_UNLINK_PARTNERS, links)
        conn.executemany(_UNLINK_ENDS, links)
        conn.executemany(_LINK, links)
        return
    for p in links:
        conn.execute(_UNLINK_PARTNERS, p)
        conn.execute(_UNLINK_ENDS, p)
        conn.execute(_LINK, p)


def _ledger_entry(row: Sequence[Any]) -> LedgerEntry:
    return LedgerEntry(
        system=row[0],
        entity=row[1],
        key=row[2],
        values=_load(row[3]),
        source_system=row[4],
        source_key=row[5],
        flow=row[6],
        run_id=row[7],
        source_changed_at=_dt(row[8]),
        written_at=_dt(row[9]),
    )


def _run_record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        flow=row[1],
        config_path=row[2],
        kind=row[3],
        dry_run=bool(row[4]),
        started_at=_dt(row[5]),
        finished_at=_dt_or_none(row[6]),
        status=row[7],
        counts=_load(row[8]),
        error=row[9],
    )


def _failed_record(row: Sequence[Any]) -> FailedRecord:
    return FailedRecord(
        id=row[0],
        flow=row[1],
        change_id=row[2],
        change=_load(row[3]),
        reason=row[4],
        run_id=row[5],
        attempts=row[6],
        status=row[7],
        first_failed_at=_dt(row[8]),
        last_failed_at=_dt(row[9]),
    )
