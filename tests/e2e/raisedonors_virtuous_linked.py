"""Donors in Legacy RaiseDonors and their contacts in Virtuous CRM+ as the integration leaves them
linked, for tests and benchmarks that serve both simulators on real sockets.

:func:`linked_organization` fills a fresh pair of simulators: the API client and the integration
settings in RaiseDonors (contact sync on since a day before its clock's now), the sync user and
the webhook in Virtuous, and ``count`` donors each with its contact (same names, email, primary
phone and address; ReferenceSource "Legacy RaiseDonors" + ReferenceId = donor id; the donor's
``virtuousContactId``). Everything is seeded: no activity item, no webhook event.
:func:`flow_file` writes the example flow file pointed at the served simulators, and
:data:`SECRETS` are the connection secrets for the environment.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from raisedonors_simulator import RaiseDonorsSimulator
from raisedonors_simulator.sample import sample_donors
from virtuous_simulator import VirtuousSimulator
from virtuous_simulator.contacts import ContactIn

REPO = Path(__file__).resolve().parents[2]

CLIENT_KEY, CLIENT_SECRET = "rd-sync-client", "rd-sync-secret-4f3e2d1c"
SYNC_USER, SYNC_PASSWORD = "sync@example.org", "Sync-Pa55-9a8b"
WEBHOOK_SECRET = "vc-webhook-secret-7c6b5a49"
IMPORTER = "Dana Importer"
WEBHOOK_FLOW = "virtuous_to_raisedonors"
DAILY_FLOW = "raisedonors_to_virtuous"
FIRST_DONOR_ID = 100001

#: The connection secrets, as the environment gives them.
SECRETS = {
    "SYNCFRAME_RAISEDONORS_CLIENT_KEY": CLIENT_KEY,
    "SYNCFRAME_RAISEDONORS_CLIENT_SECRET": CLIENT_SECRET,
    "SYNCFRAME_VIRTUOUS_USERNAME": SYNC_USER,
    "SYNCFRAME_VIRTUOUS_PASSWORD": SYNC_PASSWORD,
    "SYNCFRAME_VIRTUOUS_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def _contact(donor_id: int, donor: dict[str, Any]) -> dict[str, Any]:
    address = donor["primaryAddress"]
    return {
        "contactType": "Household",
        "name": f"{donor['firstName']} {donor['lastName']}",
        "referenceSource": "Legacy RaiseDonors",
        "referenceId": str(donor_id),
        "addresses": [
            {
                "address1": address["address1"],
                "address2": address["address2"],
                "city": address["city"],
                "state": address["state"],
                "postal": address["postalCode"],
                "country": address["country"],
                "isPrimary": True,
            }
        ],
        "contactIndividuals": [
            {
                "firstName": donor["firstName"],
                "lastName": donor["lastName"],
                "isPrimary": True,
                "contactMethods": [
                    {"type": "Home Email", "value": donor["email"], "isPrimary": True},
                    {"type": "Home Phone", "value": donor["phone"], "isPrimary": True},
                ],
            }
        ],
    }


def linked_organization(
    raisedonors: RaiseDonorsSimulator,
    virtuous: VirtuousSimulator,
    count: int,
    *,
    webhook_url: str,
    seed: int = 2026,
) -> list[tuple[int, int]]:
    """Fill both simulators (see the module); returns ``(donor id, contact id)`` pairs."""
    raisedonors.account.auth.add_client(CLIENT_KEY, CLIENT_SECRET, "Virtuous CRM+ Sync")
    virtuous.add_user(SYNC_USER, SYNC_PASSWORD, name="RaiseDonors Sync")
    virtuous.add_user("dana@example.org", "Dana-Pa55-1234", name=IMPORTER)
    virtuous.subscribe_webhook(
        webhook_url, ["ContactCreate", "ContactUpdate"], secret=WEBHOOK_SECRET
    )
    rows = sample_donors(count, seed=seed, organizations=0, second_address=0, second_phone=0)
    pairs: list[tuple[int, int]] = []
    with virtuous.lock:
        for n, row in enumerate(rows):
            donor_id = FIRST_DONOR_ID + n
            contact = virtuous.contacts.create(
                ContactIn.model_validate(_contact(donor_id, row)),
                source="import",
                user="Seed",
                notify=False,
            )
            row["id"] = donor_id
            row["virtuousContactId"] = str(contact.id)
            pairs.append((donor_id, contact.id))
    raisedonors.account.seed_records(
        {
            "donors": rows,
            "integration": {
                "authorizedUser": SYNC_USER,
                "syncContacts": True,
                "contactSyncEnabledAt": (raisedonors.clock.now() - timedelta(days=1)).isoformat(),
            },
        }
    )
    return pairs
