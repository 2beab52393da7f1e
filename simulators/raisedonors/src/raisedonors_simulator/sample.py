"""Believable Legacy RaiseDonors donors for demos, end-to-end tests and benchmarks.

People and organizations with US addresses, phone numbers in the fictional 555-01xx range and
unique ``example.org`` emails; some with a second address or phone that is not the primary.
The same ``seed`` gives the same donors, so a failing run can be replayed.
"""

from __future__ import annotations

import random
import re
from typing import Any, Final

from raisedonors_simulator.account import RaiseDonorsAccount

__all__ = ["DonorSampler", "populate", "sample_donors"]

_FIRST: Final = (
    "Ada", "Ben", "Chen", "Dina", "Emeka", "Farah", "Grace", "Hiro", "Ivan", "Jamal",
    "Keiko", "Luis", "Maya", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq",
)  # fmt: skip
_LAST: Final = (
    "Baker", "Costa", "Dubois", "Evans", "Garcia", "Hughes", "Ito", "Johnson", "Kumar",
    "Lopez", "Martin", "Nguyen", "Okafor", "Patel", "Reyes", "Smith", "Tanaka", "Walsh",
)  # fmt: skip
_STREETS: Final = (
    "Oak St", "Maple Ave", "Cedar Ln", "Elm St", "Lakeview Dr", "Park Blvd", "Willow Way",
    "River Rd", "Hillcrest Ave", "Sunset Blvd", "Main St", "2nd St",
)  # fmt: skip
#: city, state, the first three digits of its ZIP codes, area code
_PLACES: Final = (
    ("Austin", "TX", "787", "512"),
    ("Denver", "CO", "802", "303"),
    ("Boston", "MA", "021", "617"),
    ("Seattle", "WA", "981", "206"),
    ("Chicago", "IL", "606", "312"),
    ("Portland", "OR", "972", "503"),
    ("Nashville", "TN", "372", "615"),
    ("Atlanta", "GA", "303", "404"),
    ("Phoenix", "AZ", "850", "602"),
    ("Minneapolis", "MN", "554", "612"),
)
_ORGANIZATIONS: Final = (
    "Riverbend Community Foundation",
    "Hope Street Church",
    "Lakeside Family Trust",
    "Northwind Builders",
    "Open Hands Foundation",
    "Cedar Valley Rotary Club",
    "Bright Futures Fund",
    "Harbor Light Partners",
)


class DonorSampler:
    """Donor fields from a generator seeded with ``seed``: the same seed, the same donors."""

    def __init__(self, seed: int = 2026) -> None:
        self._rng = random.Random(seed)

    def address(self) -> dict[str, str | None]:
        """A US address as ``primaryAddress`` takes it (so also a PATCH body's value)."""
        rng = self._rng
        city, state, zip3, _ = rng.choice(_PLACES)
        return {
            "address1": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
            "address2": f"Apt {rng.randint(1, 40)}" if rng.random() < 0.2 else None,
            "city": city,
            "state": state,
            "postalCode": f"{zip3}{rng.randint(0, 99):02d}",
            "country": "US",
        }

    def phone(self) -> str:
        """A phone number in the fictional 555-0100..0199 range of a real area code."""
        area = self._rng.choice(_PLACES)[3]
        return f"({area}) 555-{self._rng.randint(100, 199):04d}"

    def donor(self, n: int, *, organization: bool = False) -> dict[str, Any]:
        """The fields of donor number ``n`` (its email is unique by ``n``), as ``POST
        /api/Donor`` and the admin routes take them."""
        rng = self._rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        fields: dict[str, Any] = {"firstName": first, "lastName": last}
        if organization:
            name = rng.choice(_ORGANIZATIONS)
            slug = re.sub(r"[^a-z]+", "-", name.lower()).strip("-")
            fields["organizationName"] = name
            fields["email"] = f"giving.{n}@{slug}.example.org"
        else:
            fields["email"] = f"{first}.{last}.{n}@example.org".lower()
        fields["phone"] = self.phone()
        fields["primaryAddress"] = self.address()
        return fields

    def seed_row(
        self, n: int, *, organization: bool, second_address: bool, second_phone: bool
    ) -> dict[str, Any]:
        """A ``POST /_admin/seed`` donor row: :meth:`donor` plus non-primary extras."""
        row = self.donor(n, organization=organization)
        if second_address:
            row["otherAddresses"] = [self.address()]
        if second_phone:
            row["otherPhones"] = [{"number": self.phone(), "type": "Mobile"}]
        return row


def sample_donors(
    count: int,
    *,
    seed: int = 2026,
    organizations: float = 0.1,
    second_address: float = 0.2,
    second_phone: float = 0.2,
) -> list[dict[str, Any]]:
    """``count`` donor rows for ``POST /_admin/seed`` (``{"donors": rows}``); the shares say
    how many are organizations or have a second (non-primary) address or phone."""
    sampler = DonorSampler(seed)
    draw = random.Random(seed + 1)
    return [
        sampler.seed_row(
            n,
            organization=draw.random() < organizations,
            second_address=draw.random() < second_address,
            second_phone=draw.random() < second_phone,
        )
        for n in range(1, count + 1)
    ]


def populate(
    account: RaiseDonorsAccount, count: int = 50, *, seed: int = 2026, **shares: float
) -> list[int]:
    """Seed ``count`` sample donors into ``account`` (no activity: they were there before the
    simulation started); returns their ids. ``shares`` go to :func:`sample_donors`."""
    made = account.seed_records({"donors": sample_donors(count, seed=seed, **shares)})
    ids: list[int] = made.get("donors", [])
    return ids
