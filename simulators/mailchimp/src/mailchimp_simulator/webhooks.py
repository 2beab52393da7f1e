"""Audience webhooks: the form-encoded payloads Mailchimp POSTs, and their delivery with retries.

Every :class:`~mailchimp_simulator.audiences.MemberEvent` becomes one
:class:`WebhookEventDelivery` per webhook of the audience that asked for that event type and for
changes from that source. The body is built at once (the member as it was when the change
happened) and never changes: a retry sends the same bytes, so a receiver may take a hash of the
body as the event's id. Deliveries wait in the :class:`WebhookOutbox` until
:func:`deliver_due` sends the ones that are due on the simulator clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode

import anyio
import httpx

from mailchimp_simulator._time import format_time, webhook_time
from mailchimp_simulator.audiences import EditSource, EventType, MemberEvent
from mailchimp_simulator.merge_fields import ADDRESS_KEYS, merge_value_text

__all__ = [
    "EVENT_TYPES",
    "RETRY_DELAYS",
    "SOURCES",
    "DeliveryAttempt",
    "DeliveryResult",
    "WebhookEventDelivery",
    "WebhookOutbox",
    "deliver_due",
    "event_form",
    "verify_url",
]

#: The ``events`` flags of a webhook (``campaign`` is accepted; no campaign is ever sent here).
EVENT_TYPES: Final = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
#: The ``sources`` flags of a webhook.
SOURCES: Final = ("user", "admin", "api")
#: After a failed attempt, the wait before the next one; after the last, the delivery has
#: failed for good. They add up to the ~75 minutes Mailchimp keeps retrying for.
RETRY_DELAYS: Final = tuple(timedelta(minutes=m) for m in (1, 4, 10, 20, 40))
USER_AGENT: Final = "MailChimp"
VALIDATOR_USER_AGENT: Final = "MailChimp.com WebHook Validator"

DeliveryStatus = Literal["pending", "delivered", "failed"]


def _merges(event: MemberEvent) -> list[tuple[str, str]]:
    member = event.member
    pairs = [("data[merges][EMAIL]", member.email_address)]
    for merge in event.audience.ordered_merge_fields():
        value = member.merge_fields.get(merge.tag, "")
        if isinstance(value, dict):
            # PHP-style nesting, flattened as a form field per address part.
            pairs += [(f"data[merges][{merge.tag}][{k}]", value.get(k, "")) for k in ADDRESS_KEYS]
        else:
            pairs.append((f"data[merges][{merge.tag}]", merge_value_text(value)))
    return pairs


def event_form(event: MemberEvent) -> list[tuple[str, str]]:
    """The ``type``/``fired_at``/``data[...]`` fields of the POST Mailchimp makes for ``event``."""
    member = event.member
    head = [("type", event.type), ("fired_at", webhook_time(event.fired_at))]
    list_id = ("data[list_id]", event.audience.id)
    if event.type == "upemail":
        return [
            *head,
            list_id,
            ("data[new_id]", event.extra["new_id"]),
            ("data[new_email]", event.extra["new_email"]),
            ("data[old_email]", event.extra["old_email"]),
        ]
    if event.type == "cleaned":
        return [
            *head,
            list_id,
            ("data[campaign_id]", event.extra.get("campaign_id", "")),
            ("data[reason]", event.extra.get("reason", "hard")),
            ("data[email]", member.email_address),
        ]
    who = [
        ("data[id]", member.unique_email_id),
        ("data[email]", member.email_address),
        ("data[email_type]", member.email_type),
        ("data[ip_opt]", member.ip_opt),
        ("data[web_id]", str(member.web_id)),
    ]
    if event.type == "unsubscribe":
        return [
            *head,
            ("data[action]", event.extra.get("action", "unsub")),
            ("data[reason]", event.extra.get("reason", "manual")),
            *who,
            ("data[campaign_id]", event.extra.get("campaign_id", "")),
            *_merges(event),
            list_id,
        ]
    # subscribe and profile
    return [*head, *who, ("data[ip_signup]", member.ip_signup), *_merges(event), list_id]


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    at: datetime
    status_code: int | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"at": format_time(self.at), "status_code": self.status_code, "reason": self.reason}


@dataclass(slots=True)
class WebhookEventDelivery:
    """One event on its way to one webhook URL."""

    id: int
    webhook_id: str
    list_id: str
    url: str
    type: EventType
    source: EditSource
    fired_at: datetime
    body: bytes
    next_attempt_at: datetime | None
    status: DeliveryStatus = "pending"
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    sending: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "list_id": self.list_id,
            "url": self.url,
            "type": self.type,
            "source": self.source,
            "fired_at": format_time(self.fired_at),
            "status": self.status,
            "next_attempt_at": (
                format_time(self.next_attempt_at) if self.next_attempt_at is not None else None
            ),
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "body": self.body.decode(),
            "data": dict(parse_qsl(self.body.decode(), keep_blank_values=True)),
        }


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one delivery attempt did: ``outcome`` is ``delivered``, ``retrying`` (another
    attempt is scheduled at ``next_attempt_at``) or ``failed`` (no more automatic attempts)."""

    delivery_id: int
    webhook_id: str
    url: str
    type: EventType
    status_code: int | None
    outcome: Literal["delivered", "retrying", "failed"]
    reason: str
    next_attempt_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "url": self.url,
            "type": self.type,
            "status_code": self.status_code,
            "outcome": self.outcome,
            "reason": self.reason,
            "next_attempt_at": (
                format_time(self.next_attempt_at) if self.next_attempt_at is not None else None
            ),
        }


class WebhookOutbox:
    """Every delivery made, pending or done, in the order the events happened."""

    def __init__(self) -> None:
        self.deliveries: dict[int, WebhookEventDelivery] = {}
        self._next_id = 1

    def enqueue(self, event: MemberEvent) -> list[WebhookEventDelivery]:
        """A delivery per webhook of the audience that wants this event from this source.

        Changes Mailchimp makes itself (``system``: a bounce cleaning an address) are sent
        whatever the webhook's sources say.
        """
        body: bytes | None = None
        made = []
        for webhook in event.audience.webhooks.values():
            wanted = webhook.events.get(event.type, False) and (
                event.source == "system" or webhook.sources.get(event.source, False)
            )
            if not wanted:
                continue
            if body is None:
                body = urlencode(event_form(event)).encode()
            delivery = WebhookEventDelivery(
                id=self._next_id,
                webhook_id=webhook.id,
                list_id=event.audience.id,
                url=webhook.url,
                type=event.type,
                source=event.source,
                fired_at=event.fired_at,
                body=body,
                next_attempt_at=event.fired_at,
            )
            self._next_id += 1
            self.deliveries[delivery.id] = delivery
            made.append(delivery)
        return made

    def take_due(self, now: datetime) -> list[WebhookEventDelivery]:
        """The pending deliveries due by ``now``, marked as being sent (so a second sender
        running at the same time leaves them alone)."""
        due = [
            d
            for d in self.deliveries.values()
            if d.status == "pending"
            and not d.sending
            and d.next_attempt_at is not None
            and d.next_attempt_at <= now
        ]
        for delivery in due:
            delivery.sending = True
        return due

    def record(
        self, delivery: WebhookEventDelivery, at: datetime, status_code: int | None, reason: str
    ) -> DeliveryResult:
        """Note an attempt; schedule the next one after a failure, or give up."""
        delivery.sending = False
        delivery.attempts.append(DeliveryAttempt(at, status_code, reason))
        outcome: Literal["delivered", "retrying", "failed"]
        if status_code is not None and 200 <= status_code < 300:
            delivery.status, delivery.next_attempt_at, outcome = "delivered", None, "delivered"
        else:
            failures = sum(
                1
                for attempt in delivery.attempts
                if attempt.status_code is None or not 200 <= attempt.status_code < 300
            )
            if failures <= len(RETRY_DELAYS):
                delivery.next_attempt_at = at + RETRY_DELAYS[failures - 1]
                outcome = "retrying"
            else:
                delivery.status, delivery.next_attempt_at, outcome = "failed", None, "failed"
        return DeliveryResult(
            delivery.id,
            delivery.webhook_id,
            delivery.url,
            delivery.type,
            status_code,
            outcome,
            reason,
            delivery.next_attempt_at,
        )

    def retry(self, delivery_id: int, now: datetime) -> WebhookEventDelivery:
        """Send a delivery again at the next :func:`deliver_due` (a person's "resend")."""
        delivery = self.deliveries.get(delivery_id)
        if delivery is None:
            raise KeyError(delivery_id)
        delivery.status = "pending"
        delivery.next_attempt_at = now
        return delivery

    def clear(self) -> None:
        self.deliveries.clear()


async def _post(
    client: httpx.AsyncClient, delivery: WebhookEventDelivery, answer_within: float
) -> tuple[int | None, str]:
    try:
        with anyio.fail_after(answer_within):
            response = await client.post(
                delivery.url,
                content=delivery.body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": USER_AGENT,
                },
            )
    except TimeoutError:
        return None, f"no answer within {answer_within:g} s"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:500]}"


async def deliver_due(
    outbox: WebhookOutbox,
    *,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None,
    answer_within: float,
    lock: threading.RLock,
) -> list[DeliveryResult]:
    """POST every delivery due by ``now``, one after the other, in the order of the events.

    ``lock`` guards the outbox; it is never held while a POST is on its way (the receiver may
    call the simulator's API before it answers).
    """
    with lock:
        due = outbox.take_due(now)
    if not due:
        return []
    results = []
    try:
        async with httpx.AsyncClient(transport=transport, timeout=answer_within) as client:
            for delivery in due:
                status_code, reason = await _post(client, delivery, answer_within)
                with lock:
                    results.append(outbox.record(delivery, now, status_code, reason))
    finally:
        # Cancelled half-way: what was not sent is left for the next sender.
        with lock:
            for delivery in due:
                delivery.sending = False
    return results


async def verify_url(
    url: str, *, transport: httpx.AsyncBaseTransport | None, answer_within: float
) -> str:
    """The GET Mailchimp makes when a webhook is saved; ``""`` when the URL answered 200, else
    why it did not (the text the API's refusal carries)."""
    try:
        with anyio.fail_after(answer_within):
            async with httpx.AsyncClient(transport=transport, timeout=answer_within) as client:
                response = await client.get(url, headers={"User-Agent": VALIDATOR_USER_AGENT})
    except TimeoutError:
        code = "none (no answer)"
    except httpx.HTTPError as exc:
        code = f"none ({type(exc).__name__})"
    else:
        if response.status_code == 200:
            return ""
        code = str(response.status_code)
    return (
        "We couldn't verify the URL is working. Please double check and try again. "
        f"HTTP Code: {code}"
    )
