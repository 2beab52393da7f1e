"""Edits by people and processes (admin, donor portal, API, NCOA, query update, import): each
lands on the contact, on its audit log, and fires ContactUpdate naming its source."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from virtuous_simulator import EDIT_SOURCES, VirtuousSimulator
from virtuous_simulator.sample import ncoa_moves, populate

from simulators.virtuous.tests.conftest import Receiver, household, subscribe

pytestmark = pytest.mark.anyio


async def edit(admin: httpx.AsyncClient, contact_id: int, **body: Any) -> httpx.Response:
    return await admin.post(f"/contacts/{contact_id}/edit", json=body)


@pytest.mark.parametrize("source", EDIT_SOURCES)
async def test_every_edit_source_fires_contact_update_with_its_source(
    sim: VirtuousSimulator, admin: httpx.AsyncClient, receiver: Receiver, source: str
) -> None:
    contact = sim.create_contact(household())
    subscribe(sim)
    answer = await edit(
        admin,
        contact.id,
        source=source,
        user="Pat Staff",
        fields={"phone": "(512) 555-0142", "address": {"address1": "9 Oak Avenue"}},
    )
    assert answer.status_code == 200, answer.text
    assert [c["field"] for c in answer.json()["changes"]] == ["Primary Phone", "Primary Address"]
    await sim.deliver_webhooks()
    [event] = receiver.events()
    assert (event["event"], event["source"]) == ("ContactUpdate", source)
    assert event["contact"]["address"]["address1"] == "9 Oak Avenue"
    audit = [(e.user, e.source, e.field) for e in sim.contacts.get(contact.id).audit[1:]]
    assert audit == [
        ("Pat Staff", source, "Primary Phone"),
        ("Pat Staff", source, "Primary Address"),
    ]


async def test_names_emails_and_a_known_user(
    sim: VirtuousSimulator, admin: httpx.AsyncClient
) -> None:
    contact = sim.create_contact(household())
    answer = await edit(
        admin,
        contact.id,
        source="admin",
        user="sync@example.org",  # a username: the audit log shows the person's name
        fields={"firstName": "Anna", "email": "anna@example.org"},
    )
    assert [(c["field"], c["old"], c["new"]) for c in answer.json()["changes"]] == [
        ("First Name", "Ann", "Anna"),
        ("Name", "Ann Baker", "Anna Baker"),
        ("Primary Email", "ann.baker@example.org", "anna@example.org"),
    ]
    stored = sim.contacts.get(contact.id)
    assert {e.user for e in stored.audit[1:]} == {"RaiseDonors Sync"}
    assert [c.id for c in sim.contacts.find_by_email("anna@example.org")] == [contact.id]
    assert sim.contacts.find_by_email("ann.baker@example.org") == []
    audit = (await admin.get(f"/contacts/{contact.id}/audit")).json()
    assert audit["entries"][-1] == {
        "at": "2026-01-01T09:00:00.000Z",
        "user": "RaiseDonors Sync",
        "source": "admin",
        "field": "Primary Email",
        "oldValue": "ann.baker@example.org",
        "newValue": "anna@example.org",
        "note": None,
    }


async def test_an_edit_that_changes_nothing_fires_nothing(
    sim: VirtuousSimulator, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    contact = sim.create_contact(household())
    subscribe(sim)
    answer = await edit(admin, contact.id, source="api", fields={"firstName": "Ann"})
    assert answer.json()["changes"] == []
    assert (await sim.deliver_webhooks()).attempted == 0
    assert len(sim.contacts.get(contact.id).audit) == 1


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"source": "fax", "fields": {"phone": "1"}}, 400, "source"),
        ({"source": "admin", "fields": {"shoeSize": 9}}, 422, "fields.shoeSize"),
        ({"source": "admin", "fields": {"email": "not-an-email"}}, 400, "email"),
        ({"source": "admin", "fields": {"name": None}}, 400, "name"),
        ({"source": "admin", "fields": {"emailType": "Home Phone"}}, 400, "emailType"),
        ({"fields": {}}, 422, "source"),
    ],
)
async def test_bad_edits_change_nothing(
    sim: VirtuousSimulator,
    admin: httpx.AsyncClient,
    body: dict[str, Any],
    status: int,
    names: str,
) -> None:
    contact = sim.create_contact(household())
    answer = await edit(admin, contact.id, **body)
    assert answer.status_code == status
    assert names in answer.json()["error"]
    assert len(sim.contacts.get(contact.id).audit) == 1
    missing = await edit(admin, 4242, source="admin", fields={"phone": "1"})
    assert missing.status_code == 404


async def test_a_second_address_and_phone_then_switching_the_primary(
    sim: VirtuousSimulator, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    contact = sim.create_contact(household())
    subscribe(sim)
    second = await admin.post(
        f"/contacts/{contact.id}/addresses",
        json={"address": {"address1": "5 Lake Court", "city": "Madison", "state": "WI"}},
    )
    assert second.status_code == 201
    body = second.json()
    assert [a["isPrimary"] for a in body["contact"]["addresses"]] == [True, False]
    assert body["contact"]["address"]["city"] == "Austin"
    mobile = await admin.post(
        f"/contacts/{contact.id}/contact-methods",
        json={"type": "Mobile Phone", "value": "(608) 555-0100"},
    )
    assert mobile.status_code == 201
    assert sim.contacts.get(contact.id).primary_value("Phone") == "(512) 555-0100"
    moved = await admin.post(
        f"/contacts/{contact.id}/addresses",
        json={"source": "donor_portal", "address": {"address1": "7 Hill Way", "isPrimary": True}},
    )
    assert moved.json()["changes"][0]["field"] == "Primary Address"
    stored = sim.contacts.get(contact.id)
    assert [a.is_primary for a in stored.addresses] == [False, False, True]
    await sim.deliver_webhooks()
    assert [e["source"] for e in receiver.events()] == ["admin", "admin", "donor_portal"]
    assert receiver.events()[-1]["contact"]["address"]["address1"] == "7 Hill Way"


async def test_query_update_edits_every_match(
    sim: VirtuousSimulator, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    for n in range(3):
        sim.create_contact(household(f"A{n}", "Z", email=f"a{n}@example.org", reference_id=None))
    sim.create_contact(household("R", "Z", email="r@example.org", reference_id="100009"))
    subscribe(sim)
    query = {
        "groups": [{"conditions": [{"parameter": "Reference Source", "operator": "IsNotSet"}]}]
    }
    answer = await admin.post(
        "/query-update",
        json={"query": query, "fields": {"address": {"country": "USA"}}, "user": "Pat Staff"},
    )
    assert answer.json() == {"matched": 3, "updated": 3}
    await sim.deliver_webhooks()
    events = receiver.events()
    assert {e["source"] for e in events} == {"query_update"}
    assert sorted(e["contact"]["id"] for e in events) == [1001, 1002, 1003]
    assert sim.contacts.get(1004).primary_address().country == "United States"  # type: ignore[union-attr]


async def test_ncoa_bulk_moves_many_contacts(
    sim: VirtuousSimulator, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    org = populate(sim, contacts=2000)
    subscribe(sim, "ContactUpdate")
    moves = ncoa_moves(org.contacts[:1500])
    moves.append({"contactId": 999_999, "address": {"address1": "1 Nowhere"}})
    answer = await admin.post("/ncoa", json={"updates": moves})
    assert answer.status_code == 200
    assert answer.json() == {"updated": 1500, "unchanged": 0, "notFound": [999_999]}
    for move in moves[:1500]:
        contact = sim.contacts.get(move["contactId"])
        primary = contact.primary_address()
        assert primary is not None
        assert (primary.address1, primary.city, primary.postal) == (
            move["address"]["address1"],
            move["address"]["city"],
            move["address"]["postal"],
        )
        # The old address stays on the contact, no longer primary.
        assert sum(a.is_primary for a in contact.addresses) == 1
        assert len(contact.addresses) >= 2
        assert contact.audit[-1].source == "ncoa"
        assert contact.audit[-1].user == "NCOA"
    untouched = sim.contacts.get(org.contacts[1500])
    assert len(untouched.audit) == 1
    # The same file again changes nothing.
    again = await admin.post("/ncoa", json={"updates": moves[:1500]})
    assert again.json()["unchanged"] == 1500
    report = await sim.deliver_webhooks()
    assert (report.attempted, report.delivered) == (1500, 1500)
    assert len(report.outcomes) == 1000  # the report lists at most 1,000; the log has all
    assert sim.webhooks.counts == {"pending": 0, "delivered": 1500, "failed": 0}
    events = receiver.events()
    assert {e["source"] for e in events} == {"ncoa"}
    assert sorted(e["contact"]["id"] for e in events) == sorted(
        m["contactId"] for m in moves[:1500]
    )


async def test_ncoa_names_a_bad_update(admin: httpx.AsyncClient) -> None:
    answer = await admin.post("/ncoa", json={"updates": [{"contactId": "x", "address": {}}]})
    assert answer.status_code == 422
    assert "updates.0.contactId" in answer.json()["error"]
