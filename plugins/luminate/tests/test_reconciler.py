"""RefundReconciler: every refund combination of seed 003, and numbers that do not add up."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from syncframe_luminate.reconciler import (
    RefundReconciler,
    RefundRecord,
    RefundStatus,
    TransactionFacts,
)

TID = 2001001
R = RefundReconciler()


def facts(amount: str, original: str = "0", *, deleted: bool = False) -> TransactionFacts:
    return TransactionFacts(TID, D(amount), D(original), deleted=deleted)


def online(refund_id: int, amount: str, *, full: bool = False, day: int = 1) -> RefundRecord:
    return RefundRecord(
        refund_id, TID, D(amount), online=True, full_refund=full,
        refund_date=datetime(2025, 3, day, tzinfo=UTC),
    )  # fmt: skip


def test_never_refunded() -> None:
    state = R.reconcile(facts("100.00"), [])
    assert state.status is RefundStatus.NONE
    assert (state.original_amount, state.current_amount) == (D("100.00"), D("100.00"))
    assert state.online_refund_count == 0
    assert state.inferred_offline_refunds == 0
    assert state.full_refund_amount is None
    assert state.full_refund_online is None
    assert state.warnings == ()


def test_online_partial() -> None:
    state = R.reconcile(facts("70.00", "100.00"), [online(3001, "30.00")])
    assert state.status is RefundStatus.PARTIAL
    assert (state.original_amount, state.current_amount) == (D("100.00"), D("70.00"))
    assert (state.online_refund_count, state.online_refunds) == (1, D("30.00"))
    assert state.online_partial_refunds == D("30.00")
    assert state.inferred_offline_refunds == 0
    assert state.refunded == D("30.00")
    assert state.warnings == ()


def test_offline_partial_is_inferred() -> None:
    state = R.reconcile(facts("75.00", "100.00"), [])
    assert state.status is RefundStatus.PARTIAL
    assert state.online_refund_count == 0
    assert state.inferred_offline_refunds == D("25.00")
    assert state.warnings == ()


def test_online_and_offline_partials() -> None:
    # 100 -> online 10 -> offline 15 -> online 5: Amount 70, OriginalAmount 100.
    state = R.reconcile(facts("70.00", "100.00"), [online(3001, "10.00"), online(3002, "5.00")])
    assert state.online_refund_count == 2
    assert state.online_partial_refunds == D("15.00")
    assert state.inferred_offline_refunds == D("15.00")
    assert state.current_amount == D("70.00")


def test_online_full_without_partials() -> None:
    # A deleted transaction: its Amount is what the full refund returned; OriginalAmount 0.
    state = R.reconcile(facts("100.00", deleted=True), [online(3001, "100.00", full=True)])
    assert state.status is RefundStatus.FULL
    assert (state.original_amount, state.current_amount) == (D("100.00"), D(0))
    assert (state.full_refund_amount, state.full_refund_online) == (D("100.00"), True)
    assert (state.online_refund_count, state.online_refunds) == (1, D("100.00"))
    assert state.online_partial_refunds == 0
    assert state.inferred_offline_refunds == 0
    assert state.warnings == ()


def test_offline_full_without_partials() -> None:
    state = R.reconcile(facts("100.00", deleted=True), [])
    assert state.status is RefundStatus.FULL
    assert (state.full_refund_amount, state.full_refund_online) == (D("100.00"), False)
    assert state.original_amount == D("100.00")
    assert state.online_refund_count == 0
    assert state.warnings == ()


def test_partials_then_full_refund_of_the_remainder() -> None:
    # 100: online 20, offline 10, then the remaining 70 fully refunded online.
    refunds = [online(3001, "20.00", day=1), online(3002, "70.00", full=True, day=3)]
    state = R.reconcile(facts("70.00", "100.00", deleted=True), refunds)
    assert state.status is RefundStatus.FULL
    assert state.original_amount == D("100.00")
    assert state.current_amount == 0
    assert state.online_partial_refunds == D("20.00")
    assert state.inferred_offline_refunds == D("10.00")
    assert (state.full_refund_amount, state.full_refund_online) == (D("70.00"), True)
    assert (state.online_refund_count, state.online_refunds) == (2, D("90.00"))
    assert state.refunded == D("100.00")
    assert state.last_refund_date == datetime(2025, 3, 3, tzinfo=UTC)
    assert state.warnings == ()


def test_partials_then_offline_full_refund() -> None:
    state = R.reconcile(facts("60.00", "100.00", deleted=True), [online(3001, "40.00")])
    assert (state.full_refund_amount, state.full_refund_online) == (D("60.00"), False)
    assert state.online_partial_refunds == D("40.00")
    assert state.inferred_offline_refunds == 0
    assert state.refunded == D("100.00")


def test_full_refund_amount_given_apart() -> None:
    t = TransactionFacts(TID, D("0"), D("100.00"), deleted=True, full_refund_amount=D("80.00"))
    state = R.reconcile(t, [])
    assert state.inferred_offline_refunds == D("20.00")
    assert state.full_refund_amount == D("80.00")


def test_a_refund_seen_twice_counts_once() -> None:
    twice = [online(3001, "30.00"), online(3001, "30.00")]
    state = R.reconcile(facts("70.00", "100.00"), twice)
    assert (state.online_refund_count, state.online_refunds) == (1, D("30.00"))
    assert state.inferred_offline_refunds == 0
    assert state.warnings == ()


def test_a_refund_seen_twice_with_other_values_warns() -> None:
    state = R.reconcile(facts("70.00", "100.00"), [online(3001, "30.00"), online(3001, "31.00")])
    assert state.online_refunds == D("30.00")
    assert any("read twice with different values" in w for w in state.warnings)


def test_online_partials_exceeding_the_gap_warn() -> None:
    # Two different refunds of 30 but the transaction shows only 30 refunded.
    state = R.reconcile(facts("70.00", "100.00"), [online(3001, "30.00"), online(3002, "30.00")])
    assert state.inferred_offline_refunds == 0
    assert len(state.warnings) == 1
    assert "online partial refunds (60.00) exceed" in state.warnings[0]
    assert "counted twice" in state.warnings[0]


def test_full_refund_record_amount_mismatch_warns() -> None:
    state = R.reconcile(facts("100.00", deleted=True), [online(3001, "90.00", full=True)])
    assert state.full_refund_amount == D("100.00")
    assert "returned 90.00 but the deleted transaction shows 100.00" in state.warnings[0]


def test_full_refund_record_of_a_live_transaction_warns() -> None:
    state = R.reconcile(facts("100.00"), [online(3001, "100.00", full=True)])
    assert state.status is RefundStatus.FULL
    assert state.current_amount == 0
    assert "not deleted" in state.warnings[0]


def test_two_full_refund_records_warn() -> None:
    refunds = [online(3001, "50.00", full=True), online(3002, "50.00", full=True)]
    state = R.reconcile(facts("50.00", deleted=True), refunds)
    assert any("2 Refund records are full refunds (3001, 3002)" in w for w in state.warnings)


def test_amount_above_original_warns() -> None:
    state = R.reconcile(facts("120.00", "100.00"), [])
    assert state.inferred_offline_refunds == 0
    assert "more than OriginalAmount" in state.warnings[0]


def test_only_refunds_known() -> None:
    state = R.reconcile(None, [online(3001, "25.00")], transaction_id=TID)
    assert state.status is RefundStatus.PARTIAL
    assert state.original_amount is None
    assert state.current_amount is None
    assert state.online_refunds == D("25.00")
    assert "not known" in state.warnings[0]
    full = R.reconcile(None, [online(3002, "75.00", full=True)], transaction_id=TID)
    assert full.status is RefundStatus.FULL
    assert (full.full_refund_amount, full.full_refund_online) == (D("75.00"), True)


def test_offline_refund_records_are_not_online() -> None:
    offline = RefundRecord(3001, TID, D("30.00"), online=False)
    state = R.reconcile(facts("70.00", "100.00"), [offline])
    assert state.online_refund_count == 0
    assert state.inferred_offline_refunds == D("30.00")


def test_refunds_of_another_transaction_are_a_caller_bug() -> None:
    other = RefundRecord(3001, TID + 1, D("1.00"))
    with pytest.raises(ValueError, match="refunds transaction 2001002, not 2001001"):
        R.reconcile(facts("10.00"), [other])
    with pytest.raises(ValueError, match="needs the transaction"):
        R.reconcile(None, [])


def test_records_from_flat_fields() -> None:
    record = RefundRecord.from_fields(
        {
            "RefundId": 3001,
            "OriginalTransactionId": TID,
            "OriginalTransactionType": "Donation",
            "Online": None,
            "FullRefund": False,
            "Payment.Amount": "12.50",
        }
    )
    assert record == RefundRecord(3001, TID, D("12.50"), online=True, transaction_type="Donation")
    t = TransactionFacts.from_fields(
        {"TransactionId": TID, "Payment.Amount": D("5"), "Payment.OriginalAmount": D("0")}
    )
    assert (t.amount, t.original_amount, t.deleted) == (D(5), D(0), False)
    with pytest.raises(ValueError, match="Refund 3001 has no OriginalTransactionId"):
        RefundRecord.from_fields({"RefundId": 3001})
    with pytest.raises(ValueError, match=r"Refund 3001: Payment.Amount must be an amount"):
        RefundRecord.from_fields(
            {"RefundId": 3001, "OriginalTransactionId": 1, "Payment.Amount": "ten"}
        )
