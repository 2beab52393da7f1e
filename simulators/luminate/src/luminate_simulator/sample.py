"""A believable Luminate Online site to sync: constituents, lookups, every transaction type and
refunds of every kind seed 003 describes.

The demo, the end-to-end tests and the benchmarks share it, so they exercise the same data. The
same ``seed`` gives the same site. Everything is added through the admin side of
:class:`~luminate_simulator.services.WebServices`, as a site administrator would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from luminate_simulator.services import WebServices

__all__ = ["SampleSite", "add_refunds", "populate"]

FINANCIAL: Final = (
    "Donation",
    "PersonalFundraisingGift",
    "ProductOrder",
    "TeamRaiserGift",
    "TeamRaiserRegistration",
    "TicketPurchase",
)
# Which element holds the constituent in each transaction type.
PERSON_ELEMENT: Final = {
    "Donation": "Donor",
    "PersonalFundraisingGift": "Donor",
    "ProductOrder": "Donor",
    "TeamRaiserGift": "Donor",
    "TeamRaiserRegistration": "Participant",
    "TicketPurchase": "Purchaser",
    "ActionAlertResponse": "Constituent",
}
_FIRST: Final = ("Ada", "Ben", "Chen", "Dina", "Emeka", "Farah", "Grace", "Ivan", "Maya", "Omar")
_LAST: Final = ("Baker", "Costa", "Evans", "Garcia", "Ito", "Kumar", "Lopez", "Novak", "Patel")


@dataclass
class SampleSite:
    """The ids of what :func:`populate` added, by kind."""

    constituents: list[int] = field(default_factory=list)
    associated: dict[str, list[int]] = field(default_factory=dict)
    transactions: dict[str, list[int]] = field(default_factory=dict)

    def financial(self) -> Iterator[tuple[str, int]]:
        """(type, id) of every transaction that carries money, in creation order per type."""
        for record_type in FINANCIAL:
            for transaction_id in self.transactions.get(record_type, []):
                yield record_type, transaction_id


def _associated(services: WebServices, rng: random.Random) -> dict[str, list[int]]:
    def add(record_type: str, *records: dict[str, object]) -> list[int]:
        return [services.add_associated(record_type, r) for r in records]

    ids: dict[str, list[int]] = {}
    ids["ActionAlert"] = add("ActionAlert", {"Title": "Protect the river", "Status": "Published"})
    ids["DonationCampaign"] = add(
        "DonationCampaign",
        {"Title": "Spring Appeal", "Description": "Annual spring appeal"},
        {"Title": "Year-End Giving", "Description": "December matching campaign"},
    )
    campaigns = ids["DonationCampaign"]
    ids["DonationForm"] = add(
        "DonationForm",
        {"CampaignId": campaigns[0], "Title": "Spring online form"},
        {"CampaignId": campaigns[1], "Title": "Year-end online form"},
    )
    forms = ids["DonationForm"]
    ids["DonationLevel"] = add(
        "DonationLevel",
        {"FormId": forms[0], "Title": "Friend", "Amount": "25.00"},
        {"FormId": forms[0], "Title": "Sponsor", "Amount": "100.00"},
        {"FormId": forms[1], "Title": "Patron", "Amount": "250.00"},
    )
    ids["TeamRaiserEvent"] = add(
        "TeamRaiserEvent", {"Name": "River Run 5K", "EventDate": "2026-06-06T09:00:00Z"}
    )
    event = ids["TeamRaiserEvent"][0]
    ids["TeamRaiserCompany"] = add("TeamRaiserCompany", {"EventId": event, "Name": "Acme Corp"})
    ids["TeamRaiserParticipationType"] = add(
        "TeamRaiserParticipationType", {"EventId": event, "Name": "Runner", "Fee": "35.00"}
    )
    ids["TeamRaiserTeam"] = add(
        "TeamRaiserTeam",
        {"EventId": event, "CompanyId": ids["TeamRaiserCompany"][0], "Name": "Acme Striders"},
    )
    ids["PersonalFundraisingCampaign"] = add(
        "PersonalFundraisingCampaign", {"Title": "Ada's birthday fundraiser", "Goal": "500.00"}
    )
    ids["Product"] = add(
        "Product",
        {"Name": "Tote bag", "Sku": "TOTE-1", "Price": "20.00"},
        {"Name": "Calendar", "Sku": "CAL-26", "Price": "15.00"},
    )
    ids["ShipmentItem"] = add(
        "ShipmentItem", {"ProductId": ids["Product"][0], "Quantity": 1, "Status": "Shipped"}
    )
    ids["CalendarEvent"] = add(
        "CalendarEvent",
        {"Title": "Gala dinner", "StartDate": "2026-10-10T18:00:00Z", "Location": "City Hall"},
    )
    ids["Discount"] = add("Discount", {"Name": "Member discount", "Code": "MEMBER", "Amount": "5"})
    rng.shuffle(ids["DonationLevel"])  # the order does not matter; the ids do
    return ids


def _transaction(
    record_type: str, cons_id: int, ids: dict[str, list[int]], rng: random.Random
) -> dict[str, object]:
    person = {PERSON_ELEMENT[record_type]: {"ConsId": cons_id}}
    if record_type == "ActionAlertResponse":
        return {**person, "AlertId": ids["ActionAlert"][0], "Subject": "Protect the river"}
    amount = (
        Decimal(rng.choice((10, 20, 25, 35, 50, 75, 100, 250)))
        + Decimal(rng.choice((0, 0, 50))) / 100
    )
    payment: dict[str, object] = {
        "Amount": f"{amount:.2f}",
        "TenderType": rng.choice(("CREDIT_CARD", "CREDIT_CARD", "ACH")),
        "BillingName": "",
        "CreationMethod": 1,
    }
    extra: dict[str, object] = {}
    if record_type == "Donation":
        form = rng.randrange(2)
        extra = {
            "CampaignId": ids["DonationCampaign"][form],
            "FormId": ids["DonationForm"][form],
            "DonationLevelId": rng.choice(ids["DonationLevel"]),
            "TaxDeductibleValue": f"{amount:.2f}",
        }
    elif record_type == "PersonalFundraisingGift":
        extra = {"PersonalFundraisingCampaignId": ids["PersonalFundraisingCampaign"][0]}
    elif record_type == "ProductOrder":
        extra = {
            "ProductId": ids["Product"][0],
            "ShipmentItemId": ids["ShipmentItem"][0],
            "Quantity": rng.randint(1, 3),
        }
        if rng.random() < 0.3:
            payment["DiscountId"] = ids["Discount"][0]
    elif record_type == "TeamRaiserGift":
        extra = {"EventId": ids["TeamRaiserEvent"][0], "TeamId": ids["TeamRaiserTeam"][0]}
    elif record_type == "TeamRaiserRegistration":
        extra = {
            "EventId": ids["TeamRaiserEvent"][0],
            "TeamId": ids["TeamRaiserTeam"][0],
            "CompanyId": ids["TeamRaiserCompany"][0],
            "ParticipationTypeId": ids["TeamRaiserParticipationType"][0],
        }
    elif record_type == "TicketPurchase":
        extra = {"CalendarEventId": ids["CalendarEvent"][0], "Quantity": rng.randint(1, 4)}
    return {**person, **extra, "Payment": payment}


def populate(
    services: WebServices,
    *,
    constituents: int = 40,
    transactions: int = 200,
    types: tuple[str, ...] = (*FINANCIAL, "ActionAlertResponse"),
    seed: int = 2026,
) -> SampleSite:
    """Add ``constituents`` people, the lookups, and ``transactions`` transactions spread over
    ``types`` (Donations get the biggest share), all created at the simulator's current time."""
    rng = random.Random(seed)
    site = SampleSite()
    for n in range(1, constituents + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        site.constituents.append(
            services.add_constituent(
                {
                    "MemberId": f"RE-{n:06d}",
                    "PrimaryEmail": f"{first}.{last}.{n}@example.org".lower(),
                    "ConsName": {"FirstName": first, "LastName": last},
                    "HomeAddress": {"City": rng.choice(("Boston", "Denver", "Austin"))},
                    "AcceptsEmail": True,
                }
            )
        )
    site.associated = _associated(services, rng)
    weights = [6 if t == "Donation" else 1 for t in types]
    for _ in range(transactions):
        record_type = rng.choices(types, weights)[0]
        cons_id = rng.choice(site.constituents)
        transaction_id = services.add_transaction(
            record_type, _transaction(record_type, cons_id, site.associated, rng)
        )
        site.transactions.setdefault(record_type, []).append(transaction_id)
    return site


def add_refunds(services: WebServices, site: SampleSite, *, seed: int = 7) -> dict[str, list[int]]:
    """Refund some transactions in every way seed 003 describes; returns the transaction ids by
    story: ``online_partial``, ``offline_partial``, ``online_full``, ``offline_full``,
    ``partials_then_full`` (an online and an offline partial, then the rest refunded online).

    Each story takes a transaction no earlier story touched; stories are skipped when the site
    has too few financial transactions."""
    rng = random.Random(seed)
    untouched = [tid for _, tid in site.financial()]
    rng.shuffle(untouched)
    stories: dict[str, list[int]] = {}

    def take(story: str) -> int | None:
        if not untouched:
            return None
        transaction_id = untouched.pop()
        stories.setdefault(story, []).append(transaction_id)
        return transaction_id

    def part(transaction_id: int, share: str) -> Decimal:
        amount = services.transactions.live[transaction_id].payment
        assert amount is not None
        return (Decimal(amount["Amount"]) * Decimal(share)).quantize(Decimal("0.01"))

    if (tid := take("online_partial")) is not None:
        services.refund(tid, part(tid, "0.4"), online=True)
    if (tid := take("offline_partial")) is not None:
        services.refund(tid, part(tid, "0.5"), online=False)
    if (tid := take("online_full")) is not None:
        services.refund(tid, online=True)
    if (tid := take("offline_full")) is not None:
        services.refund(tid, online=False)
    if (tid := take("partials_then_full")) is not None:
        services.refund(tid, part(tid, "0.2"), online=True)
        services.refund(tid, part(tid, "0.25"), online=False)
        services.refund(tid, online=True)
    return stories
