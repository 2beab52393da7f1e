"""The conformance suite: test classes a connector's tests subclass and fill in."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretBytes, SecretStr

from syncframe.clock import ManualClock
from syncframe.components import PermanentError
from syncframe.config.resolved import ConfigError
from syncframe.engine import RunReport
from syncframe.host import Host
from syncframe.testing._harness import (
    CONNECTION,
    READ_FLOW,
    WRITE_FLOW,
    ConformanceHarness,
    ConformancePlugin,
)
from syncframe.testing._protocols import JournalEntryLike, SimulatorLike

__all__ = [
    "ConnectorConformance",
    "InvalidSettings",
    "RejectedRecord",
    "SinkConformance",
    "SourceConformance",
    "WebhookSourceConformance",
]

#: Seconds of Retry-After the 429 of the transient-fault tests asks for.
RETRY_AFTER = 7.0
#: Setting names that hold credentials: they must be ``SecretStr``.
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "private_key")


@dataclass(frozen=True, slots=True)
class InvalidSettings:
    """Connection settings that must not validate, and the setting the error must name."""

    values: Mapping[str, Any]
    field: str
    message: str | None = None  # a fragment the error must contain, if given


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record the target refuses (target-side fields), and a fragment of the reason."""

    key: str
    fields: Mapping[str, Any]
    reason: str


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _transient_fault(kind: str, match: Mapping[str, Any]) -> Any:
    """A kit ``FaultRule`` that fires once: a 503 (``"503"``) or a 429 with Retry-After."""
    try:
        from syncframe_simulators import FaultRule
    except ImportError:  # pragma: no cover - the kit is part of the test environment
        pytest.fail("the transient-fault tests need the simulator kit (syncframe-simulators)")
    if kind == "503":
        return FaultRule(kind="error", status=503, times=1, **match)
    return FaultRule(kind="rate_limit", retry_after=RETRY_AFTER, times=1, **match)


def _last_seq(simulator: SimulatorLike) -> int:
    entries = simulator.journal.entries()
    return entries[-1].seq if entries else 0


def _shown(entries: Sequence[JournalEntryLike]) -> str:
    return "\n".join(
        f"  #{e.seq} {e.method} {e.path} -> {e.status}" + (f" ({e.fault})" if e.fault else "")
        for e in entries
    )


def _check_fault_and_retry(
    simulator: SimulatorLike, mark: int, kind: str, hint: str, throttle_status: int = 429
) -> JournalEntryLike:
    """The journal shows the injected fault, then the same request again, answered."""
    entries = [e for e in simulator.journal.entries() if e.seq > mark]
    faulted = [e for e in entries if e.fault is not None]
    assert faulted, (
        f"the injected {kind} never fired: no request matched it ({hint}). Requests:\n"
        + _shown(entries)
    )
    fault = faulted[0]
    status = 503 if kind == "503" else throttle_status
    assert fault.status == status, f"the fault answered {fault.status}, not {status}"
    retried = [
        e
        for e in entries
        if e.seq > fault.seq
        and e.method == fault.method
        and e.path == fault.path
        and e.fault is None
        and e.status is not None
        and e.status < 400
    ]
    assert retried, (
        f"{fault.method} {fault.path} got a {status} and was never tried again successfully. "
        "Requests after it:\n" + _shown([e for e in entries if e.seq > fault.seq])
    )
    return fault


_AS_TRANSIENT = (
    "A transient fault must reach the engine as a transient error (TransientError, e.g. "
    "through syncframe.http.raise_for_status, or httpx's own errors) so that the engine "
    "retries it; do not turn it into PermanentError or swallow it."
)


def _check_retried(report: RunReport, waits: Sequence[float], kind: str) -> None:
    """The run succeeded, nothing failed, and the engine waited and tried again."""
    status = 503 if kind == "503" else 429
    summary = report.summary
    assert summary.status == "succeeded", (
        f"the run {summary.status} after one {status} from the simulator: {summary.error}. "
        + _AS_TRANSIENT
    )
    failed = summary.counts.get("failed", 0)
    assert not failed, f"{failed} records failed after one {status}. " + _AS_TRANSIENT
    assert waits, (
        f"the engine never waited to retry after the {status}: it did not see a transient "
        "error. " + _AS_TRANSIENT
    )
    if kind == "429":
        assert RETRY_AFTER in waits, (
            f"the engine did not wait the {RETRY_AFTER}s the 429's Retry-After asked for "
            f"(waits: {list(waits)}); pass it on as TransientError(retry_after=...)"
        )


class ConnectorConformance:
    """What every connector must do with its connection: settings and the connection check.

    Subclass :class:`SourceConformance`, :class:`SinkConformance` or both (they include these
    tests) and set, at least:

    * ``plugins``: the plugin modules or objects to load (or ``load_entry_points = True`` for an
      installed plugin), and ``system``: the connection type under test;
    * ``connection_settings(simulator)``: settings that open the simulator (plain values,
      secrets as text), e.g. ``{"base_url": simulator.base_url, "api_key": "key"}``;
    * ``bad_credentials(simulator)``: well-formed settings the simulator refuses, and
      ``bad_credentials_error``: a fragment the check's error must contain;
    * the ``simulator`` fixture, or ``simulator_name`` to build the registered simulator of that
      name with a :class:`~syncframe.clock.ManualClock`.

    ``invalid_settings()`` may add cases to the ones the suite derives itself (each required
    setting left out, an unknown setting added).
    """

    plugins: ClassVar[Sequence[object]] = ()
    load_entry_points: ClassVar[bool] = False
    system: ClassVar[str] = ""
    simulator_name: ClassVar[str | None] = None
    bad_credentials_error: ClassVar[str | None] = None
    #: The HTTP status the simulator answers its ``rate_limit`` fault with: 429 for most APIs;
    #: a system that throttles otherwise (Salesforce: 403 REQUEST_LIMIT_EXCEEDED) says so.
    throttle_status: ClassVar[int] = 429
    #: Changes per batch in the harness's flows (small, so that paging is exercised).
    batch_size: ClassVar[int] = 2

    # ---- what a connector's test provides ----------------------------------------------------
    def connection_settings(self, simulator: Any) -> dict[str, Any]:
        """Settings of a connection that works against ``simulator``."""
        pytest.fail(f"{type(self).__name__} must define connection_settings(simulator)")

    def bad_credentials(self, simulator: Any) -> dict[str, Any]:
        """Well-formed settings whose credentials ``simulator`` refuses."""
        pytest.fail(f"{type(self).__name__} must define bad_credentials(simulator)")

    def invalid_settings(self, simulator: Any) -> list[InvalidSettings]:
        """More settings that must fail validation (beyond the ones the suite derives)."""
        return []

    # ---- fixtures ----------------------------------------------------------------------------
    @pytest.fixture
    def anyio_backend(self) -> str:
        """The suite's async tests run on asyncio."""
        return "asyncio"

    @pytest.fixture
    def conformance_plugin(self) -> ConformancePlugin:
        """The feed source and capture sink of this test."""
        return ConformancePlugin()

    @pytest.fixture
    def conformance_host(self, conformance_plugin: ConformancePlugin) -> Host:
        """The plugin host: the connector's plugins plus the harness's components."""
        return Host(
            plugins=[*self.plugins, conformance_plugin], entry_points=self.load_entry_points
        )

    @pytest.fixture
    def simulator(self, conformance_host: Host) -> Any:
        """The simulator the connector talks to (override, or set ``simulator_name``)."""
        name = self.simulator_name
        registered = conformance_host.registry.simulators
        if not name:
            pytest.fail(
                f"{type(self).__name__}: override the `simulator` fixture or set simulator_name "
                f"(registered simulators: {', '.join(sorted(registered)) or 'none'})"
            )
        if name not in registered:
            pytest.fail(
                f"{type(self).__name__}: no simulator {name!r} is registered "
                f"(registered: {', '.join(sorted(registered)) or 'none'})"
            )
        return registered[name].factory(clock=ManualClock(), seed=0)

    @pytest.fixture
    def conformance(
        self,
        simulator: Any,
        conformance_host: Host,
        conformance_plugin: ConformancePlugin,
        tmp_path: Path,
    ) -> Iterator[ConformanceHarness]:
        """The harness: flow file, engine and waits around the simulator."""
        harness = ConformanceHarness(
            simulator=simulator,
            host=conformance_host,
            plugin=conformance_plugin,
            folder=tmp_path,
            system=self.system,
            source=self._source_table(),
            sink=self._sink_table(),
            matchers=self._matcher_tables(),
            batch_size=self.batch_size,
        )
        try:
            yield harness
        finally:
            harness.close()

    def _source_table(self) -> dict[str, Any] | None:
        return None

    def _sink_table(self) -> dict[str, Any] | None:
        return None

    def _matcher_tables(self) -> list[dict[str, Any]]:
        return []

    # ---- settings ----------------------------------------------------------------------------
    def test_valid_settings_validate(self, conformance: ConformanceHarness) -> None:
        """Settings that open the simulator load, as the system's settings model."""
        settings = self.connection_settings(conformance.simulator)
        try:
            loaded = conformance.load(settings)
        except ConfigError as exc:
            pytest.fail(f"valid connection settings were refused:\n{exc}")
        model = conformance.host.registry.systems[self.system].settings
        assert isinstance(loaded.connections[CONNECTION].settings, model)

    def test_invalid_settings_name_the_setting(self, conformance: ConformanceHarness) -> None:
        """Each invalid setting is refused with an error that names it."""
        valid = self.connection_settings(conformance.simulator)
        model = conformance.host.registry.systems[self.system].settings
        cases = [
            InvalidSettings({k: v for k, v in valid.items() if k != name}, name)
            for name, info in model.model_fields.items()
            if info.is_required() and name in valid
        ]
        cases.append(InvalidSettings({**valid, "no_such_setting": "x"}, "no_such_setting"))
        cases.extend(self.invalid_settings(conformance.simulator))
        wrong = []
        for number, case in enumerate(cases):
            path = f"connections.{CONNECTION}.{case.field}"
            try:
                conformance.load(case.values, name=f"invalid-{number}.yaml")
            except ConfigError as exc:
                named = [p for p in exc.problems if p.path == path]
                if not named:
                    wrong.append(f"{case.field}: no problem names {path}; got: {exc}")
                elif case.message and not any(case.message in p.message for p in named):
                    wrong.append(f"{case.field}: {case.message!r} not in {named[0].message!r}")
                continue
            wrong.append(f"{case.field}: settings {sorted(case.values)} were accepted")
        assert not wrong, "invalid settings not refused as they should be:\n" + "\n".join(wrong)

    def test_credentials_are_secret(self, conformance: ConformanceHarness) -> None:
        """Credential settings are SecretStr, so their values never show in a repr or log."""
        settings = self.connection_settings(conformance.simulator)
        loaded = conformance.load(settings).connections[CONNECTION].settings
        model = type(loaded)
        plain = [
            name
            for name, info in model.model_fields.items()
            if any(word in name.lower() for word in SECRET_WORDS)
            and info.annotation not in (SecretStr, SecretBytes, SecretStr | None)
        ]
        assert not plain, f"credential settings that are not SecretStr: {plain}"
        for name in model.model_fields:
            value = getattr(loaded, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                assert value.get_secret_value() not in repr(loaded), f"{name} shows in repr"

    # ---- connection check --------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_connection_check_passes(self, conformance: ConformanceHarness) -> None:
        """With good settings every component's check() passes, and it asked the simulator."""
        mark = _last_seq(conformance.simulator)
        checks = await conformance.check(self.connection_settings(conformance.simulator))

        assert checks, "the harness built no component of the connector"
        failed = [f"{c.kind} {c.component}: {c.error}" for c in checks if not c.ok]
        assert not failed, "connection checks failed:\n" + "\n".join(failed)
        asked = [e for e in conformance.simulator.journal.entries() if e.seq > mark]
        assert asked, "check() passed without a single request to the simulator"

    @pytest.mark.anyio
    async def test_bad_credentials_fail_the_check_clearly(
        self, conformance: ConformanceHarness
    ) -> None:
        """Refused credentials fail check() with a PermanentError that says so, secret-free."""
        settings = self.bad_credentials(conformance.simulator)
        checks = await conformance.check(settings)

        assert checks, "the harness built no component of the connector"
        secrets = [
            str(v)
            for k, v in settings.items()
            if isinstance(v, str) and v and any(word in k.lower() for word in SECRET_WORDS)
        ]
        for check in checks:
            what = f"{check.kind} {check.component}"
            assert not check.ok, f"{what}: check() passed with refused credentials"
            assert isinstance(check.exception, PermanentError), (
                f"{what}: check() raised {type(check.exception).__name__} ({check.exception}); "
                "refused credentials are a PermanentError (not worth retrying, not a crash)"
            )
            message = str(check.exception)
            if self.bad_credentials_error:
                assert self.bad_credentials_error in message, (
                    f"{what}: {self.bad_credentials_error!r} not in the error {message!r}"
                )
            for secret in secrets:
                assert secret not in message, f"{what}: the error shows a secret: {message!r}"


class SourceConformance(ConnectorConformance):
    """A source: reads nothing from empty, resumes from its cursor, retries a transient fault.

    Set ``source_type`` (and ``source_options`` if it needs any) and define
    ``seed_source(simulator, count)``: add ``count`` new records to the simulator (each test
    starts from an empty one) and return the keys the source will report them under
    (``Change.key``). It may be a coroutine. Between two seedings the suite moves a
    :class:`~syncframe.clock.ManualClock` forward by ``seed_interval``. ``source_fault_match``
    narrows which requests the injected faults hit (``path``, ``method``, ``operation`` of a
    kit ``FaultRule``); by default the first request of the run gets it.
    """

    source_type: ClassVar[str] = ""
    source_options: ClassVar[Mapping[str, Any]] = {}
    source_fault_match: ClassVar[Mapping[str, Any]] = {}
    seed_interval: ClassVar[timedelta] = timedelta(minutes=1)

    def seed_source(self, simulator: Any, count: int) -> Sequence[str] | Awaitable[Sequence[str]]:
        """Add ``count`` records to ``simulator``; return the keys the source reports them by."""
        pytest.fail(f"{type(self).__name__} must define seed_source(simulator, count)")

    def _source_table(self) -> dict[str, Any] | None:
        if not self.source_type:
            pytest.fail(f"{type(self).__name__} must set source_type")
        return {"type": self.source_type, **self.source_options}

    async def _seed(self, simulator: SimulatorLike, count: int) -> list[str]:
        clock = simulator.clock
        if isinstance(clock, ManualClock):
            clock.advance(self.seed_interval)
        keys = [str(k) for k in await _maybe(self.seed_source(simulator, count))]
        assert len(keys) == count, f"seed_source returned {len(keys)} keys for {count} records"
        return keys

    async def _read(self, conformance: ConformanceHarness) -> tuple[RunReport, list[str]]:
        settings = self.connection_settings(conformance.simulator)
        report = await conformance.run(READ_FLOW, settings)
        return report, [change.key for change in conformance.take_captured()]

    @pytest.mark.anyio
    async def test_read_from_empty(self, conformance: ConformanceHarness) -> None:
        """With nothing in the simulator a run succeeds and reads nothing."""
        report, read = await self._read(conformance)

        assert report.summary.status == "succeeded", f"the run failed: {report.summary.error}"
        assert read == [], f"the source read {len(read)} changes from an empty system: {read}"

    @pytest.mark.anyio
    async def test_incremental_read_resumes_from_its_cursor(
        self, conformance: ConformanceHarness
    ) -> None:
        """Seed, run, seed more, run: the second run reads exactly the new records."""
        first = await self._seed(conformance.simulator, 3)
        report, read = await self._read(conformance)
        assert report.summary.status == "succeeded", f"the first run failed: {report.summary.error}"
        assert Counter(read) == Counter(first), (
            f"the first run read {sorted(read)}, not each of the seeded {sorted(first)} once"
        )

        second = await self._seed(conformance.simulator, 2)
        report, read = await self._read(conformance)
        assert report.summary.status == "succeeded", (
            f"the second run failed: {report.summary.error}"
        )
        again = sorted(set(read) & set(first))
        assert not again, (
            f"the second run read {again} again: the source did not resume from its cursor "
            f"(it read {sorted(read)}; only {sorted(second)} were new)"
        )
        assert Counter(read) == Counter(second), (
            f"the second run read {sorted(read)}, not each of the new {sorted(second)} once"
        )

        report, read = await self._read(conformance)
        assert read == [], f"a third run with nothing new read {read}"

    @pytest.mark.anyio
    @pytest.mark.parametrize("fault", ["503", "429"])
    async def test_transient_fault_on_read_is_retried(
        self, conformance: ConformanceHarness, fault: str
    ) -> None:
        """One 503 (or 429 with Retry-After) while reading: retried, every record read once."""
        seeded = await self._seed(conformance.simulator, 3)
        mark = _last_seq(conformance.simulator)
        conformance.simulator.faults.add(_transient_fault(fault, self.source_fault_match))

        report, read = await self._read(conformance)

        _check_retried(report, conformance.waits, fault)
        _check_fault_and_retry(
            conformance.simulator,
            mark,
            fault,
            f"source_fault_match = {self.source_fault_match}",
            self.throttle_status,
        )
        assert Counter(read) == Counter(seeded), (
            f"after the retry the source read {sorted(read)}, not each of {sorted(seeded)} once"
        )


class SinkConformance(ConnectorConformance):
    """A sink: idempotent writes, a transient fault retried, a rejected record with its reason.

    Set ``sink_type`` (``sink_options``, ``sink_entity``, ``sink_matchers`` if needed) and define
    ``sink_records(count)``: ``count`` records as the sink receives them (target-side fields),
    keyed by how ``landed(simulator)`` names them; ``landed(simulator)``: the keys of every record
    the simulator holds, one per record (a duplicate shows twice); and ``rejected_record()``:
    one record the target refuses, with a fragment of the reason. ``sink_fault_match`` narrows
    which requests the injected faults hit (by default the first request of the run).
    """

    sink_type: ClassVar[str] = ""
    sink_options: ClassVar[Mapping[str, Any]] = {}
    sink_entity: ClassVar[str] = "record"
    sink_matchers: ClassVar[Sequence[Mapping[str, Any]]] = ()
    sink_fault_match: ClassVar[Mapping[str, Any]] = {}

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        """``count`` records to write: key (as ``landed`` reports it) -> target-side fields."""
        pytest.fail(f"{type(self).__name__} must define sink_records(count)")

    def landed(self, simulator: Any) -> Sequence[str] | Awaitable[Sequence[str]]:
        """The key of every record ``simulator`` holds (duplicates included)."""
        pytest.fail(f"{type(self).__name__} must define landed(simulator)")

    def rejected_record(self) -> RejectedRecord:
        """One record the target refuses, and a fragment of the reason it gives."""
        pytest.fail(f"{type(self).__name__} must define rejected_record()")

    def _sink_table(self) -> dict[str, Any] | None:
        if not self.sink_type:
            pytest.fail(f"{type(self).__name__} must set sink_type")
        return {"type": self.sink_type, **self.sink_options}

    def _matcher_tables(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self.sink_matchers]

    async def _landed(self, simulator: SimulatorLike) -> list[str]:
        return [str(k) for k in await _maybe(self.landed(simulator))]

    async def _write(self, conformance: ConformanceHarness, *, stop: bool = False) -> RunReport:
        settings = self.connection_settings(conformance.simulator)
        if stop:
            return await conformance.run_stopping_before_commit(WRITE_FLOW, settings)
        return await conformance.run(WRITE_FLOW, settings)

    async def _assert_each_once(
        self, conformance: ConformanceHarness, expected: Sequence[str], when: str
    ) -> None:
        held = await self._landed(conformance.simulator)
        twice = sorted(k for k, n in Counter(held).items() if n > 1)
        assert not twice, f"{when}, the simulator holds {twice} more than once: {sorted(held)}"
        assert sorted(held) == sorted(expected), (
            f"{when}, the simulator holds {sorted(held)}, not {sorted(expected)}"
        )

    @pytest.mark.anyio
    async def test_writes_land(self, conformance: ConformanceHarness) -> None:
        """A run writes every record once."""
        records = self.sink_records(3)
        conformance.queue(records, self.sink_entity)

        report = await self._write(conformance)

        assert report.summary.status == "succeeded", f"the run failed: {report.summary.error}"
        await self._assert_each_once(conformance, list(records), "after one run")

    @pytest.mark.anyio
    async def test_writing_the_same_changes_twice_changes_nothing(
        self, conformance: ConformanceHarness
    ) -> None:
        """The same changes written again (the flow's cursor reset): each record held once."""
        records = self.sink_records(3)
        conformance.queue(records, self.sink_entity)
        first = await self._write(conformance)
        assert first.summary.status == "succeeded", f"the run failed: {first.summary.error}"

        conformance.state.reset_flow(WRITE_FLOW)
        again = await self._write(conformance)

        assert again.summary.status == "succeeded", f"the rerun failed: {again.summary.error}"
        assert again.summary.total == len(records), "the rerun did not write the changes again"
        await self._assert_each_once(conformance, list(records), "after writing them twice")

    @pytest.mark.anyio
    async def test_rerun_after_a_stop_between_write_and_commit(
        self, conformance: ConformanceHarness
    ) -> None:
        """Stopped after a write, before its commit: the rerun leaves each record once."""
        records = self.sink_records(3)
        conformance.queue(records, self.sink_entity)

        stopped = await self._write(conformance, stop=True)
        assert stopped.summary.status == "failed", "the harness did not stop the engine"
        assert "EngineStopped" in (stopped.summary.error or ""), stopped.summary.error
        rerun = await self._write(conformance)

        assert rerun.summary.status == "succeeded", f"the rerun failed: {rerun.summary.error}"
        await self._assert_each_once(conformance, list(records), "after the stop and the rerun")

    @pytest.mark.anyio
    @pytest.mark.parametrize("fault", ["503", "429"])
    async def test_transient_fault_on_write_is_retried(
        self, conformance: ConformanceHarness, fault: str
    ) -> None:
        """One 503 (or 429 with Retry-After) while writing: retried, each record held once."""
        records = self.sink_records(3)
        conformance.queue(records, self.sink_entity)
        mark = _last_seq(conformance.simulator)
        conformance.simulator.faults.add(_transient_fault(fault, self.sink_fault_match))

        report = await self._write(conformance)

        _check_retried(report, conformance.waits, fault)
        _check_fault_and_retry(
            conformance.simulator,
            mark,
            fault,
            f"sink_fault_match = {self.sink_fault_match}",
            self.throttle_status,
        )
        await self._assert_each_once(conformance, list(records), f"after the retried {fault}")

    @pytest.mark.anyio
    async def test_a_rejected_record_carries_its_reason(
        self, conformance: ConformanceHarness
    ) -> None:
        """A record the target refuses ends REJECTED, kept in failed records with the reason;
        the records around it land."""
        good = self.sink_records(2)
        bad = self.rejected_record()
        first, second = list(good.items())
        conformance.queue(dict([first]), self.sink_entity)
        conformance.queue({bad.key: bad.fields}, self.sink_entity)
        conformance.queue(dict([second]), self.sink_entity)

        report = await self._write(conformance)

        assert report.summary.status == "succeeded", f"the run failed: {report.summary.error}"
        outcomes = {row.record: row for row in conformance.state.run_outcomes(report.run_id)}
        assert bad.key in outcomes, f"no outcome for {bad.key}: {sorted(outcomes)}"
        assert outcomes[bad.key].outcome == "rejected", (
            f"{bad.key} ended {outcomes[bad.key].outcome!r}, not 'rejected' "
            f"(reason: {outcomes[bad.key].reason})"
        )
        failed = [
            f
            for f in conformance.state.list_failed(flow=WRITE_FLOW)
            if f.change["keys"]["key"] == bad.key
        ]
        assert len(failed) == 1, f"failed records hold {len(failed)} entries for {bad.key}"
        reason = failed[0].reason
        assert bad.reason in reason, (
            f"the rejected record's reason is {reason!r}; it should say why "
            f"(expected it to contain {bad.reason!r}). Put it in BatchResult.reasons."
        )
        await self._assert_each_once(conformance, list(good), "around the rejected record")


class _RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests on and keeps each one with the status it got, for redelivering."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[httpx.Request, bytes, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        self.sent.append((request, body, response.status_code))
        return response


class WebhookSourceConformance(ConnectorConformance):
    """A webhook source: pushed changes read once, a redelivery not read twice, a forged
    delivery refused.

    Set ``source_type`` (and ``source_options``) and define ``push_changes(simulator, count,
    url, transport)``: make ``count`` records change in the simulator (each test starts from an
    empty one) and have it deliver its webhooks for them to ``url`` through ``transport`` (an
    ``httpx`` transport to syncframe's serve app: register the webhook with the simulator, or
    set the simulator's delivery transport to it, and deliver); return the keys the source
    reports the changes under (``Change.key``). It may be a coroutine.
    """

    source_type: ClassVar[str] = ""
    source_options: ClassVar[Mapping[str, Any]] = {}

    def push_changes(
        self, simulator: Any, count: int, url: str, transport: httpx.AsyncBaseTransport
    ) -> Sequence[str] | Awaitable[Sequence[str]]:
        """Change ``count`` records in ``simulator`` and deliver their webhooks to ``url``."""
        pytest.fail(f"{type(self).__name__} must define push_changes(simulator, count, ...)")

    def _source_table(self) -> dict[str, Any] | None:
        if not self.source_type:
            pytest.fail(f"{type(self).__name__} must set source_type")
        return {"type": self.source_type, **self.source_options}

    async def _push(
        self, conformance: ConformanceHarness, engine: Any, count: int
    ) -> tuple[list[str], _RecordingTransport]:
        from syncframe.serve import service_app

        transport = _RecordingTransport(httpx.ASGITransport(app=service_app(engine)))
        url = f"http://syncframe.serve/webhooks/{READ_FLOW}"
        keys = await _maybe(self.push_changes(conformance.simulator, count, url, transport))
        keys = [str(k) for k in keys]
        assert len(keys) == count, f"push_changes returned {len(keys)} keys for {count} records"
        assert transport.sent, f"push_changes delivered nothing to {url}"
        return keys, transport

    @pytest.mark.anyio
    async def test_pushed_changes_are_read_once(self, conformance: ConformanceHarness) -> None:
        """Changes the simulator delivers are stored, read and handed on, each once."""
        settings = self.connection_settings(conformance.simulator)
        with conformance.engine(settings) as engine:
            keys, transport = await self._push(conformance, engine, 3)

        refused = [(r.url.path, status) for r, _, status in transport.sent if status >= 300]
        assert not refused, f"syncframe refused deliveries of the simulator: {refused}"
        read = [change.key for change in conformance.take_captured()]
        assert Counter(read) == Counter(keys), (
            f"the deliveries gave {sorted(read)}, not each of the pushed {sorted(keys)} once"
        )

    @pytest.mark.anyio
    async def test_a_redelivery_is_not_read_twice(self, conformance: ConformanceHarness) -> None:
        """The same deliveries sent again are answered 200 and nothing is read again."""
        settings = self.connection_settings(conformance.simulator)
        with conformance.engine(settings) as engine:
            keys, transport = await self._push(conformance, engine, 2)
            first = [change.key for change in conformance.take_captured()]
            async with httpx.AsyncClient(transport=transport) as client:
                for request, body, _ in list(transport.sent):
                    again = await client.request(
                        request.method, request.url, headers=request.headers, content=body
                    )
                    assert again.status_code == 200, (
                        f"a redelivery got {again.status_code}: {again.text}"
                    )

        assert Counter(first) == Counter(keys)
        twice = [change.key for change in conformance.take_captured()]
        assert twice == [], f"redeliveries were read again: {twice}"

    @pytest.mark.anyio
    async def test_a_forged_delivery_is_refused(self, conformance: ConformanceHarness) -> None:
        """A delivery whose body was altered after signing is refused and nothing is kept."""
        settings = self.connection_settings(conformance.simulator)
        with conformance.engine(settings) as engine:
            _, transport = await self._push(conformance, engine, 1)
            conformance.take_captured()
            stored = len(conformance.state.inbox_read(READ_FLOW, 0, 1_000_000))
            request, body, _ = transport.sent[0]
            forged = body.replace(b"}", b' , "forged": true}', 1) if b"}" in body else body + b"x"
            async with httpx.AsyncClient(transport=transport) as client:
                answer = await client.request(
                    request.method, request.url, headers=request.headers, content=forged
                )

        assert 400 <= answer.status_code < 500, (
            f"a delivery altered after signing got {answer.status_code}: {answer.text}"
        )
        assert len(conformance.state.inbox_read(READ_FLOW, 0, 1_000_000)) == stored
        assert conformance.take_captured() == []
