"""Shared helpers of the RE NXT connection's tests: a simulator on a manual clock, settings
that open it, a client and components on its in-process transport, seeding, and a small flow
harness (the engine as ``syncframe run`` builds it, on the simulator's transport and clock)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from re_nxt_simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SUBSCRIPTION_KEY,
    ReNxtSimulator,
)
from re_nxt_simulator.inputs import ConsentAdd, ConstituentAdd, SolicitCodeAdd
from re_nxt_simulator.records import Constituent
from syncframe_smartsync import plugin as smartsync_plugin
from syncframe_smartsync.re_nxt_client import ReNxtClient
from syncframe_smartsync.re_nxt_settings import ReNxtSettings
from syncframe_smartsync.re_nxt_sink import ReNxtConstituentSink, ReNxtSinkOptions
from syncframe_smartsync.re_nxt_source import ReNxtConstituentSource, ReNxtSourceOptions

from syncframe.clock import ManualClock
from syncframe.components import ComponentContext, SourceBatch
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.records import Change, Operation
from syncframe.state import StateStore, open_state
from syncframe.testing import ConformancePlugin

__all__ = [
    "CONNECTION",
    "FlowHarness",
    "RecordingTransport",
    "add_consent",
    "add_constituent",
    "add_solicit_code",
    "change",
    "client_for",
    "connection_settings",
    "make_simulator",
    "read_all",
    "read_flow",
    "settings_for",
    "sink_for",
    "snapshot_of",
    "source_for",
    "write_flow",
]

#: The connection's name in contexts and flow files: what ``Change.system`` carries.
CONNECTION = "re"


def make_simulator(**kwargs: Any) -> ReNxtSimulator:
    """A fresh simulator on its own manual clock (2026-01-01T09:00Z)."""
    kwargs.setdefault("clock", ManualClock())
    return ReNxtSimulator(**kwargs)


def connection_settings(simulator: ReNxtSimulator, **overrides: Any) -> dict[str, Any]:
    """Settings of a connection that opens ``simulator`` (secrets as text): the default
    application, a refresh token as if a user had just authorized it, the default key."""
    values: dict[str, Any] = {
        "api_url": simulator.base_url,
        "oauth_url": simulator.base_url,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "refresh_token": simulator.issue_tokens().refresh_token,
        "subscription_key": DEFAULT_SUBSCRIPTION_KEY,
    }
    values.update(overrides)
    return values


def settings_for(simulator: ReNxtSimulator, **overrides: Any) -> ReNxtSettings:
    return ReNxtSettings(**connection_settings(simulator, **overrides))


@asynccontextmanager
async def client_for(simulator: ReNxtSimulator, **overrides: Any) -> AsyncIterator[ReNxtClient]:
    """A client of ``simulator`` on its in-process transport."""
    async with httpx.AsyncClient(transport=simulator.transport()) as http:
        yield ReNxtClient(http, settings_for(simulator, **overrides), simulator.clock)


def _context(simulator: ReNxtSimulator, http: httpx.AsyncClient, state: StateStore) -> Any:
    return ComponentContext(
        flow="test",
        connection_name=CONNECTION,
        connection=settings_for(simulator),
        clock=simulator.clock,
        state=state,
        logger=logging.getLogger("syncframe.test.re_nxt"),
        http_factory=lambda: http,
    )


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests on to ``inner`` and keeps their URLs and the JSON bodies of writes (the
    journal keeps neither)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.urls: list[httpx.URL] = []
        #: (method, path, JSON body) of every POST and PATCH to the API.
        self.writes: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        if request.method in ("POST", "PATCH") and request.url.path != "/token":
            body = await request.aread()
            self.writes.append((request.method, request.url.path, json.loads(body or b"null")))
        return await self.inner.handle_async_request(request)

    def mark(self) -> int:
        """How many writes were seen so far (to look at the ones after it)."""
        return len(self.writes)


@asynccontextmanager
async def source_for(
    simulator: ReNxtSimulator, *, urls: list[httpx.URL] | None = None, **options: Any
) -> AsyncIterator[ReNxtConstituentSource]:
    """The source with ``options``, built as the engine builds it, on the simulator; the URLs
    it asks for go into ``urls`` if given."""
    state = open_state("sqlite://:memory:", clock=simulator.clock)
    transport = RecordingTransport(simulator.transport())
    try:
        async with httpx.AsyncClient(transport=transport) as http:
            context = _context(simulator, http, state)
            yield ReNxtConstituentSource(context, ReNxtSourceOptions(**options))
    finally:
        if urls is not None:
            urls.extend(transport.urls)
        state.close()


@asynccontextmanager
async def sink_for(
    simulator: ReNxtSimulator, **options: Any
) -> AsyncIterator[ReNxtConstituentSink]:
    """The sink with ``options``, built as the engine builds it, on the simulator."""
    state = open_state("sqlite://:memory:", clock=simulator.clock)
    try:
        async with httpx.AsyncClient(transport=simulator.transport()) as http:
            context = _context(simulator, http, state)
            yield ReNxtConstituentSink(context, ReNxtSinkOptions(**options))
    finally:
        state.close()


async def read_all(
    source: ReNxtConstituentSource, cursor: Any = None, batch_size: int = 100
) -> list[SourceBatch]:
    """Every batch one run of ``source`` hands on from ``cursor``."""
    return [batch async for batch in source.read(cursor, batch_size)]


# ---- seeding, as a person in the RE web view ------------------------------------------------


def add_constituent(simulator: ReNxtSimulator, **body: Any) -> Constituent:
    """An individual (Ada Lovelace unless said) created in RE, stamped at the clock's time."""
    body.setdefault("type", "Individual")
    if body["type"] == "Individual":
        body.setdefault("first", "Ada")
        body.setdefault("last", "Lovelace")
    with simulator.lock:
        return simulator.store.create_constituent(ConstituentAdd.model_validate(body))


def add_consent(
    simulator: ReNxtSimulator,
    constituent_id: str,
    response: str,
    *,
    category: str | None = None,
    when: datetime | None = None,
) -> None:
    """An Email consent response made in RE (``category`` None: the channel's own)."""
    body: dict[str, Any] = {
        "constituent_id": constituent_id,
        "channel": "Email",
        "constituent_consent_response": response,
        "consent_date": when or simulator.clock.now(),
    }
    if category is not None:
        body["category"] = category
    with simulator.lock:
        simulator.store.add_consent(ConsentAdd.model_validate(body), actor="re.user")


def add_solicit_code(simulator: ReNxtSimulator, constituent_id: str, code: str) -> str:
    with simulator.lock:
        added = simulator.store.add_solicit_code(
            SolicitCodeAdd.model_validate({"constituent_id": constituent_id, "solicit_code": code})
        )
    return added.id


def change(
    key: str,
    operation: Operation = Operation.UPDATE,
    occurred_at: datetime | None = None,
    **fields: Any,
) -> Change:
    """A change from another system (``crm``) with vocabulary ``fields``."""
    return Change("crm", "contact", {"key": key}, operation, fields, occurred_at)


# ---- flows through the engine -----------------------------------------------------------------


class FlowHarness:
    """A flow file around the RE NXT components, run by the engine on the simulator's transport
    and clock, with the conformance feed (``feed``) and capture (``capture``) components."""

    def __init__(self, simulator: ReNxtSimulator, folder: Path) -> None:
        self.simulator = simulator
        self.folder = folder
        self.plugin = ConformancePlugin()
        self.host = Host(plugins=[smartsync_plugin, self.plugin], entry_points=False)
        self.state = open_state(f"sqlite:///{folder / 'state.db'}", clock=simulator.clock)
        self.settings = connection_settings(simulator)
        self.waits: list[float] = []
        self.transport = RecordingTransport(simulator.transport())

    def queue(self, records: Sequence[Change]) -> None:
        """Changes the ``feed`` source hands on (in order, once)."""
        self.plugin.feed.extend(records)

    def take_captured(self) -> list[Change]:
        captured = list(self.plugin.captured)
        self.plugin.captured.clear()
        return captured

    def write_flows(self, flows: Mapping[str, Any]) -> Path:
        document = {
            "state": {"url": "sqlite:///state.db"},
            "connections": {
                CONNECTION: {
                    "system": "re_nxt",
                    **self.settings,
                    "retry": {"attempts": 4, "initial_wait": 0, "max_wait": 0, "jitter": 0},
                }
            },
            "flows": dict(flows),
        }
        path = self.folder / "flows.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    @contextmanager
    def engine(self, flows: Mapping[str, Any]) -> Iterator[Engine]:
        async def record_wait(seconds: float) -> None:
            self.waits.append(seconds)

        config = load_config(self.write_flows(flows), self.host.registry, environ={})
        engine = Engine(
            config,
            self.host,
            clock=self.simulator.clock,
            state=self.state,
            transport=self.transport,
            sleep=record_wait,
        )
        with engine:
            yield engine

    async def run(self, flows: Mapping[str, Any], flow: str, *, dry_run: bool = False) -> RunReport:
        with self.engine(flows) as engine:
            return await engine.run_flow(flow, dry_run=dry_run)

    def outcomes(self, report: RunReport) -> dict[str, tuple[str, str | None, str | None]]:
        """Record key -> (outcome, reason, target key) of a run."""
        return {
            row.record: (row.outcome, row.reason, row.target_key)
            for row in self.state.run_outcomes(report.run_id)
        }

    def close(self) -> None:
        self.state.close()


def write_flow(sink: Mapping[str, Any] | None = None, *, matchers: bool = True) -> dict[str, Any]:
    """A ``write`` flow: the feed into the RE NXT sink, matched by constituent_id then email."""
    flow: dict[str, Any] = {
        "batch_size": 10,
        "source": {"type": "conformance_feed"},
        "sink": {"type": "re_nxt_constituents", "connection": CONNECTION, **(sink or {})},
    }
    if matchers:
        flow["matchers"] = [
            {
                "type": "key_cascade",
                "keys": [
                    {"source": "constituent_id", "target": "constituent_id", "normalize": "lower"},
                    {"source": "email", "target": "email", "normalize": "lower"},
                ],
            }
        ]
    return {"write": flow}


def read_flow(source: Mapping[str, Any] | None = None, batch_size: int = 10) -> dict[str, Any]:
    """A ``read`` flow: the RE NXT source into the capture sink."""
    return {
        "read": {
            "batch_size": batch_size,
            "source": {"type": "re_nxt_constituents", "connection": CONNECTION, **(source or {})},
            "sink": {"type": "conformance_capture"},
        }
    }


def snapshot_of(simulator: ReNxtSimulator, constituent_id: str) -> dict[str, Any]:
    """A constituent with all its records, as the admin state shows it."""
    with simulator.lock:
        for record in simulator.store.snapshot()["constituents"]:
            if record["id"] == constituent_id:
                return dict(record)
    raise AssertionError(f"no constituent {constituent_id} in the simulator")
