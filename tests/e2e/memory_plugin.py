"""A small plugin for the end-to-end tests: a "memory" system kept in a SQLite file.

The store file holds, for any number of entities:

* ``changes``: the source side, a change log with a monotonically increasing sequence number;
  the source ``memory_records`` reads it and its cursor is the last sequence number read;
* ``records``: the target side, one row per record key, written by the sink ``memory_records``;
* ``journal``: every change the sink applied (change id, key, outcome, batch token), appended in
  the same transaction as the data, so a test can prove each change landed exactly once;
* ``applied_batches``: the batch tokens, written in that same transaction, which is what
  :meth:`MemorySink.was_applied` answers from.

The sink never looks at the journal to decide what to write: whether a batch is written twice
after a crash is up to the engine's protocol (in-flight marker, ``was_applied``, cursor commit).

Everything lives in files, so it survives process boundaries (the CLI runs in a subprocess and
gets killed). Registered in-process with ``Host(plugins=[memory_plugin])`` and in a subprocess
with ``SYNCFRAME_PLUGINS_EXTRA=tests.e2e.memory_plugin``.

Test knobs:

* a connection's ``control`` file (JSON, read on every call): ``transient`` (the next N writes
  raise :class:`TransientError`; the count is decremented in the file), ``poison`` (records whose
  ``status`` equals it make the write raise :class:`PermanentError`; overrides the sink option),
  ``write_delay`` (seconds per record written), ``read_delay`` (seconds per batch read);
* ``MEMORY_KILL_AT`` in the environment, ``point:N[,point:N...]``: the process kills itself with
  SIGKILL the N-th time (1-based, counted per process) it reaches ``point``:

  - ``sink_uncommitted``: the sink ran its statements but has not committed them;
  - ``sink_committed``: the sink committed, the engine has not committed its state (the
    dangerous window);
  - ``source_read``: the source is about to hand on a batch;
  - ``source_acknowledged``: the engine committed a batch's cursor and told the source;
  - ``jsonl_written``: the built-in jsonl sink (wrapped as ``killable_jsonl``) wrote a batch,
    the engine has not committed it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import anyio
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncframe import (
    BatchResult,
    Change,
    ComponentContext,
    Operation,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    TargetLookup,
    TargetRecord,
    TransientError,
    WritePlan,
    hookimpl,
)

KILL_ENV = "MEMORY_KILL_AT"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (entity, key)
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    outcome TEXT NOT NULL,
    token TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_batches (token TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# --------------------------------------------------------------------------------------------
# Kill points


_reached: dict[str, int] = {}


def kill_point(point: str) -> None:
    """SIGKILL this process if ``MEMORY_KILL_AT`` asks for it at this arrival at ``point``."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    _reached[point] = _reached.get(point, 0) + 1
    for item in wanted.split(","):
        name, _, count = item.strip().partition(":")
        if name == point and int(count or 1) == _reached[point]:
            os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# The store file


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One change the sink applied."""

    change_id: str
    entity: str
    key: str
    outcome: str
    token: str


class MemoryStore:
    """The SQLite file behind a memory connection (tests use it to seed and inspect)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit), closed afterwards."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            conn.executescript(_SCHEMA)
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back on error."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            kill_point("sink_uncommitted")
            conn.execute("COMMIT")

    # ---- source side -------------------------------------------------------------------------
    def add_changes(
        self,
        entity: str,
        records: Sequence[dict[str, Any]],
        *,
        key_field: str = "id",
        operation: Operation = Operation.UPDATE,
    ) -> list[int]:
        """Append changes to the change log; returns their sequence numbers."""
        seqs: list[int] = []
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            for record in records:
                cur = conn.execute(
                    "INSERT INTO changes (entity, key, operation, fields) VALUES (?, ?, ?, ?)",
                    (entity, str(record[key_field]), operation.value, json.dumps(record)),
                )
                assert cur.lastrowid is not None
                seqs.append(cur.lastrowid)
            conn.execute("COMMIT")
        return seqs

    def changes_after(self, entity: str, seq: int, limit: int) -> list[tuple[int, str, str, str]]:
        """Up to ``limit`` changes of ``entity`` after ``seq``: (seq, key, operation, fields)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT seq, key, operation, fields FROM changes "
                "WHERE entity = ? AND seq > ? ORDER BY seq LIMIT ?",
                (entity, seq, limit),
            ).fetchall()
        return [(int(s), str(k), str(o), str(f)) for s, k, o, f in rows]

    def last_seq(self, entity: str) -> int:
        """The sequence number of the newest change of ``entity`` (0: none)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT MAX(seq) FROM changes WHERE entity = ?", (entity,)
            ).fetchone()
        return int(row[0] or 0)

    # ---- target side -------------------------------------------------------------------------
    def records(self, entity: str) -> dict[str, dict[str, Any]]:
        """Every record of ``entity`` in the target, by key."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT key, fields FROM records WHERE entity = ?", (entity,)
            ).fetchall()
        return {str(key): json.loads(fields) for key, fields in rows}

    def put_record(self, entity: str, key: str, fields: dict[str, Any]) -> None:
        """Seed a target record directly (not journaled: it is not a sync)."""
        with self.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO records (entity, key, fields) VALUES (?, ?, ?)",
                (entity, key, json.dumps(fields)),
            )

    def journal(self) -> list[JournalEntry]:
        """Every application the sink performed, oldest first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT change_id, entity, key, outcome, token FROM journal ORDER BY id"
            ).fetchall()
        return [JournalEntry(*row) for row in rows]

    def tokens(self) -> set[str]:
        """The batch tokens the sink committed."""
        with self.connect() as conn:
            return {row[0] for row in conn.execute("SELECT token FROM applied_batches")}

    def set_meta(self, name: str, value: str) -> None:
        """Store a named value (e.g. the api token the store accepts)."""
        with self.connect() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def meta(self, name: str) -> str | None:
        """A named value, if stored."""
        with self.connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])


class Control:
    """The test knobs of a connection, kept in a JSON file read on every call."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        """The knobs (none when there is no file)."""
        if self.path is None or not self.path.exists():
            return {}
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    def take_transient(self) -> bool:
        """Whether this write must fail transiently (uses up one of ``transient``)."""
        data = self.read()
        left = int(data.get("transient", 0))
        if left <= 0 or self.path is None:
            return False
        data["transient"] = left - 1
        self.path.write_text(json.dumps(data))
        return True


def write_control(path: Path, **knobs: Any) -> None:
    """Write a control file (tests)."""
    path.write_text(json.dumps(knobs))


# --------------------------------------------------------------------------------------------
# The system


class MemorySettings(BaseSettings):
    """A memory store: a SQLite file standing in for a remote system."""

    model_config = SettingsConfigDict(extra="forbid")

    store: str = Field(description="Path of the store file (relative to the flow file).")
    api_token: SecretStr = Field(description="Token the store accepts (if it has one set).")
    control: str | None = Field(None, description="Path of a JSON file of test knobs.")


class _MemoryComponent:
    """What the memory source and sink share: the store, the control file, the token check."""

    context: ComponentContext

    def _settings(self) -> MemorySettings:
        settings = self.context.connection
        assert isinstance(settings, MemorySettings)
        return settings

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else Path(self.context.config_dir) / path

    @property
    def store(self) -> MemoryStore:
        """The connection's store."""
        return MemoryStore(self._path(self._settings().store))

    @property
    def control(self) -> Control:
        """The connection's test knobs."""
        control = self._settings().control
        return Control(self._path(control) if control else None)

    def _authenticate(self) -> None:
        wanted = self.store.meta("api_token")
        if wanted is not None and wanted != self._settings().api_token.get_secret_value():
            raise PermanentError(
                f"memory store {self._settings().store!r} refused the api token of connection "
                f"{self.context.connection_name!r}"
            )


class SourceOptions(BaseModel):
    """Options of the memory source."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(description="The entity whose changes are read.")
    key_field: str = Field("id", description="The field holding the record key.")


class MemorySource(_MemoryComponent, Source[SourceOptions]):
    """Reads changes of one entity from a memory store; the cursor is the last sequence read."""

    Options: ClassVar[type[BaseModel]] = SourceOptions
    system: ClassVar[str | None] = "memory"

    async def check(self) -> None:
        self._authenticate()

    async def read(self, cursor: Any, batch_size: int) -> AsyncIterator[SourceBatch]:
        self._authenticate()
        last = int(cursor or 0)
        system = self.context.connection_name
        entity = self.options.entity
        while True:
            rows = self.store.changes_after(entity, last, batch_size)
            if not rows:
                return
            delay = float(self.control.read().get("read_delay", 0))
            if delay:
                await anyio.sleep(delay)
            changes = [
                Change(
                    system,
                    entity,
                    {self.options.key_field: key},
                    Operation(operation),
                    json.loads(fields),
                    change_id=f"{system}:{entity}:{seq}",
                )
                for seq, key, operation, fields in rows
            ]
            last = rows[-1][0]
            kill_point("source_read")
            yield SourceBatch(changes, last)

    async def acknowledged(self, cursor: Any) -> None:
        kill_point("source_acknowledged")


class SinkOptions(BaseModel):
    """Options of the memory sink."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(description="The entity records are written as.")
    reject_status: str = Field(
        "invalid", description="Records whose status is this are rejected with a reason."
    )
    poison_status: str | None = Field(
        "poison", description="Records whose status is this make the write fail permanently."
    )


class _Lookup(TargetLookup):
    def __init__(self, store: MemoryStore, entity: str) -> None:
        self.store = store
        self.entity = entity

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        wanted = {str(v) for v in values}
        found: dict[str, list[TargetRecord]] = {}
        for key, fields in sorted(self.store.records(self.entity).items()):
            value = fields.get(field)
            if value is not None and str(value) in wanted:
                found.setdefault(str(value), []).append(TargetRecord(key, fields))
        return found


class MemorySink(_MemoryComponent, Sink[SinkOptions]):
    """Writes records into a memory store by key, transactionally, journaling each change."""

    Options: ClassVar[type[BaseModel]] = SinkOptions
    system: ClassVar[str | None] = "memory"

    async def check(self) -> None:
        self._authenticate()

    async def open(self, position: Any) -> None:
        self._authenticate()

    async def was_applied(self, token: str) -> bool:
        return token in self.store.tokens()

    def lookup(self) -> TargetLookup:
        return _Lookup(self.store, self.options.entity)

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        knobs = self.control.read()
        poison = knobs.get("poison", self.options.poison_status)
        for change in changes:
            if poison is not None and change.fields.get("status") == poison:
                raise PermanentError(
                    f"{change.describe()}: the store refuses records with status {poison!r}"
                )
        if not plan.dry_run and self.control.take_transient():
            raise TransientError("memory store is busy (injected fault)")
        delay = float(knobs.get("write_delay", 0)) * len(changes)
        if delay and not plan.dry_run:
            await anyio.sleep(delay)
        entity = self.options.entity
        result = BatchResult([])
        if plan.dry_run:
            self._decide(self.store.records(entity), changes, plan, result)
            return result
        with self.store.transaction() as conn:
            existing = {
                str(key): json.loads(fields)
                for key, fields in conn.execute(
                    "SELECT key, fields FROM records WHERE entity = ?", (entity,)
                )
            }
            for i, key, fields in self._decide(existing, changes, plan, result):
                change = changes[i]
                outcome = result.outcomes[i]
                if outcome is Outcome.DELETED:
                    conn.execute("DELETE FROM records WHERE entity = ? AND key = ?", (entity, key))
                elif outcome.wrote:
                    conn.execute(
                        "INSERT OR REPLACE INTO records (entity, key, fields) VALUES (?, ?, ?)",
                        (entity, key, json.dumps(fields)),
                    )
                conn.execute(
                    "INSERT INTO journal (change_id, entity, key, outcome, token) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (change.change_id, entity, key, outcome.value, plan.token),
                )
            conn.execute("INSERT INTO applied_batches (token) VALUES (?)", (plan.token,))
        kill_point("sink_committed")
        return result

    def _decide(
        self,
        existing: dict[str, dict[str, Any]],
        changes: Sequence[Change],
        plan: WritePlan,
        result: BatchResult,
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """Fill ``result`` with each change's outcome; return what to apply (index, key,
        fields). ``existing`` is updated as changes apply, so a batch may touch a key twice."""
        applied: list[tuple[int, str, dict[str, Any]]] = []
        for i, change in enumerate(changes):
            key = (plan.targets[i] if plan.targets else None) or change.key
            if change.fields.get("status") == self.options.reject_status:
                result.outcomes.append(Outcome.REJECTED)
                result.reasons[i] = (
                    f"{change.describe()}: status {self.options.reject_status!r} is not accepted"
                )
                continue
            before = existing.get(key)
            if change.operation is Operation.DELETE:
                outcome = Outcome.UNCHANGED if before is None else Outcome.DELETED
                existing.pop(key, None)
                fields: dict[str, Any] = {}
            else:
                fields = dict(change.fields)
                if before is None:
                    outcome = Outcome.CREATED
                elif before == fields:
                    outcome = Outcome.UNCHANGED
                else:
                    outcome = Outcome.UPDATED
                existing[key] = fields
            result.outcomes.append(outcome)
            result.target_keys[i] = key
            applied.append((i, key, fields))
        return applied


# --------------------------------------------------------------------------------------------
# The built-in jsonl sink with a kill point after its write (for the kill test)


def _killable_jsonl() -> type[Sink[Any]] | None:
    try:
        from syncframe.builtins.files import JsonlSink
    except ImportError:
        return None

    class KillableJsonlSink(JsonlSink):
        """The built-in jsonl sink, which can kill the process right after it wrote."""

        async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
            result: BatchResult = await super().write(changes, plan)
            kill_point("jsonl_written")
            return result

    return KillableJsonlSink


# --------------------------------------------------------------------------------------------
# Registration


@hookimpl
def syncframe_register_systems(register: Any) -> None:
    register("memory", MemorySettings)


@hookimpl
def syncframe_register_sources(register: Any) -> None:
    register("memory_records", MemorySource)


@hookimpl
def syncframe_register_sinks(register: Any) -> None:
    register("memory_records", MemorySink)
    killable = _killable_jsonl()
    if killable is not None:
        register("killable_jsonl", killable)
