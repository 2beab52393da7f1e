"""Webhooks (Settings > Connectivity > Webhooks): subscriptions, the event log, delivery with an
HMAC-SHA256 signature, automatic retries on the simulator clock and retry by hand.

Every contact create/update (and gift create) fires one event per subscription that asked for
it. An event is one row of the log, delivered by POSTing its JSON body to the subscription's
URL:

- 2xx: **delivered**; any other answer, a timeout or a connection error: **failed**, with the
  status and the first 500 characters of the answer as the reason. Failed events are tried
  again automatically at +1 min, +5 min, +30 min and +2 h after each failed attempt, then stay
  failed until someone retries them by hand; a retry sends the same ``eventId`` and body.
  Events never tried yet are **pending**.
- The log is kept compact (the numbers are in ``docs/simulators/virtuous.md``): a row is a few
  slots; its body is kept zlib-compressed against a JSON template only while it may still be
  sent (pending or failed), and dropped once delivered. Identical failure reasons share one
  string. Rows older than :data:`RETENTION` that will not be sent again are dropped.
- Deliveries of one contact go out in order, one at a time; different contacts go out
  concurrently (``concurrency`` at once).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import secrets
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import anyio
import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel

from syncframe.clock import Clock
from virtuous_simulator._common import BadRequest, Conflict, NotFound, dumps, iso
from virtuous_simulator.contacts import ContactEvent, contact_json
from virtuous_simulator.imports import GiftEvent, gift_json

__all__ = [
    "EVENT_TYPES",
    "REASON_LIMIT",
    "REPORT_LIMIT",
    "RETENTION",
    "RETRY_DELAYS",
    "SIGNATURE_HEADER",
    "AttemptOutcome",
    "DeliveryReport",
    "EventRow",
    "Subscription",
    "WebhookHub",
    "WebhookIn",
    "sign",
]

#: Event types a webhook may subscribe to (Virtuous's list). The simulator fires
#: ContactCreate, ContactUpdate and GiftCreate; the others are accepted and never fire.
EVENT_TYPES: Final = (
    "ContactCreate",
    "ContactUpdate",
    "ContactNoteCreate",
    "ContactNoteUpdate",
    "ContactNoteDelete",
    "EventCreate",
    "EventUpdate",
    "EventDelete",
    "FormSubmission",
    "GiftCreate",
    "GiftUpdate",
    "GiftDelete",
    "ProjectCreate",
    "ProjectUpdate",
    "ProjectDelete",
)
SIGNATURE_HEADER: Final = "X-Virtuous-Signature"
EVENT_ID_HEADER: Final = "X-Virtuous-Event-Id"
#: Waits before the automatic retries, after each failed attempt.
RETRY_DELAYS: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
#: How much of a failed answer is kept as the reason.
REASON_LIMIT: Final = 500
#: Rows that will not be sent again are dropped this long after their event (choice).
RETENTION: Final = timedelta(days=30)
#: How many attempt outcomes a :class:`DeliveryReport` lists (its counts cover all).
REPORT_LIMIT: Final = 1000
_PRUNE_EVERY: Final = 4096
_INTERNED_REASONS: Final = 1024

EventStatus = Literal["pending", "delivered", "failed"]

# Bodies are compressed against a template of themselves: the keys repeat in every body, so a
# shared dictionary makes a ~1 KB contact body ~300 bytes at ~10 µs (measured).
_ZDICT: Final = dumps(
    {
        "eventId": "",
        "event": "ContactUpdate",
        "source": "",
        "occurredAt": "",
        "contact": {
            "id": 0,
            "contactType": "Household",
            "name": "",
            "referenceSource": None,
            "referenceId": None,
            "address": {
                "id": 0,
                "address1": "",
                "address2": None,
                "city": "",
                "state": "",
                "postal": "",
                "country": "United States",
                "isPrimary": True,
            },
            "addresses": [
                {
                    "id": 0,
                    "address1": "",
                    "address2": None,
                    "city": "",
                    "state": "",
                    "postal": "",
                    "country": "United States",
                    "isPrimary": False,
                }
            ],
            "contactIndividuals": [
                {
                    "id": 0,
                    "contactId": 0,
                    "firstName": "",
                    "lastName": "",
                    "isPrimary": True,
                    "contactMethods": [
                        {
                            "id": 0,
                            "type": "Home Email",
                            "value": "",
                            "isPrimary": True,
                            "isOptedIn": True,
                        },
                        {
                            "id": 0,
                            "type": "Home Phone",
                            "value": "",
                            "isPrimary": True,
                            "isOptedIn": False,
                        },
                    ],
                }
            ],
            "createDateTimeUtc": "",
            "modifiedDateTimeUtc": "",
        },
    }
)
_WBITS: Final = -12  # raw deflate, 4 KB window: bodies are small; a bigger one is slower


def _pack(body: bytes) -> bytes:
    packer = zlib.compressobj(1, zlib.DEFLATED, _WBITS, 4, zdict=_ZDICT)
    return packer.compress(body) + packer.flush()


def _unpack(packed: bytes) -> bytes:
    unpacker = zlib.decompressobj(_WBITS, zdict=_ZDICT)
    return unpacker.decompress(packed) + unpacker.flush()


def sign(secret: str, body: bytes) -> str:
    """``X-Virtuous-Signature``: Base64(HMAC-SHA256(secret, raw body))."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WebhookIn(BaseModel):
    """``POST /api/Webhook``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    url: str
    events: list[str] = Field(min_length=1)
    secret: str | None = None
    name: str | None = None

    @field_validator("url")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value.strip()

    @field_validator("events")
    @classmethod
    def _known_events(cls, values: list[str]) -> list[str]:
        by_key = {name.casefold(): name for name in EVENT_TYPES}
        known: list[str] = []
        for value in values:
            name = by_key.get(value.replace(" ", "").casefold())
            if name is None:
                raise ValueError(f"{value!r} is not a webhook event ({', '.join(EVENT_TYPES)})")
            if name not in known:
                known.append(name)
        return known


@dataclass(slots=True, eq=False)
class Subscription:
    id: int
    url: str
    events: frozenset[str]
    secret: SecretStr | None
    name: str | None
    created_at: datetime

    def json(self, *, with_secret: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "events": sorted(self.events, key=EVENT_TYPES.index),
            "hasSecret": self.secret is not None,
            "createDateTimeUtc": iso(self.created_at),
        }
        if with_secret:
            data["secret"] = self.secret.get_secret_value() if self.secret else None
        return data


class EventRow:
    """One event of the log: one subscription, one change. Kept small on purpose."""

    __slots__ = (
        "attempts",
        "body",
        "contact_id",
        "event",
        "http_status",
        "in_flight",
        "last_attempt",
        "next_attempt",
        "occurred",
        "reason",
        "seq",
        "source",
        "status",
        "subscription_id",
    )

    def __init__(
        self,
        seq: int,
        subscription_id: int,
        event: str,
        source: str,
        contact_id: int,
        occurred: float,
        body: bytes,
    ) -> None:
        self.seq = seq
        self.subscription_id = subscription_id
        self.event = event
        self.source = source
        self.contact_id = contact_id
        self.occurred = occurred
        #: The compressed body while it may still be sent; None once delivered.
        self.body: bytes | None = body
        self.status: EventStatus = "pending"
        self.attempts = 0
        self.last_attempt: float | None = None
        self.next_attempt: float | None = occurred
        self.http_status: int | None = None
        self.reason: str | None = None
        self.in_flight = False


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One delivery attempt as :meth:`WebhookHub.deliver` reports it."""

    event_id: str
    event: str
    contact_id: int
    status: Literal["delivered", "failed"]
    http_status: int | None
    reason: str | None


@dataclass(slots=True)
class DeliveryReport:
    """What one :meth:`WebhookHub.deliver` call did: counts of every attempt, and the first
    :data:`REPORT_LIMIT` outcomes (the event log has all of them)."""

    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    outcomes: list[AttemptOutcome] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "delivered": self.delivered,
            "failed": self.failed,
            "outcomes": [
                {
                    "eventId": o.event_id,
                    "event": o.event,
                    "contactId": o.contact_id,
                    "status": o.status,
                    "httpStatus": o.http_status,
                    "reason": o.reason,
                }
                for o in self.outcomes
            ],
        }


@dataclass(slots=True)
class _Prepared:
    row: EventRow
    url: str
    body: bytes
    headers: dict[str, str]


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _when(ts: float | None) -> str | None:
    return iso(datetime.fromtimestamp(ts, UTC)) if ts is not None else None


class WebhookHub:
    """Subscriptions, the event log and delivery.

    Thread safety: every method that touches the log takes ``lock`` (the simulator's), and
    :meth:`deliver` never holds it while a request is on the wire.
    """

    def __init__(
        self,
        clock: Clock,
        lock: threading.RLock,
        *,
        concurrency: int = 4,
        timeout: float = 10.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"webhook concurrency must be 1 or more, not {concurrency}")
        self.clock = clock
        self.lock = lock
        self.concurrency = concurrency
        self.timeout = timeout
        #: Called (under the lock) whenever an event becomes due: wakes a background deliverer.
        self.on_due: Callable[[], None] | None = None
        self._start()

    def _start(self) -> None:
        self.subscriptions: dict[int, Subscription] = {}
        self.rows: dict[int, EventRow] = {}
        self.counts: dict[EventStatus, int] = {"pending": 0, "delivered": 0, "failed": 0}
        self._due: list[tuple[float, int]] = []
        self._next_subscription = 1
        self._next_seq = 1
        self._reasons: dict[str, str] = {}
        # Contacts with a delivery on the wire, and their events due meanwhile (in order).
        self._busy: set[int] = set()
        self._waiting: dict[int, deque[int]] = {}
        # Event ids are random per simulator and per reset (never seeded): a receiver that
        # de-duplicates by event id must not mistake a restarted simulator's events for old ones.
        self._generation = secrets.randbits(64)
        high = f"{self._generation:016x}"
        self._id_prefix = f"{high[:8]}-{high[8:12]}-{high[12:]}-"

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe(self, spec: WebhookIn, *, secret: str | None = None) -> Subscription:
        """A new webhook; ``secret`` (made up by the caller when the spec has none) signs it."""
        chosen = spec.secret or secret
        subscription = Subscription(
            id=self._next_subscription,
            url=spec.url,
            events=frozenset(spec.events),
            secret=SecretStr(chosen) if chosen else None,
            name=spec.name,
            created_at=self.clock.now(),
        )
        self._next_subscription += 1
        self.subscriptions[subscription.id] = subscription
        return subscription

    def unsubscribe(self, subscription_id: int) -> None:
        if self.subscriptions.pop(subscription_id, None) is None:
            raise NotFound(f"Webhook {subscription_id} was not found.")

    # -- firing --------------------------------------------------------------------------------

    def event_id(self, seq: int) -> str:
        """A UUID: this log's random 64 bits, then the event's number (formatted by hand:
        ``str(uuid.UUID(...))`` is a tenth of an NCOA event's cost)."""
        return f"{self._id_prefix}{seq >> 48 & 0xFFFF:04x}-{seq & 0xFFFFFFFFFFFF:012x}"

    def seq_of(self, event_id: str) -> int | None:
        try:
            number = uuid.UUID(event_id).int
        except ValueError:
            return None
        if number >> 64 != self._generation:
            return None
        return number & ((1 << 64) - 1)

    def on_contact_event(self, event: ContactEvent) -> None:
        self._fire(
            event.event,
            event.source,
            event.at,
            event.contact.id,
            "contact",
            lambda: contact_json(event.contact),
        )

    def on_gift_event(self, event: GiftEvent) -> None:
        self._fire(
            "GiftCreate",
            event.source,
            event.at,
            event.gift.contact_id,
            "gift",
            lambda: gift_json(event.gift),
        )

    def _fire(
        self,
        event: str,
        source: str,
        at: datetime,
        contact_id: int,
        key: str,
        payload: Callable[[], dict[str, Any]],
    ) -> None:
        targets = [s for s in self.subscriptions.values() if event in s.events]
        if not targets:
            return
        record = payload()  # built once for every subscription
        occurred = _ts(at)
        occurred_at = iso(at)
        for subscription in targets:
            seq = self._next_seq
            self._next_seq += 1
            body = dumps(
                {
                    "eventId": self.event_id(seq),
                    "event": event,
                    "source": source,
                    "occurredAt": occurred_at,
                    key: record,
                }
            )
            row = EventRow(seq, subscription.id, event, source, contact_id, occurred, _pack(body))
            self.rows[seq] = row
            self.counts["pending"] += 1
            heapq.heappush(self._due, (occurred, seq))
            if seq % _PRUNE_EVERY == 0:
                self._prune(at)
        if self.on_due is not None:
            self.on_due()

    def _prune(self, now: datetime) -> None:
        cutoff = _ts(now - RETENTION)
        old: list[int] = []
        for seq, row in self.rows.items():
            if row.occurred >= cutoff:
                break  # rows are in event order
            if not row.in_flight and row.next_attempt is None:
                old.append(seq)
        for seq in old:
            row = self.rows.pop(seq)
            self.counts[row.status] -= 1

    # -- delivering ----------------------------------------------------------------------------

    def next_due_at(self) -> float | None:
        """When the next event is due (a timestamp), or None."""
        with self.lock:
            while self._due:
                when, seq = self._due[0]
                row = self.rows.get(seq)
                if row is not None and row.next_attempt == when and not row.in_flight:
                    return when
                heapq.heappop(self._due)
            return None

    def _claim(self, now: float, last_seq: int) -> EventRow | None:
        """The next due row whose contact is not being delivered to (under the lock). Rows
        after ``last_seq`` fired while this delivery ran: they wait for the next one."""
        while self._due and self._due[0][0] <= now and self._due[0][1] <= last_seq:
            when, seq = heapq.heappop(self._due)
            row = self.rows.get(seq)
            if row is None or row.next_attempt != when or row.in_flight:
                continue  # stale: delivered by hand, pruned, or rescheduled
            if row.contact_id in self._busy:
                self._waiting.setdefault(row.contact_id, deque()).append(seq)
                continue
            self._busy.add(row.contact_id)
            row.in_flight = True
            return row
        return None

    def _prepare(self, row: EventRow) -> _Prepared | None:
        subscription = self.subscriptions.get(row.subscription_id)
        if subscription is None or row.body is None:
            row.next_attempt = None  # nowhere to send it, ever
            self._finish(
                row,
                None,
                "The webhook was deleted before the event was delivered.",
                automatic=False,
            )
            return None
        body = _unpack(row.body)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Virtuous-Webhooks/1.0",
            EVENT_ID_HEADER: self.event_id(row.seq),
            "X-Virtuous-Event": row.event,
        }
        if subscription.secret is not None:
            headers[SIGNATURE_HEADER] = sign(subscription.secret.get_secret_value(), body)
        return _Prepared(row, subscription.url, body, headers)

    async def _send(
        self, client: httpx.AsyncClient, prepared: _Prepared
    ) -> tuple[int | None, str | None]:
        """(HTTP status or None, reason of a failure or None)."""
        try:
            response = await client.post(
                prepared.url, content=prepared.body, headers=prepared.headers
            )
        except httpx.TimeoutException:
            return None, f"No answer within {self.timeout:g} seconds (timed out)."
        except httpx.HTTPError as exc:
            return None, f"Could not deliver: {type(exc).__name__}: {exc}"[:REASON_LIMIT]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        text = response.text[:REASON_LIMIT]
        return response.status_code, f"HTTP {response.status_code}: {text}"

    def _intern(self, reason: str) -> str:
        kept = self._reasons.get(reason)
        if kept is not None:
            return kept
        if len(self._reasons) < _INTERNED_REASONS:
            self._reasons[reason] = reason
        return reason

    def _finish(
        self, row: EventRow, http_status: int | None, reason: str | None, *, automatic: bool
    ) -> AttemptOutcome:
        """Record one attempt's outcome on its row (under the lock)."""
        now = self.clock.now()
        row.in_flight = False
        row.attempts += 1
        row.last_attempt = _ts(now)
        row.http_status = http_status
        self.counts[row.status] -= 1
        if reason is None:
            row.status = "delivered"
            row.reason = None
            row.body = None  # never sent again: the log keeps the facts, not the body
            row.next_attempt = None
        else:
            row.status = "failed"
            row.reason = self._intern(reason)
            if automatic:
                if row.attempts <= len(RETRY_DELAYS) and row.subscription_id in self.subscriptions:
                    row.next_attempt = _ts(now + RETRY_DELAYS[row.attempts - 1])
                    heapq.heappush(self._due, (row.next_attempt, row.seq))
                else:
                    row.next_attempt = None
        self.counts[row.status] += 1
        return self._outcome(row)

    async def deliver(self, transport: httpx.AsyncBaseTransport | None) -> DeliveryReport:
        """Send every event due when called; returns what happened. Events of one contact go
        out in order, one at a time; up to ``concurrency`` contacts at once. Events fired while
        it runs (a receiver writing back) wait for the next call, so a loop between two systems
        shows as a growing log, never as a call that does not end."""
        report = DeliveryReport()
        with self.lock:
            self._prune(self.clock.now())
            now = _ts(self.clock.now())
            last_seq = self._next_seq - 1
        async with httpx.AsyncClient(transport=transport, timeout=self.timeout) as client:

            async def worker() -> None:
                row: EventRow | None = None
                try:
                    while True:
                        with self.lock:
                            row = self._next_for_worker(row, now, last_seq)
                            prepared = self._prepare(row) if row is not None else None
                        if row is None:
                            return
                        if prepared is None:
                            continue
                        http_status, reason = await self._send(client, prepared)
                        with self.lock:
                            outcome = self._finish(row, http_status, reason, automatic=True)
                        report.attempted += 1
                        if outcome.status == "delivered":
                            report.delivered += 1
                        else:
                            report.failed += 1
                        if len(report.outcomes) < REPORT_LIMIT:
                            report.outcomes.append(outcome)
                except BaseException:
                    # Cancelled (the server stops) or broken mid-send: put the contact's events
                    # back in the queue so the next delivery sends them.
                    if row is not None:
                        with self.lock:
                            self._release(row)
                    raise

            async with anyio.create_task_group() as group:
                for _ in range(self.concurrency):
                    group.start_soon(worker)
        return report

    def _release(self, row: EventRow) -> None:
        if row.in_flight:
            row.in_flight = False
            if row.next_attempt is not None:
                heapq.heappush(self._due, (row.next_attempt, row.seq))
        for seq in self._waiting.pop(row.contact_id, ()):
            waiting = self.rows.get(seq)
            if waiting is not None and waiting.next_attempt is not None:
                heapq.heappush(self._due, (waiting.next_attempt, seq))
        self._busy.discard(row.contact_id)

    def _next_for_worker(
        self, previous: EventRow | None, now: float, last_seq: int
    ) -> EventRow | None:
        """After ``previous``, the same contact's next waiting event, else a new due one."""
        if previous is not None:
            queue = self._waiting.get(previous.contact_id)
            while queue:
                seq = queue.popleft()
                row = self.rows.get(seq)
                if row is not None and not row.in_flight and row.next_attempt is not None:
                    row.in_flight = True
                    return row
            self._waiting.pop(previous.contact_id, None)
            self._busy.discard(previous.contact_id)
        return self._claim(now, last_seq)

    async def retry(
        self, event_id: str, transport: httpx.AsyncBaseTransport | None
    ) -> AttemptOutcome:
        """Send a failed (or pending) event again now, same event id and body."""
        with self.lock:
            row = self.row(event_id)
            if row.status == "delivered":
                raise Conflict(
                    f"Event {event_id} was already delivered; there is nothing to retry."
                )
            if row.in_flight:
                raise Conflict(f"Event {event_id} is being delivered right now.")
            row.in_flight = True
            prepared = self._prepare(row)
        if prepared is None:
            with self.lock:
                return self._outcome(row)
        async with httpx.AsyncClient(transport=transport, timeout=self.timeout) as client:
            http_status, reason = await self._send(client, prepared)
        with self.lock:
            outcome = self._finish(row, http_status, reason, automatic=False)
            if reason is not None and row.next_attempt is not None:
                # A failed retry by hand leaves the automatic schedule as it was (a delivery
                # may have dropped the queue entry while this one was on the wire).
                heapq.heappush(self._due, (row.next_attempt, row.seq))
            return outcome

    def _outcome(self, row: EventRow) -> AttemptOutcome:
        return AttemptOutcome(
            self.event_id(row.seq),
            row.event,
            row.contact_id,
            "delivered" if row.status == "delivered" else "failed",
            row.http_status,
            row.reason,
        )

    # -- reading the log -----------------------------------------------------------------------

    def row(self, event_id: str) -> EventRow:
        seq = self.seq_of(event_id)
        row = self.rows.get(seq) if seq is not None else None
        if row is None:
            raise NotFound(f"event_id: there is no webhook event {event_id!r}")
        return row

    def row_json(self, row: EventRow, *, with_body: bool = False) -> dict[str, Any]:
        subscription = self.subscriptions.get(row.subscription_id)
        data: dict[str, Any] = {
            "eventId": self.event_id(row.seq),
            "event": row.event,
            "source": row.source,
            "contactId": row.contact_id,
            "webhookId": row.subscription_id,
            "url": subscription.url if subscription else None,
            "occurredAt": _when(row.occurred),
            "status": row.status,
            "attempts": row.attempts,
            "lastAttemptAt": _when(row.last_attempt),
            "nextAttemptAt": _when(row.next_attempt) if row.status != "delivered" else None,
            "httpStatus": row.http_status,
            "reason": row.reason,
        }
        if with_body:
            data["body"] = orjson.loads(_unpack(row.body)) if row.body is not None else None
        return data

    def select(
        self, status: EventStatus | None = None, *, newest_first: bool = False
    ) -> Iterator[EventRow]:
        rows = reversed(self.rows.values()) if newest_first else iter(self.rows.values())
        for row in rows:
            if status is None or row.status == status:
                yield row

    def body_of(self, event_id: str) -> bytes | None:
        """The raw body an event is (re)sent with, while it is kept (not yet delivered)."""
        row = self.row(event_id)
        return _unpack(row.body) if row.body is not None else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "webhooks": [s.json() for s in self.subscriptions.values()],
            "webhookEvents": {
                "counts": dict(self.counts),
                "events": [self.row_json(row) for row in self.rows.values()],
            },
        }

    def clear(self) -> None:
        on_due = self.on_due
        self._start()
        self.on_due = on_due


def parse_status(value: str | None) -> EventStatus | None:
    """The ``status`` filter of the event log (``None``: every event)."""
    if value is None or value == "" or value == "all":
        return None
    if value not in ("pending", "delivered", "failed"):
        raise BadRequest(f"status: {value!r} is not delivered, failed, pending or all")
    return value  # type: ignore[return-value]  # checked just above
