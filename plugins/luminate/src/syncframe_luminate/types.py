"""What the Luminate Online web services hold, as the sync needs to know it (seed 003).

Which record types are transactions and which operations each supports, the field that
identifies each type, and which associated (lookup) type a transaction's reference field points
to. The fields of each type are not listed here: they come from the site's WSDL, which differs
from site to site (custom fields).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "ASSOCIATED_TYPES",
    "CONSTITUENT",
    "DEFAULT_PARTITION_ID",
    "FINANCIAL_TYPES",
    "ID_FIELDS",
    "INSERTS_ONLY_TYPES",
    "MAX_DOWNLOAD_PAGE_SIZE",
    "MAX_QUERY_PAGE_SIZE",
    "MAX_WRITE_RECORDS",
    "REFERENCES",
    "REFUND",
    "TRANSACTION_TYPES",
    "IncrementalKind",
    "incremental_kinds",
]

IncrementalKind = Literal["inserts", "updates", "deletes"]

CONSTITUENT: Final = "Constituent"
REFUND: Final = "Refund"
DEFAULT_PARTITION_ID: Final = 1001  # "All Constituents"
MAX_DOWNLOAD_PAGE_SIZE: Final = 200  # GetIncremental*
MAX_QUERY_PAGE_SIZE: Final = 1000  # Query, Find
MAX_WRITE_RECORDS: Final = 50  # Create, Update, Delete

# Gifts and purchases: inserts, updates and deletes; a full refund deletes the transaction.
FINANCIAL_TYPES: Final[tuple[str, ...]] = (
    "Donation",
    "PersonalFundraisingGift",
    "ProductOrder",
    "TeamRaiserGift",
    "TeamRaiserRegistration",
    "TicketPurchase",
)
# GetIncrementalInserts only.
INSERTS_ONLY_TYPES: Final[tuple[str, ...]] = ("ActionAlertResponse", REFUND)
# Every type the transaction source can download, in the order a window reads them: financial
# transactions first, so that the Refund records of the window come after what they refund.
TRANSACTION_TYPES: Final[tuple[str, ...]] = (*FINANCIAL_TYPES, *INSERTS_ONLY_TYPES)

# Associated types, read through Query / Find. ActionAlert is not in the seed's list of
# associated types but the seed says a response's AlertId "can be used with the Query or Find
# operation to retrieve information about the Action Alert".
ASSOCIATED_TYPES: Final[tuple[str, ...]] = (
    "ActionAlert",
    "DonationCampaign",
    "DonationForm",
    "DonationLevel",
    "PersonalFundraisingCampaign",
    "ShipmentItem",
    "Product",
    "TeamRaiserEvent",
    "TeamRaiserCompany",
    "TeamRaiserParticipationType",
    "TeamRaiserTeam",
    "CalendarEvent",
    "Discount",
)

ID_FIELDS: Final[dict[str, str]] = {
    CONSTITUENT: "ConsId",
    "ActionAlertResponse": "ResponseId",
    **dict.fromkeys(FINANCIAL_TYPES, "TransactionId"),
    REFUND: "RefundId",
    "ActionAlert": "AlertId",
    "DonationCampaign": "CampaignId",
    "DonationForm": "FormId",
    "DonationLevel": "DonationLevelId",
    "PersonalFundraisingCampaign": "PersonalFundraisingCampaignId",
    "ShipmentItem": "ShipmentItemId",
    "Product": "ProductId",
    "TeamRaiserEvent": "EventId",
    "TeamRaiserCompany": "CompanyId",
    "TeamRaiserParticipationType": "ParticipationTypeId",
    "TeamRaiserTeam": "TeamId",
    "CalendarEvent": "CalendarEventId",
    "Discount": "DiscountId",
}

# A transaction's reference field (dot notation) -> the associated type it points to.
REFERENCES: Final[dict[str, str]] = {
    "AlertId": "ActionAlert",
    "CampaignId": "DonationCampaign",
    "FormId": "DonationForm",
    "DonationLevelId": "DonationLevel",
    "PersonalFundraisingCampaignId": "PersonalFundraisingCampaign",
    "ShipmentItemId": "ShipmentItem",
    "ProductId": "Product",
    "EventId": "TeamRaiserEvent",
    "CompanyId": "TeamRaiserCompany",
    "ParticipationTypeId": "TeamRaiserParticipationType",
    "TeamId": "TeamRaiserTeam",
    "CalendarEventId": "CalendarEvent",
    "Payment.DiscountId": "Discount",
}


def incremental_kinds(record_type: str) -> tuple[IncrementalKind, ...]:
    """The GetIncremental* operations a type supports, in the order a window reads them."""
    if record_type in INSERTS_ONLY_TYPES:
        return ("inserts",)
    if record_type in FINANCIAL_TYPES or record_type == CONSTITUENT:
        return ("inserts", "updates", "deletes")
    raise ValueError(f"{record_type} cannot be downloaded incrementally")
