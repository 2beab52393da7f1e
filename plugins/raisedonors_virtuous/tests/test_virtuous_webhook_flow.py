"""The ``virtuous_webhook`` source end to end: the simulated Virtuous delivers its signed
ContactCreate/ContactUpdate events to ``syncframe serve``'s app, the flow reads them from the
inbox through the ``virtuous_reference_source`` filter, and each event is applied once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from virtuous_simulator import EDIT_SOURCES, VirtuousSimulator
from virtuous_simulator.imports import GiftTransactionIn

from plugins.raisedonors_virtuous.tests.virtuous_helpers import (
    IMPORTER,
    WEBHOOK_SECRET,
    WebhookWorld,
    make_simulator,
    run_imports,
    settings_values,
    webhook_world,
)
from syncframe.clock import ManualClock
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
    with webhook_world(simulator, tmp_path) as built:
        yield built


def raisedonors_contact(
    simulator: VirtuousSimulator, donor_id: str, *, email: str = "ann@example.org"
) -> int:
    """A household Legacy RaiseDonors sent (seeded: no webhook fires); its contact id."""
    made = simulator.seed_records(
        {
            "contacts": [
                {
                    "contactType": "Household",
                    "name": "Ann Lee",
                    "referenceSource": "Legacy RaiseDonors",
                    "referenceId": donor_id,
                    "address": {
                        "address1": "1 Elm St",
                        "city": "Springfield",
                        "state": "IL",
                        "postal": "62701",
                        "country": "US",
                    },
                    "contactIndividuals": [
                        {
                            "firstName": "Ann",
                            "lastName": "Lee",
                            "isPrimary": True,
                            "contactMethods": [
                                {"type": "Home Email", "value": email, "isPrimary": True},
                                {"type": "Home Phone", "value": "555-0100", "isPrimary": True},
                            ],
                        }
                    ],
                }
            ]
        }
    )
    contact_id = made["contacts"][0]
    assert isinstance(contact_id, int)
    return contact_id


def event_log(simulator: VirtuousSimulator) -> list[dict[str, Any]]:
    with simulator.lock:
        return [simulator.webhooks.row_json(row) for row in simulator.webhooks.select(None)]


@pytest.mark.parametrize("source", EDIT_SOURCES)
async def test_an_edit_from_any_source_arrives_as_one_change(
    simulator: VirtuousSimulator, world: WebhookWorld, source: str
) -> None:
    contact_id = raisedonors_contact(simulator, "42")
    simulator.edit_contact(contact_id, {"phone": "555-0199"}, source=source)

    report = await world.deliver()

    assert (report.attempted, report.delivered) == (1, 1)
    [change] = world.captured
    assert change.keys == {"reference_id": "42", "contact_id": str(contact_id)}
    assert change.operation is Operation.UPDATE
    assert change.origin is not None
    assert change.origin.channel == source
    assert change.fields["phone"] == "555-0199"
    assert change.fields["donor_id"] == "42"
    [logged] = event_log(simulator)
    assert change.change_id == logged["eventId"]


async def test_a_contact_created_in_virtuous_arrives_as_an_insert(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    created = simulator.create_contact(
        {
            "contactType": "Organization",
            "name": "Hope Trust",
            "referenceSource": "Legacy RaiseDonors",
            "contactIndividuals": [{"firstName": "Rui", "lastName": "Sá", "isPrimary": True}],
        },
        source="api",
    )

    await world.deliver()

    [change] = world.captured
    # No reference id yet (made through the API): keyed by the contact id alone.
    assert change.keys == {"contact_id": str(created.id)}
    assert change.operation is Operation.INSERT
    assert change.fields["organization_name"] == "Hope Trust"
    assert change.fields["is_organization"] is True


async def test_an_ncoa_move_carries_the_new_primary_address(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    contact_id = raisedonors_contact(simulator, "42")
    moved = {"address1": "9 Oak Rd", "city": "Peoria", "state": "IL", "postal": "61602"}
    simulator.ncoa([(contact_id, moved)])

    await world.deliver()

    [change] = world.captured
    assert change.origin is not None
    assert change.origin.channel == "ncoa"
    assert {k: change.fields[k] for k in ("address1", "city", "state", "postal_code")} == {
        "address1": "9 Oak Rd",
        "city": "Peoria",
        "state": "IL",
        "postal_code": "61602",
    }


async def test_contacts_from_elsewhere_are_filtered_with_the_reason(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    made = simulator.seed_records(
        {"contacts": [{"contactType": "Household", "name": "Walk In", "referenceSource": None}]}
    )
    simulator.edit_contact(made["contacts"][0], {"lastName": "Walker"}, source="admin")

    report = await world.deliver()

    assert report.delivered == 1  # acknowledged: filtering is a decision, not a failure
    assert world.captured == []
    [run] = world.engine.state.list_runs(flow="virtuous_to_raisedonors")
    [outcome] = world.engine.state.run_outcomes(run.run_id)
    assert outcome.outcome == "filtered"
    assert outcome.reason is not None
    assert "has no reference source, not 'Legacy RaiseDonors'" in outcome.reason


async def test_a_delivery_signed_with_another_secret_is_refused_and_kept_failed(
    simulator: VirtuousSimulator, tmp_path: Path
) -> None:
    contact_id = raisedonors_contact(simulator, "42")
    simulator.edit_contact(contact_id, {"lastName": "Lee-Park"}, source="admin")
    wrong = settings_values(simulator, webhook_secret="a-secret-virtuous-does-not-use")

    with webhook_world(simulator, tmp_path, settings=wrong) as world:
        report = await world.deliver()

    assert (report.attempted, report.failed) == (1, 1)
    assert world.captured == []
    [logged] = event_log(simulator)
    assert logged["status"] == "failed"
    assert logged["reason"].startswith("HTTP 401: ")
    assert "X-Virtuous-Signature does not match" in logged["reason"]
    assert WEBHOOK_SECRET not in logged["reason"]


class LostAnswers(httpx.AsyncBaseTransport):
    """The serve app receives every delivery, but the first ``times`` answers never reach
    Virtuous (a timeout on the way back): Virtuous retries an event syncframe already has."""

    def __init__(self, inner: httpx.AsyncBaseTransport, times: int) -> None:
        self.inner = inner
        self.times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if self.times > 0:
            self.times -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


async def test_a_redelivered_event_is_applied_once(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    contact_id = raisedonors_contact(simulator, "42")
    simulator.edit_contact(contact_id, {"firstName": "Annie"}, source="donor_portal")
    assert simulator.webhook_transport is not None
    simulator.webhook_transport = LostAnswers(simulator.webhook_transport, times=1)

    first = await world.deliver()
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=1))  # Virtuous's first automatic retry
    second = await world.deliver()

    assert (first.failed, second.delivered) == (1, 1)
    [logged] = event_log(simulator)
    assert (logged["status"], logged["attempts"]) == ("delivered", 2)
    [change] = world.captured  # the same event id both times: stored and applied once
    assert change.fields["first_name"] == "Annie"
    assert change.change_id == logged["eventId"]


async def test_a_failed_event_retried_by_hand_lands_once(
    simulator: VirtuousSimulator, tmp_path: Path
) -> None:
    contact_id = raisedonors_contact(simulator, "42")
    simulator.edit_contact(contact_id, {"lastName": "Lee-Park"}, source="admin")
    wrong = settings_values(simulator, webhook_secret="rotated-too-early")
    with webhook_world(simulator, tmp_path, settings=wrong) as world:
        await world.deliver()
    [logged] = event_log(simulator)

    # The operator puts the right secret in the settings and presses Retry on the Failures tab.
    with webhook_world(simulator, tmp_path) as world:
        async with simulator.admin() as admin:
            retried = await admin.post(f"/virtuous/webhooks/events/{logged['eventId']}/retry")

        assert (retried["retried"], retried["status"]) == ("delivered", "delivered")
        [change] = world.captured
        assert change.change_id == logged["eventId"]
        assert change.fields["last_name"] == "Lee-Park"


async def test_other_events_are_acknowledged_and_read_as_nothing(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    simulator.subscribe_webhook(
        "http://syncframe.test/webhooks/virtuous_to_raisedonors",
        ["GiftCreate"],
        secret=WEBHOOK_SECRET,
    )
    contact_id = raisedonors_contact(simulator, "42")
    simulator.imports.hold_gift(
        GiftTransactionIn.model_validate(
            {
                "transactionSource": "Legacy RaiseDonors",
                "transactionId": "g-1",
                "contact": {"referenceSource": "Legacy RaiseDonors", "referenceId": "42"},
                "amount": 25,
            }
        )
    )
    run_imports(simulator, IMPORTER)

    report = await world.deliver()

    assert report.failed == 0
    kinds = sorted(row["event"] for row in event_log(simulator))
    assert kinds == ["GiftCreate"]
    assert world.captured == []
    assert contact_id in {g.contact_id for g in simulator.imports.gifts.values()}


async def test_the_check_signs_in_and_finds_the_contact_webhook(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    checks = await world.engine.check_connections()

    mine = {(c.kind, c.component): c.error for c in checks if c.connection == "virtuous"}
    assert mine == {("source", "virtuous_webhook"): None, ("sink", "virtuous_import"): None}


async def test_the_check_fails_without_a_contact_webhook_with_a_secret(
    simulator: VirtuousSimulator, world: WebhookWorld
) -> None:
    [hook] = list(simulator.webhooks.subscriptions)
    simulator.webhooks.unsubscribe(hook)
    simulator.subscribe_webhook("http://syncframe.test/webhooks/x", ["ContactUpdate"])
    unsigned = await world.engine.check_connections()
    simulator.subscribe_webhook(
        "http://syncframe.test/webhooks/x", ["ContactCreate", "ContactUpdate"]
    )
    simulator.webhooks.subscriptions[max(simulator.webhooks.subscriptions)].secret = None
    without_secret = await world.engine.check_connections()

    def source_error(checks: list[Any]) -> str:
        [check] = [c for c in checks if c.component == "virtuous_webhook"]
        assert not check.ok
        return str(check.error)

    assert "no Virtuous CRM+ webhook sends ContactCreate, ContactUpdate" in source_error(unsigned)
    assert "has no secret" in source_error(without_secret)
