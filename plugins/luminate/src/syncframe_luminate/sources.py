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

import asyncio
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


#: A position in a window: (step, page, offset) of the next record to hand on. Records carry
#: these plain tuples; a :class:`WindowCursor` is only made for the cursor of a batch.
_Pos = tuple[int, int, int]


@dataclass(slots=True)
class _Unit:
    """One record read from a page and what goes before it (associated records, refunds).

    ``before`` is the position of the record (handing on stops before it), ``after`` the
    position after it; ``introduces`` the associated records emitted in front of it.
    """

    extras: list[Change]
    change: Change
    before: _Pos
    after: _Pos
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

    def __init__(self, batch_size: int, window: WindowCursor) -> None:
        self.batch_size = max(1, batch_size)
        self.window = window
        self.changes: list[Change] = []
        self.introduces: list[tuple[str, int]] = []
        self.position: _Pos | None = None

    def add(self, unit: _Unit) -> list[_Built]:
        built: list[_Built] = []
        changes = self.changes
        if not unit.extras and not unit.introduces and len(changes) + 1 < self.batch_size:
            # The common case, kept short: a record alone, with room after it.
            changes.append(unit.change)
            self.position = unit.after
            return built
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
            self.position = unit.before
            built.append(self._take())
        self.changes.extend(extras)
        self.changes.append(unit.change)
        self.position = unit.after
        if len(self.changes) >= self.batch_size:
            built.append(self._take())
        return built

    def flush(self) -> list[_Built]:
        return [self._take()] if self.changes else []

    def _take(self) -> _Built:
        assert self.position is not None
        step, page, offset = self.position
        window = self.window
        cursor = WindowCursor(
            window.partition,
            window.start,
            window.end,
            step=step,
            page=page,
            offset=offset,
            page_size=window.page_size,
        )
        built = _Built(self.changes, cursor, self.introduces)
        self.changes, self.introduces = [], []
        return built


# --------------------------------------------------------------------------------------------
# Pages fetched ahead.


@dataclass(slots=True)
class _Page:
    """A page of a step as the fetcher hands it on, with what the source read for it ahead."""

    step: int
    number: int
    records: list[dict[str, Any]]
    prepared: Any = None


class _PageFetcher:
    """Keeps page calls in flight ahead of the reader, across the steps of a window, and hands
    the pages on strictly in order (step by step, page by page).

    Why: under latency, fetching a round of pages, then turning them into changes, then
    fetching the next round costs CPU time plus one latency per round, and every (mostly
    empty) step costs one more in series. Here, at most ``limit`` calls are in flight at any
    time and at most ``limit`` answered pages with records wait to be read (memory stays
    bounded), and a new call starts as soon as one of these slots frees.

    Which call starts next: the first, in reading order, of
    * the first page of a step (always needed), and
    * the next page of a step whose first page came back full, unless a page of that step
      already came back short (speculative: when a step ends, up to ``limit - 1`` calls past
      its end are made and dropped, as the rounds did before).
    So while the reader works through a long step its later pages are in flight, and when a
    step's first page is still out (or the step has ended), the first pages of the following
    steps go out meanwhile.

    A failed call surfaces (as itself) only when the reader reaches that page: the engine then
    reads again from the last cursor it was handed. :meth:`close` (in the reader's ``finally``)
    cancels whatever is still out, so a reader that stops early leaves nothing running.

    The calls run as tasks of the running asyncio loop (the engine's backend): they must
    outlive the reader's ``yield``s, which no task group inside an async generator may do
    safely. On another event loop the pages are simply fetched one by one when read.
    """

    def __init__(
        self,
        fetch: Callable[[int, int, Callable[[int], None]], Awaitable[_Page]],
        steps: int,
        step: int,
        page: int,
        page_size: int,
        limit: int,
    ) -> None:
        self._fetch = fetch
        self._steps = steps
        self._page_size = page_size
        self._limit = max(1, limit)
        # The reader's next page.
        self._step = step
        self._page = page
        self._first = (step, page)  # where reading starts: the head of its step
        self._next: dict[int, int] = {}  # next page to call of each step whose head was called
        self._full_head: set[int] = set()  # steps whose head came back full
        self._end: dict[int, int] = {}  # the last page of a step (it came back short)
        self._jobs: dict[tuple[int, int], asyncio.Task[_Page]] = {}
        self._running = 0  # calls not answered yet
        self._waiting: set[tuple[int, int]] = set()  # answered pages with records, not read yet
        self._closed = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # not on asyncio: no calls ahead
            self._loop = None

    # ---- the reader's side -----------------------------------------------------------------
    async def next(self) -> _Page | None:
        """The next page in reading order; ``None`` after the last step."""
        if self._step >= self._steps:
            return None
        key = (self._step, self._page)
        if self._loop is None:
            page = await self._fetch(key[0], key[1], _ignore)
        else:
            self._schedule()
            if key not in self._jobs:  # (only if every slot is taken by later pages)
                self._start(key)
            task = self._jobs[key]
            try:
                page = await task
            finally:
                if task.done():
                    del self._jobs[key]
                    self._waiting.discard(key)
            self._schedule()
        if len(page.records) < self._page_size:
            self._step, self._page = self._step + 1, self._head_of(self._step + 1)
        else:
            self._page += 1
        return page

    def close(self) -> None:
        """Cancel every call still out (the reader stopped, or failed)."""
        self._closed = True
        jobs, self._jobs = self._jobs, {}
        for task in jobs.values():
            task.cancel()

    # ---- scheduling ------------------------------------------------------------------------
    def _head_of(self, step: int) -> int:
        return self._first[1] if step == self._first[0] else 1

    def _candidate(self) -> tuple[int, int] | None:
        """The first call, in reading order, that may start now (see the class docstring)."""
        for step in range(self._step, self._steps):
            following = self._next.get(step)
            if following is None:
                return step, self._head_of(step)
            if step in self._end:
                continue
            if step in self._full_head:
                return step, following
            # The step's head is still out: look at the next steps meanwhile.
        return None

    def _schedule(self) -> None:
        if self._loop is None or self._closed:
            return
        while self._running < self._limit and len(self._waiting) < self._limit:
            key = self._candidate()
            if key is None:
                return
            self._start(key)

    def _start(self, key: tuple[int, int]) -> None:
        assert self._loop is not None
        step, number = key
        self._next[step] = max(self._next.get(step, 0), number + 1)
        self._running += 1
        task = self._jobs[key] = self._loop.create_task(self._call(step, number))
        task.add_done_callback(_retrieved)

    async def _call(self, step: int, number: int) -> _Page:
        answered = False

        def learn(count: int) -> None:
            # The page's size is known before what is read for it ahead: decide on the next
            # calls now.
            nonlocal answered
            answered = True
            self._running -= 1
            if self._closed:
                return
            if count:
                self._waiting.add((step, number))
            if count < self._page_size:
                end = self._end.get(step)
                if end is None or number < end:
                    self._end[step] = number
                    self._drop_after(step, number)
            elif number == self._head_of(step):
                self._full_head.add(step)
            self._schedule()

        try:
            return await self._fetch(step, number, learn)
        finally:
            if not answered:
                self._running -= 1
                self._schedule()

    def _drop_after(self, step: int, number: int) -> None:
        """Cancel calls past the end of a step (their pages would be dropped)."""
        for key in [k for k in self._jobs if k[0] == step and k[1] > number]:
            self._jobs.pop(key).cancel()
            self._waiting.discard(key)


def _retrieved(task: asyncio.Task[_Page]) -> None:
    """Take a dropped call's failure, so asyncio does not log it as never retrieved (the
    reader raises it if it reaches that page)."""
    if not task.cancelled():
        task.exception()


def _ignore(count: int) -> None:
    """What a page call tells when no one schedules calls ahead."""


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

    async def prepare(
        self, record_type: str, kind: IncrementalKind, records: list[dict[str, Any]], first: int
    ) -> Any:
        """Read what the records of a page (from index ``first`` on: the ones before were
        handed on already) need besides themselves, as soon as the page is answered, while
        earlier pages are still being handed on; :meth:`units` gets what this returns."""
        return None

    async def units(
        self,
        window: WindowCursor,
        record_type: str,
        kind: IncrementalKind,
        rows: list[tuple[dict[str, Any], _Pos, _Pos]],
        introduced: set[tuple[str, int]],
        prepared: Any = None,
    ) -> list[_Unit]:
        """Changes for the records of one page, each with what goes before it."""
        operation = OPERATIONS[kind]
        return [
            _Unit([], self.change(record_type, operation, record, window), before, after)
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
        packer = _Packer(batch_size, window)
        introduced: set[tuple[str, int]] = set()
        steps = self.steps()
        page_size = window.page_size
        fetcher = _PageFetcher(
            self._page_call(steps, window),
            len(steps),
            window.step,
            window.page,
            page_size,
            self.options.prefetch,
        )
        try:
            while (page := await fetcher.next()) is not None:
                step, number, records = page.step, page.number, page.records
                skip = window.offset if (step, number) == (window.step, window.page) else 0
                if skip >= len(records):
                    continue
                last = len(records) - 1
                short = len(records) < page_size
                rows: list[tuple[dict[str, Any], _Pos, _Pos]] = []
                for index in range(skip, len(records)):
                    if index == last and short:
                        after = (step + 1, 1, 0)
                    elif index + 1 == page_size:
                        after = (step, number + 1, 0)
                    else:
                        after = (step, number, index + 1)
                    rows.append((records[index], (step, number, index), after))
                record_type, kind = steps[step]
                for unit in await self.units(
                    window, record_type, kind, rows, introduced, page.prepared
                ):
                    introduced.update(unit.introduces)
                    for built in packer.add(unit):
                        yield built
        finally:
            fetcher.close()
        for built in packer.flush():
            yield built

    def _page_call(
        self, steps: Sequence[tuple[str, IncrementalKind]], window: WindowCursor
    ) -> Callable[[int, int, Callable[[int], None]], Awaitable[_Page]]:
        """The call of one page of a step, then of what the source reads for it ahead."""
        partition = self.options.partition_id
        page_size = window.page_size

        async def call(step: int, page: int, learn: Callable[[int], None]) -> _Page:
            record_type, kind = steps[step]
            fields = await self.fields_of(record_type)
            records = await self.client.get_incremental(
                kind,
                record_type,
                partition_id=partition,
                page=page,
                page_size=page_size,
                fields=fields,
            )
            learn(len(records))
            first = window.offset if (step, page) == (window.step, window.page) else 0
            prepared = None
            if len(records) > first:
                prepared = await self.prepare(record_type, kind, records, first)
            return _Page(step, page, records, prepared)

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
            "With first_window_start set: for each refunded transaction read (OriginalAmount "
            "> 0, or deleted by a full refund) that was paid before first_window_start, read "
            "its Refund records through Query and emit those made before first_window_start "
            "(later ones come through the windows' Refund inserts, once each)."
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
        # Associated records being read for a page read ahead: set once they are cached.
        self._pending: dict[tuple[str, int], anyio.Event] = {}

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

    async def prepare(
        self, record_type: str, kind: IncrementalKind, records: list[dict[str, Any]], first: int
    ) -> _Prepared:
        """What the records refer to (read now unless cached or being read) and the Refund
        records of the refunded ones."""
        operation = OPERATIONS[kind]
        references: list[list[tuple[str, int]]] = []
        wanted: list[tuple[str, int]] = []
        if self.options.associated:
            references = [[] for _ in range(first)]
            seen: set[tuple[str, int]] = set()
            cache, pending = self._associated, self._pending
            for index in range(first, len(records)):
                keys = self._references(records[index])
                references.append(keys)
                for key in keys:
                    if key not in seen and key not in cache and key not in pending:
                        seen.add(key)
                        wanted.append(key)
        refunded: list[int] = []
        before = self.options.first_window_start
        if self.options.query_refunds and before is not None and record_type in FINANCIAL_TYPES:
            # Every online refund made since the first window's Start comes once through the
            # Refund inserts of its window; only older ones need the Query (seed 003 warns
            # that it returns a transaction's refunds again, whatever their date).
            refunded = [
                _record_id(record_type, record)
                for record in records[first:]
                if (operation is Operation.DELETE or _positive(record.get(ORIGINAL_AMOUNT)))
                and _paid_before(record, before)
            ]
        if not wanted and not refunded:
            return _Prepared(references, {})
        lookups: list[Callable[[], Awaitable[Any]]] = [
            self._associated_call(type_, id_) for type_, id_ in wanted
        ]
        lookups += [self._refunds_call(transaction_id) for transaction_id in refunded]
        # Other pages read ahead wait for these instead of reading them again.
        events = {key: anyio.Event() for key in wanted}
        self._pending.update(events)
        try:
            found = await _gather(lookups, self.options.prefetch)
            for key, record in zip(wanted, found[: len(wanted)], strict=True):
                self._associated.put(key, record)
        finally:
            for key, event in events.items():
                if self._pending.get(key) is event:
                    del self._pending[key]
                event.set()
        refunds: dict[int, list[dict[str, Any]]] = {
            transaction_id: [r for r in found_refunds if _refunded_before(r, before)]
            for transaction_id, found_refunds in zip(refunded, found[len(wanted) :], strict=True)
        }
        return _Prepared(references, refunds)

    async def units(
        self,
        window: WindowCursor,
        record_type: str,
        kind: IncrementalKind,
        rows: list[tuple[dict[str, Any], _Pos, _Pos]],
        introduced: set[tuple[str, int]],
        prepared: Any = None,
    ) -> list[_Unit]:
        operation = OPERATIONS[kind]
        if not isinstance(prepared, _Prepared):  # rows not read through a page call
            first = rows[0][1][2] if rows else 0
            records: list[dict[str, Any]] = [{}] * first + [record for record, _, _ in rows]
            prepared = await self.prepare(record_type, kind, records, first)
        references, refunds = prepared.references, prepared.refunds
        associated_on = self.options.associated
        cache, handed = self._associated, self._handed
        id_field = ID_FIELDS[record_type]
        units: list[_Unit] = []
        for record, before, after in rows:
            extras: list[Change] = []
            introduces: list[tuple[str, int]] = []
            for key in references[before[2]] if associated_on else ():
                if key in introduced or key in introduces or handed.get(key):
                    continue
                associated = cache.get(key)
                if associated is None and key not in cache:
                    waiting = self._pending.get(key)
                    if waiting is not None:  # being read for a page read ahead
                        await waiting.wait()
                        associated = cache.get(key)
                    if associated is None and key not in cache:
                        # Evicted since it was read (a huge window): read it again.
                        associated = await self._associated_call(*key)()
                        cache.put(key, associated)
                if associated is None:
                    continue
                extras.append(self.change(key[0], Operation.UPDATE, associated, window))
                introduces.append(key)
            change = self.change(record_type, operation, record, window)
            if refunds:
                for refund in refunds.get(change.keys[id_field], ()):
                    extras.append(self.change(REFUND, Operation.INSERT, refund, window))
            if introduces:
                introduced.update(introduces)
            units.append(_Unit(extras, change, before, after, introduces))
        return units

    @staticmethod
    def _references(record: Mapping[str, Any]) -> list[tuple[str, int]]:
        keys: list[tuple[str, int]] = []
        get = record.get
        for path, associated_type in _REFERENCE_ITEMS:
            value = get(path)
            if value is None:
                continue
            if type(value) is int:  # what the client reads (the common case, kept short)
                keys.append((associated_type, value))
                continue
            if isinstance(value, bool):
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


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What :meth:`TransactionSource.prepare` read for a page: per record (by index in the
    page) the associated records it refers to, and the Refund records per refunded
    transaction id."""

    references: list[list[tuple[str, int]]]
    refunds: dict[int, list[dict[str, Any]]]


_REFERENCE_ITEMS: Final = tuple(REFERENCES.items())


def _paid_before(record: Mapping[str, Any], when: datetime | None) -> bool:
    """Whether a transaction may have refunds older than ``when`` (unknown date: it may)."""
    paid = record.get("Payment.PaymentDate")
    return when is not None and (not isinstance(paid, datetime) or paid < when)


def _refunded_before(refund: Mapping[str, Any], when: datetime | None) -> bool:
    """Whether a Refund record is older than ``when`` (unknown date: kept; sinks key refunds
    by RefundId, so one seen twice is held once)."""
    made = refund.get("RefundDate")
    return when is not None and (not isinstance(made, datetime) or made < when)


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
