"""The records a Raiser's Edge 7 database holds, as the RE connector for Luminate sees them, and
how the query interface shows them.

Records are slotted objects sized for 100,000 constituents and 500,000 gifts: an absent value is
``None``, a constituent's addresses, phones and codes are tuples (an empty one is shared), and a
gift's attributes are a tuple of ``(name, value)`` pairs (most gifts have none).

Ids (our choice of format, see ``docs/simulators/raisers_edge.md``): an **Import ID** is
``00001-079-0000123`` for a constituent and ``00001-145-0000123`` for a gift (database number,
record kind, sequence), a **Constituent ID** a number from 10001.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

__all__ = [
    "CODE_TABLES",
    "CONSTITUENT_IMPORT_ID",
    "EMAIL_PHONE_TYPES",
    "FIRST_CONSTITUENT_ID",
    "GIFT_IMPORT_ID",
    "GIFT_SUBTYPES",
    "GIFT_TYPES",
    "LUMINATE_GIFT_ID",
    "PAYMENT_TYPES",
    "PRIMARY_EMAIL_TYPE",
    "Address",
    "CodeEntry",
    "CodeTable",
    "Constituent",
    "Gift",
    "GiftSubtype",
    "GiftType",
    "Phone",
    "iso",
    "money",
]

#: The cross-reference code tables the connector reads (``GET /re/v1/code-tables/{table}``).
CODE_TABLES: Final = ("Campaign", "Fund", "Appeal")
CodeTable = Literal["Campaign", "Fund", "Appeal"]

#: The gift types this database holds. Luminate's purchases land as ``Cash`` with a subtype.
GIFT_TYPES: Final = ("Cash", "Pledge", "Pay-Cash", "Recurring Gift", "Recurring Gift Pay-Cash")
GiftType = Literal["Cash", "Pledge", "Pay-Cash", "Recurring Gift", "Recurring Gift Pay-Cash"]
#: Payment types and the type of the gift each one pays.
PAYMENT_TYPES: Final[dict[str, str]] = {
    "Pay-Cash": "Pledge",
    "Recurring Gift Pay-Cash": "Recurring Gift",
}
GiftSubtype = Literal[
    "Ticket Purchase", "eCommerce Purchase", "TeamRaiser Registration", "Tribute Donation"
]
#: Gift subtypes: what a Luminate transaction that is not a plain donation lands as.
GIFT_SUBTYPES: Final = (
    "Ticket Purchase",
    "eCommerce Purchase",
    "TeamRaiser Registration",
    "Tribute Donation",
)

#: The gift attribute holding the Luminate transaction id (KB 65821).
LUMINATE_GIFT_ID: Final = "Luminate Online Gift ID"

#: Phone types that hold an email address; ``Email`` is the one the connector exports and the
#: one Luminate's PRIMARY_EMAIL updates.
EMAIL_PHONE_TYPES: Final = frozenset({"Email", "Business Email", "Alternate Email"})
PRIMARY_EMAIL_TYPE: Final = "Email"

CONSTITUENT_IMPORT_ID: Final = re.compile(r"00001-079-(\d{7})")
GIFT_IMPORT_ID: Final = re.compile(r"00001-145-(\d{7})")
FIRST_CONSTITUENT_ID: Final = 10001

_CENT: Final = Decimal("0.01")


def iso(moment: datetime) -> str:
    """A time as the query interface writes it: ISO-8601 in UTC with its offset."""
    return moment.astimezone(UTC).isoformat()


def money(amount: Decimal) -> str:
    """An amount as the interface writes it: two decimals, ``25.00``."""
    return str(amount.quantize(_CENT))


@dataclass(slots=True, eq=False)
class Address:
    """One of a constituent's addresses; one of them is the preferred address."""

    type: str
    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    preferred: bool = False

    def render(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "street1": self.street1,
            "street2": self.street2,
            "city": self.city,
            "state": self.state,
            "zip": self.zip,
            "country": self.country,
            "preferred": self.preferred,
        }


@dataclass(slots=True, eq=False)
class Phone:
    """A phone entry; one whose type is in :data:`EMAIL_PHONE_TYPES` holds an email address."""

    type: str
    number: str

    @property
    def is_email(self) -> bool:
        return self.type in EMAIL_PHONE_TYPES

    def render(self) -> dict[str, Any]:
        return {"type": self.type, "number": self.number}


@dataclass(slots=True, eq=False)
class Constituent:
    """An individual constituent. ``luminate_id`` is the alias "Luminate ID" (Luminate's
    CONS_ID); ``is_solicitor`` marks a TeamRaiser solicitor."""

    import_id: str
    constituent_id: str
    date_added: datetime
    date_changed: datetime
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    luminate_id: str | None = None
    addresses: tuple[Address, ...] = ()
    phones: tuple[Phone, ...] = ()
    constituent_codes: tuple[str, ...] = ()
    is_solicitor: bool = False
    inactive: bool = False
    requests_no_email: bool = False

    def render(self) -> dict[str, Any]:
        """The constituent as ``GET /re/v1/constituents`` shows it (contract section 4)."""
        return {
            "import_id": self.import_id,
            "constituent_id": self.constituent_id,
            "luminate_id": self.luminate_id,
            "first_name": self.first_name,
            "middle_name": self.middle_name,
            "last_name": self.last_name,
            "date_changed": iso(self.date_changed),
            "addresses": [address.render() for address in self.addresses],
            "phones": [phone.render() for phone in self.phones],
            "constituent_codes": list(self.constituent_codes),
            "is_solicitor": self.is_solicitor,
            "inactive": self.inactive,
        }

    def render_full(self) -> dict[str, Any]:
        """Everything the database holds about the constituent (admin state)."""
        return {
            **self.render(),
            "date_added": iso(self.date_added),
            "requests_no_email": self.requests_no_email,
        }

    def phone_of_type(self, phone_type: str) -> Phone | None:
        return next((phone for phone in self.phones if phone.type == phone_type), None)

    def address_of_type(self, address_type: str) -> Address | None:
        return next((a for a in self.addresses if a.type == address_type), None)


@dataclass(slots=True, eq=False)
class Gift:
    """A gift. A ``Pledge`` has a ``balance`` that its ``Pay-Cash`` payments reduce; a payment
    names the gift it pays in ``pledge_import_id``."""

    import_id: str
    constituent_import_id: str
    type: str
    amount: Decimal
    date: date
    date_added: datetime
    date_changed: datetime
    subtype: str | None = None
    campaign: str | None = None
    fund: str | None = None
    appeal: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    tribute_name: str | None = None
    solicitor_import_id: str | None = None
    pledge_import_id: str | None = None
    balance: Decimal | None = None

    def attribute(self, name: str) -> str | None:
        return next((value for key, value in self.attributes if key == name), None)

    @property
    def luminate_gift_id(self) -> str | None:
        return self.attribute(LUMINATE_GIFT_ID)

    def render(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "constituent_import_id": self.constituent_import_id,
            "type": self.type,
            "subtype": self.subtype,
            "amount": money(self.amount),
            "date": self.date.isoformat(),
            "campaign": self.campaign,
            "fund": self.fund,
            "appeal": self.appeal,
            "attributes": dict(self.attributes),
            "tribute_name": self.tribute_name,
            "solicitor_import_id": self.solicitor_import_id,
            "pledge_import_id": self.pledge_import_id,
            "balance": money(self.balance) if self.balance is not None else None,
            "date_added": iso(self.date_added),
            "date_changed": iso(self.date_changed),
        }


@dataclass(slots=True, eq=False)
class CodeEntry:
    """One entry of a cross-reference code table."""

    code: str
    description: str
    active: bool = True

    def render(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description, "active": self.active}
