"""Contacts created and updated in Virtuous CRM+, as its webhooks push them (source
``virtuous_webhook``).

Virtuous sends every ContactCreate and ContactUpdate, whatever made it (an admin, the donor
portal, the API, an NCOA update, a query update, an import), to the URL of a webhook set up
under Settings > Connectivity > Webhooks: here ``syncframe serve``'s ``/webhooks/<flow>``. Each
delivery is signed: ``X-Virtuous-Signature`` is the Base64 HMAC-SHA256 of the raw body with the
webhook's secret (the connection's ``webhook_secret``); a delivery whose signature is missing or
wrong is refused with 401 and nothing is stored. The core keeps each accepted event in the flow's
inbox under its ``eventId`` (the same on every redelivery and on a retry from the Failures tab),
so an event is never applied twice.

Each event becomes one change of entity ``contact``, keyed ``reference_id`` first (the donor id,
for a contact RaiseDonors sent) and then ``contact_id``: the core's ledger records what the
``virtuous_import`` sink wrote under the donor id, so the ``echo`` loop guard finds the
import's own ContactUpdate by that first key. The edit source (``admin``, ``donor_portal``,
``api``, ``ncoa``, ``query_update``, ``import``) is the change's ``Origin.channel``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from syncframe.components import ComponentContext, JSONValue, PermanentError
from syncframe.records import Change, Operation, Origin
from syncframe.webhooks import InboxEvent, WebhookDelivery, WebhookRefused, WebhookSource
from syncframe_raisedonors_virtuous.virtuous_client import virtuous_client_for
from syncframe_raisedonors_virtuous.virtuous_models import WebhookEvent, contact_fields
from syncframe_raisedonors_virtuous.virtuous_settings import VirtuousSettings

__all__ = [
    "CONTACT_EVENTS",
    "SIGNATURE_HEADER",
    "VirtuousWebhookOptions",
    "VirtuousWebhookSource",
    "signature_of",
]

SIGNATURE_HEADER: Final = "x-virtuous-signature"
EVENT_ID_HEADER: Final = "x-virtuous-event-id"
#: The webhook events the sync reads, and the operation each one is.
CONTACT_EVENTS: Final = {"ContactCreate": Operation.INSERT, "ContactUpdate": Operation.UPDATE}


def signature_of(secret: str, body: bytes) -> str:
    """``X-Virtuous-Signature`` of ``body``: Base64 of its HMAC-SHA256 under ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(step) for step in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


class VirtuousWebhookOptions(BaseModel):
    """Options of the ``virtuous_webhook`` source."""

    model_config = ConfigDict(extra="forbid")

    events: list[str] = Field(
        default_factory=lambda: list(CONTACT_EVENTS),
        min_length=1,
        description=(
            "The webhook events read (ContactCreate, ContactUpdate); others are acknowledged "
            "and ignored."
        ),
    )

    @field_validator("events")
    @classmethod
    def _contact_events(cls, events: list[str]) -> list[str]:
        unknown = [event for event in events if event not in CONTACT_EVENTS]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a contact event; the source reads "
                f"{' and '.join(CONTACT_EVENTS)}"
            )
        return list(dict.fromkeys(events))


class VirtuousWebhookSource(WebhookSource[VirtuousWebhookOptions]):
    """Virtuous CRM+ contacts created or updated, pushed by its ContactCreate/ContactUpdate
    webhook (signed with ``webhook_secret``), one change per event."""

    Options = VirtuousWebhookOptions
    system = "virtuous"
    entity = "contact"

    def __init__(self, context: ComponentContext, options: VirtuousWebhookOptions) -> None:
        super().__init__(context, options)
        settings = context.connection
        if not isinstance(settings, VirtuousSettings):
            raise PermanentError(
                f"connection {context.connection_name!r} is not a Virtuous CRM+ one"
            )
        self.settings = settings

    async def check(self) -> None:
        """Sign in and read the webhook list: the address and the credentials work, and a
        webhook with a secret sends contact events (else no delivery would ever come, or none
        could be verified)."""
        client = virtuous_client_for(self.context)
        await client.login()
        hooks = await client.webhooks()
        wanted = set(self.options.events)
        sending = [hook for hook in hooks if wanted <= set(_events_of(hook))]
        if not sending:
            raise PermanentError(
                f"no Virtuous CRM+ webhook sends {', '.join(sorted(wanted))}: add one under "
                "Settings > Connectivity > Webhooks with the URL of syncframe serve's "
                f"/webhooks/{self.context.flow} and the secret given as webhook_secret"
            )
        if all(hook.get("hasSecret") is False for hook in sending):
            raise PermanentError(
                "the Virtuous CRM+ webhook that sends contact events has no secret: its "
                "deliveries are not signed and would all be refused; give it the secret set as "
                "webhook_secret"
            )

    # ---- deliveries --------------------------------------------------------------------------
    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, JSONValue]]:
        given = delivery.headers.get(SIGNATURE_HEADER)
        if not given:
            raise WebhookRefused(
                401, "the delivery has no X-Virtuous-Signature header: it is not signed"
            )
        expected = signature_of(self.settings.webhook_secret.get_secret_value(), delivery.body)
        # Constant time, on bytes: a header with other than ASCII in it is simply wrong.
        if not hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8")):
            raise WebhookRefused(
                401,
                "X-Virtuous-Signature does not match the body: it was not signed with the "
                "webhook secret this connection has (webhook_secret)",
            )
        try:
            payload = orjson.loads(delivery.body)
        except orjson.JSONDecodeError as exc:
            raise WebhookRefused(400, f"the body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise WebhookRefused(400, "the body is not a JSON object (a Virtuous webhook event)")
        event = payload.get("event")
        if not isinstance(event, str) or not event:
            raise WebhookRefused(400, "event: missing; a Virtuous webhook event names its type")
        if event not in self.options.events:
            return []  # another event type (GiftCreate, ProjectUpdate...): acknowledged, unused
        if not payload.get("eventId") and delivery.headers.get(EVENT_ID_HEADER):
            payload["eventId"] = delivery.headers[EVENT_ID_HEADER]
        try:
            parsed = WebhookEvent.model_validate(payload)
        except ValidationError as exc:
            raise WebhookRefused(400, f"{event} event: {_problem(exc)}") from None
        return [(parsed.event_id, payload)]

    def changes_of(self, event: InboxEvent) -> list[Change]:
        parsed = WebhookEvent.model_validate(event.payload)
        contact = parsed.contact
        keys: dict[str, Any] = {}
        if contact.donor_id is not None:
            keys["reference_id"] = contact.donor_id
        keys["contact_id"] = str(contact.id)
        when = parsed.occurred_at or contact.modified_date_time_utc or event.received_at
        return [
            Change(
                system=self.context.connection_name,
                entity=self.entity,
                keys=keys,
                operation=CONTACT_EVENTS[parsed.event],
                fields=contact_fields(contact),
                occurred_at=when,
                origin=Origin(system=self.context.connection_name, channel=parsed.source),
                change_id=event.event_id,
            )
        ]


def _events_of(hook: dict[str, Any]) -> list[str]:
    events = hook.get("events")
    return [str(e) for e in events] if isinstance(events, list) else []
