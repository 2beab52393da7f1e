"""The ``mailchimp_members`` source: members changed since the last run, in the common
vocabulary, read exactly once however the pages and the seconds fall."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash
from syncframe_simulators import FaultRule

from plugins.smartsync.tests.mailchimp_helpers import (
    LIST_ID,
    START,
    MailchimpWorld,
    make_simulator,
    member,
    seed_members,
)
from syncframe.clock import ManualClock
from syncframe.records import Operation, Origin

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> MailchimpSimulator:
    return make_simulator()


@pytest.fixture
def world(tmp_path: Path, sim: MailchimpSimulator) -> Iterator[MailchimpWorld]:
    made = MailchimpWorld(tmp_path, sim)
    yield made
    made.close()


def clock_of(sim: MailchimpSimulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


async def test_a_member_becomes_a_change_in_the_common_vocabulary(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    address = {
        "addr1": "1 High St",
        "addr2": "Flat 2",
        "city": "Leeds",
        "state": "",
        "zip": "LS1 1AA",
        "country": "GB",
    }
    seed_members(
        sim,
        member(
            "Ann.Baker@Example.org",
            consid="10042",
            tags=["Donor"],
            FNAME="Ann",
            LNAME="Baker",
            ADDRESS=address,
            PHONE="+44 113 000 0000",
            BIRTHDAY="05/14",
        ),
    )

    report, [change] = await world.read()

    assert report.summary.status == "succeeded"
    assert change.system == "mailchimp"
    assert change.entity == "member"
    assert change.operation is Operation.UPDATE
    assert change.keys == {
        "id": subscriber_hash("ann.baker@example.org"),
        "email": "Ann.Baker@Example.org",
    }
    assert change.fields == {
        "email": "Ann.Baker@Example.org",
        "email_status": "subscribed",
        "first_name": "Ann",
        "last_name": "Baker",
        "address1": "1 High St",
        "address2": "Flat 2",
        "city": "Leeds",
        "postal_code": "LS1 1AA",
        "country": "GB",
        "phone": "+44 113 000 0000",
        "BIRTHDAY": "05/14",
        "constituent_id": "10042",
        "tags": ["Donor"],
    }
    assert change.occurred_at == START
    assert change.origin == Origin(system="mailchimp")


async def test_statuses_archived_members_and_empty_values(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim,
        member("unsub@example.org", status="unsubscribed", FNAME="Una"),
        member("transactional@example.org", status="transactional"),
        member("archived@example.org", status="archived", consid="7"),
    )

    _, changes = await world.read(include_empty=True)

    by_email = {c.keys["email"]: c for c in changes}
    assert by_email["unsub@example.org"].fields["email_status"] == "unsubscribed"
    # Not a consent status of the vocabulary: no email_status at all.
    assert "email_status" not in by_email["transactional@example.org"].fields
    archived = by_email["archived@example.org"]
    assert archived.operation is Operation.DELETE
    assert archived.fields["constituent_id"] == "7"
    # include_empty carries what Mailchimp holds no value for, as empty text.
    assert by_email["unsub@example.org"].fields["last_name"] == ""
    assert by_email["unsub@example.org"].fields["address1"] == ""


async def test_second_run_reads_only_what_changed_since(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("a@example.org"), member("b@example.org"))
    _, first = await world.read()
    assert sorted(c.keys["email"] for c in first) == ["a@example.org", "b@example.org"]

    clock_of(sim).advance(minutes=5)
    async with sim.admin() as admin:
        await admin.request(
            "PATCH",
            f"mailchimp/lists/{LIST_ID}/members/{subscriber_hash('b@example.org')}",
            json={"merge_fields": {"FNAME": "Bea"}},
        )
    _, second = await world.read()
    _, third = await world.read()

    assert [(c.keys["email"], c.fields["first_name"]) for c in second] == [("b@example.org", "Bea")]
    assert second[0].occurred_at == START + timedelta(minutes=5)
    assert third == []


async def test_many_members_changed_in_one_second_are_each_read_once_across_pages(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    # 250 members with the same last_changed, read 40 a batch: page boundaries fall inside
    # the second again and again.
    emails = [f"same{n:03d}@example.org" for n in range(250)]
    seed_members(sim, *(member(email) for email in emails))

    report, changes = await world.read(batch_size=40)

    assert report.summary.status == "succeeded"
    read = Counter(c.keys["email"] for c in changes)
    assert sorted(read) == sorted(emails)
    assert set(read.values()) == {1}
    assert report.summary.batches == 7
    # A member added in the same second after the run is read by the next, and only it.
    seed_members(sim, member("late@example.org"))
    _, later = await world.read(batch_size=40)
    assert [c.keys["email"] for c in later] == ["late@example.org"]


@pytest.mark.parametrize("batch_size", [100, 1000])
async def test_a_second_change_in_the_same_second_is_read_again(
    world: MailchimpWorld, sim: MailchimpSimulator, batch_size: int
) -> None:
    seed_members(sim, member("twice@example.org", FNAME="One"), member("other@example.org"))
    _, first = await world.read(batch_size=batch_size)
    assert len(first) == 2

    # Same second (the clock did not move): last_changed stays, the member's data changed.
    async with sim.admin() as admin:
        await admin.request(
            "PATCH",
            f"mailchimp/lists/{LIST_ID}/members/{subscriber_hash('twice@example.org')}",
            json={"merge_fields": {"FNAME": "Two"}},
        )
    _, second = await world.read(batch_size=batch_size)

    assert [(c.keys["email"], c.fields["first_name"]) for c in second] == [
        ("twice@example.org", "Two")
    ]
    assert second[0].occurred_at == first[0].occurred_at


async def test_changes_made_while_paging_are_not_lost(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    # Members changed ten seconds apart; the first one read changes again while the run is
    # still paging (an offset-paged listing would now skip a member).
    for n in range(6):
        seed_members(sim, member(f"m{n}@example.org"))
        clock_of(sim).advance(seconds=10)
    edited: list[str] = []

    async def edit_after_the_first_page(request: httpx.Request, _: httpx.Response) -> None:
        if request.method == "GET" and request.url.path.endswith("/members") and not edited:
            edited.append("m0@example.org")
            async with sim.admin() as admin:
                await admin.request(
                    "PATCH",
                    f"mailchimp/lists/{LIST_ID}/members/{subscriber_hash('m0@example.org')}",
                    json={"merge_fields": {"FNAME": "Changed"}},
                )

    world.after_response = edit_after_the_first_page
    _, changes = await world.read(batch_size=2)

    emails = Counter(c.keys["email"] for c in changes)
    assert edited
    assert emails == Counter({**{f"m{n}@example.org": 1 for n in range(1, 6)}, "m0@example.org": 2})
    assert (changes[-1].keys["email"], changes[-1].fields["first_name"]) == (
        "m0@example.org",
        "Changed",
    )


async def test_since_option_starts_the_first_run_there(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("old@example.org", last_changed=START - timedelta(days=3)))
    seed_members(sim, member("new@example.org", last_changed=START - timedelta(hours=1)))

    _, changes = await world.read(since=(START - timedelta(days=1)).isoformat())

    assert [c.keys["email"] for c in changes] == ["new@example.org"]


async def test_a_503_in_the_middle_of_paging_is_retried_without_reading_twice(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, *(member(f"p{n}@example.org") for n in range(5)))
    sim.faults.add(FaultRule(kind="error", status=503, times=1, after=1, method="GET"))

    report, changes = await world.read(batch_size=2)

    assert report.summary.status == "succeeded"
    assert world.waits  # the engine waited and read again
    assert Counter(c.keys["email"] for c in changes) == Counter(
        {f"p{n}@example.org": 1 for n in range(5)}
    )


async def test_the_cursor_is_the_watermark_and_the_members_read_at_it(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("c1@example.org"), member("c2@example.org"))
    await world.read()

    checkpoint = world.state.get_checkpoint("read")
    assert checkpoint is not None
    assert checkpoint.cursor["last_changed"] == START.isoformat()
    assert sorted(checkpoint.cursor["seen"]) == sorted(
        [subscriber_hash("c1@example.org"), subscriber_hash("c2@example.org")]
    )


async def test_a_missing_audience_fails_the_run_naming_it(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    report, changes = await world.read(list_id="nosuchlist")

    assert report.summary.status == "failed"
    assert "nosuchlist" in (report.summary.error or "")
    assert "Resource Not Found" in (report.summary.error or "")
    assert changes == []


async def test_an_import_of_more_than_a_page_in_one_second_is_read_whole(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    # Mailchimp serves at most 1000 members a page; 1100 share one last_changed.
    emails = [f"import{n:04d}@example.org" for n in range(1100)]
    seed_members(sim, *(member(email) for email in emails))

    report, changes = await world.read(batch_size=1000)

    assert report.summary.batches == 2
    read = Counter(c.keys["email"] for c in changes)
    assert sorted(read) == emails
    assert set(read.values()) == {1}
