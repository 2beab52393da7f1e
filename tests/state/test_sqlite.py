"""The SQLite state store: every StateStore method, atomicity, durability, streaming."""

from __future__ import annotations

import inspect
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from syncframe.clock import ManualClock
from syncframe.state import (
    AmbiguousRunIdError,
    BatchCommit,
    FailedRecord,
    Inflight,
    LedgerEntry,
    Link,
    OutcomeRow,
    RunRecord,
    SQLiteStateStore,
    StateError,
    StateStore,
)
from syncframe.state import sqlite as sqlite_module
from syncframe.state.sqlite import decode_outcomes, encode_outcomes

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

Opener = Callable[[], SQLiteStateStore]


def run(run_id: str = "run-1", flow: str = "gifts", started: datetime = T0) -> RunRecord:
    return RunRecord(run_id, flow, "/flows/sync.toml", started)


def commit(
    seq: int = 1,
    *,
    flow: str = "gifts",
    run_id: str = "run-1",
    cursor: Any = None,
    position: Any = None,
    outcomes: list[OutcomeRow] | None = None,
    **more: Any,
) -> BatchCommit:
    return BatchCommit(
        flow=flow,
        run_id=run_id,
        batch_seq=seq,
        cursor=cursor if cursor is not None else {"since": f"2026-01-0{seq}"},
        sink_position=position,
        outcomes=outcomes if outcomes is not None else [],
        **more,
    )


def ledger_entry(
    key: str, written: datetime, values: dict[str, Any] | None = None, **more: Any
) -> LedgerEntry:
    fields: dict[str, Any] = {
        "system": "mailchimp",
        "entity": "member",
        "key": key,
        "values": values if values is not None else {"email": f"{key}@example.org"},
        "source_system": "virtuous",
        "source_key": f"src-{key}",
        "flow": "contacts",
        "run_id": "run-1",
        "source_changed_at": written - timedelta(minutes=5),
        "written_at": written,
    }
    fields.update(more)
    return LedgerEntry(**fields)


def link(key_a: str, key_b: str, flow: str = "contacts") -> Link:
    return Link("virtuous", "contact", key_a, "mailchimp", "member", key_b, flow)


def failed(
    change_id: str, reason: str = "invalid email", run_id: str = "run-1", flow: str = "gifts"
) -> FailedRecord:
    change = {"system": "virtuous", "entity": "gift", "keys": {"id": change_id}, "fields": {}}
    return FailedRecord(flow, change_id, change, reason, run_id)


def everything_count(path: Path) -> dict[str, int]:
    """How many rows each table of the file holds (read with a separate connection)."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            "checkpoints",
            "inflight",
            "runs",
            "run_outcomes",
            "identity_map",
            "ledger",
            "failed_records",
        ]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


def test_implements_the_protocol_with_the_same_signatures() -> None:
    members = [
        name
        for name, value in vars(StateStore).items()
        if callable(value) and not name.startswith("_")
    ]
    assert "commit_batch" in members
    for name in members:
        ours = inspect.signature(getattr(SQLiteStateStore, name))
        theirs = inspect.signature(getattr(StateStore, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for param in theirs.parameters.values():
            assert ours.parameters[param.name].default == param.default, (name, param.name)


def test_connection_settings(store: SQLiteStateStore) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == sqlite_module.BUSY_TIMEOUT_MS


# ---- checkpoints and in-flight markers ----------------------------------------------------------


def test_checkpoint_is_none_before_the_first_batch(store: SQLiteStateStore) -> None:
    assert store.get_checkpoint("gifts") is None
    assert store.get_inflight("gifts") is None


def test_commit_moves_the_checkpoint(store: SQLiteStateStore, clock: ManualClock) -> None:
    store.start_run(run())
    cursor = {"since": "2026-01-01T00:00:00Z", "ids": [1, 2, 3], "page": None}
    store.commit_batch(commit(1, cursor=cursor, position={"offset": 120}))
    clock.advance(minutes=1)
    store.commit_batch(commit(2, cursor={"since": "later"}, position=7))

    checkpoint = store.get_checkpoint("gifts")
    assert checkpoint is not None
    assert checkpoint.flow == "gifts"
    assert checkpoint.cursor == {"since": "later"}
    assert checkpoint.sink_position == 7
    assert checkpoint.batch_seq == 2
    assert checkpoint.updated_at == clock.now()
    assert checkpoint.updated_at.tzinfo is not None
    assert store.get_checkpoint("other-flow") is None


def test_checkpoint_values_round_trip(store: SQLiteStateStore) -> None:
    store.start_run(run())
    cursor = {"since": "2026-01-01T00:00:00Z", "ids": [1, 2, 3], "page": None, "ok": True}
    store.commit_batch(commit(1, cursor=cursor, position=["a", 1.5]))
    checkpoint = store.get_checkpoint("gifts")
    assert checkpoint is not None
    assert checkpoint.cursor == cursor
    assert checkpoint.sink_position == ["a", 1.5]


def test_begin_batch_records_and_replaces_the_inflight_marker(store: SQLiteStateStore) -> None:
    started = T0 + timedelta(seconds=3)
    store.begin_batch(Inflight("gifts", 1, "gifts:run-1:1", {"since": 1}, "run-1", started))
    store.begin_batch(Inflight("gifts", 2, "gifts:run-1:2", {"since": 2}, "run-1", started))
    store.begin_batch(Inflight("other", 9, "other:run-2:9", None, "run-2", started))

    inflight = store.get_inflight("gifts")
    assert inflight == Inflight("gifts", 2, "gifts:run-1:2", {"since": 2}, "run-1", started)
    other = store.get_inflight("other")
    assert other is not None
    assert other.cursor_after is None


def test_clear_inflight_forgets_only_that_flow(store: SQLiteStateStore) -> None:
    store.begin_batch(Inflight("gifts", 1, "t1", 1, "run-1", T0))
    store.begin_batch(Inflight("other", 1, "t2", 1, "run-1", T0))
    store.clear_inflight("gifts")
    store.clear_inflight("never-started")  # harmless
    assert store.get_inflight("gifts") is None
    assert store.get_inflight("other") is not None


def test_commit_clears_the_inflight_marker_of_its_flow(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.begin_batch(Inflight("gifts", 1, "gifts:run-1:1", {"since": 1}, "run-1", T0))
    store.begin_batch(Inflight("other", 1, "other:run-1:1", {"since": 1}, "run-1", T0))
    store.commit_batch(commit(1))
    assert store.get_inflight("gifts") is None
    assert store.get_inflight("other") is not None


def test_commit_without_moving_the_cursor_keeps_cursor_and_inflight(
    store: SQLiteStateStore,
) -> None:
    store.start_run(run())
    store.start_run(run("retry-1"))
    store.commit_batch(commit(1, cursor={"since": "a"}, position=10, failed=[failed("c1")]))
    store.begin_batch(Inflight("gifts", 2, "gifts:run-1:2", {"since": "b"}, "run-1", T0))

    retry = commit(
        1,
        run_id="retry-1",
        cursor=None,
        position=99,
        move_cursor=False,
        outcomes=[OutcomeRow("id=1", "created", target_key="T1")],
        ledger=[ledger_entry("m1", T0)],
        resolved_failed=["c1"],
    )
    retry.cursor = None
    store.commit_batch(retry)

    checkpoint = store.get_checkpoint("gifts")
    assert checkpoint is not None
    # The cursor stays; the sink position follows what the retry batch wrote.
    assert (checkpoint.cursor, checkpoint.sink_position, checkpoint.batch_seq) == (
        {"since": "a"},
        99,
        1,
    )
    inflight = store.get_inflight("gifts")
    assert inflight is not None
    assert inflight.token == "gifts:run-1:2"
    # Everything else of the retry batch landed.
    assert [row.record for row in store.run_outcomes("retry-1")] == ["id=1"]
    assert "m1" in store.ledger_get("mailchimp", "member", ["m1"])
    assert store.list_failed("gifts") == []
    assert [f.change_id for f in store.list_failed("gifts", status="resolved")] == ["c1"]


def test_reset_flow_forgets_checkpoint_and_inflight_only(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, outcomes=[OutcomeRow("id=1", "created")], failed=[failed("c1")]))
    store.commit_batch(commit(1, flow="other"))
    store.begin_batch(Inflight("gifts", 2, "t", 2, "run-1", T0))

    store.reset_flow("gifts")

    assert store.get_checkpoint("gifts") is None
    assert store.get_inflight("gifts") is None
    assert store.get_checkpoint("other") is not None
    # History and failed records are not part of a flow's position.
    assert len(list(store.run_outcomes("run-1"))) == 1
    assert len(store.list_failed("gifts")) == 1


# ---- identity map -------------------------------------------------------------------------------


def test_find_links_in_both_directions(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, links=[link("v1", "m1"), link("v2", "m2")]))

    assert store.find_links("virtuous", "contact", ["v1", "v2", "v3"], "mailchimp") == {
        "v1": "m1",
        "v2": "m2",
    }
    assert store.find_links("mailchimp", "member", ["m2", "m1"], "virtuous") == {
        "m1": "v1",
        "m2": "v2",
    }
    assert store.find_links("virtuous", "contact", ["v1"], "salesforce") == {}
    assert store.find_links("virtuous", "gift", ["v1"], "mailchimp") == {}
    assert store.find_links("virtuous", "contact", [], "mailchimp") == {}


def test_find_links_with_many_keys(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, links=[link(f"v{i}", f"m{i}") for i in range(5000)]))
    keys = [f"v{i}" for i in range(0, 6000, 2)]
    found = store.find_links("virtuous", "contact", keys, "mailchimp")
    assert found == {f"v{i}": f"m{i}" for i in range(0, 5000, 2)}


def test_a_newer_link_replaces_the_older_on_both_sides(
    store: SQLiteStateStore, db_path: Path
) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, links=[link("v1", "m1"), link("v2", "m2")]))
    # v1 is now m2: m1 loses its partner, v2 loses m2.
    store.commit_batch(commit(2, links=[link("v1", "m2")]))

    assert store.find_links("virtuous", "contact", ["v1", "v2"], "mailchimp") == {"v1": "m2"}
    assert store.find_links("mailchimp", "member", ["m1", "m2"], "virtuous") == {"m2": "v1"}
    assert everything_count(db_path)["identity_map"] == 2


def test_links_of_one_batch_apply_in_order(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, links=[link("v0", "m0")]))
    # The same record twice in one batch: the later link wins, as if committed one by one.
    store.commit_batch(
        commit(2, links=[link("v1", "m0"), link("v1", "m1"), link("v2", "m2"), link("v3", "m2")])
    )

    assert store.find_links("virtuous", "contact", ["v0", "v1", "v2", "v3"], "mailchimp") == {
        "v1": "m1",
        "v3": "m2",
    }
    assert store.find_links("mailchimp", "member", ["m0", "m1", "m2"], "virtuous") == {
        "m1": "v1",
        "m2": "v3",
    }


def test_links_to_several_systems_coexist(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.commit_batch(
        commit(
            1,
            links=[
                link("v1", "m1"),
                Link("virtuous", "contact", "v1", "salesforce", "Contact", "003A", "to-sf"),
            ],
        )
    )
    assert store.find_links("virtuous", "contact", ["v1"], "mailchimp") == {"v1": "m1"}
    assert store.find_links("virtuous", "contact", ["v1"], "salesforce") == {"v1": "003A"}
    assert store.find_links("salesforce", "Contact", ["003A"], "virtuous") == {"003A": "v1"}
    assert store.find_links("salesforce", "Contact", ["003A"], "mailchimp") == {}


# ---- loop-guard ledger --------------------------------------------------------------------------


def test_ledger_get_returns_what_was_written(store: SQLiteStateStore) -> None:
    store.start_run(run())
    entry = ledger_entry("m1", T0, {"email": "a@example.org", "amount": 10, "tags": ["x"]})
    store.commit_batch(commit(1, ledger=[entry, ledger_entry("m2", T0)]))

    found = store.ledger_get("mailchimp", "member", ["m1", "m3"])
    assert found == {"m1": entry}
    assert found["m1"].written_at.tzinfo is not None
    assert store.ledger_get("mailchimp", "list", ["m1"]) == {}
    assert store.ledger_get("mailchimp", "member", []) == {}


def test_ledger_newest_wins(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, ledger=[ledger_entry("m1", T0, {"v": "first"})]))
    later = ledger_entry("m1", T0 + timedelta(minutes=5), {"v": "newer"}, run_id="run-2")
    store.commit_batch(commit(2, ledger=[later]))
    # A write stamped earlier than the stored one does not replace it...
    store.commit_batch(commit(3, ledger=[ledger_entry("m1", T0 + timedelta(minutes=1))]))
    assert store.ledger_get("mailchimp", "member", ["m1"])["m1"] == later
    # ...one at the same time or later does.
    same = ledger_entry("m1", later.written_at, {"v": "same time, later commit"})
    store.commit_batch(commit(4, ledger=[same]))
    assert store.ledger_get("mailchimp", "member", ["m1"])["m1"].values == {
        "v": "same time, later commit"
    }


def test_ledger_latest_is_the_most_recent_write_from_that_source(
    store: SQLiteStateStore,
) -> None:
    store.start_run(run())
    assert store.ledger_latest("mailchimp", "virtuous") is None
    newest = ledger_entry("m2", T0 + timedelta(hours=2), entity="list")
    store.commit_batch(
        commit(
            1,
            ledger=[
                ledger_entry("m1", T0 + timedelta(hours=1)),
                newest,
                ledger_entry("m3", T0 + timedelta(hours=3), source_system="salesforce"),
                ledger_entry("x", T0 + timedelta(hours=4), system="virtuous"),
            ],
        )
    )
    assert store.ledger_latest("mailchimp", "virtuous") == newest
    latest_sf = store.ledger_latest("mailchimp", "salesforce")
    assert latest_sf is not None
    assert latest_sf.key == "m3"
    assert store.ledger_latest("salesforce", "virtuous") is None


def test_ledger_values_that_json_lacks(store: SQLiteStateStore) -> None:
    store.start_run(run())
    written = datetime(2026, 3, 1, 12, 30)  # naive: taken as UTC
    entry = ledger_entry("m1", written, {"amount": Decimal("12.50"), "when": T0, "tags": {"a"}})
    store.commit_batch(commit(1, ledger=[entry]))
    stored = store.ledger_get("mailchimp", "member", ["m1"])["m1"]
    assert stored.values == {"amount": "12.50", "when": "2026-01-01T09:00:00+00:00", "tags": ["a"]}
    assert stored.written_at == written.replace(tzinfo=UTC)


def test_timestamps_are_stored_as_utc_iso_text(store: SQLiteStateStore, db_path: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    store.start_run(run(started=datetime(2026, 5, 1, 14, 0, tzinfo=plus_two)))
    conn = sqlite3.connect(db_path)
    try:
        (started,) = conn.execute("SELECT started_at FROM runs").fetchone()
    finally:
        conn.close()
    assert started == "2026-05-01T12:00:00.000000+00:00"
    record = store.get_run("run-1")
    assert record is not None
    assert record.started_at == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


# ---- runs ---------------------------------------------------------------------------------------


def test_start_and_finish_a_run(store: SQLiteStateStore, clock: ManualClock) -> None:
    record = RunRecord(
        "run-1", "gifts", "/flows/sync.toml", T0, dry_run=True, kind="retry", counts={}
    )
    store.start_run(record)
    assert store.get_run("run-1") == record

    clock.advance(minutes=3)
    store.finish_run("run-1", "failed", {"created": 3, "failed": 1}, "sink said no")

    finished = store.get_run("run-1")
    assert finished is not None
    assert finished.status == "failed"
    assert finished.counts == {"created": 3, "failed": 1}
    assert finished.error == "sink said no"
    assert finished.finished_at == clock.now()
    assert (finished.dry_run, finished.kind, finished.started_at) == (True, "retry", T0)


def test_finish_an_unknown_run_raises(store: SQLiteStateStore) -> None:
    with pytest.raises(StateError, match="nope"):
        store.finish_run("nope", "succeeded", {}, None)


def test_a_run_id_is_recorded_once(store: SQLiteStateStore) -> None:
    store.start_run(run())
    with pytest.raises(sqlite3.IntegrityError):
        store.start_run(run())


def test_list_runs_most_recent_first(store: SQLiteStateStore) -> None:
    store.start_run(run("a", "gifts", T0))
    store.start_run(run("b", "contacts", T0 + timedelta(minutes=1)))
    store.start_run(run("c", "gifts", T0 + timedelta(minutes=2)))
    store.start_run(run("d", "gifts", T0 + timedelta(minutes=2)))  # same time: recorded later

    assert [r.run_id for r in store.list_runs()] == ["d", "c", "b", "a"]
    assert [r.run_id for r in store.list_runs(flow="gifts")] == ["d", "c", "a"]
    assert [r.run_id for r in store.list_runs(limit=2)] == ["d", "c"]
    assert [r.run_id for r in store.list_runs(flow="gifts", limit=1)] == ["d"]
    assert store.list_runs(flow="nothing") == []
    assert store.list_runs(limit=0) == []


def test_get_run_by_unique_prefix(store: SQLiteStateStore) -> None:
    for run_id in ["20260101-abc", "20260101-abd", "20260102-xyz", "2026"]:
        store.start_run(run(run_id))

    found = store.get_run("20260102")
    assert found is not None
    assert found.run_id == "20260102-xyz"
    exact = store.get_run("2026")  # an exact id wins over being a prefix of others
    assert exact is not None
    assert exact.run_id == "2026"
    assert store.get_run("20260103") is None
    assert store.get_run("") is None
    with pytest.raises(AmbiguousRunIdError, match=r"20260101-abc, 20260101-abd"):
        store.get_run("20260101-ab")
    with pytest.raises(LookupError):
        store.get_run("20260101")


# ---- run outcomes -------------------------------------------------------------------------------


def test_outcome_rows_round_trip(store: SQLiteStateStore) -> None:
    store.start_run(run())
    rows = [
        OutcomeRow("id=1", "created", target_key="M1"),
        OutcomeRow("id=2", "failed", "invalid email", None, "c2"),
        OutcomeRow("id=3", "skipped"),
        OutcomeRow("id=4", "updated", "matched on email", "M4", "c4"),
    ]
    store.commit_batch(commit(1, outcomes=rows))
    assert list(store.run_outcomes("run-1")) == rows
    assert decode_outcomes(encode_outcomes(rows)) == rows


def test_run_outcomes_stream_in_commit_order(store: SQLiteStateStore, db_path: Path) -> None:
    store.start_run(run("run-1"))
    store.start_run(run("run-2"))
    # Batches of two runs interleaved, batch numbers out of order (a recovered batch).
    store.commit_batch(commit(5, outcomes=[OutcomeRow("a1", "created"), OutcomeRow("a2", "x")]))
    store.commit_batch(commit(1, run_id="run-2", outcomes=[OutcomeRow("b1", "created")]))
    store.commit_batch(commit(2, outcomes=[]))  # no rows: nothing stored
    store.commit_batch(commit(1, outcomes=[OutcomeRow("a3", "updated")]))

    assert inspect.isgenerator(store.run_outcomes("run-1"))
    assert [r.record for r in store.run_outcomes("run-1")] == ["a1", "a2", "a3"]
    assert [r.record for r in store.run_outcomes("run-2")] == ["b1"]
    assert list(store.run_outcomes("no-such-run")) == []
    assert everything_count(db_path)["run_outcomes"] == 3


def test_run_outcomes_read_one_batch_at_a_time(store: SQLiteStateStore) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, outcomes=[OutcomeRow("a1", "created")]))
    store.commit_batch(commit(2, outcomes=[OutcomeRow("a2", "created")]))
    stream = store.run_outcomes("run-1")
    assert next(stream).record == "a1"
    # The store stays usable mid-stream (no lock is held), and a batch committed meanwhile
    # still comes, in its place.
    store.commit_batch(commit(3, outcomes=[OutcomeRow("a3", "created")]))
    assert [r.record for r in stream] == ["a2", "a3"]


def test_commit_of_10000_outcomes_is_fast(store: SQLiteStateStore) -> None:
    store.start_run(run())
    rows = [
        OutcomeRow(f"id={i}", "created" if i % 7 else "failed", None if i % 7 else "bad", f"M{i}")
        for i in range(10_000)
    ]
    timings = []
    for seq in range(7):
        started = time.perf_counter()
        store.commit_batch(commit(seq + 1, outcomes=rows))
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.010, timings
    assert sum(1 for _ in store.run_outcomes("run-1")) == 70_000


# ---- failed records -----------------------------------------------------------------------------


def test_failed_records_count_attempts(store: SQLiteStateStore, clock: ManualClock) -> None:
    store.start_run(run("run-1"))
    store.start_run(run("run-2"))
    first = clock.now()
    store.commit_batch(commit(1, failed=[failed("c1", "invalid email"), failed("c2")]))
    clock.advance(hours=1)
    store.commit_batch(
        commit(2, run_id="run-2", failed=[failed("c1", "still invalid", run_id="run-2")])
    )

    records = store.list_failed("gifts")
    assert [(r.change_id, r.attempts) for r in records] == [("c1", 2), ("c2", 1)]
    c1 = records[0]
    assert c1.reason == "still invalid"
    assert c1.run_id == "run-2"
    assert c1.status == "open"
    assert c1.first_failed_at == first
    assert c1.last_failed_at == clock.now()
    assert c1.change == failed("c1").change
    assert c1.id is not None


def test_delivered_failed_records_are_resolved(store: SQLiteStateStore, clock: ManualClock) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, failed=[failed("c1"), failed("c2"), failed("c3")]))
    store.commit_batch(commit(1, flow="other", failed=[failed("c1", flow="other")]))
    store.commit_batch(commit(2, move_cursor=False, resolved_failed=["c1", "c3", "unknown"]))

    assert [r.change_id for r in store.list_failed("gifts")] == ["c2"]
    assert [r.change_id for r in store.list_failed("gifts", status="resolved")] == ["c1", "c3"]
    # Resolution is per flow.
    assert [r.change_id for r in store.list_failed("other")] == ["c1"]
    assert len(store.list_failed()) == 2

    # A resolved record failing again is a new failure.
    clock.advance(days=1)
    store.commit_batch(commit(3, failed=[failed("c1", "broke again")]))
    again = [r for r in store.list_failed("gifts") if r.change_id == "c1"]
    assert len(again) == 1
    assert (again[0].attempts, again[0].reason) == (1, "broke again")
    assert again[0].first_failed_at == clock.now()


def test_list_failed_oldest_first_and_get_failed(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    store.start_run(run())
    store.commit_batch(commit(1, failed=[failed("late")]))
    early = failed("early")
    early.first_failed_at = early.last_failed_at = T0 - timedelta(days=1)
    store.commit_batch(commit(2, failed=[early]))

    listed = store.list_failed()
    assert [r.change_id for r in listed] == ["early", "late"]
    ids = {r.change_id: r.id for r in listed}
    late_id, early_id = ids["late"], ids["early"]
    assert late_id is not None
    assert early_id is not None
    got = store.get_failed([late_id, 999, early_id, late_id])
    assert [r.change_id for r in got] == ["late", "early"]
    assert got[0] == listed[1]
    assert store.get_failed([]) == []


# ---- atomicity ----------------------------------------------------------------------------------


def full_commit(seq: int, run_id: str = "run-1", **more: Any) -> BatchCommit:
    return commit(
        seq,
        run_id=run_id,
        cursor={"since": f"batch-{seq}"},
        position=seq * 100,
        outcomes=[OutcomeRow(f"id={seq}", "created", target_key=f"m{seq}")],
        ledger=[ledger_entry(f"m{seq}", T0)],
        failed=[failed(f"c{seq}")],
        **more,
    )


def assert_only_first_batch_landed(store: SQLiteStateStore, db_path: Path) -> None:
    checkpoint = store.get_checkpoint("gifts")
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.batch_seq) == ({"since": "batch-1"}, 1)
    inflight = store.get_inflight("gifts")
    assert inflight is not None
    assert inflight.batch_seq == 2
    assert [r.record for r in store.run_outcomes("run-1")] == ["id=1"]
    assert list(store.ledger_get("mailchimp", "member", ["m1", "m2"])) == ["m1"]
    assert store.find_links("virtuous", "contact", ["v1", "v2"], "mailchimp") == {"v1": "m1"}
    assert [r.change_id for r in store.list_failed("gifts")] == ["c1"]
    assert everything_count(db_path) == {
        "checkpoints": 1,
        "inflight": 1,
        "runs": 1,
        "run_outcomes": 1,
        "identity_map": 2,
        "ledger": 1,
        "failed_records": 1,
    }


@pytest.fixture
def one_batch_in(store: SQLiteStateStore) -> SQLiteStateStore:
    store.start_run(run())
    store.commit_batch(full_commit(1, links=[link("v1", "m1")]))
    store.begin_batch(Inflight("gifts", 2, "gifts:run-1:2", {"since": "batch-2"}, "run-1", T0))
    return store


def test_a_failing_link_leaves_nothing_of_the_batch(
    one_batch_in: SQLiteStateStore, db_path: Path
) -> None:
    bad = Link("virtuous", "contact", "v2", "mailchimp", "member", None, "f")  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        one_batch_in.commit_batch(
            full_commit(2, links=[link("v3", "m3"), bad], resolved_failed=["c1"])
        )
    assert_only_first_batch_landed(one_batch_in, db_path)


def test_outcomes_of_an_unknown_run_leave_nothing_of_the_batch(
    one_batch_in: SQLiteStateStore, db_path: Path
) -> None:
    # The checkpoint is written before the outcomes; the foreign key on run_id then fails.
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        one_batch_in.commit_batch(full_commit(2, run_id="never-started", resolved_failed=["c1"]))
    assert_only_first_batch_landed(one_batch_in, db_path)


def test_a_crash_in_the_last_step_leaves_nothing_of_the_batch(
    one_batch_in: SQLiteStateStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    original = sqlite_module._store_links

    def store_links_then_break(conn: sqlite3.Connection, links: Any) -> None:
        original(conn, links)
        steps.append("links written")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sqlite_module, "_store_links", store_links_then_break)
    with pytest.raises(RuntimeError, match="disk on fire"):
        one_batch_in.commit_batch(full_commit(2, links=[link("v2", "m2")], resolved_failed=["c1"]))
    assert steps == ["links written"]
    assert_only_first_batch_landed(one_batch_in, db_path)

    # The lock was released and the store still works.
    monkeypatch.setattr(sqlite_module, "_store_links", original)
    one_batch_in.commit_batch(full_commit(2, links=[link("v2", "m2")]))
    checkpoint = one_batch_in.get_checkpoint("gifts")
    assert checkpoint is not None
    assert checkpoint.batch_seq == 2


# ---- persistence, closing, threads, processes ---------------------------------------------------


def test_everything_survives_close_and_reopen(open_store: Opener, clock: ManualClock) -> None:
    store = open_store()
    store.start_run(run())
    store.commit_batch(full_commit(1, links=[link("v1", "m1")]))
    store.begin_batch(Inflight("gifts", 2, "gifts:run-1:2", {"since": "b"}, "run-1", T0))
    store.finish_run("run-1", "succeeded", {"created": 1}, None)
    store.close()
    store.close()  # twice is harmless
    with pytest.raises(sqlite3.ProgrammingError):
        store.get_checkpoint("gifts")

    again = open_store()
    checkpoint = again.get_checkpoint("gifts")
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.sink_position) == ({"since": "batch-1"}, 100)
    inflight = again.get_inflight("gifts")
    assert inflight is not None
    assert inflight.token == "gifts:run-1:2"
    finished = again.get_run("run-1")
    assert finished is not None
    assert (finished.status, finished.counts) == ("succeeded", {"created": 1})
    assert [r.record for r in again.run_outcomes("run-1")] == ["id=1"]
    assert again.find_links("mailchimp", "member", ["m1"], "virtuous") == {"m1": "v1"}
    assert "m1" in again.ledger_get("mailchimp", "member", ["m1"])
    assert [r.change_id for r in again.list_failed()] == ["c1"]


def test_in_memory_store_works_and_is_private() -> None:
    with SQLiteStateStore(":memory:") as one, SQLiteStateStore(":memory:") as two:
        one.start_run(run())
        one.commit_batch(commit(1))
        assert one.get_checkpoint("gifts") is not None
        assert two.get_checkpoint("gifts") is None
        assert one.path is None


def test_a_second_store_on_the_same_file_sees_commits(open_store: Opener) -> None:
    writer, reader = open_store(), open_store()
    writer.start_run(run())
    writer.commit_batch(commit(1, outcomes=[OutcomeRow("id=1", "created")]))
    checkpoint = reader.get_checkpoint("gifts")
    assert checkpoint is not None
    assert checkpoint.batch_seq == 1
    assert [r.record for r in reader.run_outcomes("run-1")] == ["id=1"]


def test_concurrent_commits_from_threads(store: SQLiteStateStore) -> None:
    flows = [f"flow-{n}" for n in range(8)]
    for flow in flows:
        store.start_run(run(f"run-{flow}", flow))
    errors: list[BaseException] = []

    def work(flow: str) -> None:
        try:
            for seq in range(1, 26):
                store.begin_batch(Inflight(flow, seq, f"{flow}:{seq}", seq, f"run-{flow}", T0))
                store.commit_batch(
                    commit(
                        seq,
                        flow=flow,
                        run_id=f"run-{flow}",
                        cursor=seq,
                        outcomes=[OutcomeRow(f"{flow}/{seq}", "created")],
                        links=[link(f"{flow}-v{seq}", f"{flow}-m{seq}")],
                    )
                )
                store.find_links("virtuous", "contact", [f"{flow}-v{seq}"], "mailchimp")
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(flow,)) for flow in flows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for flow in flows:
        checkpoint = store.get_checkpoint(flow)
        assert checkpoint is not None
        assert checkpoint.cursor == 25
        assert store.get_inflight(flow) is None
        records = [r.record for r in store.run_outcomes(f"run-{flow}")]
        assert records == [f"{flow}/{seq}" for seq in range(1, 26)]


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from syncframe.state import BatchCommit, Inflight, OutcomeRow, RunRecord, SQLiteStateStore

    store = SQLiteStateStore(sys.argv[1])
    now = datetime.now(UTC)
    store.start_run(RunRecord("run-k", "gifts", "sync.toml", now))
    store.begin_batch(Inflight("gifts", 1, "gifts:run-k:1", {"page": 2}, "run-k", now))
    rows = [OutcomeRow(f"id={i}", "created") for i in range(1000)]
    store.commit_batch(BatchCommit("gifts", "run-k", 1, {"page": 2}, {"offset": 1000}, rows))
    print("committed", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_a_commit_survives_the_process_being_killed(db_path: Path) -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "committed", proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    # The process never closed the file: its WAL is still there, and is read on open.
    assert db_path.with_name(db_path.name + "-wal").exists()
    store = SQLiteStateStore(db_path)
    try:
        checkpoint = store.get_checkpoint("gifts")
        assert checkpoint is not None
        assert (checkpoint.cursor, checkpoint.sink_position) == ({"page": 2}, {"offset": 1000})
        assert store.get_inflight("gifts") is None
        assert sum(1 for _ in store.run_outcomes("run-k")) == 1000
    finally:
        store.close()
