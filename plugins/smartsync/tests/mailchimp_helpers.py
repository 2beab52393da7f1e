"""Shared helpers of the Mailchimp connection's tests: a simulated audience with the CONSID
merge field, the connection's settings, and a world of flows run through the engine against
the simulator (in-process, on a manual clock shared with the simulator)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from mailchimp_simulator import DEFAULT_API_KEY, DEFAULT_LIST_ID, MailchimpSimulator
from mailchimp_simulator.sample import CONSID_FIELD
from syncframe_smartsync import mailchimp_side

from syncframe import hookimpl
from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.records import Change, Operation
from syncframe.registry import ComponentRegistrar, SystemRegistrar
from syncframe.state import open_state
from syncframe.testing import ConformancePlugin

__all__ = [
    "API_KEY",
    "CASCADE",
    "LIST_ID",
    "START",
    "WEBHOOK_SECRET",
    "HookedTransport",
    "MailchimpPlugin",
    "MailchimpWorld",
    "connection_settings",
    "make_simulator",
    "member",
    "members",
    "seed_members",
]

API_KEY = DEFAULT_API_KEY
LIST_ID = DEFAULT_LIST_ID
WEBHOOK_SECRET = "hook-s3cret-never-shown"
#: The simulator clock's start in every helper-built simulator.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class MailchimpPlugin:
    """Registers only the Mailchimp side of the SmartSYNC-style plugin."""

    __name__ = "smartsync_mailchimp"

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        """``mailchimp``."""
        mailchimp_side.register_systems(register)

    @hookimpl
    def syncframe_register_sources(self, register: ComponentRegistrar) -> None:
        """``mailchimp_members`` and ``mailchimp_webhook``."""
        mailchimp_side.register_sources(register)

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        """``mailchimp_members``."""
        mailchimp_side.register_sinks(register)


def make_simulator(**options: Any) -> MailchimpSimulator:
    """A simulated account on a manual clock whose audience has the CONSID merge field."""
    simulator = MailchimpSimulator(clock=ManualClock(START), **options)
    simulator.seed_records({"lists": [{"id": LIST_ID, "merge_fields": [CONSID_FIELD]}]})
    return simulator


def connection_settings(simulator: MailchimpSimulator, **overrides: Any) -> dict[str, Any]:
    """Settings of a connection to ``simulator``'s audience (secrets as plain text)."""
    return {
        "api_key": API_KEY,
        "list_id": LIST_ID,
        "base_url": simulator.base_url,
        "webhook_secret": WEBHOOK_SECRET,
        **overrides,
    }


def member(
    email: str,
    *,
    status: str = "subscribed",
    consid: str | None = None,
    tags: Sequence[str] = (),
    last_changed: datetime | None = None,
    **merges: Any,
) -> dict[str, Any]:
    """A member of the seed payload."""
    merge_fields = dict(merges)
    if consid is not None:
        merge_fields["CONSID"] = consid
    data: dict[str, Any] = {
        "email_address": email,
        "status": status,
        "merge_fields": merge_fields,
        "tags": list(tags),
    }
    if last_changed is not None:
        data["last_changed"] = last_changed.isoformat()
    return data


def seed_members(simulator: MailchimpSimulator, *people: dict[str, Any]) -> None:
    """Add members to the audience as an import would (no webhook fires)."""
    simulator.seed_records({"lists": [{"id": LIST_ID, "members": list(people)}]})


def members(simulator: MailchimpSimulator) -> dict[str, dict[str, Any]]:
    """The audience's members by email (lower case), as the simulator holds them."""
    [audience] = [a for a in simulator.snapshot()["lists"] if a["id"] == LIST_ID]
    return {m["email_address"].lower(): m for m in audience["members"]}


AfterResponse = Callable[[httpx.Request, httpx.Response], Awaitable[None]]


class HookedTransport(httpx.AsyncBaseTransport):
    """The simulator's transport, calling ``after`` once each answer is in (a test changes
    the audience there, as a person would while a run is going on)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, after: AfterResponse) -> None:
        self.inner = inner
        self.after = after

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await self.after(request, response)
        return response


class MailchimpWorld:
    """Flows through the engine against the simulator: the Mailchimp plugin plus the
    conformance feed (a source of the changes a test queues) and capture (a sink keeping what
    a source read), one state store, the engine's waits recorded instead of slept."""

    def __init__(self, folder: Path, simulator: MailchimpSimulator) -> None:
        self.folder = folder
        self.simulator = simulator
        self.harness = ConformancePlugin()
        self.host = Host(plugins=[MailchimpPlugin(), self.harness], entry_points=False)
        self.state = open_state(f"sqlite:///{folder / 'state.db'}", clock=simulator.clock)
        self.waits: list[float] = []
        #: Called after every answer of the simulator to the engine, if set.
        self.after_response: AfterResponse | None = None
        self.connection: dict[str, Any] = {
            **connection_settings(simulator),
            "max_concurrency": 10,
            "retry": {"attempts": 4, "initial_wait": 0, "max_wait": 0, "jitter": 0},
        }

    def close(self) -> None:
        self.state.close()

    def document(self, flows: Mapping[str, Any]) -> dict[str, Any]:
        """The flow file: connection ``mailchimp`` and ``flows``."""
        return {
            "state": {"url": "sqlite:///state.db"},
            "connections": {"mailchimp": {"system": "mailchimp", **self.connection}},
            "flows": dict(flows),
        }

    @contextmanager
    def engine(self, flows: Mapping[str, Any]) -> Iterator[Engine]:
        """An engine for ``flows``, on the simulator's transport and clock."""
        path = self.folder / "flows.yaml"
        path.write_text(yaml.safe_dump(self.document(flows), sort_keys=False), encoding="utf-8")

        async def record_wait(seconds: float) -> None:
            self.waits.append(seconds)

        transport: httpx.AsyncBaseTransport = self.simulator.transport()
        if self.after_response is not None:
            transport = HookedTransport(transport, self.after_response)
        engine = Engine(
            load_config(path, self.host.registry, environ={}),
            self.host,
            clock=self.simulator.clock,
            state=self.state,
            transport=transport,
            sleep=record_wait,
        )
        with engine:
            yield engine

    async def run(self, flows: Mapping[str, Any], flow: str, *, dry_run: bool = False) -> RunReport:
        """Run ``flow`` of ``flows`` once."""
        with self.engine(flows) as engine:
            return await engine.run_flow(flow, dry_run=dry_run)

    # ---- the read flow: a Mailchimp source into the capture sink ---------------------------
    @staticmethod
    def read_flows(
        source: str = "mailchimp_members", batch_size: int = 100, **options: Any
    ) -> dict[str, Any]:
        return {
            "read": {
                "batch_size": batch_size,
                "source": {"type": source, "connection": "mailchimp", **options},
                "sink": {"type": "conformance_capture"},
            }
        }

    async def read(self, batch_size: int = 100, **options: Any) -> tuple[RunReport, list[Change]]:
        """Run the polling source once; what it read."""
        report = await self.run(self.read_flows(batch_size=batch_size, **options), "read")
        return report, self.take_read()

    def take_read(self) -> list[Change]:
        captured = list(self.harness.captured)
        self.harness.captured.clear()
        return captured

    # ---- the write flow: queued changes into the sink -------------------------------------
    @staticmethod
    def write_flows(
        batch_size: int = 100,
        matchers: Sequence[Mapping[str, Any]] = (),
        **options: Any,
    ) -> dict[str, Any]:
        return {
            "write": {
                "batch_size": batch_size,
                "source": {"type": "conformance_feed"},
                "matchers": [dict(m) for m in matchers],
                "sink": {"type": "mailchimp_members", "connection": "mailchimp", **options},
            }
        }

    def queue(
        self,
        key: str,
        fields: Mapping[str, Any],
        operation: Operation = Operation.UPDATE,
    ) -> None:
        """Queue a change (as a Raiser's Edge side would send it) for the write flow."""
        self.harness.feed.append(
            Change(
                "re_nxt",
                "constituent",
                {"id": key},
                operation,
                dict(fields),
                self.simulator.clock.now(),
            )
        )

    async def write(
        self,
        *,
        batch_size: int = 100,
        matchers: Sequence[Mapping[str, Any]] = (),
        dry_run: bool = False,
        **options: Any,
    ) -> RunReport:
        """Run the write flow once over what was queued since the last run."""
        flows = self.write_flows(batch_size, matchers, **options)
        return await self.run(flows, "write", dry_run=dry_run)

    def outcomes(self, report: RunReport) -> dict[str, tuple[str, str | None, str | None]]:
        """Record key -> (outcome, reason, target key) of a run."""
        return {
            row.record: (row.outcome, row.reason, row.target_key)
            for row in self.state.run_outcomes(report.run_id)
        }


#: The key_cascade search steps of SmartSYNC-style flows into Mailchimp: CONSID, then email.
CASCADE: list[dict[str, Any]] = [
    {
        "type": "key_cascade",
        "keys": [
            {"source": "constituent_id", "target": "constituent_id"},
            {"source": "email", "target": "email", "normalize": "lower"},
        ],
    }
]
