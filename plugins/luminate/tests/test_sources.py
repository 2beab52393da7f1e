"""The transaction and constituent sources against the simulated site, through the engine:
every type, windows over pages, inserts/updates/deletes, refunds, stops and resumes, session
expiry, and when windows are ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from plugins.luminate.tests.source_helpers import (
    START,
    SourceWorld,
    add_constituent,
    add_transaction,
    later,
    settings_for,
)
from syncframe.records import Change

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SourceWorld]:
    made = SourceWorld(tmp_path)
    try:
        yield made
    finally:
        made.close()


def seen(changes: Sequence[Change]) -> list[tuple[str, str, str]]:
    return [(c.entity, c.key, c.operation.value) for c in changes]


def sync_log(world: SourceWorld) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = world.simulator.services.snapshot()["sync_log"]
    return log


def donations(world: SourceWorld, count: int, amount: str = "25.00") -> list[int]:
    ids = []
    for n in range(count):
        cons = add_constituent(world.simulator, n)
        ids.append(add_transaction(world.simulator, "Donation", cons, amount))
    return ids


async def test_every_transaction_type_is_read(world: SourceWorld) -> None:
    sim = world.simulator
    services = sim.services
    later(world)
    cons = add_constituent(sim, 1)
    campaign = services.add_associated("DonationCampaign", {"Title": "Spring appeal"})
    event = services.add_associated("TeamRaiserEvent", {"Name": "Walk"})
    calendar = services.add_associated("CalendarEvent", {"Title": "Gala"})
    alert = services.add_associated("ActionAlert", {"Title": "Write your MP"})
    made = {
        "Donation": add_transaction(sim, "Donation", cons, CampaignId=campaign),
        "PersonalFundraisingGift": add_transaction(sim, "PersonalFundraisingGift", cons),
        "ProductOrder": add_transaction(sim, "ProductOrder", cons, Quantity=2),
        "TeamRaiserGift": add_transaction(sim, "TeamRaiserGift", cons, EventId=event),
        "TeamRaiserRegistration": add_transaction(sim, "TeamRaiserRegistration", cons),
        "TicketPurchase": add_transaction(sim, "TicketPurchase", cons, CalendarEventId=calendar),
        "ActionAlertResponse": add_transaction(
            sim, "ActionAlertResponse", cons, None, AlertId=alert, Subject="Yes"
        ),
    }
    refund = services.refund(made["Donation"], Decimal("5.00"), online=True)
    later(world)

    report = await world.run(batch_size=4)

    assert report.summary.status == "succeeded", report.summary.error
    changes = world.taken()
    assert seen(changes) == [
        ("DonationCampaign", str(campaign), "update"),
        ("Donation", str(made["Donation"]), "insert"),
        ("PersonalFundraisingGift", str(made["PersonalFundraisingGift"]), "insert"),
        ("ProductOrder", str(made["ProductOrder"]), "insert"),
        ("TeamRaiserEvent", str(event), "update"),
        ("TeamRaiserGift", str(made["TeamRaiserGift"]), "insert"),
        ("TeamRaiserRegistration", str(made["TeamRaiserRegistration"]), "insert"),
        ("CalendarEvent", str(calendar), "update"),
        ("TicketPurchase", str(made["TicketPurchase"]), "insert"),
        ("ActionAlert", str(alert), "update"),
        ("ActionAlertResponse", str(made["ActionAlertResponse"]), "insert"),
        ("Refund", str(refund.refund_id), "insert"),
    ]
    assert all(len(batch) <= 4 for batch, _ in world.plugin.batches)
    by_type = {c.entity: c for c in changes}
    donation = by_type["Donation"]
    assert donation.system == "lum"
    assert donation.keys == {"TransactionId": made["Donation"]}
    assert donation.fields["Payment.Amount"] == Decimal("20.00")
    assert donation.fields["Payment.OriginalAmount"] == Decimal("25.00")
    assert donation.fields["Donor.ConsId"] == cons
    assert donation.occurred_at == donation.fields["Payment.ModifyDate"]
    assert by_type["DonationCampaign"].fields == {
        "CampaignId": campaign,
        "Title": "Spring appeal",
        "Description": None,
    }
    assert by_type["ActionAlertResponse"].fields["Subject"] == "Yes"
    assert by_type["ActionAlertResponse"].keys == {"ResponseId": made["ActionAlertResponse"]}
    assert by_type["Refund"].fields["OriginalTransactionId"] == made["Donation"]
    assert by_type["Refund"].fields["Payment.Amount"] == Decimal("5.00")
    segment = "beginning_20250301T090200Z"
    assert {s for _, s in world.plugin.batches} == {segment}
    assert world.cursor() == {"done": {"partition": 1001, "end": "2025-03-01T09:02:00+00:00"}}


async def test_a_window_over_several_pages(world: SourceWorld) -> None:
    later(world)
    ids = donations(world, 23)
    later(world)
    settings = settings_for(world.simulator, page_size=5)

    report = await world.run(batch_size=7, settings=settings, options={"prefetch": 3})

    assert report.summary.status == "succeeded", report.summary.error
    assert [c.key for c in world.taken()] == [str(i) for i in ids]
    assert [len(b) for b, _ in world.plugin.batches] == [7, 7, 7, 2]
    requests = sync_log(world)[0]["requests"]
    pages = [
        r["Page"]
        for r in requests
        if r["RecordType"] == "Donation" and r["Operation"] == "GetIncrementalInserts"
    ]
    # Page 1 first, then the next pages ahead (at most 3 out); page 5 is short, so at most
    # the calls already out past it (6, 7) are wasted; each page asked once.
    assert pages[0] == 1
    assert set(range(1, 6)) <= set(pages) <= set(range(1, 8))
    assert len(pages) == len(set(pages))
    assert sync_log(world)[0]["status"] == "ended"


async def test_inserts_updates_and_deletes_in_one_window(world: SourceWorld) -> None:
    sim = world.simulator
    later(world)
    old = donations(world, 3)
    later(world)
    assert (await world.run()).summary.status == "succeeded"
    first_window = world.cursor()["done"]["end"]

    later(world)
    cons = add_constituent(sim, 9)
    new = add_transaction(sim, "Donation", cons, "40.00")
    sim.services.refund(old[0], Decimal("10.00"), online=False)  # partial: an update
    sim.services.refund(old[1], None, online=False)  # full: a delete
    sim.services.refund(new, Decimal("15.00"), online=False)  # created and refunded: an insert
    later(world)
    world.plugin.batches.clear()

    report = await world.run(options={"record_types": ["Donation"]})

    assert report.summary.status == "succeeded", report.summary.error
    changes = world.taken()
    assert seen(changes) == [
        ("Donation", str(new), "insert"),
        ("Donation", str(old[0]), "update"),
        ("Donation", str(old[1]), "delete"),
    ]
    inserted, updated, deleted = changes
    assert inserted.fields["Payment.Amount"] == Decimal("25.00")
    assert inserted.fields["Payment.OriginalAmount"] == Decimal("40.00")
    assert updated.fields["Payment.Amount"] == Decimal("15.00")
    assert updated.fields["Payment.OriginalAmount"] == Decimal("25.00")
    assert deleted.fields["Payment.Amount"] == Decimal("25.00")  # what the full refund refunded
    window = sync_log(world)[-1]
    assert window["start"] == first_window.replace("+00:00", "Z")
    assert {s for _, s in world.plugin.batches} == {"20250301T090200Z_20250301T090400Z"}


async def test_refunds_arrive_as_the_right_changes(world: SourceWorld) -> None:
    """Online/offline x partial/full, several partials then a full refund (seed 003)."""
    services = world.simulator.services
    later(world)
    gifts = donations(world, 4, "100.00")
    later(world)
    assert (await world.run()).summary.status == "succeeded"
    world.plugin.batches.clear()

    later(world)
    online_partial = services.refund(gifts[0], Decimal("10.00"), online=True)
    services.refund(gifts[1], Decimal("20.00"), online=False)  # offline partial: no Refund
    online_full = services.refund(gifts[2], None, online=True)
    first = services.refund(gifts[3], Decimal("30.00"), online=True)
    services.refund(gifts[3], Decimal("20.00"), online=False)
    rest = services.refund(gifts[3], None, online=True)  # the remaining 50.00
    later(world)

    report = await world.run(batch_size=100)

    assert report.summary.status == "succeeded", report.summary.error
    changes = world.taken()
    refund_ids = [r.refund_id for r in (online_partial, online_full, first, rest)]
    assert seen(changes) == [
        ("Donation", str(gifts[0]), "update"),
        ("Donation", str(gifts[1]), "update"),  # offline partial: no Refund record at all
        ("Donation", str(gifts[2]), "delete"),
        ("Donation", str(gifts[3]), "delete"),
        *[("Refund", str(r), "insert") for r in refund_ids],  # GetIncrementalInserts Refund
    ]
    by_key = {(c.entity, c.key, n): c for n, c in enumerate(changes)}
    donation = {c.key: c for c in changes if c.entity == "Donation"}
    assert donation[str(gifts[1])].fields["Payment.Amount"] == Decimal("80.00")
    assert donation[str(gifts[1])].fields["Payment.OriginalAmount"] == Decimal("100.00")
    assert donation[str(gifts[2])].fields["Payment.Amount"] == Decimal("100.00")
    assert donation[str(gifts[3])].fields["Payment.Amount"] == Decimal("50.00")
    assert donation[str(gifts[3])].fields["Payment.OriginalAmount"] == Decimal("100.00")
    refunds = [c for c in changes if c.entity == "Refund"]
    # Each online refund once: the flow reads from the beginning of time, so every refund comes
    # through the Refund inserts of its window and none is queried again with its gift.
    assert sorted(c.key for c in refunds) == sorted(str(r) for r in refund_ids)
    full = next(c for c in refunds if c.key == str(rest.refund_id))
    assert full.fields["FullRefund"] is True
    assert full.fields["Online"] is True
    assert full.fields["Payment.Amount"] == Decimal("50.00")
    assert by_key  # every change has its place


async def test_a_refund_in_a_later_window_comes_once_through_that_windows_inserts(
    world: SourceWorld,
) -> None:
    """A gift refunded again in a later window: the new refund comes once, through the Refund
    inserts of its window; the earlier one is not read again (it came in its own window)."""
    services = world.simulator.services
    later(world)
    [gift] = donations(world, 1, "60.00")
    early = services.refund(gift, Decimal("10.00"), online=True)
    later(world)
    assert (await world.run()).summary.status == "succeeded"
    assert ("Refund", str(early.refund_id), "insert") in seen(world.taken())
    world.plugin.batches.clear()
    later(world)
    late = services.refund(gift, Decimal("5.00"), online=True)
    later(world)

    assert (await world.run()).summary.status == "succeeded"
    assert seen(world.taken()) == [
        ("Donation", str(gift), "update"),
        ("Refund", str(late.refund_id), "insert"),
    ]


async def test_refunds_older_than_the_first_window_are_read_with_their_gift(
    world: SourceWorld,
) -> None:
    """With first_window_start set, a gift paid and refunded online before it, and refunded
    again in the window: the Query of its refunds brings the older one (only that one: the new
    one comes through the window's Refund inserts)."""
    services = world.simulator.services
    later(world)
    [gift] = donations(world, 1, "60.00")
    early = services.refund(gift, Decimal("10.00"), online=True)
    later(world, 60)
    start = world.clock.now()
    later(world)
    late = services.refund(gift, Decimal("5.00"), online=True)
    later(world)

    options = {"record_types": ["Donation", "Refund"], "first_window_start": start.isoformat()}
    assert (await world.run(options=options)).summary.status == "succeeded"
    assert seen(world.taken()) == [
        ("Refund", str(early.refund_id), "insert"),
        ("Donation", str(gift), "update"),
        ("Refund", str(late.refund_id), "insert"),
    ]


async def test_resume_after_a_stop_mid_window_hands_nothing_on_twice(world: SourceWorld) -> None:
    sim = world.simulator
    later(world)
    campaign = sim.services.add_associated("DonationCampaign", {"Title": "Spring"})
    ids = []
    for n in range(12):
        cons = add_constituent(sim, n)
        ids.append(add_transaction(sim, "Donation", cons, CampaignId=campaign))
    sim.services.refund(ids[4], Decimal("5.00"), online=True)
    later(world)
    settings = settings_for(sim, page_size=4)
    world.plugin.fail_at.append(3)  # the third write fails: the run stops mid-window

    stopped = await world.run(batch_size=3, settings=settings)

    assert stopped.summary.status == "failed"
    assert "the test stops the run" in (stopped.summary.error or "")
    cursor = world.cursor()
    assert cursor["window"]["end"] == "2025-03-01T09:02:00+00:00"
    assert cursor["step"] == 0
    assert sync_log(world)[0]["status"] == "active"  # not ended: its records are not all in
    committed = list(world.taken())
    later(world, 45)  # the site moves on; a new donation belongs to a later window
    add_transaction(sim, "Donation", add_constituent(sim, 99))
    world.plugin.fail_at.clear()

    report = await world.run(batch_size=3, settings=settings)

    assert report.summary.status == "succeeded", report.summary.error
    rest = world.taken()[len(committed) :]
    donations_read = [c.key for c in committed + rest if c.entity == "Donation"]
    assert donations_read == [str(i) for i in ids]  # each once, in order, nothing new
    log = sync_log(world)
    assert [w["status"] for w in log] == ["superseded", "ended"]
    assert (log[1]["start"], log[1]["end"]) == (log[0]["start"], log[0]["end"])
    assert log[1]["start"] == "1970-01-01T00:00:00Z"
    # The campaign comes again with the resumed run, before its first donation there.
    assert rest[0].entity == "DonationCampaign"
    assert world.cursor() == {"done": {"partition": 1001, "end": "2025-03-01T09:02:00+00:00"}}

    world.plugin.batches.clear()
    later(world)
    assert (await world.run(batch_size=3, settings=settings)).summary.status == "succeeded"
    assert [c.entity for c in world.taken()] == ["Donation"]


async def test_session_expiry_mid_window(world: SourceWorld) -> None:
    later(world)
    ids = donations(world, 9)
    later(world)

    def idle(changes: Sequence[Change]) -> None:
        world.clock.advance(timedelta(minutes=31))  # the session expires between batches

    world.plugin.observe.append(idle)
    settings = settings_for(world.simulator, page_size=3)

    report = await world.run(batch_size=3, settings=settings, options={"prefetch": 1})

    assert report.summary.status == "succeeded", report.summary.error
    assert [c.key for c in world.taken()] == [str(i) for i in ids]
    logins = [e for e in world.simulator.journal.entries() if e.operation == "Login"]
    assert len(logins) >= 3
    assert sync_log(world)[0]["status"] == "ended"


async def test_the_window_is_ended_only_after_the_last_batch_is_acknowledged(
    world: SourceWorld,
) -> None:
    later(world)
    donations(world, 5)
    later(world)
    active_at_write: list[list[int]] = []

    def note(changes: Sequence[Change]) -> None:
        active_at_write.append(world.simulator.services.snapshot()["active_syncs"])

    world.plugin.observe.append(note)

    report = await world.run(batch_size=2)

    assert report.summary.status == "succeeded", report.summary.error
    assert active_at_write == [[1], [1], [1]]  # still open while the last batch is written
    log = sync_log(world)
    assert log[0]["status"] == "ended"
    end_calls = [
        e for e in world.simulator.journal.entries() if e.operation == "EndSynchronization"
    ]
    assert len(end_calls) == 1


async def test_a_stop_at_the_last_batch_leaves_the_window_open_then_resumes_it(
    world: SourceWorld,
) -> None:
    later(world)
    ids = donations(world, 4)
    later(world)
    world.plugin.fail_at.append(2)
    assert (await world.run(batch_size=2)).summary.status == "failed"
    assert sync_log(world)[0]["status"] == "active"
    world.plugin.fail_at.clear()

    assert (await world.run(batch_size=2)).summary.status == "succeeded"
    assert [c.key for c in world.taken()] == [str(i) for i in ids]
    assert [w["status"] for w in sync_log(world)] == ["superseded", "ended"]


async def test_an_empty_window_is_ended_and_the_next_one_starts_where_it_started(
    world: SourceWorld,
) -> None:
    later(world)
    report = await world.run()
    assert report.summary.status == "succeeded"
    assert world.taken() == []
    assert world.cursor() is None
    assert [w["status"] for w in sync_log(world)] == ["ended"]

    later(world)
    [gift] = donations(world, 1)
    later(world)
    assert (await world.run()).summary.status == "succeeded"
    assert [c.key for c in world.taken()] == [str(gift)]
    assert sync_log(world)[1]["start"] == "1970-01-01T00:00:00Z"


async def test_a_transient_fault_mid_window_is_retried_without_repeats(world: SourceWorld) -> None:
    from syncframe_simulators import FaultRule

    later(world)
    ids = donations(world, 10)
    later(world)
    world.simulator.faults.add(
        FaultRule(kind="error", status=503, times=1, operation="GetIncrementalInserts", after=2)
    )
    settings = settings_for(world.simulator, page_size=2)

    report = await world.run(batch_size=3, settings=settings, options={"prefetch": 2})

    assert report.summary.status == "succeeded", report.summary.error
    assert world.waits, "the engine did not retry"
    assert [c.key for c in world.taken()] == [str(i) for i in ids]


async def test_first_window_start_skips_older_records(world: SourceWorld) -> None:
    later(world)
    donations(world, 2)
    later(world, 10)
    cons = add_constituent(world.simulator, 50)
    newer = add_transaction(world.simulator, "Donation", cons)
    later(world)
    start = (START + timedelta(minutes=5)).isoformat()

    report = await world.run(options={"first_window_start": start})

    assert report.summary.status == "succeeded", report.summary.error
    assert [c.key for c in world.taken()] == [str(newer)]
    assert {s for _, s in world.plugin.batches} == {"20250301T090500Z_20250301T091200Z"}


async def test_chosen_fields_are_read_with_the_id(world: SourceWorld) -> None:
    later(world)
    donations(world, 2)
    later(world)
    options = {
        "record_types": ["Donation"],
        "fields": {"Donation": ["Payment.Amount", "Donor.PrimaryEmail"]},
        "query_refunds": False,
    }
    assert (await world.run(options=options)).summary.status == "succeeded"
    assert [list(c.fields) for c in world.taken()] == [
        ["TransactionId", "Donor.PrimaryEmail", "Payment.Amount"]
    ] * 2


async def test_an_unknown_field_fails_the_run_naming_it(world: SourceWorld) -> None:
    later(world)
    donations(world, 1)
    later(world)
    options = {"record_types": ["Donation"], "fields": {"Donation": ["Payment.Amont"]}}
    report = await world.run(options=options)
    assert report.summary.status == "failed"
    assert "Payment.Amont" in (report.summary.error or "")


# ---- constituents --------------------------------------------------------------------------


async def test_constituents_inserted_updated_and_removed(world: SourceWorld) -> None:
    services = world.simulator.services
    later(world)
    first = [add_constituent(world.simulator, n) for n in range(3)]
    later(world)
    report = await world.run("luminate_constituents", batch_size=2)
    assert report.summary.status == "succeeded", report.summary.error
    assert seen(world.taken()) == [("Constituent", str(c), "insert") for c in first]
    first_end = world.cursor()["done"]["end"]
    world.plugin.batches.clear()

    later(world)
    added = add_constituent(world.simulator, 7)
    services.modify_constituent(first[0], {"ConsName": {"FirstName": "Renamed"}})
    services.remove_constituent(first[1])
    later(world)
    report = await world.run("luminate_constituents", batch_size=2)

    assert report.summary.status == "succeeded", report.summary.error
    changes = world.taken()
    assert seen(changes) == [
        ("Constituent", str(added), "insert"),
        ("Constituent", str(first[0]), "update"),
        ("Constituent", str(first[1]), "delete"),
    ]
    assert changes[1].fields["ConsName.FirstName"] == "Renamed"
    assert changes[1].occurred_at == changes[1].fields["ModifyDate"]
    assert changes[1].keys == {"ConsId": first[0]}
    assert {s for _, s in world.plugin.batches} == {"p1001_20250301T090200Z_20250301T090400Z"}
    assert sync_log(world)[-1]["start"] == first_end.replace("+00:00", "Z")


async def test_constituents_of_a_partition(world: SourceWorld) -> None:
    services = world.simulator.services
    partition = services.add_partition("Californians", rule=("HomeAddress.State", "CA"))
    later(world)
    inside = add_constituent(world.simulator, 1, HomeAddress={"State": "CA"})
    add_constituent(world.simulator, 2, HomeAddress={"State": "NY"})
    later(world)
    options = {"partition_id": partition.partition_id, "fields": ["PrimaryEmail"]}

    report = await world.run("luminate_constituents", options)

    assert report.summary.status == "succeeded", report.summary.error
    assert [(c.key, c.fields) for c in world.taken()] == [
        (str(inside), {"ConsId": inside, "PrimaryEmail": "donor1@example.org"})
    ]
    assert Counter(s for _, s in world.plugin.batches) == {
        f"p{partition.partition_id}_beginning_20250301T090200Z": 1
    }
    assert sync_log(world)[0]["partition_id"] == partition.partition_id
