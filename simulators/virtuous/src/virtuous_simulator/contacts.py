"""Contacts of Virtuous CRM+: households, organizations and foundations, their individuals with
contact methods, several addresses (one primary), references, audit log and indexes.

Every change goes through :class:`ContactStore`, which validates it whole before touching
anything, records what changed on the contact's audit log (with the user and the edit source),
and tells its listeners (the webhooks) with a :class:`ContactEvent`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from syncframe.clock import Clock
from virtuous_simulator._common import EDIT_SOURCES, BadRequest, NotFound, iso, to_millis

__all__ = [
    "CONTACT_TYPES",
    "METHOD_TYPES",
    "Address",
    "AddressIn",
    "AddressValues",
    "AuditEntry",
    "Contact",
    "ContactEdit",
    "ContactEvent",
    "ContactIn",
    "ContactMethod",
    "ContactMethodIn",
    "ContactStore",
    "FieldChange",
    "Individual",
    "IndividualIn",
    "address_json",
    "address_values",
    "audit_json",
    "check_email",
    "check_method_type",
    "contact_json",
    "format_address",
]

CONTACT_TYPES: Final = ("Household", "Organization", "Foundation")
#: Contact method types (Virtuous's own list, shortened to what people and the sync use).
METHOD_TYPES: Final = (
    "Home Email",
    "Work Email",
    "Other Email",
    "Home Phone",
    "Mobile Phone",
    "Work Phone",
    "Other Phone",
    "Fax",
    "Website",
)
_ADDRESS_FIELDS: Final = ("address1", "address2", "city", "state", "postal", "country")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MethodKind = Literal["Email", "Phone"]
#: address1, address2, city, state, postal, country
AddressValues = tuple[str | None, str | None, str | None, str | None, str | None, str | None]


def _kind(method_type: str) -> MethodKind | None:
    if method_type.endswith("Email"):
        return "Email"
    if method_type.endswith("Phone"):
        return "Phone"
    return None


# ---- records ---------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class ContactMethod:
    id: int
    type: str
    value: str
    is_primary: bool
    is_opted_in: bool


@dataclass(slots=True, eq=False)
class Individual:
    id: int
    contact_id: int
    first_name: str | None
    last_name: str | None
    is_primary: bool
    methods: list[ContactMethod] = field(default_factory=list)

    def primary_method(self, kind: MethodKind) -> ContactMethod | None:
        """The primary method of ``kind`` ("Email" or "Phone"), if one is flagged primary."""
        for method in self.methods:
            if method.is_primary and _kind(method.type) == kind:
                return method
        return None

    def full_name(self) -> str | None:
        parts = [part for part in (self.first_name, self.last_name) if part]
        return " ".join(parts) or None


@dataclass(slots=True, eq=False)
class Address:
    id: int
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    postal: str | None
    country: str | None
    is_primary: bool

    def values(self) -> AddressValues:
        return (self.address1, self.address2, self.city, self.state, self.postal, self.country)


@dataclass(slots=True, eq=False)
class AuditEntry:
    """One line of a contact's audit log: who changed which field, how, and from what to what."""

    at: datetime
    user: str
    source: str
    field: str
    old: str | None
    new: str | None
    note: str | None = None


@dataclass(slots=True, eq=False)
class Contact:
    id: int
    contact_type: str
    name: str
    reference_source: str | None
    reference_id: str | None
    addresses: list[Address]
    individuals: list[Individual]
    created_at: datetime
    modified_at: datetime
    #: The store's version at the last change (the Query index keeps only live entries).
    version: int = 0
    audit: list[AuditEntry] = field(default_factory=list)

    def primary_individual(self) -> Individual | None:
        """The individual flagged primary, else the first one."""
        for individual in self.individuals:
            if individual.is_primary:
                return individual
        return self.individuals[0] if self.individuals else None

    def primary_address(self) -> Address | None:
        for address in self.addresses:
            if address.is_primary:
                return address
        return None

    def primary_value(self, kind: MethodKind) -> str | None:
        """The primary email or phone: the primary individual's primary method of that kind."""
        individual = self.primary_individual()
        method = individual.primary_method(kind) if individual is not None else None
        return method.value if method is not None else None

    def emails(self) -> Iterator[str]:
        for individual in self.individuals:
            for method in individual.methods:
                if _kind(method.type) == "Email":
                    yield method.value


class FieldChange(NamedTuple):
    """A field an edit changed (names as the audit log shows them: "Primary Address")."""

    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class ContactEvent:
    """A contact was created or changed: what the webhooks are told."""

    event: Literal["ContactCreate", "ContactUpdate"]
    source: str
    user: str
    contact: Contact
    at: datetime
    changes: tuple[FieldChange, ...]


# ---- JSON ------------------------------------------------------------------------------------


def address_json(address: Address) -> dict[str, Any]:
    return {
        "id": address.id,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "state": address.state,
        "postal": address.postal,
        "country": address.country,
        "isPrimary": address.is_primary,
    }


def contact_json(contact: Contact) -> dict[str, Any]:
    """The contact as ``GET /api/Contact/{id}`` and the webhooks show it."""
    addresses = [address_json(address) for address in contact.addresses]
    primary = next((a for a in addresses if a["isPrimary"]), None)
    return {
        "id": contact.id,
        "contactType": contact.contact_type,
        "name": contact.name,
        "referenceSource": contact.reference_source,
        "referenceId": contact.reference_id,
        "address": primary,
        "addresses": addresses,
        "contactIndividuals": [
            {
                "id": individual.id,
                "contactId": individual.contact_id,
                "firstName": individual.first_name,
                "lastName": individual.last_name,
                "isPrimary": individual.is_primary,
                "contactMethods": [
                    {
                        "id": method.id,
                        "type": method.type,
                        "value": method.value,
                        "isPrimary": method.is_primary,
                        "isOptedIn": method.is_opted_in,
                    }
                    for method in individual.methods
                ],
            }
            for individual in contact.individuals
        ],
        "createDateTimeUtc": iso(contact.created_at),
        "modifiedDateTimeUtc": iso(contact.modified_at),
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": iso(entry.at),
        "user": entry.user,
        "source": entry.source,
        "field": entry.field,
        "oldValue": entry.old,
        "newValue": entry.new,
        "note": entry.note,
    }


def format_address(values: Iterable[str | None] | Address | None) -> str | None:
    """One line, as the audit log shows an address: ``12 Elm St, Springfield, IL 62701, US``."""
    if values is None:
        return None
    if isinstance(values, Address):
        values = values.values()
    address1, address2, city, state, postal, country = values
    region = " ".join(part for part in (state, postal) if part)
    parts = [part for part in (address1, address2, city, region, country) if part]
    return ", ".join(parts) or None


# ---- input -----------------------------------------------------------------------------------


def address_values(data: Any, where: str) -> AddressValues:
    """The six address parts of a JSON address object, checked without pydantic (an NCOA file
    has 100,000 of them): text or null each, blank is null, other keys are ignored."""
    if not isinstance(data, dict):
        raise BadRequest(f"{where}: must be an address object")
    parts: list[str | None] = []
    for name in _ADDRESS_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{where}.{name}: must be text or null")
        parts.append(value.strip() or None if value is not None else None)
    return (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _to_text(value: Any) -> Any:
    # Reference ids arrive as numbers from some clients (a donor id); Virtuous keeps text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _blank_to_none(value)


Text = Annotated[str | None, BeforeValidator(_blank_to_none)]
Reference = Annotated[str | None, BeforeValidator(_to_text)]


class _In(BaseModel):
    """Virtuous's camelCase JSON; unknown fields are ignored as the real API ignores them."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True
    )


class AddressIn(_In):
    address1: Text = None
    address2: Text = None
    city: Text = None
    state: Text = None
    postal: Text = None
    country: Text = None
    is_primary: bool | None = None

    def values(self) -> AddressValues:
        return (self.address1, self.address2, self.city, self.state, self.postal, self.country)

    def given(self) -> dict[str, str | None]:
        """The address fields the request named (a named field set to null clears it)."""
        return {
            name: getattr(self, name) for name in _ADDRESS_FIELDS if name in self.model_fields_set
        }


class ContactMethodIn(_In):
    type: str
    value: str = Field(min_length=1)
    is_primary: bool = False
    is_opted_in: bool = False


class IndividualIn(_In):
    first_name: Text = None
    last_name: Text = None
    is_primary: bool = False
    contact_methods: list[ContactMethodIn] = Field(default_factory=list)


class ContactIn(_In):
    """``POST /api/Contact`` (and the seed, which may also give ``id`` and the times)."""

    contact_type: str
    name: Text = None
    reference_source: Reference = None
    reference_id: Reference = None
    address: AddressIn | None = None
    addresses: list[AddressIn] = Field(default_factory=list)
    contact_individuals: list[IndividualIn] = Field(default_factory=list)
    id: int | None = Field(None, ge=1)
    create_date_time_utc: datetime | None = None
    modified_date_time_utc: datetime | None = None


class ContactEdit(_In):
    """The fields one edit changes; a field named with null clears it (where that makes sense).

    ``firstName``/``lastName`` are the primary individual's, ``email``/``phone`` its primary
    contact method of that kind, ``address`` the primary address (only the named parts change).
    """

    model_config = ConfigDict(extra="forbid")

    first_name: Text = None
    last_name: Text = None
    name: Text = None
    email: Text = None
    email_type: Text = None
    phone: Text = None
    phone_type: Text = None
    address: AddressIn | None = None
    contact_type: str | None = None
    reference_source: Reference = None
    reference_id: Reference = None


# ---- the store -------------------------------------------------------------------------------


def check_method_type(method_type: str, where: str) -> None:
    if method_type not in METHOD_TYPES:
        raise BadRequest(
            f"{where}: {method_type!r} is not a contact method type ({', '.join(METHOD_TYPES)})"
        )


def check_email(value: str, where: str) -> None:
    if not _EMAIL.fullmatch(value):
        raise BadRequest(f"{where}: {value!r} is not a valid email address")


def _check_contact_type(value: str, where: str = "contactType") -> str:
    for known in CONTACT_TYPES:
        if value.casefold() == known.casefold():
            return known
    raise BadRequest(f"{where}: {value!r} is not a contact type ({', '.join(CONTACT_TYPES)})")


def _derived_name(individual: Individual | None) -> str | None:
    return individual.full_name() if individual is not None else None


class ContactStore:
    """Every contact of the organization, with the indexes the API's look-ups use."""

    #: Where id sequences start (different ranges make a mixed-up id visible in a test).
    FIRST_CONTACT_ID: Final = 1001
    FIRST_INDIVIDUAL_ID: Final = 2_000_001
    FIRST_ADDRESS_ID: Final = 3_000_001
    FIRST_METHOD_ID: Final = 4_000_001

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.listeners: list[Callable[[ContactEvent], None]] = []
        self._start()

    def _start(self) -> None:
        self.contacts: dict[int, Contact] = {}
        self.individuals: dict[int, Individual] = {}
        self.method_owner: dict[int, int] = {}  # method id -> individual id
        self._by_reference: dict[tuple[str, str], list[int]] = {}
        self._by_email: dict[str, list[int]] = {}
        # (modified timestamp, version, contact id), appended in time order: Query's
        # "Last Modified Date" bisects it. Entries whose version is no longer the contact's
        # are stale and skipped; the list is rebuilt when they outnumber the live ones.
        self._modified: list[tuple[float, int, int]] = []
        #: Bumped on every change: Query caches its results per version.
        self.version = 0
        self._next_contact = self.FIRST_CONTACT_ID
        self._next_individual = self.FIRST_INDIVIDUAL_ID
        self._next_address = self.FIRST_ADDRESS_ID
        self._next_method = self.FIRST_METHOD_ID

    def now(self) -> datetime:
        return to_millis(self.clock.now())

    # -- look-ups ------------------------------------------------------------------------------

    def get(self, contact_id: int) -> Contact:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise NotFound(f"Contact {contact_id} was not found.")
        return contact

    def find_by_reference(self, source: str, reference_id: str) -> Contact | None:
        """The oldest contact with this reference (the source compares case-insensitively)."""
        ids = self._by_reference.get((source.casefold(), reference_id))
        return self.contacts[ids[0]] if ids else None

    def find_by_email(self, email: str) -> list[Contact]:
        """Contacts with this email on any individual, oldest first."""
        return [self.contacts[i] for i in self._by_email.get(email.casefold(), ())]

    def individual(self, individual_id: int) -> tuple[Contact, Individual]:
        individual = self.individuals.get(individual_id)
        if individual is None:
            raise NotFound(f"Contact individual {individual_id} was not found.")
        return self.contacts[individual.contact_id], individual

    def method(self, method_id: int) -> tuple[Contact, Individual, ContactMethod]:
        owner = self.method_owner.get(method_id)
        if owner is not None:
            contact, individual = self.individual(owner)
            for method in individual.methods:
                if method.id == method_id:
                    return contact, individual, method
        raise NotFound(f"Contact method {method_id} was not found.")

    def modified_since(self, since: float | None) -> Iterator[Contact]:
        """Contacts last modified at or after the timestamp ``since`` (all when ``None``),
        oldest change first."""
        start = 0 if since is None else bisect.bisect_left(self._modified, (since,))
        contacts = self.contacts
        for index in range(start, len(self._modified)):
            _, version, contact_id = self._modified[index]
            contact = contacts.get(contact_id)
            if contact is not None and contact.version == version:
                yield contact

    # -- indexes -------------------------------------------------------------------------------

    def _index(self, contact: Contact) -> None:
        if contact.reference_source and contact.reference_id:
            key = (contact.reference_source.casefold(), contact.reference_id)
            bisect.insort(self._by_reference.setdefault(key, []), contact.id)
        for email in {value.casefold() for value in contact.emails()}:
            bisect.insort(self._by_email.setdefault(email, []), contact.id)

    def _unindex(self, contact: Contact) -> None:
        if contact.reference_source and contact.reference_id:
            key = (contact.reference_source.casefold(), contact.reference_id)
            _discard(self._by_reference, key, contact.id)
        for email in {value.casefold() for value in contact.emails()}:
            _discard(self._by_email, email, contact.id)

    def _touch(self, contact: Contact, at: datetime) -> None:
        self.version += 1
        contact.modified_at = at
        contact.version = self.version
        entry = (at.timestamp(), self.version, contact.id)
        if self._modified and entry < self._modified[-1]:
            # Only seeded records carry times of their own; everything else arrives in order.
            bisect.insort(self._modified, entry)
        else:
            self._modified.append(entry)
        if len(self._modified) > 2 * len(self.contacts) + 1024:
            self._modified = sorted(
                (c.modified_at.timestamp(), c.version, c.id) for c in self.contacts.values()
            )

    # -- creating ------------------------------------------------------------------------------

    def create(
        self,
        spec: ContactIn,
        *,
        source: str,
        user: str,
        note: str | None = None,
        notify: bool = True,
    ) -> Contact:
        """A new contact from ``spec`` (validated whole first). ``notify=False`` for seeding:
        set-up is not an edit and fires no webhook."""
        contact_type, name = self.check(spec)
        addresses = ([spec.address] if spec.address is not None else []) + spec.addresses
        flagged_addresses = [a for a in addresses if a.is_primary]
        individuals = spec.contact_individuals
        contact_id = spec.id if spec.id is not None else self._next_contact
        self._next_contact = max(self._next_contact, contact_id + 1)
        at = self.now()
        created = to_millis(spec.create_date_time_utc) if spec.create_date_time_utc else at
        modified = (
            to_millis(spec.modified_date_time_utc) if spec.modified_date_time_utc else created
        )
        contact = Contact(
            id=contact_id,
            contact_type=contact_type,
            name=name,
            reference_source=spec.reference_source,
            reference_id=spec.reference_id,
            addresses=[],
            individuals=[],
            created_at=created,
            modified_at=modified,
        )
        # `address` is the primary one; else the one flagged; else the first (choice).
        primary_at = (
            0
            if spec.address is not None or not flagged_addresses
            else next(n for n, a in enumerate(addresses) if a.is_primary)
        )
        for n, address_in in enumerate(addresses):
            contact.addresses.append(self._new_address(address_in, n == primary_at))
        primary_individual = next((i for i in individuals if i.is_primary), None)
        for n, individual_in in enumerate(individuals):
            is_primary = individual_in is primary_individual if primary_individual else n == 0
            individual = self._new_individual(
                contact, individual_in.first_name, individual_in.last_name, is_primary
            )
            for kind in ("Email", "Phone"):
                of_kind = [m for m in individual_in.contact_methods if _kind(m.type) == kind]
                # None of a kind flagged primary: the first of that kind is (choice).
                chosen = next((m for m in of_kind if m.is_primary), of_kind[0] if of_kind else None)
                for method_in in of_kind:
                    self._add_method(individual, method_in, method_in is chosen)
            for method_in in individual_in.contact_methods:
                if _kind(method_in.type) is None:
                    self._add_method(individual, method_in, method_in.is_primary)
        self.contacts[contact.id] = contact
        self._index(contact)
        self._touch(contact, modified)
        contact.audit.append(AuditEntry(at, user, source, "Contact", None, "Created", note))
        if notify:
            self._emit(
                ContactEvent(
                    "ContactCreate",
                    source,
                    user,
                    contact,
                    at,
                    (FieldChange("Contact", None, "Created"),),
                )
            )
        return contact

    def check(self, spec: ContactIn) -> tuple[str, str]:
        """(contact type, name) of a contact ``spec`` would make; :class:`BadRequest` naming
        the field when it cannot be made. Changes nothing."""
        contact_type = _check_contact_type(spec.contact_type)
        individuals = spec.contact_individuals
        if sum(1 for i in individuals if i.is_primary) > 1:
            raise BadRequest("contactIndividuals: only one individual can be primary")
        for n, given_individual in enumerate(individuals):
            for kind in ("Email", "Phone"):
                flagged = [
                    m
                    for m in given_individual.contact_methods
                    if m.is_primary and _kind(m.type) == kind
                ]
                if len(flagged) > 1:
                    raise BadRequest(
                        f"contactIndividuals.{n}.contactMethods: only one {kind.lower()} can be "
                        "primary"
                    )
            for m_n, method in enumerate(given_individual.contact_methods):
                where = f"contactIndividuals.{n}.contactMethods.{m_n}"
                check_method_type(method.type, f"{where}.type")
                if _kind(method.type) == "Email":
                    check_email(method.value, f"{where}.value")
        addresses = ([spec.address] if spec.address is not None else []) + spec.addresses
        flagged_addresses = [a for a in addresses if a.is_primary]
        if spec.address is not None and any(a.is_primary for a in spec.addresses):
            raise BadRequest("addresses: the primary address is already given as address")
        if len(flagged_addresses) > 1:
            raise BadRequest("addresses: only one address can be primary")
        name = spec.name
        if name is None:
            first = next((i for i in individuals if i.is_primary), None) or (
                individuals[0] if individuals else None
            )
            parts = [p for p in (first.first_name, first.last_name) if p] if first else []
            if contact_type != "Household" or not parts:
                article = "an" if contact_type[0] in "AEIOU" else "a"
                raise BadRequest(f"name: {article} {contact_type} contact needs a name")
            name = " ".join(parts)
        if spec.id is not None and spec.id in self.contacts:
            raise BadRequest(f"id: contact {spec.id} already exists")
        return contact_type, name

    def _new_address(self, spec: AddressIn, primary: bool) -> Address:
        address = Address(
            self._next_address,
            spec.address1,
            spec.address2,
            spec.city,
            spec.state,
            spec.postal,
            spec.country,
            primary,
        )
        self._next_address += 1
        return address

    def _new_individual(
        self, contact: Contact, first: str | None, last: str | None, primary: bool
    ) -> Individual:
        individual = Individual(self._next_individual, contact.id, first, last, primary)
        self._next_individual += 1
        contact.individuals.append(individual)
        self.individuals[individual.id] = individual
        return individual

    def _add_method(self, individual: Individual, spec: ContactMethodIn, primary: bool) -> None:
        kind = _kind(spec.type)
        if primary and kind is not None:
            for other in individual.methods:
                if _kind(other.type) == kind:
                    other.is_primary = False
        method = ContactMethod(self._next_method, spec.type, spec.value, primary, spec.is_opted_in)
        self._next_method += 1
        individual.methods.append(method)
        self.method_owner[method.id] = individual.id

    # -- editing -------------------------------------------------------------------------------

    def edit(
        self,
        contact_id: int,
        edit: ContactEdit,
        *,
        source: str,
        user: str,
        note: str | None = None,
    ) -> list[FieldChange]:
        """Apply ``edit`` to a contact as ``user`` through ``source``; the fields that changed
        (none: nothing is recorded and no webhook fires)."""
        contact = self.get(contact_id)
        given = edit.model_fields_set
        if source not in EDIT_SOURCES:
            raise BadRequest(
                f"source: {source!r} is not an edit source ({', '.join(EDIT_SOURCES)})"
            )
        # Validate everything before changing anything: an edit lands whole or not at all.
        contact_type = contact.contact_type
        if "contact_type" in given:
            if edit.contact_type is None:
                raise BadRequest("contactType: a contact always has a type")
            contact_type = _check_contact_type(edit.contact_type)
        if "name" in given and edit.name is None:
            raise BadRequest("name: a contact always has a name")
        if "email" in given and edit.email is not None:
            check_email(edit.email, "email")
        for kind_field, kind in (("email_type", "Email"), ("phone_type", "Phone")):
            value = getattr(edit, kind_field)
            if value is not None:
                check_method_type(value, to_camel(kind_field))
                if _kind(value) != kind:
                    raise BadRequest(
                        f"{to_camel(kind_field)}: {value!r} is not a {kind.lower()} type"
                    )

        changes: list[FieldChange] = []
        reindex = bool(given & {"email", "reference_source", "reference_id"})
        if reindex:
            self._unindex(contact)
        if contact_type != contact.contact_type:
            changes.append(FieldChange("Contact Type", contact.contact_type, contact_type))
            contact.contact_type = contact_type
        individual = contact.primary_individual()
        old_derived = _derived_name(individual)
        if given & {"first_name", "last_name"}:
            if individual is None:
                individual = self._new_individual(contact, None, None, True)
            changes += _set_names(individual, edit, given, prefix="")
        if "name" in given:
            assert edit.name is not None
            if edit.name != contact.name:
                changes.append(FieldChange("Name", contact.name, edit.name))
                contact.name = edit.name
        elif (
            contact.contact_type == "Household"
            and old_derived is not None
            and contact.name == old_derived
            and _derived_name(individual) not in (None, old_derived)
        ):
            # A household named after its person follows that person's name (choice).
            new_name = _derived_name(individual)
            assert new_name is not None
            changes.append(FieldChange("Name", contact.name, new_name))
            contact.name = new_name
        for attr, label in (
            ("reference_source", "Reference Source"),
            ("reference_id", "Reference Id"),
        ):
            if attr in given and getattr(edit, attr) != getattr(contact, attr):
                changes.append(FieldChange(label, getattr(contact, attr), getattr(edit, attr)))
                setattr(contact, attr, getattr(edit, attr))
        if "email" in given:
            change = self._set_primary_method(contact, "Email", edit.email, edit.email_type)
            changes += change
        if "phone" in given:
            changes += self._set_primary_method(contact, "Phone", edit.phone, edit.phone_type)
        if "address" in given:
            changes += self._set_primary_address(contact, edit.address)
        if reindex:
            self._index(contact)
        self._record(contact, changes, source=source, user=user, note=note)
        return changes

    def move(
        self,
        contact_id: int,
        new_values: AddressValues,
        *,
        source: str,
        user: str,
        note: str | None = None,
    ) -> list[FieldChange]:
        """A change of address as NCOA makes it: the new address (``address1, address2, city,
        state, postal, country``) becomes the primary one and the old one stays on the contact,
        no longer primary."""
        contact = self.get(contact_id)
        old = contact.primary_address()
        if old is not None and old.values() == new_values:
            return []
        if old is not None:
            old.is_primary = False
        contact.addresses.append(Address(self._next_address, *new_values, True))
        self._next_address += 1
        changes = [FieldChange("Primary Address", format_address(old), format_address(new_values))]
        self._record(contact, changes, source=source, user=user, note=note)
        return changes

    def add_address(
        self, contact_id: int, address: AddressIn, *, source: str, user: str
    ) -> list[FieldChange]:
        """Another address on the contact; primary when ``isPrimary`` (the old one stays)."""
        contact = self.get(contact_id)
        primary = bool(address.is_primary)
        old = contact.primary_address()
        if primary and old is not None:
            old.is_primary = False
        new = self._new_address(address, primary)
        contact.addresses.append(new)
        label = "Primary Address" if primary else "Address Added"
        changes = [
            FieldChange(label, format_address(old) if primary else None, format_address(new))
        ]
        self._record(contact, changes, source=source, user=user)
        return changes

    def add_method(
        self,
        contact_id: int,
        individual_id: int | None,
        spec: ContactMethodIn,
        *,
        source: str,
        user: str,
    ) -> tuple[ContactMethod, list[FieldChange]]:
        """Another contact method on an individual (the primary one unless named)."""
        contact = self.get(contact_id)
        check_method_type(spec.type, "type")
        kind = _kind(spec.type)
        if kind == "Email":
            check_email(spec.value, "value")
        if individual_id is None:
            individual = contact.primary_individual()
            if individual is None:
                individual = self._new_individual(contact, None, None, True)
        else:
            individual = self.individual(individual_id)[1]
            if individual.contact_id != contact.id:
                raise BadRequest(
                    f"contactIndividualId: individual {individual_id} belongs to contact "
                    f"{individual.contact_id}, not {contact.id}"
                )
        return self._add_method_recorded(contact, individual, spec, source=source, user=user)

    def _add_method_recorded(
        self,
        contact: Contact,
        individual: Individual,
        spec: ContactMethodIn,
        *,
        source: str,
        user: str,
    ) -> tuple[ContactMethod, list[FieldChange]]:
        kind = _kind(spec.type)
        old = individual.primary_method(kind) if kind is not None else None
        self._unindex(contact)
        self._add_method(individual, spec, spec.is_primary)
        self._index(contact)
        method = individual.methods[-1]
        primary_of_contact = individual is contact.primary_individual()
        if spec.is_primary and kind is not None and primary_of_contact:
            label = f"Primary {kind}"
            changes = [FieldChange(label, old.value if old else None, method.value)]
        else:
            changes = [FieldChange(f"{spec.type} Added", None, method.value)]
        self._record(contact, changes, source=source, user=user)
        return method, changes

    def update_individual(
        self, individual_id: int, edit: ContactEdit, *, source: str, user: str
    ) -> list[FieldChange]:
        """``PUT /api/ContactIndividual/{id}``: first and last name of any individual."""
        contact, individual = self.individual(individual_id)
        given = edit.model_fields_set & {"first_name", "last_name"}
        if individual is contact.primary_individual():
            return self.edit(
                contact.id,
                ContactEdit.model_validate({to_camel(f): getattr(edit, f) for f in given}),
                source=source,
                user=user,
            )
        prefix = f"{individual.full_name() or f'Individual {individual.id}'} "
        changes = _set_names(individual, edit, given, prefix=prefix)
        self._record(contact, changes, source=source, user=user)
        return changes

    def update_method(
        self,
        method_id: int,
        *,
        value: str | None,
        is_primary: bool | None,
        is_opted_in: bool | None,
        source: str,
        user: str,
    ) -> list[FieldChange]:
        """``PUT /api/ContactMethod/{id}``: its value, primary flag or opt-in."""
        contact, individual, method = self.method(method_id)
        kind = _kind(method.type)
        if value is not None and kind == "Email":
            check_email(value, "value")
        primary_of_contact = individual is contact.primary_individual()
        before = contact.primary_value(kind) if kind is not None else None
        changes: list[FieldChange] = []
        self._unindex(contact)
        if value is not None and value != method.value:
            changes.append(FieldChange(f"{method.type}", method.value, value))
            method.value = value
        if is_primary is not None and is_primary != method.is_primary:
            if is_primary and kind is not None:
                for other in individual.methods:
                    if _kind(other.type) == kind:
                        other.is_primary = False
            method.is_primary = is_primary
        if is_opted_in is not None and is_opted_in != method.is_opted_in:
            changes.append(
                FieldChange(f"{method.type} Opted In", str(method.is_opted_in), str(is_opted_in))
            )
            method.is_opted_in = is_opted_in
        self._index(contact)
        if kind is not None and primary_of_contact:
            after = contact.primary_value(kind)
            if after != before:
                changes = [c for c in changes if c.field != method.type]
                changes.insert(0, FieldChange(f"Primary {kind}", before, after))
        self._record(contact, changes, source=source, user=user)
        return changes

    def _set_primary_method(
        self, contact: Contact, kind: MethodKind, value: str | None, method_type: str | None
    ) -> list[FieldChange]:
        individual = contact.primary_individual()
        if individual is None:
            if value is None:
                return []
            individual = self._new_individual(contact, None, None, True)
        method = individual.primary_method(kind)
        old = method.value if method is not None else None
        changes: list[FieldChange] = []
        if value is None:
            if method is not None:
                individual.methods.remove(method)
                del self.method_owner[method.id]
                changes.append(FieldChange(f"Primary {kind}", old, None))
            return changes
        if method is None:
            default = "Home Email" if kind == "Email" else "Home Phone"
            self._add_method(
                individual, ContactMethodIn(type=method_type or default, value=value), True
            )
            return [FieldChange(f"Primary {kind}", None, value)]
        if method.value != value:
            changes.append(FieldChange(f"Primary {kind}", old, value))
            method.value = value
        if method_type is not None and method.type != method_type:
            changes.append(FieldChange(f"Primary {kind} Type", method.type, method_type))
            method.type = method_type
        return changes

    def _set_primary_address(
        self, contact: Contact, address: AddressIn | None
    ) -> list[FieldChange]:
        primary = contact.primary_address()
        if address is None:
            if primary is None:
                return []
            contact.addresses.remove(primary)
            return [FieldChange("Primary Address", format_address(primary), None)]
        given = address.given()
        if primary is None:
            if not any(value is not None for value in given.values()):
                return []
            new = self._new_address(address, True)
            contact.addresses.append(new)
            return [FieldChange("Primary Address", None, format_address(new))]
        old = format_address(primary)
        for name, value in given.items():
            setattr(primary, name, value)
        new_text = format_address(primary)
        return [FieldChange("Primary Address", old, new_text)] if new_text != old else []

    def _record(
        self,
        contact: Contact,
        changes: list[FieldChange],
        *,
        source: str,
        user: str,
        note: str | None = None,
    ) -> None:
        if not changes:
            return
        at = self.now()
        self._touch(contact, at)
        for change in changes:
            contact.audit.append(
                AuditEntry(at, user, source, change.field, change.old, change.new, note)
            )
        self._emit(ContactEvent("ContactUpdate", source, user, contact, at, tuple(changes)))

    def _emit(self, event: ContactEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def clear(self) -> None:
        """Forget every contact (ids start over); the listeners stay."""
        self._start()


def _set_names(
    individual: Individual, edit: ContactEdit, given: set[str], *, prefix: str
) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for attr, label in (("first_name", "First Name"), ("last_name", "Last Name")):
        if attr in given and getattr(edit, attr) != getattr(individual, attr):
            changes.append(
                FieldChange(prefix + label, getattr(individual, attr), getattr(edit, attr))
            )
            setattr(individual, attr, getattr(edit, attr))
    return changes


def _discard(index: dict[Any, list[int]], key: Any, contact_id: int) -> None:
    ids = index.get(key)
    if ids is None:
        return
    at = bisect.bisect_left(ids, contact_id)
    if at < len(ids) and ids[at] == contact_id:
        del ids[at]
    if not ids:
        del index[key]
