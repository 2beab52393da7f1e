"""A believable Raiser's Edge NXT database to sync: individuals and organizations with email
addresses, postal addresses and phones, consent histories and solicit codes.

The demo, the end-to-end tests and the benchmarks share it, so they exercise the same data; the
same ``seed`` (and the same clock) gives the same database. :func:`sample_payload` is a
``POST /_admin/seed`` payload (for a served simulator); :func:`populate` loads it into a store
and adds a newsletter list. Email domains are the reserved ``example.*`` ones and phone numbers
the fictional 555-01xx range.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from re_nxt_simulator.records import iso
from re_nxt_simulator.seeding import seed as seed_store
from re_nxt_simulator.store import RecordStore

__all__ = ["SampleDatabase", "populate", "sample_payload"]

_FIRST: Final = (
    "Ada", "Amara", "Ben", "Chen", "Dina", "Emeka", "Farah", "Grace", "Hiro", "Ines", "Ivan",
    "Jamal", "Keiko", "Liam", "Maya", "Noor", "Omar", "Priya", "Rosa", "Sam", "Tomasz", "Zoe",
)  # fmt: skip
_LAST: Final = (
    "Baker", "Costa", "Dubois", "Evans", "Garcia", "Hughes", "Ito", "Jensen", "Kumar", "Lopez",
    "Murphy", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Schmidt", "Tanaka", "Walsh", "Young",
)  # fmt: skip
_PLACES: Final = (
    ("Boston", "MA", "021", "United States"),
    ("Denver", "CO", "802", "United States"),
    ("Austin", "TX", "787", "United States"),
    ("Portland", "OR", "972", "United States"),
    ("Charleston", "SC", "294", "United States"),
    ("Chicago", "IL", "606", "United States"),
)
_STREETS: Final = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Rd", "Hill St", "Lake Way")
_ORGANIZATIONS: Final = (
    "Riverside Community Foundation",
    "Acme Manufacturing",
    "Harbor Light Trust",
    "Northwind Traders",
    "Blue Ridge Family Fund",
    "Summit Health Partners",
    "Greenfield Co-operative",
)
_DOMAINS: Final = ("example.org", "example.com", "example.net")


@dataclass
class SampleDatabase:
    """The ids :func:`populate` made, by story."""

    individuals: list[str] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    #: Individuals whose latest Email consent is an opt-in / an opt-out.
    opted_in: list[str] = field(default_factory=list)
    opted_out: list[str] = field(default_factory=list)
    #: Individuals sharing an email address with someone else (with "Shared email - ignore").
    shared_email: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    deceased: list[str] = field(default_factory=list)
    #: The static list of opted-in individuals (``list_id`` for ``GET /constituents``).
    newsletter_list_id: str = ""


def _person(
    rng: random.Random, n: int, now: datetime, stories: dict[str, list[int]]
) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, state, zip_prefix, country = rng.choice(_PLACES)
    added = now - timedelta(days=rng.randint(60, 3650), minutes=rng.randint(0, 1439))
    modified = added + (now - added) * rng.random()
    email = f"{first}.{last}{n}@{rng.choice(_DOMAINS)}".lower()
    record: dict[str, Any] = {
        "type": "Individual",
        "first": first,
        "last": last,
        "title": rng.choice(("Mr.", "Ms.", "Mx.", "Dr.", None)),
        "gender": rng.choice(("Female", "Male", "Unknown")),
        "birthdate": {
            "d": rng.randint(1, 28),
            "m": rng.randint(1, 12),
            "y": rng.randint(1940, 2004),
        },
        "date_added": iso(added),
        "date_modified": iso(modified),
        "email_addresses": [{"address": email, "type": "Email"}],
        "addresses": [
            {
                "type": "Home",
                "address_lines": f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}",
                "city": city,
                "state": state,
                "postal_code": f"{zip_prefix}{rng.randint(0, 99):02d}",
                "country": country,
            }
        ],
        "phones": [{"number": f"617-555-01{n % 100:02d}", "type": rng.choice(("Home", "Mobile"))}],
        "consents": [],
        "solicit_codes": [],
    }
    record = {key: value for key, value in record.items() if value is not None}
    if rng.random() < 0.25:
        work = f"{first[0]}{last}@{rng.choice(_DOMAINS)}".lower()
        record["email_addresses"].append({"address": work, "type": "Business", "primary": False})
    story = rng.random()
    consent_day = iso(added + (modified - added) / 2)
    if story < 0.6:
        stories["opted_in"].append(n)
        record["consents"] = [
            _consent("Email", None, "OptIn", consent_day),
            _consent("Email", "All communications", "OptIn", consent_day),
        ]
    elif story < 0.75:
        stories["opted_out"].append(n)
        record["consents"] = [_consent("Email", None, "OptOut", consent_day)]
        record["solicit_codes"] = [{"solicit_code": "Do not email"}]
    if rng.random() < 0.1:
        record["solicit_codes"].append({"solicit_code": "Do not mail"})
    # Every twentieth person is inactive and every thirtieth deceased, so even a small sample
    # has the records a default list leaves out.
    if n % 20 == 19:
        record["inactive"] = True
        stories["inactive"].append(n)
    elif n % 30 == 29:
        record["deceased"] = True
        stories["deceased"].append(n)
    return record


def _consent(channel: str, category: str | None, response: str, when: str) -> dict[str, Any]:
    consent = {
        "channel": channel,
        "constituent_consent_response": response,
        "consent_date": when,
        "source": "Website" if response == "OptIn" else "Mailchimp",
    }
    if category is not None:
        consent["category"] = category
    return consent


def sample_payload(
    *, individuals: int = 40, organizations: int = 5, now: datetime, seed: int = 2026
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """A seed payload with ``individuals`` people and ``organizations`` organizations, changed
    at times before ``now``; and the positions (in ``constituents``) of each story."""
    rng = random.Random(seed)
    stories: dict[str, list[int]] = {
        "opted_in": [],
        "opted_out": [],
        "shared_email": [],
        "inactive": [],
        "deceased": [],
    }
    constituents = [_person(rng, n, now, stories) for n in range(individuals)]
    # Two pairs of people share an address, as couples often do; RE flags them with a code.
    for first, second in ((0, 1), (2, 3)):
        if second < individuals:
            shared = constituents[first]["email_addresses"][0]["address"]
            constituents[second]["email_addresses"][0]["address"] = shared
            for index in (first, second):
                constituents[index]["solicit_codes"].append(
                    {"solicit_code": "Shared email - ignore"}
                )
                stories["shared_email"].append(index)
    for n in range(organizations):
        name = _ORGANIZATIONS[n % len(_ORGANIZATIONS)]
        added = now - timedelta(days=rng.randint(60, 3650))
        slug = name.split()[0].lower()
        constituents.append(
            {
                "type": "Organization",
                "name": name if n < len(_ORGANIZATIONS) else f"{name} {n}",
                "date_added": iso(added),
                "date_modified": iso(added + (now - added) * rng.random()),
                "email_addresses": [{"address": f"info@{slug}.example.org", "type": "Business"}],
                "phones": [{"number": f"212-555-01{n:02d}", "type": "Business"}],
            }
        )
    return {"constituents": constituents}, stories


def populate(
    store: RecordStore, *, individuals: int = 40, organizations: int = 5, seed: int = 2026
) -> SampleDatabase:
    """Load the sample into ``store`` (as a data import would) and add a newsletter list of the
    opted-in individuals; returns the ids by story."""
    payload, stories = sample_payload(
        individuals=individuals, organizations=organizations, now=store.clock.now(), seed=seed
    )
    made = [entry["id"] for entry in seed_store(store, payload)["constituents"]]

    def ids(story: str) -> list[str]:
        return [made[index] for index in stories[story]]

    database = SampleDatabase(
        individuals=made[:individuals],
        organizations=made[individuals:],
        opted_in=ids("opted_in"),
        opted_out=ids("opted_out"),
        shared_email=ids("shared_email"),
        inactive=ids("inactive"),
        deceased=ids("deceased"),
    )
    database.newsletter_list_id = store.add_list("Newsletter", database.opted_in).id
    return database
