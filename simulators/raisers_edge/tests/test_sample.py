"""The generated sample database the demo, the end-to-end tests and the benchmark share."""

from __future__ import annotations

from decimal import Decimal

import pytest
from raisers_edge_simulator import EMAIL_PHONE_TYPES, RaisersEdgeAdmin, RaisersEdgeSimulator
from raisers_edge_simulator.records import GIFT_TYPES, PAYMENT_TYPES

from syncframe.clock import ManualClock


def test_the_same_seed_and_clock_give_the_same_database() -> None:
    one, two = RaisersEdgeSimulator(clock=ManualClock()), RaisersEdgeSimulator(clock=ManualClock())
    assert one.sample(300, 1500, seed=5) == two.sample(300, 1500, seed=5)
    assert one.snapshot() == two.snapshot()
    other = RaisersEdgeSimulator(clock=ManualClock())
    other.sample(300, 1500, seed=6)
    assert other.snapshot()["constituents"] != one.snapshot()["constituents"]


def test_every_case_the_connector_rules_tell_apart_is_there() -> None:
    sim = RaisersEdgeSimulator(clock=ManualClock())
    made = sim.sample(2000, 8000, seed=1)
    db = sim.database
    assert (made.constituents, made.gifts) == (len(db.constituents), len(db.gifts)) == (2000, 8000)
    for case in (
        "without_last_name",
        "without_email",
        "business_email_only",
        "shared_email",
        "inactive",
        "synced",
        "solicitors",
        "solicitors_without_email",
        "open_pledges",
        "recurring_gifts",
        "synced_gifts",
    ):
        assert getattr(made, case), f"no {case} in the sample"
    for import_id in made.without_last_name:
        assert db.constituents[import_id].last_name is None
    for import_id in made.without_email:
        assert not any(p.is_email for p in db.constituents[import_id].phones)
    for import_id in made.business_email_only:
        types = {p.type for p in db.constituents[import_id].phones if p.is_email}
        assert types == {"Business Email"}
    for import_id in made.solicitors_without_email:
        solicitor = db.constituents[import_id]
        assert solicitor.is_solicitor
        assert not any(p.type in EMAIL_PHONE_TYPES for p in solicitor.phones)
    shared = [db.constituents[i].phone_of_type("Email") for i in made.shared_email]
    numbers = [phone.number for phone in shared if phone is not None]
    assert len(set(numbers)) < len(numbers)
    now = sim.clock.now()
    for person in db.constituents.values():
        assert person.date_added <= person.date_changed <= now
        [preferred] = [a for a in person.addresses if a.preferred]
        assert preferred.city
        assert preferred.zip
    assert {g.type for g in db.gifts.values()} == set(GIFT_TYPES)
    for gift in db.gifts.values():
        assert db.code("Fund", gift.fund or "") is not None
        if gift.type in PAYMENT_TYPES:
            paid = db.gifts[gift.pledge_import_id or ""]
            assert paid.type == PAYMENT_TYPES[gift.type]
            assert paid.constituent_import_id == gift.constituent_import_id
    for pledge in (g for g in db.gifts.values() if g.type == "Pledge"):
        payments = sum(
            (g.amount for g in db.gifts.values() if g.pledge_import_id == pledge.import_id),
            Decimal(0),
        )
        assert pledge.balance == pledge.amount - payments
    for import_id in made.synced_gifts:
        assert db.gifts_by_luminate_id[db.gifts[import_id].luminate_gift_id or ""] is not None


@pytest.mark.anyio
async def test_the_admin_route_adds_a_sample_to_a_served_database(
    sim: RaisersEdgeSimulator, admin: RaisersEdgeAdmin
) -> None:
    await admin.add_constituent(luminate_id="1001001", last_name="First")
    counts = await admin.sample(constituents=50, gifts=100, seed=2)
    assert (counts["constituents"], counts["gifts"]) == (50, 100)
    assert (
        counts["synced"]
        == len([c for c in sim.database.constituents.values() if c.luminate_id]) - 1
    )
    aliases = [c.luminate_id for c in sim.database.constituents.values() if c.luminate_id]
    assert len(aliases) == len(set(aliases))
    assert len(sim.database.constituents) == 51
