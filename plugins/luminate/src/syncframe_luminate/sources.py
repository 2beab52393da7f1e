"""The sources of the Luminate Online web-services sync: transactions and constituents.

Both read one **synchronization window** per run (StartSynchronization ... EndSynchronization)
and share the machinery here. The window is the unit of exactly-once reading:

* the cursor names the window (partition, Start, End) and the next record to hand on (the step,
  i.e. which record type and GetIncremental* kind, the page and the offset in it). A run stopped
  in the middle of a window starts the *same* window again (StartSynchronization with the same
  Start and End, and Force) and goes on from there: the service classifies a window's records
  from its change log, so the pages are the same and nothing handed on before is handed on again;
* the last batch of a window carries a ``done`` cursor; only when the engine says that batch
  was committed (:meth:`acknowledged`) is the window ended (EndSynchronization), so a window is
  never ended with records of it that the sink has not taken;
* a window with nothing in it is ended by :meth:`read` itself and hands nothing on.

Start is always sent explicitly (the cursor's, or the beginning of time), never left to the
service's default ("the start of the last successful sync"), so that another flow of the same
API user and partition cannot move this flow's windows.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Protocol, TypeVar

import anyio
import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from syncframe.components import (
    ComponentContext,
    JSONValue,
    PermanentError,
    Source,
    SourceBatch,
    TransientError,
)
from syncframe.records import Change, Operation
from syncframe_luminate.settings import LuminateSettings
from syncframe_luminate.types import (
    ASSOCIATED_TYPES,
    CONSTITUENT,
    DEFAULT_PARTITION_ID,
    FINANCIAL_TYPES,
    ID_FIELDS,
    MAX_DOWNLOAD_PAGE_SIZE,
    MAX_QUERY_PAGE_SIZE,
    REFERENCES,
    REFUND,
    TRANSACTION_TYPES,
    IncrementalKind,
    incremental_kinds,
)

if TYPE_CHECKING:
    from syncframe_luminate.client import LuminateClient

__all__ = [
    "BEGINNING",
    "ConstituentSource",
    "ConstituentSourceOptions",
    "LuminateApi",
    "SyncWindowLike",
    "TransactionSource",
    "TransactionSourceOptions",
    "WindowCursor",
    "segment_of",
]

log = logging.getLogger(__name__)

#: The Start sent for a window that starts at "the beginning of time" (the service's own
#: default Start is the end of the last ended window, which another flow may have moved).
BEGINNING: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Associated records kept per run (one Query per id while it stays cached).
ASSOCIATED_CACHE_SIZE: Final = 10_000
#: The operation of each GetIncremental* kind.
OPERATIONS: Final[dict[str, Operation]] = {
    "inserts": Operation.INSERT,
    "updates": Operation.UPDATE,
    "deletes": Operation.DELETE,
}
#: Field of a financial transaction that says it was partially refunded (0 when not).
ORIGINAL_AMOUNT: Final = "Payment.OriginalAmount"
#: Fields whose value is a record's last change time, in order of preference.
MODIFY_DATE_FIELDS: Final = ("Payment.ModifyDate", "ModifyDate")


# --------------------------------------------------------------------------------------------
# What the sources need of the client (syncframe_luminate.client.LuminateClient has it all).


class SyncWindowLike(Protocol):
    """A synchronization window as the client returns it."""

    @property
    def partition_id(self) -> int: ...
    @property
    def start(self) -> datetime | None: ...
    @property
    def end(self) -> datetime: ...
    @property
    def sync_id(self) -> int | None: ...


class LuminateApi(Protocol):
    """The calls of :class:`~syncframe_luminate.client.LuminateClient` the sources make (a
    protocol, so tests can hand a source a fake)."""

    async def login(self) -> None: ...
    async def server_time(self) -> datetime: ...
    async def fields(self, record_type: str) -> list[str]: ...
    async def start_synchronization(
        self,
        partition_id: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        force: bool = False,
    ) -> SyncWindowLike: ...
    async def end_synchronization(self, partition_id: int) -> SyncWindowLike: ...
    async def get_incremental(
        self,
        kind: IncrementalKind,
        record_type: str,
        *,
        partition_id: int,
        page: int,
        page_size: int,
        fields: Sequence[str],
    ) -> list[dict[str, Any]]: ...
    async def query(
        self, statement: str, *, page: int = 1, page_size: int | None = None
    ) -> list[dict[str, Any]]: ...


def _settings_of(context: ComponentContext) -> LuminateSettings:
    settings = context.connection
    if not isinstance(settings, LuminateSettings):
        raise PermanentError(
            f"connection {context.connection_name!r} is not a Luminate Online connection "
            "(system = 'luminate')"
        )
    return settings


def _client_for(context: ComponentContext) -> LuminateApi:
    """The web-services client on the engine's HTTP client for the component's connection."""
    from syncframe_luminate.client import LuminateClient

    client: LuminateClient = LuminateClient(_settings_of(context), context.http())
    return client


# --------------------------------------------------------------------------------------------
# The cursor.


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _parse_time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PermanentError(
            f"the flow's cursor is not a Luminate window cursor: {what} = {value!r}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PermanentError(
            f"the flow's cursor is not a Luminate window cursor: {what} = {value!r} is not a time"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def segment_of(start: datetime | None, end: datetime, prefix: str = "") -> str:
    """The name of a window for sinks that keep windows apart (files are named by it)."""
    first = "beginning" if start is None else f"{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{prefix}{first}_{end.astimezone(UTC):%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True, slots=True)
class WindowCursor:
    """Where a source stands: inside a window (``done`` false: ``step``/``page``/``offset`` name
    the next record to hand on) or after one (``done``: every batch of it was handed on).

    ``page_size`` is the page size the position was counted in, so a changed ``page_size``
    setting still resumes at the same record.
    """

    partition: int
    start: datetime | None
    end: datetime
    done: bool = False
    step: int = 0
    page: int = 1
    offset: int = 0
    page_size: int = MAX_DOWNLOAD_PAGE_SIZE

    def to_json(self) -> dict[str, Any]:
        """The cursor as the engine stores it."""
        if self.done:
            return {"done": {"partition": self.partition, "end": _iso(self.end)}}
        return {
            "window": {
                "partition": self.partition,
                "start": _iso(self.start),
                "end": _iso(self.end),
            },
            "step": self.step,
            "page": self.page,
            "offset": self.offset,
            "page_size": self.page_size,
        }

    @classmethod
    def from_json(cls, value: JSONValue) -> WindowCursor:
        """Read a stored cursor; anything else is a PermanentError saying what is wrong."""

        def wrong(why: str) -> PermanentError:
            return PermanentError(
                f"the flow's cursor is not a Luminate window cursor ({why}): {value!r}"
            )

        if not isinstance(value, Mapping):
            raise wrong("not an object")
        try:
            if "done" in value:
                done = value["done"]
                end = _parse_time(done["end"], "done.end")
                if end is None:
                    raise wrong("done.end is missing")
                return cls(int(done["partition"]), None, end, done=True)
            window = value["window"]
            end = _parse_time(window["end"], "window.end")
            if end is None:
                raise wrong("window.end is missing")
            cursor = cls(
                int(window["partition"]),
                _parse_time(window.get("start"), "window.start"),
                end,
                step=int(value["step"]),
                page=int(value["page"]),
                offset=int(value["offset"]),
                page_size=int(value.get("page_size", MAX_DOWNLOAD_PAGE_SIZE)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise wrong(f"{type(exc).__name__}: {exc}") from None
        if cursor.step < 0 or cursor.page < 1 or cursor.offset < 0 or cursor.page_size < 1:
            raise wrong("step, page, offset or page_size out of range")
        return cursor


# --------------------------------------------------------------------------------------------
# Small tools.


K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A least-recently-used mapping of at most ``size`` entries (associated records)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value, marked as just used; None when absent."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: K, value: V) -> None:
        """Keep ``value``, dropping the least recently used entry beyond ``size``."""
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


T = TypeVar("T")


async def _gather(calls: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``calls`` concurrently (at most ``limit`` at a time); results in call order.

    The first failure (in call order) is raised as itself, not inside an ExceptionGroup, so
    the engine still sees a TransientError or an httpx error and retries.
    """
    if len(calls) <= 1:
        return [await call() for call in calls]
    results: list[Any] = [None] * len(calls)
    errors: dict[int, Exception] = {}
    limiter = anyio.CapacityLimiter(max(1, limit))

    async def run(index: int, call: Callable[[], Awaitable[T]]) -> None:
        async with limiter:
            if errors:
                return
            try:
                results[index] = await call()
            except Exception as exc:
                errors[index] = exc

    async with anyio.create_task_group() as tg:
        for index, call in enumerate(calls):
            tg.start_soon(run, index, call)
    if errors:
        raise errors[min(errors)]
    return results


def _occurred_at(record: Mapping[str, Any], default: datetime) -> datetime:
    for name in MODIFY_DATE_FIELDS:
        value = record.get(name)
        if isinstance(value, datetime):
            return value
    return default


def _record_id(record_type: str, record: Mapping[str, Any]) -> int:
    id_field = ID_FIELDS[record_type]
    value = record.get(id_field)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PermanentError(
            f"a {record_type} record came without its {id_field} ({value!r}); its fields: "
            f"{sorted(record)}"
        )
    try:
        return int(value)
    except ValueError:
        raise PermanentError(f"{record_type} {id_field} {value!r} is not a number") from None


# --------------------------------------------------------------------------------------------
# Units and batches.


@dataclass(slots=True)
class _Unit:
    """One record read from a page and what goes before it (associated records, refunds).

    ``before`` is the position of the record (handing on stops before it), ``after`` the
    position after it; ``introduces`` the associated records emitted in front of it.
    """

    extras: list[Change]
    change: Change
    before: WindowCursor
    after: WindowCursor
    introduces: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Built:
    """A batch ready to be handed on."""

    changes: list[Change]
    cursor: WindowCursor
    introduces: list[tuple[str, int]]


class _Packer:
    """Packs units into batches of at most ``batch_size`` changes, keeping a record with what
    goes before it in one batch whenever they fit in one."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = max(1, batch_size)
        self.changes: list[Change] = []
        self.introduces: list[tuple[str, int]] = []
        self.cursor: WindowCursor | None = None

    def add(self, unit: _Unit) -> list[_Built]:
        built: list[_Built] = []
        size = len(unit.extras) + 1
        if self.changes and len(self.changes) + size > self.batch_size:
            built.append(self._take())
        extras = list(unit.extras)
        self.introduces.extend(unit.introduces)
        # A unit larger than a batch: its extras go on ahead, in batches whose cursor still
        # points at the record (handing them on again after a stop is harmless: upserts).
        while len(self.changes) + len(extras) + 1 > self.batch_size:
            room = self.batch_size - len(self.changes)
            self.changes.extend(extras[:room])
            del extras[:room]
            self.cursor = unit.before
            built.append(self._take())
        self.changes.extend(extras)
        self.changes.append(unit.change)
        self.cursor = unit.after
        if len(self.changes) >= self.batch_size:
            built.append(self._take())
        return built

    def flush(self) -> list[_Built]:
        return [self._take()] if self.changes else []

    def _take(self) -> _Built:
        assert self.cursor is not None
        built = _Built(self.changes, self.cursor, self.introduces)
        self.changes, self.introduces = [], []
        return built


# --------------------------------------------------------------------------------------------
# The window machinery both sources share.


class _WindowOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partition_id: int = Field(
        DEFAULT_PARTITION_ID,
        ge=1,
        description="The partition synchronized (1001: All Constituents).",
    )
    first_window_start: AwareDatetime | None = Field(
        None,
        description="Start of the very first window; none: the beginning of time.",
    )
    force: bool = Field(
        True,
        description=(
            "Start windows with Force, replacing a window a crashed run left open "
            "(false: such a window makes the run fail with a SynchronizationFault)."
        ),
    )
    prefetch: int = Field(
        4,
        ge=1,
        le=32,
        description=(
            "Pages fetched ahead concurrently within one record type and kind (and lookups run "
            "at once); the connection's max_concurrency caps what is really in flight."
        ),
    )


OptionsT = TypeVar("OptionsT", bound=_WindowOptions)


class _WindowSource(Source[OptionsT]):
    """Reads one synchronization window per run, in (record type, kind) steps."""

    system = "luminate"
    #: Prefix of the segment names (the constituent source names the partition).
    segment_prefix: ClassVar[bool] = False

    def __init__(
        self, context: ComponentContext, options: OptionsT, *, client: LuminateApi | None = None
    ) -> None:
        super().__init__(context, options)
        self._client = client
        self._fields: dict[str, list[str]] = {}

    # ---- the client and settings -----------------------------------------------------------
    @property
    def client(self) -> LuminateApi:
        """The web-services client (made on first use, on the engine's HTTP client)."""
        if self._client is None:
            self._client = _client_for(self.context)
        return self._client

    @property
    def page_size(self) -> int:
        settings = self.context.connection
        if isinstance(settings, LuminateSettings):
            return settings.page_size
        return MAX_DOWNLOAD_PAGE_SIZE

    @property
    def query_page_size(self) -> int:
        settings = self.context.connection
        if isinstance(settings, LuminateSettings):
            return settings.query_page_size
        return MAX_QUERY_PAGE_SIZE

    async def check(self) -> None:
        """Log in and ask the server's time: the site answers and the API user is accepted."""
        await self.client.login()
        await self.client.server_time()

    # ---- what a source says ----------------------------------------------------------------
    def steps(self) -> list[tuple[str, IncrementalKind]]:
        """The (record type, GetIncremental* kind) steps of a window, in reading order."""
        raise NotImplementedError

    def configured_fields(self, record_type: str) -> list[str] | None:
        """The fields the options ask for, None for every field of the type."""
        raise NotImplementedError

    def required_fields(self, record_type: str) -> list[str]:
        """Fields read whatever the options say (the id, what refunds are judged by)."""
        return [ID_FIELDS[record_type]]

    async def units(
        self,
        window: WindowCursor,
        record_type: str,
        kind: IncrementalKind,
        rows: list[tuple[dict[str, Any], WindowCursor, WindowCursor]],
        introduced: set[tuple[str, int]],
    ) -> list[_Unit]:
        """Changes for records of one page round, each with what goes before it."""
        return [
            _Unit([], self.change(record_type, OPERATIONS[kind], record, window), before, after)
            for record, before, after in rows
        ]

    # ---- shared -----------------------------------------------------------------------------
    async def fields_of(self, record_type: str) -> list[str]:
        """The fields read for a type: the options' or every field of the site's WSDL, plus
        the required ones."""
        known = self._fields.get(record_type)
        if known is not None:
            return known
        chosen = self.configured_fields(record_type)
        if chosen is None:
            chosen = list(await self.client.fields(record_type))
        for name in self.required_fields(record_type):
            if name in chosen:
                continue
            if name == ID_FIELDS[record_type]:
                chosen.insert(0, name)
            else:
                chosen.append(name)
        self._fields[record_type] = chosen
        return chosen

    def change(
        self, record_type: str, operation: Operation, record: dict[str, Any], window: WindowCursor
    ) -> Change:
        """A change in the shape every Luminate sink expects (Contract 3)."""
        id_field = ID_FIELDS[record_type]
        return Change(
            system=self.context.connection_name,
            entity=record_type,
            keys={id_field: _record_id(record_type, record)},
            operation=operation,
            fields=record,
            occurred_at=_occurred_at(record, window.end),
        )

    def segment(self, window: WindowCursor) -> str:
        prefix = f"p{window.partition}_" if self.segment_prefix else ""
        return segment_of(window.start, window.end, prefix)

    # ---- reading ----------------------------------------------------------------------------
    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        partition = self.options.partition_id
        position = None if cursor is None else WindowCursor.from_json(cursor)
        if position is not None and position.partition != partition:
            raise PermanentError(
                f"the flow's cursor is for partition {position.partition}, but partition_id is "
                f"{partition}: reset the flow's state to read partition {partition} from its "
                "first window"
            )
        resumed = position is not None and not position.done
        window = await self._open_window(position)
        segment = self.segment(window)
        pending: _Built | None = None
        async for built in self._batches(window, batch_size):
            if pending is not None:
                yield self._hand_on(pending, segment)
            pending = built
        done = WindowCursor(partition, window.start, window.end, done=True)
        if pending is not None:
            pending.cursor = done
            yield self._hand_on(pending, segment)
        elif resumed:
            # The rest of a resumed window held nothing more: an empty batch moves the cursor
            # past the window, and its acknowledgement ends it.
            yield SourceBatch([], done.to_json(), segment)
        else:
            log.info(
                "%s: window %s of partition %d holds nothing; ending it",
                self.context.connection_name,
                segment,
                partition,
            )
            await self.client.end_synchronization(partition)

    async def acknowledged(self, cursor: JSONValue) -> None:
        """The last batch of a window is committed: end the window (EndSynchronization)."""
        if not (isinstance(cursor, Mapping) and "done" in cursor):
            return
        done = WindowCursor.from_json(cursor)
        try:
            await self.client.end_synchronization(done.partition)
        except (PermanentError, TransientError, httpx.HTTPError) as exc:
            # Every record of the window is committed and the cursor is past it; the next window
            # starts at its End whatever the service thinks (Start is always sent, with Force).
            log.warning(
                "%s: could not end the synchronization window of partition %d ending %s: %s",
                self.context.connection_name,
                done.partition,
                _iso(done.end),
                exc,
            )

    def _hand_on(self, built: _Built, segment: str) -> SourceBatch:
        self._emitted(built.introduces)
        return SourceBatch(built.changes, built.cursor.to_json(), segment)

    def _emitted(self, introduced: Sequence[tuple[str, int]]) -> None:
        """Associated records were handed on (the transaction source remembers them)."""

    async def _open_window(self, position: WindowCursor | None) -> WindowCursor:
        """Start the window the cursor says: the same one again, or the next."""
        partition = self.options.partition_id
        force = self.options.force
        if position is not None and not position.done:
            await self.client.start_synchronization(
                partition, start=position.start or BEGINNING, end=position.end, force=force
            )
            return self._resume_at(position)
        start = position.end if position is not None else self.options.first_window_start
        opened = await self.client.start_synchronization(
            partition, start=start or BEGINNING, force=force
        )
        return WindowCursor(partition, start, opened.end, page_size=self.page_size)

    def _resume_at(self, position: WindowCursor) -> WindowCursor:
        """The cursor's position counted in this run's page size."""
        size = self.page_size
        if position.page_size == size:
            return position
        index = (position.page - 1) * position.page_size + position.offset
        return WindowCursor(
            position.partition,
            position.start,
            position.end,
            step=position.step,
            page=index // size + 1,
            offset=index % size,
            page_size=size,
        )

    async def _batches(self, window: WindowCursor, batch_size: int) -> AsyncIterator[_Built]:
        """Every batch from the window's position on, the last one with a mid-window cursor
        (the caller replaces it by the ``done`` cursor)."""
        packer = _Packer(batch_size)
        introduced: set[tuple[str, int]] = set()
        steps = self.steps()
        page_size = window.page_size
        for step in range(window.step, len(steps)):
            record_type, kind = steps[step]
            fields = await self.fields_of(record_type)
            resuming = step == window.step
            page = window.page if resuming else 1
            skip = window.offset if resuming else 0
            round_size = 1  # the first page alone: most steps of a window are empty
            while True:
                pages = await _gather(
                    [
                        self._page_call(record_type, kind, number, page_size, fields)
                        for number in range(page, page + round_size)
                    ],
                    self.options.prefetch,
                )
                rows: list[tuple[dict[str, Any], WindowCursor, WindowCursor]] = []
                last = False
                for number, records in zip(range(page, page + round_size), pages, strict=True):
                    for index in range(skip, len(records)):
                        before = self._at(window, step, number, index)
                        if index + 1 < page_size and index + 1 == len(records):
                            after = self._at(window, step + 1, 1, 0)
                        elif index + 1 == page_size:
                            after = self._at(window, step, number + 1, 0)
                        else:
                            after = self._at(window, step, number, index + 1)
                        rows.append((records[index], before, after))
                    skip = 0
                    if len(records) < page_size:
                        last = True
                        break
                if rows:
                    for unit in await self.units(window, record_type, kind, rows, introduced):
                        introduced.update(unit.introduces)
                        for built in packer.add(unit):
                            yield built
                if last:
                    break
                page += round_size
                round_size = self.options.prefetch
        for built in packer.flush():
            yield built

    @staticmethod
    def _at(window: WindowCursor, step: int, page: int, offset: int) -> WindowCursor:
        return WindowCursor(
            window.partition,
            window.start,
            window.end,
            step=step,
            page=page,
            offset=offset,
            page_size=window.page_size,
        )

    def _page_call(
        self,
        record_type: str,
        kind: IncrementalKind,
        page: int,
        page_size: int,
        fields: Sequence[str],
    ) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
        partition = self.options.partition_id

        async def call() -> list[dict[str, Any]]:
            return await self.client.get_incremental(
                kind,
                record_type,
                partition_id=partition,
                page=page,
                page_size=page_size,
                fields=fields,
            )

        return call

    async def query_all(self, statement: str) -> list[dict[str, Any]]:
        """Every record a Query answers, page by page until a short page."""
        size = self.query_page_size
        records: list[dict[str, Any]] = []
        page = 1
        while True:
            found = await self.client.query(statement, page=page, page_size=size)
            records.extend(found)
            if len(found) < size:
                return records
            page += 1


# --------------------------------------------------------------------------------------------
# Transactions.


class TransactionSourceOptions(_WindowOptions):
    """Options of the ``luminate_transactions`` source."""

    record_types: list[str] = Field(
        default_factory=lambda: list(TRANSACTION_TYPES),
        description="Transaction types to download (default: every one).",
    )
    fields: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Fields to read per record type (dot notation, e.g. Payment.Amount); a type not "
            "listed is read with every field of the site's WSDL. The id field is always read."
        ),
    )
    associated: bool = Field(
        True,
        description=(
            "Read the associated records (DonationCampaign, DonationForm...) the transactions "
            "refer to through Query, and emit each before the first transaction referring to it."
        ),
    )
    query_refunds: bool = Field(
        True,
        description=(
            "For each refunded transaction read (OriginalAmount > 0, or deleted by a full "
            "refund), read its Refund records through Query and emit them with it."
        ),
    )

    @field_validator("record_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"give at least one of {', '.join(TRANSACTION_TYPES)}")
        for name in value:
            if name in ASSOCIATED_TYPES:
                raise ValueError(
                    f"{name} is an associated type: it is read through Query/Find, with the "
                    "transactions that refer to it"
                )
            if name == CONSTITUENT:
                raise ValueError(
                    "Constituent is not a transaction type: read it with the "
                    "luminate_constituents source"
                )
            if name not in TRANSACTION_TYPES:
                raise ValueError(
                    f"unknown record type {name!r}; the transaction types are "
                    f"{', '.join(TRANSACTION_TYPES)}"
                )
        return list(dict.fromkeys(value))

    @field_validator("fields")
    @classmethod
    def _known_field_types(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        valid = (*TRANSACTION_TYPES, *ASSOCIATED_TYPES)
        for name, paths in value.items():
            if name not in valid:
                raise ValueError(
                    f"unknown record type {name!r}; fields can be given for {', '.join(valid)}"
                )
            if not paths:
                raise ValueError(f"{name}: give at least one field, or leave the type out")
        return value


class TransactionSource(_WindowSource[TransactionSourceOptions]):
    """Transactions of every chosen type changed in a synchronization window (seed 003), with
    their associated records and their refunds."""

    Options = TransactionSourceOptions
    entity = "transaction"

    def __init__(
        self,
        context: ComponentContext,
        options: TransactionSourceOptions,
        *,
        client: LuminateApi | None = None,
    ) -> None:
        super().__init__(context, options, client=client)
        # (type, id) -> the record (None: the service has none). One Query per id per run.
        self._associated: BoundedCache[tuple[str, int], dict[str, Any] | None] = BoundedCache(
            ASSOCIATED_CACHE_SIZE
        )
        # Associated records handed on in this run (emitted again only once evicted).
        self._handed: BoundedCache[tuple[str, int], bool] = BoundedCache(ASSOCIATED_CACHE_SIZE)

    def steps(self) -> list[tuple[str, IncrementalKind]]:
        chosen = set(self.options.record_types)
        return [
            (record_type, kind)
            for record_type in TRANSACTION_TYPES
            if record_type in chosen
            for kind in incremental_kinds(record_type)
        ]

    def configured_fields(self, record_type: str) -> list[str] | None:
        chosen = self.options.fields.get(record_type)
        return None if chosen is None else list(chosen)

    def required_fields(self, record_type: str) -> list[str]:
        required = [ID_FIELDS[record_type]]
        if self.options.query_refunds and record_type in FINANCIAL_TYPES:
            required.append(ORIGINAL_AMOUNT)
        return required

    def _emitted(self, introduced: Sequence[tuple[str, int]]) -> None:
        for key in introduced:
            self._handed.put(key, True)

    async def units(
        self,
        window: WindowCursor,
        record_type: str,
        kind: IncrementalKind,
        rows: list[tuple[dict[str, Any], WindowCursor, WindowCursor]],
        introduced: set[tuple[str, int]],
    ) -> list[_Unit]:
        operation = OPERATIONS[kind]
        # What the records of this round refer to, and which of them were refunded.
        wanted: list[tuple[str, int]] = []
        if self.options.associated:
            seen: set[tuple[str, int]] = set()
            for record, _, _ in rows:
                for key in self._references(record):
                    if key not in seen and key not in self._associated:
                        seen.add(key)
                        wanted.append(key)
        refunded: list[int] = []
        if self.options.query_refunds and record_type in FINANCIAL_TYPES:
            refunded = [
                _record_id(record_type, record)
                for record, _, _ in rows
                if operation is Operation.DELETE or _positive(record.get(ORIGINAL_AMOUNT))
            ]
        lookups: list[Callable[[], Awaitable[Any]]] = [
            self._associated_call(type_, id_) for type_, id_ in wanted
        ]
        lookups += [self._refunds_call(transaction_id) for transaction_id in refunded]
        found = await _gather(lookups, self.options.prefetch)
        for key, record in zip(wanted, found[: len(wanted)], strict=True):
            self._associated.put(key, record)
        refunds: dict[int, list[dict[str, Any]]] = dict(
            zip(refunded, found[len(wanted) :], strict=True)
        )

        units: list[_Unit] = []
        for record, before, after in rows:
            extras: list[Change] = []
            introduces: list[tuple[str, int]] = []
            for key in self._references(record) if self.options.associated else ():
                if key in introduced or key in introduces or self._handed.get(key):
                    continue
                associated = self._associated.get(key)
                if associated is None and key not in self._associated:
                    # Evicted while this round was being read (a huge round): read it again.
                    associated = await self._associated_call(*key)()
                    self._associated.put(key, associated)
                if associated is None:
                    continue
                extras.append(self.change(key[0], Operation.UPDATE, associated, window))
                introduces.append(key)
            change = self.change(record_type, operation, record, window)
            for refund in refunds.get(change.keys[ID_FIELDS[record_type]], ()):
                extras.append(self.change(REFUND, Operation.INSERT, refund, window))
            introduced.update(introduces)
            units.append(_Unit(extras, change, before, after, introduces))
        return units

    @staticmethod
    def _references(record: Mapping[str, Any]) -> list[tuple[str, int]]:
        keys: list[tuple[str, int]] = []
        for path, associated_type in REFERENCES.items():
            value = record.get(path)
            if value is None or isinstance(value, bool):
                continue
            try:
                keys.append((associated_type, int(value)))
            except (TypeError, ValueError):
                log.warning("%s = %r is not an id; not looked up", path, value)
        return keys

    def _associated_call(
        self, associated_type: str, record_id: int
    ) -> Callable[[], Awaitable[dict[str, Any] | None]]:
        async def call() -> dict[str, Any] | None:
            fields = await self.fields_of(associated_type)
            statement = (
                f"select {', '.join(fields)} from {associated_type} "
                f"where {ID_FIELDS[associated_type]} = {int(record_id)}"
            )
            found = await self.client.query(statement, page=1, page_size=1)
            if not found:
                log.info("%s %d does not exist; not emitted", associated_type, record_id)
                return None
            return found[0]

        return call

    def _refunds_call(self, transaction_id: int) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
        async def call() -> list[dict[str, Any]]:
            fields = await self.fields_of(REFUND)
            return await self.query_all(
                f"select {', '.join(fields)} from {REFUND} "
                f"where OriginalTransactionId = {int(transaction_id)}"
            )

        return call


def _positive(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        return Decimal(str(value)) > 0
    except ArithmeticError:
        return False


# --------------------------------------------------------------------------------------------
# Constituents.


class ConstituentSourceOptions(_WindowOptions):
    """Options of the ``luminate_constituents`` source."""

    fields: list[str] | None = Field(
        None,
        description=(
            "Constituent fields to read (dot notation, e.g. ConsName.FirstName); none: every "
            "field of the site's WSDL. ConsId is always read."
        ),
    )

    @field_validator("fields")
    @classmethod
    def _some_fields(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one field, or leave fields out for every field")
        return value


class ConstituentSource(_WindowSource[ConstituentSourceOptions]):
    """Constituents added to, changed in or removed from a partition in a synchronization
    window."""

    Options = ConstituentSourceOptions
    entity = CONSTITUENT
    segment_prefix = True

    def steps(self) -> list[tuple[str, IncrementalKind]]:
        return [(CONSTITUENT, kind) for kind in incremental_kinds(CONSTITUENT)]

    def configured_fields(self, record_type: str) -> list[str] | None:
        chosen = self.options.fields
        return None if chosen is None else list(chosen)
