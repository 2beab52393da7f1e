"""A believable Mailchimp audience to sync: people with names, emails, addresses, phones and the
Raiser's Edge constituent id in a ``CONSID`` merge field, in every member status, with tags.

The demo, the end-to-end tests and the benchmarks share it. The same ``seed`` gives the same
people; :func:`seed_payload` is the ``POST /_admin/seed`` body, :func:`populate` loads it into a
simulator directly. Emails use the reserved ``example.*`` domains.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from mailchimp_simulator.app import DEFAULT_LIST_ID, MailchimpSimulator

__all__ = [
    "CONSID_FIELD",
    "SampleAudience",
    "SamplePerson",
    "populate",
    "sample_people",
    "seed_payload",
]

#: The merge field SmartSYNC-style flows keep the RE constituent id in.
CONSID_FIELD: Final = {"tag": "CONSID", "name": "RE Constituent ID", "type": "text"}

_FIRST: Final = (
    "Ada", "Ben", "Chen", "Dina", "Emeka", "Farah", "Grace", "Hugo", "Ivan", "Jun", "Kemi",
    "Liam", "Maya", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tomas", "Uma", "Vera",
)  # fmt: skip
_LAST: Final = (
    "Baker", "Costa", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kumar", "Lopez",
    "Murphy", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Singh", "Taylor", "Walsh", "Young",
)  # fmt: skip
_DOMAINS: Final = ("example.org", "example.com", "example.net")
_STREETS: Final = ("High St", "Church Rd", "Station Rd", "Main St", "Oak Ave", "Park Lane")
#: (city, state, zip prefix, country, phone prefix)
_PLACES: Final = (
    ("Leeds", "", "LS1", "GB", "+44 113"),
    ("Bristol", "", "BS1", "GB", "+44 117"),
    ("Manchester", "", "M1", "GB", "+44 161"),
    ("Charleston", "SC", "294", "US", "843"),
    ("Portland", "OR", "972", "US", "503"),
    ("Austin", "TX", "787", "US", "512"),
)
_TAGS: Final = ("Donor", "Volunteer", "Newsletter", "Event 2025", "Major Gift Prospect")
#: Member statuses and how often they occur (per 100 members).
_STATUS_WEIGHTS: Final = (
    ("subscribed", 80),
    ("unsubscribed", 8),
    ("cleaned", 4),
    ("pending", 4),
    ("transactional", 2),
    ("archived", 2),
)


@dataclass(frozen=True, slots=True)
class SamplePerson:
    """One made-up person; ``constituent_id`` is ``None`` for a Mailchimp-only contact."""

    first_name: str
    last_name: str
    email: str
    phone: str
    address: dict[str, str]
    constituent_id: str | None

    def merge_fields(self) -> dict[str, Any]:
        merges: dict[str, Any] = {
            "FNAME": self.first_name,
            "LNAME": self.last_name,
            "ADDRESS": dict(self.address),
            "PHONE": self.phone,
        }
        if self.constituent_id is not None:
            merges["CONSID"] = self.constituent_id
        return merges


def _address(rng: random.Random) -> tuple[dict[str, str], str]:
    city, state, zip_prefix, country, phone_prefix = rng.choice(_PLACES)
    if country == "US":
        postcode = f"{zip_prefix}{rng.randrange(10, 100)}"
        phone = f"{phone_prefix}-{rng.randrange(200, 1000)}-{rng.randrange(1000, 10000)}"
    else:
        postcode = f"{zip_prefix} {rng.randrange(1, 10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}" + (
            rng.choice("ABDEFGHJLNPQRSTUWXYZ")
        )
        phone = f"{phone_prefix} {rng.randrange(100, 1000)} {rng.randrange(1000, 10000)}"
    address = {
        "addr1": f"{rng.randrange(1, 200)} {rng.choice(_STREETS)}",
        "addr2": "",
        "city": city,
        "state": state,
        "zip": postcode,
        "country": country,
    }
    return address, phone


def sample_people(count: int, seed: int = 0, *, first_consid: int = 10_001) -> list[SamplePerson]:
    """``count`` distinct people; about four in five carry a constituent id (given out in
    sequence from ``first_consid``), the rest exist only in Mailchimp."""
    rng = random.Random(seed)
    people = []
    next_consid = first_consid
    for number in range(1, count + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        address, phone = _address(rng)
        consid = None
        if rng.random() < 0.8:
            consid = str(next_consid)
            next_consid += 1
        email = f"{first}.{last}{number}@{rng.choice(_DOMAINS)}".lower()
        people.append(SamplePerson(first, last, email, phone, address, consid))
    return people


@dataclass
class SampleAudience:
    """What :func:`populate` (or the seed payload) put in the audience."""

    list_id: str
    people: list[SamplePerson]
    statuses: dict[str, str] = field(default_factory=dict)

    def emails(self, status: str) -> list[str]:
        """The emails of the members with ``status``, in the order they were added."""
        return [email for email, s in self.statuses.items() if s == status]


def _statuses(rng: random.Random, count: int) -> list[str]:
    names = [name for name, _ in _STATUS_WEIGHTS]
    weights = [weight for _, weight in _STATUS_WEIGHTS]
    return rng.choices(names, weights, k=count)


def seed_payload(
    members: int = 200,
    seed: int = 0,
    *,
    list_id: str = DEFAULT_LIST_ID,
    now: datetime | None = None,
) -> tuple[dict[str, Any], SampleAudience]:
    """The ``POST /_admin/seed`` body for a sample audience, and what it holds.

    Members get ``last_changed`` times spread over the 30 days before ``now`` (in the order
    they are listed), so polling with ``since_last_changed`` finds a realistic trickle.
    """
    rng = random.Random(f"{seed}/mailchimp-sample")
    people = sample_people(members, seed)
    statuses = _statuses(rng, members)
    end = now or datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    step = timedelta(days=30) / max(members, 1)
    start = end - timedelta(days=30)
    seeded = []
    for index, (person, status) in enumerate(zip(people, statuses, strict=True)):
        tags = sorted(rng.sample(_TAGS, rng.choice((0, 0, 1, 1, 2))))
        changed = start + step * index
        seeded.append(
            {
                "email_address": person.email,
                "status": status,
                "merge_fields": person.merge_fields(),
                "tags": tags,
                "vip": rng.random() < 0.03,
                "last_changed": changed.isoformat(),
                "timestamp_opt": changed.isoformat() if status == "subscribed" else None,
            }
        )
    payload = {"lists": [{"id": list_id, "merge_fields": [CONSID_FIELD], "members": seeded}]}
    audience = SampleAudience(
        list_id, people, {p.email: s for p, s in zip(people, statuses, strict=True)}
    )
    return payload, audience


def populate(
    sim: MailchimpSimulator, members: int = 200, seed: int = 0, *, list_id: str = DEFAULT_LIST_ID
) -> SampleAudience:
    """Load a sample audience into ``sim`` (the list is made if it does not exist)."""
    payload, audience = seed_payload(members, seed, list_id=list_id, now=sim.clock.now())
    if list_id not in sim.account.audiences:
        payload["lists"][0]["name"] = "Sample supporters"
    sim.seed_records(payload)
    return audience
