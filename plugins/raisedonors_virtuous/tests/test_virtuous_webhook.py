"""The ``virtuous_webhook`` source on its own: signatures (good, bad, missing), events it ignores,
bodies it cannot read, the change one event carries, and the ``virtuous_reference_source``
filter."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from syncframe_raisedonors_virtuous.virtuous_filters import ReferenceSourceFilter
from syncframe_raisedonors_virtuous.virtuous_settings import VirtuousSettings
from syncframe_raisedonors_virtuous.virtuous_webhook import (
    VirtuousWebhookOptions,
    VirtuousWebhookSource,
    signature_of,
)

from plugins.raisedonors_virtuous.tests.virtuous_helpers import (
    WEBHOOK_SECRET,
    contact_payload,
    event_payload,
)
from syncframe.clock import ManualClock
from syncframe.components import ComponentContext, NoOptions
from syncframe.records import Operation, Origin
from syncframe.state import open_state
from syncframe.webhooks import InboxEvent, WebhookDelivery, WebhookRefused

RECEIVED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def context(tmp_path: Path) -> Iterator[ComponentContext]:
    clock = ManualClock(RECEIVED)
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    settings = VirtuousSettings(
        base_url="http://virtuous.test", api_key="vk-1", webhook_secret=WEBHOOK_SECRET
    )
    yield ComponentContext(
        flow="virtuous_to_raisedonors",
        connection_name="virtuous",
        connection=settings,
        clock=clock,
        state=state,
        logger=logging.getLogger("test"),
    )
    state.close()


@pytest.fixture
def source(context: ComponentContext) -> VirtuousWebhookSource:
    return VirtuousWebhookSource(context, VirtuousWebhookOptions())


def delivery(body: bytes, signature: str | None, **headers: str) -> WebhookDelivery:
    names = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    if signature is not None:
        names["x-virtuous-signature"] = signature
    return WebhookDelivery("POST", "/webhooks/virtuous_to_raisedonors", {}, names, body)


def signed(payload: dict[str, Any], secret: str = WEBHOOK_SECRET) -> WebhookDelivery:
    body = orjson.dumps(payload)
    return delivery(body, signature_of(secret, body))


def stored(payload: Any, event_id: str = "evt-1") -> InboxEvent:
    return InboxEvent(1, "virtuous_to_raisedonors", event_id, payload, RECEIVED)


# ---- signatures ------------------------------------------------------------------------------


def test_the_signature_is_base64_hmac_sha256_of_the_body() -> None:
    body = b'{"event":"ContactUpdate"}'
    expected = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()

    assert signature_of("k", body) == expected


def test_a_signed_contact_update_is_accepted_under_its_event_id(
    source: VirtuousWebhookSource,
) -> None:
    payload = event_payload("evt-77", "ContactUpdate", contact_payload(5, reference_id="42"))

    accepted = source.accept(signed(payload))

    assert accepted == [("evt-77", payload)]


def test_a_wrong_signature_is_refused_with_401(source: VirtuousWebhookSource) -> None:
    payload = event_payload("evt-1", "ContactUpdate", contact_payload(5))

    with pytest.raises(WebhookRefused) as caught:
        source.accept(signed(payload, secret="some-other-secret"))

    assert caught.value.status == 401
    assert "does not match" in caught.value.message
    assert WEBHOOK_SECRET not in caught.value.message


def test_a_body_changed_after_signing_is_refused(source: VirtuousWebhookSource) -> None:
    body = orjson.dumps(event_payload("evt-1", "ContactUpdate", contact_payload(5)))
    tampered = body.replace(b'"Ann"', b'"Eve"')

    with pytest.raises(WebhookRefused) as caught:
        source.accept(delivery(tampered, signature_of(WEBHOOK_SECRET, body)))

    assert caught.value.status == 401


@pytest.mark.parametrize("signature", [None, "", "not base64 at all ✓"])
def test_a_missing_or_garbled_signature_is_refused(
    source: VirtuousWebhookSource, signature: str | None
) -> None:
    body = orjson.dumps(event_payload("evt-1", "ContactUpdate", contact_payload(5)))

    with pytest.raises(WebhookRefused) as caught:
        source.accept(delivery(body, signature))

    assert caught.value.status == 401


# ---- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["GiftCreate", "ProjectUpdate", "ContactNoteCreate"])
def test_other_events_are_acknowledged_and_ignored(
    source: VirtuousWebhookSource, event: str
) -> None:
    payload = {"eventId": "evt-9", "event": event, "gift": {"id": 3, "amount": 10}}

    assert source.accept(signed(payload)) == []


def test_the_events_read_can_be_narrowed(context: ComponentContext) -> None:
    only_updates = VirtuousWebhookSource(context, VirtuousWebhookOptions(events=["ContactUpdate"]))
    created = event_payload("evt-1", "ContactCreate", contact_payload(5))

    assert only_updates.accept(signed(created)) == []


def test_an_unknown_event_type_in_the_options_is_refused() -> None:
    with pytest.raises(ValidationError, match="GiftCreate: not a contact event"):
        VirtuousWebhookOptions(events=["ContactUpdate", "GiftCreate"])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"eventId": "e1"}', "event: missing"),
        (b'{"event": "ContactUpdate", "contact": {"id": 5}}', "eventId"),
        (b'{"eventId": "e1", "event": "ContactUpdate"}', "contact"),
        (b'{"eventId": "e1", "event": "ContactUpdate", "contact": {"name": "x"}}', "contact.id"),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_with_400(
    source: VirtuousWebhookSource, body: bytes, fragment: str
) -> None:
    with pytest.raises(WebhookRefused) as caught:
        source.accept(delivery(body, signature_of(WEBHOOK_SECRET, body)))

    assert caught.value.status == 400
    assert fragment in caught.value.message


def test_the_event_id_header_stands_in_for_a_missing_event_id(
    source: VirtuousWebhookSource,
) -> None:
    payload = {"event": "ContactUpdate", "contact": contact_payload(5)}
    body = orjson.dumps(payload)

    accepted = source.accept(
        delivery(body, signature_of(WEBHOOK_SECRET, body), x_virtuous_event_id="evt-h")
    )

    assert [event_id for event_id, _ in accepted] == ["evt-h"]


# ---- changes ---------------------------------------------------------------------------------


def test_a_contact_from_raisedonors_is_keyed_by_its_donor_id_first(
    source: VirtuousWebhookSource,
) -> None:
    contact = contact_payload(
        57,
        reference_id="42",
        first_name="Ann",
        last_name="Lee",
        email="ann@example.org",
        phone="555-0100",
        address={"address1": "1 Elm St", "city": "Springfield", "state": "IL", "postal": "62701"},
    )
    payload = event_payload(
        "evt-5", "ContactUpdate", contact, source="ncoa", occurred_at="2026-03-02T11:59:00.000Z"
    )

    [change] = source.changes_of(stored(payload, "evt-5"))

    assert change.system == "virtuous"
    assert change.entity == "contact"
    assert list(change.keys.items()) == [("reference_id", "42"), ("contact_id", "57")]
    assert change.key == "42"
    assert change.operation is Operation.UPDATE
    assert change.change_id == "evt-5"
    assert change.origin == Origin(system="virtuous", channel="ncoa")
    assert change.occurred_at == datetime(2026, 3, 2, 11, 59, tzinfo=UTC)
    assert change.fields == {
        "donor_id": "42",
        "virtuous_contact_id": "57",
        "reference_source": "Legacy RaiseDonors",
        "is_organization": False,
        "first_name": "Ann",
        "last_name": "Lee",
        "organization_name": None,
        "email": "ann@example.org",
        "phone": "555-0100",
        "address1": "1 Elm St",
        "address2": None,
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": None,
    }


def test_a_contact_from_elsewhere_has_no_donor_id(source: VirtuousWebhookSource) -> None:
    contact = contact_payload(8, reference_source="Church Import", reference_id="C-9")
    payload = event_payload("evt-6", "ContactCreate", contact)

    [change] = source.changes_of(stored(payload, "evt-6"))

    assert change.keys == {"contact_id": "8"}
    assert change.operation is Operation.INSERT
    assert change.fields["donor_id"] is None
    assert change.fields["reference_source"] == "Church Import"


def test_only_the_primary_individual_phone_email_and_address_sync(
    source: VirtuousWebhookSource,
) -> None:
    contact = contact_payload(9, reference_id="7")
    contact["contactIndividuals"] = [
        {
            "id": 1,
            "contactId": 9,
            "firstName": "Second",
            "lastName": "Person",
            "isPrimary": False,
            "contactMethods": [
                {"id": 1, "type": "Home Email", "value": "second@x.org", "isPrimary": True},
            ],
        },
        {
            "id": 2,
            "contactId": 9,
            "firstName": "Main",
            "lastName": "Person",
            "isPrimary": True,
            "contactMethods": [
                {"id": 2, "type": "Work Email", "value": "old@x.org", "isPrimary": False},
                {"id": 3, "type": "Home Email", "value": "main@x.org", "isPrimary": True},
                {"id": 4, "type": "Home Phone", "value": "555-0001", "isPrimary": False},
                {"id": 5, "type": "Mobile Phone", "value": "555-0002", "isPrimary": True},
            ],
        },
    ]
    contact["address"] = None
    contact["addresses"] = [
        {"id": 1, "address1": "Old Rd", "city": "A", "isPrimary": False},
        {"id": 2, "address1": "New Rd", "city": "B", "isPrimary": True},
    ]

    [change] = source.changes_of(stored(event_payload("e", "ContactUpdate", contact), "e"))

    fields = change.fields
    assert (fields["first_name"], fields["last_name"]) == ("Main", "Person")
    assert (fields["email"], fields["phone"]) == ("main@x.org", "555-0002")
    assert (fields["address1"], fields["city"]) == ("New Rd", "B")


@pytest.mark.parametrize("contact_type", ["Organization", "Foundation"])
def test_an_organization_syncs_its_contact_name(
    source: VirtuousWebhookSource, contact_type: str
) -> None:
    contact = contact_payload(3, reference_id="11", contact_type=contact_type, name="Hope Trust")

    [change] = source.changes_of(stored(event_payload("e", "ContactUpdate", contact), "e"))

    assert change.fields["is_organization"] is True
    assert change.fields["organization_name"] == "Hope Trust"


# ---- the filter ------------------------------------------------------------------------------


def test_the_filter_keeps_contacts_from_raisedonors(
    source: VirtuousWebhookSource, context: ComponentContext
) -> None:
    [change] = source.changes_of(
        stored(event_payload("e", "ContactUpdate", contact_payload(5, reference_id="42")))
    )

    assert ReferenceSourceFilter(context, NoOptions()).reason_to_drop(change) is None


@pytest.mark.parametrize(
    ("reference_source", "said"),
    [("Church Import", "reference source 'Church Import'"), (None, "no reference source")],
)
def test_the_filter_drops_other_contacts_with_the_reason(
    source: VirtuousWebhookSource,
    context: ComponentContext,
    reference_source: str | None,
    said: str,
) -> None:
    contact = contact_payload(5, reference_source=reference_source, reference_id=None)
    [change] = source.changes_of(stored(event_payload("e", "ContactUpdate", contact)))

    reason = ReferenceSourceFilter(context, NoOptions()).reason_to_drop(change)

    assert reason == (
        f"Virtuous CRM+ contact 5 has {said}, not 'Legacy RaiseDonors': only contacts from "
        "Legacy RaiseDonors sync back to it"
    )
