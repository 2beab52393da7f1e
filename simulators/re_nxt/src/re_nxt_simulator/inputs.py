"""Request bodies the SKY API accepts, as pydantic models checked strictly.

Field names, required fields and character limits follow the public models (ConstituentAdd,
ConstituentEdit, EmailAddressAdd/Edit, AddressAdd/Edit, PhoneAdd/Edit, ConstituentConsentAdd,
ConstituentSolicitCodeAdd). Unlike the real API, which is assumed to ignore properties it does not
know, an unknown property is refused with an error naming it: a misspelt field would otherwise be
lost silently.

Edits are applied with ``model_dump(exclude_unset=True)``: a property left out is unchanged, a
property sent as ``null`` is cleared (where the API allows it).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

__all__ = [
    "AddressAdd",
    "AddressEdit",
    "ConsentAdd",
    "ConsentFields",
    "ConstituentAdd",
    "ConstituentAddressAdd",
    "ConstituentEdit",
    "ConstituentEmailAdd",
    "ConstituentPhoneAdd",
    "EmailAddressAdd",
    "EmailAddressEdit",
    "FuzzyDate",
    "PhoneAdd",
    "PhoneEdit",
    "SolicitCodeAdd",
    "SolicitCodeEdit",
    "SolicitCodeFields",
    "edits",
    "parse_sky_datetime",
]

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

#: Properties a constituent carries only when it is an individual.
INDIVIDUAL_ONLY: Final = (
    "first",
    "middle",
    "last",
    "preferred_name",
    "former_name",
    "title",
    "title_2",
    "suffix",
    "suffix_2",
    "gender",
    "marital_status",
    "birthdate",
    "deceased",
    "deceased_date",
)


def parse_sky_datetime(value: str) -> datetime:
    """An ISO-8601 time as the API takes it: with an offset, with ``Z``, without one (read as
    UTC) or a date alone (midnight UTC). ``ValueError`` when it is none of these."""
    text = value.strip()
    if not text:
        raise ValueError("is empty; give an ISO-8601 date or time")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO-8601 date or time (e.g. 2026-01-01T09:00:00+00:00)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _to_datetime(value: object) -> object:
    if isinstance(value, str):
        return parse_sky_datetime(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _check_email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid email address")
    return value


SkyDateTime = Annotated[datetime, BeforeValidator(_to_datetime)]
EmailText = Annotated[str, StringConstraints(max_length=255), AfterValidator(_check_email)]
Text50 = Annotated[str, StringConstraints(max_length=50)]
Text60 = Annotated[str, StringConstraints(max_length=60)]
Text100 = Annotated[str, StringConstraints(max_length=100)]
Text150 = Annotated[str, StringConstraints(max_length=150)]
Text12 = Annotated[str, StringConstraints(max_length=12)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
TypeName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FuzzyDate(_Body):
    """A date whose parts may be unknown: ``{"d": 21, "m": 11, "y": 1969}``."""

    d: int | None = Field(None, ge=1, le=31)
    m: int | None = Field(None, ge=1, le=12)
    y: int | None = Field(None, ge=1, le=9999)


# ---- constituents --------------------------------------------------------------------------


class ConstituentEmailAdd(_Body):
    """The ``email`` of a new constituent."""

    address: EmailText
    type: TypeName
    primary: bool | None = None
    do_not_email: bool = False
    inactive: bool = False


class ConstituentPhoneAdd(_Body):
    """The ``phone`` of a new constituent."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    type: TypeName
    primary: bool | None = None
    do_not_call: bool = False
    inactive: bool = False


class ConstituentAddressAdd(_Body):
    """The ``address`` of a new constituent (it becomes the preferred address)."""

    type: TypeName
    address_lines: Text150 | None = None
    city: Text50 | None = None
    state: Text50 | None = None
    postal_code: Text12 | None = None
    country: Text50 | None = None
    county: Text50 | None = None
    suburb: Text50 | None = None
    do_not_mail: bool = False
    start: SkyDateTime | None = None
    end: SkyDateTime | None = None
    seasonal_start: FuzzyDate | None = None
    seasonal_end: FuzzyDate | None = None
    information_source: Text50 | None = None
    region: Text50 | None = None
    cart: Text50 | None = None
    lot: Text50 | None = None
    dpc: Text50 | None = None


class _ConstituentProfile(_Body):
    lookup_id: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    first: Text50 | None = None
    middle: Text50 | None = None
    last: Text100 | None = None
    name: Text60 | None = None
    preferred_name: Text50 | None = None
    former_name: Text100 | None = None
    title: Text50 | None = None
    title_2: Text50 | None = None
    suffix: Text50 | None = None
    suffix_2: Text50 | None = None
    gender: Text50 | None = None
    marital_status: Text50 | None = None
    birthdate: FuzzyDate | None = None
    deceased: bool | None = None
    deceased_date: FuzzyDate | None = None
    gives_anonymously: bool | None = None
    inactive: bool | None = None


class ConstituentAdd(_ConstituentProfile):
    """``POST /constituent/v1/constituents``."""

    type: Literal["Individual", "Organization"]
    email: ConstituentEmailAdd | None = None
    phone: ConstituentPhoneAdd | None = None
    address: ConstituentAddressAdd | None = None
    date_added: SkyDateTime | None = None

    @model_validator(mode="after")
    def _fits_its_type(self) -> Self:
        if self.type == "Individual":
            if not self.last:
                raise ValueError("last is required for an Individual")
            if self.name is not None:
                raise ValueError("name is computed for an Individual (give first and last instead)")
        else:
            if not self.name:
                raise ValueError("name is required for an Organization")
            given = [field for field in INDIVIDUAL_ONLY if getattr(self, field) is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: for an Individual only")
        return self


class ConstituentEdit(_ConstituentProfile):
    """``PATCH /constituent/v1/constituents/{id}``: which fields fit is checked against the
    record's type by the store."""


# ---- email addresses, addresses, phones ------------------------------------------------------


class EmailAddressAdd(ConstituentEmailAdd):
    """``POST /constituent/v1/emailaddresses``."""

    constituent_id: RecordId


class EmailAddressEdit(_Body):
    """``PATCH /constituent/v1/emailaddresses/{id}`` (``address`` and ``type`` cannot be null)."""

    address: EmailText | None = None
    type: TypeName | None = None
    primary: bool | None = None
    do_not_email: bool | None = None
    inactive: bool | None = None


class AddressAdd(ConstituentAddressAdd):
    """``POST /constituent/v1/addresses``."""

    constituent_id: RecordId
    preferred: bool | None = None


class AddressEdit(_Body):
    """``PATCH /constituent/v1/addresses/{id}`` (``type`` cannot be null)."""

    type: TypeName | None = None
    address_lines: Text150 | None = None
    city: Text50 | None = None
    state: Text50 | None = None
    postal_code: Text12 | None = None
    country: Text50 | None = None
    county: Text50 | None = None
    suburb: Text50 | None = None
    preferred: bool | None = None
    do_not_mail: bool | None = None
    start: SkyDateTime | None = None
    end: SkyDateTime | None = None
    seasonal_start: FuzzyDate | None = None
    seasonal_end: FuzzyDate | None = None
    information_source: Text50 | None = None
    region: Text50 | None = None
    cart: Text50 | None = None
    lot: Text50 | None = None
    dpc: Text50 | None = None


class PhoneAdd(ConstituentPhoneAdd):
    """``POST /constituent/v1/phones``."""

    constituent_id: RecordId


class PhoneEdit(_Body):
    """``PATCH /constituent/v1/phones/{id}`` (``number`` and ``type`` cannot be null)."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    type: TypeName | None = None
    primary: bool | None = None
    do_not_call: bool | None = None
    inactive: bool | None = None


# ---- communication preferences ---------------------------------------------------------------


class ConsentFields(_Body):
    """A consent response, whoever it is for."""

    channel: TypeName
    category: TypeName | None = None
    source: TypeName | None = None
    constituent_consent_response: Literal["OptIn", "OptOut", "NoResponse"]
    consent_date: SkyDateTime
    consent_statement: Annotated[str, StringConstraints(max_length=4000)] | None = None
    privacy_notice: Annotated[str, StringConstraints(max_length=4000)] | None = None


class ConsentAdd(ConsentFields):
    """``POST /commpref/v1/consent/consents``."""

    constituent_id: RecordId


class SolicitCodeFields(_Body):
    """A solicit code with its dates, whoever it is for."""

    solicit_code: TypeName
    start_date: SkyDateTime | None = None
    end_date: SkyDateTime | None = None


class SolicitCodeAdd(SolicitCodeFields):
    """``POST /commpref/v1/constituentsolicitcodes``."""

    constituent_id: RecordId


class SolicitCodeEdit(_Body):
    """``PATCH /commpref/v1/constituentsolicitcodes/{id}``."""

    solicit_code: TypeName | None = None
    start_date: SkyDateTime | None = None
    end_date: SkyDateTime | None = None


def edits(model: BaseModel) -> dict[str, Any]:
    """The properties a client actually sent (``null`` included), as plain values."""
    sent = model.model_dump(exclude_unset=True)
    for key in list(sent):
        value = getattr(model, key)
        if isinstance(value, FuzzyDate):
            sent[key] = value.model_dump(exclude_none=True)
    return sent
