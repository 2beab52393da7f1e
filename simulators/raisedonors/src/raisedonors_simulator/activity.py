"""Recent activity: every donor change and gift, in order, as the sync reads it.

Each item says which donor, what happened (``DonorCreated``, ``DonorUpdated``, ``GiftCreated``),
through which channel (the admin portal, the donor portal, the API, the giving form), who did
it, when, which fields changed from what to what, and the donor as it was right after (a
reference to that immutable version, not a copy). Ids are 1, 2, 3... with no gaps, so a page
after ``SinceId`` is a slice: O(page), however long the feed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from raisedonors_simulator.donors import Donor, FieldChange, changes_json, donor_json, iso
from raisedonors_simulator.giving import Gift, gift_json

__all__ = [
    "CHANNELS",
    "Activity",
    "ActivityFeed",
    "ActivityType",
    "Channel",
    "activity_json",
]

#: Where a change came from, as the feed names it.
Channel = Literal["AdminPortal", "DonorPortal", "Api", "Gift"]
CHANNELS: Final[tuple[Channel, ...]] = ("AdminPortal", "DonorPortal", "Api", "Gift")

ActivityType = Literal["DonorCreated", "DonorUpdated", "GiftCreated"]


@dataclass(frozen=True, slots=True)
class Activity:
    """One item of the feed."""

    id: int
    donor_id: int
    type: ActivityType
    channel: Channel
    actor: str
    occurred_at: datetime
    changes: tuple[FieldChange, ...]
    donor: Donor
    gift: Gift | None = None


def activity_json(item: Activity) -> dict[str, Any]:
    """The item as ``GET /api/Activity/list`` writes it (``gift`` only on a gift)."""
    body: dict[str, Any] = {
        "id": item.id,
        "donorId": item.donor_id,
        "type": item.type,
        "channel": item.channel,
        "actor": item.actor,
        "occurredAt": iso(item.occurred_at),
        "changes": changes_json(item.changes),
        "donor": donor_json(item.donor),
    }
    if item.gift is not None:
        body["gift"] = gift_json(item.gift)
    return body


@dataclass
class ActivityFeed:
    """The feed, oldest first, with each donor's items indexed for the donor overview."""

    _items: list[Activity] = field(default_factory=list)
    _by_donor: dict[int, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Activity]:
        return iter(self._items)

    @property
    def last_id(self) -> int:
        return len(self._items)

    def record(
        self,
        *,
        type: ActivityType,
        channel: Channel,
        actor: str,
        occurred_at: datetime,
        changes: tuple[FieldChange, ...],
        donor: Donor,
        gift: Gift | None = None,
    ) -> Activity:
        item = Activity(
            id=len(self._items) + 1,
            donor_id=donor.id,
            type=type,
            channel=channel,
            actor=actor,
            occurred_at=occurred_at,
            changes=changes,
            donor=donor,
            gift=gift,
        )
        self._items.append(item)
        self._by_donor.setdefault(donor.id, []).append(item.id)
        return item

    def since(
        self, since_id: int, take: int, donor_id: int | None = None
    ) -> tuple[list[Activity], int]:
        """Up to ``take`` items with an id above ``since_id``, oldest first (only ``donor_id``'s
        when given), and how many items there are after ``since_id`` in all."""
        if donor_id is None:
            start = min(max(since_id, 0), len(self._items))
            return self._items[start : start + take], len(self._items) - start
        ids = self._by_donor.get(donor_id, [])
        start = bisect_right(ids, since_id)
        return [self._items[i - 1] for i in ids[start : start + take]], len(ids) - start

    def newest(self, limit: int, donor_id: int | None = None) -> list[Activity]:
        """The ``limit`` latest items, newest first (the dashboard's recent activity)."""
        if donor_id is None:
            return self._items[-limit:][::-1] if limit else []
        ids = self._by_donor.get(donor_id, [])
        return [self._items[i - 1] for i in ids[-limit:][::-1]] if limit else []

    def clear(self) -> None:
        self._items.clear()
        self._by_donor.clear()
