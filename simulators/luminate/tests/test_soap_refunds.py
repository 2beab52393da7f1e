"""Refunds end to end (seed 003): admin refunds, then what GetIncremental* and Query answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from simulators.luminate.tests.conftest import TNS, SoapClient
from simulators.luminate.tests.test_soap_sync import end_sync, incremental, start_sync
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

FIELDS = ["TransactionId", "Donor.ConsId", "Payment.Amount", "Payment.OriginalAmount"]
REFUND_FIELDS = [
    "RefundId",
    "OriginalTransactionId",
    "Online",
    "FullRefund",
    "Payment.Amount",
]


class Site:
    """Admin actions of the donation management console."""

    def __init__(self, sim: Any) -> None:
        self.admin = sim.admin()

    async def donor(self) -> int:
        made = await self.admin.post(
            "/luminate/constituents",
            {"PrimaryEmail": "donor@example.org", "ConsName": {"LastName": "Donor"}},
        )
        return int(made["ConsId"])

    async def donation(self, cons_id: int, amount: str) -> int:
        made = await self.admin.post(
            "/luminate/transactions/Donation",
            {"Donor": {"ConsId": cons_id}, "CampaignId": 11, "Payment": {"Amount": amount}},
        )
        assert made["record_type"] == "Donation"
        return int(made["TransactionId"])

    async def refund(self, transaction_id: int, amount: str | None, *, online: bool) -> Any:
        payload: dict[str, Any] = {"transaction_id": transaction_id, "online": online}
        if amount is not None:
            payload["amount"] = amount
        return await self.admin.post("/luminate/refunds", payload)


async def window(session: SoapClient, clock: ManualClock) -> None:
    """End the current window (if any) and open the next one a minute later."""
    clock.advance(minutes=1)
    await session.call(end_sync())
    await session.ok(start_sync())


def amounts(records: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (
            r["TransactionId"],
            Decimal(r["Payment"]["Amount"]),
            Decimal(r["Payment"]["OriginalAmount"]),
        )
        for _, r in records
    ]


class TestRefunds:
    """Online / offline, partial / full, several partials then the remainder."""

    async def test_donation_before_any_refund_has_original_amount_zero(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        site = Site(luminate_simulator)
        gift = await site.donation(await site.donor(), "100.00")
        await window(session, sim_clock)
        inserts = await session.records(incremental("Inserts", "Donation", FIELDS))
        assert amounts(inserts) == [(str(gift), Decimal("100.00"), Decimal("0"))]

    async def test_partial_online_refund_is_an_update_and_a_refund_record(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        site = Site(luminate_simulator)
        gift = await site.donation(await site.donor(), "100.00")
        await window(session, sim_clock)
        await session.ok(end_sync())
        outcome = await site.refund(gift, "30.00", online=True)
        assert outcome["full"] is False
        assert outcome["remaining"] == "70.00"
        await window(session, sim_clock)
        assert await session.records(incremental("Inserts", "Donation", FIELDS)) == []
        updates = await session.records(incremental("Updates", "Donation", FIELDS))
        assert amounts(updates) == [(str(gift), Decimal("70.00"), Decimal("100.00"))]
        refunds = await session.records(incremental("Inserts", "Refund", REFUND_FIELDS))
        assert [
            (t, r["OriginalTransactionId"], r["Online"], r["FullRefund"]) for t, r in refunds
        ] == [("Refund", str(gift), "true", "false")]
        assert refunds[0][1]["Payment"]["Amount"] == "30.00"
        assert refunds[0][1]["RefundId"] == str(outcome["refund_id"])

    async def test_partial_offline_refund_makes_no_refund_record(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        site = Site(luminate_simulator)
        gift = await site.donation(await site.donor(), "80.00")
        await window(session, sim_clock)
        await session.ok(end_sync())
        outcome = await site.refund(gift, "20.00", online=False)
        assert outcome["refund_id"] is None
        await window(session, sim_clock)
        updates = await session.records(incremental("Updates", "Donation", FIELDS))
        assert amounts(updates) == [(str(gift), Decimal("60.00"), Decimal("80.00"))]
        assert await session.records(incremental("Inserts", "Refund", REFUND_FIELDS)) == []

    async def test_created_and_partly_refunded_in_one_window_is_an_insert(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        site = Site(luminate_simulator)
        gift = await site.donation(await site.donor(), "50.00")
        await site.refund(gift, "10.00", online=True)
        await window(session, sim_clock)
        inserts = await session.records(incremental("Inserts", "Donation", FIELDS))
        assert amounts(inserts) == [(str(gift), Decimal("40.00"), Decimal("50.00"))]
        assert await session.records(incremental("Updates", "Donation", FIELDS)) == []

    async def test_partials_then_full_refund_of_the_remainder_is_a_delete(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        site = Site(luminate_simulator)
        gift = await site.donation(await site.donor(), "100.00")
        await window(session, sim_clock)
        await session.ok(end_sync())
        await site.refund(gift, "25.00", online=True)
        await site.refund(gift, "15.00", online=False)
        full = await site.refund(gift, None, online=True)
        assert full["full"] is True
        assert full["amount"] == "60.00"
        await window(session, sim_clock)
        assert await session.records(incremental("Updates", "Donation", FIELDS)) == []
        deletes = await session.records(incremental("Deletes", "Donation", FIELDS))
        # A deleted transaction's Amount is what the full refund returned.
        assert [(r["TransactionId"], r["Payment"]["Amount"]) for _, r in deletes] == [
            (str(gift), "60.00")
        ]
        refunds = await session.records(incremental("Inserts", "Refund", REFUND_FIELDS))
        assert [(r["Payment"]["Amount"], r["FullRefund"]) for _, r in refunds] == [
            ("25.00", "false"),
            ("60.00", "true"),
        ]
        # The deleted donation is kept for audit.
        state = await luminate_simulator.admin().state()
        assert gift in {t["record"]["TransactionId"] for t in state["deleted_transactions"]}

    async def test_query_every_refund_of_a_transaction(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        site = Site(luminate_simulator)
        gift = await site.donation(await site.donor(), "90.00")
        await site.refund(gift, "10.00", online=True)
        await site.refund(gift, "5.00", online=False)
        await site.refund(gift, "20.00", online=True)
        records = await session.records(
            f'<Query xmlns="{TNS}"><QueryString>select RefundId, Payment from Refund where '
            f"OriginalTransactionId = {gift}</QueryString><Page>1</Page><PageSize>100</PageSize>"
            "</Query>"
        )
        assert [(t, r["Payment"]["Amount"]) for t, r in records] == [
            ("Refund", "10.00"),
            ("Refund", "20.00"),
        ]

    async def test_refund_of_more_than_remains_is_refused(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        site = Site(luminate_simulator)
        gift = await site.donation(await site.donor(), "10.00")
        response = await site.admin.client.post(
            "/_admin/luminate/refunds",
            json={"transaction_id": gift, "amount": "10.01", "online": True},
        )
        assert response.status_code == 400
        assert "10.01" in response.json()["error"]
