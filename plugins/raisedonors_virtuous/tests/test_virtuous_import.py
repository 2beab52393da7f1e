"""The ``virtuous_import`` sink against the simulator: donor edits and gifts wait in the import
tool's holding area with our reference, change nothing until a person runs the nightly import,
then land on the contact with that person on its audit log; resends do not duplicate; refused
records are rejected with Virtuous's reason; the import's own webhook is recognised as an
echo."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from virtuous_simulator import VirtuousSimulator
from virtuous_simulator.contacts import Contact

from plugins.raisedonors_virtuous.tests.virtuous_helpers import (
    IMPORT_FLOW,
    IMPORTER,
    WebhookWorld,
    donor_change,
    gift_change,
    make_simulator,
    next_midnight,
    run_imports,
    webhook_world,
)
from syncframe.records import Operation

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def simulator() -> VirtuousSimulator:
    return make_simulator()


@pytest.fixture
def world(simulator: VirtuousSimulator, tmp_path: Path) -> Iterator[WebhookWorld]:
    with webhook_world(simulator, tmp_path, echo=True) as built:
        yield built


def holding(simulator: VirtuousSimulator) -> list[dict[str, Any]]:
    return [held.json() for held in simulator.imports.held]


def contacts_from_raisedonors(simulator: VirtuousSimulator) -> dict[str | None, Contact]:
    """Reference id -> contact, for every contact with our reference source (a duplicate
    would make a second entry disappear: the length is checked against the whole list)."""
    found = [
        c
        for c in simulator.contacts.contacts.values()
        if c.reference_source == "Legacy RaiseDonors"
    ]
    by_reference = {c.reference_id: c for c in found}
    assert len(by_reference) == len(found), "two contacts share a reference: a duplicate"
    return by_reference


async def audit(simulator: VirtuousSimulator, contact_id: int) -> list[dict[str, Any]]:
    async with simulator.admin() as admin:
        answer = await admin.get(f"/virtuous/contacts/{contact_id}/audit")
    entries = answer["entries"]
    assert isinstance(entries, list)
    return entries


async def test_a_donor_edit_waits_in_holding_with_our_reference(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    report = await world.send(donor_change(42, phone="555-0199"))

    assert report.summary.status == "succeeded"
    assert report.summary.counts == {"updated": 1}
    [held] = holding(simulator)
    assert held["kind"] == "contact"
    assert held["source"] == "Legacy RaiseDonors"
    payload = held["payload"]
    assert (payload["referenceSource"], payload["referenceId"]) == ("Legacy RaiseDonors", "42")
    assert payload["phone"] == "555-0199"
    assert simulator.contacts.contacts == {}  # nothing touches a contact before the import


async def test_a_gift_waits_in_holding_with_its_contact(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    report = await world.send(gift_change(42, 901, "50.00"))

    assert report.summary.counts == {"created": 1}
    [held] = holding(simulator)
    assert held["kind"] == "gift"
    payload = held["payload"]
    assert (payload["transactionSource"], payload["transactionId"]) == (
        "Legacy RaiseDonors",
        "901",
    )
    assert Decimal(payload["amount"]) == Decimal("50.00")
    assert payload["contact"]["referenceSource"] == "Legacy RaiseDonors"
    assert payload["contact"]["referenceId"] == "42"
    assert payload["contact"]["email"] == "donor42@example.org"


async def test_after_the_import_the_contact_has_the_values_and_the_audit_names_the_user(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    await world.send(gift_change(42, 901), donor_change(7, first_name="Bo", last_name="Ng"))

    [imp] = run_imports(simulator)

    assert imp["name"] == "Legacy RaiseDonors — 2026-03-02"
    assert imp["importedBy"] == IMPORTER
    contacts = contacts_from_raisedonors(simulator)
    assert set(contacts) == {"42", "7"}
    bo = contacts["7"]
    individual = bo.primary_individual()
    assert individual is not None
    assert (individual.first_name, individual.last_name) == ("Bo", "Ng")
    assert bo.primary_value("Email") == "donor7@example.org"
    assert bo.primary_value("Phone") == "555-0100"
    address = bo.primary_address()
    assert address is not None
    assert (address.address1, address.city, address.state, address.postal) == (
        "1 Elm St",
        "Springfield",
        "IL",
        "62701",
    )
    [gift] = simulator.imports.gifts_of(contacts["42"].id)
    assert (gift.transaction_id, gift.amount) == ("901", Decimal("25.00"))
    entries = await audit(simulator, bo.id)
    assert entries
    assert {entry["user"] for entry in entries} == {IMPORTER}
    assert {entry["source"] for entry in entries} == {"import"}


async def test_an_update_changes_only_what_differs_and_is_audited(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    await world.send(donor_change(42))
    run_imports(simulator)
    contact = contacts_from_raisedonors(simulator)["42"]

    await world.send(donor_change(42, address1="9 Oak Rd", city="Peoria", postal_code="61602"))
    run_imports(simulator, "Jo Morning")

    address = contact.primary_address()
    assert address is not None
    assert (address.address1, address.address2, address.city, address.postal) == (
        "9 Oak Rd",
        None,
        "Peoria",
        "61602",
    )
    latest = [e for e in await audit(simulator, contact.id) if e["user"] == "Jo Morning"]
    assert [e["field"] for e in latest] == ["Primary Address"]


async def test_a_donor_sent_twice_in_a_day_is_one_row_and_one_contact(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    await world.send(donor_change(42, phone="555-0001"))
    # The flow's cursor is reset (or a crash replays the batch): the same change again.
    world.engine.state.reset_flow(IMPORT_FLOW)
    again = await world.engine.run_flow(IMPORT_FLOW)

    assert again.summary.counts == {"updated": 1}
    assert len(holding(simulator)) == 2
    [imp] = run_imports(simulator)
    [row] = imp["rows"]
    assert row["payloads"] == 2
    assert set(contacts_from_raisedonors(simulator)) == {"42"}


async def test_a_resend_after_midnight_updates_the_contact_the_first_import_made(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    await world.send(gift_change(42, 901))
    next_midnight(simulator)
    # The batch goes again on the next day (a rerun after a crash): a second bundle.
    world.engine.state.reset_flow(IMPORT_FLOW)
    await world.engine.run_flow(IMPORT_FLOW)
    first, second = run_imports(simulator)

    assert first["summary"]["created"] == 1
    assert second["summary"]["created"] == 0
    assert second["summary"]["giftsSkipped"] == 1
    contacts = contacts_from_raisedonors(simulator)
    assert set(contacts) == {"42"}
    assert len(simulator.imports.gifts_of(contacts["42"].id)) == 1


async def test_a_record_the_import_tool_refuses_is_rejected_with_its_reason(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    report = await world.send(
        donor_change(1), donor_change(2, email="not-an-email"), donor_change(3)
    )

    assert report.summary.status == "succeeded"
    assert report.summary.counts == {"updated": 2, "rejected": 1}
    [failed] = world.engine.state.list_failed(flow=IMPORT_FLOW)
    assert failed.reason.startswith(
        "raisedonors.donor[donor_id=2]: sending donor 2 to the import tool: HTTP 400: email"
    )
    assert [h["payload"]["referenceId"] for h in holding(simulator)] == ["1", "3"]


async def test_a_record_the_sink_cannot_send_is_rejected_naming_the_field(
    world: WebhookWorld, simulator: VirtuousSimulator
) -> None:
    report = await world.send(
        gift_change(5, 77, amount="a lot"), donor_change(6, favourite_colour="teal")
    )

    assert report.summary.counts == {"rejected": 2}
    reasons = sorted(f.reason for f in world.engine.state.list_failed(flow=IMPORT_FLOW))
    assert reasons == [
        "raisedonors.donor[donor_id=6]: field 'favourite_colour' is not one the Virtuous "
        "import tool takes",
        "raisedonors.gift[gift_id=77, donor_id=5]: field 'amount': 'a lot' is not an amount",
    ]
    assert holding(simulator) == []


async def test_deletions_are_skipped_and_dry_runs_send_nothing(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    deleted = await world.send(donor_change(9, operation=Operation.DELETE))
    dry = await world.send(donor_change(10), dry_run=True)

    assert deleted.summary.counts == {"skipped": 1}
    assert dry.summary.counts == {"updated": 1}
    assert holding(simulator) == []


async def test_the_imports_own_webhook_is_an_echo_unless_it_brings_news(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    # A new donor: the import creates the contact, and its ContactCreate brings the new contact
    # id RaiseDonors does not have yet: not an echo, it flows.
    await world.send(donor_change(42, operation=Operation.INSERT))
    run_imports(simulator)
    await world.deliver()
    [created] = world.captured
    contact_id = created.fields["virtuous_contact_id"]
    assert created.keys == {"reference_id": "42", "contact_id": contact_id}

    # RaiseDonors now knows the contact id; an edit there goes to Virtuous, and the import's
    # ContactUpdate only reports back what was written: blocked by the echo guard.
    await world.send(donor_change(42, phone="555-0142", virtuous_contact_id=contact_id))
    run_imports(simulator)
    report = await world.deliver()

    assert report.delivered == 1
    assert len(world.captured) == 1  # nothing new reached the flow's sink
    [run, *_] = world.engine.state.list_runs(flow="virtuous_to_raisedonors")
    [outcome] = world.engine.state.run_outcomes(run.run_id)
    assert outcome.outcome == "blocked"
    assert outcome.reason is not None
    assert f"echo of syncframe's own write by flow {IMPORT_FLOW}" in outcome.reason
