"""What the ``luminate_sql`` sink does (``sql_sink`` holds the registered thin sink): Luminate
records in typed SQL tables, the refund state beside them.

One table per record type (``luminate_donation``, ``luminate_refund``...), keyed by the type's id
field, with a typed column per flat field (``Payment.Amount`` -> ``Payment_Amount``). Tables and
columns appear when a type or field is first seen. A transaction Luminate deletes (a full refund)
keeps its row, marked deleted, because a finance table must not lose a gift. After each batch, in
the same database transaction, the ``luminate_refund_state`` rows of every transaction the batch
touched (directly or through a Refund) are recomputed with :class:`RefundReconciler`, and the
batch token is stored (``_syncframe_applied``) so a crash between commit and the engine's own
commit is answered by :meth:`LuminateSqlStore.was_applied`.

SQLAlchemy Core: SQLite by default, PostgreSQL through the URL (``postgresql+psycopg://``). Money
is exact: ``NUMERIC`` in PostgreSQL, the decimal's text in SQLite (whose NUMERIC is a float).
Times are UTC (``timestamptz`` in PostgreSQL, UTC text in SQLite).

Speed: SQLAlchemy creates and reflects the schema; on SQLite the rows themselves go through the
stdlib driver (prepared ``INSERT ... ON CONFLICT DO UPDATE`` with ``executemany``, values
converted column by column into the form SQLite stores, rows compared in that form), and the
refund state is computed from the rows the batch holds. PostgreSQL takes the same steps through
SQLAlchemy's column types.
"""

from __future__ import annotations

import gc
import json
import operator
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.pool import StaticPool

from syncframe.components import (
    BatchResult,
    ComponentContext,
    JSONValue,
    Outcome,
    PermanentError,
    Sink,
    TransientError,
    WritePlan,
)
from syncframe.records import Change, Operation
from syncframe_luminate.reconciler import (
    RefundReconciler,
    RefundRecord,
    RefundState,
    TransactionFacts,
)
from syncframe_luminate.sql_sink import LuminateSqlOptions
from syncframe_luminate.types import FINANCIAL_TYPES, ID_FIELDS, REFUND

__all__ = [
    "APPLIED_TABLE",
    "COLUMNS_TABLE",
    "ExactDecimal",
    "LuminateSqlStore",
    "UtcDateTime",
    "column_name",
    "make_engine",
    "redact",
    "refund_state_table",
]

APPLIED_TABLE: Final = "_syncframe_applied"  # the same table as the core sql_table sink's
COLUMNS_TABLE: Final = "_syncframe_luminate_columns"  # field and kind of every column
DELETED: Final = "luminate_deleted"
DELETED_AT: Final = "luminate_deleted_at"
FULL_REFUND: Final = "full_refund_amount"
_CHUNK: Final = 5000  # keys per IN (...) list
_URL_HELP: Final = (
    "use sqlite:///relative/path.db, sqlite:////absolute/path.db or "
    "postgresql+psycopg://user:password@host/database"
)
_NAME = re.compile(r"[^A-Za-z0-9_]")


def redact(url: str | URL) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<unreadable database URL>"


def column_name(field_path: str) -> str:
    """The column of a flat field: ``Payment.Amount`` -> ``Payment_Amount``."""
    return _NAME.sub("_", field_path)


# --------------------------------------------------------------------------------------------
# Column types: exact money and UTC times on both databases.


class ExactDecimal(sa.TypeDecorator[Decimal]):
    """A decimal kept exactly: ``NUMERIC`` in PostgreSQL, the decimal's text in SQLite (whose
    NUMERIC affinity would turn ``12.30`` into a float)."""

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime: ``timestamptz`` in PostgreSQL, UTC text in SQLite. Naive values
    are taken as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Kinds of column, named in the catalogue table: what the values of a field are.
_TYPES: Final[dict[str, Callable[[], sa.types.TypeEngine[Any]]]] = {
    "integer": sa.BigInteger,
    "decimal": ExactDecimal,
    "datetime": UtcDateTime,
    "date": sa.Date,
    "boolean": sa.Boolean,
    "text": sa.Text,
    "json": sa.JSON,
}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, Decimal | float):
        return "decimal"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, dict | list | tuple):
        return "json"
    return "text"


class _Unfit(ValueError):
    """A value that does not fit its column; the message says what was expected."""


def _to_integer(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is Decimal and value == value.to_integral_value():
        return int(value)
    if kind is str:
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Unfit("a whole number")


def _to_decimal(value: Any) -> Decimal:
    kind = type(value)
    if kind is Decimal:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return Decimal(value)
    if kind is float or kind is str:
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            pass
        else:
            if result.is_finite():
                return result
    raise _Unfit("an amount (decimal)")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _to_datetime(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise _Unfit("a date and time (ISO 8601)")


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Unfit("a date (ISO 8601)")


_TRUE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return _TRUE[value.strip().lower()]
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise _Unfit("true or false")


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _to_datetime(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict | list | tuple):
        raise _Unfit("text")
    return str(value)


def _to_json(value: Any) -> Any:
    if isinstance(value, dict | list):
        return value
    if isinstance(value, tuple):
        return list(value)
    raise _Unfit("a JSON object or list")


_COERCE: Final[dict[str, Callable[[Any], Any]]] = {
    "integer": _to_integer,
    "decimal": _to_decimal,
    "datetime": _to_datetime,
    "date": _to_date,
    "boolean": _to_boolean,
    "text": _to_text,
    "json": _to_json,
}


# --------------------------------------------------------------------------------------------
# Options and the engine


def check_url(value: str) -> str:
    """``value`` if it is a SQLite or PostgreSQL URL naming a database; ``ValueError`` saying
    what is wrong otherwise (the password never shown)."""
    try:
        url = make_url(value)
    except exc.ArgumentError:
        raise ValueError(f"{redact(value)!r} is not a database URL; {_URL_HELP}") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"database {backend}:// is not supported (SQLite and PostgreSQL are); {_URL_HELP}"
        )
    if backend == "sqlite" and not url.database:
        raise ValueError(f"database URL {value!r} names no file; {_URL_HELP}")
    return value


def make_engine(
    url: str, config_dir: str = ".", *, fsync: bool = False, writer: bool = True
) -> Engine:
    """An engine for ``url``; a relative SQLite path is read against ``config_dir``.

    SQLite gets WAL and, for a ``writer``, transactions that take the write lock at their start
    (``BEGIN IMMEDIATE``) and include DDL: the Python driver would otherwise commit a CREATE or
    ALTER on its own, outside the batch's transaction.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return sa.create_engine(parsed, pool_pre_ping=True)
        except ImportError as error:
            raise PermanentError(
                f"{redact(parsed)}: the database driver is not installed ({error}); for "
                "PostgreSQL install syncframe-luminate[postgres]"
            ) from None
    database = parsed.database or ":memory:"
    memory = database == ":memory:" or database.startswith("file::memory:")
    if not memory:
        path = Path(database).expanduser()
        if not path.is_absolute():
            path = Path(config_dir) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    engine = sa.create_engine(
        parsed,
        connect_args={"check_same_thread": False},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are ours (see "begin")
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 10000")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def refund_state_table(metadata: sa.MetaData, prefix: str = "luminate_") -> sa.Table:
    """The ``<prefix>refund_state`` table: one row per transaction, recomputed per batch."""
    return sa.Table(
        f"{prefix}refund_state",
        metadata,
        sa.Column("transaction_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("transaction_type", sa.Text),
        sa.Column("original_amount", ExactDecimal),
        sa.Column("current_amount", ExactDecimal),
        sa.Column("online_refund_count", sa.Integer, nullable=False),
        sa.Column("online_refunds", ExactDecimal, nullable=False),
        sa.Column("online_partial_refunds", ExactDecimal, nullable=False),
        sa.Column("inferred_offline_refunds", ExactDecimal, nullable=False),
        sa.Column("full_refund_amount", ExactDecimal),
        sa.Column("full_refund_online", sa.Boolean),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("last_refund_date", UtcDateTime),
        sa.Column("warnings", sa.Text),
        sa.Column("computed_at", UtcDateTime, nullable=False),
    )


def _applied_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        APPLIED_TABLE,
        metadata,
        sa.Column("flow", sa.Text, primary_key=True),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("applied_at", sa.Text, nullable=False),
    )


def _columns_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        COLUMNS_TABLE,
        metadata,
        sa.Column("table_name", sa.Text, primary_key=True),
        sa.Column("column_name", sa.Text, primary_key=True),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
    )


def _upsert(dialect: Dialect, table: sa.Table, keys: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` every other column, for executemany."""
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    if not others:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=others)


T = TypeVar("T")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is classified and written.

    A 100k-record batch allocates a few hundred thousand objects (rows, facts, states) that all
    live until its end: each burst of allocations makes the collector traverse the whole heap
    — the batch's changes included — again (about a third of the batch's time). Nothing the
    batch allocates is cyclic garbage, so the collector is paused and re-enabled after; it is
    left alone if something else paused it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --------------------------------------------------------------------------------------------
# Values as the database holds them, and the statements that move them.
#
# A batch is classified on rows in "stored form": the values as the database returns them. On
# SQLite that is the text of a decimal or a time, 0/1 for a boolean; comparing such tuples is
# one C-level ``==`` per row, and writing them needs no per-value type processing. On
# PostgreSQL the stored form is the Python value SQLAlchemy returns, and SQLAlchemy does the
# binding as before.


_NoneType: Final = type(None)


def _utc_text(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy's SQLite DATETIME stores it (``2025-03-01 12:00:00.000000``)."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_text(value: Any) -> str:
    return json.dumps(value)  # what SQLAlchemy's JSON type binds on SQLite


def _decimal_of(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _datetime_of(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _date_of(value: Any) -> date | None:
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value if isinstance(value, date) else None


def _boolean_of(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _json_of(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _same_value(value: Any) -> Any:
    return value


# The Python types a column kind takes as they are (fast path: no per-value coercion).
_PLAIN_TYPES: Final[dict[str, frozenset[type]]] = {
    "integer": frozenset({int, _NoneType}),
    "decimal": frozenset({Decimal, _NoneType}),
    "datetime": frozenset(),
    "date": frozenset(),
    "boolean": frozenset({bool, _NoneType}),
    "text": frozenset({str, _NoneType}),
    "json": frozenset(),
}


@dataclass(frozen=True, slots=True)
class _Codec:
    """Turns change values into stored form, column by column, and stored values back into
    Python values (for comparisons that text cannot settle, and for the refund state).

    ``store[kind]`` maps a coerced Python value to its stored form (``None``: as is);
    ``exact`` names the kinds whose stored form is canonical — equal values have equal stored
    forms — so a difference there is a real one; other kinds (a decimal's ``12.3`` and
    ``12.30``, JSON key order) are compared as values when their stored forms differ."""

    store: Mapping[str, Callable[[Any], Any] | None]
    decode: Mapping[str, Callable[[Any], Any]]
    exact: frozenset[str]

    def encode(self, kind: str, values: Sequence[Any]) -> tuple[list[Any], dict[int, str]]:
        """The stored form of a column's values, and what a value that does not fit should
        have been, by position."""
        store = self.store[kind]
        if set(map(type, values)) <= _PLAIN_TYPES[kind]:
            if store is None:
                return list(values), {}
            return [None if v is None else store(v) for v in values], {}
        coerce = _COERCE[kind]
        out: list[Any] = []
        unfit: dict[int, str] = {}
        cache: dict[Any, Any] = {}  # times repeat (one ModifyDate per page): convert once
        cached = kind == "datetime"
        for position, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            if cached:
                hit = cache.get(value, _MISSING)
                if hit is not _MISSING:
                    out.append(hit)
                    continue
            try:
                coerced = coerce(value)
            except _Unfit as error:
                unfit[position] = str(error)
                out.append(None)
                continue
            stored = coerced if store is None else store(coerced)
            if cached:
                cache[value] = stored
            out.append(stored)
        return out, unfit

    def one(self, kind: str, value: Any) -> Any:
        """The stored form of one value that fits (``_Unfit`` if it does not)."""
        if value is None:
            return None
        store = self.store[kind]
        coerced = _COERCE[kind](value)
        return coerced if store is None else store(coerced)


_MISSING: Final = object()

_SQLITE_CODEC: Final = _Codec(
    store={
        "integer": None,
        "decimal": str,
        "datetime": _utc_text,
        "date": date.isoformat,
        "boolean": int,
        "text": None,
        "json": _json_text,
    },
    decode={
        "integer": _same_value,
        "decimal": _decimal_of,
        "datetime": _datetime_of,
        "date": _date_of,
        "boolean": _boolean_of,
        "text": _same_value,
        "json": _json_of,
    },
    exact=frozenset({"integer", "datetime", "date", "boolean", "text"}),
)

_PYTHON_CODEC: Final = _Codec(
    store=dict.fromkeys(_COERCE, None),
    decode=dict.fromkeys(_COERCE, _same_value),
    exact=frozenset(_COERCE),
)


class _Store:
    """Reads and writes stored-form rows inside the batch's transaction."""

    codec: _Codec

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.quote = conn.dialect.identifier_preparer.quote

    def select(
        self,
        table: sa.Table,
        columns: Sequence[str],
        where: str,
        values: Sequence[Any],
        order_by: str | None = None,
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the rows whose ``where`` column is one of ``values``."""
        raise NotImplementedError

    def key_range(self, table: sa.Table, column: str) -> tuple[Any, Any]:
        """The smallest and largest value of ``column`` (None, None: the table is empty)."""
        row = self.conn.execute(
            sa.select(sa.func.min(table.c[column]), sa.func.max(table.c[column]))
        ).one()
        return row[0], row[1]

    def upsert(
        self, table: sa.Table, keys: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> list[tuple[int, str]]:
        """Insert or update ``rows`` (every column of ``table``, in order) in one
        ``executemany``; if the database refuses one, find which row by row: the positions of
        the refused rows with the database's reason (the others are written)."""
        raise NotImplementedError

    def upsert_all(self, table: sa.Table, keys: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert or update ``rows``; a refusal is an error of the batch."""
        raise NotImplementedError

    def delete(self, table: sa.Table, column: str, values: Sequence[Any]) -> None:
        for chunk in _chunks(values):
            self.conn.execute(sa.delete(table).where(table.c[column].in_(chunk)))


class _SqliteStore(_Store):
    """SQLite through the stdlib driver's own connection (the transaction SQLAlchemy began):
    prepared statements, ``executemany``, one ``json_each`` parameter for a list of ids."""

    codec = _SQLITE_CODEC

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.raw: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        self._statements: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}

    def select(
        self,
        table: sa.Table,
        columns: Sequence[str],
        where: str,
        values: Sequence[Any],
        order_by: str | None = None,
    ) -> list[tuple[Any, ...]]:
        q = self.quote
        sql = (
            f"SELECT {', '.join(map(q, columns))} FROM {q(table.name)} "
            f"WHERE {q(where)} IN (SELECT value FROM json_each(?))"
        )
        if order_by is not None:
            sql += f" ORDER BY {q(order_by)}"
        return self.raw.execute(sql, (json.dumps(list(values)),)).fetchall()

    def key_range(self, table: sa.Table, column: str) -> tuple[Any, Any]:
        q = self.quote
        row = self.raw.execute(f"SELECT min({q(column)}), max({q(column)}) FROM {q(table.name)}")
        low, high = row.fetchone()
        return low, high

    def _statement(self, table: sa.Table, keys: Sequence[str]) -> str:
        names = tuple(c.name for c in table.columns)
        cache_key = (table.name, names, tuple(keys))
        sql = self._statements.get(cache_key)
        if sql is None:
            q = self.quote
            sql = (
                f"INSERT INTO {q(table.name)} ({', '.join(map(q, names))}) "
                f"VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT ({', '.join(map(q, keys))}) DO "
            )
            others = [n for n in names if n not in keys]
            if others:
                sets = ", ".join(f"{q(n)} = excluded.{q(n)}" for n in others)
                sql += f"UPDATE SET {sets}"
            else:
                sql += "NOTHING"
            self._statements[cache_key] = sql
        return sql

    @staticmethod
    def _json_nulls(table: sa.Table, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """SQLAlchemy's JSON type stores None as the JSON ``null``: the same here."""
        positions = [k for k, c in enumerate(table.columns) if isinstance(c.type, sa.JSON)]
        if not positions:
            return rows
        fixed: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for k in positions:
                if values[k] is None:
                    values[k] = "null"
            fixed.append(tuple(values))
        return fixed

    def upsert(
        self, table: sa.Table, keys: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> list[tuple[int, str]]:
        sql = self._statement(table, keys)
        rows = self._json_nulls(table, rows)
        raw = self.raw
        raw.execute("SAVEPOINT luminate_rows")
        try:
            raw.executemany(sql, rows)
        except (sqlite3.IntegrityError, sqlite3.DataError):
            raw.execute("ROLLBACK TO luminate_rows")
            raw.execute("RELEASE luminate_rows")
        else:
            raw.execute("RELEASE luminate_rows")
            return []
        refused: list[tuple[int, str]] = []
        for position, row in enumerate(rows):
            raw.execute("SAVEPOINT luminate_row")
            try:
                raw.execute(sql, row)
            except (sqlite3.IntegrityError, sqlite3.DataError) as error:
                raw.execute("ROLLBACK TO luminate_row")
                refused.append((position, str(error).splitlines()[0]))
            raw.execute("RELEASE luminate_row")
        return refused

    def upsert_all(self, table: sa.Table, keys: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        self.raw.executemany(self._statement(table, keys), self._json_nulls(table, rows))

    def delete(self, table: sa.Table, column: str, values: Sequence[Any]) -> None:
        q = self.quote
        self.raw.execute(
            f"DELETE FROM {q(table.name)} WHERE {q(column)} IN (SELECT value FROM json_each(?))",
            (json.dumps(list(values)),),
        )


class _AlchemyStore(_Store):
    """Any other database (PostgreSQL) through SQLAlchemy Core and the column types."""

    codec = _PYTHON_CODEC

    def select(
        self,
        table: sa.Table,
        columns: Sequence[str],
        where: str,
        values: Sequence[Any],
        order_by: str | None = None,
    ) -> list[tuple[Any, ...]]:
        selected = [table.c[c] for c in columns]
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(values):
            select = sa.select(*selected).where(table.c[where].in_(chunk))
            if order_by is not None:
                select = select.order_by(table.c[order_by])
            found.extend(tuple(row) for row in self.conn.execute(select))
        return found

    @staticmethod
    def _dicts(table: sa.Table, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        names = [c.name for c in table.columns]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def upsert(
        self, table: sa.Table, keys: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> list[tuple[int, str]]:
        statement = _upsert(self.conn.dialect, table, keys)
        params = self._dicts(table, rows)
        savepoint = self.conn.begin_nested()
        try:
            self.conn.execute(statement, params)
        except (exc.IntegrityError, exc.DataError):
            savepoint.rollback()
        else:
            savepoint.commit()
            return []
        refused: list[tuple[int, str]] = []
        for position, row in enumerate(params):
            savepoint = self.conn.begin_nested()
            try:
                self.conn.execute(statement, row)
            except (exc.IntegrityError, exc.DataError) as error:
                savepoint.rollback()
                refused.append((position, str(error.orig).splitlines()[0]))
            else:
                savepoint.commit()
        return refused

    def upsert_all(self, table: sa.Table, keys: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        self.conn.execute(_upsert(self.conn.dialect, table, keys), self._dicts(table, rows))


def _store_for(conn: Connection) -> _Store:
    return _SqliteStore(conn) if conn.dialect.name == "sqlite" else _AlchemyStore(conn)


# --------------------------------------------------------------------------------------------
# Entity tables


@dataclass(slots=True)
class _Column:
    name: str
    field: str  # the flat field path, or "" for the sink's own columns
    kind: str


@dataclass(slots=True)
class _EntityTable:
    """One record type's table as the sink knows it (what exists, and what a batch adds)."""

    entity: str
    name: str
    id_field: str
    columns: dict[str, _Column]  # column name -> column, in order
    by_field: dict[str, str]  # field path -> column name
    exists: bool
    added: list[_Column] = field(default_factory=list)  # planned by the current batch
    _table: sa.Table | None = None

    @property
    def id_column(self) -> str:
        return self.by_field[self.id_field]

    def table(self) -> sa.Table:
        """The SQLAlchemy table of every column (existing and planned)."""
        if self._table is None or len(self._table.columns) != len(self.columns):
            metadata = sa.MetaData()
            self._table = sa.Table(
                self.name,
                metadata,
                *(
                    sa.Column(
                        c.name,
                        _TYPES[c.kind](),
                        primary_key=c.field == self.id_field,
                        autoincrement=False,
                        nullable=c.field != self.id_field,
                    )
                    for c in self.columns.values()
                ),
            )
        return self._table

    def add(self, column: _Column) -> None:
        self.columns[column.name] = column
        if column.field:
            self.by_field[column.field] = column.name
        self.added.append(column)


_OWN_COLUMNS: Final = (
    _Column(DELETED, "", "boolean"),
    _Column(DELETED_AT, "", "datetime"),
)
_FULL_REFUND_COLUMN: Final = _Column(FULL_REFUND, "", "decimal")


@dataclass(slots=True)
class _Batch:
    """What a batch being classified shares."""

    changes: Sequence[Change]
    targets: list[str | None] | None
    outcomes: list[Outcome | None]
    reasons: dict[int, str]
    now: datetime
    raw_ids: dict[int, Any] = field(default_factory=dict)  # as the change gave its id


# --------------------------------------------------------------------------------------------
# The sink


class LuminateSqlStore(Sink[LuminateSqlOptions]):
    """Writes Luminate records to one typed table per record type and keeps refund state.

    Per batch and type: the rows stored under the batch's ids are read in a few queries, each
    change is applied to them in memory in order (so a record read twice in a batch ends as the
    last read says), and the rows that changed are written with one ``executemany`` upsert.
    Outcomes: ``created`` (new row), ``updated``, ``unchanged`` (same values: nothing written),
    ``deleted``; ``rejected`` (nothing written) for a change without id, a value that does not
    fit its column (the reason names the record and the field), or a Refund without
    ``OriginalTransactionId``.

    A DELETE with ``on_delete = "mark"`` (the default) keeps the row with the deleted record's
    values and sets ``luminate_deleted`` and ``luminate_deleted_at`` (the change's time), and for
    a transaction ``full_refund_amount`` (the deleted record's ``Payment.Amount``: what the full
    refund returned); a DELETE of an id never seen creates the marked row. An insert or update
    of a marked row clears the mark. Each DELETE's outcome is ``deleted``, or ``unchanged`` when
    the row was already marked with the same values.

    Then, in the same transaction, the ``<prefix>refund_state`` row of every transaction touched
    (a transaction change, or a Refund naming it) is recomputed from the stored transaction row
    and all stored Refund rows of it, and the batch token is stored for :meth:`was_applied`.
    """

    Options: ClassVar[type[BaseModel]] = LuminateSqlOptions

    def __init__(self, context: ComponentContext, options: LuminateSqlOptions) -> None:
        super().__init__(context, options)
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._where = redact(options.url)
        self._tables: dict[str, _EntityTable] = {}
        self._metadata = sa.MetaData()
        self._state = refund_state_table(self._metadata, options.table_prefix)
        self._applied = _applied_table(self._metadata)
        self._catalogue = _columns_table(self._metadata)
        self._ready = False  # own tables created
        self.reconciler = RefundReconciler()

    # ---- engine, errors --------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use)."""
        if self._engine is None:
            self._engine = make_engine(
                self.options.url, self.context.config_dir, fsync=self.options.fsync
            )
        return self._engine

    def _run(self, function: Callable[[], T]) -> T:
        """Run ``function`` under the sink's lock, database errors as syncframe errors."""
        with self._lock:
            try:
                return function()
            except exc.SQLAlchemyError as error:
                self._forget_schema()
                raise self._translate(error) from None
            except sqlite3.Error as error:  # the SQLite fast path uses the driver directly
                self._forget_schema()
                text = str(error).splitlines()[0] if str(error) else type(error).__name__
                lowered = text.lower()
                if isinstance(error, sqlite3.OperationalError) and (
                    "locked" in lowered or "busy" in lowered
                ):
                    raise TransientError(f"{self._where}: {text}") from None
                raise PermanentError(f"{self._where}: {text}") from None
            except OSError as error:
                self._forget_schema()
                raise PermanentError(f"{self._where}: {error}") from None

    def _translate(self, error: exc.SQLAlchemyError) -> Exception:
        text = str(getattr(error, "orig", None) or error).splitlines()[0]
        message = f"{self._where}: {text}"
        if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
            return TransientError(message)
        if isinstance(error, exc.DisconnectionError | exc.InterfaceError | exc.TimeoutError):
            return TransientError(message)
        if isinstance(error, exc.OperationalError):
            lowered = text.lower()
            if self.engine.dialect.name != "sqlite" or "locked" in lowered or "busy" in lowered:
                return TransientError(message)
        return PermanentError(message)

    def _forget_schema(self) -> None:
        """After a rollback, what this sink believed about the schema may be undone."""
        self._tables.clear()
        self._ready = False

    async def check(self) -> None:
        def probe() -> None:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
                conn.rollback()

        await anyio.to_thread.run_sync(self._run, probe)

    async def open(self, position: JSONValue) -> None:
        await self.check()

    async def aclose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def was_applied(self, token: str) -> bool:
        def read() -> bool:
            with self.engine.connect() as conn:
                if not sa.inspect(conn).has_table(APPLIED_TABLE):
                    return False
                row = conn.execute(
                    sa.select(self._applied.c.token).where(
                        self._applied.c.flow == self.context.flow
                    )
                ).first()
                conn.rollback()
                return row is not None and row[0] == token

        return await anyio.to_thread.run_sync(self._run, read)

    # ---- schema ----------------------------------------------------------------------------
    def _entity_table(self, conn: Connection, entity: str, id_field: str) -> _EntityTable:
        known = self._tables.get(entity)
        if known is not None:
            return known
        name = f"{self.options.table_prefix}{column_name(entity).lower()}"
        exists = sa.inspect(conn).has_table(name)
        columns: dict[str, _Column] = {}
        if exists:
            if sa.inspect(conn).has_table(COLUMNS_TABLE):
                cat = self._catalogue.c
                rows = conn.execute(
                    sa.select(cat.column_name, cat.field, cat.kind).where(cat.table_name == name)
                ).all()
                columns = {r[0]: _Column(r[0], r[1], r[2]) for r in rows}
            if not columns:
                raise PermanentError(
                    f"table {name} in {self._where} was not created by the luminate_sql sink "
                    f"(it is not in {COLUMNS_TABLE}); drop or rename it, or choose another "
                    "table_prefix"
                )
            stored_id = next((c for c in columns.values() if c.field == id_field), None)
            if stored_id is None:
                raise PermanentError(
                    f"table {name} has no column for {id_field}, the id of {entity} records"
                )
        table = _EntityTable(
            entity=entity,
            name=name,
            id_field=id_field,
            columns=columns,
            by_field={c.field: c.name for c in columns.values() if c.field},
            exists=exists,
        )
        self._tables[entity] = table
        return table

    def _plan_columns(
        self, table: _EntityTable, changes: Sequence[Change], indices: list[int], batch: _Batch
    ) -> None:
        """Plan the columns the changes need that the table lacks (kind from the first value
        that is not None); a field whose column name collides with another's is rejected."""
        lowered = {name.lower(): c for name, c in table.columns.items()}
        if not table.columns:
            id_value = next(
                (
                    v
                    for i in indices
                    if (v := self._raw_id(changes[i], table.id_field, batch, i)) is not None
                ),
                None,
            )
            id_kind = "text" if isinstance(id_value, str) and not id_value.isdigit() else "integer"
            first = _Column(column_name(table.id_field), table.id_field, id_kind)
            for column in (first, *_OWN_COLUMNS):
                table.add(column)
                lowered[column.name.lower()] = column
            if table.entity in FINANCIAL_TYPES:
                table.add(_FULL_REFUND_COLUMN)
                lowered[FULL_REFUND] = _FULL_REFUND_COLUMN
        by_field = table.by_field
        known = by_field.keys()
        for i in indices:
            fields = batch.changes[i].fields
            if known >= fields.keys():
                continue  # every field has its column (a C-level set comparison)
            for path, value in fields.items():
                if path in by_field or value is None:
                    continue
                name = column_name(path)
                clash = lowered.get(name.lower())
                if clash is not None:
                    batch.outcomes[i] = Outcome.REJECTED
                    owner = f"field {clash.field!r}" if clash.field else "the sink's own column"
                    batch.reasons[i] = (
                        f"{batch.changes[i].describe()}: field {path!r} would be column "
                        f"{name!r} of {table.name}, which is {owner}"
                    )
                    continue
                column = _Column(name, path, _kind_of(value))
                table.add(column)
                lowered[name.lower()] = column

    def _create_schema(self, conn: Connection, table: _EntityTable) -> None:
        """Create the table or add its planned columns, and record them in the catalogue."""
        if not table.added:
            return
        quote = conn.dialect.identifier_preparer.quote
        if not table.exists:
            table.table().create(conn)
            table.exists = True
        else:
            for column in table.added:
                ddl = _TYPES[column.kind]().compile(dialect=conn.dialect)
                conn.exec_driver_sql(
                    f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {ddl}"
                )
        for column in table.added:
            if column.field == "OriginalTransactionId":
                # Every batch looks up the refunds of the gifts it touched by this column.
                index = f"ix_{table.name}_original_transaction"
                conn.exec_driver_sql(
                    f"CREATE INDEX IF NOT EXISTS {quote(index)} "
                    f"ON {quote(table.name)} ({quote(column.name)})"
                )
        conn.execute(
            sa.insert(self._catalogue),
            [
                {"table_name": table.name, "column_name": c.name, "field": c.field, "kind": c.kind}
                for c in table.added
            ],
        )
        table.added.clear()

    def _ensure_own_tables(self, conn: Connection) -> None:
        if not self._ready:
            for own in (self._applied, self._catalogue, self._state):
                own.create(conn, checkfirst=True)
            self._ready = True

    # ---- writing ---------------------------------------------------------------------------
    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        return await anyio.to_thread.run_sync(self._run, lambda: self._write(changes, plan))

    def _write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        with _collector_paused():
            return self._write_batch(changes, plan)

    def _write_batch(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        now = self.context.clock.now()
        batch = _Batch(changes, plan.targets, [None] * len(changes), {}, now)
        by_entity: dict[str, list[int]] = {}
        for i, change in enumerate(changes):
            by_entity.setdefault(change.entity, []).append(i)
        dry = plan.dry_run
        try:
            with self.engine.connect() as conn:
                if dry:
                    try:
                        self._classify_all(
                            conn, batch, by_entity, dry=True, store=_store_for(conn), in_hand={}
                        )
                    finally:
                        conn.rollback()
                else:
                    with conn.begin():
                        self._ensure_own_tables(conn)
                        store = _store_for(conn)
                        in_hand: dict[str, _InHand] = {}
                        deleted = self._classify_all(
                            conn, batch, by_entity, dry=False, store=store, in_hand=in_hand
                        )
                        self._recompute_refund_state(conn, batch, deleted, store, in_hand)
                        self._record_token(conn, plan.token, now)
        except BaseException:
            if not dry:
                self._forget_schema()
            raise
        outcomes = [o if o is not None else Outcome.SKIPPED for o in batch.outcomes]
        kept = {Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED, Outcome.DELETED}
        raw_ids = batch.raw_ids
        target_keys = {i: str(raw_ids[i]) for i, o in enumerate(outcomes) if o in kept}
        return BatchResult(outcomes, batch.reasons, target_keys)

    def _record_token(self, conn: Connection, token: str, now: datetime) -> None:
        conn.execute(
            _upsert(conn.dialect, self._applied, ["flow"]),
            {"flow": self.context.flow, "token": token, "applied_at": now.isoformat()},
        )

    @staticmethod
    def _id_field(entity: str, change: Change) -> str:
        known = ID_FIELDS.get(entity)
        if known is not None:
            return known
        for name in change.keys:
            return name
        raise PermanentError(f"{change.describe()} has no key: cannot tell its id field")

    @staticmethod
    def _raw_id(change: Change, id_field: str, batch: _Batch, i: int) -> Any:
        if batch.targets is not None and batch.targets[i] is not None:
            return batch.targets[i]
        value = change.keys.get(id_field)
        if value is None:
            value = change.fields.get(id_field)
        return value

    def _classify_all(
        self,
        conn: Connection,
        batch: _Batch,
        by_entity: dict[str, list[int]],
        *,
        dry: bool,
        store: _Store,
        in_hand: dict[str, _InHand],
    ) -> dict[int, TransactionFacts]:
        """Classify and (unless ``dry``) write every entity's changes; returns the facts of
        transactions whose rows a DELETE removed (``on_delete = "delete"``). ``in_hand``
        receives each entity's rows as the batch left them."""
        removed: dict[int, TransactionFacts] = {}
        for entity, indices in by_entity.items():
            id_field = self._id_field(entity, batch.changes[indices[0]])
            table = self._entity_table(conn, entity, id_field)
            self._plan_columns(table, batch.changes, indices, batch)
            if dry:
                planned = {c.name for c in table.added}
                existing_columns = [c for c in table.columns if c not in planned]
            else:
                self._create_schema(conn, table)
                existing_columns = list(table.columns)
            in_hand[entity] = self._classify(
                store, table, indices, batch, existing_columns, dry, removed
            )
            if dry:
                # Forget what was planned: nothing was created.
                self._tables.pop(entity, None)
        return removed

    def _classify(
        self,
        store: _Store,
        table: _EntityTable,
        indices: list[int],
        batch: _Batch,
        existing_columns: list[str],
        dry: bool,
        removed: dict[int, TransactionFacts],
    ) -> _InHand:
        changes = batch.changes
        outcomes = batch.outcomes
        reasons = batch.reasons
        codec = store.codec
        id_column = table.id_column
        id_coerce = _COERCE[table.columns[id_column].kind]
        financial = table.entity in FINANCIAL_TYPES
        refund = table.entity == REFUND
        mark = self.options.on_delete == "mark"
        delete_op = Operation.DELETE

        # Ids first: a change without a usable id is rejected.
        ids: dict[int, Any] = {}
        raw_ids = batch.raw_ids
        for i in indices:
            if outcomes[i] is not None:
                continue
            raw = raw_ids[i] = self._raw_id(changes[i], table.id_field, batch, i)
            if raw is None or raw == "":
                outcomes[i] = Outcome.REJECTED
                reasons[i] = f"{changes[i].describe()} has no value for {table.id_field}"
                continue
            try:
                ids[i] = id_coerce(raw)
            except _Unfit as unfit:
                outcomes[i] = Outcome.REJECTED
                reasons[i] = f"{changes[i].describe()}: {table.id_field} {raw!r} is not {unfit}"
                continue
            if refund and changes[i].fields.get("OriginalTransactionId") is None:
                outcomes[i] = Outcome.REJECTED
                reasons[i] = (
                    f"{changes[i].describe()} has no OriginalTransactionId: the refund cannot "
                    "be related to a transaction"
                )
                del ids[i]

        # The row layout: every column in order; a new row is built in one C call from the
        # base row, the change's values and the sink's own columns (see _Layout).
        layout = _Layout(table, financial)
        builders, prepared, unfit_fields = self._encode(codec, table, layout, changes, ids)

        keys = list(dict.fromkeys(ids.values()))
        rows = self._existing(store, table, layout, existing_columns, keys)
        stored = set(rows)
        original = dict(rows)
        blank = layout.blank(codec)
        same = layout.comparer(codec)
        deleted_pos = layout.deleted
        true, false = codec.one("boolean", True), codec.one("boolean", False)
        times: dict[datetime, Any] = {}
        dirty: set[Any] = set()
        contributors: dict[Any, list[int]] = {}
        for i, key in ids.items():
            change = changes[i]
            base = rows.get(key)
            if change.operation is delete_op and not mark:
                if base is None:
                    outcomes[i] = Outcome.UNCHANGED
                    reasons[i] = f"no {table.entity} {key} to delete"
                    continue
                if financial:
                    removed[key] = self._facts_of_delete(change, key, table.entity)
                rows[key] = None  # type: ignore[assignment]
                outcomes[i] = Outcome.DELETED
                dirty.add(key)
                contributors.setdefault(key, []).append(i)
                continue
            bad = unfit_fields.get(i)
            if bad is not None:
                outcomes[i] = Outcome.REJECTED
                reasons[i] = bad
                continue
            build = builders[i]
            values = prepared[i]
            if change.operation is delete_op:
                when = _to_datetime(change.occurred_at or batch.now)
                at = times.get(when, _MISSING)
                if at is _MISSING:
                    at = times[when] = codec.one("datetime", when)
                full: Any = None
                if financial:
                    amount = change.fields.get("Payment.Amount")
                    try:
                        full = codec.one("decimal", amount)
                    except _Unfit as unfit:
                        outcomes[i] = Outcome.REJECTED
                        reasons[i] = (
                            f"{change.describe()}: field 'Payment.Amount' {amount!r} is not {unfit}"
                        )
                        continue
                new = build((base or blank) + values + (key, true, at, full))
                if base is not None and base[deleted_pos] and same(new, base):
                    outcome = Outcome.UNCHANGED
                    reasons[i] = f"{table.entity} {key} is marked deleted already"
                else:
                    outcome = Outcome.DELETED
            else:
                new = build((base or blank) + values + (key, false, None, None))
                if base is None:
                    outcome = Outcome.CREATED
                elif same(new, base):
                    outcome = Outcome.UNCHANGED
                else:
                    outcome = Outcome.UPDATED
            outcomes[i] = outcome
            if outcome is not Outcome.UNCHANGED:
                rows[key] = new
                dirty.add(key)
                contributors.setdefault(key, []).append(i)
        in_hand = _InHand(layout, rows, set(keys))
        if dry or not dirty:
            return in_hand
        upserts = sorted(k for k in dirty if rows.get(k) is not None)  # index order
        gone = [k for k in dirty if rows.get(k) is None and k in stored]
        sql_table = table.table()
        if upserts:
            refused = store.upsert(sql_table, [id_column], [rows[k] for k in upserts])
            for position, text in refused:
                key = upserts[position]
                for i in contributors[key]:
                    outcomes[i] = Outcome.REJECTED
                    reasons[i] = f"{changes[i].describe()}: the database refused it: {text}"
                # The table holds what it held before: so must what the refund state reads.
                if key in original:
                    rows[key] = original[key]
                else:
                    rows.pop(key, None)
        if gone:
            store.delete(sql_table, id_column, gone)
        return in_hand

    @staticmethod
    def _encode(
        codec: _Codec,
        table: _EntityTable,
        layout: _Layout,
        changes: Sequence[Change],
        ids: dict[int, Any],
    ) -> tuple[dict[int, _Builder], dict[int, tuple[Any, ...]], dict[int, str]]:
        """Each change's values in stored form, converted column by column for all changes of
        the same shape (the same fields in the same order: a whole page, usually), with the
        function that builds its row; and the reason of every change with a value that does
        not fit its column (the first such field, in the change's order)."""
        shapes: dict[tuple[str, ...], list[int]] = {}
        for i in ids:
            shapes.setdefault(tuple(changes[i].fields), []).append(i)
        by_field = table.by_field
        kinds = {c.field: c.kind for c in table.columns.values() if c.field}
        builders: dict[int, _Builder] = {}
        prepared: dict[int, tuple[Any, ...]] = {}
        unfit_fields: dict[int, str] = {}
        for shape, members in shapes.items():
            fields = [path for path in shape if path in by_field]
            build = layout.builder([by_field[path] for path in fields])
            builders.update(dict.fromkeys(members, build))
            if not fields:
                prepared.update(dict.fromkeys(members, ()))
                continue
            get = itemgetter(*fields)
            if len(fields) == 1:
                raw_rows = [(get(changes[i].fields),) for i in members]
            else:
                raw_rows = [get(changes[i].fields) for i in members]
            columns: list[list[Any]] = []
            for path, raw in zip(fields, zip(*raw_rows, strict=True), strict=True):
                values, unfit = codec.encode(kinds[path], raw)
                columns.append(values)
                for position, expected in unfit.items():
                    i = members[position]
                    if i not in unfit_fields:
                        unfit_fields[i] = (
                            f"{changes[i].describe()}: field {path!r} {raw[position]!r} is not "
                            f"{expected}"
                        )
            prepared.update(zip(members, zip(*columns, strict=True), strict=True))
        return builders, prepared, unfit_fields

    @staticmethod
    def _facts_of_delete(change: Change, key: int, entity: str) -> TransactionFacts:
        fields = change.fields
        try:
            amount = _to_decimal(fields.get("Payment.Amount") or 0)
            original = _to_decimal(fields.get("Payment.OriginalAmount") or 0)
        except _Unfit:
            amount = original = Decimal(0)
        return TransactionFacts(key, amount, original, deleted=True, transaction_type=entity)

    @staticmethod
    def _existing(
        store: _Store,
        table: _EntityTable,
        layout: _Layout,
        columns: list[str],
        keys: list[Any],
    ) -> dict[Any, tuple[Any, ...]]:
        """The stored rows of ``keys`` (every column, stored form; None for a column the batch
        only plans), by id. Ids outside the stored range are not looked up: a page of new
        records (ids above every stored one) costs one index probe."""
        if not table.exists or not keys:
            return {}
        sql_table = table.table()
        keys = _in_range(store, sql_table, table.id_column, keys)
        if not keys:
            return {}
        found = store.select(sql_table, columns, table.id_column, keys)
        id_pos = layout.position[table.id_column]
        if len(columns) != layout.width:
            at = {name: k for k, name in enumerate(columns)}
            pad = len(columns)
            getter = itemgetter(*(at.get(name, pad) for name in layout.names))
            found = [getter((*row, None)) for row in found]
        return {row[id_pos]: row for row in found}

    # ---- refund state ----------------------------------------------------------------------
    def _touched(self, batch: _Batch) -> dict[int, str | None]:
        """Transaction id -> its type (if known) of every transaction the batch changed, directly
        or through a Refund (an unchanged record changed nothing its state was computed from)."""
        touched: dict[int, str | None] = {}
        written = (Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED)
        for i, change in enumerate(batch.changes):
            if batch.outcomes[i] not in written:
                continue
            if change.entity in FINANCIAL_TYPES:
                try:
                    tid = _to_integer(batch.raw_ids[i])  # its TransactionId
                except _Unfit:
                    continue
                touched[tid] = change.entity
            elif change.entity == REFUND:
                original = change.fields.get("OriginalTransactionId")
                try:
                    tid = _to_integer(original)
                except _Unfit:
                    continue
                kind = change.fields.get("OriginalTransactionType")
                if touched.get(tid) is None:
                    touched[tid] = str(kind) if kind else None
        return touched

    def _recompute_refund_state(
        self,
        conn: Connection,
        batch: _Batch,
        removed: dict[int, TransactionFacts],
        store: _Store | None = None,
        in_hand: Mapping[str, _InHand] | None = None,
    ) -> None:
        touched = self._touched(batch)
        if not touched:
            return
        store = store or _store_for(conn)
        ids = sorted(touched)
        facts = self._transaction_facts(conn, store, ids, in_hand or {})
        facts.update(removed)
        refunds = self._refunds_of(conn, store, ids)
        state = self._state
        previous: dict[int, Mapping[str, Any]] = {}
        if self.options.on_delete == "delete":
            for chunk in _chunks([t for t in ids if t not in facts]):
                for row in conn.execute(
                    sa.select(state).where(state.c.transaction_id.in_(chunk))
                ).mappings():
                    previous[row["transaction_id"]] = dict(row)
        reconcile = self.reconciler.reconcile
        states: list[RefundState] = []
        kinds: list[str | None] = []
        for tid in ids:
            known = facts.get(tid) or _facts_from_state(previous.get(tid))
            if known is not None and known.transaction_type is None and touched[tid]:
                known = TransactionFacts(
                    tid,
                    known.amount,
                    known.original_amount,
                    known.deleted,
                    known.full_refund_amount,
                    touched[tid],
                )
            states.append(reconcile(known, refunds.get(tid, ()), transaction_id=tid))
            kinds.append(touched[tid])
        rows = _state_rows(store.codec, states, kinds, batch.now)
        store.upsert_all(state, ["transaction_id"], rows)

    def _transaction_facts(
        self, conn: Connection, store: _Store, ids: list[int], in_hand: Mapping[str, _InHand]
    ) -> dict[int, TransactionFacts]:
        """What the transaction rows say after the batch, from every financial type's table:
        the rows the batch holds in hand, the others read."""
        facts: dict[int, TransactionFacts] = {}
        zero = Decimal(0)
        decimal = store.codec.decode["decimal"]
        decoded: dict[str, Decimal | None] = {}

        def money(value: Any) -> Decimal | None:
            """Amounts repeat: each stored text is decoded once (same text, same Decimal)."""
            if type(value) is not str:
                return decimal(value)  # type: ignore[no-any-return]
            known = decoded.get(value)
            if known is None:
                known = decoded[value] = decimal(value)
            return known

        for entity in FINANCIAL_TYPES:
            table = self._tables.get(entity)
            if table is None:
                table = self._entity_table(conn, entity, "TransactionId")
            if not table.exists:
                continue
            amount = table.by_field.get("Payment.Amount")
            original = table.by_field.get("Payment.OriginalAmount")
            if amount is None:
                continue  # Payment.Amount is not synchronised: nothing to reconcile with
            found: list[tuple[Any, ...]] = []
            hand = in_hand.get(entity)
            wanted = ids
            if hand is not None:
                at = hand.layout.position
                take = itemgetter(
                    at[table.id_column],
                    at[amount],
                    at[DELETED],
                    at[FULL_REFUND],
                    at[original] if original is not None else at[amount],
                )
                rows = hand.rows
                for tid in ids:
                    if tid in hand.known:
                        row = rows.get(tid)
                        if row is not None:
                            found.append(take(row))
                wanted = [tid for tid in ids if tid not in hand.known]
            sql_table = table.table()
            wanted = _in_range(store, sql_table, table.id_column, wanted)
            if wanted:
                columns = [table.id_column, amount, DELETED, FULL_REFUND]
                columns.append(original if original is not None else amount)
                found.extend(store.select(sql_table, columns, table.id_column, wanted))
            for tid, amount_value, deleted, full, original_value in found:
                amount_of = money(amount_value)
                original_of = money(original_value) if original is not None else None
                facts[tid] = TransactionFacts(
                    transaction_id=tid,
                    amount=amount_of if amount_of is not None else zero,
                    original_amount=original_of or zero,
                    deleted=bool(deleted),
                    full_refund_amount=money(full),
                    transaction_type=entity,
                )
        return facts

    def _refunds_of(
        self, conn: Connection, store: _Store, ids: list[int]
    ) -> dict[int, list[RefundRecord]]:
        """Every stored Refund of the transactions, by transaction id, oldest RefundId first."""
        table = self._tables.get(REFUND) or self._entity_table(conn, REFUND, ID_FIELDS[REFUND])
        if not table.exists or "OriginalTransactionId" not in table.by_field:
            return {}
        fields = [
            "RefundId",
            "OriginalTransactionId",
            "OriginalTransactionType",
            "RefundDate",
            "Online",
            "FullRefund",
            "Payment.Amount",
        ]
        present = [f for f in fields if f in table.by_field]
        columns = [table.by_field[f] for f in present]
        decoders = [store.codec.decode[table.columns[c].kind] for c in columns]
        found: dict[int, list[RefundRecord]] = {}
        rows = store.select(
            table.table(),
            columns,
            table.by_field["OriginalTransactionId"],
            ids,
            order_by=table.id_column,
        )
        for row in rows:
            values = {f: decode(v) for f, decode, v in zip(present, decoders, row, strict=True)}
            record = RefundRecord.from_fields(values)
            found.setdefault(record.transaction_id, []).append(record)
        return found


def _in_range(store: _Store, table: sa.Table, column: str, keys: list[Any]) -> list[Any]:
    """The integer ids that may be in ``table`` (between its smallest and largest id); other
    ids as they are."""
    if not keys or not all(type(k) is int for k in keys):
        return keys
    low, high = store.key_range(table, column)
    if low is None or high is None:
        return []
    if not (isinstance(low, int) and isinstance(high, int)):
        return keys
    return [k for k in keys if low <= k <= high]


@dataclass(slots=True)
class _InHand:
    """An entity table's rows as the batch left them (stored form; None: removed), for the
    ids in ``known`` — what the refund state needs without reading them back."""

    layout: _Layout
    rows: dict[Any, tuple[Any, ...]]
    known: set[Any]


_Builder = Callable[[tuple[Any, ...]], tuple[Any, ...]]


class _Layout:
    """The columns of an entity table, in order, and how a change's row is assembled.

    A row is built by one ``itemgetter`` over ``base + values + own``: ``base`` the stored (or
    blank) row, ``values`` the change's stored values in its field order, ``own`` the sink's
    own columns (id, luminate_deleted, luminate_deleted_at, full_refund_amount)."""

    def __init__(self, table: _EntityTable, financial: bool) -> None:
        self.names = list(table.columns)
        self.width = len(self.names)
        self.kinds = [table.columns[n].kind for n in self.names]
        self.position = {name: k for k, name in enumerate(self.names)}
        self.deleted = self.position[DELETED]
        own = [table.id_column, DELETED, DELETED_AT]
        if financial and FULL_REFUND in self.position:
            own.append(FULL_REFUND)
        self._own = {name: slot for slot, name in enumerate(own)}
        self._builders: dict[tuple[str, ...], Callable[[tuple[Any, ...]], tuple[Any, ...]]] = {}

    def builder(self, columns: list[str]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
        """The row of a change carrying ``columns`` (in that order)."""
        key = tuple(columns)
        build = self._builders.get(key)
        if build is None:
            carried = {name: k for k, name in enumerate(columns)}
            values_at = self.width
            own_at = self.width + len(columns)
            picks = [
                own_at + self._own[name]
                if name in self._own
                else values_at + carried[name]
                if name in carried
                else k
                for k, name in enumerate(self.names)
            ]
            build = self._builders[key] = itemgetter(*picks)  # width >= 3: a tuple
        return build

    def blank(self, codec: _Codec) -> tuple[Any, ...]:
        row: list[Any] = [None] * self.width
        row[self.deleted] = codec.one("boolean", False)
        return tuple(row)

    def comparer(self, codec: _Codec) -> Callable[[tuple[Any, ...], tuple[Any, ...]], bool]:
        """Whether two rows hold the same values: their stored forms equal, or (for the kinds
        whose stored form is not canonical) their values."""
        loose = [k for k, kind in enumerate(self.kinds) if kind not in codec.exact]
        if not loose:
            return operator.eq
        strict = [k for k in range(self.width) if k not in loose]
        strict_part = itemgetter(*strict) if strict else None
        decoders = [(k, codec.decode[self.kinds[k]]) for k in loose]

        def same(new: tuple[Any, ...], old: tuple[Any, ...]) -> bool:
            if new == old:
                return True
            if strict_part is not None and strict_part(new) != strict_part(old):
                return False
            for k, decode in decoders:
                a, b = new[k], old[k]
                if a != b:
                    try:
                        if decode(a) != decode(b):
                            return False
                    except (ValueError, ArithmeticError):
                        return False
            return True

        return same


_STATE_KINDS: Final[dict[str, str]] = {
    "transaction_id": "integer",
    "transaction_type": "text",
    "original_amount": "decimal",
    "current_amount": "decimal",
    "online_refund_count": "integer",
    "online_refunds": "decimal",
    "online_partial_refunds": "decimal",
    "inferred_offline_refunds": "decimal",
    "full_refund_amount": "decimal",
    "full_refund_online": "boolean",
    "status": "text",
    "last_refund_date": "datetime",
    "warnings": "text",
    "computed_at": "datetime",
}


_STATE_FIELDS: Final = attrgetter(
    "transaction_id",
    "transaction_type",
    "original_amount",
    "current_amount",
    "online_refund_count",
    "online_refunds",
    "online_partial_refunds",
    "inferred_offline_refunds",
    "full_refund_amount",
    "full_refund_online",
    "status",
    "last_refund_date",
    "warnings",
)


def _state_rows(
    codec: _Codec, states: list[RefundState], kinds: list[str | None], now: datetime
) -> list[tuple[Any, ...]]:
    """The refund state rows in stored form, in the table's column order, converted column
    by column; ``kinds`` are the transaction types the batch knows (used when the state has
    none)."""
    columns: list[Any] = list(zip(*map(_STATE_FIELDS, states), strict=True))
    columns[1] = [own or batch for own, batch in zip(columns[1], kinds, strict=True)]
    columns[10] = [status.value for status in columns[10]]
    columns[12] = ["; ".join(warnings) or None for warnings in columns[12]]
    columns.append([now] * len(states))
    stored = [
        codec.encode(kind, values)[0]
        for kind, values in zip(_STATE_KINDS.values(), columns, strict=True)
    ]
    return list(zip(*stored, strict=True))


def _facts_from_state(row: Mapping[str, Any] | None) -> TransactionFacts | None:
    """A deleted transaction whose row is gone (``on_delete = "delete"``), as its last refund
    state remembers it."""
    if row is None or row["status"] != "full" or row["full_refund_amount"] is None:
        return None
    original = row["original_amount"]
    full = row["full_refund_amount"]
    return TransactionFacts(
        row["transaction_id"],
        full,
        original if original is not None and original != full else Decimal(0),
        deleted=True,
        transaction_type=row["transaction_type"],
    )
