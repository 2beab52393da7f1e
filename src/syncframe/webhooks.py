"""Push-driven sources: flows fed by webhooks that ``syncframe serve`` receives.

A system that pushes its changes (Virtuous webhooks, Mailchimp webhooks) reaches syncframe at
``POST /webhooks/<flow>`` of the serve app (:mod:`syncframe.serve`). The flow's source subclasses
:class:`WebhookSource` and says two things: how to check and split a delivery into events
(:meth:`WebhookSource.accept`), and which changes an event carries
(:meth:`WebhookSource.changes_of`). Everything else is the core's:

- every accepted event is stored in the state store's **inbox** before the delivery is answered,
  once per event id, so a redelivery (the sender's retry, or a person pressing "retry") is
  recognised and never applied twice;
- the flow then runs at once and reads the inbox from its cursor (the last inbox ``seq`` it
  read), like any other source: the cursor moves only when the sink acknowledged the batch, and
  the engine's exactly-once machinery applies unchanged;
- the delivery is answered with what became of its events (see :mod:`syncframe.serve`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncframe.components import BatchResult, JSONValue, OptionsT, Outcome, Source, SourceBatch
from syncframe.records import Change
from syncframe.state.base import InboxEvent

__all__ = [
    "InboxEvent",
    "WebhookDelivery",
    "WebhookRefused",
    "WebhookSource",
    "event_of",
    "event_outcomes",
]


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One HTTP request to a flow's webhook endpoint, as received."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-case
    body: bytes


class WebhookRefused(Exception):
    """Raised by :meth:`WebhookSource.accept` to refuse a delivery: nothing is stored and the
    sender gets ``status`` with ``message`` (401 for a bad signature, 400 for a body that cannot
    be read). The message must not contain secrets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def event_of(change_id: str) -> str:
    """The inbox event id a change came from (``"E#2"`` -> ``"E"``)."""
    return change_id.split("#", 1)[0]


# When an event's changes ended differently, the worst outcome speaks for the event.
_SEVERITY = {
    outcome: rank
    for rank, outcome in enumerate(
        [
            Outcome.UNCHANGED,
            Outcome.SKIPPED,
            Outcome.FILTERED,
            Outcome.BLOCKED,
            Outcome.DELETED,
            Outcome.UPDATED,
            Outcome.CREATED,
            Outcome.FAILED,
            Outcome.REJECTED,
        ]
    )
}


def event_outcomes(
    changes: Sequence[Change], result: BatchResult
) -> dict[str, tuple[str, str | None]]:
    """What became of each inbox event a batch's changes came from: ``{event_id: (outcome,
    reason)}``, the most severe outcome of its changes."""
    settled: dict[str, tuple[Outcome, str | None]] = {}
    for i, (change, outcome) in enumerate(zip(changes, result.outcomes, strict=True)):
        event_id = event_of(change.change_id)
        earlier = settled.get(event_id)
        if earlier is None or _SEVERITY[outcome] > _SEVERITY[earlier[0]]:
            settled[event_id] = (outcome, result.reasons.get(i))
    return {event_id: (o.value, reason) for event_id, (o, reason) in settled.items()}


class WebhookSource(Source[OptionsT]):
    """A source fed by webhook deliveries to ``syncframe serve`` instead of by polling.

    Subclasses implement :meth:`accept` and :meth:`changes_of`; :meth:`read` (provided) reads the
    flow's inbox after the cursor, ``batch_size`` events at a time. A flow with such a source may
    also have a ``schedule``: each scheduled run picks up events a failed run left in the inbox.
    """

    @abstractmethod
    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, JSONValue]]:
        """Check a delivery and split it into ``(event_id, payload)`` pairs to store.

        Called by the serve app for every request to the flow's endpoint, before anything is
        stored. Verify the signature or token with the connection's secret settings and raise
        :class:`WebhookRefused` (401) when it does not hold, or (400) when the body cannot be
        read; whatever is returned must be readable by :meth:`changes_of` later. ``event_id`` is
        the sender's id of the event (stable across redeliveries). Return ``[]`` for a delivery
        the flow has no use for (an event type it ignores): it is answered 200.
        """

    @abstractmethod
    def changes_of(self, event: InboxEvent) -> list[Change]:
        """The changes one stored event carries, in order (``[]``: none; the event is settled as
        skipped). Give each change ``change_id=event.event_id``, or ``f"{event_id}#{n}"`` when an
        event carries several, so the serve app can tell the sender what became of it."""

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        """The inbox of this flow after ``cursor`` (an inbox ``seq``), ``batch_size`` events a
        batch; the batch's cursor is its last event's ``seq``."""
        after = _seq(cursor)
        while True:
            events = self.context.state.inbox_read(self.context.flow, after, batch_size)
            if not events:
                return
            changes: list[Change] = []
            for event in events:
                changes.extend(self.changes_of(event))
            after = events[-1].seq
            yield SourceBatch(changes, after)


def _seq(cursor: Any) -> int:
    if cursor is None:
        return 0
    if isinstance(cursor, int) and not isinstance(cursor, bool):
        return cursor
    raise ValueError(f"a webhook source's cursor is an inbox sequence number, not {cursor!r}")
