"""What Legacy RaiseDonors' API sends (camelCase JSON), as pydantic models, and the flat field
names the sync uses for a donor in a :class:`~syncframe.records.Change`.

The change fields are snake_case and the same both ways: the ``raisedonors_activity`` source
emits them and the ``raisedonors_donors`` sink accepts them, so a flow file maps Virtuous fields
onto exactly the names the other flow reads back (and the ``echo`` loop guard compares like with
like). Answers are read leniently (``extra="ignore"``: RaiseDonors adds fields over time) but
typed, so a malformed answer is reported with the path of the bad field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "ADDRESS_FIELDS",
    "DONOR_FIELDS",
    "GIFT_FIELDS",
    "Activity",
    "ActivityPage",
    "Donor",
    "DonorAddress",
    "DonorPage",
    "DonorPhone",
    "Gift",
    "IntegrationSettings",
    "Tokens",
    "donor_fields",
    "gift_fields",
]

#: The primary address's fields, as change fields (the same names as RaiseDonors' address
#: object, in snake_case).
ADDRESS_FIELDS: Final = ("address1", "address2", "city", "state", "postal_code", "country")
#: Every field of a donor change, in the order they are emitted.
DONOR_FIELDS: Final = (
    "donor_id",
    "is_organization",
    "first_name",
    "last_name",
    "organization_name",
    "email",
    "phone",
    *ADDRESS_FIELDS,
    "virtuous_contact_id",
)
#: What a gift change carries besides the donor's fields.
GIFT_FIELDS: Final = ("gift_id", "amount", "gift_date", "project_code")

_CENT: Final = Decimal("0.01")


def _utc(value: datetime) -> datetime:
    # RaiseDonors writes UTC times; one without an offset is UTC too.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Answer(BaseModel):
    """A JSON object of the API: camelCase names, unknown ones ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def _text_or_none(value: Any) -> Any:
    """Ids the API may send as numbers or strings, as text (``None`` and "" stay empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value  # not an id: let validation refuse it
    return str(value) if isinstance(value, int | str) else value


class DonorAddress(_Answer):
    """One of a donor's addresses (``primaryAddress`` or an item of ``donorAddresses``)."""

    id: int | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    is_primary: bool = False


class DonorPhone(_Answer):
    """One of a donor's phone numbers (``donorPhoneNumbers``)."""

    id: int | None = None
    number: str | None = None
    type: str | None = None
    is_primary: bool = False


class Donor(_Answer):
    """A donor as ``GET /api/Donor/{id}`` (and the activity feed's ``donor``) returns it."""

    id: int
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_organization: bool = False
    organization_name: str | None = None
    email: str | None = None
    phone: str | None = None
    primary_address: DonorAddress | None = None
    donor_addresses: list[DonorAddress] = Field(default_factory=list)
    donor_phone_numbers: list[DonorPhone] = Field(default_factory=list)
    virtuous_contact_id: str | None = None
    created_date: datetime | None = None
    modified_date: datetime | None = None
    is_archived: bool = False

    @field_validator("virtuous_contact_id", mode="before")
    @classmethod
    def _contact_id_as_text(cls, value: Any) -> Any:
        return _text_or_none(value)

    @property
    def primary_phone(self) -> str | None:
        """The primary phone's number: ``phone``, else the primary item of the list."""
        if self.phone:
            return self.phone
        for phone in self.donor_phone_numbers:
            if phone.is_primary:
                return phone.number
        return None

    @property
    def primary(self) -> DonorAddress | None:
        """The primary address: ``primaryAddress``, else the primary item of the list."""
        if self.primary_address is not None:
            return self.primary_address
        return next((a for a in self.donor_addresses if a.is_primary), None)


class Gift(_Answer):
    """A gift made on the giving form, as the activity feed's ``gift`` carries it."""

    id: int
    amount: Decimal
    date: datetime | None = None
    project_code: str | None = None
    billing_address: DonorAddress | None = None

    @field_validator("date")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)


class Activity(_Answer):
    """One item of recent activity (``GET /api/Activity/list``): the change feed."""

    id: int
    donor_id: int
    type: str
    channel: str
    actor: str | None = None
    occurred_at: datetime
    changes: dict[str, Any] = Field(default_factory=dict)
    donor: Donor | None = None
    gift: Gift | None = None

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class ActivityPage(_Answer):
    """A page of the activity feed, oldest first."""

    items: list[Activity]
    total: int | None = None


class DonorPage(_Answer):
    """A page of ``GET /api/Donor/list`` or ``/api/Donor/search``."""

    items: list[Donor]
    total: int | None = None


class IntegrationSettings(_Answer):
    """System Settings > Integrations > Virtuous CRM+ Sync, as ``/api/Integration/Virtuous``
    returns it."""

    authorized_user: str | None = None
    sync_projects: bool = False
    sync_contacts: bool = False
    contact_sync_enabled_at: datetime | None = None

    @field_validator("contact_sync_enabled_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)


class Tokens(BaseModel):
    """The answer of ``/oauth/authorize`` and ``/oauth/token``."""

    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    refresh_token: str | None = None
    expires_in: int = 3600


def donor_fields(donor: Donor) -> dict[str, Any]:
    """A donor as the flat change fields (:data:`DONOR_FIELDS`): only the primary address and
    the primary phone, as the sync carries them."""
    address = donor.primary
    fields: dict[str, Any] = {
        "donor_id": donor.id,
        "is_organization": donor.is_organization,
        "first_name": donor.first_name,
        "last_name": donor.last_name,
        "organization_name": donor.organization_name,
        "email": donor.email,
        "phone": donor.primary_phone,
    }
    for name in ADDRESS_FIELDS:
        fields[name] = getattr(address, name) if address is not None else None
    fields["virtuous_contact_id"] = donor.virtuous_contact_id
    return fields


def gift_fields(gift: Gift) -> dict[str, Any]:
    """A gift's own change fields (:data:`GIFT_FIELDS`): the amount as text with cents, the
    gift's date (its UTC day, ``YYYY-MM-DD``: what an import's gift date is)."""
    return {
        "gift_id": gift.id,
        "amount": str(gift.amount.quantize(_CENT)),
        "gift_date": gift.date.date().isoformat() if gift.date is not None else None,
        "project_code": gift.project_code,
    }
