"""Refunds exactly as seed 003 describes them: online/offline x partial/full, several partials."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from luminate_simulator.constituents import ConstituentDirectory
from luminate_simulator.services import (
    DEFAULT_PARTITION_ID,
    AdminError,
    AdminNotFound,
    ApiUser,
    IncrementalKind,
    LuminateFault,
    WebServices,
)

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ALL = DEFAULT_PARTITION_ID
GIFT_FIELDS = ["TransactionId", "Donor.ConsId", "Payment.Amount", "Payment.OriginalAmount"]
REFUND_FIELDS = [
    "RefundId",
    "OriginalTransactionId",
    "OriginalTransactionType",
    "Online",
    "FullRefund",
    "Payment.Amount",
    "Payment.OriginalAmount",
]
PERSON_ELEMENT = {
    "Donation": "Donor",
    "PersonalFundraisingGift": "Donor",
    "ProductOrder": "Donor",
    "TeamRaiserGift": "Donor",
    "TeamRaiserRegistration": "Participant",
    "TicketPurchase": "Purchaser",
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def services(clock: ManualClock) -> WebServices:
    web = WebServices(clock, ConstituentDirectory(clock))
    web.add_api_user("sync-api", "s3cret")
    return web


@pytest.fixture
def user(services: WebServices) -> ApiUser:
    return services.session_user(services.login("sync-api", "s3cret"))


@pytest.fixture
def donor(services: WebServices) -> int:
    return services.add_constituent({"PrimaryEmail": "donor@example.org"})


def gift(services: WebServices, donor: int, amount: str, record_type: str = "Donation") -> int:
    return services.add_transaction(
        record_type,
        {PERSON_ELEMENT[record_type]: {"ConsId": donor}, "Payment": {"Amount": amount}},
    )


def new_window(services: WebServices, user: ApiUser, clock: ManualClock) -> None:
    """End the current window (if any) and open the next one a minute later."""
    clock.advance(minutes=1)
    with contextlib.suppress(LuminateFault):  # no window yet: the first one starts now
        services.end_synchronization(user, ALL)
    services.start_synchronization(user, ALL)


def download(
    services: WebServices,
    user: ApiUser,
    which: IncrementalKind,
    record_type: str = "Donation",
) -> list[dict[str, Any]]:
    fields = REFUND_FIELDS if record_type == "Refund" else GIFT_FIELDS
    if record_type in ("TeamRaiserRegistration", "TicketPurchase"):
        person = PERSON_ELEMENT[record_type]
        fields = ["TransactionId", f"{person}.ConsId", "Payment.Amount", "Payment.OriginalAmount"]
    return services.get_incremental(user, which, ALL, record_type, 1, 200, fields)


def amounts(record: dict[str, Any]) -> tuple[Decimal, Decimal]:
    return record["Payment"]["Amount"], record["Payment"]["OriginalAmount"]


class TestPartialRefunds:
    """A partial refund lowers Amount and keeps what the donor paid in OriginalAmount."""

    def test_new_transaction_has_original_amount_zero(
        self, services: WebServices, user: ApiUser, clock: ManualClock, donor: int
    ) -> None:
        transaction_id = gift(services, donor, "100.00")
        new_window(services, user, clock)
        [record] = download(services, user, "inserts")
        assert record["TransactionId"] == transaction_id
        assert record["Donor"] == {"ConsId": donor}
        assert amounts(record) == (Decimal("100.00"), Decimal("0.00"))

    @pytest.mark.parametrize("online", [True, False])
    def test_partial_refund_of_an_older_transaction_is_an_update(
        self, services: WebServices, user: ApiUser, clock: ManualClock, donor: int, online: bool
    ) -> None:
        transaction_id = gift(services, donor, "100.00")
        new_window(services, user, clock)
        outcome = services.refund(transaction_id, "30.00", online=online)
        assert (outcome.full, outcome.remaining) == (False, Decimal("70.00"))
        new_window(services, user, clock)
        assert download(services, user, "inserts") == []
        assert download(services, user, "deletes") == []
        [record] = download(services, user, "updates")
        assert amounts(record) == (Decimal("70.00"), Decimal("100.00"))
        refunds = download(services, user, "inserts", "Refund")
        if online:
            assert outcome.refund_id is not None
            assert refunds == [
                {
                    "RefundId": outcome.refund_id,
                    "OriginalTransactionId": transaction_id,
                    "OriginalTransactionType": "Donation",
                    "Online": True,
                    "FullRefund": False,
                    "Payment": {"Amount": Decimal("30.00"), "OriginalAmount": Decimal("100.00")},
                }
            ]
        else:
            assert outcome.refund_id is None
            assert refunds == []  # offline refunds create no Refund record

    def test_created_and_partially_refunded_in_one_window_is_an_insert(
        self, services: WebServices, user: ApiUser, clock: ManualClock, donor: int
    ) -> None:
        new_window(services, user, clock)
        clock.advance(seconds=1)
        transaction_id = gift(services, donor, "50.00")
        services.refund(transaction_id, "5.00", online=True)
        new_window(services, user, clock)
        assert download(services, user, "updates") == []
        [record] = download(services, user, "inserts")
        assert amounts(record) == (Decimal("45.00"), Decimal("50.00"))

    def test_several_partials_then_the_remainder(
        self, services: WebServices, user: ApiUser, clock: ManualClock, donor: int
    ) -> None:
        transaction_id = gift(services, donor, "100.00")
        new_window(services, user, clock)
        services.refund(transaction_id, "10.00", online=True)
        services.refund(transaction_id, "5.00", online=False)
        clock.advance(seconds=1)
        services.refund(transaction_id, Decimal("20.00"), online=True)
        new_window(services, user, clock)
        [record] = download(services, user, "updates")
        assert amounts(record) == (Decimal("65.00"), Decimal("100.00"))
        refunds = download(services, user, "inserts", "Refund")
        online_total = sum((r["Payment"]["Amount"] for r in refunds), Decimal(0))
        assert online_total == Decimal("30.00")
        # the offline refund is inferred: OriginalAmount - Amount - online refunds
        assert Decimal("100.00") - Decimal("65.00") - online_total == Decimal("5.00")
        assert [r["Payment"]["OriginalAmount"] for r in refunds] == [
            Decimal("100.00"),
            Decimal("85.00"),  # what remained before that refund
        ]

        full = services.refund(transaction_id, None, online=True)
        assert (full.full, full.amount, full.remaining) == (True, Decimal("65.00"), Decimal(0))
        new_window(services, user, clock)
        assert download(services, user, "updates") == []
        [deleted] = download(services, user, "deletes")
        # a deleted transaction's Amount is what the full refund returned
        assert amounts(deleted) == (Decimal("65.00"), Decimal("100.00"))
        [last_refund] = download(services, user, "inserts", "Refund")
        assert last_refund["FullRefund"] is True
        assert last_refund["Payment"]["Amount"] == Decimal("65.00")
        _, every_refund = services.query(
            user,
            f"select RefundId, Payment from Refund where OriginalTransactionId = {transaction_id}",
            1,
            100,
        )
        assert [r["Payment"]["Amount"] for r in every_refund] == [
            Decimal("10.00"),
            Decimal("20.00"),
            Decimal("65.00"),
        ]


class TestFullRefunds:
    """A full refund deletes the transaction, keeping a copy for auditing."""

    @pytest.mark.parametrize("online", [True, False])
    def test_full_refund_is_a_delete_with_the_refunded_amount(
        self, services: WebServices, user: ApiUser, clock: ManualClock, donor: int, online: bool
    ) -> None:
        transaction_id = gift(services, donor, "80.00")
        new_window(services, user, clock)
        outcome = services.refund(transaction_id, None, online=online)
        assert outcome.full
        new_window(services, user, clock)
        assert download(services, user, "updates") == []
        [record] = download(services, user, "deletes")
        assert record["TransactionId"] == transaction_id
        assert amounts(record) == (Decimal("80.00"), Decimal("0.00"))
        refunds = download(services, user, "inserts", "Refund")
        assert len(refunds) == (1 if online else 0)
        snapshot = services.snapshot()
        assert snapshot["transactions"]["Donation"] == []
        [audit] = snapshot["deleted_transactions"]
        assert audit["record"]["TransactionId"] == transaction_id
        assert audit["record"]["Payment"]["Amount"] == "80.00"
        assert audit["deleted_at"] == "2026-01-01T09:01:00Z"

    def test_refund_of_exactly_the_remainder_is_full(
        self, services: WebServices, donor: int
    ) -> None:
        transaction_id = gift(services, donor, "40.00")
        services.refund(transaction_id, "15.00", online=False)
        assert services.refund(transaction_id, "25.00", online=False).full

    def test_created_and_fully_refunded_in_one_window_is_a_delete_only(
        self, services: WebServices, user: ApiUser, clock: ManualClock, donor: int
    ) -> None:
        new_window(services, user, clock)
        clock.advance(seconds=1)
        transaction_id = gift(services, donor, "40.00")
        services.refund(transaction_id, None, online=True)
        new_window(services, user, clock)
        assert download(services, user, "inserts") == []
        assert [r["TransactionId"] for r in download(services, user, "deletes")] == [transaction_id]

    @pytest.mark.parametrize("record_type", sorted(PERSON_ELEMENT))
    def test_every_financial_type_refunds_alike(
        self,
        services: WebServices,
        user: ApiUser,
        clock: ManualClock,
        donor: int,
        record_type: str,
    ) -> None:
        partial = gift(services, donor, "20.00", record_type)
        full = gift(services, donor, "30.00", record_type)
        new_window(services, user, clock)
        services.refund(partial, "2.50", online=True)
        services.refund(full, None, online=True)
        new_window(services, user, clock)
        [updated] = download(services, user, "updates", record_type)
        assert amounts(updated) == (Decimal("17.50"), Decimal("20.00"))
        [deleted] = download(services, user, "deletes", record_type)
        assert deleted["TransactionId"] == full
        refunds = download(services, user, "inserts", "Refund")
        assert {r["OriginalTransactionType"] for r in refunds} == {record_type}


class TestRefundErrors:
    """Refunds the donation console would refuse are admin errors naming the problem."""

    def test_more_than_the_remainder(self, services: WebServices, donor: int) -> None:
        transaction_id = gift(services, donor, "10.00")
        services.refund(transaction_id, "4.00", online=True)
        with pytest.raises(AdminError, match=r"amount 6.01 is more than the 6.00 that remains"):
            services.refund(transaction_id, "6.01", online=True)

    @pytest.mark.parametrize("amount", ["0", "-1.00", "ten", "NaN"])
    def test_bad_amounts(self, services: WebServices, donor: int, amount: str) -> None:
        transaction_id = gift(services, donor, "10.00")
        with pytest.raises(AdminError, match="amount"):
            services.refund(transaction_id, amount, online=True)

    def test_amounts_are_whole_cents(
        self, services: WebServices, donor: int, user: ApiUser, clock: ManualClock
    ) -> None:
        with pytest.raises(AdminError, match=r"Donation.Payment.Amount 9.999 has fractions"):
            gift(services, donor, "9.999")
        transaction_id = gift(services, donor, "10")
        with pytest.raises(AdminError, match=r"amount 0.001 has fractions of a cent"):
            services.refund(transaction_id, "0.001", online=True)
        outcome = services.refund(transaction_id, "2.5", online=True)
        assert (str(outcome.amount), str(outcome.remaining)) == ("2.50", "7.50")
        clock.advance(minutes=1)
        services.start_synchronization(user, DEFAULT_PARTITION_ID)
        [record] = download(services, user, "inserts", "Donation")
        assert (str(record["Payment"]["Amount"]), str(record["Payment"]["OriginalAmount"])) == (
            "7.50",
            "10.00",
        )
        [refund] = download(services, user, "inserts", "Refund")
        assert str(refund["Payment"]["Amount"]) == "2.50"

    def test_float_amount_is_refused(self, services: WebServices, donor: int) -> None:
        transaction_id = gift(services, donor, "10.00")
        with pytest.raises(AdminError, match="decimal as text"):
            services.refund(transaction_id, 1.5, online=True)  # type: ignore[arg-type]

    def test_after_a_full_refund(self, services: WebServices, donor: int) -> None:
        transaction_id = gift(services, donor, "10.00")
        services.refund(transaction_id, None, online=False)
        with pytest.raises(AdminError, match="fully refunded already"):
            services.refund(transaction_id, "1.00", online=False)

    def test_unknown_transaction(self, services: WebServices) -> None:
        with pytest.raises(AdminNotFound, match="no transaction 99"):
            services.refund(99, None, online=True)

    def test_action_alert_responses_have_nothing_to_refund(
        self, services: WebServices, donor: int
    ) -> None:
        response_id = services.add_transaction(
            "ActionAlertResponse", {"Constituent": {"ConsId": donor}, "AlertId": 7}
        )
        with pytest.raises(AdminError, match="no payment"):
            services.refund(response_id, None, online=True)
