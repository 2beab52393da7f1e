"""The records a Raiser's Edge NXT database holds, and how the SKY API shows them.

Every record has a numeric string id from its own sequence (constituents from 1001, email
addresses from 20001, addresses from 30001, phones from 40001, consents from 50001, solicit codes
from 60001), ``date_added`` and, where the API shows it, ``date_modified``, both from the
simulator clock. Rendering leaves out properties that have no value, as the API does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = [
    "DEFAULT_CODE_TABLES",
    "Address",
    "CodeTables",
    "Consent",
    "Constituent",
    "ConstituentList",
    "EmailAddress",
    "Phone",
    "SolicitCodeAssignment",
    "iso",
]

ConstituentType = Literal["Individual", "Organization"]
ConsentResponse = Literal["OptIn", "OptOut", "NoResponse"]

#: The code tables a fresh database has (ours: the real tables are each organization's own).
DEFAULT_CODE_TABLES: Final[dict[str, tuple[str, ...]]] = {
    "email_types": ("Email", "Home", "Business", "Other"),
    "phone_types": ("Home", "Mobile", "Business", "Fax", "Other"),
    "address_types": ("Home", "Business", "Seasonal", "Previous", "Other"),
    "genders": ("Female", "Male", "Other", "Unknown"),
    "consent_channels": ("Email", "Mail", "Phone", "SMS"),
    "consent_categories": ("All communications", "Fundraising", "Events", "Newsletters"),
    "consent_sources": ("Mailchimp", "Website", "Phone call", "Event", "Data import"),
    "solicit_codes": (
        "Do not solicit",
        "Do not email",
        "Do not mail",
        "Do not phone",
        "Email only",
        "Shared email - ignore",
    ),
}


def iso(moment: datetime) -> str:
    """A time as the API writes it: ISO-8601 in UTC with its offset (``+00:00``)."""
    return moment.astimezone(UTC).isoformat()


@dataclass(slots=True)
class CodeTables:
    """The organization's code tables the API checks values against, by table name."""

    tables: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CODE_TABLES))

    def entry(self, table: str, value: str) -> str | None:
        """The table's spelling of ``value`` (compared without case), or ``None``."""
        folded = value.casefold()
        return next((entry for entry in self.tables[table] if entry.casefold() == folded), None)


@dataclass(slots=True, eq=False)
class Constituent:
    """An individual or an organization; ``profile`` holds the editable properties that have a
    value (names, gender, fuzzy dates as ``{"d", "m", "y"}``, the flags)."""

    id: str
    type: ConstituentType
    lookup_id: str
    date_added: datetime
    date_modified: datetime
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def inactive(self) -> bool:
        return bool(self.profile.get("inactive", False))

    @property
    def deceased(self) -> bool:
        return bool(self.profile.get("deceased", False))

    def display_name(self) -> str:
        """``name``: the organization's name, or first, middle and last name of an individual."""
        if self.type == "Organization":
            return str(self.profile.get("name", ""))
        parts = (self.profile.get(part) for part in ("first", "middle", "last"))
        return " ".join(str(part) for part in parts if part)

    def name_key(self) -> tuple[str, str]:
        """The default list order: organizations by name, individuals by last then first."""
        if self.type == "Organization":
            return (self.display_name().casefold(), "")
        return (
            str(self.profile.get("last", "")).casefold(),
            str(self.profile.get("first", "")).casefold(),
        )


@dataclass(slots=True, eq=False)
class EmailAddress:
    id: str
    constituent_id: str
    address: str
    type: str
    primary: bool
    do_not_email: bool
    inactive: bool
    date_added: datetime
    date_modified: datetime

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": self.address,
            "constituent_id": self.constituent_id,
            "date_added": iso(self.date_added),
            "date_modified": iso(self.date_modified),
            "do_not_email": self.do_not_email,
            "inactive": self.inactive,
            "primary": self.primary,
            "type": self.type,
        }


#: Address properties kept as given (the rest are the flags and dates).
ADDRESS_TEXT: Final = (
    "address_lines",
    "city",
    "state",
    "postal_code",
    "country",
    "county",
    "suburb",
    "information_source",
    "region",
    "cart",
    "lot",
    "dpc",
)


@dataclass(slots=True, eq=False)
class Address:
    """A postal address; ``values`` holds the text properties, ``start``/``end`` and the seasonal
    fuzzy dates that have a value."""

    id: str
    constituent_id: str
    type: str
    preferred: bool
    do_not_mail: bool
    date_added: datetime
    date_modified: datetime
    values: dict[str, Any] = field(default_factory=dict)

    def inactive_at(self, now: datetime) -> bool:
        """The API's computed ``inactive``: the address has an ``end`` date that has passed."""
        end = self.values.get("end")
        return isinstance(end, datetime) and end <= now

    def formatted(self) -> str:
        """``formatted_address``: the lines, then ``city, state postal_code``, then the country
        (our layout; the real one follows each country's configured format)."""
        lines = [str(self.values["address_lines"])] if self.values.get("address_lines") else []
        city = self.values.get("city") or self.values.get("suburb")
        state, postal = self.values.get("state"), self.values.get("postal_code")
        locality = ", ".join(str(part) for part in (city, state) if part)
        if postal:
            locality = f"{locality} {postal}".strip()
        if locality:
            lines.append(locality)
        if self.values.get("country"):
            lines.append(str(self.values["country"]))
        return "\n".join(lines)

    def render(self, now: datetime) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "id": self.id,
            "constituent_id": self.constituent_id,
            "date_added": iso(self.date_added),
            "date_modified": iso(self.date_modified),
            "do_not_mail": self.do_not_mail,
            "formatted_address": self.formatted(),
            "inactive": self.inactive_at(now),
            "preferred": self.preferred,
            "type": self.type,
        }
        for key, value in self.values.items():
            rendered[key] = iso(value) if isinstance(value, datetime) else value
        return {"id": rendered.pop("id"), **dict(sorted(rendered.items()))}


@dataclass(slots=True, eq=False)
class Phone:
    id: str
    constituent_id: str
    number: str
    type: str
    primary: bool
    do_not_call: bool
    inactive: bool
    date_added: datetime
    date_modified: datetime

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "constituent_id": self.constituent_id,
            "date_added": iso(self.date_added),
            "date_modified": iso(self.date_modified),
            "do_not_call": self.do_not_call,
            "inactive": self.inactive,
            "number": self.number,
            "primary": self.primary,
            "type": self.type,
        }


@dataclass(slots=True, eq=False)
class Consent:
    """One consent response; a constituent's consents are a history, never edited."""

    id: str
    constituent_id: str
    channel: str
    category: str | None
    source: str | None
    response: ConsentResponse
    consent_date: datetime
    consent_statement: str | None
    privacy_notice: str | None
    date_added: datetime
    user_name: str

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "id": self.id,
            "channel": self.channel,
            "category": self.category,
            "source": self.source,
            "constituent_consent_response": self.response,
            "consent_date": iso(self.consent_date),
            "consent_statement": self.consent_statement,
            "privacy_notice": self.privacy_notice,
            "date_added": iso(self.date_added),
            "user_name": self.user_name,
        }
        return {key: value for key, value in rendered.items() if value is not None}


@dataclass(slots=True, eq=False)
class SolicitCodeAssignment:
    """A solicit code on a constituent (``Do not email``...), current between its dates."""

    id: str
    constituent_id: str
    solicit_code: str
    start_date: datetime | None
    end_date: datetime | None
    date_added: datetime
    date_modified: datetime

    def current_at(self, now: datetime) -> bool:
        started = self.start_date is None or self.start_date <= now
        return started and (self.end_date is None or self.end_date > now)

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "id": self.id,
            "constituent_id": self.constituent_id,
            "solicit_code": self.solicit_code,
            "start_date": iso(self.start_date) if self.start_date else None,
            "end_date": iso(self.end_date) if self.end_date else None,
        }
        return {key: value for key, value in rendered.items() if value is not None}


@dataclass(slots=True, eq=False)
class ConstituentList:
    """A static constituent list (``list_id`` of the constituent list), kept by the admin."""

    id: str
    name: str
    constituent_ids: list[str]
    date_modified: datetime
