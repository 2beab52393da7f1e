"""Donors: immutable donor versions, the field rules of an edit, and the donor book.

A :class:`Donor` is never changed in place: an edit makes a new version (sharing the addresses
and phones it did not touch), so the recent-activity feed can keep "the donor as it was right
after" each change as a reference instead of a copy. The :class:`DonorBook` holds the current
version of every donor, indexed by id and by lower-cased email (emails are unique whatever
their case), so a lookup or an edit costs the same with ten donors or a million.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

from raisedonors_simulator.errors import (
    DonorNotFound,
    EmailTaken,
    FieldErrors,
    InvalidFields,
    RecordNotFound,
)

__all__ = [
    "ADDRESS_FIELDS",
    "DEFAULT_PHONE_TYPE",
    "EDITABLE_FIELDS",
    "FIRST_DONOR_ID",
    "PHONE_TYPES",
    "Address",
    "AddressFields",
    "ChangeValue",
    "Donor",
    "DonorBook",
    "DonorFields",
    "FieldChange",
    "PhoneNumber",
    "address_json",
    "changes_between",
    "changes_json",
    "donor_json",
    "iso",
    "parse_address",
    "parse_donor_fields",
    "parse_phone",
    "parse_phone_type",
]

#: Donor ids are given out from here (their own range, so a donor id is never mistaken for an
#: activity, gift or address id in a test).
FIRST_DONOR_ID: Final = 100_001

#: What a phone number can be; a phone added by setting ``phone`` is a home phone.
PHONE_TYPES: Final = ("Home", "Mobile", "Work", "Other")
DEFAULT_PHONE_TYPE: Final = "Home"

#: An address as the API writes it (``primaryAddress`` and ``donorAddresses[]``, plus id and
#: isPrimary), with the longest text each field takes.
ADDRESS_FIELDS: Final[dict[str, int]] = {
    "address1": 100,
    "address2": 100,
    "city": 50,
    "state": 50,
    "postalCode": 20,
    "country": 50,
}

#: What an edit (PATCH, POST, the admin and donor portals) may set, with the longest text each
#: takes; ``primaryAddress`` is an object of :data:`ADDRESS_FIELDS`.
EDITABLE_FIELDS: Final[dict[str, int]] = {
    "firstName": 50,
    "lastName": 50,
    "organizationName": 100,
    "email": 254,
    "phone": 30,
    "primaryAddress": 0,
    "virtuousContactId": 50,
}

#: Donor fields an edit cannot set: the API refuses them by name rather than ignoring them.
READ_ONLY_FIELDS: Final = frozenset(
    {
        "id",
        "name",
        "isOrganization",
        "donorAddresses",
        "donorPhoneNumbers",
        "donorEmailAddresses",
        "createdDate",
        "modifiedDate",
        "isArchived",
    }
)

_EMAIL: Final = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+")
_PHONE: Final = re.compile(r"\+?[\d\s().-]+(?:\s*(?:x|ext\.?)\s*\d{1,6})?", re.IGNORECASE)
_EXTENSION: Final = re.compile(r"(?:x|ext\.?)\s*\d+$", re.IGNORECASE)


def iso(when: datetime) -> str:
    """A time as the API writes it: UTC with ``Z``."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressFields:
    """An address as a client sends it (no id): ``None`` for a blank field."""

    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def as_address(self, address_id: int) -> Address:
        return Address(
            address_id,
            self.address1,
            self.address2,
            self.city,
            self.state,
            self.postal_code,
            self.country,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "state": self.state,
            "postalCode": self.postal_code,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True)
class Address:
    """One of a donor's addresses."""

    id: int
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None

    def fields(self) -> AddressFields:
        return AddressFields(
            self.address1, self.address2, self.city, self.state, self.postal_code, self.country
        )


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """One of a donor's phone numbers."""

    id: int
    number: str
    type: str


@dataclass(frozen=True, slots=True)
class Donor:
    """One version of a donor. ``addresses`` and ``phones`` are in the order they were added;
    the primary one of each is named by id (``None`` when the donor has none)."""

    id: int
    first_name: str | None
    last_name: str | None
    organization_name: str | None
    email: str
    email_id: int
    addresses: tuple[Address, ...]
    primary_address_id: int | None
    phones: tuple[PhoneNumber, ...]
    primary_phone_id: int | None
    virtuous_contact_id: str | None
    created: datetime
    modified: datetime

    @property
    def is_organization(self) -> bool:
        """An organization (or foundation) donor: one with an organization name."""
        return self.organization_name is not None

    @property
    def name(self) -> str:
        """The organization's name, or the person's first and last name."""
        if self.organization_name is not None:
            return self.organization_name
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def primary_address(self) -> Address | None:
        return next((a for a in self.addresses if a.id == self.primary_address_id), None)

    @property
    def primary_phone(self) -> PhoneNumber | None:
        return next((p for p in self.phones if p.id == self.primary_phone_id), None)

    @property
    def phone(self) -> str | None:
        """The primary phone's number."""
        primary = self.primary_phone
        return primary.number if primary is not None else None

    def other_addresses(self) -> tuple[Address, ...]:
        return tuple(a for a in self.addresses if a.id != self.primary_address_id)

    def other_phones(self) -> tuple[PhoneNumber, ...]:
        return tuple(p for p in self.phones if p.id != self.primary_phone_id)


# ---- JSON ------------------------------------------------------------------------------------


def address_json(address: Address, primary: bool) -> dict[str, Any]:
    return {
        "id": address.id,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "state": address.state,
        "postalCode": address.postal_code,
        "country": address.country,
        "isPrimary": primary,
    }


def _addresses_json(donor: Donor) -> list[dict[str, Any]]:
    return [address_json(a, a.id == donor.primary_address_id) for a in donor.addresses]


def _phones_json(donor: Donor) -> list[dict[str, Any]]:
    return [
        {
            "id": p.id,
            "number": p.number,
            "type": p.type,
            "isPrimary": p.id == donor.primary_phone_id,
        }
        for p in donor.phones
    ]


def donor_json(donor: Donor) -> dict[str, Any]:
    """The donor as ``GET /api/Donor/{id}`` answers it."""
    primary = donor.primary_address
    return {
        "id": donor.id,
        "name": donor.name,
        "firstName": donor.first_name,
        "lastName": donor.last_name,
        "isOrganization": donor.is_organization,
        "organizationName": donor.organization_name,
        "email": donor.email,
        "phone": donor.phone,
        "primaryAddress": address_json(primary, True) if primary is not None else None,
        "donorAddresses": _addresses_json(donor),
        "donorPhoneNumbers": _phones_json(donor),
        "donorEmailAddresses": [{"id": donor.email_id, "email": donor.email, "isPrimary": True}],
        "virtuousContactId": donor.virtuous_contact_id,
        "createdDate": iso(donor.created),
        "modifiedDate": iso(donor.modified),
        "isArchived": False,
    }


# ---- what changed ----------------------------------------------------------------------------

#: A changed field's value: text, a flag, the primary address, or a rendered list (addresses or
#: phones; rare admin actions, so rendered when they happen).
ChangeValue = str | bool | Address | list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a donor before and after a change (``field`` is the API's field name)."""

    field: str
    old: ChangeValue
    new: ChangeValue


def _change_json(value: ChangeValue) -> Any:
    if isinstance(value, Address):
        return address_json(value, True)
    return value


def changes_json(changes: Iterable[FieldChange]) -> dict[str, Any]:
    """``{field: {"old", "new"}}`` as the activity feed writes it."""
    return {c.field: {"old": _change_json(c.old), "new": _change_json(c.new)} for c in changes}


def changes_between(before: Donor | None, after: Donor) -> tuple[FieldChange, ...]:
    """The fields that differ between two versions of a donor (``before=None``: a new donor,
    every field it has). The primary address and phone are compared whole; the lists of
    addresses and phones only show up when a non-primary one was added, removed or swapped."""
    changes: list[FieldChange] = []

    def compare(name: str, old: ChangeValue, new: ChangeValue) -> None:
        if old != new:
            changes.append(FieldChange(name, old, new))

    empty: tuple[object, ...] = ()
    compare("firstName", before.first_name if before else None, after.first_name)
    compare("lastName", before.last_name if before else None, after.last_name)
    compare(
        "organizationName", before.organization_name if before else None, after.organization_name
    )
    compare("isOrganization", before.is_organization if before else False, after.is_organization)
    compare("email", before.email if before else None, after.email)
    compare("phone", before.phone if before else None, after.phone)
    compare("primaryAddress", before.primary_address if before else None, after.primary_address)
    compare(
        "virtuousContactId",
        before.virtuous_contact_id if before else None,
        after.virtuous_contact_id,
    )
    if (before.other_addresses() if before else empty) != after.other_addresses():
        changes.append(
            FieldChange(
                "donorAddresses", _addresses_json(before) if before else [], _addresses_json(after)
            )
        )
    if (before.other_phones() if before else empty) != after.other_phones():
        changes.append(
            FieldChange(
                "donorPhoneNumbers", _phones_json(before) if before else [], _phones_json(after)
            )
        )
    return tuple(changes)


# ---- input -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DonorFields:
    """The validated fields of an edit; ``sent`` names the ones the client gave (a field sent
    as ``null`` or ``""`` clears it; a field not sent is left alone)."""

    sent: frozenset[str] = frozenset()
    first_name: str | None = None
    last_name: str | None = None
    organization_name: str | None = None
    email: str | None = None
    phone: str | None = None
    primary_address: AddressFields | None = None
    virtuous_contact_id: str | None = None


def _text(
    errors: FieldErrors, name: str, value: object, limit: int, *, numbers: bool = False
) -> str | None:
    """A text field: trimmed, ``""`` and ``null`` are ``None``; too long or not text is an
    error (``numbers``: a whole number is taken as its digits)."""
    if value is None:
        return None
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.add(name, f"must be text or null, not {_json_type(value)}")
        return None
    text = value.strip()
    if len(text) > limit:
        errors.add(name, f"is longer than {limit} characters ({len(text)})")
        return None
    return text or None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _email(errors: FieldErrors, name: str, value: object) -> str | None:
    text = _text(errors, name, value, EDITABLE_FIELDS["email"])
    if text is not None and not _EMAIL.fullmatch(text):
        errors.add(name, f"{text!r} is not a valid email address")
        return None
    return text


def parse_phone(errors: FieldErrors, name: str, value: object) -> str | None:
    """A phone number: digits with the usual punctuation (``(512) 555-0100``, ``+1 512...``,
    an ``x12`` extension), 7 to 15 digits before the extension."""
    text = _text(errors, name, value, EDITABLE_FIELDS["phone"])
    if text is None:
        return None
    digits = sum(c.isdigit() for c in _EXTENSION.sub("", text))
    if not _PHONE.fullmatch(text) or not 7 <= digits <= 15:
        errors.add(name, f"{text!r} is not a phone number (7 to 15 digits, e.g. (512) 555-0100)")
        return None
    return text


def parse_phone_type(errors: FieldErrors, name: str, value: object) -> str:
    """One of :data:`PHONE_TYPES` (any case); :data:`DEFAULT_PHONE_TYPE` when not given."""
    if value is None:
        return DEFAULT_PHONE_TYPE
    if isinstance(value, str):
        for known in PHONE_TYPES:
            if known.lower() == value.strip().lower():
                return known
    errors.add(name, f"must be one of {', '.join(PHONE_TYPES)}, not {value!r}")
    return DEFAULT_PHONE_TYPE


def parse_address(errors: FieldErrors, name: str, value: object) -> AddressFields | None:
    """An address object of :data:`ADDRESS_FIELDS`; ``id`` and ``isPrimary`` (as read back from
    the API) are accepted and ignored. A field not sent is blank: the address is replaced whole."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors.add(name, f"must be an address object or null, not {_json_type(value)}")
        return None
    before = len(errors.errors)
    for key in value:
        if key not in ADDRESS_FIELDS and key not in ("id", "isPrimary"):
            errors.add(
                f"{name}.{key}",
                f"is not an address field (address fields: {', '.join(ADDRESS_FIELDS)})",
            )
    parts = {
        key: _text(errors, f"{name}.{key}", value.get(key), ADDRESS_FIELDS[key])
        for key in ADDRESS_FIELDS
    }
    if len(errors.errors) > before:
        return None
    address = AddressFields(
        parts["address1"],
        parts["address2"],
        parts["city"],
        parts["state"],
        parts["postalCode"],
        parts["country"],
    )
    if address == AddressFields():
        errors.add(name, "the address is empty; send null to remove it")
        return None
    return address


def parse_donor_fields(body: Mapping[str, Any], *, prefix: str = "") -> DonorFields:
    """Validate an edit's fields (PATCH, POST, the portals). Every problem is reported at once
    (:class:`InvalidFields`, field names under ``prefix``); an unknown or read-only field is
    refused by name."""
    errors = FieldErrors(prefix)
    for key in body:
        if key in READ_ONLY_FIELDS:
            errors.add(key, "is read-only and cannot be set")
        elif key not in EDITABLE_FIELDS:
            errors.add(
                key,
                f"is not a donor field (fields that can be set: {', '.join(EDITABLE_FIELDS)})",
            )
    sent = frozenset(key for key in body if key in EDITABLE_FIELDS)
    fields = DonorFields(
        sent=sent,
        first_name=_text(errors, "firstName", body.get("firstName"), EDITABLE_FIELDS["firstName"]),
        last_name=_text(errors, "lastName", body.get("lastName"), EDITABLE_FIELDS["lastName"]),
        organization_name=_text(
            errors,
            "organizationName",
            body.get("organizationName"),
            EDITABLE_FIELDS["organizationName"],
        ),
        email=_email(errors, "email", body.get("email")),
        phone=parse_phone(errors, "phone", body.get("phone")),
        primary_address=parse_address(errors, "primaryAddress", body.get("primaryAddress")),
        virtuous_contact_id=_text(
            errors,
            "virtuousContactId",
            body.get("virtuousContactId"),
            EDITABLE_FIELDS["virtuousContactId"],
            numbers=True,
        ),
    )
    errors.raise_if_any()
    return fields


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


# ---- the book --------------------------------------------------------------------------------

SortKey = Literal[
    "createdDateTime", "modifiedDateTime", "id", "firstName", "lastName", "name", "email"
]
SORT_KEYS: Final[tuple[SortKey, ...]] = (
    "createdDateTime",
    "modifiedDateTime",
    "id",
    "firstName",
    "lastName",
    "name",
    "email",
)


@dataclass
class _Ids:
    donor: int = FIRST_DONOR_ID
    address: int = 1
    phone: int = 1
    email: int = 1


@dataclass
class DonorBook:
    """Every donor's current version, indexed by id and by lower-cased email."""

    _by_id: dict[int, Donor] = field(default_factory=dict)
    _by_email: dict[str, int] = field(default_factory=dict)
    # Creation order: what the default list order (createdDateTime) pages through in O(page).
    _created: list[int] = field(default_factory=list)
    _ids: _Ids = field(default_factory=_Ids)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, donor_id: object) -> bool:
        return donor_id in self._by_id

    def __iter__(self) -> Iterator[Donor]:
        """Donors in the order they were created."""
        return (self._by_id[donor_id] for donor_id in self._created)

    def get(self, donor_id: int) -> Donor:
        donor = self._by_id.get(donor_id)
        if donor is None:
            raise DonorNotFound(donor_id)
        return donor

    def by_email(self, email: str) -> Donor | None:
        """The donor with this email, whatever its case."""
        donor_id = self._by_email.get(email.strip().lower())
        return self._by_id[donor_id] if donor_id is not None else None

    def clear(self) -> None:
        self._by_id.clear()
        self._by_email.clear()
        self._created.clear()
        self._ids = _Ids()

    # -- ids --

    def _new_address(self, fields: AddressFields) -> Address:
        address = fields.as_address(self._ids.address)
        self._ids.address += 1
        return address

    def _new_phone(self, number: str, phone_type: str) -> PhoneNumber:
        phone = PhoneNumber(self._ids.phone, number, phone_type)
        self._ids.phone += 1
        return phone

    # -- changes --

    def _check_email_free(self, email: str, donor_id: int | None) -> None:
        owner = self._by_email.get(email.lower())
        if owner is not None and owner != donor_id:
            raise EmailTaken(email, owner)

    @staticmethod
    def _check_name(donor: Donor, fields: DonorFields, prefix: str) -> None:
        if donor.first_name or donor.last_name or donor.organization_name:
            return
        errors = FieldErrors(prefix)
        named = [n for n in ("firstName", "lastName", "organizationName") if n in fields.sent]
        for name in named or ["lastName"]:
            errors.add(name, "a donor needs a first or last name, or an organization name")
        errors.raise_if_any()

    def _store(self, before: Donor | None, after: Donor) -> None:
        if before is not None and before.email.lower() != after.email.lower():
            del self._by_email[before.email.lower()]
        self._by_email[after.email.lower()] = after.id
        if before is None:
            self._created.append(after.id)
        self._by_id[after.id] = after

    def create(
        self,
        fields: DonorFields,
        now: datetime,
        *,
        donor_id: int | None = None,
        other_addresses: Iterable[AddressFields] = (),
        other_phones: Iterable[tuple[str, str]] = (),
        phone_type: str = DEFAULT_PHONE_TYPE,
        prefix: str = "",
    ) -> Donor:
        """A new donor from ``fields`` (``email`` required), with the given primary address and
        phone; ``other_addresses`` / ``other_phones`` (number, type) are added as non-primary.
        ``donor_id`` (seeding) takes that id and moves the next one past it."""
        if fields.email is None:
            raise InvalidFields({f"{prefix}email": ["is required: every donor has an email"]})
        if donor_id is not None and donor_id in self._by_id:
            raise InvalidFields({f"{prefix}id": [f"donor {donor_id} already exists"]})
        self._check_email_free(fields.email, None)
        new_id = donor_id if donor_id is not None else self._ids.donor
        draft = Donor(
            id=new_id,
            first_name=fields.first_name,
            last_name=fields.last_name,
            organization_name=fields.organization_name,
            email=fields.email,
            email_id=0,
            addresses=(),
            primary_address_id=None,
            phones=(),
            primary_phone_id=None,
            virtuous_contact_id=fields.virtuous_contact_id,
            created=now,
            modified=now,
        )
        self._check_name(draft, fields, prefix)
        addresses: list[Address] = []
        primary_address = None
        if fields.primary_address is not None:
            addresses.append(self._new_address(fields.primary_address))
            primary_address = addresses[0].id
        addresses.extend(self._new_address(other) for other in other_addresses)
        phones: list[PhoneNumber] = []
        primary_phone = None
        if fields.phone is not None:
            phones.append(self._new_phone(fields.phone, phone_type))
            primary_phone = phones[0].id
        phones.extend(self._new_phone(number, kind) for number, kind in other_phones)
        donor = replace(
            draft,
            email_id=self._ids.email,
            addresses=tuple(addresses),
            primary_address_id=primary_address,
            phones=tuple(phones),
            primary_phone_id=primary_phone,
        )
        self._ids.email += 1
        self._ids.donor = max(self._ids.donor, new_id + 1)
        self._store(None, donor)
        return donor

    def edit(self, donor_id: int, fields: DonorFields, now: datetime, *, prefix: str = "") -> Donor:
        """Apply an edit; returns the new version, or the current one unchanged when the edit
        sets every field to the value it already has (nothing is stored, ``modified`` stays).

        ``phone`` changes the primary phone's number (adding a home phone when there is none);
        ``null`` removes the primary phone and the oldest other one becomes primary.
        ``primaryAddress`` replaces the primary address's fields (adding one when there is
        none); ``null`` removes it the same way."""
        before = self.get(donor_id)
        sent = fields.sent
        if "email" in sent:
            if fields.email is None:
                raise InvalidFields(
                    {f"{prefix}email": ["cannot be removed: every donor has an email"]}
                )
            self._check_email_free(fields.email, donor_id)
        draft = Donor(
            id=before.id,
            first_name=fields.first_name if "firstName" in sent else before.first_name,
            last_name=fields.last_name if "lastName" in sent else before.last_name,
            organization_name=(
                fields.organization_name if "organizationName" in sent else before.organization_name
            ),
            email=fields.email if fields.email is not None else before.email,
            email_id=before.email_id,
            addresses=before.addresses,
            primary_address_id=before.primary_address_id,
            phones=before.phones,
            primary_phone_id=before.primary_phone_id,
            virtuous_contact_id=(
                fields.virtuous_contact_id
                if "virtuousContactId" in sent
                else before.virtuous_contact_id
            ),
            created=before.created,
            modified=before.modified,
        )
        self._check_name(draft, fields, prefix)
        if "phone" in sent:
            draft = self._set_primary_phone(draft, fields.phone)
        if "primaryAddress" in sent:
            draft = self._set_primary_address(draft, fields.primary_address)
        if draft == before:
            return before
        after = replace(draft, modified=now)
        self._store(before, after)
        return after

    def _set_primary_phone(self, donor: Donor, number: str | None) -> Donor:
        primary = donor.primary_phone
        if number is None:
            if primary is None:
                return donor
            rest = donor.other_phones()
            return replace(donor, phones=rest, primary_phone_id=rest[0].id if rest else None)
        if primary is None:
            phone = self._new_phone(number, DEFAULT_PHONE_TYPE)
            return replace(donor, phones=(*donor.phones, phone), primary_phone_id=phone.id)
        if primary.number == number:
            return donor
        changed = replace(primary, number=number)
        return replace(
            donor, phones=tuple(changed if p.id == primary.id else p for p in donor.phones)
        )

    def _set_primary_address(self, donor: Donor, fields: AddressFields | None) -> Donor:
        primary = donor.primary_address
        if fields is None:
            if primary is None:
                return donor
            rest = donor.other_addresses()
            return replace(donor, addresses=rest, primary_address_id=rest[0].id if rest else None)
        if primary is None:
            address = self._new_address(fields)
            return replace(
                donor, addresses=(*donor.addresses, address), primary_address_id=address.id
            )
        if primary.fields() == fields:
            return donor
        changed = fields.as_address(primary.id)
        return replace(
            donor,
            addresses=tuple(changed if a.id == primary.id else a for a in donor.addresses),
        )

    def add_address(
        self, donor_id: int, fields: AddressFields, *, primary: bool, now: datetime
    ) -> Donor:
        """Add an address (non-primary unless ``primary``; a donor's first address is always
        primary)."""
        before = self.get(donor_id)
        address = self._new_address(fields)
        make_primary = primary or before.primary_address_id is None
        after = replace(
            before,
            addresses=(*before.addresses, address),
            primary_address_id=address.id if make_primary else before.primary_address_id,
            modified=now,
        )
        self._store(before, after)
        return after

    def add_phone(
        self, donor_id: int, number: str, phone_type: str, *, primary: bool, now: datetime
    ) -> Donor:
        """Add a phone number (non-primary unless ``primary``; a donor's first phone is always
        primary)."""
        before = self.get(donor_id)
        phone = self._new_phone(number, phone_type)
        make_primary = primary or before.primary_phone_id is None
        after = replace(
            before,
            phones=(*before.phones, phone),
            primary_phone_id=phone.id if make_primary else before.primary_phone_id,
            modified=now,
        )
        self._store(before, after)
        return after

    def make_address_primary(self, donor_id: int, address_id: int, now: datetime) -> Donor:
        before = self.get(donor_id)
        if all(a.id != address_id for a in before.addresses):
            raise RecordNotFound(f"Donor {donor_id} has no address with id {address_id}.")
        if before.primary_address_id == address_id:
            return before
        after = replace(before, primary_address_id=address_id, modified=now)
        self._store(before, after)
        return after

    def make_phone_primary(self, donor_id: int, phone_id: int, now: datetime) -> Donor:
        before = self.get(donor_id)
        if all(p.id != phone_id for p in before.phones):
            raise RecordNotFound(f"Donor {donor_id} has no phone number with id {phone_id}.")
        if before.primary_phone_id == phone_id:
            return before
        after = replace(before, primary_phone_id=phone_id, modified=now)
        self._store(before, after)
        return after

    # -- reading --

    def page(self, skip: int, take: int, sort_by: SortKey, descending: bool) -> list[Donor]:
        """One page of the donor list. The default order (creation) pages in O(page); the
        other orders sort the whole book."""
        if sort_by == "createdDateTime":
            count = len(self._created)
            if descending:
                stop = max(count - skip, 0)
                ids = self._created[max(stop - take, 0) : stop][::-1]
            else:
                ids = self._created[skip : skip + take]
            return [self._by_id[donor_id] for donor_id in ids]
        ordered = sorted(self._by_id.values(), key=_sort_key(sort_by), reverse=descending)
        return ordered[skip : skip + take]

    def search(self, text: str) -> list[Donor]:
        """Donors a search box finds for ``text``, in creation order: an email (bare or as
        ``<ann@example.org>``) exactly, whatever its case; a number as a donor id, Virtuous
        CRM+ contact id, postal code or phone number; a phone number by its digits
        (``(512) 555-0100``); other text in the first, last, full or organization name, or as a
        postal code or state. It reads every donor: search is not on the sync's hot path."""
        query = text.strip()
        if query.startswith("<") and query.endswith(">"):
            query = query[1:-1].strip()
        if not query:
            return []
        if "@" in query:
            found = self.by_email(query)
            return [found] if found is not None else []
        digits = _digits(query)
        phone_like = bool(_PHONE.fullmatch(query)) and len(digits) >= 7
        lowered = query.lower()

        def matches(donor: Donor) -> bool:
            if query.isdigit() and donor.id == int(query):
                return True
            if donor.virtuous_contact_id is not None and donor.virtuous_contact_id == query:
                return True
            postal = donor.primary_address.postal_code if donor.primary_address else None
            if postal is not None and postal.lower() == lowered:
                return True
            if phone_like and any(_digits(p.number) == digits for p in donor.phones):
                return True
            if query.isdigit() or phone_like:
                return False
            state = donor.primary_address.state if donor.primary_address else None
            if state is not None and state.lower() == lowered:
                return True
            names = (donor.first_name, donor.last_name, donor.organization_name, donor.name)
            return any(name is not None and lowered in name.lower() for name in names)

        return [donor for donor in self if matches(donor)]


def _sort_key(sort_by: SortKey) -> Any:
    def text(value: str | None) -> tuple[bool, str]:
        return (value is None, (value or "").lower())

    keys: dict[str, Any] = {
        "modifiedDateTime": lambda d: (d.modified, d.id),
        "id": lambda d: d.id,
        "firstName": lambda d: (text(d.first_name), d.id),
        "lastName": lambda d: (text(d.last_name), d.id),
        "name": lambda d: (text(d.name), d.id),
        "email": lambda d: (d.email.lower(), d.id),
    }
    return keys[sort_by]
