"""Shared test helpers of helper B (the sources): a fake web-services client for the window
and cursor logic, a simulated site with data, and an engine around the sources.

The fake (:class:`FakeLuminate`) keeps a window's pages fixed, as the real service does, counts
every call and can fail a chosen call, so tests of stops and resumes at awkward places do not
need the simulator. Everything else runs against the real simulator through the real client.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, cast

import anyio
import anyio.lowlevel
import yaml
from luminate_simulator.app import LuminateSimulator
from pydantic import SecretStr
from syncframe_luminate.settings import LuminateSettings
from syncframe_luminate.sources import ConstituentSource, TransactionSource
from syncframe_luminate.types import FINANCIAL_TYPES, ID_FIELDS, IncrementalKind

from syncframe.clock import ManualClock
from syncframe.components import (
    BatchResult,
    ComponentContext,
    NoOptions,
    Outcome,
    PermanentError,
    Sink,
    SourceBatch,
    WritePlan,
)
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.hookspecs import hookimpl
from syncframe.host import Host
from syncframe.records import Change
from syncframe.registry import ComponentRegistrar, SystemRegistrar
from syncframe.state import open_state
from syncframe.state.base import StateStore

__all__ = [
    "API_LOGIN",
    "API_PASSWORD",
    "START",
    "CaptureSink",
    "FakeLuminate",
    "FakeWindow",
    "SourceWorld",
    "SourcesPlugin",
    "add_constituent",
    "add_transaction",
    "context_for",
    "make_simulator",
    "read_all",
    "settings_for",
]

API_LOGIN = "source-api"
API_PASSWORD = "S0urce-pw-never-shown"
#: The simulator clock's start in every helper-built simulator.
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CONNECTION = "lum"


# --------------------------------------------------------------------------------------------
# A fake client: fixed pages per (type, kind), calls counted, failures on demand.


@dataclass(frozen=True, slots=True)
class FakeWindow:
    """The window the fake answers StartSynchronization with."""

    partition_id: int
    start: datetime | None
    end: datetime
    sync_id: int | None


_SELECT = re.compile(r"select (?P<fields>.+) from (?P<type>\w+) where (?P<field>\w+) = (?P<id>\d+)")


@dataclass
class FakeLuminate:
    """What the sources call, over in-memory data.

    ``pages[(type, kind)]`` lists the window's records (every window has the same ones, as a
    restarted window of the real service has); ``lookups[(type, id)]`` the associated records;
    ``refunds[transaction_id]`` a transaction's Refund records. ``fail`` maps a call number
    (1-based, over every call) to the exception it raises instead of answering;
    ``fail_pages[(type, kind, page)]`` fails the next call of that page (calls ahead make call
    numbers depend on scheduling). With ``yields`` a page call lets the event loop run that
    many times before answering, so calls made ahead are really out together; ``in_flight``
    and ``most_in_flight`` count them.
    """

    pages: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    lookups: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    refunds: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    now: datetime = START
    fail: dict[int, Exception] = field(default_factory=dict)
    fail_pages: dict[tuple[str, str, int], Exception] = field(default_factory=dict)
    yields: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    calls: list[tuple[str, Any]] = field(default_factory=list)
    active: FakeWindow | None = None
    ended: list[FakeWindow] = field(default_factory=list)
    started: list[FakeWindow] = field(default_factory=list)
    _next_sync: int = 1

    def _call(self, name: str, detail: Any = None) -> None:
        self.calls.append((name, detail))
        failure = self.fail.pop(len(self.calls), None)
        if failure is not None:
            raise failure

    def count(self, name: str) -> int:
        """How many calls of ``name`` were made."""
        return sum(1 for call, _ in self.calls if call == name)

    async def login(self) -> None:
        self._call("login")

    async def server_time(self) -> datetime:
        self._call("server_time")
        return self.now

    async def fields(self, record_type: str) -> list[str]:
        self._call("fields", record_type)
        if record_type in (*FINANCIAL_TYPES, "Refund"):
            return [ID_FIELDS[record_type], "Payment.Amount", "Payment.OriginalAmount"]
        return [ID_FIELDS[record_type]]

    async def start_synchronization(
        self,
        partition_id: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        force: bool = False,
    ) -> FakeWindow:
        self._call("start", (start, end, force))
        if self.active is not None and not force:
            raise PermanentError("An active synchronization session already exists")
        window = FakeWindow(partition_id, start, end or self.now, self._next_sync)
        self._next_sync += 1
        self.active = window
        self.started.append(window)
        return window

    async def end_synchronization(self, partition_id: int) -> FakeWindow:
        self._call("end", partition_id)
        if self.active is None:
            raise PermanentError("No active synchronization session exists")
        window, self.active = self.active, None
        self.ended.append(window)
        return window

    async def get_incremental(
        self,
        kind: IncrementalKind,
        record_type: str,
        *,
        partition_id: int,
        page: int,
        page_size: int,
        fields: Sequence[str],
    ) -> list[dict[str, Any]]:
        self._call("page", (record_type, kind, page))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(self.yields):
                await anyio.lowlevel.checkpoint()
            failure = self.fail_pages.pop((record_type, kind, page), None)
            if failure is not None:
                raise failure
            if self.active is None:
                raise PermanentError("No active synchronization session exists")
            records = self.pages.get((record_type, kind), [])
            return [dict(r) for r in records[(page - 1) * page_size : page * page_size]]
        finally:
            self.in_flight -= 1

    async def query(
        self, statement: str, *, page: int = 1, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        self._call("query", statement)
        match = _SELECT.fullmatch(statement)
        assert match is not None, statement
        record_id = int(match["id"])
        if match["type"] == "Refund":
            found = self.refunds.get(record_id, [])
        else:
            record = self.lookups.get((match["type"], record_id))
            found = [record] if record is not None else []
        size = page_size or 1000
        return [dict(r) for r in found[(page - 1) * size : page * size]]


def context_for(settings: LuminateSettings | None = None, **overrides: Any) -> ComponentContext:
    """A component context as the engine builds one (no HTTP client: the test gives one)."""
    values: dict[str, Any] = {
        "flow": "test",
        "connection_name": CONNECTION,
        "connection": settings
        or LuminateSettings(
            url="http://luminate.simulator/1.0/syncframe",
            api_login=API_LOGIN,
            api_password=SecretStr(API_PASSWORD),
        ),
        "clock": ManualClock(START),
        "state": cast(StateStore, None),
        "logger": logging.getLogger("test.sources"),
        **overrides,
    }
    return ComponentContext(**values)


async def read_all(
    source: TransactionSource | ConstituentSource,
    cursor: Any,
    batch_size: int,
    *,
    acknowledge: bool = True,
    stop_after: int | None = None,
) -> tuple[list[SourceBatch], Any]:
    """Read like the engine: batches in order, each acknowledged after it is taken; returns the
    batches and the cursor of the last one (``cursor`` when none). ``stop_after`` stops reading
    after that many batches (a stop mid-window)."""
    batches: list[SourceBatch] = []
    last = cursor
    reader = source.read(cursor, batch_size)
    try:
        async for batch in reader:
            batches.append(batch)
            last = batch.cursor
            if acknowledge:
                await source.acknowledged(batch.cursor)
            if stop_after is not None and len(batches) >= stop_after:
                break
    finally:
        await reader.aclose()  # type: ignore[attr-defined]
    return batches, last


# --------------------------------------------------------------------------------------------
# The simulated site.


def make_simulator(*, seed: int = 0) -> LuminateSimulator:
    """A simulated site on a manual clock, with the API user of :func:`settings_for`."""
    simulator = LuminateSimulator(clock=ManualClock(START), seed=seed)
    simulator.services.add_api_user(API_LOGIN, API_PASSWORD)
    return simulator


def settings_for(simulator: LuminateSimulator, **overrides: Any) -> dict[str, Any]:
    """Connection settings (plain values) that open ``simulator``'s site."""
    return {
        "url": f"{simulator.base_url}/1.0/{simulator.site}",
        "api_login": API_LOGIN,
        "api_password": API_PASSWORD,
        **overrides,
    }


def add_constituent(simulator: LuminateSimulator, n: int, **fields: Any) -> int:
    """A constituent (``donor<n>@example.org``); its ConsId."""
    return simulator.services.add_constituent(
        {
            "PrimaryEmail": f"donor{n}@example.org",
            "ConsName": {"FirstName": f"Donor{n}", "LastName": "Example"},
            **fields,
        }
    )


#: The constituent element of each transaction type (the simulator's choice of names).
PERSON_ELEMENT: dict[str, str] = {
    "Donation": "Donor",
    "PersonalFundraisingGift": "Donor",
    "ProductOrder": "Donor",
    "TeamRaiserGift": "Donor",
    "TeamRaiserRegistration": "Participant",
    "TicketPurchase": "Purchaser",
    "ActionAlertResponse": "Constituent",
}


def add_transaction(
    simulator: LuminateSimulator,
    record_type: str,
    cons_id: int,
    amount: str | None = "25.00",
    **fields: Any,
) -> int:
    """A transaction of ``record_type`` by ``cons_id`` (no payment for an action alert)."""
    record: dict[str, Any] = {PERSON_ELEMENT[record_type]: {"ConsId": cons_id}, **fields}
    if record_type != "ActionAlertResponse" and amount is not None:
        record["Payment"] = {"Amount": amount, **record.get("Payment", {})}
    return simulator.services.add_transaction(record_type, record)


# --------------------------------------------------------------------------------------------
# An engine around the sources.


class StopRun(Exception):
    """What the capture sink raises to stop a run (as a crash would: nothing is committed)."""


class CaptureSink(Sink[NoOptions]):
    """Keeps each batch it is given (with its segment) and can fail a chosen write.

    ``observe`` is called at each write (a test checks the simulator's state mid-run with it).
    """

    batches: ClassVar[list[tuple[list[Change], str | None]]] = []
    fail_at: ClassVar[list[int]] = []
    writes: ClassVar[list[int]] = []
    observe: ClassVar[list[Callable[[Sequence[Change]], None]]] = []

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        self.writes.append(len(changes))
        for observe in self.observe:
            observe(changes)
        if len(self.writes) in self.fail_at:
            raise StopRun(f"the test stops the run at write {len(self.writes)}")
        if not plan.dry_run:
            self.batches.append((list(changes), plan.segment))
        return BatchResult.uniform(Outcome.CREATED, len(changes))


class SourcesPlugin:
    """Registers the ``luminate`` system and the two sources (as ``plugin.py`` will), and a
    capture sink bound to this plugin's lists."""

    __name__ = "luminate_sources_test"

    def __init__(self) -> None:
        self.batches: list[tuple[list[Change], str | None]] = []
        self.fail_at: list[int] = []
        self.writes: list[int] = []
        self.observe: list[Callable[[Sequence[Change]], None]] = []

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        register("luminate", LuminateSettings)

    @hookimpl
    def syncframe_register_sources(self, register: ComponentRegistrar) -> None:
        register("luminate_transactions", TransactionSource)
        register("luminate_constituents", ConstituentSource)

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        capture = type(
            "Capture",
            (CaptureSink,),
            {
                "batches": self.batches,
                "fail_at": self.fail_at,
                "writes": self.writes,
                "observe": self.observe,
            },
        )
        register("capture", capture)


FAST_RETRY: dict[str, Any] = {"attempts": 4, "initial_wait": 0, "max_wait": 0, "jitter": 0}


class SourceWorld:
    """A simulated site, a flow file reading it into the capture sink, and one state store
    shared by every run (runs follow each other like separate ``syncframe run``)."""

    def __init__(self, folder: Path, simulator: LuminateSimulator | None = None) -> None:
        self.folder = folder
        self.simulator = simulator or make_simulator()
        self.plugin = SourcesPlugin()
        self.host = Host(plugins=[self.plugin], entry_points=False)
        self.state = open_state(f"sqlite:///{folder / 'state.db'}", clock=self.simulator.clock)
        self.waits: list[float] = []

    @property
    def clock(self) -> ManualClock:
        return cast(ManualClock, self.simulator.clock)

    def flow_file(
        self,
        source_type: str,
        options: Mapping[str, Any],
        batch_size: int,
        settings: Mapping[str, Any] | None = None,
    ) -> Path:
        document = {
            "state": {"url": "sqlite:///state.db"},
            "connections": {
                CONNECTION: {
                    "system": "luminate",
                    **(settings or settings_for(self.simulator)),
                    "retry": FAST_RETRY,
                }
            },
            "flows": {
                "read": {
                    "batch_size": batch_size,
                    "source": {"type": source_type, "connection": CONNECTION, **options},
                    "sink": {"type": "capture"},
                }
            },
        }
        path = self.folder / "flows.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    async def run(
        self,
        source_type: str = "luminate_transactions",
        options: Mapping[str, Any] | None = None,
        *,
        batch_size: int = 50,
        settings: Mapping[str, Any] | None = None,
    ) -> RunReport:
        """One run of the ``read`` flow."""

        async def record_wait(seconds: float) -> None:
            self.waits.append(seconds)

        path = self.flow_file(source_type, options or {}, batch_size, settings)
        config = load_config(path, self.host.registry, environ={})
        with Engine(
            config,
            self.host,
            clock=self.simulator.clock,
            state=self.state,
            transport=self.simulator.transport(),
            sleep=record_wait,
        ) as engine:
            return await engine.run_flow("read")

    def taken(self) -> list[Change]:
        """Every change the sink took (committed or not), in order."""
        return [change for changes, _ in self.plugin.batches for change in changes]

    def cursor(self) -> Any:
        checkpoint = self.state.get_checkpoint("read")
        return None if checkpoint is None else checkpoint.cursor

    def close(self) -> None:
        self.state.close()


def money(text: str) -> Decimal:
    return Decimal(text)


def later(world: SourceWorld, minutes: float = 1) -> None:
    """Move the site's clock on (windows end at "now": what comes later is another window)."""
    world.clock.advance(timedelta(minutes=minutes))
