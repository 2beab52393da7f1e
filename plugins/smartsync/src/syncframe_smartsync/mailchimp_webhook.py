"""Audience events Mailchimp pushes to ``syncframe serve`` (source ``mailchimp_webhook``).

The event step of real-time Mailchimp -> Raiser's Edge flows. In Mailchimp (Audience > Settings
> Webhooks, or ``POST /lists/{list_id}/webhooks``) the audience gets a webhook to
``https://<serve host>/webhooks/<flow>?secret=<webhook_secret>``; Mailchimp checks the URL with a
GET (the serve app answers it) and then POSTs each event, form-encoded with PHP-style keys
(``type=profile&fired_at=...&data[email]=...&data[merges][FNAME]=...``).

- Mailchimp signs nothing: the secret in the URL's query is the proof, compared in constant
  time (401 when it is missing or wrong). A delivery for another audience than the flow's is
  refused (400): the URL was given to the wrong audience, and Mailchimp's webhook log shows it.
- Payloads carry no event id and a retry sends the same bytes, so the event id is the SHA-256
  of the body: a redelivery is recognised by the core's inbox and never applied twice.
- ``subscribe``, ``unsubscribe``, ``profile``, ``upemail`` and ``cleaned`` events become one
  change each, in the vocabulary of the polling source (``email``, ``email_status``,
  ``constituent_id``...); ``upemail`` carries the new ``email`` and the ``old_email``; an
  unsubscribe with ``action=delete`` (the member was archived or deleted) is a ``delete``.
  ``campaign`` events, and event types the flow's ``events`` option leaves out, are
  acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field

from syncframe.components import ComponentContext, JSONValue, PermanentError
from syncframe.records import Change, Operation, Origin
from syncframe.webhooks import InboxEvent, WebhookDelivery, WebhookRefused, WebhookSource
from syncframe_smartsync.mailchimp_client import MailchimpClient, client_for, subscriber_hash
from syncframe_smartsync.mailchimp_fields import FieldMap, audience_fields
from syncframe_smartsync.mailchimp_members import ENTITY
from syncframe_smartsync.mailchimp_settings import SYSTEM, settings_of

__all__ = ["EVENT_TYPES", "MemberWebhookOptions", "MemberWebhookSource", "parse_form"]

EventType = Literal["subscribe", "unsubscribe", "profile", "upemail", "cleaned"]
#: The audience events that carry a member's change.
EVENT_TYPES: Final[tuple[EventType, ...]] = (
    "subscribe",
    "unsubscribe",
    "profile",
    "upemail",
    "cleaned",
)
#: The ``data[...]`` keys each event must have.
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "subscribe": ("email",),
    "unsubscribe": ("email",),
    "profile": ("email",),
    "cleaned": ("email",),
    "upemail": ("new_email", "old_email"),
}
_KEY: Final = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART: Final = re.compile(r"\[([^\[\]]*)\]")
_FIRED_AT: Final = "%Y-%m-%d %H:%M:%S"


class MemberWebhookOptions(BaseModel):
    """Options of the ``mailchimp_webhook`` source."""

    model_config = ConfigDict(extra="forbid")

    list_id: str | None = Field(
        None, description="Another audience of the account than the connection's list_id."
    )
    events: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES),
        min_length=1,
        description="The event types the flow takes (the others are acknowledged and ignored).",
    )
    include_empty: bool = Field(
        False,
        description="Carry merge fields sent empty as empty fields (false: leave them out).",
    )


def parse_form(body: bytes) -> dict[str, Any]:
    """A form-encoded body with PHP-style keys as nested dicts: ``data[merges][FNAME]=Ann`` ->
    ``{"data": {"merges": {"FNAME": "Ann"}}}``. ``ValueError`` says what cannot be read."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8 text") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise ValueError(
            "the body is not form-encoded (application/x-www-form-urlencoded)"
        ) from None
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"the body has a field {key!r} that is not name or name[key]...")
        path = [match.group(1), *_PART.findall(match.group(2))]
        node = root
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                # An empty address (data[merges][ADDRESS]=) next to its parts: the parts win.
                child = node[part] = {}
            node = child
        if not isinstance(node.get(path[-1]), dict):
            node[path[-1]] = value
    return root


def _fired_at(payload: Mapping[str, Any]) -> datetime:
    return datetime.strptime(str(payload.get("fired_at", "")), _FIRED_AT).replace(tzinfo=UTC)


class MemberWebhookSource(WebhookSource[MemberWebhookOptions]):
    """Member events of a Mailchimp audience, pushed to ``syncframe serve``."""

    Options = MemberWebhookOptions
    system = SYSTEM
    entity = ENTITY

    def __init__(self, context: ComponentContext, options: MemberWebhookOptions) -> None:
        super().__init__(context, options)
        self.settings = settings_of(context)
        self.list_id = options.list_id or self.settings.list_id
        self.fields_map = FieldMap(self.settings)
        self._client: MailchimpClient | None = None

    @property
    def client(self) -> MailchimpClient:
        """The API client (for the connection check only: deliveries need no call)."""
        if self._client is None:
            self._client = client_for(self.context)
        return self._client

    async def check(self) -> None:
        """A webhook secret is set, the key opens the account, the audience exists and has the
        mapped merge fields."""
        if self.settings.webhook_secret is None:
            raise PermanentError(
                f"connection {self.context.connection_name!r} has no webhook_secret: set one "
                f"and give Mailchimp the URL .../webhooks/{self.context.flow}"
                f"?{self.settings.webhook_url_parameter}=<the secret>"
            )
        await audience_fields(self.client, self.list_id, require_mapped=True)

    # ---- deliveries ------------------------------------------------------------------------
    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, JSONValue]]:
        self._check_secret(delivery)
        try:
            form = parse_form(delivery.body)
        except ValueError as exc:
            raise WebhookRefused(400, f"a Mailchimp webhook delivery: {exc}") from None
        kind = form.get("type")
        if not isinstance(kind, str) or not kind:
            raise WebhookRefused(400, "a Mailchimp webhook delivery has no type")
        data = form.get("data")
        if not isinstance(data, dict):
            raise WebhookRefused(400, f"a Mailchimp {kind} event has no data[...] fields")
        list_id = data.get("list_id")
        if list_id != self.list_id:
            raise WebhookRefused(
                400,
                f"a Mailchimp {kind} event of audience {list_id!r} reached the flow of audience "
                f"{self.list_id!r}: give this URL to that audience's webhook only",
            )
        if kind not in self.options.events:
            return []  # campaign events, or types this flow leaves out: acknowledged
        try:
            _fired_at(form)
        except ValueError:
            raise WebhookRefused(
                400, f"a Mailchimp {kind} event has no fired_at (YYYY-MM-DD HH:MM:SS)"
            ) from None
        for name in _REQUIRED[kind]:
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise WebhookRefused(400, f"a Mailchimp {kind} event has no data[{name}]")
        payload = {"type": kind, "fired_at": form["fired_at"], "data": data}
        # No event id in Mailchimp's payloads; a retry resends the same bytes.
        return [(hashlib.sha256(delivery.body).hexdigest(), payload)]

    def _check_secret(self, delivery: WebhookDelivery) -> None:
        secret = self.settings.webhook_secret
        name = self.settings.webhook_url_parameter
        if secret is None:
            raise WebhookRefused(
                401,
                f"connection {self.context.connection_name!r} has no webhook_secret, so no "
                "delivery can be trusted",
            )
        given = delivery.query.get(name, "")
        if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            raise WebhookRefused(401, f"the webhook URL's {name} parameter is missing or wrong")

    def changes_of(self, event: InboxEvent) -> list[Change]:
        payload = event.payload
        kind = payload["type"]
        data: dict[str, Any] = payload["data"]
        connection = self.context.connection_name
        operation = Operation.UPDATE
        if kind == "upemail":
            email = data["new_email"].strip()
            fields: dict[str, Any] = {"email": email, "old_email": data["old_email"].strip()}
        else:
            email = data["email"].strip()
            fields = {"email": email}
            if kind == "subscribe":
                fields["email_status"] = "subscribed"
            elif kind == "cleaned":
                fields["email_status"] = "cleaned"
            elif kind == "unsubscribe":
                if data.get("action") == "delete":
                    operation = Operation.DELETE  # archived or deleted, not an opt-out
                else:
                    fields["email_status"] = "unsubscribed"
            merges = data.get("merges")
            if isinstance(merges, dict):
                fields.update(
                    self.fields_map.read(merges, include_empty=self.options.include_empty)
                )
        return [
            Change(
                system=connection,
                entity=ENTITY,
                keys={"id": subscriber_hash(email), "email": email},
                operation=operation,
                fields=fields,
                occurred_at=_fired_at(payload),
                origin=Origin(system=connection),
                change_id=event.event_id,
            )
        ]
