"""A believable Virtuous CRM+ organization to sync: users of every kind, an API key, and
contacts (households, organizations, foundations) with individuals, emails, phones and
addresses, many of them carrying the "Legacy RaiseDonors" reference.

Demos, end-to-end tests and benchmarks share it, so they exercise the same data. The same
``seed`` gives the same organization. Contacts are added as seeding does (no webhook fires);
:func:`ncoa_moves` gives a matching NCOA file of new addresses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from virtuous_simulator.app import VirtuousSimulator
from virtuous_simulator.contacts import ContactIn

__all__ = [
    "RAISEDONORS_SOURCE",
    "SAMPLE_USERS",
    "SampleOrganization",
    "ncoa_moves",
    "populate",
    "sample_contacts",
]

RAISEDONORS_SOURCE: Final = "Legacy RaiseDonors"
#: (username, password, display name, two-factor, SSO): one of each kind the sync meets.
SAMPLE_USERS: Final = (
    ("sync@raisedonors-sync.example.org", "Sync-Pa55word", "RaiseDonors Sync", False, False),
    ("jane.admin@example.org", "Jane-Pa55word", "Jane Admin", True, False),
    ("sam.sso@example.org", "Sam-Pa55word", "Sam Single-Sign-On", False, True),
)
_FIRST: Final = (
    "Ada", "Ben", "Chen", "Dina", "Emeka", "Farah", "Grace", "Hugo", "Ivan", "Jade", "Kofi",
    "Lena", "Maya", "Nico", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
)  # fmt: skip
_LAST: Final = (
    "Baker", "Costa", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kumar",
    "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Quist", "Rossi", "Silva", "Tanaka", "Weber",
)  # fmt: skip
_STREETS: Final = (
    "Elm Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Pine Road", "Lakeview Court",
    "Hillcrest Way", "Sunset Boulevard", "River Road", "Park Place",
)  # fmt: skip
#: (city, state, first three digits of the ZIP code)
_CITIES: Final = (
    ("Austin", "TX", "787"), ("Boston", "MA", "021"), ("Denver", "CO", "802"),
    ("Portland", "OR", "972"), ("Nashville", "TN", "372"), ("Madison", "WI", "537"),
    ("Raleigh", "NC", "276"), ("Tucson", "AZ", "857"), ("Omaha", "NE", "681"),
)  # fmt: skip
_ORGANIZATIONS: Final = (
    "Riverside Community Church", "Acme Hardware Co.", "Northside Rotary Club",
    "Bright Futures Academy", "Summit Dental Group", "Greenway Grocers",
)  # fmt: skip
_FOUNDATIONS: Final = (
    "The Hartley Family Foundation", "Morning Star Foundation", "Evergreen Trust",
    "The Okafor Charitable Fund",
)  # fmt: skip


@dataclass
class SampleOrganization:
    """What :func:`populate` added."""

    users: list[str] = field(default_factory=list)
    api_key: str = ""
    contacts: list[int] = field(default_factory=list)
    #: Contacts carrying the "Legacy RaiseDonors" reference: contact id -> donor id.
    raisedonors: dict[int, str] = field(default_factory=dict)


def _address(rng: random.Random, primary: bool) -> dict[str, Any]:
    city, state, zip_prefix = rng.choice(_CITIES)
    return {
        "address1": f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}",
        "address2": f"Apt {rng.randint(1, 40)}" if rng.random() < 0.15 else None,
        "city": city,
        "state": state,
        "postal": f"{zip_prefix}{rng.randint(0, 99):02d}",
        "country": "United States",
        "isPrimary": primary,
    }


def _phone(rng: random.Random) -> str:
    return f"({rng.randint(201, 989)}) 555-{rng.randint(0, 9999):04d}"


def sample_contacts(
    count: int, *, seed: int = 2026, raisedonors_share: float = 0.6, first_donor_id: int = 100001
) -> Iterator[dict[str, Any]]:
    """``count`` contacts as ``POST /api/Contact`` (and the seed) take them. About
    ``raisedonors_share`` of them carry the "Legacy RaiseDonors" reference (donor ids counting
    from ``first_donor_id``); emails are unique."""
    rng = random.Random(seed)
    donor_id = first_donor_id
    for n in range(1, count + 1):
        roll = rng.random()
        contact_type = (
            "Household" if roll < 0.8 else "Organization" if roll < 0.92 else "Foundation"
        )
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        methods: list[dict[str, Any]] = [
            {
                "type": "Home Email" if contact_type == "Household" else "Work Email",
                "value": f"{first}.{last}.{n}@example.org".lower(),
                "isPrimary": True,
                "isOptedIn": rng.random() < 0.7,
            },
            {"type": "Home Phone", "value": _phone(rng), "isPrimary": True},
        ]
        if rng.random() < 0.3:
            methods.append({"type": "Mobile Phone", "value": _phone(rng), "isPrimary": False})
        individuals = [
            {"firstName": first, "lastName": last, "isPrimary": True, "contactMethods": methods}
        ]
        name = f"{first} {last}"
        if contact_type == "Household" and rng.random() < 0.25:
            partner = rng.choice(_FIRST)
            individuals.append({"firstName": partner, "lastName": last, "isPrimary": False})
            name = f"{first} and {partner} {last}"
        elif contact_type == "Organization":
            name = rng.choice(_ORGANIZATIONS)
        elif contact_type == "Foundation":
            name = rng.choice(_FOUNDATIONS)
        addresses = [_address(rng, True)]
        if rng.random() < 0.2:
            addresses.append(_address(rng, False))  # a second, older address
        contact: dict[str, Any] = {
            "contactType": contact_type,
            "name": name,
            "addresses": addresses,
            "contactIndividuals": individuals,
        }
        if rng.random() < raisedonors_share:
            contact["referenceSource"] = RAISEDONORS_SOURCE
            contact["referenceId"] = str(donor_id)
            donor_id += 1
        yield contact


def populate(sim: VirtuousSimulator, *, contacts: int = 50, seed: int = 2026) -> SampleOrganization:
    """Add the :data:`SAMPLE_USERS`, an API key named "Syncframe Demo" and ``contacts``
    contacts from :func:`sample_contacts`, as seeding does (no webhook fires)."""
    added = SampleOrganization()
    for username, password, name, two_factor, sso in SAMPLE_USERS:
        sim.add_user(username, password, name=name, two_factor_enabled=two_factor, sso=sso)
        added.users.append(username)
    added.api_key = sim.add_api_key("Syncframe Demo")
    with sim.lock:
        for data in sample_contacts(contacts, seed=seed):
            contact = sim.contacts.create(
                ContactIn.model_validate(data), source="admin", user="Seed", notify=False
            )
            added.contacts.append(contact.id)
            if contact.reference_source == RAISEDONORS_SOURCE and contact.reference_id:
                added.raisedonors[contact.id] = contact.reference_id
    return added


def ncoa_moves(contact_ids: Sequence[int], *, seed: int = 7) -> list[dict[str, Any]]:
    """An NCOA file for ``contact_ids``: ``[{"contactId", "address"}]`` with a new address
    each, as ``POST /_admin/virtuous/ncoa`` takes it."""
    rng = random.Random(seed)
    moves = []
    for contact_id in contact_ids:
        address = _address(rng, True)
        del address["isPrimary"]
        moves.append({"contactId": contact_id, "address": address})
    return moves
