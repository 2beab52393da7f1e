"""A believable Salesforce org to sync: an integration user, a connected app and Contacts with
names, emails, phones, mailing addresses and Raiser's Edge constituent ids.

The demo, the end-to-end tests and the benchmarks share it, so they exercise the same data. The
same ``seed`` gives the same Contacts. Everything is added through the simulator's admin side,
as an administrator (or a data load) would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Final

from salesforce_simulator.app import SalesforceSimulator
from salesforce_simulator.schema import EXTERNAL_ID_FIELD

__all__ = [
    "SAMPLE_CLIENT_ID",
    "SAMPLE_CLIENT_SECRET",
    "SAMPLE_PASSWORD",
    "SAMPLE_SECURITY_TOKEN",
    "SAMPLE_USERNAME",
    "SampleOrg",
    "populate",
    "sample_contacts",
]

#: The integration user and connected app :func:`populate` adds (demo credentials only).
SAMPLE_USERNAME: Final = "integration@syncframe.example"
SAMPLE_PASSWORD: Final = "Sync-Frame-2026"
SAMPLE_SECURITY_TOKEN: Final = "Xq7TsampleTOKEN"
SAMPLE_CLIENT_ID: Final = "3MVG9syncframe.sample.connector"
SAMPLE_CLIENT_SECRET: Final = "sample-consumer-secret"

_FIRST: Final = (
    "Ada", "Amara", "Ben", "Chen", "Dina", "Emeka", "Farah", "Grace", "Hugo", "Ines", "Ivan",
    "Jonas", "Keiko", "Liam", "Maya", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tomas",
    "Uma", "Victor", "Wen", "Yara", "Zoe",
)  # fmt: skip
_LAST: Final = (
    "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Kumar", "Lopez", "Murphy", "Novak", "Okafor", "Patel", "Quint", "Rossi", "Schmidt",
    "Tanaka", "Okonkwo", "Walsh", "Young", "O'Brien", "Smith-Jones",
)  # fmt: skip
_STREETS: Final = (
    "Maple Avenue", "High Street", "Church Road", "Oak Lane", "Mill Road", "Station Road",
    "Park View", "Elm Street", "Victoria Road", "Riverside Drive",
)  # fmt: skip
#: (city, state/county, postal code prefix, country)
_PLACES: Final = (
    ("Boston", "MA", "021", "United States"),
    ("Denver", "CO", "802", "United States"),
    ("Austin", "TX", "787", "United States"),
    ("Portland", "OR", "972", "United States"),
    ("Leeds", "West Yorkshire", "LS1", "United Kingdom"),
    ("Bristol", "Bristol", "BS1", "United Kingdom"),
    ("Manchester", "Greater Manchester", "M1", "United Kingdom"),
)
_TITLES: Final = ("Dr.", "Mr.", "Ms.", "Mrs.", "Mx.", None, None, None)


@dataclass
class SampleOrg:
    """What :func:`populate` added: the Contacts' ids and the credentials to log in with."""

    contact_ids: list[str] = field(default_factory=list)
    username: str = SAMPLE_USERNAME
    password: str = SAMPLE_PASSWORD
    security_token: str = SAMPLE_SECURITY_TOKEN
    client_id: str = SAMPLE_CLIENT_ID
    client_secret: str = SAMPLE_CLIENT_SECRET


def _postal_code(prefix: str, rng: random.Random) -> str:
    if prefix[0].isdigit():
        return f"{prefix}{rng.randrange(100):02d}"
    letters = "".join(rng.choices("ABDEFGHJLNPQRSTUWXYZ", k=2))  # UK inward codes skip C, I, K...
    return f"{prefix} {rng.randrange(1, 10)}{letters}"


def _phone(country: str, rng: random.Random) -> str:
    if country == "United States":
        return f"({rng.randrange(201, 990)}) 555-{rng.randrange(10000):04d}"
    return f"+44 {rng.randrange(1100, 2000)} {rng.randrange(100000, 1000000)}"


def sample_contacts(
    count: int = 50, *, seed: int = 2026, first_constituent_id: int = 10001
) -> list[dict[str, Any]]:
    """``count`` Contacts as API field dicts, the same for the same ``seed``.

    Most carry an ``RE_Constituent_ID__c`` (numbered from ``first_constituent_id``, as Raiser's
    Edge hands out Constituent IDs); about one in six has none (made in Salesforce, not yet in
    RE), one in twenty has no email, and one in ten has opted out of email.
    """
    rng = random.Random(seed)
    contacts: list[dict[str, Any]] = []
    constituent_id = first_constituent_id
    for number in range(1, count + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, state, postal, country = rng.choice(_PLACES)
        contact: dict[str, Any] = {
            "Salutation": rng.choice(_TITLES),
            "FirstName": first,
            "LastName": last,
            "MailingStreet": f"{rng.randrange(1, 400)} {rng.choice(_STREETS)}",
            "MailingCity": city,
            "MailingState": state,
            "MailingPostalCode": _postal_code(postal, rng),
            "MailingCountry": country,
            "Phone": _phone(country, rng),
            "HasOptedOutOfEmail": rng.random() < 0.1,
        }
        if rng.random() >= 0.05:
            local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
            contact["Email"] = f"{local}.{number}@example.org"
        if rng.random() >= 1 / 6:
            contact[EXTERNAL_ID_FIELD] = str(constituent_id)
            constituent_id += 1
        contacts.append({name: value for name, value in contact.items() if value is not None})
    return contacts


def populate(sim: SalesforceSimulator, contacts: int = 50, *, seed: int = 2026) -> SampleOrg:
    """Add the integration user, the connected app (whose client-credentials flow runs as that
    user) and ``contacts`` Contacts, all at the simulator's current time."""
    org = SampleOrg()
    sim.add_user(
        org.username, org.password, security_token=org.security_token, name="Integration User"
    )
    sim.add_connected_app(org.client_id, org.client_secret, name="syncframe", run_as=org.username)
    for fields in sample_contacts(contacts, seed=seed):
        org.contact_ids.append(sim.add_contact(fields))
    return org
