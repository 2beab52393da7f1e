"""End to end: the Luminate transaction sync against the simulator, through the engine.

Every test runs real flows (the plugin's source and sinks, the engine, the state store) against
the Luminate simulator in-process, and asserts on what landed in the SQL sink's database, the
files and the simulator's own journal and sync log, compared with the simulator's own view.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import syncframe_luminate.plugin as luminate_plugin
from luminate_simulator.sample import add_refunds, populate
from syncframe_simulators import FaultRule

from syncframe import hookimpl
from syncframe.clock import ManualClock
from syncframe.components import BatchResult
from syncframe.config.resolved import ConfigError
from syncframe.host import Host
from syncframe.records import Change
from syncframe.runinfo import RunInfo
from tests.e2e.luminate_world import (
    API_PASSWORD,
    FILES_FLOW,
    FINANCIAL,
    LuminateWorld,
    expected_refund_states,
    money,
    rows,
    table_names,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def host() -> Host:
    return Host(plugins=[luminate_plugin], entry_points=False)


@pytest.fixture
def world(tmp_path: Path, host: Host) -> Iterator[LuminateWorld]:
    w = LuminateWorld(tmp_path, host)
    yield w
    w.close()


def make_world(tmp_path: Path, host: Host, **options: Any) -> LuminateWorld:
    return LuminateWorld(tmp_path, host, **options)


def assert_db_equals_simulator(world: LuminateWorld) -> None:
    """The world's database equals its simulator's view (see :func:`assert_db_matches`)."""
    assert_db_matches(world.services, world.folder / "luminate.db")


def assert_db_matches(services: Any, database: Path) -> None:
    """Every transaction and refund of the simulator is in the database once, with the
    simulator's amounts; fully refunded ones are kept and marked; the refund state of each gift
    is the one the simulator's bookkeeping implies."""
    store = services.transactions
    db = sqlite3.connect(database)
    db.row_factory = sqlite3.Row
    with closing(db):
        tables = table_names(db)
        for record_type in (*FINANCIAL, "ActionAlertResponse"):
            ids = {tid for tid, tx in store.live.items() if tx.record_type == record_type}
            gone = {tid for tid, tx in store.audit.items() if tx.record_type == record_type}
            table = f"luminate_{record_type.lower()}"
            if not ids and not gone:
                continue
            assert table in tables, f"no table {table}: {sorted(tables)}"
            held = rows(db, table)
            assert set(held) == ids | gone, f"{table}: {sorted(set(held) ^ (ids | gone))}"
            for tid in ids:
                assert not held[tid]["luminate_deleted"], f"{record_type} {tid} marked deleted"
                payment = store.live[tid].payment
                if payment is not None:
                    assert money(held[tid]["Payment_Amount"]) == money(payment["Amount"])
                    assert money(held[tid]["Payment_OriginalAmount"]) == money(
                        payment["OriginalAmount"]
                    )
            for tid in gone:
                assert held[tid]["luminate_deleted"], f"{record_type} {tid} not marked deleted"
        refunds = rows(db, "luminate_refund") if store.refunds else {}
        assert set(refunds) == set(store.refunds), "the refunds table differs from the site"
        for refund_id, refund in store.refunds.items():
            assert money(refunds[refund_id]["Payment_Amount"]) == money(refund.amount)
            assert refunds[refund_id]["OriginalTransactionId"] == refund.original_transaction_id
        states = {r["transaction_id"]: r for r in db.execute("SELECT * FROM luminate_refund_state")}
        for tid, expected in expected_refund_states(services):
            state = states.get(tid)
            assert state is not None, f"no refund state for transaction {tid}"
            got = (
                money(state["original_amount"]),
                money(state["current_amount"]),
                state["online_refund_count"],
                money(state["online_refunds"]),
                money(state["inferred_offline_refunds"]),
                None if state["full_refund_amount"] is None else money(state["full_refund_amount"]),
                state["status"],
            )
            want = (
                expected.original,
                expected.current,
                expected.online_count,
                expected.online,
                expected.offline,
                expected.full,
                expected.status,
            )
            assert got == want, f"refund state of {tid}: {got} != {want}"


class TestEveryTypeAndRefund:
    async def test_every_type_lands_with_its_lookups_and_every_refund_story(
        self, world: LuminateWorld
    ) -> None:
        site = populate(world.services, constituents=30, transactions=400)
        stories = add_refunds(world.services, site)

        report = await world.run()

        assert report.summary.status == "succeeded", report.summary.error
        assert_db_equals_simulator(world)
        with world.db() as db:
            for lookup, ids in site.associated.items():
                referenced = set(ids) & _referenced(world, lookup)
                if referenced:
                    held = rows(db, f"luminate_{lookup.lower()}")
                    assert referenced <= set(held), f"{lookup}: {referenced - set(held)} missing"
            states = {
                r["transaction_id"]: dict(r)
                for r in db.execute("SELECT * FROM luminate_refund_state")
            }
        # The stories of seed 003, spelled out.
        online_partial = states[stories["online_partial"][0]]
        assert online_partial["status"] == "partial"
        assert online_partial["online_refund_count"] == 1
        assert money(online_partial["inferred_offline_refunds"]) == 0
        offline_partial = states[stories["offline_partial"][0]]
        assert offline_partial["online_refund_count"] == 0
        assert money(offline_partial["inferred_offline_refunds"]) > 0
        assert money(offline_partial["inferred_offline_refunds"]) == money(
            offline_partial["original_amount"]
        ) - money(offline_partial["current_amount"])
        for story, online in (("online_full", True), ("offline_full", False)):
            state = states[stories[story][0]]
            assert state["status"] == "full"
            assert bool(state["full_refund_online"]) is online
            assert money(state["full_refund_amount"]) == money(state["original_amount"])
        several = states[stories["partials_then_full"][0]]
        assert several["status"] == "full"
        assert several["online_refund_count"] == 2
        assert money(several["full_refund_amount"]) < money(several["original_amount"])
        assert money(several["inferred_offline_refunds"]) > 0

    async def test_inserts_updates_and_deletes_in_one_window(self, world: LuminateWorld) -> None:
        site = populate(world.services, constituents=10, transactions=60, types=("Donation",))
        assert (await world.run()).summary.status == "succeeded"
        donations = site.transactions["Donation"]
        partial, full, refund_twice = donations[0], donations[1], donations[2]

        new = world.services.add_transaction(
            "Donation", {"Donor": {"ConsId": site.constituents[0]}, "Payment": {"Amount": "42.00"}}
        )
        world.services.refund(partial, "5.00", online=True)  # an update
        world.services.refund(full, online=False)  # a delete
        world.services.refund(refund_twice, "1.00", online=True)
        world.services.refund(refund_twice, "1.00", online=False)
        report = await world.run()

        assert report.summary.status == "succeeded", report.summary.error
        counts = report.summary.counts
        assert counts.get("created", 0) >= 2  # the new donation and the refund records
        assert counts.get("deleted", 0) + counts.get("updated", 0) >= 3
        assert_db_equals_simulator(world)
        with world.db() as db:
            held = rows(db, "luminate_donation")
        assert money(held[new]["Payment_Amount"]) == Decimal("42.00")
        assert held[full]["luminate_deleted"]

    async def test_refunds_before_and_within_the_window_are_each_counted_once(
        self, world: LuminateWorld
    ) -> None:
        site = populate(world.services, constituents=5, transactions=20, types=("Donation",))
        gift = site.transactions["Donation"][0]
        world.services.refund(gift, "2.00", online=True)
        assert (await world.run()).summary.status == "succeeded"
        # Window 2: another online partial and an offline one; the Query of the gift's refunds
        # returns the first refund again.
        world.services.refund(gift, "3.00", online=True)
        world.services.refund(gift, "1.50", online=False)
        assert (await world.run()).summary.status == "succeeded"
        # Window 3: the rest, online.
        world.services.refund(gift, online=True)
        assert (await world.run()).summary.status == "succeeded"
        assert (await world.run()).summary.status == "succeeded"  # nothing new

        assert_db_equals_simulator(world)
        with world.db() as db:
            state = next(
                db.execute("SELECT * FROM luminate_refund_state WHERE transaction_id = ?", (gift,))
            )
            refund_rows = [
                r
                for r in db.execute(
                    "SELECT * FROM luminate_refund WHERE OriginalTransactionId = ?", (gift,)
                )
            ]
        assert len(refund_rows) == 3
        assert state["online_refund_count"] == 3
        assert money(state["online_refunds"]) == money(state["original_amount"]) - Decimal("1.50")
        assert money(state["inferred_offline_refunds"]) == Decimal("1.50")


def _referenced(world: LuminateWorld, lookup: str) -> set[int]:
    """Ids of ``lookup`` records some transaction of the site refers to."""
    fields = {
        "DonationCampaign": "CampaignId",
        "DonationForm": "FormId",
        "DonationLevel": "DonationLevelId",
        "PersonalFundraisingCampaign": "PersonalFundraisingCampaignId",
        "ShipmentItem": "ShipmentItemId",
        "Product": "ProductId",
        "TeamRaiserEvent": "EventId",
        "TeamRaiserCompany": "CompanyId",
        "TeamRaiserParticipationType": "ParticipationTypeId",
        "TeamRaiserTeam": "TeamId",
        "CalendarEvent": "CalendarEventId",
        "ActionAlert": "AlertId",
    }
    store = world.services.transactions
    found: set[int] = set()
    for tx in [*store.live.values(), *store.audit.values()]:
        if lookup == "Discount":
            if tx.payment is not None and tx.payment.get("DiscountId") is not None:
                found.add(tx.payment["DiscountId"])
        elif tx.values.get(fields[lookup]) is not None:
            found.add(tx.values[fields[lookup]])
    return found


class TestPagingSessionsAndFaults:
    async def test_a_window_over_several_pages(self, tmp_path: Path, host: Host) -> None:
        world = make_world(tmp_path, host, page_size=25, batch_size=40)
        try:
            populate(world.services, constituents=10, transactions=180, types=("Donation",))
            report = await world.run()
            assert report.summary.status == "succeeded", report.summary.error
            pages = [
                e
                for e in world.simulator.journal.entries()
                if e.operation == "GetIncrementalInserts" and e.status == 200
            ]
            assert len(pages) >= 180 // 25 + 1
            assert_db_equals_simulator(world)
            log = world.services.snapshot()["sync_log"]
            assert [w["status"] for w in log] == ["ended"]
        finally:
            world.close()

    async def test_session_expiry_in_the_middle_of_a_window(
        self, tmp_path: Path, host: Host
    ) -> None:
        clock_jumps: list[int] = []

        class ThirtyOneMinutesLater:
            """After the first batch, 31 minutes pass: the session expires (30 minutes idle)."""

            __name__ = "thirty_one_minutes_later"

            @hookimpl
            def syncframe_batch_committed(
                self, run: RunInfo, changes: Sequence[Change], result: BatchResult
            ) -> None:
                if not clock_jumps:
                    clock_jumps.append(1)
                    world.clock.advance(timedelta(minutes=31))

        host = Host(plugins=[luminate_plugin, ThirtyOneMinutesLater()], entry_points=False)
        world = make_world(tmp_path, host, page_size=20, batch_size=20)
        try:
            populate(world.services, constituents=10, transactions=100, types=("Donation",))
            report = await world.run()
            assert report.summary.status == "succeeded", report.summary.error
            assert clock_jumps, "the clock never jumped"
            logins = [e for e in world.simulator.journal.entries() if e.operation == "Login"]
            assert len(logins) >= 2, "the client did not log in again after the session expired"
            assert_db_equals_simulator(world)
            assert [w["status"] for w in world.services.snapshot()["sync_log"]] == ["ended"]
        finally:
            world.close()

    @pytest.mark.parametrize(
        "rule",
        [
            {"kind": "error", "status": 500},
            {"kind": "error", "status": 503},
            {"kind": "rate_limit", "retry_after": 2},
            {"kind": "timeout", "hang": 0.05},
            {"kind": "disconnect"},
            {"kind": "malformed"},
            {"kind": "latency", "latency": 0.01},
        ],
        ids=lambda r: r["kind"] + str(r.get("status", "")),
    )
    async def test_each_fault_kind_is_survived(
        self, tmp_path: Path, host: Host, rule: dict[str, Any]
    ) -> None:
        world = make_world(tmp_path, host, page_size=20, batch_size=30)
        try:
            site = populate(world.services, constituents=10, transactions=120)
            add_refunds(world.services, site)
            # Every third call of the window's downloads and lookups, twice each.
            for operation in ("GetIncremental*", "Query", "StartSynchronization"):
                world.simulator.faults.add(FaultRule(**rule, operation=operation, after=1, times=2))
            report = await world.run()
            assert report.summary.status == "succeeded", report.summary.error
            faulted = [e for e in world.simulator.journal.entries() if e.fault is not None]
            assert faulted, "no fault fired"
            assert_db_equals_simulator(world)
            if rule["kind"] == "rate_limit":
                assert 2 in world.waits
        finally:
            world.close()


class TestFilesAndValidation:
    async def test_one_file_per_type_per_window(self, world: LuminateWorld) -> None:
        site = populate(world.services, constituents=10, transactions=80)
        add_refunds(world.services, site)
        assert (await world.run(FILES_FLOW)).summary.status == "succeeded"
        world.services.add_transaction(
            "Donation", {"Donor": {"ConsId": site.constituents[0]}, "Payment": {"Amount": "9.00"}}
        )
        assert (await world.run(FILES_FLOW)).summary.status == "succeeded"

        files = sorted((world.folder / "outbox").glob("*.csv"))
        windows = Counter(p.stem.split("_", 1)[1] for p in files)
        assert len(windows) == 2, [p.name for p in files]
        donation_files = [p for p in files if p.name.startswith("Donation_")]
        assert len(donation_files) == 2
        # The first window starts at the beginning of time.
        donation_files.sort(key=lambda p: "beginning" not in p.name)
        first_lines = donation_files[0].read_text().splitlines()
        expected = len(site.transactions["Donation"])
        assert len(first_lines) == 1 + expected  # the header and one line per donation
        assert len(donation_files[1].read_text().splitlines()) == 2

    def test_a_flow_that_uploads_transactions_is_refused_by_validate(
        self, world: LuminateWorld
    ) -> None:
        from syncframe.config import load_config

        path = world.folder / "upload.toml"
        path.write_text(
            world.path.read_text()
            + """
[flows.upload]
source = { type = "csv", path = "gifts.csv", key = "id" }

[flows.upload.sink]
type = "luminate_constituents"
connection = "luminate"
record_type = "Donation"
""",
            encoding="utf-8",
        )
        with pytest.raises(ConfigError) as caught:
            load_config(path, world.host.registry, environ={"x": "y"})
        message = str(caught.value)
        assert "flows.upload.sink.record_type" in message
        assert "download-only" in message
        assert API_PASSWORD not in message


async def test_refunds_from_before_the_first_window_are_found_through_query(
    tmp_path: Path, host: Host
) -> None:
    """The sync starts after a gift was partly refunded online: the window only sees the gift's
    next refund, and the source's Query of the gift's refunds brings the earlier one, so no
    online refund is mistaken for an offline one."""
    clock = ManualClock()
    start = clock.now() + timedelta(hours=1)
    world = make_world(
        tmp_path,
        host,
        clock=clock,
        source_extra=f'first_window_start = "{start.isoformat()}"',
    )
    try:
        site = populate(world.services, constituents=3, transactions=5, types=("Donation",))
        gift = site.transactions["Donation"][0]
        world.services.refund(gift, "1.00", online=True)  # before the first window
        clock.advance(timedelta(hours=2))
        world.services.refund(gift, "2.00", online=True)  # in it
        report = await world.run()

        assert report.summary.status == "succeeded", report.summary.error
        with world.db() as db:
            state = next(
                db.execute("SELECT * FROM luminate_refund_state WHERE transaction_id = ?", (gift,))
            )
            donations = rows(db, "luminate_donation")
        assert set(donations) == {gift}  # the other gifts are older than the first window
        assert state["online_refund_count"] == 2
        assert money(state["online_refunds"]) == Decimal("3.00")
        assert money(state["inferred_offline_refunds"]) == Decimal("0.00")
    finally:
        world.close()
