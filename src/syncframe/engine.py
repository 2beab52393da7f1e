"""The runner: moves changes of a flow from its source to its sink, batch by batch, exactly once.

For each batch read from the source (a bounded stream, so memory does not grow with the number
of records): filters, loop guards, field mapping and matchers decide what goes to the sink; the
sink writes and reports an outcome per change; then one state-store transaction moves the cursor
and records outcomes, failed records, the loop-guard ledger and identity links. Only after that
does the source hear that the batch is acknowledged.
"""

from __future__ import annotations

import gc
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from anyio.streams.memory import MemoryObjectSendStream
from pydantic import SecretBytes, SecretStr

from syncframe.clock import Clock, SystemClock
from syncframe.components import (
    BatchResult,
    ComponentContext,
    Filter,
    LoopGuard,
    MatchAction,
    MatchDecision,
    Matcher,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    TransientError,
    WritePlan,
)
from syncframe.config.models import RetryConfig
from syncframe.config.resolved import LoadedConfig, ResolvedComponent, ResolvedFlow
from syncframe.host import Host
from syncframe.http import LimitedTransport, connection_client, connection_transport
from syncframe.mapping import FieldMapping, MappingError
from syncframe.records import Change
from syncframe.retry import call_with_retries, is_transient, wait_for
from syncframe.runinfo import RunInfo, RunSummary
from syncframe.state.base import (
    BatchCommit,
    FailedRecord,
    Inflight,
    LedgerEntry,
    Link,
    OutcomeRow,
    RunRecord,
    StateStore,
)
from syncframe.webhooks import WebhookSource, event_outcomes

__all__ = [
    "ComponentCheck",
    "Engine",
    "FlowFailed",
    "FlowNotFound",
    "PlannedWrite",
    "Progress",
    "RunReport",
    "open_engine",
]

log = logging.getLogger("syncframe.engine")

T = TypeVar("T")

#: How many batches may wait between the source and the sink (backpressure).
BUFFERED_BATCHES = 2
#: How many planned writes a dry run keeps for display.
MAX_PLANNED = 10_000

_TO_FAILED_STORE = (Outcome.REJECTED, Outcome.FAILED)
_OUTCOME_VALUES = {outcome: outcome.value for outcome in Outcome}
_NOT_HISTORY_IN_EXCEPTIONS_MODE = (Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED)


class FlowNotFound(ValueError):
    """A flow name that the flow file does not define."""


class FlowFailed(Exception):
    """A flow could not go on (the message says why); the cursor stays at the last commit."""


@dataclass(slots=True)
class PlannedWrite:
    """What a dry run would have done with one change, and why."""

    record: str
    operation: str
    outcome: Outcome
    reason: str | None
    target_key: str | None
    fields: dict[str, Any]


@dataclass(slots=True)
class RunReport:
    """The result of one run of one flow."""

    run_id: str
    flow: str
    dry_run: bool
    summary: RunSummary
    planned: list[PlannedWrite] = field(default_factory=list)


Progress = Callable[[str, RunSummary], None]


@dataclass(slots=True)
class ComponentCheck:
    """The connection check of one component of one flow (``syncframe check``).

    ``error`` is ``None`` when the check passed, else what went wrong, with the connection's
    secret values masked; ``exception`` is what was raised (for tests and plugin authors).
    """

    flow: str
    kind: str  # source | sink | matcher | loop guard | filter
    component: str
    connection: str | None
    error: str | None = None
    exception: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the component could be built and its check passed."""
        return self.error is None


def _new_run_id(clock: Clock) -> str:
    # Sortable by time, unique enough across processes.
    return f"{clock.now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


@dataclass(slots=True)
class _FlowRuntime:
    """The built components of one flow for one run."""

    flow: ResolvedFlow
    source: Source[Any]
    sink: Sink[Any]
    filters: list[Filter[Any]]
    guards: list[LoopGuard[Any]]
    matchers: list[Matcher[Any]]
    mapping: FieldMapping
    source_retry: RetryConfig
    sink_retry: RetryConfig
    keep_ledger: bool
    keep_links: bool
    sink_system: str
    sink_entity: str | None
    position: Any = None  # the sink's position as last committed or reported
    # Webhook flows answer each delivery with its events' outcomes: record them on the inbox.
    change_ids: bool = False


class Engine:
    """Runs the flows of one loaded flow file against one state store."""

    def __init__(
        self,
        config: LoadedConfig,
        host: Host,
        *,
        clock: Clock | None = None,
        state: StateStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.config = config
        self.host = host
        self.clock: Clock = clock or SystemClock()
        if state is None:
            from syncframe.state import open_state

            state = open_state(config.state_url, clock=self.clock)
            self._owns_state = True
        else:
            self._owns_state = False
        self.state: StateStore = state
        self._transport = transport
        self._sleep = sleep
        self._transports: dict[str, LimitedTransport] = {}
        self._converters = {name: c.function for name, c in host.registry.converters.items()}
        # Systems that some flow reads from: writes into them are remembered in the ledger so
        # loop guards of the flow going the other way can recognise them.
        self._read_systems = {f.source.connection_name for f in config.flows.values()}

    # ---- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the state store if the engine opened it."""
        if self._owns_state:
            self.state.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- public API --------------------------------------------------------------------------
    def flow_names(self) -> list[str]:
        """The flows of the file, in file order."""
        return list(self.config.flows)

    async def run(
        self,
        flows: Sequence[str] | None = None,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> list[RunReport]:
        """Run the named flows (default: every enabled flow) one after the other, in file order."""
        names = (
            list(flows) if flows else [n for n, f in self.config.flows.items() if f.config.enabled]
        )
        for name in names:
            self._flow(name)  # fail fast on a bad name, before running anything
        return [await self.run_flow(n, dry_run=dry_run, progress=progress) for n in names]

    async def run_flow(
        self, flow: str, *, dry_run: bool = False, progress: Progress | None = None
    ) -> RunReport:
        """Run one flow from its checkpoint to the end of what its source has now."""
        resolved = self._flow(flow)
        return await self._run(resolved, dry_run=dry_run, progress=progress, retry=None)

    async def retry_failed(
        self,
        *,
        flow: str | None = None,
        ids: Sequence[int] | None = None,
        progress: Progress | None = None,
    ) -> list[RunReport]:
        """Send open failed records again through their flow (filters, guards, mapping,
        matchers, sink). Delivered ones are resolved; the others stay open, attempts + 1."""
        if flow is not None:
            self._flow(flow)
        records = (
            self.state.get_failed(list(ids))
            if ids
            else self.state.list_failed(flow=flow, status="open")
        )
        records = [r for r in records if r.status == "open" and (flow is None or r.flow == flow)]
        by_flow: dict[str, list[FailedRecord]] = {}
        for record in records:
            by_flow.setdefault(record.flow, []).append(record)
        reports = []
        for name, items in by_flow.items():
            if name not in self.config.flows:
                log.warning("failed records of flow %r kept: the flow file has no such flow", name)
                continue
            reports.append(
                await self._run(self._flow(name), dry_run=False, progress=progress, retry=items)
            )
        return reports

    async def run_on_schedule(
        self,
        *,
        flows: Sequence[str] | None = None,
        cycles: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Run flows that have a ``schedule`` every ``schedule.every``, until cancelled or until
        ``cycles`` rounds have run. A flow without schedule runs once, in the first round."""
        names = (
            list(flows) if flows else [n for n, f in self.config.flows.items() if f.config.enabled]
        )
        due: dict[str, float] = {name: 0.0 for name in names}
        start = time.monotonic()
        rounds = 0
        while due and (cycles is None or rounds < cycles):
            now = time.monotonic() - start
            for name in [n for n, at in due.items() if at <= now]:
                await self.run_flow(name, progress=progress)
                schedule = self._flow(name).config.schedule
                if schedule is None:
                    del due[name]
                else:
                    due[name] = (time.monotonic() - start) + schedule.every.total_seconds()
            rounds += 1
            if due and (cycles is None or rounds < cycles):
                await self._sleep(max(0.0, min(due.values()) - (time.monotonic() - start)))

    async def check_connections(self, flows: Sequence[str] | None = None) -> list[ComponentCheck]:
        """Build every component of the named flows (default: all, in file order) and call its
        :meth:`~syncframe.components.Source.check`, one try each, without retries.

        A component that cannot be built, or whose check raises, gets the error's message; the
        values of the connection's secret settings never appear in it.
        """
        names = list(flows) if flows else list(self.config.flows)
        resolved = [self._flow(name) for name in names]  # fail fast on a bad name
        results: list[ComponentCheck] = []
        for flow in resolved:
            parts = [flow.source, flow.sink, *flow.filters, *flow.loop_guards, *flow.matchers]
            for part in parts:
                result = ComponentCheck(
                    flow.name,
                    part.kind,
                    part.component.name,
                    part.connection.name if part.connection else None,
                )
                try:
                    async with AsyncExitStack() as stack:
                        instance = self._build(part, flow, None, stack)
                        await instance.check()
                except Exception as exc:
                    result.exception = exc
                    text = str(exc) or type(exc).__name__
                    if not isinstance(exc, PermanentError | TransientError):
                        # A network error or a plugin bug: the type says which.
                        text = f"{type(exc).__name__}: {text}"
                    result.error = _masked(text, part)
                results.append(result)
        return results

    def build_source(self, flow: str, stack: AsyncExitStack) -> Source[Any]:
        """The source of ``flow``, built outside a run (``syncframe serve`` checks webhook
        deliveries with it); ``stack`` closes it."""
        resolved = self._flow(flow)
        source: Source[Any] = self._build(resolved.source, resolved, None, stack)
        return source

    def build_sink(self, flow: str, stack: AsyncExitStack) -> Sink[Any]:
        """The sink of ``flow``, built outside a run (one-off tools such as an alignment write
        through it); ``stack`` closes it. Open it with its committed position first."""
        resolved = self._flow(flow)
        sink: Sink[Any] = self._build(resolved.sink, resolved, None, stack)
        return sink

    def mapping_of(self, flow: str) -> FieldMapping:
        """The field mapping of ``flow`` (the identity when it has none)."""
        return FieldMapping(self._flow(flow).config.mapping, self._converters)

    # ---- building ----------------------------------------------------------------------------
    def _flow(self, name: str) -> ResolvedFlow:
        try:
            return self.config.flows[name]
        except KeyError:
            known = ", ".join(self.config.flows) or "none"
            raise FlowNotFound(
                f"no flow named {name!r} in {self.config.path}; flows: {known}"
            ) from None

    def _http_factory(
        self, component: ResolvedComponent, stack: AsyncExitStack
    ) -> Callable[[], httpx.AsyncClient] | None:
        connection = component.connection
        if connection is None:
            return None
        client: httpx.AsyncClient | None = None

        def factory() -> httpx.AsyncClient:
            nonlocal client
            if client is None:
                transport = self._transports.get(connection.name)
                if transport is None:
                    inner = self._transport or connection_transport(
                        connection.config.max_concurrency
                    )
                    transport = LimitedTransport(
                        inner,
                        max_concurrency=connection.config.max_concurrency,
                        rate_limit=connection.config.rate_limit,
                    )
                    self._transports[connection.name] = transport
                client = connection_client(transport, connection.config.timeout)
                stack.push_async_callback(client.aclose)
            return client

        return factory

    def _build(
        self,
        component: ResolvedComponent,
        flow: ResolvedFlow,
        run_id: str | None,
        stack: AsyncExitStack,
    ) -> Any:
        context = ComponentContext(
            flow=flow.name,
            connection_name=component.connection_name,
            connection=component.connection.settings if component.connection else None,
            clock=self.clock,
            state=self.state,
            logger=logging.getLogger(f"syncframe.flow.{flow.name}"),
            http_factory=self._http_factory(component, stack),
            run_id=run_id,
            config_dir=str(self.config.base_dir),
        )
        instance = component.component.cls(context, component.options)
        stack.push_async_callback(instance.aclose)
        return instance

    def _runtime(self, flow: ResolvedFlow, run_id: str, stack: AsyncExitStack) -> _FlowRuntime:
        def retry_of(component: ResolvedComponent) -> RetryConfig:
            return component.connection.config.retry if component.connection else RetryConfig()

        sink_system = flow.sink.connection_name
        keep_ledger = sink_system in self._read_systems
        source = self._build(flow.source, flow, run_id, stack)
        return _FlowRuntime(
            flow=flow,
            source=source,
            sink=self._build(flow.sink, flow, run_id, stack),
            filters=[self._build(c, flow, run_id, stack) for c in flow.filters],
            guards=[self._build(c, flow, run_id, stack) for c in flow.loop_guards],
            matchers=[self._build(c, flow, run_id, stack) for c in flow.matchers],
            mapping=FieldMapping(flow.config.mapping, self._converters),
            source_retry=retry_of(flow.source),
            sink_retry=retry_of(flow.sink),
            keep_ledger=keep_ledger,
            keep_links=keep_ledger or bool(flow.matchers),
            sink_system=sink_system,
            sink_entity=getattr(flow.sink.options, "entity", None),
            change_ids=isinstance(source, WebhookSource),
        )

    # ---- running -----------------------------------------------------------------------------
    async def _run(
        self,
        flow: ResolvedFlow,
        *,
        dry_run: bool,
        progress: Progress | None,
        retry: list[FailedRecord] | None,
    ) -> RunReport:
        run_id = _new_run_id(self.clock)
        kind = "retry" if retry is not None else "run"
        info = RunInfo(run_id, flow.name, dry_run, self.clock.now(), kind)
        summary = RunSummary(status="running")
        report = RunReport(run_id, flow.name, dry_run, summary)
        if not dry_run:
            # A run still "running" was cut off (kill -9, power loss): say so in the history.
            for earlier in self.state.list_runs(flow=flow.name, limit=20):
                if earlier.status == "running":
                    self.state.finish_run(
                        earlier.run_id,
                        "interrupted",
                        earlier.counts,
                        "the process stopped before the run finished",
                    )
            self.state.start_run(
                RunRecord(run_id, flow.name, str(self.config.path), info.started_at, dry_run, kind)
            )
        started = time.perf_counter()
        try:
            async with AsyncExitStack() as stack:
                runtime = self._runtime(flow, run_id, stack)
                self.host.run_started(info)
                await self._drive(runtime, info, summary, report, progress, retry)
            summary.status = "succeeded"
        except FlowFailed as exc:
            summary.status, summary.error = "failed", str(exc)
            log.error("flow %s failed: %s", flow.name, exc)
        except PermanentError as exc:
            summary.status, summary.error = "failed", str(exc)
            log.error("flow %s failed: %s", flow.name, exc)
        except Exception as exc:
            # A plugin bug: the run fails with the error named; the traceback goes to the log.
            summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("flow %s failed unexpectedly", flow.name)
        except BaseException as exc:
            summary.status = "interrupted"
            summary.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise
        finally:
            summary.seconds = time.perf_counter() - started
            gc.unfreeze()  # frozen after the first batch (see _drive): collectable again
            if not dry_run:
                with _shielded():
                    self.state.finish_run(
                        run_id, summary.status, dict(summary.counts), summary.error
                    )
            self.host.run_finished(info, summary)
        return report

    async def _drive(
        self,
        rt: _FlowRuntime,
        info: RunInfo,
        summary: RunSummary,
        report: RunReport,
        progress: Progress | None,
        retry: list[FailedRecord] | None,
    ) -> None:
        flow = rt.flow
        checkpoint = self.state.get_checkpoint(flow.name)
        await self._with_retries(
            rt.sink_retry,
            lambda: rt.sink.open(checkpoint.sink_position if checkpoint else None),
            f"opening sink of {flow.name}",
        )
        seq = checkpoint.batch_seq if checkpoint else 0
        rt.position = checkpoint.sink_position if checkpoint else None
        if not info.dry_run:
            seq = await self._recover(rt, info, summary, seq)
            checkpoint = self.state.get_checkpoint(flow.name)
        if retry is not None:
            await self._drive_retry(rt, info, summary, report, progress, retry, seq)
            return
        cursor = checkpoint.cursor if checkpoint else None
        send, receive = anyio.create_memory_object_stream[SourceBatch](BUFFERED_BATCHES)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._produce, rt, cursor, send)
                preparing = anyio.CancelScope()
                if rt.matchers:
                    tg.start_soon(self._prepare_lookup, rt, preparing)
                async with receive:
                    async for batch in receive:
                        if summary.batches == 1:
                            # A long run: what exists now lives for the rest of it, so keep the
                            # cyclic collector from rescanning it every few thousand records.
                            # Not before the first batch is done: a long-lived process (syncframe
                            # serve) makes many one-batch runs, and freezing at each would keep
                            # their garbage from ever being collected.
                            gc.freeze()
                        seq += 1
                        await self._process(
                            rt,
                            info,
                            summary,
                            report,
                            batch.changes,
                            batch.cursor,
                            seq,
                            segment=batch.segment,
                        )
                        if progress is not None:
                            progress(flow.name, summary)
                # Nothing was read (or all is written): what is still being loaded is not needed.
                preparing.cancel()
        except BaseExceptionGroup as group:
            # One side failed and the other was cancelled: surface the failure itself.
            raise _root_cause(group) from None

    async def _prepare_lookup(self, rt: _FlowRuntime, scope: anyio.CancelScope) -> None:
        """Let the sink's lookup load what the matchers will find by while the first batch is
        read (an audience directory, an index), rather than after it. Only a head start: a
        failure is left to the first batch's own lookups, which retry and report it."""
        fields = list(dict.fromkeys(f for m in rt.matchers for f in m.lookup_fields()))
        if not fields:
            return
        with scope:
            try:
                lookup = rt.sink.lookup()
                if lookup is not None:
                    await lookup.prepare(fields)
            except Exception as exc:
                log.info(
                    "flow %s: preparing the target lookup failed (%s); the first batch's "
                    "lookups try again",
                    rt.flow.name,
                    exc,
                )

    async def _produce(
        self, rt: _FlowRuntime, cursor: Any, send: MemoryObjectSendStream[SourceBatch]
    ) -> None:
        """Read batches into the stream; on a transient error read again from the last cursor
        handed on (nothing is skipped, nothing is handed on twice)."""
        size = rt.flow.config.batch_size
        last = cursor
        attempts = 0
        async with send:
            while True:
                try:
                    async for batch in rt.source.read(last, size):
                        await send.send(batch)
                        last = batch.cursor
                        attempts = 0
                    return
                except Exception as exc:
                    attempts += 1
                    if not is_transient(exc) or attempts >= rt.source_retry.attempts:
                        raise self._source_failure(rt, exc, attempts) from exc
                    wait = wait_for(rt.source_retry, attempts, exc)
                    log.warning(
                        "flow %s: reading failed (%s); try %d of %d in %.1fs",
                        rt.flow.name,
                        exc,
                        attempts + 1,
                        rt.source_retry.attempts,
                        wait,
                    )
                    await self._sleep(wait)

    def _source_failure(self, rt: _FlowRuntime, exc: Exception, attempts: int) -> Exception:
        what = f"source {rt.flow.source.component.name!r} of flow {rt.flow.name!r}"
        if isinstance(exc, PermanentError | FlowFailed):
            return FlowFailed(f"{what}: {exc}")
        if is_transient(exc):
            return FlowFailed(f"{what}: still failing after {attempts} tries: {exc}")
        return exc

    async def _recover(self, rt: _FlowRuntime, info: RunInfo, summary: RunSummary, seq: int) -> int:
        """Finish or discard the batch a crashed run left in flight."""
        inflight = self.state.get_inflight(rt.flow.name)
        if inflight is None:
            return seq
        if await rt.sink.was_applied(inflight.token):
            log.warning(
                "flow %s: batch %s was applied before the last run stopped; committing it",
                rt.flow.name,
                inflight.token,
            )
            checkpoint = self.state.get_checkpoint(rt.flow.name)
            self.state.commit_batch(
                BatchCommit(
                    flow=rt.flow.name,
                    run_id=info.run_id,
                    batch_seq=inflight.batch_seq,
                    cursor=inflight.cursor_after,
                    sink_position=checkpoint.sink_position if checkpoint else None,
                    outcomes=[],
                )
            )
            summary.recovered_batch = True
            await rt.source.acknowledged(inflight.cursor_after)
            return inflight.batch_seq
        log.warning(
            "flow %s: batch %s was not applied before the last run stopped; reading it again",
            rt.flow.name,
            inflight.token,
        )
        self.state.clear_inflight(rt.flow.name)
        return seq

    async def _drive_retry(
        self,
        rt: _FlowRuntime,
        info: RunInfo,
        summary: RunSummary,
        report: RunReport,
        progress: Progress | None,
        records: list[FailedRecord],
        seq: int,
    ) -> None:
        size = rt.flow.config.batch_size
        for start in range(0, len(records), size):
            chunk = [Change.from_dict(r.change) for r in records[start : start + size]]
            await self._process(rt, info, summary, report, chunk, None, seq, move_cursor=False)
            if progress is not None:
                progress(rt.flow.name, summary)

    async def _with_retries(
        self, policy: RetryConfig, step: Callable[[], Awaitable[T]], what: str
    ) -> T:
        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            log.warning(
                "%s failed (%s); try %d of %d in %.1fs",
                what,
                exc,
                attempt + 1,
                policy.attempts,
                wait,
            )

        try:
            return await call_with_retries(policy, step, on_retry=on_retry, sleep=self._sleep)
        except Exception as exc:
            if is_transient(exc):
                raise FlowFailed(
                    f"{what}: still failing after {policy.attempts} tries: {exc}"
                ) from exc
            raise

    # ---- one batch ---------------------------------------------------------------------------
    async def _process(
        self,
        rt: _FlowRuntime,
        info: RunInfo,
        summary: RunSummary,
        report: RunReport,
        changes: list[Change],
        cursor: Any,
        seq: int,
        move_cursor: bool | None = True,
        segment: str | None = None,
    ) -> None:
        flow = rt.flow
        n = len(changes)
        outcomes: list[Outcome | None] = [None] * n
        reasons: dict[int, str] = {}
        pending = list(range(n))  # indexes still on their way to the sink
        # Each record's way through the flow, kept only when the flow asks (step_log).
        trail = _StepLog(flow, changes) if flow.config.step_log else None

        for k, flt in enumerate(rt.filters):
            still = []
            for i in pending:
                why = flt.reason_to_drop(changes[i])
                if why is None:
                    still.append(i)
                else:
                    outcomes[i], reasons[i] = Outcome.FILTERED, why
            if trail is not None:
                trail.screened(flow.filters[k].step, pending, reasons, Outcome.FILTERED, outcomes)
            pending = still

        for k, guard in enumerate(rt.guards):
            if not pending:
                break
            verdicts = await guard.screen([changes[i] for i in pending])
            still = []
            for i, verdict in zip(pending, verdicts, strict=True):
                if verdict is None:
                    still.append(i)
                else:
                    outcomes[i], reasons[i] = Outcome.BLOCKED, verdict.reason
            if trail is not None:
                trail.screened(
                    flow.loop_guards[k].step, pending, reasons, Outcome.BLOCKED, outcomes
                )
            pending = still

        if rt.mapping.identity:
            mapped: dict[int, Change] | None = None
        else:
            mapped = {}
            still = []
            for i in pending:
                try:
                    mapped[i] = rt.mapping.apply(changes[i])
                    still.append(i)
                except MappingError as exc:
                    outcomes[i], reasons[i] = Outcome.REJECTED, str(exc)
                    if trail is not None:
                        trail.add(i, "mapping", "rejected", str(exc))
            pending = still

        def target_side(i: int) -> Change:
            return changes[i] if mapped is None else mapped[i]

        decisions: dict[int, MatchDecision] = {}
        if rt.matchers and pending:
            lookup = rt.sink.lookup()
            undecided = list(pending)
            for k, matcher in enumerate(rt.matchers):
                if not undecided:
                    break
                batch = [target_side(i) for i in undecided]
                made = await self._with_retries(
                    rt.sink_retry,
                    lambda m=matcher, b=batch: m.decide(b, lookup),  # type: ignore[misc]
                    f"matching for flow {flow.name}",
                )
                rest = []
                step = flow.matchers[k].step
                for i, decision in zip(undecided, made, strict=True):
                    if decision is None:
                        rest.append(i)
                        if trail is not None:
                            trail.add(i, step, "not found", None)
                    else:
                        decisions[i] = decision
                        if trail is not None:
                            trail.add(i, step, decision.action.value, decision.explanation)
                undecided = rest
            for i in undecided:
                decisions[i] = MatchDecision(MatchAction.CREATE, "no matcher recognised it")
            still = []
            for i in pending:
                action = decisions[i].action
                if action is MatchAction.REJECT:
                    outcomes[i], reasons[i] = Outcome.REJECTED, decisions[i].explanation
                elif action is MatchAction.SKIP:
                    outcomes[i], reasons[i] = Outcome.SKIPPED, decisions[i].explanation
                else:
                    still.append(i)
            pending = still

        # Write.
        token = f"{flow.name}:{info.run_id}:{seq}"
        result = BatchResult([], position=None)
        if pending:
            to_write = (
                [target_side(i) for i in pending]
                if (mapped is not None or len(pending) != n)
                else changes
            )
            targets = [decisions[i].target_key for i in pending] if decisions else None
            plan = WritePlan(token, targets, info.dry_run, segment)
            if not info.dry_run and move_cursor:
                self.state.begin_batch(
                    Inflight(flow.name, seq, token, cursor, info.run_id, self.clock.now())
                )
            result = await self._write(rt, to_write, plan)
            for j, i in enumerate(pending):
                outcomes[i] = result.outcomes[j]
                why = result.reasons.get(j)
                if why is not None:
                    reasons[i] = why
                elif i in decisions and decisions[i].action is MatchAction.MATCH:
                    reasons[i] = decisions[i].explanation
            if trail is not None:
                step = flow.sink.step
                for j, i in enumerate(pending):
                    trail.add(i, step, result.outcomes[j].value, result.reasons.get(j))

        final: list[Outcome] = [o if o is not None else Outcome.SKIPPED for o in outcomes]
        target_keys = {pending[j]: key for j, key in result.target_keys.items()}
        for i, decision in decisions.items():
            if i not in target_keys and decision.target_key is not None:
                target_keys[i] = decision.target_key
        if pending:
            rt.position = result.position
        # A batch that wrote nothing leaves the sink where it was.
        full = BatchResult(final, reasons, target_keys, rt.position)

        counts = summary.counts
        batch_counts = Counter(final)  # counted in C: this runs for every record
        for outcome, count in batch_counts.items():
            counts[outcome.value] = counts.get(outcome.value, 0) + count
        summary.batches += 1

        if info.dry_run:
            self._plan(
                report, changes, target_side if mapped is not None else None, full, decisions
            )
        else:
            failures = batch_counts[Outcome.REJECTED] + batch_counts[Outcome.FAILED]
            self._commit(rt, info, changes, mapped, full, cursor, seq, move_cursor, failures, trail)
            if rt.change_ids:
                # After the commit: a crash in between leaves the events unsettled (the serve
                # app then says they were read), never settled for a batch that did not land.
                self.state.inbox_settle(rt.flow.name, event_outcomes(changes, full))
            if move_cursor:
                await rt.source.acknowledged(cursor)
            for guard in rt.guards:
                written = [i for i in range(n) if final[i].wrote]
                if written:
                    await guard.learn(
                        [target_side(i) for i in written],
                        BatchResult(
                            [final[i] for i in written],
                            target_keys={
                                k: target_keys[i] for k, i in enumerate(written) if i in target_keys
                            },
                        ),
                    )
        self.host.batch_committed(info, changes, full)

        failing = sum(1 for o in final if o in _TO_FAILED_STORE)
        if n and failing / n > flow.config.max_failed_share:
            raise FlowFailed(
                f"{failing} of {n} records of batch {seq} were rejected or failed, more than "
                f"max_failed_share = {flow.config.max_failed_share}; stopping"
            )

    async def _write(self, rt: _FlowRuntime, changes: list[Change], plan: WritePlan) -> BatchResult:
        what = f"writing batch of flow {rt.flow.name} to {rt.flow.sink.component.name!r}"
        try:
            result = await self._with_retries(
                rt.sink_retry, lambda: rt.sink.write(changes, plan), what
            )
        except PermanentError as exc:
            if len(changes) == 1:
                return BatchResult([Outcome.FAILED], {0: str(exc)})
            # Find the records that cause it: write them one at a time.
            log.warning("%s failed (%s); writing its records one by one", what, exc)
            outcomes: list[Outcome] = []
            merged = BatchResult(outcomes)
            for j, change in enumerate(changes):
                one = WritePlan(
                    f"{plan.token}.{j}",
                    None if plan.targets is None else [plan.targets[j]],
                    plan.dry_run,
                    plan.segment,
                )
                single = await self._write(rt, [change], one)
                outcomes.append(single.outcomes[0])
                if 0 in single.reasons:
                    merged.reasons[j] = single.reasons[0]
                if 0 in single.target_keys:
                    merged.target_keys[j] = single.target_keys[0]
                merged.position = single.position
            return merged
        if len(result.outcomes) != len(changes):
            raise FlowFailed(
                f"sink {rt.flow.sink.component.name!r} returned {len(result.outcomes)} outcomes "
                f"for {len(changes)} changes (a plugin bug)"
            )
        return result

    def _commit(
        self,
        rt: _FlowRuntime,
        info: RunInfo,
        changes: list[Change],
        mapped: dict[int, Change] | None,
        result: BatchResult,
        cursor: Any,
        seq: int,
        move_cursor: bool | None,
        failures: int,
        trail: _StepLog | None = None,
    ) -> None:
        flow = rt.flow
        now = self.clock.now()
        rows: list[OutcomeRow]
        steps = trail.entries if trail is not None else None
        if (
            move_cursor
            and failures == 0
            and steps is None
            and not (rt.keep_ledger or rt.keep_links)
        ):
            # The common case, kept to one comprehension: per-record work is the cost here.
            if flow.config.history == "exceptions":
                keep = _NOT_HISTORY_IN_EXCEPTIONS_MODE
                rows = [
                    OutcomeRow(c.key, o.value, result.reasons.get(i), result.target_keys.get(i))
                    for i, (c, o) in enumerate(zip(changes, result.outcomes, strict=True))
                    if o not in keep
                ]
            elif not result.reasons and not result.target_keys:
                values = _OUTCOME_VALUES
                rows = [
                    OutcomeRow(c.key, values[o])
                    for c, o in zip(changes, result.outcomes, strict=True)
                ]
            else:
                values = _OUTCOME_VALUES
                reasons_of, keys_of = result.reasons.get, result.target_keys.get
                rows = [
                    OutcomeRow(c.key, values[o], reasons_of(i), keys_of(i))
                    for i, (c, o) in enumerate(zip(changes, result.outcomes, strict=True))
                ]
            self.state.commit_batch(
                BatchCommit(flow.name, info.run_id, seq, cursor, result.position, rows)
            )
            return
        exceptions_only = flow.config.history == "exceptions"
        rows = []
        failed: list[FailedRecord] = []
        resolved: list[str] = []
        ledger: list[LedgerEntry] = []
        links: list[Link] = []
        reasons, target_keys = result.reasons, result.target_keys
        retrying = not move_cursor
        for i, outcome in enumerate(result.outcomes):
            change = changes[i]
            if outcome in _TO_FAILED_STORE:
                reason = reasons.get(i, outcome.value)
                failed.append(
                    FailedRecord(flow.name, change.change_id, change.to_dict(), reason, info.run_id)
                )
                rows.append(
                    OutcomeRow(
                        change.key,
                        outcome.value,
                        reason,
                        None,
                        change.change_id,
                        None if steps is None else steps[i],
                    )
                )
                continue
            if retrying:
                resolved.append(change.change_id)
            if not (exceptions_only and outcome in _NOT_HISTORY_IN_EXCEPTIONS_MODE):
                rows.append(
                    OutcomeRow(
                        change.key,
                        outcome.value,
                        reasons.get(i),
                        target_keys.get(i),
                        None,
                        None if steps is None else steps[i],
                    )
                )
            if outcome.wrote and (rt.keep_ledger or rt.keep_links):
                target_key = target_keys.get(i)
                if target_key is None:
                    continue
                written = change if mapped is None else mapped[i]
                entity = rt.sink_entity or change.entity
                if rt.keep_ledger:
                    ledger.append(
                        LedgerEntry(
                            rt.sink_system,
                            entity,
                            target_key,
                            dict(written.fields),
                            change.system,
                            change.key,
                            flow.name,
                            info.run_id,
                            change.occurred_at or now,
                            now,
                        )
                    )
                if rt.keep_links:
                    links.append(
                        Link(
                            change.system,
                            change.entity,
                            change.key,
                            rt.sink_system,
                            entity,
                            target_key,
                            flow.name,
                        )
                    )
        self.state.commit_batch(
            BatchCommit(
                flow=flow.name,
                run_id=info.run_id,
                batch_seq=seq,
                cursor=cursor,
                sink_position=result.position,
                outcomes=rows,
                move_cursor=bool(move_cursor),
                ledger=ledger,
                links=links,
                failed=failed,
                resolved_failed=resolved,
            )
        )

    def _plan(
        self,
        report: RunReport,
        changes: list[Change],
        target_side: Callable[[int], Change] | None,
        result: BatchResult,
        decisions: dict[int, MatchDecision],
    ) -> None:
        for i, outcome in enumerate(result.outcomes):
            if len(report.planned) >= MAX_PLANNED:
                return
            change = changes[i]
            shown = change
            if target_side is not None and outcome not in (
                Outcome.FILTERED,
                Outcome.BLOCKED,
                Outcome.REJECTED,
            ):
                shown = target_side(i)
            why = result.reasons.get(i)
            if why is None and i in decisions:
                why = decisions[i].explanation
            report.planned.append(
                PlannedWrite(
                    change.describe(),
                    change.operation.value,
                    outcome,
                    why,
                    result.target_keys.get(i),
                    dict(shown.fields),
                )
            )


class _StepLog:
    """The step log of one batch: per record, each step it reached and what happened there."""

    __slots__ = ("entries",)

    def __init__(self, flow: ResolvedFlow, changes: Sequence[Change]) -> None:
        step = flow.source.step
        self.entries: list[list[dict[str, str | None]]] = [
            [{"step": step, "outcome": "read", "detail": _read_detail(change)}]
            for change in changes
        ]

    def add(self, i: int, step: str, outcome: str, detail: str | None) -> None:
        self.entries[i].append({"step": step, "outcome": outcome, "detail": detail})

    def screened(
        self,
        step: str,
        screened: Sequence[int],
        reasons: Mapping[int, str],
        stopped: Outcome,
        outcomes: Sequence[Outcome | None],
    ) -> None:
        """A filter or loop guard looked at ``screened``: each passed, or was stopped."""
        for i in screened:
            if outcomes[i] is stopped:
                self.add(i, step, stopped.value, reasons.get(i))
            else:
                self.add(i, step, "passed", None)


def _read_detail(change: Change) -> str:
    names = list(change.fields)
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} fields)" if len(names) > 12 else "")
    return f"{change.operation.value} {change.describe()}" + (f": {shown}" if names else "")


def _masked(text: str, component: ResolvedComponent) -> str:
    """``text`` with the values of the component's secret connection settings replaced."""
    if component.connection is None:
        return text
    for value in component.connection.settings.model_dump().values():
        if isinstance(value, SecretStr | SecretBytes):
            secret = value.get_secret_value()
            shown = secret.decode(errors="replace") if isinstance(secret, bytes) else secret
            if shown:
                text = text.replace(shown, "***")
    return text


def _root_cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    cancelled = anyio.get_cancelled_exc_class()
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for leaf in leaves:
        if not isinstance(leaf, cancelled):
            return leaf
    return leaves[0] if leaves else group


@contextmanager
def _shielded() -> Iterator[None]:
    # Recording how a run ended must not hide the error that ended it.
    try:
        yield
    except Exception:
        log.exception("could not record the end of the run")


def open_engine(
    path: str | Path,
    *,
    host: Host | None = None,
    clock: Clock | None = None,
    environ: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    state: StateStore | None = None,
) -> Engine:
    """Load and validate a flow file and build an engine for it (raises ``ConfigError``)."""
    from syncframe.config import load_config

    host = host or Host()
    config = load_config(path, host.registry, environ=environ)
    return Engine(config, host, clock=clock, state=state, transport=transport)
