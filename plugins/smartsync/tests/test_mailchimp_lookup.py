"""The lookup of the ``mailchimp_members`` sink (the search steps of a flow): by
``constituent_id`` through the audience directory, by ``email`` through the subscriber hash."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash
from syncframe_simulators import FaultRule
from syncframe_smartsync.mailchimp_settings import MailchimpSettings
from syncframe_smartsync.mailchimp_sink import MemberSink, MemberSinkOptions

from plugins.smartsync.tests.mailchimp_helpers import (
    LIST_ID,
    connection_settings,
    make_simulator,
    member,
    seed_members,
)
from syncframe.components import ComponentContext, PermanentError, TargetRecord, TransientError
from syncframe.state import open_state

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> MailchimpSimulator:
    return make_simulator()


async def make_sink(sim: MailchimpSimulator, **settings: Any) -> AsyncIterator[MemberSink]:
    state = open_state("sqlite://:memory:", clock=sim.clock)
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        context = ComponentContext(
            flow="lookup",
            connection_name="mailchimp",
            connection=MailchimpSettings(**connection_settings(sim, **settings)),
            clock=sim.clock,
            state=state,
            logger=logging.getLogger("test"),
            http_factory=lambda: http,
        )
        yield MemberSink(context, MemberSinkOptions())
    state.close()


@pytest.fixture
async def sink(sim: MailchimpSimulator) -> AsyncIterator[MemberSink]:
    async for made in make_sink(sim):
        yield made


def calls(sim: MailchimpSimulator, after: int = 0) -> Counter[str]:
    return Counter(e.operation or "" for e in sim.journal.entries() if e.seq > after)


def last_seq(sim: MailchimpSimulator) -> int:
    entries = sim.journal.entries()
    return entries[-1].seq if entries else 0


def keys(found: dict[str, list[TargetRecord]]) -> dict[str, list[str]]:
    return {value: [r.key for r in records] for value, records in found.items()}


async def test_by_constituent_id_from_the_directory(
    sink: MemberSink, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim,
        member("ann@example.org", consid="10042", FNAME="Ann"),
        member("bob@example.org", consid="10043", status="unsubscribed"),
        member("cat@example.org"),
    )

    found = await sink.lookup().find("constituent_id", ["10042", "10043", "99999", ""])

    assert keys(found) == {
        "10042": [subscriber_hash("ann@example.org")],
        "10043": [subscriber_hash("bob@example.org")],
    }
    bob = found["10043"][0].fields
    assert (bob["email"], bob["constituent_id"]) == ("bob@example.org", "10043")
    assert (bob["email_status"], bob["member_status"]) == ("unsubscribed", "unsubscribed")
    assert found["10042"][0].fields["first_name"] == "Ann"
    # One read of the audience whatever the number of values (and its merge fields, once).
    assert calls(sim) == {"getListsIdMembers": 1, "getListsId": 1, "getListsIdMergeFields": 1}


async def test_by_email_one_read_each_with_every_field(
    sink: MemberSink, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("Dee@Example.org", consid="7", tags=["Donor"], FNAME="Dee"))

    found = await sink.lookup().find("email", ["dee@example.org", "nobody@example.org"])

    [record] = found["dee@example.org"]
    assert record.key == subscriber_hash("dee@example.org")
    assert record.fields["email"] == "Dee@Example.org"
    assert record.fields["first_name"] == "Dee"
    assert record.fields["constituent_id"] == "7"
    assert record.fields["tags"] == ["Donor"]
    assert record.fields["member_status"] == "subscribed"
    assert "nobody@example.org" not in found
    assert calls(sim)["getListsIdMembersId"] == 2


async def test_once_the_directory_is_loaded_emails_cost_no_call(
    sink: MemberSink, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("eve@example.org", consid="5"))
    lookup = sink.lookup()
    await lookup.find("constituent_id", ["5"])
    mark = last_seq(sim)

    found = await lookup.find("email", ["EVE@example.org", "zed@example.org"])

    assert keys(found) == {"EVE@example.org": [subscriber_hash("eve@example.org")]}
    assert calls(sim, mark) == {}


async def test_prepared_for_constituent_ids_the_first_lookup_costs_no_call(
    sink: MemberSink, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("fay@example.org", consid="31"), member("gil@example.org"))

    await sink.lookup().prepare(["constituent_id", "email"])
    assert calls(sim) == {"getListsIdMembers": 1, "getListsId": 1, "getListsIdMergeFields": 1}
    mark = last_seq(sim)

    # lookup() is asked again for each batch: what prepare loaded is the sink's.
    found = await sink.lookup().find("constituent_id", ["31", "32"])
    assert keys(found) == {"31": [subscriber_hash("fay@example.org")]}
    assert calls(sim, mark) == {}


async def test_prepared_for_emails_only_the_merge_fields_are_read(
    sink: MemberSink, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("hal@example.org", consid="8"))

    await sink.lookup().prepare(["email"])

    # Reading the whole audience would be wasted: emails are found by subscriber hash.
    assert calls(sim) == {"getListsId": 1, "getListsIdMergeFields": 1}
    found = await sink.lookup().find("email", ["hal@example.org"])
    assert found["hal@example.org"][0].fields["constituent_id"] == "8"
    assert calls(sim)["getListsIdMergeFields"] == 1


async def test_the_directory_catches_up_with_changes_made_in_mailchimp(
    sink: MemberSink, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("fay@example.org", consid="6"), member("gus@example.org"))
    lookup = sink.lookup()
    assert keys(await lookup.find("constituent_id", ["6"])) == {
        "6": [subscriber_hash("fay@example.org")]
    }
    async with sim.admin() as admin:
        base = f"mailchimp/lists/{LIST_ID}/members"
        await admin.request(
            "PATCH",
            f"{base}/{subscriber_hash('fay@example.org')}",
            json={"email_address": "fay@example.net"},
        )
        await admin.request(
            "PATCH",
            f"{base}/{subscriber_hash('gus@example.org')}",
            json={"merge_fields": {"CONSID": "8"}},
        )
    sink.directory.batch_done()  # the next batch starts
    mark = last_seq(sim)

    found = await lookup.find("constituent_id", ["6", "8"])

    # The moved member is found once, at its new address.
    assert keys(found) == {
        "6": [subscriber_hash("fay@example.net")],
        "8": [subscriber_hash("gus@example.org")],
    }
    assert calls(sim, mark) == {"getListsIdMembers": 1}


async def test_a_large_audience_is_read_a_page_at_a_time(sim: MailchimpSimulator) -> None:
    seed_members(sim, *(member(f"p{n}@example.org", consid=str(1000 + n)) for n in range(120)))
    async for sink in make_sink(sim, page_size=50):
        found = await sink.lookup().find("constituent_id", ["1000", "1119", "1200"])

        assert keys(found) == {
            "1000": [subscriber_hash("p0@example.org")],
            "1119": [subscriber_hash("p119@example.org")],
        }
        assert calls(sim)["getListsIdMembers"] == 3


async def test_other_fields_cannot_be_searched(sink: MemberSink) -> None:
    with pytest.raises(
        PermanentError, match="cannot be found by 'last_name'; they can by constituent_id, email"
    ):
        await sink.lookup().find("last_name", ["Baker"])


async def test_a_first_reading_cut_short_is_finished_before_answering(
    sim: MailchimpSimulator,
) -> None:
    seed_members(sim, *(member(f"q{n}@example.org", consid=str(2000 + n)) for n in range(120)))
    # The second page of the audience gets a 503.
    sim.faults.add(
        FaultRule(kind="error", status=503, times=1, after=1, operation="getListsIdMembers")
    )
    async for sink in make_sink(sim, page_size=50):
        lookup = sink.lookup()
        with pytest.raises(TransientError):
            await lookup.find("constituent_id", ["2000"])
        assert not sink.directory.loaded

        found = await lookup.find("constituent_id", ["2000", "2119"])
        by_email = await lookup.find("email", ["q119@example.org"])

        assert keys(found) == {
            "2000": [subscriber_hash("q0@example.org")],
            "2119": [subscriber_hash("q119@example.org")],
        }
        assert keys(by_email) == {"q119@example.org": [subscriber_hash("q119@example.org")]}
        assert sink.directory.loaded
