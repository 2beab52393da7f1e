"""The ``luminate_sql`` sink: Luminate records in typed SQL tables, the refund state beside them.

One table per record type (``luminate_donation``, ``luminate_refund``...), keyed by the type's id
field, with a typed column per flat field (``Payment.Amount`` -> ``Payment_Amount``). Tables and
columns appear when a type or field is first seen. A transaction Luminate deletes (a full refund)
keeps its row, marked deleted, because a finance table must not lose a gift. After each batch, in
the same database transaction, the ``luminate_refund_state`` rows of every transaction the batch
touched (directly or through a Refund) are recomputed with :class:`RefundReconciler`, and the
batch token is stored (``_syncframe_applied``) so a crash between commit and the engine's own
commit is answered by :meth:`LuminateSqlSink.was_applied`.

SQLAlchemy Core: SQLite by default, PostgreSQL through the URL (``postgresql+psycopg://``). Money
is exact: ``NUMERIC`` in PostgreSQL, the decimal's text in SQLite (whose NUMERIC is a float).
Times are UTC (``timestamptz`` in PostgreSQL, UTC text in SQLite).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
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
from syncframe_luminate.types import FINANCIAL_TYPES, ID_FIELDS, REFUND

__all__ = [
    "APPLIED_TABLE",
    "COLUMNS_TABLE",
    "ExactDecimal",
    "LuminateSqlOptions",
    "LuminateSqlSink",
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


class LuminateSqlOptions(BaseModel):
    """Options of the ``luminate_sql`` sink."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "sqlite:///luminate.db",
        description="The database (SQLAlchemy URL); a relative SQLite path is read against the "
        "flow file's folder. PostgreSQL: postgresql+psycopg://user:password@host/database "
        "(install syncframe-luminate[postgres]).",
    )
    table_prefix: str = Field(
        "luminate_",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Prefix of the table names: <prefix><type in lower case>, "
        "<prefix>refund_state.",
    )
    on_delete: Literal["mark", "delete"] = Field(
        "mark",
        description="What a DELETE does: 'mark' keeps the row and sets luminate_deleted, "
        "luminate_deleted_at and (transactions) full_refund_amount — a fully refunded gift "
        "stays in the finance table; 'delete' removes the row.",
    )
    fsync: bool = Field(
        False,
        description="SQLite: force every batch to disk before acknowledging it (synchronous "
        "FULL; power-loss safe, slower). Off, a committed batch survives a crash of syncframe.",
    )

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
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


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


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


# --------------------------------------------------------------------------------------------
# The sink


class LuminateSqlSink(Sink[LuminateSqlOptions]):
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
        for i in indices:
            for path, value in batch.changes[i].fields.items():
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
        if not table.exists:
            table.table().create(conn)
            table.exists = True
        else:
            quote = conn.dialect.identifier_preparer.quote
            for column in table.added:
                ddl = _TYPES[column.kind]().compile(dialect=conn.dialect)
                conn.exec_driver_sql(
                    f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {ddl}"
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
                        self._classify_all(conn, batch, by_entity, dry=True)
                    finally:
                        conn.rollback()
                else:
                    with conn.begin():
                        self._ensure_own_tables(conn)
                        deleted = self._classify_all(conn, batch, by_entity, dry=False)
                        self._recompute_refund_state(conn, batch, deleted)
                        self._record_token(conn, plan.token, now)
        except BaseException:
            if not dry:
                self._forget_schema()
            raise
        outcomes = [o if o is not None else Outcome.SKIPPED for o in batch.outcomes]
        target_keys = {
            i: str(
                self._raw_id(changes[i], self._id_field(changes[i].entity, changes[i]), batch, i)
            )
            for i, o in enumerate(outcomes)
            if o in (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED, Outcome.DELETED)
        }
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
    ) -> dict[int, TransactionFacts]:
        """Classify and (unless ``dry``) write every entity's changes; returns the facts of
        transactions whose rows a DELETE removed (``on_delete = "delete"``)."""
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
            self._classify(conn, table, indices, batch, existing_columns, dry, removed)
            if dry:
                # Forget what was planned: nothing was created.
                self._tables.pop(entity, None)
        return removed

    def _classify(
        self,
        conn: Connection,
        table: _EntityTable,
        indices: list[int],
        batch: _Batch,
        existing_columns: list[str],
        dry: bool,
        removed: dict[int, TransactionFacts],
    ) -> None:
        changes = batch.changes
        outcomes = batch.outcomes
        reasons = batch.reasons
        id_column = table.id_column
        id_coerce = _COERCE[table.columns[id_column].kind]
        coercers = {c.field: (c.name, _COERCE[c.kind]) for c in table.columns.values() if c.field}
        financial = table.entity in FINANCIAL_TYPES
        refund = table.entity == REFUND
        mark = self.options.on_delete == "mark"
        delete_op = Operation.DELETE

        # Ids first: a change without a usable id is rejected.
        ids: dict[int, Any] = {}
        for i in indices:
            if outcomes[i] is not None:
                continue
            raw = self._raw_id(changes[i], table.id_field, batch, i)
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

        rows = self._existing(conn, table, existing_columns, list(dict.fromkeys(ids.values())))
        stored = set(rows)
        blank = dict.fromkeys(table.columns)
        blank[DELETED] = False
        dirty: set[Any] = set()
        contributors: dict[Any, list[int]] = {}
        for i, key in ids.items():
            change = changes[i]
            base = rows.get(key)
            if change.operation == delete_op and not mark:
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
            new = dict(base) if base is not None else dict(blank)
            new[id_column] = key
            bad = self._apply_fields(change, new, coercers, table)
            if bad is not None:
                outcomes[i] = Outcome.REJECTED
                reasons[i] = bad
                continue
            if change.operation == delete_op:
                new[DELETED] = True
                new[DELETED_AT] = _to_datetime(change.occurred_at or batch.now)
                if financial:
                    amount = change.fields.get("Payment.Amount")
                    try:
                        new[FULL_REFUND] = None if amount is None else _to_decimal(amount)
                    except _Unfit as unfit:
                        outcomes[i] = Outcome.REJECTED
                        reasons[i] = (
                            f"{change.describe()}: field 'Payment.Amount' {amount!r} is not {unfit}"
                        )
                        continue
                if base is not None and base.get(DELETED) and new == base:
                    outcome = Outcome.UNCHANGED
                    reasons[i] = f"{table.entity} {key} is marked deleted already"
                else:
                    outcome = Outcome.DELETED
            else:
                new[DELETED] = False
                new[DELETED_AT] = None
                if financial:
                    new[FULL_REFUND] = None
                if base is None:
                    outcome = Outcome.CREATED
                elif new == base:
                    outcome = Outcome.UNCHANGED
                else:
                    outcome = Outcome.UPDATED
            outcomes[i] = outcome
            if outcome is not Outcome.UNCHANGED:
                rows[key] = new
                dirty.add(key)
                contributors.setdefault(key, []).append(i)
        if dry or not dirty:
            return
        upserts = [rows[k] for k in dirty if rows.get(k) is not None]
        gone = [k for k in dirty if rows.get(k) is None and k in stored]
        sql_table = table.table()
        if upserts:
            upserts.sort(key=lambda row: row[id_column])  # index-friendly, deterministic
            self._apply(
                conn,
                _upsert(conn.dialect, sql_table, [id_column]),
                upserts,
                [contributors[r[id_column]] for r in upserts],
                batch,
            )
        for chunk in _chunks(gone):
            conn.execute(sa.delete(sql_table).where(sql_table.c[id_column].in_(chunk)))

    def _apply_fields(
        self,
        change: Change,
        row: dict[str, Any],
        coercers: Mapping[str, tuple[str, Callable[[Any], Any]]],
        table: _EntityTable,
    ) -> str | None:
        """Put the change's fields into ``row``; a reason when a value does not fit."""
        for path, value in change.fields.items():
            target = coercers.get(path)
            if target is None:
                continue  # None for a field without column yet: NULL already
            name, coerce = target
            if value is None:
                row[name] = None
                continue
            try:
                row[name] = coerce(value)
            except _Unfit as unfit:
                return f"{change.describe()}: field {path!r} {value!r} is not {unfit}"
        return None

    @staticmethod
    def _facts_of_delete(change: Change, key: int, entity: str) -> TransactionFacts:
        fields = change.fields
        try:
            amount = _to_decimal(fields.get("Payment.Amount") or 0)
            original = _to_decimal(fields.get("Payment.OriginalAmount") or 0)
        except _Unfit:
            amount = original = Decimal(0)
        return TransactionFacts(key, amount, original, deleted=True, transaction_type=entity)

    def _existing(
        self, conn: Connection, table: _EntityTable, columns: list[str], keys: list[Any]
    ) -> dict[Any, dict[str, Any]]:
        """The stored rows of ``keys`` (every column), by id."""
        if not table.exists or not keys:
            return {}
        sql_table = table.table()
        id_column = sql_table.c[table.id_column]
        selected = [sql_table.c[c] for c in columns]
        missing = [c for c in table.columns if c not in columns]
        rows: dict[Any, dict[str, Any]] = {}
        for chunk in _chunks(keys):
            for row in conn.execute(sa.select(*selected).where(id_column.in_(chunk))).mappings():
                values = dict(row)
                for name in missing:
                    values[name] = None
                rows[values[table.id_column]] = values
        return rows

    def _apply(
        self,
        conn: Connection,
        statement: Any,
        rows: list[dict[str, Any]],
        contributors: list[list[int]],
        batch: _Batch,
    ) -> None:
        """Write ``rows`` in one executemany; if the database refuses one (a constraint, a
        value out of range), find which row by row and reject the changes behind it."""
        savepoint = conn.begin_nested()
        try:
            conn.execute(statement, rows)
        except (exc.IntegrityError, exc.DataError):
            savepoint.rollback()
        else:
            savepoint.commit()
            return
        for row, indices in zip(rows, contributors, strict=True):
            savepoint = conn.begin_nested()
            try:
                conn.execute(statement, row)
            except (exc.IntegrityError, exc.DataError) as error:
                savepoint.rollback()
                text = str(error.orig).splitlines()[0]
                for i in indices:
                    batch.outcomes[i] = Outcome.REJECTED
                    batch.reasons[i] = (
                        f"{batch.changes[i].describe()}: the database refused it: {text}"
                    )
            else:
                savepoint.commit()

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
                    tid = _to_integer(self._raw_id(change, "TransactionId", batch, i))
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
        self, conn: Connection, batch: _Batch, removed: dict[int, TransactionFacts]
    ) -> None:
        touched = self._touched(batch)
        if not touched:
            return
        ids = sorted(touched)
        facts = self._transaction_facts(conn, ids)
        facts.update(removed)
        refunds = self._refunds_of(conn, ids)
        state = self._state
        previous: dict[int, Mapping[str, Any]] = {}
        if self.options.on_delete == "delete":
            for chunk in _chunks([t for t in ids if t not in facts]):
                for row in conn.execute(
                    sa.select(state).where(state.c.transaction_id.in_(chunk))
                ).mappings():
                    previous[row["transaction_id"]] = dict(row)
        rows: list[dict[str, Any]] = []
        reconcile = self.reconciler.reconcile
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
            result = reconcile(known, refunds.get(tid, ()), transaction_id=tid)
            rows.append(_state_row(result, touched[tid], batch.now))
        conn.execute(_upsert(conn.dialect, state, ["transaction_id"]), rows)

    def _transaction_facts(self, conn: Connection, ids: list[int]) -> dict[int, TransactionFacts]:
        """What the stored transaction rows say, from every financial type's table."""
        facts: dict[int, TransactionFacts] = {}
        for entity in FINANCIAL_TYPES:
            table = self._tables.get(entity)
            if table is None:
                table = self._entity_table(conn, entity, "TransactionId")
            if not table.exists:
                continue
            sql_table = table.table()
            amount = table.by_field.get("Payment.Amount")
            original = table.by_field.get("Payment.OriginalAmount")
            if amount is None:
                continue  # Payment.Amount is not synchronised: nothing to reconcile with
            wanted = [sql_table.c[table.id_column], sql_table.c[amount], sql_table.c[DELETED]]
            wanted.append(sql_table.c[FULL_REFUND])
            if original is not None:
                wanted.append(sql_table.c[original])
            for chunk in _chunks(ids):
                select = sa.select(*wanted).where(sql_table.c[table.id_column].in_(chunk))
                for row in conn.execute(select):
                    values = tuple(row)
                    zero = Decimal(0)
                    facts[values[0]] = TransactionFacts(
                        transaction_id=values[0],
                        amount=values[1] if values[1] is not None else zero,
                        original_amount=(values[4] if original is not None else None) or zero,
                        deleted=bool(values[2]),
                        full_refund_amount=values[3],
                        transaction_type=entity,
                    )
        return facts

    def _refunds_of(self, conn: Connection, ids: list[int]) -> dict[int, list[RefundRecord]]:
        """Every stored Refund of the transactions, by transaction id, oldest RefundId first."""
        table = self._tables.get(REFUND) or self._entity_table(conn, REFUND, ID_FIELDS[REFUND])
        if not table.exists or "OriginalTransactionId" not in table.by_field:
            return {}
        sql_table = table.table()
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
        columns = [sql_table.c[table.by_field[f]] for f in present]
        original = sql_table.c[table.by_field["OriginalTransactionId"]]
        found: dict[int, list[RefundRecord]] = {}
        for chunk in _chunks(ids):
            select = (
                sa.select(*columns)
                .where(original.in_(chunk))
                .order_by(sql_table.c[table.id_column])
            )
            for row in conn.execute(select):
                record = RefundRecord.from_fields(dict(zip(present, row, strict=True)))
                found.setdefault(record.transaction_id, []).append(record)
        return found


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


def _state_row(state: RefundState, kind: str | None, now: datetime) -> dict[str, Any]:
    return {
        "transaction_id": state.transaction_id,
        "transaction_type": state.transaction_type or kind,
        "original_amount": state.original_amount,
        "current_amount": state.current_amount,
        "online_refund_count": state.online_refund_count,
        "online_refunds": state.online_refunds,
        "online_partial_refunds": state.online_partial_refunds,
        "inferred_offline_refunds": state.inferred_offline_refunds,
        "full_refund_amount": state.full_refund_amount,
        "full_refund_online": state.full_refund_online,
        "status": state.status.value,
        "last_refund_date": state.last_refund_date,
        "warnings": "; ".join(state.warnings) or None,
        "computed_at": now,
    }
