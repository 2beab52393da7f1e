"""One organization's Legacy RaiseDonors account: donors, gifts, recent activity, API clients
and the Virtuous CRM+ integration settings.

Every change to a donor goes through here, names its channel and actor, and lands in the
recent-activity feed with the fields it changed, unless it changed nothing (then there is no
item and ``modifiedDate`` stays). Not thread-safe: the simulator holds a lock around calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Literal

from raisedonors_simulator.activity import (
    Activity,
    ActivityFeed,
    ActivityType,
    Channel,
    activity_json,
)
from raisedonors_simulator.auth import Authorizer
from raisedonors_simulator.donors import (
    AddressFields,
    Donor,
    DonorBook,
    DonorFields,
    changes_between,
    donor_json,
    parse_address,
    parse_donor_fields,
    parse_phone,
    parse_phone_type,
)
from raisedonors_simulator.errors import FieldErrors, InvalidFields
from raisedonors_simulator.giving import FIRST_GIFT_ID, Gift, GiftForm, gift_json
from raisedonors_simulator.integration import VirtuousIntegration
from syncframe.clock import Clock

__all__ = [
    "PORTAL_CHANNELS",
    "GiftReceipt",
    "PortalChannel",
    "RaiseDonorsAccount",
    "default_actor",
]

#: The channels a person edits through (admin routes), and how the feed names them.
PortalChannel = Literal["admin_portal", "donor_portal"]
PORTAL_CHANNELS: Final[dict[str, Channel]] = {
    "admin_portal": "AdminPortal",
    "donor_portal": "DonorPortal",
}
#: Who an admin-portal change is by when the caller names nobody.
DEFAULT_ADMIN: Final = "Admin"

_SEED_KEYS: Final = ("api_clients", "donors", "integration")
_SEED_DONOR_EXTRAS: Final = ("id", "phoneType", "otherAddresses", "otherPhones")


def default_actor(channel: Channel, donor: Donor | None) -> str:
    """The actor of a change whose caller named none: an admin in the admin portal, the donor
    in the donor portal and on the giving form."""
    if channel in ("DonorPortal", "Gift") and donor is not None:
        return donor.name or donor.email
    return DEFAULT_ADMIN


@dataclass(frozen=True, slots=True)
class GiftReceipt:
    """What the giving form did: the gift, the donor after it, and whether it was new."""

    gift: Gift
    donor: Donor
    donor_created: bool
    activity: Activity


@dataclass(frozen=True, slots=True)
class _SeedDonor:
    fields: DonorFields
    donor_id: int | None
    phone_type: str
    other_addresses: tuple[AddressFields, ...]
    other_phones: tuple[tuple[str, str], ...]


class RaiseDonorsAccount:
    """The account's state and every action on it, timed by ``clock``."""

    def __init__(self, clock: Clock, *, seed: int = 0) -> None:
        self.clock = clock
        self.seed = seed
        self.donors = DonorBook()
        self.activity = ActivityFeed()
        self.gifts: dict[int, Gift] = {}
        self._gifts_by_donor: dict[int, list[int]] = {}
        self._next_gift = FIRST_GIFT_ID
        self.auth = Authorizer(seed)
        self.integration = VirtuousIntegration()

    def reset(self) -> None:
        """Back to a new, empty account (no donors, clients or settings)."""
        self.donors.clear()
        self.activity.clear()
        self.gifts.clear()
        self._gifts_by_donor.clear()
        self._next_gift = FIRST_GIFT_ID
        self.auth.reset(self.seed)
        self.integration = VirtuousIntegration()

    # -- changes ---------------------------------------------------------------------------------

    def _record(
        self,
        kind: ActivityType,
        channel: Channel,
        actor: str | None,
        before: Donor | None,
        after: Donor,
        gift: Gift | None = None,
    ) -> Activity | None:
        """The feed item of a change; none when nothing changed and no gift was made."""
        if before is after and gift is None:
            return None
        return self.activity.record(
            type=kind,
            channel=channel,
            actor=actor or default_actor(channel, after),
            occurred_at=self.clock.now(),
            changes=changes_between(before, after),
            donor=after,
            gift=gift,
        )

    def create_donor(
        self, fields: DonorFields, *, channel: Channel, actor: str | None, prefix: str = ""
    ) -> Donor:
        """A new donor (``email`` required and free), logged as ``DonorCreated``."""
        donor = self.donors.create(fields, self.clock.now(), prefix=prefix)
        self._record("DonorCreated", channel, actor, None, donor)
        return donor

    def edit_donor(
        self,
        donor_id: int,
        fields: DonorFields,
        *,
        channel: Channel,
        actor: str | None,
        prefix: str = "",
    ) -> Donor:
        """Change a donor's fields (see :meth:`DonorBook.edit`), logged as ``DonorUpdated``."""
        before = self.donors.get(donor_id)
        after = self.donors.edit(donor_id, fields, self.clock.now(), prefix=prefix)
        self._record("DonorUpdated", channel, actor, before, after)
        return after

    def add_address(
        self,
        donor_id: int,
        address: AddressFields,
        *,
        primary: bool,
        channel: Channel,
        actor: str | None,
    ) -> Donor:
        before = self.donors.get(donor_id)
        after = self.donors.add_address(donor_id, address, primary=primary, now=self.clock.now())
        self._record("DonorUpdated", channel, actor, before, after)
        return after

    def add_phone(
        self,
        donor_id: int,
        number: str,
        phone_type: str,
        *,
        primary: bool,
        channel: Channel,
        actor: str | None,
    ) -> Donor:
        before = self.donors.get(donor_id)
        after = self.donors.add_phone(
            donor_id, number, phone_type, primary=primary, now=self.clock.now()
        )
        self._record("DonorUpdated", channel, actor, before, after)
        return after

    def make_address_primary(
        self, donor_id: int, address_id: int, *, channel: Channel, actor: str | None
    ) -> Donor:
        before = self.donors.get(donor_id)
        after = self.donors.make_address_primary(donor_id, address_id, self.clock.now())
        self._record("DonorUpdated", channel, actor, before, after)
        return after

    def make_phone_primary(
        self, donor_id: int, phone_id: int, *, channel: Channel, actor: str | None
    ) -> Donor:
        before = self.donors.get(donor_id)
        after = self.donors.make_phone_primary(donor_id, phone_id, self.clock.now())
        self._record("DonorUpdated", channel, actor, before, after)
        return after

    def give(self, form: GiftForm, *, actor: str | None = None) -> GiftReceipt:
        """The giving form: a donor with the form's email (any case) gets the gift and the
        billing address (and phone, when given) overwrite theirs; otherwise a new donor is
        created from the form. One ``GiftCreated`` item says both."""
        now = self.clock.now()
        before = self.donors.by_email(form.email)
        if before is None:
            after = self.donors.create(form.donor_fields(), now)
        else:
            after = self.donors.edit(before.id, form.overwrites(), now)
        gift = Gift(
            id=self._next_gift,
            donor_id=after.id,
            amount=form.amount,
            date=now,
            project_code=form.project_code,
            billing_address=form.billing_address,
        )
        self._next_gift += 1
        self.gifts[gift.id] = gift
        self._gifts_by_donor.setdefault(after.id, []).append(gift.id)
        item = self._record("GiftCreated", "Gift", actor, before, after, gift)
        assert item is not None  # a gift is always logged
        return GiftReceipt(gift, after, before is None, item)

    # -- reading ---------------------------------------------------------------------------------

    def gifts_of(self, donor_id: int) -> list[Gift]:
        return [self.gifts[gift_id] for gift_id in self._gifts_by_donor.get(donor_id, [])]

    def overview(self, donor_id: int, recent: int = 20) -> dict[str, Any]:
        """The donor overview page: the donor id and Virtuous CRM+ contact id, the donor, their
        gifts and their latest activity (newest first)."""
        donor = self.donors.get(donor_id)
        return {
            "donorId": donor.id,
            "virtuousContactId": donor.virtuous_contact_id,
            "donor": donor_json(donor),
            "gifts": [gift_json(gift) for gift in self.gifts_of(donor_id)],
            "recentActivity": [
                activity_json(item) for item in self.activity.newest(recent, donor_id)
            ],
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything the account holds (secrets and tokens left out)."""
        now = self.clock.now()
        return {
            "donors": [donor_json(donor) for donor in self.donors],
            "gifts": [gift_json(gift) for gift in self.gifts.values()],
            "activity": [activity_json(item) for item in self.activity],
            "api_clients": [
                {"key": c.key, "name": c.name, "liveTokens": self.auth.live_tokens(c.key, now)}
                for c in self.auth.clients()
            ],
            "integration": self.integration.to_json(),
        }

    # -- seeding ---------------------------------------------------------------------------------

    def seed_records(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Load what already exists when the simulation starts: ``api_clients`` (``key``,
        ``secret``, ``name``), ``donors`` (edit fields plus ``id``, ``phoneType``,
        ``otherAddresses`` and ``otherPhones``) and ``integration`` settings (plus
        ``contactSyncEnabledAt`` for a sync switched on in the past). Seeded donors make no
        activity. Everything is checked before anything is added: a bad payload adds nothing."""
        errors = FieldErrors()
        for key in payload:
            if key not in _SEED_KEYS:
                errors.add(key, f"is not a seed key (keys: {', '.join(_SEED_KEYS)})")
        clients = _seed_list(payload, "api_clients", errors)
        rows = _seed_list(payload, "donors", errors)
        errors.raise_if_any()
        keys: set[str] = set()
        for index, client in enumerate(clients):
            if not isinstance(client, Mapping) or set(client) != {"key", "secret", "name"}:
                errors.add(f"api_clients[{index}]", 'must be {"key", "secret", "name"}')
                continue
            key = str(client["key"])
            problems = self.auth.client_problems(key, str(client["secret"]), str(client["name"]))
            if key in keys:
                problems.setdefault("key", []).append(f"{key!r} is in the list twice")
            keys.add(key)
            for name, messages in problems.items():
                for message in messages:
                    errors.add(f"api_clients[{index}].{name}", message)
        donors = [
            self._seed_donor(row, f"donors[{index}].", errors) for index, row in enumerate(rows)
        ]
        self._check_unique(donors, errors)
        settings = self._seed_integration(payload.get("integration"), errors)
        errors.raise_if_any()

        made: dict[str, Any] = {}
        for client in clients:
            added = self.auth.add_client(
                str(client["key"]), str(client["secret"]), str(client["name"])
            )
            made.setdefault("api_clients", []).append(added.key)
        now = self.clock.now()
        for seed in donors:
            assert seed is not None  # refused above otherwise
            donor = self.donors.create(
                seed.fields,
                now,
                donor_id=seed.donor_id,
                other_addresses=seed.other_addresses,
                other_phones=seed.other_phones,
                phone_type=seed.phone_type,
            )
            made.setdefault("donors", []).append(donor.id)
        if settings is not None:
            self.integration = settings
            made["integration"] = settings.to_json()
        return made

    def _seed_donor(self, row: object, prefix: str, errors: FieldErrors) -> _SeedDonor | None:
        if not isinstance(row, Mapping):
            errors.add(prefix.rstrip("."), "must be a donor object")
            return None
        local = FieldErrors(prefix)
        donor_id = row.get("id")
        if donor_id is not None and (
            isinstance(donor_id, bool) or not isinstance(donor_id, int) or donor_id < 1
        ):
            local.add("id", f"must be a positive whole number, not {donor_id!r}")
            donor_id = None
        phone_type = parse_phone_type(local, "phoneType", row.get("phoneType"))
        others = row.get("otherAddresses") or []
        addresses: list[AddressFields] = []
        if not isinstance(others, list):
            local.add("otherAddresses", "must be a list of addresses")
        else:
            for n, item in enumerate(others):
                address = parse_address(local, f"otherAddresses[{n}]", item)
                if address is not None:
                    addresses.append(address)
        phones: list[tuple[str, str]] = []
        other_phones = row.get("otherPhones") or []
        if not isinstance(other_phones, list):
            local.add("otherPhones", 'must be a list of {"number", "type"}')
        else:
            for n, item in enumerate(other_phones):
                where = f"otherPhones[{n}]"
                if not isinstance(item, Mapping) or not set(item) <= {"number", "type"}:
                    local.add(where, 'must be {"number", "type"}')
                    continue
                number = parse_phone(local, f"{where}.number", item.get("number"))
                kind = parse_phone_type(local, f"{where}.type", item.get("type"))
                if number is not None:
                    phones.append((number, kind))
        fields: DonorFields | None = None
        try:
            fields = parse_donor_fields(
                {k: v for k, v in row.items() if k not in _SEED_DONOR_EXTRAS}, prefix=prefix
            )
        except InvalidFields as exc:
            for name, messages in exc.errors.items():
                for message in messages:
                    errors.add(name, message)
        if fields is not None and fields.email is None:
            local.add("email", "is required: every donor has an email")
        if fields is not None and not (
            fields.first_name or fields.last_name or fields.organization_name
        ):
            local.add("lastName", "a donor needs a first or last name, or an organization name")
        for name, messages in local.errors.items():
            for message in messages:
                errors.add(name, message)
        if local or fields is None:
            return None
        return _SeedDonor(fields, donor_id, phone_type, tuple(addresses), tuple(phones))

    def _check_unique(self, donors: Sequence[_SeedDonor | None], errors: FieldErrors) -> None:
        emails: dict[str, int] = {}
        ids: dict[int, int] = {}
        for index, seed in enumerate(donors):
            if seed is None:
                continue
            assert seed.fields.email is not None
            email = seed.fields.email.lower()
            owner = self.donors.by_email(email)
            if owner is not None:
                errors.add(
                    f"donors[{index}].email",
                    f"{seed.fields.email} already belongs to donor {owner.id}",
                )
            elif email in emails:
                errors.add(
                    f"donors[{index}].email",
                    f"{seed.fields.email} is also the email of donors[{emails[email]}]",
                )
            emails.setdefault(email, index)
            if seed.donor_id is not None:
                if seed.donor_id in ids or seed.donor_id in self.donors:
                    errors.add(f"donors[{index}].id", f"donor {seed.donor_id} already exists")
                ids.setdefault(seed.donor_id, index)

    def _seed_integration(
        self, settings: object, errors: FieldErrors
    ) -> VirtuousIntegration | None:
        """The integration settings a seed asks for, checked on a copy (``None``: unchanged)."""
        if settings is None:
            return None
        if not isinstance(settings, Mapping):
            errors.add("integration", "must be an object of settings")
            return None
        enabled_at: datetime | None = None
        raw = settings.get("contactSyncEnabledAt")
        if raw is not None:
            try:
                enabled_at = datetime.fromisoformat(str(raw))
            except ValueError:
                enabled_at = None
            if enabled_at is None or enabled_at.tzinfo is None:
                errors.add(
                    "integration.contactSyncEnabledAt",
                    f"must be an ISO time with a timezone, not {raw!r}",
                )
                return None
        candidate = replace(self.integration)
        try:
            candidate.update(settings, self.clock.now(), enabled_at=enabled_at)
        except InvalidFields as exc:
            for name, messages in exc.errors.items():
                for message in messages:
                    errors.add(f"integration.{name}", message)
            return None
        return candidate


def _seed_list(payload: Mapping[str, Any], key: str, errors: FieldErrors) -> list[Any]:
    value = payload.get(key, [])
    if not isinstance(value, list):
        errors.add(key, "must be a list")
        return []
    return value
