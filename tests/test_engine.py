"""The runner: batches, outcomes, retries, failed records, dry runs, recovery and backpressure."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from syncframe import hookimpl
from syncframe.components import (
    BatchResult,
    Filter,
    GuardVerdict,
    LoopGuard,
    MatchAction,
    MatchDecision,
    Matcher,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    TargetLookup,
    TargetRecord,
    TransientError,
    WritePlan,
)
from syncframe.config import load_config
from syncframe.engine import BUFFERED_BATCHES, Engine, FlowNotFound
from syncframe.host import Host
from syncframe.records import Change, Operation
from syncframe.state import open_state
from syncframe.state.base import Inflight

pytestmark = pytest.mark.anyio


class World:
    """What the test components read and write: one instance per test."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []  # the source's records, in change order
        self.target: dict[str, dict[str, Any]] = {}
        self.applied: list[str] = []  # change ids, every time the sink applied one
        self.tokens: set[str] = set()
        self.write_faults: list[Exception] = []  # raised by the next writes, in order
        self.read_faults: dict[int, Exception] = {}  # batch index -> raise before yielding it
        self.poison: set[str] = set()  # keys whose write raises PermanentError
        self.produced = 0
        self.max_ahead = 0
        self.written_batches = 0
        self.segments: list[str | None] = []  # WritePlan.segment of every write
        self.prepared: list[list[str]] = []  # fields of every TargetLookup.prepare
        self.prepare_done: anyio.Event | None = None  # set when prepare ends (if given)
        self.first_read_waits_for_prepare = False
        self.prepare_fault: Exception | None = None
        self.prepare_hangs = False
        self.prepare_cancelled = False


WORLD = World()


class ListSource(Source[BaseModel]):
    """Reads WORLD.records; the cursor is the index of the next record."""

    entity: ClassVar[str] = "person"

    async def read(self, cursor: Any, batch_size: int) -> AsyncIterator[SourceBatch]:
        start = cursor or 0
        if WORLD.first_read_waits_for_prepare:
            assert WORLD.prepare_done is not None
            with anyio.fail_after(5):  # never, unless the lookup is prepared after the read
                await WORLD.prepare_done.wait()
        for index in range(start, len(WORLD.records), batch_size):
            batch_no = index // batch_size
            fault = WORLD.read_faults.pop(batch_no, None)
            if fault is not None:
                raise fault
            chunk = WORLD.records[index : index + batch_size]
            changes = [
                Change("people", "person", {"id": r["id"]}, Operation.UPDATE, dict(r))
                for r in chunk
            ]
            WORLD.produced += 1
            WORLD.max_ahead = max(WORLD.max_ahead, WORLD.produced - WORLD.written_batches)
            yield SourceBatch(changes, index + len(chunk), segment=f"part-{index // 4}")


class DictLookup(TargetLookup):
    async def prepare(self, fields: Sequence[str]) -> None:
        WORLD.prepared.append(list(fields))
        try:
            if WORLD.prepare_hangs:
                await anyio.sleep_forever()
            if WORLD.prepare_fault is not None:
                raise WORLD.prepare_fault
        except anyio.get_cancelled_exc_class():
            WORLD.prepare_cancelled = True
            raise
        finally:
            if WORLD.prepare_done is not None:
                WORLD.prepare_done.set()

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        found: dict[str, list[TargetRecord]] = {}
        for key, record in WORLD.target.items():
            if record.get(field) in values:
                found.setdefault(record[field], []).append(TargetRecord(key, record))
        return found


class DictSink(Sink[BaseModel]):
    """Writes into WORLD.target, transactional through WORLD.tokens."""

    async def was_applied(self, token: str) -> bool:
        return token in WORLD.tokens

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        WORLD.segments.append(plan.segment)
        if WORLD.write_faults:
            raise WORLD.write_faults.pop(0)
        for change in changes:
            if change.key in WORLD.poison:
                raise PermanentError(f"target refuses {change.key}")
        result = BatchResult([])
        for i, change in enumerate(changes):
            key = (plan.targets[i] if plan.targets else None) or change.key
            if change.fields.get("status") == "invalid":
                result.outcomes.append(Outcome.REJECTED)
                result.reasons[i] = f"{change.describe()}: status 'invalid' is not accepted"
                continue
            before = WORLD.target.get(key)
            if before == change.fields:
                result.outcomes.append(Outcome.UNCHANGED)
            else:
                result.outcomes.append(Outcome.CREATED if before is None else Outcome.UPDATED)
                if not plan.dry_run:
                    WORLD.target[key] = dict(change.fields)
                    WORLD.applied.append(change.change_id)
            result.target_keys[i] = key
        if not plan.dry_run:
            WORLD.tokens.add(plan.token)
            WORLD.written_batches += 1
        return result

    def lookup(self) -> TargetLookup:
        return DictLookup()


class NoVips(Filter[BaseModel]):
    """Drops records marked vip."""

    def reason_to_drop(self, change: Change) -> str | None:
        return "vip records stay out" if change.fields.get("vip") == "yes" else None


class FrozenGuard(LoopGuard[BaseModel]):
    """Blocks records whose name is 'frozen'."""

    async def screen(self, changes: Sequence[Change]) -> list[GuardVerdict | None]:
        return [
            GuardVerdict("frozen by test") if c.fields.get("name") == "frozen" else None
            for c in changes
        ]


class EmailMatcher(Matcher[BaseModel]):
    """Matches on email; rejects two matches; leaves the rest undecided."""

    def lookup_fields(self) -> Sequence[str]:
        return ["email"]

    async def decide(
        self, changes: Sequence[Change], target: TargetLookup | None
    ) -> list[MatchDecision | None]:
        assert target is not None
        found = await target.find("email", [c.fields.get("email", "") for c in changes])
        out: list[MatchDecision | None] = []
        for c in changes:
            hits = found.get(c.fields.get("email", ""), [])
            if len(hits) == 1:
                out.append(MatchDecision(MatchAction.MATCH, "same email", hits[0].key))
            elif len(hits) > 1:
                out.append(MatchDecision(MatchAction.REJECT, f"{len(hits)} records share it"))
            else:
                out.append(None)
        return out


class _Open(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnginePlugin:
    """The test components, registered the way any plugin registers them."""

    __name__ = "engine_test_plugin"

    @hookimpl
    def syncframe_register_sources(self, register: Any) -> None:
        register("list", ListSource)

    @hookimpl
    def syncframe_register_sinks(self, register: Any) -> None:
        register("dict", DictSink)

    @hookimpl
    def syncframe_register_filters(self, register: Any) -> None:
        register("no_vips", NoVips)

    @hookimpl
    def syncframe_register_loop_guards(self, register: Any) -> None:
        register("frozen", FrozenGuard)

    @hookimpl
    def syncframe_register_matchers(self, register: Any) -> None:
        register("email", EmailMatcher)


class Observer:
    __name__ = "observer"

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def syncframe_run_started(self, run: Any) -> None:
        self.events.append(("started", run.flow))

    @hookimpl
    def syncframe_batch_committed(self, run: Any, changes: Any, result: Any) -> None:
        self.events.append(("batch", [o.value for o in result.outcomes]))

    @hookimpl
    def syncframe_run_finished(self, run: Any, summary: Any) -> None:
        self.events.append(("finished", summary.status))


FLOW = """
[connections]

[flows.people]
batch_size = {batch_size}
{extra}

[flows.people.source]
type = "list"

[flows.people.sink]
type = "dict"
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def world() -> World:
    global WORLD
    WORLD = World()
    return WORLD


def make_engine(
    tmp_path: Path, *, batch_size: int = 2, extra: str = "", tables: str = "", observer: Any = None
) -> Engine:
    text = FLOW.format(batch_size=batch_size, extra=extra) + textwrap.dedent(tables)
    path = tmp_path / "flow.toml"
    path.write_text(text)
    plugins: list[object] = [EnginePlugin()]
    if observer is not None:
        plugins.append(observer)
    host = Host(plugins=plugins, entry_points=False)
    config = load_config(path, host.registry)
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    engine = Engine(config, host, state=open_state("sqlite://:memory:"), sleep=no_sleep)
    engine.waits = waits  # type: ignore[attr-defined]
    return engine


def people(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"id": str(i), "name": f"Person {i}", "email": f"p{i}@example.org", **extra}
        for i in range(n)
    ]


class TestBatches:
    """Batches land, the cursor moves, a rerun writes nothing."""

    async def test_every_record_lands_and_rerun_writes_nothing(self, tmp_path: Path) -> None:
        WORLD.records = people(5)
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people")
        assert report.summary.status == "succeeded"
        assert report.summary.counts == {"created": 5}
        assert report.summary.batches == 3
        assert sorted(WORLD.target) == ["0", "1", "2", "3", "4"]
        assert WORLD.target["3"]["name"] == "Person 3"
        checkpoint = engine.state.get_checkpoint("people")
        assert checkpoint is not None
        assert checkpoint.cursor == 5

        again = await engine.run_flow("people")
        assert again.summary.counts == {}
        assert len(WORLD.applied) == 5

    async def test_the_sink_is_told_the_segment_of_each_batch(self, tmp_path: Path) -> None:
        WORLD.records = people(5)
        engine = make_engine(tmp_path)
        await engine.run_flow("people")
        # batches of 2 from records 0, 2 and 4: segments part-0, part-0, part-1
        assert WORLD.segments == ["part-0", "part-0", "part-1"]

    async def test_new_records_only_are_read_next_time(self, tmp_path: Path) -> None:
        WORLD.records = people(3)
        engine = make_engine(tmp_path)
        await engine.run_flow("people")
        WORLD.records.append({"id": "9", "name": "Late", "email": "late@example.org"})
        report = await engine.run_flow("people")
        assert report.summary.counts == {"created": 1}
        assert WORLD.target["9"]["name"] == "Late"

    async def test_history_keeps_every_outcome(self, tmp_path: Path) -> None:
        WORLD.records = people(3)
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people")
        rows = list(engine.state.run_outcomes(report.run_id))
        assert [(r.record, r.outcome) for r in rows] == [
            ("0", "created"),
            ("1", "created"),
            ("2", "created"),
        ]
        run = engine.state.get_run(report.run_id)
        assert run is not None
        assert run.status == "succeeded"
        assert run.counts == {"created": 3}

    async def test_unknown_flow_names_the_flows(self, tmp_path: Path) -> None:
        engine = make_engine(tmp_path)
        with pytest.raises(FlowNotFound, match="flows: people"):
            await engine.run_flow("nope")

    async def test_source_is_held_back_by_the_sink(self, tmp_path: Path) -> None:
        WORLD.records = people(40)
        engine = make_engine(tmp_path, batch_size=1)
        await engine.run_flow("people")
        # The source may only run a bounded number of batches ahead of the sink.
        assert WORLD.max_ahead <= BUFFERED_BATCHES + 2
        assert len(WORLD.target) == 40


MATCH_BY_EMAIL = """
[[flows.people.matchers]]
type = "email"
"""


class TestLookupPreparation:
    """The sink's lookup loads what the matchers find by while the first batch is read."""

    async def test_prepared_with_the_matchers_fields_beside_the_first_read(
        self, tmp_path: Path
    ) -> None:
        WORLD.records = people(3)
        WORLD.target = {"k": {"email": "p1@example.org", "name": "Old"}}
        # The source reads nothing until the lookup is prepared: a run that prepared only
        # after the first batch would time out here.
        WORLD.prepare_done = anyio.Event()
        WORLD.first_read_waits_for_prepare = True
        engine = make_engine(tmp_path, batch_size=10, tables=MATCH_BY_EMAIL)
        report = await engine.run_flow("people")
        assert report.summary.status == "succeeded"
        assert WORLD.prepared == [["email"]]
        assert report.summary.counts == {"created": 2, "updated": 1}
        assert WORLD.target["k"]["name"] == "Person 1"

    async def test_a_failed_preparation_is_left_to_the_lookups(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        WORLD.records = people(2)
        WORLD.target = {"k": {"email": "p0@example.org"}}
        WORLD.prepare_fault = TransientError("index not reachable")
        engine = make_engine(tmp_path, batch_size=10, tables=MATCH_BY_EMAIL)
        with caplog.at_level("INFO", logger="syncframe.engine"):
            report = await engine.run_flow("people")
        assert report.summary.status == "succeeded"
        assert report.summary.counts == {"created": 1, "updated": 1}
        assert "preparing the target lookup failed (index not reachable)" in caplog.text

    async def test_nothing_to_read_cancels_the_preparation(self, tmp_path: Path) -> None:
        WORLD.records = []
        WORLD.prepare_hangs = True
        engine = make_engine(tmp_path, batch_size=10, tables=MATCH_BY_EMAIL)
        with anyio.fail_after(5):
            report = await engine.run_flow("people")
        assert report.summary.status == "succeeded"
        assert WORLD.prepared == [["email"]]
        assert WORLD.prepare_cancelled

    async def test_no_matchers_no_preparation(self, tmp_path: Path) -> None:
        WORLD.records = people(2)
        engine = make_engine(tmp_path, batch_size=10)
        await engine.run_flow("people")
        assert WORLD.prepared == []


class TestDecisions:
    """Filters, guards, mapping, matchers and the sink each decide an outcome with a reason."""

    async def test_each_stage_reports_its_outcome(self, tmp_path: Path) -> None:
        WORLD.records = [
            {"id": "1", "name": "Ann", "email": "ann@example.org"},
            {"id": "2", "name": "Vip", "email": "vip@example.org", "vip": "yes"},
            {"id": "3", "name": "frozen", "email": "f@example.org"},
            {"id": "4", "name": "Bad", "email": "bad@example.org", "status": "invalid"},
            {"id": "5", "name": "Twin", "email": "twin@example.org"},
            {"id": "6", "name": "Known", "email": "known@example.org"},
        ]
        WORLD.target = {
            "a": {"email": "twin@example.org"},
            "b": {"email": "twin@example.org"},
            "k": {"email": "known@example.org", "name": "Old"},
        }
        tables = """
        [[flows.people.filters]]
        type = "no_vips"
        [[flows.people.loop_guards]]
        type = "frozen"
        [[flows.people.matchers]]
        type = "email"
        """
        engine = make_engine(tmp_path, batch_size=10, tables=tables)
        report = await engine.run_flow("people")
        rows = {r.record: r for r in engine.state.run_outcomes(report.run_id)}
        assert rows["1"].outcome == "created"
        assert (rows["2"].outcome, rows["2"].reason) == ("filtered", "vip records stay out")
        assert (rows["3"].outcome, rows["3"].reason) == ("blocked", "frozen by test")
        assert rows["4"].outcome == "rejected"
        assert "status 'invalid'" in (rows["4"].reason or "")
        assert rows["5"].outcome == "rejected"
        assert "2 records share it" in (rows["5"].reason or "")
        assert (rows["6"].outcome, rows["6"].target_key) == ("updated", "k")
        assert WORLD.target["k"]["name"] == "Known"  # matched record updated, not duplicated
        failed = {f.change["keys"]["id"]: f for f in engine.state.list_failed("people")}
        assert sorted(failed) == ["4", "5"]
        assert "2 records share it" in failed["5"].reason

    async def test_step_log_keeps_each_records_way_through_the_flow(self, tmp_path: Path) -> None:
        WORLD.records = [
            {"id": "1", "name": "Ann", "email": "ann@example.org"},
            {"id": "2", "name": "Vip", "email": "vip@example.org", "vip": "yes"},
            {"id": "3", "name": "frozen", "email": "f@example.org"},
            {"id": "6", "name": "Known", "email": "known@example.org"},
        ]
        WORLD.target = {"k": {"email": "known@example.org", "name": "Old"}}
        tables = """
        [[flows.people.filters]]
        type = "no_vips"
        [[flows.people.loop_guards]]
        type = "frozen"
        [[flows.people.matchers]]
        type = "email"
        """
        engine = make_engine(tmp_path, batch_size=10, extra="step_log = true", tables=tables)
        report = await engine.run_flow("people")
        steps = {
            r.record: [(s["step"], s["outcome"], s["detail"]) for s in r.steps or []]
            for r in engine.state.run_outcomes(report.run_id)
        }
        read = "update people.person[id={}]: id, name, email"
        assert steps["1"] == [
            ("source", "read", read.format(1)),
            ("filters[0]", "passed", None),
            ("loop_guards[0]", "passed", None),
            ("matchers[0]", "not found", None),
            ("sink", "created", None),
        ]
        assert steps["2"] == [
            ("source", "read", read.format(2) + ", vip"),
            ("filters[0]", "filtered", "vip records stay out"),
        ]
        assert steps["3"][-1] == ("loop_guards[0]", "blocked", "frozen by test")
        assert steps["6"][-2:] == [
            ("matchers[0]", "match", "same email"),
            ("sink", "updated", None),
        ]

    async def test_without_step_log_history_has_no_steps(self, tmp_path: Path) -> None:
        WORLD.records = people(2)
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people")
        assert [r.steps for r in engine.state.run_outcomes(report.run_id)] == [None, None]

    async def test_mapping_renames_converts_and_rejects(self, tmp_path: Path) -> None:
        WORLD.records = [
            {"id": "1", "name": "  Ann  ", "email": "ANN@EXAMPLE.ORG"},
            {"id": "2", "name": "Bob", "email": ""},
        ]
        tables = """
        [flows.people.mapping.fields]
        FullName = { from = "name", convert = "strip" }
        Email = { from = "email", convert = "lower", required = true }
        Source = { value = "test" }
        """
        engine = make_engine(tmp_path, batch_size=10, tables=tables)
        report = await engine.run_flow("people")
        assert WORLD.target["1"] == {
            "FullName": "Ann",
            "Email": "ann@example.org",
            "Source": "test",
        }
        rows = {r.record: r for r in engine.state.run_outcomes(report.run_id)}
        assert rows["2"].outcome == "rejected"
        assert "'Email' is required" in (rows["2"].reason or "")


class TestFailures:
    """Transient failures are retried; permanent ones land in failed records."""

    async def test_transient_write_failure_is_retried(self, tmp_path: Path) -> None:
        WORLD.records = people(2)
        WORLD.write_faults = [TransientError("503 busy"), TransientError("429", retry_after=7)]
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people")
        assert report.summary.status == "succeeded"
        assert sorted(WORLD.target) == ["0", "1"]
        waits = engine.waits  # type: ignore[attr-defined]
        assert len(waits) == 2
        assert waits[1] == 7

    async def test_http_errors_count_as_transient(self, tmp_path: Path) -> None:
        WORLD.records = people(1)
        request = httpx.Request("GET", "http://127.0.0.1/x")
        WORLD.write_faults = [
            httpx.ConnectError("refused", request=request),
            httpx.ReadTimeout("slow", request=request),
        ]
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people")
        assert report.summary.status == "succeeded"
        assert "0" in WORLD.target

    async def test_exhausted_retries_fail_the_run_and_keep_the_cursor(self, tmp_path: Path) -> None:
        WORLD.records = people(4)
        engine = make_engine(tmp_path)
        await engine.run_flow("people")
        WORLD.records += people(6)[4:]
        WORLD.write_faults = [TransientError("down")] * 5
        report = await engine.run_flow("people")
        assert report.summary.status == "failed"
        assert "still failing after 5 tries" in (report.summary.error or "")
        checkpoint = engine.state.get_checkpoint("people")
        assert checkpoint is not None
        assert checkpoint.cursor == 4
        again = await engine.run_flow("people")
        assert again.summary.counts == {"created": 2}

    async def test_permanent_failure_isolates_the_record_and_retry_delivers_it(
        self, tmp_path: Path
    ) -> None:
        WORLD.records = people(4)
        WORLD.poison = {"2"}
        engine = make_engine(tmp_path, batch_size=4)
        report = await engine.run_flow("people")
        assert report.summary.counts == {"created": 3, "failed": 1}
        assert sorted(WORLD.target) == ["0", "1", "3"]
        [failed] = engine.state.list_failed("people")
        assert failed.change["keys"] == {"id": "2"}
        assert "target refuses 2" in failed.reason

        await engine.retry_failed(flow="people")  # still poisoned: stays open, one more attempt
        [still] = engine.state.list_failed("people")
        assert still.attempts == 2

        WORLD.poison.clear()
        [retry] = await engine.retry_failed(flow="people")
        assert retry.summary.counts == {"created": 1}
        assert WORLD.target["2"]["name"] == "Person 2"
        assert engine.state.list_failed("people") == []
        assert engine.state.get_checkpoint("people").cursor == 4  # type: ignore[union-attr]

    async def test_transient_read_failure_rereads_from_the_last_batch(self, tmp_path: Path) -> None:
        WORLD.records = people(6)
        WORLD.read_faults = {1: TransientError("reset")}
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people")
        assert report.summary.counts == {"created": 6}
        assert len(WORLD.applied) == 6

    async def test_permanent_read_failure_fails_the_run(self, tmp_path: Path) -> None:
        WORLD.records = people(6)
        WORLD.read_faults = {1: PermanentError("bad credentials")}
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people")
        assert report.summary.status == "failed"
        assert "bad credentials" in (report.summary.error or "")
        assert engine.state.get_checkpoint("people").cursor == 2  # type: ignore[union-attr]

    async def test_too_many_failures_stop_the_run(self, tmp_path: Path) -> None:
        WORLD.records = people(6, status="invalid")
        engine = make_engine(tmp_path, extra="max_failed_share = 0.5")
        report = await engine.run_flow("people")
        assert report.summary.status == "failed"
        assert "max_failed_share" in (report.summary.error or "")
        assert report.summary.batches == 1


class TestDryRun:
    """A dry run says what would be written, and why, and writes nothing."""

    async def test_dry_run_writes_nothing(self, tmp_path: Path) -> None:
        WORLD.records = people(3)
        WORLD.target = {"0": {"id": "0", "name": "Person 0", "email": "p0@example.org"}}
        engine = make_engine(tmp_path)
        report = await engine.run_flow("people", dry_run=True)
        assert [(p.record, p.outcome) for p in report.planned] == [
            ("people.person[id=0]", Outcome.UNCHANGED),
            ("people.person[id=1]", Outcome.CREATED),
            ("people.person[id=2]", Outcome.CREATED),
        ]
        assert sorted(WORLD.target) == ["0"]
        assert engine.state.get_checkpoint("people") is None
        assert engine.state.list_runs() == []


class TestRecovery:
    """A batch left in flight by a crash is committed if the sink applied it, else re-read."""

    async def test_applied_batch_is_committed_not_rewritten(self, tmp_path: Path) -> None:
        WORLD.records = people(4)
        engine = make_engine(tmp_path)
        # As if a run wrote the first batch and died before committing it.
        WORLD.tokens.add("people:dead:1")
        WORLD.target = {r["id"]: dict(r) for r in WORLD.records[:2]}
        engine.state.begin_batch(
            Inflight("people", 1, "people:dead:1", 2, "dead", engine.clock.now())
        )
        report = await engine.run_flow("people")
        assert report.summary.recovered_batch
        assert report.summary.counts == {"created": 2}  # only the second batch was written
        assert engine.state.get_inflight("people") is None

    async def test_unapplied_batch_is_read_again(self, tmp_path: Path) -> None:
        WORLD.records = people(4)
        engine = make_engine(tmp_path)
        engine.state.begin_batch(
            Inflight("people", 1, "people:dead:1", 2, "dead", engine.clock.now())
        )
        report = await engine.run_flow("people")
        assert not report.summary.recovered_batch
        assert report.summary.counts == {"created": 4}


class TestObservers:
    """Observer hooks see the run start, every batch's outcomes and the end."""

    async def test_observers_are_told(self, tmp_path: Path) -> None:
        WORLD.records = people(3)
        observer = Observer()
        engine = make_engine(tmp_path, observer=observer)
        await engine.run_flow("people")
        assert observer.events == [
            ("started", "people"),
            ("batch", ["created", "created"]),
            ("batch", ["created"]),
            ("finished", "succeeded"),
        ]


class TestHistory:
    """Run history tells what happened to runs that never finished."""

    async def test_a_cut_off_run_is_marked_interrupted(self, tmp_path: Path) -> None:
        from syncframe.state.base import RunRecord

        WORLD.records = people(1)
        engine = make_engine(tmp_path)
        engine.state.start_run(RunRecord("dead-run", "people", "flow.toml", engine.clock.now()))
        await engine.run_flow("people")
        dead = engine.state.get_run("dead-run")
        assert dead is not None
        assert dead.status == "interrupted"
        assert dead.error == "the process stopped before the run finished"
