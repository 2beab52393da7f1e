"""A table in a SQL database as a sink (SQLite now; the dialect layer is where PostgreSQL goes).

Each batch is classified against the rows already in the table (created, updated, unchanged,
deleted, rejected) and applied in one transaction together with the batch's token, so after a
crash the engine can ask whether the batch landed.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncframe.components import (
    BatchResult,
    ComponentContext,
    JSONValue,
    Outcome,
    PermanentError,
    Sink,
    TargetLookup,
    TargetRecord,
    TransientError,
    WritePlan,
)
from syncframe.records import Change, Operation

__all__ = ["Dialect", "SQLiteDialect", "SqlTableOptions", "SqlTableSink"]

APPLIED_TABLE = "_syncframe_applied"
_URL_HELP = "use sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:///:memory:"


class SqlTableOptions(BaseModel):
    """Options of the ``sql_table`` sink."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "sqlite:///syncframe-target.db",
        description="The database; a relative SQLite path is read against the flow file's folder.",
    )
    table: str = Field(min_length=1, description="The table written to.")
    key: str = Field(min_length=1, description="The column that identifies a record (unique).")
    columns: list[str] | None = Field(
        None,
        description="The columns written (besides the key); default: every field, with a TEXT "
        "column added for each new one. Fields that are not columns are left out.",
    )
    create_table: bool = Field(True, description="Create the table if it does not exist.")
    indexes: list[str] = Field(
        default_factory=list,
        description="Columns to index when the table is created (those matchers look up by).",
    )
    fsync: bool = Field(
        False,
        description="Force every batch to disk before acknowledging it (power-loss safe, "
        "slower). Off, a committed batch survives a crash of syncframe but a power loss may "
        "undo the last ones (SQLite: WAL with synchronous NORMAL rather than FULL).",
    )
    generate_keys: bool = Field(
        False,
        description="Give a record to create that has no key value a new random key, instead "
        "of rejecting it.",
    )

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() != "sqlite":
            shown = f"{scheme}://" if sep else redact(value)
            raise ValueError(
                f"only SQLite databases are supported so far, not {shown}; {_URL_HELP}"
            )
        if rest not in (":memory:", "/:memory:") and (not rest.startswith("/") or rest == "/"):
            raise ValueError(f"database URL {value!r} names no file; {_URL_HELP}")
        return value


def redact(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        credentials, _, host = rest.partition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


# --------------------------------------------------------------------------------------------
# Dialects: what differs between databases. Everything else talks DB-API.


class Dialect(ABC):
    """SQL text and catalogue queries of one database kind."""

    #: The DB-API placeholder.
    param: ClassVar[str] = "?"

    @abstractmethod
    def connect(self, fsync: bool) -> Any:
        """A DB-API connection in autocommit mode (transactions are explicit); ``fsync``: each
        commit reaches the disk before it returns."""

    @staticmethod
    def quote(name: str) -> str:
        """A quoted identifier."""
        return '"' + name.replace('"', '""') + '"'

    @abstractmethod
    def columns(self, conn: Any, table: str) -> list[str] | None:
        """The table's columns in order, or ``None`` if there is no such table."""

    @abstractmethod
    def unique_columns(self, conn: Any, table: str) -> set[str]:
        """Columns that alone are a primary key or carry a unique index (lower case)."""

    @abstractmethod
    def keys_param(self, values: Sequence[str]) -> Any:
        """A list of values bound as one parameter, for :meth:`in_list`."""

    @abstractmethod
    def in_list(self) -> str:
        """SQL for ``IN (<the values bound by keys_param>)``."""

    def begin(self, conn: Any) -> None:
        """Start a transaction."""
        conn.execute("BEGIN")

    def commit(self, conn: Any) -> None:
        """Commit it."""
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        """Roll it back."""
        conn.execute("ROLLBACK")

    def savepoint(self, conn: Any) -> None:
        """Mark a point inside the transaction to roll back to."""
        conn.execute("SAVEPOINT syncframe_part")

    def release_savepoint(self, conn: Any) -> None:
        """Keep what was done since the mark."""
        conn.execute("RELEASE SAVEPOINT syncframe_part")

    def rollback_to_savepoint(self, conn: Any) -> None:
        """Undo what was done since the mark (and drop the mark)."""
        conn.execute("ROLLBACK TO SAVEPOINT syncframe_part")
        conn.execute("RELEASE SAVEPOINT syncframe_part")

    @abstractmethod
    def refuses_record(self, exc: Exception) -> bool:
        """Whether ``exc`` means the database refused a record (a constraint), not a failure."""

    def create_table(self, table: str, key: str, columns: Iterable[str]) -> str:
        """A table of text columns keyed by ``key``."""
        q = self.quote
        body = ", ".join([f"{q(key)} TEXT PRIMARY KEY", *(f"{q(c)} TEXT" for c in columns)])
        return f"CREATE TABLE IF NOT EXISTS {q(table)} ({body})"

    def create_index(self, table: str, column: str) -> str:
        """An index on one column."""
        q = self.quote
        return f"CREATE INDEX IF NOT EXISTS {q(f'ix_{table}_{column}')} ON {q(table)} ({q(column)})"

    def add_column(self, table: str, column: str) -> str:
        """Add a text column."""
        return f"ALTER TABLE {self.quote(table)} ADD COLUMN {self.quote(column)} TEXT"

    def upsert(self, table: str, key: str, columns: Sequence[str]) -> str:
        """Insert a row (``columns`` then ``key``), or update those columns if the key exists."""
        q = self.quote
        names = ", ".join(q(c) for c in (*columns, key))
        marks = ", ".join([self.param] * (len(columns) + 1))
        if not columns:
            return f"INSERT INTO {q(table)} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns)
        return (
            f"INSERT INTO {q(table)} ({names}) VALUES ({marks}) "
            f"ON CONFLICT ({q(key)}) DO UPDATE SET {updates}"
        )

    def delete(self, table: str, key: str) -> str:
        """Delete the row with a key."""
        return f"DELETE FROM {self.quote(table)} WHERE {self.quote(key)} = {self.param}"

    def create_applied(self) -> str:
        """The table of the last batch token applied per flow."""
        return (
            f"CREATE TABLE IF NOT EXISTS {APPLIED_TABLE} "
            "(flow TEXT PRIMARY KEY, token TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )

    def record_applied(self) -> str:
        """Store a flow's batch token (three parameters: flow, token, time)."""
        p = self.param
        return (
            f"INSERT INTO {APPLIED_TABLE} (flow, token, applied_at) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (flow) DO UPDATE SET token = excluded.token, "
            "applied_at = excluded.applied_at"
        )

    def read_applied(self) -> str:
        """The flow's last token (one parameter: flow)."""
        return f"SELECT token FROM {APPLIED_TABLE} WHERE flow = {self.param}"


class SQLiteDialect(Dialect):
    """SQLite through the standard library."""

    def __init__(self, path: str) -> None:
        self.path = path

    def connect(self, fsync: bool) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        # WAL: one sequential write per commit, and readers of the table are not blocked.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        return conn

    def columns(self, conn: Any, table: str) -> list[str] | None:
        rows = conn.execute(f"PRAGMA table_info({self.quote(table)})").fetchall()
        return [row[1] for row in rows] or None

    def unique_columns(self, conn: Any, table: str) -> set[str]:
        q = self.quote
        info = conn.execute(f"PRAGMA table_info({q(table)})").fetchall()
        primary = [row[1] for row in info if row[5]]
        unique = {primary[0].lower()} if len(primary) == 1 else set()
        for index in conn.execute(f"PRAGMA index_list({q(table)})").fetchall():
            if index[2]:  # unique
                cols = conn.execute(f"PRAGMA index_info({q(index[1])})").fetchall()
                if len(cols) == 1:
                    unique.add(str(cols[0][2]).lower())
        return unique

    def keys_param(self, values: Sequence[str]) -> Any:
        return orjson.dumps(values).decode()

    def refuses_record(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError)

    def in_list(self) -> str:
        return "IN (SELECT value FROM json_each(?))"

    def begin(self, conn: Any) -> None:
        # Take the write lock now, not half-way through the batch.
        conn.execute("BEGIN IMMEDIATE")


def dialect_for(url: str, config_dir: str) -> Dialect:
    """The dialect (and database) of a URL that passed :class:`SqlTableOptions` validation."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "sqlite":
        raise PermanentError(f"database URLs starting {scheme}:// are not supported; {_URL_HELP}")
    if rest in (":memory:", "/:memory:"):
        return SQLiteDialect(":memory:")
    path = Path(rest[1:]).expanduser()
    return SQLiteDialect(str(path if path.is_absolute() else Path(config_dir) / path))


# --------------------------------------------------------------------------------------------
# Values: everything is stored and compared as text, so 42 and "42" are the same value.


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return str(value)


_PLAIN = {str, type(None)}


def _as_text(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with every value as text; a no-op (checked in C) when they already are."""
    if set(map(type, chain.from_iterable(rows))) <= _PLAIN:
        return rows
    return [tuple(map(_text, row)) for row in rows]


def _getter(columns: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(columns) > 1:
        return itemgetter(*columns)
    if len(columns) == 1:
        name = columns[0]
        return lambda record: (record[name],)
    return lambda record: ()


# --------------------------------------------------------------------------------------------
# The sink


_DELETE = "delete"


@dataclass(slots=True)
class _Batch:
    """A batch being written: what its parts share."""

    conn: Any
    changes: Sequence[Change]
    keys: list[Any]
    outcomes: list[Outcome | None]
    reasons: dict[int, str]
    dry: bool


class SqlTableSink(Sink[SqlTableOptions]):
    """Upserts records into a database table keyed by one column, reporting what changed.

    Per batch, the rows already stored under the batch's keys are read in one query and each
    record is classified: not there -> ``created``; there with the same values (for the fields
    the record carries, compared as text) -> ``unchanged`` and not written; different ->
    ``updated`` (only the fields it carries); a delete -> ``deleted``, or ``unchanged`` when there
    is nothing to delete; no key value -> ``rejected`` naming the record and the key column. The
    writes and the batch token (table ``_syncframe_applied``) commit in one transaction, which is
    what :meth:`was_applied` reads after a crash.

    The key of a record is the matcher's target when the flow has one, else its ``key`` field.
    Without ``columns`` the table is created from the fields (all TEXT) and grows a column for
    each new field. Values are stored as text: numbers as digits, booleans as true/false, dates
    in ISO 8601, lists and objects as JSON. :meth:`lookup` lets matchers search the table.
    """

    Options: ClassVar[type[BaseModel]] = SqlTableOptions

    def __init__(self, context: ComponentContext, options: SqlTableOptions) -> None:
        super().__init__(context, options)
        self.dialect = dialect_for(options.url, context.config_dir)
        self._where = f"table {options.table} in {redact(options.url)}"
        self._conn: Any = None
        self._lock = threading.Lock()
        self._columns: list[str] | None = None  # None: no table yet
        self._lower: dict[str, str] = {}  # lower-case column name -> column name
        self._ignored: set[str] = set()
        self._applied_ready = False

    # ---- connection and schema -------------------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is None:
            try:
                self._conn = self.dialect.connect(self.options.fsync)
            except (sqlite3.Error, OSError) as exc:
                raise PermanentError(f"cannot open {self._where}: {exc}") from None
            self._load_columns()
        return self._conn

    def _load_columns(self) -> None:
        self._columns = self.dialect.columns(self._conn, self.options.table)
        self._lower = {c.lower(): c for c in self._columns or ()}
        if self._columns is not None:
            key = self.options.key
            if key.lower() not in self._lower:
                raise PermanentError(
                    f"table {self.options.table} has no column {key!r} (the key); it has "
                    f"{', '.join(self._columns)}"
                )
            if key.lower() not in self.dialect.unique_columns(self._conn, self.options.table):
                raise PermanentError(
                    f"column {key!r} of table {self.options.table} is not unique; add a "
                    f"unique index on it (CREATE UNIQUE INDEX ... ON {self.options.table} "
                    f"({key}))"
                )

    def _run(self, function: Callable[[], Any]) -> Any:
        with self._lock:
            try:
                return function()
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise TransientError(f"{self._where}: database is busy: {exc}") from None
                raise PermanentError(f"{self._where}: {exc}") from None
            except sqlite3.Error as exc:
                raise PermanentError(f"{self._where}: {exc}") from None

    async def check(self) -> None:
        await anyio.to_thread.run_sync(self._run, self._check)

    def _check(self) -> None:
        self._connection()
        if self._columns is None and not self.options.create_table:
            raise PermanentError(
                f"table {self.options.table} does not exist in {redact(self.options.url)} "
                "(and create_table is off)"
            )

    async def open(self, position: JSONValue) -> None:
        await anyio.to_thread.run_sync(self._run, self._connection)

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def was_applied(self, token: str) -> bool:
        return bool(await anyio.to_thread.run_sync(self._run, lambda: self._was_applied(token)))

    def _was_applied(self, token: str) -> bool:
        conn = self._connection()
        if self.dialect.columns(conn, APPLIED_TABLE) is None:
            return False
        row = conn.execute(self.dialect.read_applied(), (self.context.flow,)).fetchone()
        return row is not None and row[0] == token

    def _ensure_schema(self, conn: Any, fields: Iterable[str]) -> None:
        """Create the table, or add the columns it lacks (inside the batch's transaction)."""
        options = self.options
        dialect = self.dialect
        wanted = [f for f in dict.fromkeys(options.columns or fields) if f != options.key]
        if self._columns is None:
            if not options.create_table:
                raise PermanentError(
                    f"table {options.table} does not exist in {redact(options.url)} "
                    "(and create_table is off)"
                )
            conn.execute(dialect.create_table(options.table, options.key, wanted))
            for column in options.indexes:
                conn.execute(dialect.create_index(options.table, column))
            self._columns = [options.key, *wanted]
            self._lower = {c.lower(): c for c in self._columns}
            return
        for name in wanted:
            if name.lower() not in self._lower:
                conn.execute(dialect.add_column(options.table, name))
                self._columns.append(name)
                self._lower[name.lower()] = name

    def _writable(self, names: Iterable[str]) -> list[str]:
        """The fields among ``names`` that are columns (besides the key), warning once about the
        others."""
        key = self.options.key
        allowed = self.options.columns
        if allowed is None:
            # Every field is a column (added by _ensure_schema; a dry run compares missing
            # columns as empty).
            return [n for n in names if n != key]
        out = [n for n in names if n != key and n in allowed]
        dropped = {n for n in names if n != key and n not in allowed} - self._ignored
        if dropped:
            self._ignored |= dropped
            self.context.logger.warning(
                "table %s has no column for field(s) %s; they are left out",
                self.options.table,
                ", ".join(sorted(dropped)),
            )
        return out

    # ---- writing ---------------------------------------------------------------------------
    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result: BatchResult = await anyio.to_thread.run_sync(
            self._run, lambda: self._write(changes, plan)
        )
        return result

    def _keys(self, changes: Sequence[Change], plan: WritePlan) -> list[Any]:
        key = self.options.key
        if plan.targets is None:
            values = [c.fields.get(key) for c in changes]
        else:
            values = [
                t if t is not None else c.fields.get(key)
                for t, c in zip(plan.targets, changes, strict=True)
            ]
        if not set(map(type, values)) <= _PLAIN:
            values = [_text(v) for v in values]
        return values

    def _write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        n = len(changes)
        options = self.options
        keys = self._keys(changes, plan)
        outcomes: list[Outcome | None] = [None] * n
        reasons: dict[int, str] = {}
        # What kind of write each change needs: a field-name tuple (upsert), delete, or None.
        delete = Operation.DELETE
        shapes: list[Any] = [_DELETE if c.operation == delete else tuple(c.fields) for c in changes]
        if None in keys or "" in keys:
            for i, k in enumerate(keys):
                if k is None or k == "":
                    if options.generate_keys and shapes[i] != _DELETE:
                        keys[i] = uuid.uuid4().hex
                        continue
                    outcomes[i] = Outcome.REJECTED
                    reasons[i] = (
                        f"{changes[i].describe()} has no value for key field {options.key!r}"
                    )
                    shapes[i] = None

        conn = self._connection()
        dry = plan.dry_run
        if not dry:
            self.dialect.begin(conn)
        try:
            if not dry:
                # Schema changes commit (or roll back) with the batch.
                if not self._applied_ready:
                    conn.execute(self.dialect.create_applied())
                    self._applied_ready = True
                fields = chain.from_iterable(s for s in set(shapes) if isinstance(s, tuple))
                self._ensure_schema(conn, fields)
            start = 0
            # Consecutive changes of the same shape are classified and written together; the
            # common batch (one file, one shape) is a single run.
            batch = _Batch(conn, changes, keys, outcomes, reasons, dry)
            for shape, run in groupby(shapes):
                stop = start + sum(1 for _ in run)
                if shape == _DELETE:
                    self._deletes(batch, start, stop)
                elif shape is not None:
                    self._upserts(batch, shape, start, stop)
                start = stop
            if not dry:
                conn.execute(
                    self.dialect.record_applied(),
                    (self.context.flow, plan.token, self.context.clock.now().isoformat()),
                )
                self.dialect.commit(conn)
        except BaseException:
            if not dry:
                self.dialect.rollback(conn)
                self._applied_ready = False
                # A failed ALTER/CREATE was rolled back too: read the schema again.
                self._load_columns()
            raise
        # Every record that has a row in the table after the batch (rejected records and deletes
        # of absent rows have a reason instead).
        target_keys = {i: keys[i] for i in range(n) if i not in reasons}
        final = [o if o is not None else Outcome.SKIPPED for o in outcomes]
        return BatchResult(final, reasons, target_keys)

    def _existing(
        self, conn: Any, columns: Sequence[str], keys: list[Any]
    ) -> dict[str, tuple[Any, ...]]:
        """Stored rows (``columns`` then key, as text) of the given keys."""
        if self._columns is None:
            return {}
        q = self.dialect.quote
        select = ", ".join(
            q(self._lower[c.lower()]) if c.lower() in self._lower else "NULL"
            for c in (*columns, self.options.key)
        )
        sql = (
            f"SELECT {select} FROM {q(self.options.table)} "
            f"WHERE {q(self.options.key)} {self.dialect.in_list()}"
        )
        rows = _as_text(conn.execute(sql, (self.dialect.keys_param(keys),)).fetchall())
        return {row[-1]: row for row in rows}

    def _upserts(self, batch: _Batch, shape: tuple[str, ...], start: int, stop: int) -> None:
        columns = self._writable(shape)
        get = _getter(columns)
        run_keys = batch.keys[start:stop]
        rows = _as_text(
            [(*get(c.fields), k) for c, k in zip(batch.changes[start:stop], run_keys, strict=True)]
        )
        existing = self._existing(batch.conn, columns, run_keys)
        outcomes = batch.outcomes
        created, updated, unchanged = Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED
        writes: list[tuple[Any, ...]] = []
        written: list[int] = []
        i = start
        for k, row in zip(run_keys, rows, strict=True):
            old = existing.get(k)
            if old is None:
                outcomes[i] = created
            elif old == row:
                outcomes[i] = unchanged
                i += 1
                continue
            else:
                outcomes[i] = updated
            existing[k] = row
            writes.append(row)
            written.append(i)
            i += 1
        if writes and not batch.dry:
            sql = self.dialect.upsert(self.options.table, self.options.key, columns)
            self._apply(batch, sql, writes, written)

    def _deletes(self, batch: _Batch, start: int, stop: int) -> None:
        run_keys = batch.keys[start:stop]
        present = set(self._existing(batch.conn, (), run_keys))
        gone: list[tuple[Any]] = []
        indices: list[int] = []
        for i, k in enumerate(run_keys, start):
            if k in present:
                batch.outcomes[i] = Outcome.DELETED
                present.discard(k)
                gone.append((k,))
                indices.append(i)
            else:
                batch.outcomes[i] = Outcome.UNCHANGED
                batch.reasons[i] = f"no record with {self.options.key} {k} to delete"
        if gone and not batch.dry:
            self._apply(
                batch, self.dialect.delete(self.options.table, self.options.key), gone, indices
            )

    def _apply(
        self, batch: _Batch, sql: str, rows: list[tuple[Any, ...]], indices: list[int]
    ) -> None:
        """Run ``sql`` for all rows at once; if the database refuses a record (a constraint),
        find which ones row by row, reject them and apply the rest."""
        dialect = self.dialect
        conn = batch.conn
        dialect.savepoint(conn)
        try:
            conn.executemany(sql, rows)
        except Exception as exc:
            dialect.rollback_to_savepoint(conn)
            if not dialect.refuses_record(exc):
                raise
        else:
            dialect.release_savepoint(conn)
            return
        for row, i in zip(rows, indices, strict=True):
            dialect.savepoint(conn)
            try:
                conn.execute(sql, row)
            except Exception as exc:
                dialect.rollback_to_savepoint(conn)
                if not dialect.refuses_record(exc):
                    raise
                batch.outcomes[i] = Outcome.REJECTED
                batch.reasons[i] = f"{batch.changes[i].describe()}: the database refused it: {exc}"
            else:
                dialect.release_savepoint(conn)

    # ---- lookup ----------------------------------------------------------------------------
    def lookup(self) -> TargetLookup:
        return _TableLookup(self)

    def _find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        conn = self._connection()
        if self._columns is None or field.lower() not in self._lower or not values:
            return {}
        q = self.dialect.quote
        column = self._lower[field.lower()]
        sql = (
            f"SELECT {', '.join(q(c) for c in self._columns)} FROM {q(self.options.table)} "
            f"WHERE {q(column)} {self.dialect.in_list()}"
        )
        texts = [v if isinstance(v, str) else str(_text(v)) for v in values]
        rows = conn.execute(sql, (self.dialect.keys_param(texts),)).fetchall()
        names = self._columns
        key_at = names.index(self._lower[self.options.key.lower()])
        field_at = names.index(column)
        found: dict[str, list[TargetRecord]] = {}
        for row in rows:
            record = TargetRecord(str(row[key_at]), dict(zip(names, row, strict=True)))
            found.setdefault(str(_text(row[field_at])), []).append(record)
        return found


class _TableLookup(TargetLookup):
    """Finds rows of the sink's table by the value of a column."""

    def __init__(self, sink: SqlTableSink) -> None:
        self._sink = sink

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        sink = self._sink
        found: dict[str, list[TargetRecord]] = await anyio.to_thread.run_sync(
            sink._run, lambda: sink._find(field, values)
        )
        return found
