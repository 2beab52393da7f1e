"""What Virtuous CRM+ sends (camelCase JSON) as pydantic models, and the flat change fields the
sync uses for a contact.

The change fields are the ones the RaiseDonors side of the sync uses for a donor
(:mod:`syncframe_raisedonors_virtuous.raisedonors_models`): ``donor_id`` is the contact's
ReferenceId (when its ReferenceSource is "Legacy RaiseDonors"), ``virtuous_contact_id`` its id,
then the name, the primary email, phone and address. One vocabulary both ways means neither flow
needs a field mapping, and the core ``echo`` loop guard compares like with like: what the
``virtuous_import`` sink was given for a donor against what the ``virtuous_webhook`` source
later reads from the contact (``virtuous_contact_id`` included: the import's ContactCreate of a
new donor is not an echo, it tells RaiseDonors the new contact's id). One field only Virtuous
has: ``reference_source``, what the ``virtuous_reference_source`` filter tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "ADDRESS_FIELDS",
    "CONTACT_FIELDS",
    "ORGANIZATION_TYPES",
    "RAISEDONORS_REFERENCE_SOURCE",
    "ContactAddress",
    "ContactIndividual",
    "ContactMethod",
    "Tokens",
    "VirtuousContact",
    "WebhookEvent",
    "contact_fields",
]

#: The ReferenceSource of every contact Legacy RaiseDonors sent (and the only one that syncs
#: back to it).
RAISEDONORS_REFERENCE_SOURCE: Final = "Legacy RaiseDonors"
#: Contact types whose contact name is an organization's name, not a household's.
ORGANIZATION_TYPES: Final = frozenset({"Organization", "Foundation"})
#: The primary address's fields, as change fields (the RaiseDonors side's names).
ADDRESS_FIELDS: Final = ("address1", "address2", "city", "state", "postal_code", "country")
#: Every field of a contact change, in the order they are emitted.
CONTACT_FIELDS: Final = (
    "donor_id",
    "virtuous_contact_id",
    "reference_source",
    "is_organization",
    "first_name",
    "last_name",
    "organization_name",
    "email",
    "phone",
    *ADDRESS_FIELDS,
)


def _utc(value: datetime) -> datetime:
    # Virtuous writes UTC times (…DateTimeUtc); one without an offset is UTC too.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: Any) -> Any:
    """Ids and references the API may send as numbers or strings, as text ("" is empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class _Answer(BaseModel):
    """A JSON object of the API: camelCase names, unknown ones ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Tokens(BaseModel):
    """The answer of ``POST /Token`` for a user who may sign in without a second factor."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    access_token: str = Field(min_length=1)
    token_type: str = "bearer"
    expires_in: int = Field(ge=1)
    refresh_token: str | None = None
    user_name: str | None = Field(None, alias="userName")


class ContactMethod(_Answer):
    """An email address, phone number or other way to reach an individual."""

    id: int | None = None
    type: str = ""
    value: str | None = None
    is_primary: bool = False
    is_opted_in: bool | None = None

    @property
    def is_email(self) -> bool:
        """Whether it is an email address ("Home Email", "Work Email", ...)."""
        return "email" in self.type.lower()

    @property
    def is_phone(self) -> bool:
        """Whether it is a phone number ("Home Phone", "Mobile Phone", ...)."""
        return "phone" in self.type.lower()


class ContactIndividual(_Answer):
    """A person of a contact (a household has one or more; the primary one is its face)."""

    id: int | None = None
    contact_id: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_primary: bool = False
    contact_methods: list[ContactMethod] = Field(default_factory=list)

    def primary_method(self, *, email: bool) -> str | None:
        """The value of the primary email (``email=True``) or phone (``False``)."""
        for method in self.contact_methods:
            if method.is_primary and (method.is_email if email else method.is_phone):
                return method.value
        return None


class ContactAddress(_Answer):
    """A contact's address (``address`` is the primary one)."""

    id: int | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal: str | None = None
    country: str | None = None
    is_primary: bool = False


class VirtuousContact(_Answer):
    """A contact as ``GET /api/Contact/{id}`` and the webhooks send it."""

    id: int
    contact_type: str | None = None
    name: str | None = None
    reference_source: str | None = None
    reference_id: str | None = None
    address: ContactAddress | None = None
    addresses: list[ContactAddress] = Field(default_factory=list)
    contact_individuals: list[ContactIndividual] = Field(default_factory=list)
    create_date_time_utc: datetime | None = None
    modified_date_time_utc: datetime | None = None

    @field_validator("reference_id", mode="before")
    @classmethod
    def _reference_as_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("create_date_time_utc", "modified_date_time_utc")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @property
    def from_raisedonors(self) -> bool:
        """Whether Legacy RaiseDonors sent this contact (ReferenceSource "Legacy RaiseDonors")."""
        return self.reference_source == RAISEDONORS_REFERENCE_SOURCE

    @property
    def donor_id(self) -> str | None:
        """The Legacy RaiseDonors donor id: the ReferenceId of a contact RaiseDonors sent."""
        return self.reference_id if self.from_raisedonors else None

    @property
    def primary_individual(self) -> ContactIndividual | None:
        """The primary individual, else the first one."""
        for individual in self.contact_individuals:
            if individual.is_primary:
                return individual
        return self.contact_individuals[0] if self.contact_individuals else None

    @property
    def primary_address(self) -> ContactAddress | None:
        """``address``, else the address flagged primary in ``addresses``."""
        if self.address is not None:
            return self.address
        return next((a for a in self.addresses if a.is_primary), None)


class WebhookEvent(BaseModel):
    """The body of a ContactCreate/ContactUpdate delivery."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event_id: str = Field(min_length=1, alias="eventId")
    event: str = Field(min_length=1)
    source: str | None = None
    occurred_at: datetime | None = Field(None, alias="occurredAt")
    contact: VirtuousContact

    @field_validator("event_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)


def contact_fields(contact: VirtuousContact) -> dict[str, Any]:
    """A contact as the flat change fields (:data:`CONTACT_FIELDS`): the primary individual's
    name, primary email and primary phone, and the primary address, as the sync carries them."""
    individual = contact.primary_individual
    organization = contact.contact_type in ORGANIZATION_TYPES
    address = contact.primary_address
    return {
        "donor_id": contact.donor_id,
        "virtuous_contact_id": str(contact.id),
        "reference_source": contact.reference_source,
        "is_organization": organization,
        "first_name": individual.first_name if individual else None,
        "last_name": individual.last_name if individual else None,
        "organization_name": contact.name if organization else None,
        "email": individual.primary_method(email=True) if individual else None,
        "phone": individual.primary_method(email=False) if individual else None,
        "address1": address.address1 if address else None,
        "address2": address.address2 if address else None,
        "city": address.city if address else None,
        "state": address.state if address else None,
        "postal_code": address.postal if address else None,
        "country": address.country if address else None,
    }
