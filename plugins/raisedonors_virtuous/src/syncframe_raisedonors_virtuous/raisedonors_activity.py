"""Donor edits and gifts in Legacy RaiseDonors, read from its recent activity (source
``raisedonors_activity``), and the rule of which edit channels are sent (filter
``raisedonors_edit_channels``).

The source reads ``GET /api/Activity/list`` from its cursor, the id of the last activity item
handed on, paging with ``SinceId``. Before reading it reads the integration settings (System
Settings > Integrations > Virtuous CRM+ Sync):

* while "Sync Legacy RaiseDonors Contacts to Virtuous Donors" (``syncContacts``) is off, it
  reads nothing and logs why, and the cursor stays where it was;
* only activity from the moment the sync was switched on (``contactSyncEnabledAt``) is sent:
  there is no backfill, also when the cursor is older (the sync was switched off and on again,
  or this is the first run); older items are passed over and the cursor moves past them.

Each ``DonorCreated``, ``DonorUpdated`` and ``GiftCreated`` item becomes one change carrying
the donor as it was right after (``raisedonors_models.DONOR_FIELDS``; a gift also
``GIFT_FIELDS``; a ``DonorUpdated`` also ``changed_fields``, the fields the edit changed, which
are all the Virtuous import sends, so a stale copy of the rest never overwrites what changed on
the Virtuous side meanwhile), with
``Origin(system="raisedonors", channel=...)`` naming how the edit was made: ``admin_portal``,
``donor_portal``, ``api`` or ``gift``. A ``DonorUpdated`` whose changes
touch no synced field (a second, non-primary address, say) is not a change of anything the sync
carries and is passed over. Which channels flow is not the source's business but the filter's,
so that a run's history shows each API edit as FILTERED with the reason.

The cursor of each batch is the last activity id of the batch: the engine stores it only once
the sink has acknowledged the batch, so a crash means the batch is read again, never skipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncframe.components import (
    ComponentContext,
    Filter,
    JSONValue,
    NoOptions,
    PermanentError,
    Source,
    SourceBatch,
)
from syncframe.records import Change, Operation, Origin
from syncframe_raisedonors_virtuous.raisedonors_client import RaiseDonorsClient, client_for
from syncframe_raisedonors_virtuous.raisedonors_models import (
    ADDRESS_FIELDS,
    DONOR_FIELDS,
    Activity,
    IntegrationSettings,
    donor_fields,
    gift_fields,
)

__all__ = [
    "CHANNELS",
    "DONOR",
    "GIFT",
    "PORTAL_CHANNELS",
    "SYSTEM",
    "ActivitySource",
    "EditChannelsFilter",
    "EditChannelsOptions",
    "changed_fields",
    "channel_of",
]

log = logging.getLogger(__name__)

#: The system type (and ``Origin.system`` of every change the source emits).
SYSTEM: Final = "raisedonors"
#: The entities the source emits: donor edits, and gifts (which carry their donor's data).
DONOR: Final = "donor"
GIFT: Final = "gift"

#: The feed's channel -> ``Origin.channel``.
CHANNELS: Final[dict[str, str]] = {
    "AdminPortal": "admin_portal",
    "DonorPortal": "donor_portal",
    "Api": "api",
    "Gift": "gift",
}
#: Activity type -> (entity, operation) of its change.
_TYPES: Final[dict[str, tuple[str, Operation]]] = {
    "DonorCreated": (DONOR, Operation.INSERT),
    "DonorUpdated": (DONOR, Operation.UPDATE),
    "GiftCreated": (GIFT, Operation.INSERT),
}
#: Names (in an activity's ``changes``, lower-cased, first path segment) of what the sync
#: carries: names, email, the primary phone and the primary address.
_SYNCED_CHANGES: Final = frozenset(
    {
        "name",
        "firstname",
        "lastname",
        "organizationname",
        "isorganization",
        "email",
        "phone",
        "primaryphone",
        "primaryaddress",
        "address1",
        "address2",
        "city",
        "state",
        "postalcode",
        "country",
    }
)
_SEGMENT = re.compile(r"[.\[]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def channel_of(feed_channel: str) -> str:
    """The ``Origin.channel`` of a feed channel (``AdminPortal`` -> ``admin_portal``)."""
    known = CHANNELS.get(feed_channel)
    return known if known is not None else _CAMEL.sub("_", feed_channel).lower()


def _touches_synced_field(changes: dict[str, Any]) -> bool:
    return any(_SEGMENT.split(name, 1)[0].lower() in _SYNCED_CHANGES for name in changes)


#: The change fields each changed donor property of the feed stands for.
_FIELDS_OF_CHANGE: Final[dict[str, tuple[str, ...]]] = {
    "firstname": ("first_name",),
    "lastname": ("last_name",),
    "organizationname": ("organization_name",),
    "isorganization": ("organization_name", "first_name", "last_name"),
    "email": ("email",),
    "phone": ("phone",),
    "primaryphone": ("phone",),
    **{
        name: ADDRESS_FIELDS
        for name in ("primaryaddress", "address1", "address2", "city", "state", "postalcode")
    },
    "country": ADDRESS_FIELDS,
}


def changed_fields(changes: dict[str, Any]) -> list[str]:
    """The change fields an edit changed, in :data:`DONOR_FIELDS` order.

    The change carries the whole donor (what the loop guard remembers as written, so a later
    edit of another field in Virtuous is not mistaken for an echo) and this list, from which
    the Virtuous import sends only what the edit changed: the other fields may have changed in
    Virtuous since (an NCOA move before the daily batch), and a stale copy must not overwrite
    them.
    """
    wanted: set[str] = set()
    for name in changes:
        wanted.update(_FIELDS_OF_CHANGE.get(_SEGMENT.split(name, 1)[0].lower(), ()))
    return [name for name in DONOR_FIELDS if name in wanted]


def _cursor_of(cursor: JSONValue | None) -> int:
    """The last activity id handed on (0: none yet)."""
    if cursor is None:
        return 0
    if isinstance(cursor, int) and not isinstance(cursor, bool) and cursor >= 0:
        return cursor
    raise PermanentError(
        f"the flow's cursor {cursor!r} is not an activity id of Legacy RaiseDonors (a whole "
        "number); reset the flow's state to read from the moment contact sync was switched on"
    )


class ActivitySource(Source[NoOptions]):
    """Donor edits and gifts from Legacy RaiseDonors' recent activity, oldest first; nothing
    before contact sync was switched on, nothing while it is off."""

    Options: ClassVar[type[BaseModel]] = NoOptions
    system: ClassVar[str | None] = SYSTEM
    entity: ClassVar[str] = DONOR

    def __init__(self, context: ComponentContext, options: NoOptions) -> None:
        super().__init__(context, options)
        self.client: RaiseDonorsClient = client_for(context)

    async def check(self) -> None:
        """Sign in and read the integration settings (what every run reads first)."""
        await self.client.integration_settings()

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        after = _cursor_of(cursor)
        name = self.context.connection_name
        settings = await self.client.integration_settings()
        enabled_at = self._enabled_at(settings)
        if enabled_at is None:
            return
        if cursor is None:
            log.warning(
                "%s: contact sync was switched on at %s; only edits and gifts from then on are "
                "sent to Virtuous CRM+ (there is no backfill)",
                name,
                enabled_at.isoformat(),
            )
        take = min(batch_size, self.client.page_size)
        passed_over = 0
        while True:
            page = await self.client.activity(after, take)
            items = [item for item in page.items if item.id > after]
            if not items:
                break
            changes: list[Change] = []
            for item in items:
                if item.occurred_at < enabled_at:
                    passed_over += 1
                    continue
                change = await self._change(item)
                if change is not None:
                    changes.append(change)
            after = max(item.id for item in items)
            yield SourceBatch(changes, after)
            if len(page.items) < take:
                break
        if passed_over:
            log.info(
                "%s: passed over %d activity items from before contact sync was switched on "
                "(%s): no backfill",
                name,
                passed_over,
                enabled_at.isoformat(),
            )

    def _enabled_at(self, settings: IntegrationSettings) -> datetime | None:
        """When contact sync was switched on, or ``None`` (logged) while it is off."""
        if settings.sync_contacts and settings.contact_sync_enabled_at is not None:
            return settings.contact_sync_enabled_at
        log.warning(
            "%s: contact sync is off in Legacy RaiseDonors (System Settings > Integrations > "
            "Virtuous CRM+ Sync: 'Sync Legacy RaiseDonors Contacts to Virtuous Donors' is not "
            "checked): nothing is read, and edits made while it is off are never sent",
            self.context.connection_name,
        )
        return None

    async def _change(self, item: Activity) -> Change | None:
        """The change one activity item stands for, or ``None`` for one the sync ignores."""
        kind = _TYPES.get(item.type)
        if kind is None:
            log.debug("activity %d of type %s is not one the sync carries", item.id, item.type)
            return None
        entity, operation = kind
        if item.type == "DonorUpdated" and item.changes and not _touches_synced_field(item.changes):
            log.debug(
                "activity %d: donor %d changed only %s, which the sync does not carry",
                item.id,
                item.donor_id,
                ", ".join(sorted(item.changes)),
            )
            return None
        donor = item.donor
        if donor is None:
            # The feed carries the donor as it was right after; if it ever does not, the donor
            # as it is now is the best there is.
            donor = await self.client.donor(item.donor_id)
            if donor is None:
                log.warning("activity %d: donor %d no longer exists", item.id, item.donor_id)
                return None
        fields = donor_fields(donor)
        if item.type == "DonorUpdated" and item.changes:
            fields["changed_fields"] = changed_fields(item.changes)
        keys: dict[str, Any] = {"donor_id": str(donor.id)}
        if entity == GIFT:
            if item.gift is None:
                log.warning("activity %d: a GiftCreated without its gift; passed over", item.id)
                return None
            fields.update(gift_fields(item.gift))
            keys = {"gift_id": str(item.gift.id), "donor_id": str(donor.id)}
        return Change(
            # The connection's name, so the ledger and identity links of the flow that writes
            # donors through this connection match the changes read back from it.
            system=self.context.connection_name,
            entity=entity,
            keys=keys,
            operation=operation,
            fields=fields,
            occurred_at=item.occurred_at,
            origin=Origin(SYSTEM, channel=channel_of(item.channel)),
            change_id=f"raisedonors-activity-{item.id}",
        )


Channel = Literal["admin_portal", "donor_portal", "api", "gift"]
#: The channels whose donor edits are sent by default: the seed's "admin portal, donor portal".
PORTAL_CHANNELS: Final[tuple[Channel, ...]] = ("admin_portal", "donor_portal")

_CHANNEL_WORDS: Final[dict[str, str]] = {
    "admin_portal": "in the admin portal",
    "donor_portal": "in the donor portal",
    "api": "through the Legacy RaiseDonors API",
    "gift": "by a gift on the giving form (the gift carries the contact data itself)",
}


class EditChannelsOptions(BaseModel):
    """Options of the ``raisedonors_edit_channels`` filter."""

    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] = Field(
        default_factory=lambda: list(PORTAL_CHANNELS),
        min_length=1,
        description="The edit channels whose donor changes flow: admin_portal, donor_portal, "
        "api, gift. Gifts always flow.",
    )


class EditChannelsFilter(Filter[EditChannelsOptions]):
    """Only donor edits made in the admin portal or the donor portal are sent; API edits (and
    the sync's own writes, which are API edits) are FILTERED with the reason; gifts always
    pass."""

    Options: ClassVar[type[BaseModel]] = EditChannelsOptions

    def reason_to_drop(self, change: Change) -> str | None:
        if change.entity == GIFT or "gift_id" in change.fields:
            return None
        channel = change.origin.channel if change.origin is not None else None
        if channel in self.options.channels:
            return None
        how = (
            _CHANNEL_WORDS.get(channel, f"through channel {channel!r}")
            if channel is not None
            else "through an unknown channel"
        )
        donor = change.fields.get("donor_id") or change.key
        verb = "created" if change.operation is Operation.INSERT else "edited"
        allowed = " or ".join(_CHANNEL_WORDS.get(c, c) for c in self.options.channels)
        return f"donor {donor} was {verb} {how}; only edits {allowed} are sent"
