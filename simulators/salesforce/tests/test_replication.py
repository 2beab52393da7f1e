"""sobjects/Contact/updated/ and deleted/: ids changed or deleted in a window, the window's
rules, and the recycle bin's 15 days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from salesforce_simulator import SalesforceSimulator

from simulators.salesforce.tests.conftest import Org, error_of, open_session
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


def iso(when: datetime) -> str:
    return when.isoformat()


async def updated(org: Org, start: str, end: str) -> dict[str, object]:
    answer = await org.get("/sobjects/Contact/updated/", start=start, end=end)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def deleted(org: Org, start: str, end: str) -> dict[str, object]:
    answer = await org.get("/sobjects/Contact/deleted/", start=start, end=end)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_updated_lists_created_and_changed_records_by_system_modstamp(
    org: Org, sim_clock: ManualClock
) -> None:
    first = await org.create(LastName="First")  # 09:00
    sim_clock.advance(minutes=2)
    second = await org.create(LastName="Second")  # 09:02
    sim_clock.advance(minutes=2)
    assert (await org.patch(f"/sobjects/Contact/{first}", {"Title": "Dr"})).status_code == 204
    sim_clock.advance(minutes=2)  # now 09:06
    body = await updated(org, "2026-01-01T09:01:00Z", "2026-01-01T10:00:00Z")
    # first moved to 09:04; the window is covered up to the current minute, 09:06.
    assert body == {"ids": [second, first], "latestDateCovered": "2026-01-01T09:06:00.000+0000"}
    earlier = await updated(org, "2026-01-01T08:00:00Z", "2026-01-01T09:02:00Z")
    assert earlier == {"ids": [], "latestDateCovered": "2026-01-01T09:02:00.000+0000"}


async def test_seconds_are_ignored_and_the_window_is_half_open(
    org: Org, sim_clock: ManualClock
) -> None:
    sim_clock.advance(seconds=40)
    record_id = await org.create(LastName="At 09:00:40")
    sim_clock.advance(minutes=5)
    # 09:00:59 is read as 09:00: the record at 09:00:40 is inside [09:00, 09:01).
    inside = await updated(org, "2026-01-01T09:00:59Z", "2026-01-01T09:01:30Z")
    assert inside["ids"] == [record_id]
    assert inside["latestDateCovered"] == "2026-01-01T09:01:00.000+0000"
    # The next window starts where the last one's latestDateCovered ended: no repeat.
    after = await updated(org, "2026-01-01T09:01:00Z", "2026-01-01T09:05:00Z")
    assert after["ids"] == []


async def test_the_current_minute_is_not_covered_yet(org: Org, sim_clock: ManualClock) -> None:
    sim_clock.advance(seconds=30)
    record_id = await org.create(LastName="Now")
    body = await updated(org, "2026-01-01T08:00:00Z", "2026-01-01T12:00:00Z")
    assert body == {"ids": [], "latestDateCovered": "2026-01-01T09:00:00.000+0000"}
    sim_clock.advance(seconds=30)
    assert (await updated(org, "2026-01-01T09:00:00Z", "2026-01-01T12:00:00Z"))["ids"] == [
        record_id
    ]


async def test_deleted_lists_the_delete_log_and_updated_leaves_deleted_out(
    org: Org, sim_clock: ManualClock
) -> None:
    record_id = await org.create(LastName="Gone")
    kept = await org.create(LastName="Kept")
    sim_clock.advance(minutes=3)
    assert (await org.delete(f"/sobjects/Contact/{record_id}")).status_code == 204
    sim_clock.advance(minutes=3)  # 09:06
    body = await deleted(org, "2026-01-01T09:00:00+00:00", "2026-01-01T09:10:00+00:00")
    assert body == {
        "deletedRecords": [{"id": record_id, "deletedDate": "2026-01-01T09:03:00.000+0000"}],
        "earliestDateAvailable": "2026-01-01T09:00:00.000+0000",
        "latestDateCovered": "2026-01-01T09:06:00.000+0000",
    }
    assert (await updated(org, "2026-01-01T09:00:00Z", "2026-01-01T09:10:00Z"))["ids"] == [kept]


async def test_an_undeleted_record_is_no_longer_reported_deleted(
    org: Org, sim_clock: ManualClock
) -> None:
    record_id = await org.create(LastName="Back")
    sim_clock.advance(minutes=1)
    await org.delete(f"/sobjects/Contact/{record_id}")
    sim_clock.advance(minutes=1)
    org.sim.undelete_contact(record_id)
    sim_clock.advance(minutes=1)
    assert (await deleted(org, "2026-01-01T09:00:00Z", "2026-01-01T09:05:00Z"))[
        "deletedRecords"
    ] == []
    assert (await updated(org, "2026-01-01T09:01:00Z", "2026-01-01T09:05:00Z"))["ids"] == [
        record_id
    ]
    assert org.stored(record_id)["IsDeleted"] is False


async def test_the_recycle_bin_is_purged_after_15_days(org: Org, sim_clock: ManualClock) -> None:
    record_id = await org.create(LastName="Old")
    await org.delete(f"/sobjects/Contact/{record_id}")
    sim_clock.advance(days=15, minutes=1)
    await org.log_in_again()
    assert org.sim.snapshot()["contacts"] == []
    assert org.sim.snapshot()["delete_log"] == []
    everything = await org.query("SELECT Id FROM Contact", all_rows=True)
    assert everything.json()["totalSize"] == 0
    start = iso(sim_clock.now() - timedelta(days=1))
    body = await deleted(org, start, iso(sim_clock.now()))
    assert body["earliestDateAvailable"] == "2026-01-01T09:00:00.000+0000"


async def test_a_start_before_purged_deletions_is_refused(org: Org, sim_clock: ManualClock) -> None:
    record_id = await org.create(LastName="Old")
    sim_clock.advance(hours=20)
    await org.log_in_again()
    assert (await org.delete(f"/sobjects/Contact/{record_id}")).status_code == 204  # 01-02 05:00
    sim_clock.advance(days=15, minutes=1)  # purged; today is 01-17, the window reaches 01-02
    await org.log_in_again()
    answer = await org.get(
        "/sobjects/Contact/deleted/", start="2026-01-02T00:00:00Z", end=iso(sim_clock.now())
    )
    status, code, message = error_of(answer)
    assert (status, code) == (400, "INVALID_REPLICATION_DATE")
    assert message.startswith(
        "startDate is before earliestDateAvailable 2026-01-02T05:00:00.000+0000"
    )


@pytest.mark.parametrize(("resource", "days"), [("updated", 30), ("deleted", 15)])
async def test_how_far_back_a_window_may_start(
    org: Org, sim_clock: ManualClock, resource: str, days: int
) -> None:
    sim_clock.advance(days=40)
    await org.log_in_again()
    today = datetime(2026, 2, 10, tzinfo=UTC)
    ok = await org.get(
        f"/sobjects/Contact/{resource}/", start=iso(today - timedelta(days=days)), end=iso(today)
    )
    assert ok.status_code == 200
    too_old = await org.get(
        f"/sobjects/Contact/{resource}/",
        start=iso(today - timedelta(days=days, minutes=1)),
        end=iso(today),
    )
    status, code, message = error_of(too_old)
    assert (status, code) == (400, "INVALID_REPLICATION_DATE")
    assert message.startswith(f"startDate cannot be more than {days} days ago")


@pytest.mark.parametrize(
    ("start", "end", "status", "code", "fragment"),
    [
        ("2026-01-01T09:00:00Z", "2026-01-01T09:00:59Z", 400, "INVALID_REPLICATION_DATE",
         "startDate must chronologically precede endDate by at least a minute"),
        ("2026-01-01T10:00:00Z", "2026-01-01T09:00:00Z", 400, "INVALID_REPLICATION_DATE",
         "startDate must chronologically precede endDate"),
        ("2026-01-01T09:00:00 00:00", "2026-01-01T10:00:00Z", 404, "NOT_FOUND",
         "start '2026-01-01T09:00:00 00:00' is not an ISO 8601 date-time"),
        ("", "2026-01-01T10:00:00Z", 404, "NOT_FOUND", "start is missing"),
    ],
)  # fmt: skip
async def test_window_refusals(
    org: Org, start: str, end: str, status: int, code: str, fragment: str
) -> None:
    answer = await org.get("/sobjects/Contact/updated/", start=start, end=end)
    got_status, got_code, message = error_of(answer)
    assert (got_status, got_code) == (status, code)
    assert fragment in message


async def test_too_many_ids(
    simulator_factory: Callable[..., SalesforceSimulator], sim_clock: ManualClock
) -> None:
    sim = simulator_factory("salesforce", replication_id_limit=2)
    sim.add_user("u@example.org", "pw")
    org = Org(sim, sim.client(), await open_session(sim, "u@example.org"))
    for name in ("A", "B", "C"):
        await org.create(LastName=name)
    sim_clock.advance(minutes=1)
    answer = await org.get(
        "/sobjects/Contact/updated/", start="2026-01-01T09:00:00Z", end="2026-01-01T09:01:00Z"
    )
    status, code, message = error_of(answer)
    assert (status, code) == (400, "EXCEEDED_ID_LIMIT")
    assert "3 ids, more than the 2 allowed" in message
