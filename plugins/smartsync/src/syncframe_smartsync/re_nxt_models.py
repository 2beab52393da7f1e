"""What the SKY API sends back, as pydantic models, and the record vocabulary the RE NXT
components speak.

Answers are read with ``extra="ignore"``: the API adds properties over time, and a client that
refused them would break on the day it does. What a client writes is built from
:class:`ContactFields`, which checks the common vocabulary of the SmartSYNC-style plugin (and
RE NXT's limits on it) before anything is sent, so a bad record is refused with the field named
instead of half written.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

__all__ = [
    "ADDRESS_FIELDS",
    "EMAIL_STATUSES",
    "VOCABULARY",
    "AddressRead",
    "ConsentRead",
    "ConstituentPage",
    "ConstituentRead",
    "ContactFields",
    "EmailAddressRead",
    "EmailStatus",
    "PhoneRead",
    "SearchPage",
    "SearchResult",
    "SolicitCodeRead",
    "TokenAnswer",
    "digits_of",
]

EmailStatus = Literal["subscribed", "unsubscribed", "cleaned", "pending"]
#: The email consent states of the vocabulary (Mailchimp's member statuses).
EMAIL_STATUSES: Final[tuple[str, ...]] = ("subscribed", "unsubscribed", "cleaned", "pending")
#: Vocabulary fields that make up the postal address, in the order they are written.
ADDRESS_FIELDS: Final = ("address1", "city", "state", "postal_code", "country")
#: Every field of the common vocabulary, as the source emits them.
VOCABULARY: Final = (
    "constituent_id",
    "email",
    "first_name",
    "last_name",
    "nickname",
    *ADDRESS_FIELDS,
    "phone",
    "email_status",
)

_NOT_DIGIT: Final = re.compile(r"\D+")
# What RE NXT accepts as an email address (its own validation is not documented; this is the
# simulator's rule, which any real address passes).
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def digits_of(number: str) -> str:
    """A phone number's digits only, for comparing numbers written differently."""
    return _NOT_DIGIT.sub("", number)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TokenAnswer(_Answer):
    """What ``POST /token`` answers (the parts the client uses)."""

    access_token: str = Field(min_length=1)
    expires_in: int = Field(3600, ge=1)
    refresh_token: str | None = None


class EmailAddressRead(_Answer):
    """A constituent's email address."""

    id: str
    address: str
    type: str | None = None
    primary: bool = False
    do_not_email: bool = False
    inactive: bool = False


class PhoneRead(_Answer):
    """A constituent's phone."""

    id: str
    number: str
    type: str | None = None
    primary: bool = False
    do_not_call: bool = False
    inactive: bool = False


class AddressRead(_Answer):
    """A constituent's postal address."""

    id: str
    type: str | None = None
    address_lines: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    preferred: bool = False
    inactive: bool = False

    def vocabulary(self) -> dict[str, str | None]:
        """The address as the vocabulary names it (``address_lines`` -> ``address1``)."""
        return {
            "address1": self.address_lines or None,
            "city": self.city or None,
            "state": self.state or None,
            "postal_code": self.postal_code or None,
            "country": self.country or None,
        }


class ConstituentRead(_Answer):
    """A constituent as ``GET /constituents`` and ``GET /constituents/{id}`` show it, with its
    primary email address and phone and its preferred address embedded."""

    id: str
    type: str = "Individual"
    lookup_id: str
    name: str | None = None
    first: str | None = None
    last: str | None = None
    preferred_name: str | None = None
    date_added: AwareDatetime
    date_modified: AwareDatetime
    inactive: bool = False
    deceased: bool = False
    email: EmailAddressRead | None = None
    phone: PhoneRead | None = None
    address: AddressRead | None = None


class ConstituentPage(_Answer):
    """One page of a constituent list."""

    count: int = 0
    value: list[ConstituentRead] = Field(default_factory=list)
    next_link: str | None = None


class _IdOnly(_Answer):
    id: str


class IdPage(_Answer):
    """One page of a list asked with ``fields=id``."""

    value: list[_IdOnly] = Field(default_factory=list)
    next_link: str | None = None


class SearchResult(_Answer):
    """A hit of ``GET /constituents/search``."""

    id: str
    lookup_id: str | None = None
    name: str | None = None
    email: str | None = None
    inactive: bool = False
    deceased: bool = False


class SearchPage(_Answer):
    """One page of search results."""

    count: int = 0
    value: list[SearchResult] = Field(default_factory=list)
    next_link: str | None = None


class ConsentRead(_Answer):
    """A consent response (the Communication Preference API)."""

    id: str
    channel: str
    category: str | None = None
    source: str | None = None
    constituent_consent_response: str
    consent_date: AwareDatetime
    date_added: AwareDatetime | None = None


class SolicitCodeRead(_Answer):
    """A solicit code on a constituent, current between its dates."""

    id: str
    solicit_code: str
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None

    def current_at(self, now: datetime) -> bool:
        """Whether the code applies at ``now``."""
        started = self.start_date is None or self.start_date <= now
        return started and (self.end_date is None or self.end_date > now)


class _Collection(_Answer):
    count: int = 0


class EmailAddressList(_Collection):
    value: list[EmailAddressRead] = Field(default_factory=list)


class PhoneList(_Collection):
    value: list[PhoneRead] = Field(default_factory=list)


class ConsentList(_Collection):
    value: list[ConsentRead] = Field(default_factory=list)


class SolicitCodeList(_Collection):
    value: list[SolicitCodeRead] = Field(default_factory=list)


class CreatedAnswer(_Answer):
    """What a create answers: the new record's id."""

    id: str


# ---- the vocabulary, as the sink receives it ------------------------------------------------


def _optional_text(value: Any) -> Any:
    """An empty or blank text is "no value" (it never clears what RE NXT holds); a number (a
    postal code read as 2118, a Constituent ID as 100001) is taken as its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _optional_email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _optional_status(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().lower()
        return value or None
    return value


_Optional = BeforeValidator(_optional_text)
Text12 = Annotated[Annotated[str, StringConstraints(max_length=12)] | None, _Optional]
Text50 = Annotated[Annotated[str, StringConstraints(max_length=50)] | None, _Optional]
Text100 = Annotated[Annotated[str, StringConstraints(max_length=100)] | None, _Optional]
Text150 = Annotated[Annotated[str, StringConstraints(max_length=150)] | None, _Optional]
EmailText = Annotated[
    Annotated[str, StringConstraints(max_length=255)] | None,
    _Optional,
    AfterValidator(_optional_email),
]
StatusText = Annotated[EmailStatus | None, BeforeValidator(_optional_status)]


class ContactFields(BaseModel):
    """The vocabulary fields a change brings to RE NXT, checked against RE NXT's limits.

    A field left out, ``None`` or blank is "no value": RE NXT keeps what it has.
    """

    model_config = ConfigDict(extra="forbid")

    constituent_id: Text50 = None
    email: EmailText = None
    first_name: Text50 = None
    last_name: Text100 = None
    nickname: Text50 = None
    address1: Text150 = None
    city: Text50 = None
    state: Text50 = None
    postal_code: Text12 = None
    country: Text50 = None
    phone: Text100 = None
    email_status: StatusText = None

    def address(self) -> dict[str, str]:
        """The address fields that have a value, as the vocabulary names them."""
        return {name: value for name in ADDRESS_FIELDS if (value := getattr(self, name))}
