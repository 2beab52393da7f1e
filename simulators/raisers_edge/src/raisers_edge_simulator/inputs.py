"""What the admin API takes: records to seed, a constituent's changes, settings, a sample size.

Field names are the query interface's (``import_id``, ``first_name``, ``addresses``...). A value
that does not fit is refused with the field's path (``constituents.3.addresses.0.type: ...``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from raisers_edge_simulator.database import DatabaseError, RaisersEdgeDatabase
from raisers_edge_simulator.records import (
    LUMINATE_GIFT_ID,
    Address,
    Constituent,
    Gift,
    GiftSubtype,
    GiftType,
    Phone,
)

__all__ = [
    "AddressIn",
    "CodeEntryIn",
    "ConstituentChange",
    "ConstituentIn",
    "GiftIn",
    "PhoneIn",
    "SampleIn",
    "SeedPayload",
    "SettingsIn",
    "UserIn",
    "add_constituent",
    "add_gift",
    "seed_database",
]

_Item = TypeVar("_Item")
# Fields a PATCH may leave out but not set to null.
_NOT_NULL = frozenset({"constituent_id", "is_solicitor", "inactive", "requests_no_email"})


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Dated(_In):
    """A record that may be seeded with its own ``date_added`` and ``date_changed``."""

    date_added: dt.datetime | None = None
    date_changed: dt.datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> Self:
        for name in ("date_added", "date_changed"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} needs a timezone, e.g. 2025-06-01T09:00:00Z")
        return self


class AddressIn(_In):
    type: str = Field("Home", min_length=1, max_length=50)
    street1: str | None = Field(None, max_length=150)
    street2: str | None = Field(None, max_length=150)
    city: str | None = Field(None, max_length=50)
    state: str | None = Field(None, max_length=50)
    zip: str | None = Field(None, max_length=12)
    country: str | None = Field(None, max_length=50)
    preferred: bool = False

    def build(self) -> Address:
        return Address(**self.model_dump())


class PhoneIn(_In):
    type: str = Field(min_length=1, max_length=50)
    number: str = Field(min_length=1, max_length=255)

    def build(self) -> Phone:
        return Phone(self.type, self.number)


class ConstituentIn(_Dated):
    """A constituent to add; ids left out are the next of their sequence."""

    import_id: str | None = Field(None, min_length=1, max_length=40)
    constituent_id: str | None = Field(None, min_length=1, max_length=20)
    luminate_id: str | None = Field(None, min_length=1, max_length=40)
    first_name: str | None = Field(None, max_length=50)
    middle_name: str | None = Field(None, max_length=50)
    last_name: str | None = Field(None, max_length=100)
    addresses: list[AddressIn] = Field(default_factory=list)
    phones: list[PhoneIn] = Field(default_factory=list)
    constituent_codes: list[str] = Field(default_factory=list)
    is_solicitor: bool = False
    inactive: bool = False
    requests_no_email: bool = False


class ConstituentChange(_In):
    """Fields of a constituent to change (``PATCH``); a field left out is unchanged, and lists
    given replace the constituent's. ``luminate_id: null`` removes the alias."""

    constituent_id: str | None = Field(None, min_length=1, max_length=20)
    luminate_id: str | None = Field(None, min_length=1, max_length=40)
    first_name: str | None = Field(None, max_length=50)
    middle_name: str | None = Field(None, max_length=50)
    last_name: str | None = Field(None, max_length=100)
    addresses: list[AddressIn] | None = None
    phones: list[PhoneIn] | None = None
    constituent_codes: list[str] | None = None
    is_solicitor: bool | None = None
    inactive: bool | None = None
    requests_no_email: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given, as the database takes them."""
        given = self.model_fields_set
        if not given:
            raise DatabaseError("the body names no field to change")
        changes: dict[str, Any] = {}
        for name in given:
            value = getattr(self, name)
            if name == "addresses":
                value = [address.build() for address in value or ()]
            elif name == "phones":
                value = [phone.build() for phone in value or ()]
            elif name == "constituent_codes":
                value = list(value or ())
            elif value is None and name in _NOT_NULL:
                raise DatabaseError(f"{name}: cannot be null")
            changes[name] = value
        return changes


class GiftIn(_Dated):
    """A gift (or pledge) to add. ``luminate_gift_id`` is a shorthand for the attribute
    "Luminate Online Gift ID"."""

    constituent_import_id: str = Field(min_length=1)
    type: GiftType = "Cash"
    subtype: GiftSubtype | None = None
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    date: dt.date
    fund: str = Field(min_length=1)
    campaign: str | None = Field(None, min_length=1)
    appeal: str | None = Field(None, min_length=1)
    import_id: str | None = Field(None, min_length=1, max_length=40)
    attributes: dict[str, str] = Field(default_factory=dict)
    luminate_gift_id: str | None = Field(None, min_length=1)
    tribute_name: str | None = Field(None, max_length=100)
    solicitor_import_id: str | None = None
    pledge_import_id: str | None = None
    balance: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)

    def attribute_pairs(self) -> tuple[tuple[str, str], ...]:
        pairs = dict(self.attributes)
        if self.luminate_gift_id is not None:
            if pairs.get(LUMINATE_GIFT_ID, self.luminate_gift_id) != self.luminate_gift_id:
                raise DatabaseError(
                    f"luminate_gift_id: {self.luminate_gift_id!r} differs from the attribute "
                    f"{LUMINATE_GIFT_ID} {pairs[LUMINATE_GIFT_ID]!r}"
                )
            pairs[LUMINATE_GIFT_ID] = self.luminate_gift_id
        return tuple(pairs.items())


class CodeEntryIn(_In):
    code: str = Field(min_length=1, max_length=50)
    description: str = Field("", max_length=100)
    active: bool = True


class UserIn(_In):
    name: str = Field(min_length=1, max_length=50)
    password: SecretStr


class SampleIn(_In):
    """``sample(n_constituents, n_gifts, seed)``: a generated database (see ``sample.py``)."""

    constituents: int = Field(1000, ge=0, le=1_000_000)
    gifts: int = Field(5000, ge=0, le=5_000_000)
    seed: int = 0


class SettingsIn(_In):
    auto_import: bool | None = None
    available: bool | None = None


class SeedPayload(_In):
    """``POST /_admin/seed``: applied in this order, so later parts may name earlier ones."""

    sample: SampleIn | None = None
    users: list[UserIn] = Field(default_factory=list)
    code_tables: dict[Literal["Campaign", "Fund", "Appeal"], list[CodeEntryIn]] = Field(
        default_factory=dict
    )
    constituents: list[ConstituentIn] = Field(default_factory=list)
    pledges: list[GiftIn] = Field(default_factory=list)
    gifts: list[GiftIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pledges_are_pledges(self) -> Self:
        for number, pledge in enumerate(self.pledges):
            if "type" in pledge.model_fields_set and pledge.type != "Pledge":
                raise ValueError(f"pledges.{number}.type: a pledge has the type Pledge")
            pledge.type = "Pledge"
        return self


def add_constituent(database: RaisersEdgeDatabase, given: ConstituentIn) -> Constituent:
    return database.add_constituent(
        import_id=given.import_id,
        constituent_id=given.constituent_id,
        luminate_id=given.luminate_id,
        first_name=given.first_name,
        middle_name=given.middle_name,
        last_name=given.last_name,
        addresses=[address.build() for address in given.addresses],
        phones=[phone.build() for phone in given.phones],
        constituent_codes=given.constituent_codes,
        is_solicitor=given.is_solicitor,
        inactive=given.inactive,
        requests_no_email=given.requests_no_email,
        date_added=given.date_added,
        date_changed=given.date_changed,
    )


def add_gift(database: RaisersEdgeDatabase, given: GiftIn) -> Gift:
    return database.add_gift(
        constituent_import_id=given.constituent_import_id,
        type=given.type,
        subtype=given.subtype,
        amount=given.amount,
        date=given.date,
        fund=given.fund,
        campaign=given.campaign,
        appeal=given.appeal,
        import_id=given.import_id,
        attributes=given.attribute_pairs(),
        tribute_name=given.tribute_name,
        solicitor_import_id=given.solicitor_import_id,
        pledge_import_id=given.pledge_import_id,
        balance=given.balance,
        date_added=given.date_added,
        date_changed=given.date_changed,
    )


def seed_database(
    database: RaisersEdgeDatabase,
    payload: SeedPayload,
    *,
    sample: Callable[[SampleIn], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Load ``payload`` into ``database``; what was made. A refusal names the list and the
    position of the record at fault (``gifts.2: ...``); records before it stay."""
    made: dict[str, Any] = {}
    if payload.sample is not None:
        assert sample is not None, "the caller passes the sample generator"
        made["sample"] = sample(payload.sample)
    for user in payload.users:
        database.add_user(user.name, user.password)
    made["users"] = [user.name for user in payload.users]
    made["code_tables"] = {}
    for table, entries in payload.code_tables.items():
        for entry in entries:
            database.set_code(table, entry.code, entry.description, entry.active)
        made["code_tables"][table] = [entry.code for entry in entries]
    made["constituents"] = _each(
        "constituents", payload.constituents, lambda c: add_constituent(database, c).import_id
    )
    made["pledges"] = _each("pledges", payload.pledges, lambda g: add_gift(database, g).import_id)
    made["gifts"] = _each("gifts", payload.gifts, lambda g: add_gift(database, g).import_id)
    return made


def _each(list_name: str, items: list[_Item], add: Callable[[_Item], str]) -> list[str]:
    made: list[str] = []
    for number, item in enumerate(items):
        try:
            made.append(add(item))
        except DatabaseError as exc:
            raise DatabaseError(f"{list_name}.{number}.{exc}") from None
    return made
