"""Helpers for the sink, reconciler and CLI tests (helper C): contexts and hand-built changes.

Changes are shaped as the transaction source emits them (Contract 3): ``system`` = the connection
name, ``entity`` = the Luminate type, ``keys = {<id field>: int}``, flat dot-notation ``fields``
with typed values, ``occurred_at`` = ``Payment.ModifyDate``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from syncframe.clock import ManualClock
from syncframe.components import ComponentContext
from syncframe.records import Change, Operation
from syncframe.state import StateStore, open_state

SYSTEM = "lo"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def context(tmp_path: Path, clock: ManualClock, state: StateStore, flow: str = "lo-to-db") -> Any:
    """A component context as the engine builds it, files relative to ``tmp_path``."""
    return ComponentContext(
        flow=flow,
        connection_name="files",
        connection=None,
        clock=clock,
        state=state,
        logger=logging.getLogger("syncframe.test.luminate_sinks"),
        config_dir=str(tmp_path),
    )


def memory_state(clock: ManualClock) -> Iterator[StateStore]:
    store = open_state("sqlite://:memory:", clock=clock)
    yield store
    store.close()


def payment(
    amount: Decimal | str,
    original: Decimal | str = "0",
    when: datetime = T0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "Payment.Amount": Decimal(amount),
        "Payment.OriginalAmount": Decimal(original),
        "Payment.PaymentDate": T0,
        "Payment.ModifyDate": when,
        "Payment.CreationMethod": 1,
        "Payment.TenderType": "CREDIT_CARD",
        "Payment.ConfirmationCode": None,
        "Payment.BillingName": "Ann Example",
        "Payment.DiscountId": None,
        **extra,
    }


def donation(
    transaction_id: int,
    amount: Decimal | str,
    original: Decimal | str = "0",
    *,
    operation: Operation = Operation.INSERT,
    when: datetime = T0,
    entity: str = "Donation",
    campaign_id: int | None = 101,
) -> Change:
    """A financial transaction change (a Donation unless ``entity`` says another type)."""
    fields: dict[str, Any] = {
        "TransactionId": transaction_id,
        "Donor.ConsId": 1001001,
        "Donor.MemberId": "M-1",
        "Donor.PrimaryEmail": "ann@example.org",
        "Donor.ConsName.FirstName": "Ann",
        "Donor.ConsName.MiddleName": None,
        "Donor.ConsName.LastName": "Example",
    }
    if entity == "Donation":
        fields.update(
            {
                "CampaignId": campaign_id,
                "FormId": None,
                "DonationLevelId": None,
                "TaxDeductibleValue": Decimal(amount),
            }
        )
    fields.update(payment(amount, original, when))
    return Change(SYSTEM, entity, {"TransactionId": transaction_id}, operation, fields, when)


def refund(
    refund_id: int,
    transaction_id: int,
    amount: Decimal | str,
    *,
    before: Decimal | str,
    full: bool = False,
    online: bool = True,
    when: datetime = T0,
    transaction_type: str = "Donation",
) -> Change:
    """A Refund record change (GetIncrementalInserts of type Refund, or the per-transaction
    Query: the same shape)."""
    fields: dict[str, Any] = {
        "RefundId": refund_id,
        "OriginalTransactionId": transaction_id,
        "OriginalTransactionType": transaction_type,
        "RefundDate": when,
        "Online": online,
        "FullRefund": full,
        **payment(amount, before, when, **{"Payment.ConfirmationCode": f"REFUND-{refund_id}"}),
    }
    return Change(SYSTEM, "Refund", {"RefundId": refund_id}, Operation.INSERT, fields, when)


def campaign(campaign_id: int, title: str) -> Change:
    return Change(
        SYSTEM,
        "DonationCampaign",
        {"CampaignId": campaign_id},
        Operation.UPDATE,
        {"CampaignId": campaign_id, "Title": title, "Description": None},
        T0,
    )


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)
