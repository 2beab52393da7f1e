"""A believable Raiser's Edge database for the RE connector: constituents with addresses, phones
and email phones, TeamRaiser solicitors, code tables, and gifts of every type with open pledges
and recurring gifts.

The demo, the end-to-end tests and the 100,000-constituent benchmark share it. The same ``seed``
(and the same clock) gives the same database. Records are built directly and inserted in bulk,
so 100,000 constituents and 500,000 gifts load in seconds.

It holds a share of each case the connector's rules tell apart (the lists of
:class:`SampleDatabase`): constituents without a last name, without an email, with an email
only of a secondary email type, sharing an email, inactive, already synced to Luminate (alias
"Luminate ID"), TeamRaiser solicitors with and without an email, and gifts already synced
(attribute "Luminate Online Gift ID"). Email domains are the reserved ``example.*`` ones and
phone numbers the fictional 555-01xx range.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final, TypeVar

from raisers_edge_simulator._bulk import paused_gc
from raisers_edge_simulator.database import RaisersEdgeDatabase
from raisers_edge_simulator.records import (
    LUMINATE_GIFT_ID,
    Address,
    CodeEntry,
    Constituent,
    Gift,
    Phone,
)

__all__ = ["SAMPLE_CODE_TABLES", "SampleDatabase", "populate"]

#: The code tables of the sample: (code, description, active).
SAMPLE_CODE_TABLES: Final[dict[str, tuple[tuple[str, str, bool], ...]]] = {
    "Campaign": (
        ("ANNUAL26", "Annual Fund 2026", True),
        ("CAPITAL", "Capital Campaign", True),
        ("TR26", "TeamRaiser 2026", True),
        ("ANNUAL25", "Annual Fund 2025", False),
    ),
    "Fund": (
        ("GENERAL", "General Operating", True),
        ("SCHOLAR", "Scholarship Fund", True),
        ("BUILD", "Building Fund", True),
        ("EVENTS", "Special Events", True),
        ("OLDENDOW", "Retired Endowment", False),
    ),
    "Appeal": (
        ("SPRING26", "Spring Appeal 2026", True),
        ("YEAREND", "Year-End Appeal", True),
        ("WEB", "Online Giving", True),
        ("RUN5K", "River Run 5K", True),
        ("GALA", "Gala Dinner", True),
        ("MAIL24", "2024 Direct Mail", False),
    ),
}

_FIRST: Final = (
    "Ada", "Amara", "Ben", "Carmen", "Chen", "Dina", "Emeka", "Farah", "Grace", "Hiro", "Ines",
    "Ivan", "Jamal", "Keiko", "Liam", "Lucia", "Maya", "Noor", "Omar", "Priya", "Rosa", "Sam",
    "Tomasz", "Uma", "Victor", "Wen", "Yusuf", "Zoe", "Aisha", "Bruno", "Chloe", "Dmitri",
    "Elena", "Felix", "Greta", "Hassan", "Irene", "Jonah", "Kofi", "Leila",
)  # fmt: skip
_MIDDLE: Final = ("A.", "B.", "J.", "L.", "M.", "R.", "Marie", "Lee", "Ann", "James")
_LAST: Final = (
    "Baker", "Costa", "Dubois", "Evans", "Garcia", "Hughes", "Ito", "Jensen", "Kumar", "Lopez",
    "Murphy", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Schmidt", "Tanaka", "Walsh", "Young",
    "Abara", "Bergstrom", "Chowdhury", "Delgado", "Eriksen", "Fitzgerald", "Gonzalez", "Haddad",
    "Ivanova", "Johansson", "Kowalski", "Lindqvist", "Mensah", "Nakamura", "O'Brien", "Petrov",
    "Ramirez", "Santos", "Thompson", "Umarov", "Vasquez", "Wozniak", "Xu", "Yilmaz", "Zhang",
)  # fmt: skip
_PLACES: Final = (
    ("Boston", "MA", "021", "United States", "617"),
    ("Denver", "CO", "802", "United States", "303"),
    ("Austin", "TX", "787", "United States", "512"),
    ("Portland", "OR", "972", "United States", "503"),
    ("Charleston", "SC", "294", "United States", "843"),
    ("Chicago", "IL", "606", "United States", "312"),
    ("Minneapolis", "MN", "554", "United States", "612"),
    ("Savannah", "GA", "314", "United States", "912"),
    ("Toronto", "ON", "M5V", "Canada", "416"),
)
_STREETS: Final = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Rd", "Hill St", "Lake Way", "River Rd",
    "Elm St", "Church St", "Market St", "Bay View Ter",
)  # fmt: skip
_DOMAINS: Final = ("example.org", "example.com", "example.net")
_CODES: Final = ("Individual", "Alumni", "Board Member", "Volunteer", "Parent", "Friend")
_AMOUNTS: Final = tuple(
    Decimal(a) for a in ("10.00", "25.00", "35.00", "50.00", "75.00", "100.00", "250.00")
)
_PLEDGES: Final = tuple(Decimal(a) for a in ("500.00", "1000.00", "1200.00", "2500.00"))
_TRIBUTES: Final = ("In memory of Walter Hughes", "In honor of Rosa Lopez", "In memory of Nana")
# The first alias "Luminate ID" given out: Luminate's own CONS_IDs start there; and the first
# "Luminate Online Gift ID" (past the Luminate simulator's own transaction ids).
_FIRST_CONS_ID: Final = 1001001
_FIRST_TRANSACTION_ID: Final = 5001001


@dataclass
class SampleDatabase:
    """What :func:`populate` made: counts, and the Import IDs of each case."""

    constituents: int = 0
    gifts: int = 0
    #: Constituents with no last name (never exported to Luminate).
    without_last_name: list[str] = field(default_factory=list)
    #: Constituents with no email phone at all.
    without_email: list[str] = field(default_factory=list)
    #: Constituents whose only email is of type "Business Email" (not the exported "Email").
    business_email_only: list[str] = field(default_factory=list)
    #: Couples sharing one email address (they become duplicates in Luminate).
    shared_email: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    #: Constituents with the alias "Luminate ID" (already in Luminate).
    synced: list[str] = field(default_factory=list)
    #: TeamRaiser solicitors, and those of them with no email (never exported, so Luminate
    #: never learns their Import ID).
    solicitors: list[str] = field(default_factory=list)
    solicitors_without_email: list[str] = field(default_factory=list)
    #: Pledges with a balance left, recurring gifts, and gifts that came from Luminate.
    open_pledges: list[str] = field(default_factory=list)
    recurring_gifts: list[str] = field(default_factory=list)
    synced_gifts: list[str] = field(default_factory=list)


_T = TypeVar("_T")


# random.Random's choice/randint are pure Python and were most of the time of a 500,000-gift
# sample; these draw from the same generator in one call each.
def _pick(rng: random.Random, items: Sequence[_T]) -> _T:
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _next_number(taken: Iterable[str], first: int) -> int:
    """The first number from ``first`` that is past every numeric key already taken."""
    numbers = [int(key) for key in taken if key.isdigit()]
    return max([first, *(number + 1 for number in numbers)])


def _moment(now: datetime, rng: random.Random, oldest_days: int) -> datetime:
    return now - timedelta(days=_between(rng, 1, oldest_days), seconds=_between(rng, 0, 86_399))


def _constituents(
    database: RaisersEdgeDatabase, count: int, rng: random.Random, made: SampleDatabase
) -> list[Constituent]:
    now = database.clock.now()
    people: list[Constituent] = []
    next_alias = _next_number(database.by_luminate_id, _FIRST_CONS_ID)
    shared_address: str | None = None
    for n in range(count):
        first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
        city, state, zip_prefix, country, area = _pick(rng, _PLACES)
        added = _moment(now, rng, 5 * 365)
        changed = added + (now - added) * rng.random()
        person = Constituent(
            import_id=database.new_constituent_import_id(),
            constituent_id=database.new_constituent_id(),
            date_added=added,
            date_changed=changed,
            first_name=first,
            middle_name=_pick(rng, _MIDDLE) if rng.random() < 0.2 else None,
            last_name=last,
        )
        zip_code = f"{zip_prefix}{_between(rng, 0, 99):02d}" if country != "Canada" else "M5V 2T6"
        person.addresses = (
            Address(
                "Home",
                street1=f"{_between(rng, 1, 9999)} {_pick(rng, _STREETS)}",
                street2=f"Apt {_between(rng, 1, 40)}" if rng.random() < 0.1 else None,
                city=city,
                state=state,
                zip=zip_code,
                country=country,
                preferred=True,
            ),
        )
        phones = [Phone("Home", f"({area}) 555-01{_between(rng, 0, 99):02d}")]
        email = f"{first}.{last}{n}@{_pick(rng, _DOMAINS)}".lower().replace("'", "")
        case = rng.random()
        ordinary = False  # in none of the email cases above: free to be any other case
        if case < 0.01:
            person.last_name = None
            made.without_last_name.append(person.import_id)
            phones.append(Phone("Email", email))
        elif case < 0.09:
            made.without_email.append(person.import_id)
        elif case < 0.12:
            phones.append(Phone("Business Email", email))
            made.business_email_only.append(person.import_id)
        elif case < 0.13:
            # Two in a row share the first one's address: a couple.
            if shared_address is None:
                shared_address = email
            else:
                email, shared_address = shared_address, None
            phones.append(Phone("Email", email))
            made.shared_email.append(person.import_id)
        else:
            ordinary = True
            phones.append(Phone("Email", email))
            if rng.random() < 0.1:
                phones.append(Phone("Alternate Email", f"{first}{n}@example.net".lower()))
        person.phones = tuple(phones)
        codes = [_CODES[0]]
        if rng.random() < 0.3:
            codes.append(_pick(rng, _CODES[1:]))
        person.constituent_codes = tuple(codes)
        if rng.random() < 0.02:
            person.inactive = True
            made.inactive.append(person.import_id)
        if rng.random() < 0.03 and person.last_name is not None:
            person.is_solicitor = True
            made.solicitors.append(person.import_id)
            if rng.random() < 0.25 and ordinary:
                person.phones = tuple(p for p in person.phones if not p.is_email)
                made.solicitors_without_email.append(person.import_id)
        if rng.random() < 0.4 and person.phone_of_type("Email") is not None:
            person.luminate_id = str(next_alias)
            next_alias += 1
            made.synced.append(person.import_id)
        people.append(person)
    return people


def _gifts(
    database: RaisersEdgeDatabase,
    people: list[Constituent],
    count: int,
    rng: random.Random,
    made: SampleDatabase,
) -> list[Gift]:
    now = database.clock.now()
    funds = [code for code, _, _ in SAMPLE_CODE_TABLES["Fund"]]
    campaigns = [code for code, _, _ in SAMPLE_CODE_TABLES["Campaign"]]
    appeals = [code for code, _, _ in SAMPLE_CODE_TABLES["Appeal"]]
    people_by_id = {person.import_id: person for person in people}
    gifts: list[Gift] = []
    pledges: list[Gift] = []
    recurring: list[Gift] = []
    next_transaction = _next_number(database.gifts_by_luminate_id, _FIRST_TRANSACTION_ID)
    # One time of day per gift date, shared: half a million gifts need not carry half a
    # million date and datetime objects.
    days: dict[int, datetime] = {}
    gift_dates: dict[int, date] = {}
    for _ in range(count):
        day = _between(rng, 1, 3 * 365)
        added = days.get(day)
        if added is None:
            added = days[day] = (now - timedelta(days=day)).replace(hour=17, minute=30, second=0)
        roll = rng.random()
        donor = _pick(rng, people)
        paid: Gift | None = None
        if roll < 0.05:
            gift_type, amount = "Pledge", _pick(rng, _PLEDGES)
        elif roll < 0.07:
            gift_type, amount = "Recurring Gift", _pick(rng, _AMOUNTS[:4])
        elif roll < 0.17 and pledges:
            paid = _pick(rng, pledges)
            balance = paid.balance if paid.balance is not None else Decimal(0)
            if balance <= 0:
                paid = None
                gift_type, amount = "Cash", _pick(rng, _AMOUNTS)
            else:
                gift_type = "Pay-Cash"
                amount = min(balance, (paid.amount / 10).quantize(Decimal("0.01")))
                donor = people_by_id[paid.constituent_import_id]
        elif roll < 0.27 and recurring:
            paid = _pick(rng, recurring)
            gift_type, amount = "Recurring Gift Pay-Cash", paid.amount
            donor = people_by_id[paid.constituent_import_id]
        else:
            gift_type, amount = "Cash", _pick(rng, _AMOUNTS)
        gift = Gift(
            import_id=database.new_gift_import_id(),
            constituent_import_id=donor.import_id,
            type=gift_type,
            amount=amount,
            date=gift_dates.setdefault(day, added.date()),
            date_added=added,
            date_changed=added,
            fund=_pick(rng, funds) if rng.random() < 0.5 else funds[0],
            campaign=_pick(rng, campaigns) if rng.random() < 0.7 else None,
            appeal=_pick(rng, appeals) if rng.random() < 0.7 else None,
        )
        if gift_type == "Pledge":
            gift.balance = amount
            pledges.append(gift)
        elif gift_type == "Recurring Gift":
            recurring.append(gift)
        elif paid is not None:
            gift.pledge_import_id = paid.import_id
            if paid.balance is not None:
                paid.balance -= amount
                paid.date_changed = max(paid.date_changed, added)
        elif rng.random() < 0.02:
            gift.subtype = "Tribute Donation"
            gift.tribute_name = _pick(rng, _TRIBUTES)
        if gift_type in ("Cash", "Pay-Cash") and rng.random() < 0.15 and donor.luminate_id:
            gift.attributes = ((LUMINATE_GIFT_ID, str(next_transaction)),)
            next_transaction += 1
            made.synced_gifts.append(gift.import_id)
        if gift_type == "Cash" and made.solicitors and rng.random() < 0.02:
            # A gift raised by a TeamRaiser participant for their page.
            gift.solicitor_import_id = _pick(rng, made.solicitors)
        gifts.append(gift)
    made.open_pledges = [p.import_id for p in pledges if p.balance and p.balance > 0]
    made.recurring_gifts = [g.import_id for g in recurring]
    return gifts


def populate(
    database: RaisersEdgeDatabase, *, constituents: int = 1000, gifts: int = 5000, seed: int = 0
) -> SampleDatabase:
    """Fill ``database`` with ``constituents`` constituents and ``gifts`` gifts (and the code
    tables of :data:`SAMPLE_CODE_TABLES`); the same ``seed`` and clock give the same records."""
    rng = random.Random(seed)
    made = SampleDatabase()
    for table, entries in SAMPLE_CODE_TABLES.items():
        for code, description, active in entries:
            database.code_tables[table][code] = CodeEntry(code, description, active)
    with paused_gc():
        people = _constituents(database, constituents, rng, made)
        made_gifts = _gifts(database, people, gifts, rng, made) if people else []
        made.constituents, made.gifts = database.insert_generated(people, made_gifts)
    return made
