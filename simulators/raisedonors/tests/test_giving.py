"""The giving form: a gift from a known email goes to that donor and its billing address
overwrites theirs; a gift from a new email creates a donor."""

from __future__ import annotations

from typing import Any

import pytest
from raisedonors_simulator import RaiseDonorsSimulator

from simulators.raisedonors.tests.conftest import ANN_ID, BEN_ID, Api, problem

pytestmark = pytest.mark.anyio

BILLING = {
    "address1": "400 Congress Ave",
    "city": "Austin",
    "state": "TX",
    "postalCode": "78701",
    "country": "US",
}


def form(**fields: Any) -> dict[str, Any]:
    return {
        "email": "ann.lee@example.org",
        "firstName": "Ann",
        "lastName": "Lee",
        "amount": 25,
        "billingAddress": BILLING,
        **fields,
    }


async def test_a_known_email_gets_the_gift_and_its_billing_address(
    api: Api, sim: RaiseDonorsSimulator
) -> None:
    answer = await api.ok(
        "POST", "/api/Raise/give", json=form(email="ANN.LEE@EXAMPLE.ORG", projectCode="WELLS")
    )
    assert answer["donorCreated"] is False
    ann = sim.account.donors.get(ANN_ID)
    primary = ann.primary_address
    assert primary is not None
    assert (primary.address1, primary.address2, primary.postal_code) == (
        "400 Congress Ave",
        None,
        "78701",
    )
    assert len(ann.addresses) == 1
    # The profile keeps its own email spelling and phone (none was given on the form).
    assert (ann.email, ann.phone) == ("Ann.Lee@example.org", "(512) 555-0100")
    [gift] = sim.snapshot()["gifts"]
    assert gift == answer["gift"]
    assert (gift["donorId"], gift["amount"], gift["projectCode"]) == (ANN_ID, 25.0, "WELLS")
    assert gift["billingAddress"]["address1"] == "400 Congress Ave"
    assert len(sim.account.donors) == 3


async def test_a_phone_on_the_form_becomes_the_primary_phone(
    api: Api, sim: RaiseDonorsSimulator
) -> None:
    await api.ok(
        "POST",
        "/api/Raise/give",
        json=form(
            email="ben@example.org", firstName="Ben", lastName="Okafor", phone="303 555 0188"
        ),
    )
    ben = sim.account.donors.get(BEN_ID)
    assert ben.phone == "303 555 0188"
    assert len(ben.phones) == 2  # the mobile is still there, not primary


async def test_a_new_email_creates_a_donor(api: Api, sim: RaiseDonorsSimulator) -> None:
    answer = await api.ok(
        "POST",
        "/api/Raise/give",
        json=form(email="new.donor@example.org", firstName="Nia", lastName="Reyes", amount="10.50"),
    )
    assert answer["donorCreated"] is True
    donor = sim.account.donors.by_email("new.donor@example.org")
    assert donor is not None
    assert (donor.name, donor.id) == ("Nia Reyes", answer["donor"]["id"])
    assert donor.primary_address is not None
    assert donor.primary_address.city == "Austin"
    [item] = sim.snapshot()["activity"]
    assert (item["type"], item["channel"], item["actor"]) == ("GiftCreated", "Gift", "Nia Reyes")
    assert item["changes"]["email"] == {"old": None, "new": "new.donor@example.org"}
    assert item["gift"]["amount"] == 10.5
    assert sim.account.gifts_of(donor.id)[0].id == item["gift"]["id"]


async def test_the_form_is_public_but_a_bad_token_is_refused(sim: RaiseDonorsSimulator) -> None:
    client = sim.client()
    assert (await client.post("/api/Raise/give", json=form())).status_code == 201
    response = await client.post(
        "/api/Raise/give", json=form(), headers={"Authorization": "Bearer stale"}
    )
    problem(response, 401)
    assert len(sim.account.gifts) == 1


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"amount": 0}, ["amount"]),
        ({"amount": "12.345"}, ["amount"]),
        ({"amount": "lots"}, ["amount"]),
        ({"amount": None}, ["amount"]),
        ({"email": None}, ["email"]),
        ({"firstName": ""}, ["firstName"]),
        ({"billingAddress": None}, ["billingAddress"]),
        ({"billingAddress": {"street": "1 Main"}}, ["billingAddress.street"]),
        ({"phone": "none"}, ["phone"]),
        ({"coverFees": True}, ["coverFees"]),
    ],
)
async def test_bad_forms_name_the_field(
    api: Api, sim: RaiseDonorsSimulator, changes: dict[str, Any], fields: list[str]
) -> None:
    body = problem(await api.post("/api/Raise/give", form(**changes)), 400)
    assert sorted(body["errors"]) == fields
    assert sim.account.gifts == {}
    assert len(sim.account.activity) == 0
