"""The Gift and Contact Import Tool: holding, bundling at midnight per source, merging, gift
uniqueness, Match Needed / Update Needed / Ready for Import, and a run by a named user."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from virtuous_simulator import VirtuousSimulator

from simulators.virtuous.tests.conftest import Receiver, advance, household, subscribe

pytestmark = pytest.mark.anyio

RD = "Legacy RaiseDonors"


def contact_tx(reference_id: str, **fields: Any) -> dict[str, Any]:
    return {"referenceSource": RD, "referenceId": reference_id, **fields}


def gift_tx(
    transaction_id: str, amount: str, contact: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "transactionSource": RD,
        "transactionId": transaction_id,
        "amount": amount,
        "giftDate": "2026-01-01",
        "contact": contact,
        **extra,
    }


async def send(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    answer = await api.post(path, json=body)
    assert answer.status_code == 200, answer.text
    assert "holding" in answer.json()["message"]


async def imports(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await admin.get("/imports")).json()["imports"]
    return data


async def test_payloads_wait_in_holding_until_midnight(
    sim: VirtuousSimulator, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await send(api, "/api/Contact/Transaction", contact_tx("100001", firstName="Ann"))
    holding = (await admin.get("/holding")).json()["holding"]
    assert [(h["kind"], h["source"], h["payload"]["referenceId"]) for h in holding] == [
        ("contact", RD, "100001")
    ]
    advance(sim, hours=14, minutes=59)  # 23:59 the same day
    assert await imports(admin) == []
    assert sim.contacts.contacts == {}
    advance(sim, minutes=1)  # midnight
    [bundle] = await imports(admin)
    assert bundle["name"] == "Legacy RaiseDonors — 2026-01-01"
    assert (bundle["status"], bundle["createdAt"]) == ("Pending", "2026-01-02T00:00:00.000Z")
    assert (await admin.get("/holding")).json()["holding"] == []
    assert sim.contacts.contacts == {}  # nothing lands before a user runs the import


async def test_one_import_per_source_and_day(
    sim: VirtuousSimulator, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await send(api, "/api/Contact/Transaction", contact_tx("1", firstName="A"))
    await send(
        api,
        "/api/Contact/Transaction",
        {"referenceSource": "Online Store", "referenceId": "s1", "lastName": "B"},
    )
    advance(sim, days=1)
    await send(api, "/api/Contact/Transaction", contact_tx("2", firstName="C"))
    advance(sim, days=1)
    names = [i["name"] for i in await imports(admin)]
    assert names == [
        "Legacy RaiseDonors — 2026-01-01",
        "Online Store — 2026-01-01",
        "Legacy RaiseDonors — 2026-01-02",
    ]


async def test_classification_and_merging(
    sim: VirtuousSimulator, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    same = sim.create_contact(household(reference_id="100001"))
    changed = sim.create_contact(
        household("Bo", "Chen", email="bo@example.org", reference_id="100002")
    )
    by_email = sim.create_contact(
        household("Cy", "Diaz", email="cy@example.org", reference_id=None)
    )
    # Unchanged data for 100001; a new city for 100002, sent twice (merged into one row);
    # 100003 only known by its email; 100004 unknown.
    await send(
        api, "/api/Contact/Transaction", contact_tx("100001", firstName="Ann", city="Austin")
    )
    for _ in range(2):
        await send(api, "/api/Contact/Transaction", contact_tx("100002", city="Dallas"))
    await send(api, "/api/Contact/Transaction", contact_tx("100002", phone="(214) 555-0101"))
    await send(api, "/api/Contact/Transaction", contact_tx("100003", email="cy@example.org"))
    await send(
        api,
        "/api/Contact/Transaction",
        contact_tx("100004", firstName="Di", lastName="Evans", email="di@example.org"),
    )
    advance(sim, days=1)
    [bundle] = await imports(admin)
    rows = {row["referenceId"]: row for row in bundle["rows"]}
    assert len(bundle["rows"]) == 4
    assert (rows["100001"]["status"], rows["100001"]["matchContactId"]) == (
        "Ready for Import",
        same.id,
    )
    assert rows["100002"]["status"] == "Update Needed"
    assert rows["100002"]["payloads"] == 3
    assert rows["100002"]["changes"] == {
        "Primary Phone": {"old": "(512) 555-0100", "new": "(214) 555-0101"},
        "Primary Address": {
            "old": "12 Elm Street, Austin, TX 78701, United States",
            "new": "12 Elm Street, Dallas, TX 78701, United States",
        },
    }
    assert (rows["100003"]["status"], rows["100003"]["matchedBy"]) == ("Match Needed", "email")
    assert rows["100003"]["matchContactId"] == by_email.id
    assert (rows["100004"]["status"], rows["100004"]["matchContactId"]) == ("Match Needed", None)
    assert bundle["counts"] == {"Match Needed": 2, "Update Needed": 1, "Ready for Import": 1}
    assert changed.primary_address().city == "Austin"  # type: ignore[union-attr]


async def test_run_by_a_named_user(
    sim: VirtuousSimulator,
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    existing = sim.create_contact(household(reference_id="100001"))
    by_email = sim.create_contact(
        household("Cy", "Diaz", email="cy@example.org", reference_id=None)
    )
    sim.add_user("jane@example.org", "pw", name="Jane Admin")
    subscribe(sim, "ContactCreate", "ContactUpdate", "GiftCreate")
    await send(api, "/api/Contact/Transaction", contact_tx("100001", city="Dallas"))
    await send(api, "/api/Contact/Transaction", contact_tx("100001", city="Dallas"))  # twice
    await send(api, "/api/Contact/Transaction", contact_tx("100003", email="cy@example.org"))
    new_donor = {
        "referenceId": "100004",
        "firstName": "Di",
        "lastName": "Evans",
        "email": "di@example.org",
        "address1": "3 Pine Road",
        "city": "Omaha",
    }
    await send(api, "/api/v2/Gift/Transaction", gift_tx("g-1", "25.00", new_donor))
    await send(api, "/api/v2/Gift/Transaction", gift_tx("g-2", "40", {"referenceId": "100001"}))
    advance(sim, days=1)
    [bundle] = await imports(admin)

    answer = await admin.post(f"/imports/{bundle['id']}/run", json={"user": "jane@example.org"})
    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert (done["status"], done["importedBy"]) == ("Imported", "Jane Admin")
    assert done["summary"] == {
        "created": 1,
        "updated": 2,
        "unchanged": 0,
        "giftsCreated": 2,
        "giftsSkipped": 0,
    }
    # The payload sent twice changed the contact once, naming the importing user.
    entries = sim.contacts.get(existing.id).audit[1:]
    assert [(e.field, e.user, e.source) for e in entries] == [
        ("Primary Address", "Jane Admin", "import")
    ]
    assert "Imported by Jane Admin" in (entries[0].note or "")
    # Matched by email: the contact takes the reference.
    assert (by_email.reference_source, by_email.reference_id) == (RD, "100003")
    # Created, carrying the reference and the gift.
    created = sim.contacts.find_by_reference(RD, "100004")
    assert created is not None
    assert (created.name, created.primary_value("Email")) == ("Di Evans", "di@example.org")
    assert created.primary_address().city == "Omaha"  # type: ignore[union-attr]
    gifts = (await api.get(f"/api/Gift/ByContact/{created.id}")).json()
    assert [(g["transactionId"], g["amount"], g["giftDate"]) for g in gifts["list"]] == [
        ("g-1", 25.0, "2026-01-01")
    ]
    gift = (await api.get(f"/api/Gift/{gifts['list'][0]['id']}")).json()
    assert (gift["contactId"], gift["giftDateFormatted"]) == (created.id, "1/1/2026")
    assert (await api.get("/api/Gift/1")).status_code == 404
    await sim.deliver_webhooks()
    events = [(e["event"], e["source"]) for e in receiver.events()]
    assert sorted(events) == sorted(
        [
            ("ContactUpdate", "import"),  # 100001
            ("ContactUpdate", "import"),  # 100003 by email
            ("ContactCreate", "import"),  # 100004
            ("GiftCreate", "import"),
            ("GiftCreate", "import"),
        ]
    )
    gift_event = next(e for e in receiver.events() if e["event"] == "GiftCreate")
    assert gift_event["gift"]["transactionSource"] == RD
    # An import runs once.
    again = await admin.post(f"/imports/{bundle['id']}/run", json={"user": "jane@example.org"})
    assert again.status_code == 409
    assert "already imported by Jane Admin" in again.json()["error"]


async def test_a_gift_transaction_is_imported_once(
    sim: VirtuousSimulator, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    donor = {"referenceId": "100004", "firstName": "Di", "lastName": "Evans"}
    # Sent twice the same day: one gift, the later payload wins.
    await send(api, "/api/v2/Gift/Transaction", gift_tx("g-1", "25", donor))
    await send(api, "/api/v2/Gift/Transaction", gift_tx("g-1", "30", donor))
    advance(sim, days=1)
    [first] = await imports(admin)
    assert [g["amount"] for row in first["rows"] for g in row["gifts"]] == [30.0]
    await admin.post(f"/imports/{first['id']}/run", json={"user": "Pat Staff"})
    # Sent again the next day: the import skips it.
    await send(api, "/api/v2/Gift/Transaction", gift_tx("g-1", "30", donor))
    advance(sim, days=1)
    second = (await imports(admin))[1]
    done = (await admin.post(f"/imports/{second['id']}/run", json={"user": "Pat Staff"})).json()
    assert done["summary"]["giftsSkipped"] == 1
    assert done["summary"]["unchanged"] == 1
    assert len(sim.imports.gifts) == 1


async def test_empty_strings_clear_and_missing_fields_keep(
    sim: VirtuousSimulator, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    contact = sim.create_contact(household(reference_id="100001"))
    sim.edit_contact(contact.id, {"address": {"address2": "Apt 4"}}, source="admin")
    await send(api, "/api/Contact/Transaction", contact_tx("100001", address2="", city=None))
    advance(sim, days=1)
    [bundle] = await imports(admin)
    await admin.post(f"/imports/{bundle['id']}/run", json={"user": "Pat Staff"})
    address = contact.primary_address()
    assert address is not None
    assert (address.address2, address.city) == (None, "Austin")


async def test_batch_of_gift_transactions(sim: VirtuousSimulator, api: httpx.AsyncClient) -> None:
    body = {
        "transactionSource": RD,
        "transactions": [
            {"transactionId": "b-1", "amount": 5, "contact": {"referenceId": "7"}},
            {"transactionId": "b-2", "amount": 6, "contact": {"referenceId": "8"}},
        ],
    }
    answer = await api.post("/api/v2/Gift/Transactions", json=body)
    assert answer.json()["count"] == 2
    assert len(sim.imports.held) == 2
    body["transactions"].append({"transactionId": "b-3", "amount": -1, "contact": {}})
    bad = await api.post("/api/v2/Gift/Transactions", json=body)
    assert bad.status_code == 400
    assert "transactions.2.amount" in bad.json()["message"]
    assert len(sim.imports.held) == 2  # a bad transaction holds none of the batch


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        ("/api/Contact/Transaction", {"referenceId": "1"}, "referenceSource"),
        ("/api/Contact/Transaction", {"referenceSource": RD}, "referenceId"),
        ("/api/Contact/Transaction", contact_tx("1", email="nope"), "email"),
        ("/api/Contact/Transaction", contact_tx("1", contactType="Person"), "contactType"),
        ("/api/Contact/Transaction", contact_tx("1", phoneType="Home Email"), "phoneType"),
        ("/api/v2/Gift/Transaction", gift_tx("g", "0", {"referenceId": "1"}), "amount"),
        ("/api/v2/Gift/Transaction", gift_tx("g", "5", {}), "contact"),
        (
            "/api/v2/Gift/Transaction",
            {"amount": 5, "contact": {"referenceId": "1"}},
            "transactionSource",
        ),
        (
            "/api/v2/Gift/Transaction",
            gift_tx("g", "5", {"referenceId": "1"}, giftDate="13/45/2026"),
            "giftDate",
        ),
    ],
)
async def test_bad_transactions_are_refused_naming_the_field(
    sim: VirtuousSimulator, api: httpx.AsyncClient, path: str, body: dict[str, Any], names: str
) -> None:
    answer = await api.post(path, json=body)
    assert answer.status_code == 400
    assert names in answer.json()["message"]
    assert sim.imports.held == []


async def test_admin_refusals(admin: httpx.AsyncClient) -> None:
    missing = await admin.post("/imports/9/run", json={"user": "Pat"})
    assert missing.status_code == 404
    assert "import_id" in missing.json()["error"]
    nobody = await admin.post("/imports/9/run", json={})
    assert nobody.status_code == 422
    assert "user" in nobody.json()["error"]
