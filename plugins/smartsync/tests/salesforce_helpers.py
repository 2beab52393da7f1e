"""Shared helpers of the Salesforce connection's tests: a simulated org with an integration
user and a connected app on a manual clock, connection settings that open it, component
contexts and clients on its in-process transport, and changes as other systems send them."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr
from salesforce_simulator import EXTERNAL_ID_FIELD, SalesforceSimulator
from syncframe_smartsync import salesforce_side
from syncframe_smartsync.salesforce_client import SalesforceClient
from syncframe_smartsync.salesforce_settings import SalesforceSettings

from syncframe import hookimpl
from syncframe.clock import ManualClock
from syncframe.components import ComponentContext, JSONValue, Source, WritePlan
from syncframe.records import Change, Operation
from syncframe.registry import ComponentRegistrar, SystemRegistrar
from syncframe.state import StateStore, open_state

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CONNECTION",
    "PASSWORD",
    "SECURITY_TOKEN",
    "START",
    "USERNAME",
    "RecordingTransport",
    "SalesforcePlugin",
    "by_constituent",
    "change",
    "client_for",
    "component_context",
    "live_contacts",
    "make_simulator",
    "plan",
    "read_all",
    "settings_for",
    "settings_values",
]

USERNAME = "integration@example.org"
PASSWORD = "Pa55-w0rd-never-shown"
SECURITY_TOKEN = "TOKENnever-shown"
CLIENT_ID = "3MVG9smartsync.connector"
CLIENT_SECRET = "consumer-secret-never-shown"
#: The simulator clock's start in every helper-built org.
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
#: The connection's name in component contexts (``Change.system`` of what the source reads).
CONNECTION = "sf"


def make_simulator(
    *, simulator_class: type[SalesforceSimulator] = SalesforceSimulator, **settings: Any
) -> SalesforceSimulator:
    """An org on a manual clock with the integration user (password + security token) and a
    connected app whose client credentials flow runs as that user."""
    simulator = simulator_class(clock=ManualClock(START), **settings)
    simulator.add_user(USERNAME, PASSWORD, security_token=SECURITY_TOKEN, name="SmartSYNC")
    simulator.add_connected_app(CLIENT_ID, CLIENT_SECRET, name="SmartSYNC", run_as=USERNAME)
    return simulator


def settings_values(simulator: SalesforceSimulator, **overrides: Any) -> dict[str, Any]:
    """Plain settings (secrets as text) of the client credentials flow to ``simulator``."""
    return {
        "login_url": simulator.base_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }


def settings_for(simulator: SalesforceSimulator, **overrides: Any) -> SalesforceSettings:
    """The validated settings of :func:`settings_values`."""
    values = settings_values(simulator, **overrides)
    for name in ("client_secret", "password", "security_token"):
        if isinstance(values.get(name), str):
            values[name] = SecretStr(values[name])
    return SalesforceSettings(**values)


@asynccontextmanager
async def client_for(
    simulator: SalesforceSimulator, **overrides: Any
) -> AsyncIterator[SalesforceClient]:
    """A client of ``simulator`` over its in-process transport (closed afterwards)."""
    async with httpx.AsyncClient(transport=simulator.transport(), timeout=5.0) as http:
        yield SalesforceClient(http, settings_for(simulator, **overrides))


def component_context(
    simulator: SalesforceSimulator,
    http: httpx.AsyncClient,
    *,
    state: StateStore | None = None,
    **overrides: Any,
) -> ComponentContext:
    """A component context on ``simulator`` (what the engine would build), for direct tests."""
    return ComponentContext(
        flow="test",
        connection_name=CONNECTION,
        connection=settings_for(simulator, **overrides),
        clock=simulator.clock,
        state=state if state is not None else open_state("sqlite://:memory:"),
        logger=logging.getLogger("syncframe.test.salesforce"),
        http_factory=lambda: http,
    )


async def read_all(
    source: Source[Any], cursor: JSONValue | None, batch_size: int = 1000
) -> tuple[list[list[Change]], JSONValue | None]:
    """Every batch ``source`` reads after ``cursor``, and the cursor after the last one."""
    batches: list[list[Change]] = []
    last = cursor
    async for batch in source.read(cursor, batch_size):
        batches.append(batch.changes)
        last = batch.cursor
    return batches, last


def live_contacts(simulator: SalesforceSimulator) -> list[dict[str, Any]]:
    """The Contacts outside the recycle bin, as the org holds them, in creation order."""
    return [c for c in simulator.snapshot()["contacts"] if not c["IsDeleted"]]


def by_constituent(simulator: SalesforceSimulator) -> dict[str, dict[str, Any]]:
    """Live Contacts by their RE Constituent ID."""
    return {c[EXTERNAL_ID_FIELD]: c for c in live_contacts(simulator) if c[EXTERNAL_ID_FIELD]}


def change(
    fields: dict[str, Any],
    operation: Operation = Operation.UPDATE,
    *,
    key: str | None = None,
    system: str = "re_nxt",
    at: datetime = START,
) -> Change:
    """A change of a constituent as another system's source sends it (vocabulary names)."""
    record_key = key or str(fields.get("constituent_id") or fields.get("email"))
    return Change(system, "constituent", {"id": record_key}, operation, fields, at)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The simulator's transport, keeping each request (method, path, JSON body) it carried;
    ``answer_next(path_end, status, body, after=n)`` answers a request to a path ending so
    (after letting ``n`` of them through) with a canned answer instead of the simulator: a
    record-level failure Salesforce can give and the simulator does not."""

    def __init__(self, simulator: SalesforceSimulator) -> None:
        self.inner = simulator.transport()
        self.requests: list[tuple[str, str, Any]] = []
        self._canned: list[list[Any]] = []

    def answer_next(self, path_end: str, status: int, body: Any, *, after: int = 0) -> None:
        self._canned.append([path_end, after, httpx.Response(status, json=body)])

    def bodies(self, method: str, path_end: str) -> list[Any]:
        """The JSON bodies of the requests sent so far to paths ending with ``path_end``."""
        return [b for m, p, b in self.requests if m == method and p.endswith(path_end)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        body = json.loads(content) if content and not request.url.path.endswith("/token") else None
        self.requests.append((request.method, request.url.path, body))
        for index, (path_end, after, canned) in enumerate(self._canned):
            if request.url.path.endswith(path_end):
                if after:
                    self._canned[index][1] = after - 1
                    break
                del self._canned[index]
                return canned
        return await self.inner.handle_async_request(request)


def plan(targets: Sequence[str | None] | None = None, *, dry_run: bool = False) -> WritePlan:
    return WritePlan("test:run:1", list(targets) if targets is not None else None, dry_run)


class SalesforcePlugin:
    """A stand-in for ``plugin.py`` in these tests: only the Salesforce side (the other sides
    are other connections' business)."""

    __name__ = "syncframe_smartsync_salesforce_test"

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        """Salesforce orgs."""
        salesforce_side.register_systems(register)

    @hookimpl
    def syncframe_register_sources(self, register: ComponentRegistrar) -> None:
        """Contacts changed in Salesforce."""
        salesforce_side.register_sources(register)

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        """Contacts into Salesforce."""
        salesforce_side.register_sinks(register)
