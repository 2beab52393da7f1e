"""The machinery behind the conformance suite: a flow file around the connector under test, the
engine wired to the simulator, and two helper components (a feed and a capture).

The harness writes a flow file with one connection, ``conformance``, of the connector's system,
and up to two flows:

* ``read``: the connector's source -> ``conformance_capture`` (a sink that keeps every change
  it is given, so a test sees exactly what the source read);
* ``write``: ``conformance_feed`` (a source that emits the changes the test gives it) -> the
  connector's sink (with the matchers the connector asks for).

Every engine it builds shares the simulator's clock and transport, one state store (so runs
follow each other like separate ``syncframe run`` invocations) and a ``sleep`` that records
the engine's waits instead of sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, cast

import yaml

from syncframe.components import (
    BatchResult,
    NoOptions,
    Outcome,
    Sink,
    Source,
    SourceBatch,
    WritePlan,
)
from syncframe.config import LoadedConfig, load_config
from syncframe.engine import ComponentCheck, Engine, RunReport
from syncframe.hookspecs import hookimpl
from syncframe.host import Host
from syncframe.records import Change, Operation
from syncframe.registry import ComponentRegistrar
from syncframe.state import open_state
from syncframe.state.base import BatchCommit, StateStore
from syncframe.testing._protocols import SimulatorLike

__all__ = [
    "CONNECTION",
    "FEED_SYSTEM",
    "READ_FLOW",
    "WRITE_FLOW",
    "ConformanceHarness",
    "ConformancePlugin",
    "EngineStopped",
]

#: The name of the connection to the simulator in the harness's flow file.
CONNECTION = "conformance"
#: The flow from the connector's source into the capture sink.
READ_FLOW = "read"
#: The flow from the feed source into the connector's sink.
WRITE_FLOW = "write"
#: The system the feed source's changes come from.
FEED_SYSTEM = "conformance_feed"

#: Retries as the engine does them, with no waiting between tries: the waits are recorded.
FAST_RETRY: dict[str, Any] = {"attempts": 4, "initial_wait": 0, "max_wait": 0, "jitter": 0}


class _FeedSource(Source[NoOptions]):
    """Emits the changes a test queued; the cursor is how many were handed on."""

    changes: ClassVar[list[Change]] = []

    async def read(self, cursor: Any, batch_size: int) -> AsyncIterator[SourceBatch]:
        start = int(cursor or 0)
        for index in range(start, len(self.changes), batch_size):
            chunk = self.changes[index : index + batch_size]
            yield SourceBatch(list(chunk), index + len(chunk))


class _CaptureSink(Sink[NoOptions]):
    """Keeps every change it is given (a test reads them back) and reports it created."""

    captured: ClassVar[list[Change]] = []

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        if not plan.dry_run:
            self.captured.extend(changes)
        return BatchResult.uniform(Outcome.CREATED, len(changes))


class ConformancePlugin:
    """Registers the feed source and the capture sink, each bound to this plugin's lists (one
    plugin per test, so tests never share what they queued or captured)."""

    __name__ = "syncframe_conformance"

    def __init__(self) -> None:
        self.feed: list[Change] = []
        self.captured: list[Change] = []

    @hookimpl
    def syncframe_register_sources(self, register: ComponentRegistrar) -> None:
        """``conformance_feed``: the changes the test queued."""
        feed = type("ConformanceFeed", (_FeedSource,), {"changes": self.feed})
        register("conformance_feed", feed, description="Changes a conformance test queued.")

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        """``conformance_capture``: keeps what it is given."""
        capture = type("ConformanceCapture", (_CaptureSink,), {"captured": self.captured})
        register("conformance_capture", capture, description="Keeps what a source read.")


class EngineStopped(Exception):
    """Raised by the harness's state store to stop the engine after a write, before its commit
    (what a crash or a kill at the worst moment does)."""


class _StoppableState:
    """A state store that can stop the engine between the sink's write and the commit."""

    def __init__(self, inner: StateStore) -> None:
        self._inner = inner
        self.stop_before_next_commit = False

    def commit_batch(self, commit: BatchCommit) -> None:
        if self.stop_before_next_commit and commit.move_cursor:
            self.stop_before_next_commit = False
            raise EngineStopped(
                f"stopped after batch {commit.batch_seq} of flow {commit.flow} was written, "
                "before it was committed"
            )
        self._inner.commit_batch(commit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ConformanceHarness:
    """One conformance test's world: the simulator, the flow file, the engine and the waits."""

    def __init__(
        self,
        *,
        simulator: SimulatorLike,
        host: Host,
        plugin: ConformancePlugin,
        folder: Path,
        system: str,
        source: Mapping[str, Any] | None,
        sink: Mapping[str, Any] | None,
        matchers: Sequence[Mapping[str, Any]] = (),
        batch_size: int = 2,
    ) -> None:
        self.simulator = simulator
        self.host = host
        self.plugin = plugin
        self.folder = folder
        self.system = system
        self.source = dict(source) if source is not None else None
        self.sink = dict(sink) if sink is not None else None
        self.matchers = [dict(m) for m in matchers]
        self.batch_size = batch_size
        #: Seconds the engine would have slept between retries, in order.
        self.waits: list[float] = []
        self._state = _StoppableState(
            open_state(f"sqlite:///{folder / 'state.db'}", clock=simulator.clock)
        )

    # ---- the flow file -----------------------------------------------------------------------
    def flow_document(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The flow file, as data, with ``settings`` for the connection to the simulator."""
        flows: dict[str, Any] = {}
        connection_ref = {"connection": CONNECTION}
        if self.source is not None:
            flows[READ_FLOW] = {
                "batch_size": self.batch_size,
                "source": {**self.source, **connection_ref},
                "sink": {"type": "conformance_capture"},
            }
        if self.sink is not None:
            flows[WRITE_FLOW] = {
                "batch_size": self.batch_size,
                "source": {"type": "conformance_feed"},
                "matchers": self.matchers,
                "sink": {**self.sink, **connection_ref},
            }
        return {
            "state": {"url": "sqlite:///state.db"},
            "connections": {
                CONNECTION: {"system": self.system, **settings, "retry": FAST_RETRY},
            },
            "flows": flows,
        }

    def write_flow_file(self, settings: Mapping[str, Any], name: str = "flows.yaml") -> Path:
        """Write the flow file for ``settings`` into the test's folder; return its path."""
        path = self.folder / name
        path.write_text(
            yaml.safe_dump(self.flow_document(settings), sort_keys=False), encoding="utf-8"
        )
        return path

    def load(self, settings: Mapping[str, Any], name: str = "flows.yaml") -> LoadedConfig:
        """Write and load the flow file (raises ``ConfigError`` listing its problems)."""
        return load_config(self.write_flow_file(settings, name), self.host.registry, environ={})

    # ---- the engine --------------------------------------------------------------------------
    @contextmanager
    def engine(self, settings: Mapping[str, Any]) -> Iterator[Engine]:
        """An engine for the flow file with ``settings``, wired to the simulator."""

        async def record_wait(seconds: float) -> None:
            self.waits.append(seconds)

        engine = Engine(
            self.load(settings),
            self.host,
            clock=self.simulator.clock,
            state=cast(StateStore, self._state),
            transport=self.simulator.transport(),
            sleep=record_wait,
        )
        with engine:
            yield engine

    @property
    def state(self) -> StateStore:
        """The state store every engine of this test shares."""
        return cast(StateStore, self._state)

    async def run(self, flow: str, settings: Mapping[str, Any]) -> RunReport:
        """Run ``flow`` once, as ``syncframe run`` would."""
        with self.engine(settings) as engine:
            return await engine.run_flow(flow)

    async def run_stopping_before_commit(self, flow: str, settings: Mapping[str, Any]) -> RunReport:
        """Run ``flow``, stopping the engine after its first write and before the commit."""
        self._state.stop_before_next_commit = True
        try:
            return await self.run(flow, settings)
        finally:
            self._state.stop_before_next_commit = False

    async def check(self, settings: Mapping[str, Any]) -> list[ComponentCheck]:
        """The connection checks of the connector's components (those on the connection)."""
        with self.engine(settings) as engine:
            checks = await engine.check_connections()
        return [c for c in checks if c.connection == CONNECTION]

    # ---- the helper components ---------------------------------------------------------------
    def queue(self, records: Mapping[str, Mapping[str, Any]], entity: str) -> None:
        """Queue ``records`` (key -> fields) for the feed source, as inserts."""
        now = self.simulator.clock.now()
        self.plugin.feed.extend(
            Change(FEED_SYSTEM, entity, {"key": key}, Operation.INSERT, dict(fields), now)
            for key, fields in records.items()
        )

    def take_captured(self) -> list[Change]:
        """What the capture sink received since the last call."""
        captured = list(self.plugin.captured)
        self.plugin.captured.clear()
        return captured

    def close(self) -> None:
        """Close the state store."""
        self._state.close()
