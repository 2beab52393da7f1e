"""The ``mailchimp_members`` sink: members created and updated (status, merge fields, tags),
found by CONSID then email, written side by side, idempotent, and refused with reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash

from plugins.smartsync.tests.mailchimp_helpers import (
    CASCADE,
    LIST_ID,
    MailchimpWorld,
    make_simulator,
    member,
    members,
    seed_members,
)
from syncframe.clock import ManualClock
from syncframe.records import Operation

pytestmark = pytest.mark.anyio

ANN = {
    "constituent_id": "10042",
    "email": "Ann.Baker@Example.org",
    "first_name": "Ann",
    "last_name": "Baker",
    "address1": "1 High St",
    "city": "Leeds",
    "postal_code": "LS1 1AA",
    "country": "GB",
    "phone": "+44 113 000 0000",
    "email_status": "subscribed",
    "tags": ["Donor"],
}


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


def writes(sim: MailchimpSimulator, after: int = 0) -> list[tuple[str, str]]:
    """The member writes the simulator received (method, operation) after journal seq."""
    return [
        (e.method, e.operation or "")
        for e in sim.journal.entries()
        if e.seq > after and e.method != "GET"
    ]


def last_seq(sim: MailchimpSimulator) -> int:
    entries = sim.journal.entries()
    return entries[-1].seq if entries else 0


def the_member(sim: MailchimpSimulator, email: str) -> dict[str, Any]:
    return members(sim)[email.lower()]


async def test_a_new_member_is_created_with_one_call(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.queue("r1", ANN)

    report = await world.write(matchers=CASCADE)

    assert report.summary.counts == {"created": 1}
    landed = the_member(sim, "ann.baker@example.org")
    assert landed["email_address"] == "Ann.Baker@Example.org"
    assert landed["status"] == "subscribed"
    assert landed["merge_fields"]["FNAME"] == "Ann"
    assert landed["merge_fields"]["LNAME"] == "Baker"
    assert landed["merge_fields"]["CONSID"] == "10042"
    assert landed["merge_fields"]["PHONE"] == "+44 113 000 0000"
    assert landed["merge_fields"]["ADDRESS"] == {
        "addr1": "1 High St",
        "addr2": "",
        "city": "Leeds",
        "state": "",
        "zip": "LS1 1AA",
        "country": "GB",
    }
    assert [t["name"] for t in landed["tags"]] == ["Donor"]
    assert writes(sim) == [("POST", "postListsIdMembers")]
    assert world.outcomes(report)["r1"] == ("created", None, subscriber_hash(ANN["email"]))


async def test_writing_the_same_changes_again_is_unchanged_and_costs_no_write(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.queue("r1", ANN)
    await world.write(matchers=CASCADE)
    stamped = the_member(sim, ANN["email"])["last_changed"]
    mark = last_seq(sim)
    assert isinstance(sim.clock, ManualClock)
    sim.clock.advance(minutes=1)

    world.state.reset_flow("write")
    again = await world.write(matchers=CASCADE)

    assert again.summary.counts == {"unchanged": 1}
    assert writes(sim, mark) == []
    assert the_member(sim, ANN["email"])["last_changed"] == stamped
    assert len(members(sim)) == 1


async def test_only_what_differs_is_sent_and_tags_are_added_and_removed(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim,
        member(
            "ann.baker@example.org",
            consid="10042",
            tags=["Donor", "Lapsed"],
            FNAME="Ann",
            LNAME="Baker",
            ADDRESS={"addr1": "1 High St", "city": "Leeds", "zip": "LS1 1AA", "country": "GB"},
        ),
    )
    world.queue(
        "r1",
        {
            "constituent_id": "10042",
            "email": "ann.baker@example.org",
            "last_name": "Baker-Smith",
            "city": "York",
            "tags": ["Volunteer"],
            "remove_tags": "Lapsed",
        },
    )

    report = await world.write(matchers=CASCADE, tags=["From RE"])

    assert report.summary.counts == {"updated": 1}
    landed = the_member(sim, "ann.baker@example.org")
    assert landed["merge_fields"]["FNAME"] == "Ann"
    assert landed["merge_fields"]["LNAME"] == "Baker-Smith"
    # The address keeps the parts the change did not name.
    assert landed["merge_fields"]["ADDRESS"]["addr1"] == "1 High St"
    assert landed["merge_fields"]["ADDRESS"]["city"] == "York"
    assert sorted(t["name"] for t in landed["tags"]) == ["Donor", "From RE", "Volunteer"]
    assert writes(sim) == [("PUT", "putListsIdMembersId"), ("POST", "postListMemberTags")]


async def test_an_email_change_of_a_member_found_by_consid(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("old@example.org", consid="501", FNAME="Olga"))
    world.queue("r1", {"constituent_id": "501", "email": "new@example.org", "first_name": "Olga"})

    report = await world.write(matchers=CASCADE)

    assert report.summary.counts == {"updated": 1}
    held = members(sim)
    assert list(held) == ["new@example.org"]
    assert held["new@example.org"]["merge_fields"]["CONSID"] == "501"
    assert world.outcomes(report)["r1"][2] == subscriber_hash("new@example.org")


async def test_without_matchers_the_sink_finds_the_member_by_consid_itself(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("old@example.org", consid="502"))
    world.queue("r1", {"constituent_id": "502", "email": "moved@example.org"})

    report = await world.write()

    assert report.summary.counts == {"updated": 1}
    assert list(members(sim)) == ["moved@example.org"]


async def test_two_changes_of_one_constituent_in_a_batch_stay_in_order(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.queue("r1", {"constituent_id": "77", "email": "first@example.org", "first_name": "A"})
    world.queue("r1", {"constituent_id": "77", "email": "second@example.org", "first_name": "B"})

    report = await world.write()

    assert report.summary.counts == {"created": 1, "updated": 1}
    held = members(sim)
    assert list(held) == ["second@example.org"]
    assert held["second@example.org"]["merge_fields"]["FNAME"] == "B"


async def test_status_changes_and_the_resubscribe_option(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim,
        member("leaving@example.org", consid="1"),
        member("gone@example.org", consid="2", status="unsubscribed"),
        member("back@example.org", consid="3", status="unsubscribed"),
        member("bounced@example.org", consid="4", status="cleaned"),
    )
    world.queue(
        "leave",
        {"constituent_id": "1", "email": "leaving@example.org", "email_status": "unsubscribed"},
    )
    world.queue(
        "keep", {"constituent_id": "2", "email": "gone@example.org", "email_status": "subscribed"}
    )
    report = await world.write(matchers=CASCADE)

    outcomes = world.outcomes(report)
    assert outcomes["leave"][0] == "updated"
    assert outcomes["keep"][0] == "unchanged"
    assert "kept unsubscribed" in (outcomes["keep"][1] or "")
    assert the_member(sim, "leaving@example.org")["status"] == "unsubscribed"
    assert the_member(sim, "gone@example.org")["status"] == "unsubscribed"

    world.queue(
        "pending",
        {"constituent_id": "3", "email": "back@example.org", "email_status": "subscribed"},
    )
    report = await world.write(matchers=CASCADE, resubscribe="pending")
    assert world.outcomes(report)["pending"][0] == "updated"
    assert the_member(sim, "back@example.org")["status"] == "pending"

    world.queue(
        "cleaned",
        {"constituent_id": "4", "email": "bounced@example.org", "email_status": "subscribed"},
    )
    report = await world.write(matchers=CASCADE, resubscribe="subscribed")
    outcome, reason, _ = world.outcomes(report)["cleaned"]
    assert outcome == "rejected"
    assert "Member In Compliance State" in (reason or "")
    assert the_member(sim, "bounced@example.org")["status"] == "cleaned"


async def test_new_members_take_status_if_new_without_email_status(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.queue("r1", {"email": "quiet@example.org", "constituent_id": "9"})

    await world.write(status_if_new="pending")

    assert the_member(sim, "quiet@example.org")["status"] == "pending"


async def test_refusals_and_bad_fields_are_rejected_with_their_reasons(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.queue("bad-email", {"constituent_id": "1", "email": "not-an-email"})
    world.queue(
        "bad-status", {"constituent_id": "2", "email": "b@example.org", "email_status": "maybe"}
    )
    world.queue("no-field", {"constituent_id": "3", "email": "c@example.org", "SHOESIZE": "9"})
    world.queue("no-email", {"constituent_id": "4", "first_name": "Nemo"})
    world.queue("bad-tags", {"constituent_id": "5", "email": "e@example.org", "tags": 5})
    world.queue("good", {"constituent_id": "6", "email": "good@example.org", "re_gift_total": 10})

    report = await world.write(matchers=CASCADE)

    outcomes = world.outcomes(report)
    assert outcomes["good"][0] == "created"  # another system's field is ignored by default
    reasons = {key: outcomes[key][1] or "" for key in outcomes if key != "good"}
    assert {key: outcomes[key][0] for key in reasons} == dict.fromkeys(reasons, "rejected")
    assert "Please provide a valid email address" in reasons["bad-email"]
    assert "email_status 'maybe' is not one of subscribed" in reasons["bad-status"]
    assert "SHOESIZE: the audience has no merge field SHOESIZE" in reasons["no-field"]
    assert "no email" in reasons["no-email"]
    assert "tags must be a list of tag names" in reasons["bad-tags"]
    assert list(members(sim)) == ["good@example.org"]
    failed = {f.change["keys"]["id"] for f in world.state.list_failed(flow="write")}
    assert failed == set(reasons)


async def test_unknown_fields_may_be_rejected(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.queue("r1", {"email": "x@example.org", "re_gift_total": 10, "nickname": "Ex"})

    report = await world.write(unknown_fields="reject")

    outcome, reason, _ = world.outcomes(report)["r1"]
    assert outcome == "rejected"
    assert "nickname, re_gift_total: not fields of a Mailchimp member" in (reason or "")
    assert members(sim) == {}


async def test_a_mapped_field_the_audience_lacks_rejects_only_when_it_has_a_value(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.connection["merge_fields"] = {"nickname": "NICKNAME"}
    world.queue("with", {"email": "n1@example.org", "nickname": "Nick"})
    world.queue("without", {"email": "n2@example.org", "nickname": ""})

    report = await world.write()

    outcomes = world.outcomes(report)
    assert outcomes["with"][0] == "rejected"
    assert "nickname: the audience has no merge field NICKNAME" in (outcomes["with"][1] or "")
    assert outcomes["without"][0] == "created"


async def test_two_members_holding_one_consid_are_not_guessed(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim, member("one@example.org", consid="42"), member("two@example.org", consid="42")
    )
    world.queue("r1", {"constituent_id": "42", "email": "three@example.org"})

    report = await world.write()

    outcome, reason, _ = world.outcomes(report)["r1"]
    assert outcome == "rejected"
    assert "2 members of audience a1b2c3d4e5 hold constituent_id 42" in (reason or "")
    assert sorted(members(sim)) == ["one@example.org", "two@example.org"]


async def test_deletes_archive_unsubscribe_or_skip(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("a@example.org", consid="1"), member("b@example.org", consid="2"))
    world.queue("a", {"constituent_id": "1", "email": "a@example.org"}, Operation.DELETE)
    world.queue("ghost", {"constituent_id": "99", "email": "ghost@example.org"}, Operation.DELETE)
    report = await world.write()
    assert {k: v[0] for k, v in world.outcomes(report).items()} == {
        "a": "deleted",
        "ghost": "unchanged",
    }
    assert the_member(sim, "a@example.org")["status"] == "archived"

    world.queue("a", {"constituent_id": "1", "email": "a@example.org"}, Operation.DELETE)
    world.queue("b", {"constituent_id": "2", "email": "b@example.org"}, Operation.DELETE)
    report = await world.write(on_delete="unsubscribe")
    assert {k: v[0] for k, v in world.outcomes(report).items()} == {
        "a": "unchanged",
        "b": "updated",
    }
    assert the_member(sim, "b@example.org")["status"] == "unsubscribed"

    world.queue("b", {"constituent_id": "2", "email": "b@example.org"}, Operation.DELETE)
    report = await world.write(on_delete="skip")
    assert world.outcomes(report)["b"][0] == "skipped"


async def test_an_archived_member_comes_back(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("back@example.org", consid="8", status="archived"))
    world.queue("r1", {"constituent_id": "8", "email": "back@example.org", "first_name": "Bo"})

    report = await world.write(matchers=CASCADE)

    assert report.summary.counts == {"updated": 1}
    landed = the_member(sim, "back@example.org")
    assert (landed["status"], landed["merge_fields"]["FNAME"]) == ("subscribed", "Bo")


async def test_a_batch_is_written_concurrently_up_to_the_connection_limit(
    tmp_path: Path,
) -> None:
    sim = make_simulator(latency=0.05)
    world = MailchimpWorld(tmp_path, sim)
    try:
        for n in range(40):
            world.queue(f"r{n}", {"constituent_id": str(n), "email": f"c{n}@example.org"})
        report = await world.write(matchers=CASCADE)
        connections = sim.connections.to_json()
    finally:
        world.close()

    assert report.summary.counts == {"created": 40}
    assert list(connections["peak"].values()) == [10]
    assert connections["refused"] == {}


async def test_a_lower_connection_limit_is_respected(tmp_path: Path) -> None:
    sim = make_simulator(latency=0.05)
    world = MailchimpWorld(tmp_path, sim)
    world.connection["max_concurrency"] = 3
    try:
        for n in range(12):
            world.queue(f"r{n}", {"email": f"d{n}@example.org"})
        report = await world.write()
        connections = sim.connections.to_json()
    finally:
        world.close()

    assert report.summary.counts == {"created": 12}
    assert list(connections["peak"].values()) == [3]


async def test_a_big_batch_of_new_members_costs_one_write_each(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(sim, *(member(f"old{n}@example.org", consid=f"o{n}") for n in range(30)))
    mark = last_seq(sim)
    for n in range(60):
        world.queue(f"r{n}", {"constituent_id": f"n{n}", "email": f"new{n}@example.org"})

    report = await world.write(matchers=CASCADE)

    assert report.summary.counts == {"created": 60}
    calls = Counter(e.operation for e in sim.journal.entries() if e.seq > mark)
    # The audience read once (the directory), the merge fields once, one POST per member.
    assert calls == {
        "getListsId": 1,
        "getListsIdMergeFields": 1,
        "getListsIdMembers": 1,
        "postListsIdMembers": 60,
    }


async def test_a_dry_run_writes_nothing(world: MailchimpWorld, sim: MailchimpSimulator) -> None:
    seed_members(sim, member("known@example.org", consid="1", FNAME="Kay"))
    world.queue("new", {"constituent_id": "2", "email": "new@example.org"})
    world.queue(
        "known", {"constituent_id": "1", "email": "known@example.org", "first_name": "Kate"}
    )

    report = await world.write(matchers=CASCADE, dry_run=True)

    assert report.summary.counts == {"created": 1, "updated": 1}
    assert writes(sim) == []
    assert the_member(sim, "known@example.org")["merge_fields"]["FNAME"] == "Kay"


async def test_a_bad_api_key_fails_the_run_without_showing_it(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    world.connection["api_key"] = "fedcba9876543210fedcba9876543210-us6"
    world.queue("r1", {"email": "x@example.org"})

    report = await world.write()

    # Not a problem of the record: the engine tried it alone, and it failed again.
    assert report.summary.counts == {"failed": 1}
    [failed] = world.state.list_failed(flow="write")
    assert "Mailchimp refused the API key" in failed.reason
    assert "API Key Invalid" in failed.reason
    assert "fedcba9876543210" not in failed.reason
    assert sim.account.audiences[LIST_ID].members == {}


async def test_members_written_are_recognised_when_read_back(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    # RE -> Mailchimp writes Ann; the Mailchimp -> RE flow reads her back within the hour and
    # the one-way loop guard holds her back, while Bob (edited in Mailchimp) flows.
    seed_members(sim, member("bob@example.org", consid="2"))
    flows = {
        **world.write_flows(matchers=CASCADE),
        "back": {
            "source": {"type": "mailchimp_members", "connection": "mailchimp"},
            "loop_guards": [{"type": "one_way_window", "window": "1h"}],
            "sink": {"type": "conformance_capture"},
        },
    }
    world.queue("r1", ANN)
    written = await world.run(flows, "write")

    back = await world.run(flows, "back")

    assert written.summary.counts == {"created": 1}
    assert back.summary.counts == {"blocked": 1, "created": 1}
    assert [c.keys["email"] for c in world.take_read()] == ["bob@example.org"]
    [entry] = world.state.ledger_get(
        "mailchimp", "member", [subscriber_hash(ANN["email"])]
    ).values()
    assert entry.values["constituent_id"] == "10042"


async def test_known_members_cost_one_write_when_changed_and_none_when_not(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim, *(member(f"k{n}@example.org", consid=f"k{n}", FNAME="Old") for n in range(20))
    )
    mark = last_seq(sim)
    for n in range(20):
        name = "New" if n < 10 else "Old"
        world.queue(
            f"r{n}", {"constituent_id": f"k{n}", "email": f"k{n}@example.org", "first_name": name}
        )

    report = await world.write(matchers=CASCADE)

    assert report.summary.counts == {"updated": 10, "unchanged": 10}
    calls = Counter(e.operation for e in sim.journal.entries() if e.seq > mark)
    assert calls == {
        "getListsId": 1,
        "getListsIdMergeFields": 1,
        "getListsIdMembers": 1,
        "putListsIdMembersId": 10,
    }
    assert {m["merge_fields"]["FNAME"] for m in members(sim).values()} == {"New", "Old"}


async def test_mailchimps_own_refusals_name_the_field(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim, member("taken@example.org", consid="1"), member("mover@example.org", consid="2")
    )
    world.queue("bad-birthday", {"email": "bday@example.org", "BIRTHDAY": "99/99"})
    world.queue("taken", {"constituent_id": "2", "email": "taken@example.org"})

    report = await world.write(matchers=CASCADE)

    outcomes = world.outcomes(report)
    assert outcomes["bad-birthday"][0] == "rejected"
    assert "Invalid Resource: Your merge fields were invalid. (BIRTHDAY:" in (
        outcomes["bad-birthday"][1] or ""
    )
    assert outcomes["taken"][0] == "rejected"
    assert "Member Exists" in (outcomes["taken"][1] or "")
    assert sorted(members(sim)) == ["mover@example.org", "taken@example.org"]


async def test_a_member_added_meanwhile_is_updated_not_refused(
    world: MailchimpWorld, sim: MailchimpSimulator
) -> None:
    added: list[str] = []

    async def someone_signs_up(request: httpx.Request, response: httpx.Response) -> None:
        # Right after the sink found no such member, the contact signs up in Mailchimp.
        if request.method == "GET" and response.status_code == 404 and not added:
            added.append("race@example.org")
            async with sim.admin() as admin:
                await admin.post(
                    f"mailchimp/lists/{LIST_ID}/signup", {"email_address": "race@example.org"}
                )

    world.after_response = someone_signs_up
    world.queue("r1", {"email": "race@example.org", "first_name": "Rae"})

    report = await world.write()

    assert added
    assert report.summary.counts == {"updated": 1}
    assert the_member(sim, "race@example.org")["merge_fields"]["FNAME"] == "Rae"
    assert len(members(sim)) == 1
