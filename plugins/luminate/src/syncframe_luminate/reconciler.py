"""Refund reconciliation (seed 003): what became of a transaction's money, from what Luminate shows.

Luminate never says in one place how much of a gift was refunded, how, and when. A transaction
record gives a "before and after" view only — ``Payment.OriginalAmount`` (what the donor paid; 0
when never partially refunded) and ``Payment.Amount`` (what remains) — and a full refund deletes
it, the deleted record's ``Amount`` being what the full refund returned. ``Refund`` records exist
for *online* refunds only, one per refund event; offline refunds are inferred from the gap between
``OriginalAmount - Amount`` and the online partial refunds. The same Refund may be read twice
(GetIncrementalInserts and the per-transaction Query), so each ``RefundId`` counts once.

:class:`RefundReconciler` turns those facts into a :class:`RefundState`. It is pure (no I/O), so
the SQL sink can run it inside its database transaction and tests can run every combination.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

__all__ = [
    "RefundReconciler",
    "RefundRecord",
    "RefundState",
    "RefundStatus",
    "TransactionFacts",
]

# Money is in cents: a zero shows as 0.00 like every other amount.
ZERO = Decimal("0.00")


class RefundStatus(StrEnum):
    """How much of a transaction was refunded."""

    NONE = "none"
    PARTIAL = "partial"  # some, not all: the transaction lives on with a smaller Amount
    FULL = "full"  # all that remained: Luminate deleted the transaction


def _decimal(value: Any, what: str) -> Decimal:
    """A money value from a record (Decimal, int, or text from a file/database)."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an amount, not {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be an amount, not {value!r}") from None


@dataclass(frozen=True, slots=True)
class TransactionFacts:
    """A financial transaction as Luminate last showed it.

    ``amount`` is ``Payment.Amount``: what remains after partial refunds, or, for a ``deleted``
    (fully refunded) transaction, what the full refund returned. ``original_amount`` is
    ``Payment.OriginalAmount`` (0: never partially refunded). ``full_refund_amount`` overrides
    ``amount`` as the full refund of a deleted transaction when the caller keeps it apart.
    """

    transaction_id: int
    amount: Decimal
    original_amount: Decimal = ZERO
    deleted: bool = False
    full_refund_amount: Decimal | None = None
    transaction_type: str | None = None

    @classmethod
    def from_fields(
        cls,
        fields: Mapping[str, Any],
        *,
        deleted: bool = False,
        transaction_type: str | None = None,
    ) -> TransactionFacts:
        """From a flat record: ``TransactionId``, ``Payment.Amount``, ``Payment.OriginalAmount``."""
        transaction_id = fields.get("TransactionId")
        if transaction_id is None:
            raise ValueError("the transaction record has no TransactionId")
        where = f"transaction {transaction_id}"
        return cls(
            transaction_id=int(transaction_id),
            amount=_decimal(fields.get("Payment.Amount"), f"{where}: Payment.Amount"),
            original_amount=_decimal(
                fields.get("Payment.OriginalAmount"), f"{where}: Payment.OriginalAmount"
            ),
            deleted=deleted,
            transaction_type=transaction_type,
        )


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """One Refund record: a single refund event (online ones only, in today's Luminate)."""

    refund_id: int
    transaction_id: int  # OriginalTransactionId
    amount: Decimal  # Payment.Amount: what this refund returned
    online: bool = True
    full_refund: bool = False
    refund_date: datetime | None = None
    transaction_type: str | None = None  # OriginalTransactionType, when the site has it

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> RefundRecord:
        """From a flat Refund record (``RefundId``, ``OriginalTransactionId``, ``Online``,
        ``FullRefund``, ``Payment.Amount``, ``RefundDate``, ``OriginalTransactionType``)."""
        refund_id = fields.get("RefundId")
        if refund_id is None:
            raise ValueError("the Refund record has no RefundId")
        original = fields.get("OriginalTransactionId")
        if original is None:
            raise ValueError(f"Refund {refund_id} has no OriginalTransactionId")
        online = fields.get("Online")
        date = fields.get("RefundDate")
        kind = fields.get("OriginalTransactionType")
        return cls(
            refund_id=int(refund_id),
            transaction_id=int(original),
            amount=_decimal(fields.get("Payment.Amount"), f"Refund {refund_id}: Payment.Amount"),
            # Seed 003: "Refund records are only available for online refunds", so a record
            # that does not say is an online one.
            online=True if online is None else bool(online),
            full_refund=bool(fields.get("FullRefund")),
            refund_date=date if isinstance(date, datetime) else None,
            transaction_type=str(kind) if kind else None,
        )


@dataclass(frozen=True, slots=True)
class RefundState:
    """What became of a transaction's money.

    ``original_amount`` is what the donor paid and ``current_amount`` what remains (0 after a full
    refund); both are ``None`` when only Refund records of the transaction are known.
    ``online_refunds`` sums every online refund (the full one included), each ``RefundId`` once;
    ``online_partial_refunds`` the partial ones only; ``inferred_offline_refunds`` the partial
    refunds no Refund record accounts for (seed 003: offline). ``full_refund_online`` is ``True``
    when a Refund record with ``FullRefund`` exists, ``False`` for a full refund without one
    (offline), ``None`` when there was no full refund. ``warnings`` say where the numbers do not
    add up.
    """

    transaction_id: int
    transaction_type: str | None
    original_amount: Decimal | None
    current_amount: Decimal | None
    online_refund_count: int
    online_refunds: Decimal
    online_partial_refunds: Decimal
    inferred_offline_refunds: Decimal
    full_refund_amount: Decimal | None
    full_refund_online: bool | None
    status: RefundStatus
    last_refund_date: datetime | None
    warnings: tuple[str, ...]

    @property
    def refunded(self) -> Decimal:
        """Everything refunded: partial refunds (online and offline) and the full refund."""
        return (
            self.online_partial_refunds
            + self.inferred_offline_refunds
            + (self.full_refund_amount or ZERO)
        )


class RefundReconciler:
    """Computes a :class:`RefundState` from a transaction's facts and its Refund records.

    Rules (seed 003):

    * partially refunded in total = ``OriginalAmount - Amount`` when ``OriginalAmount > 0``
      (for a deleted transaction, ``Amount`` is what remained before the full refund);
    * original amount = ``OriginalAmount`` if > 0, else ``Amount`` (the pre-full-refund amount
      for a deleted transaction);
    * inferred offline partial refunds = partially refunded in total - online partial refunds;
    * a deleted transaction was fully refunded, online if a Refund with ``FullRefund`` exists.

    A Refund read twice (same ``RefundId``) counts once. Numbers that do not add up give
    warnings rather than errors: the state is still what the data supports.
    """

    def reconcile(
        self,
        transaction: TransactionFacts | None,
        refunds: Iterable[RefundRecord],
        *,
        transaction_id: int | None = None,
    ) -> RefundState:
        """The state of one transaction.

        ``transaction`` is ``None`` when only its Refund records are known (its type is not
        synchronised, or it was not read yet); then ``transaction_id`` names it. Refund records of
        another transaction are a caller bug (``ValueError``).
        """
        if transaction is not None:
            tid = transaction.transaction_id
            if transaction_id is not None and transaction_id != tid:
                raise ValueError(f"transaction_id {transaction_id} is not transaction {tid}")
        elif transaction_id is not None:
            tid = transaction_id
        else:
            raise ValueError("reconcile needs the transaction or its transaction_id")

        warnings: list[str] = []
        # Most transactions have no Refund record: the sink reconciles whole batches of them,
        # so that case skips the aggregation (its results would be these constants).
        none = isinstance(refunds, list | tuple) and not refunds
        unique = [] if none else self._unique(tid, refunds, warnings)
        online: list[RefundRecord] = []
        online_partial = online_total = ZERO
        full_record: RefundRecord | None = None
        last_date: datetime | None = None
        if unique:
            online = [r for r in unique if r.online]
            online_partial = sum((r.amount for r in online if not r.full_refund), ZERO)
            online_total = sum((r.amount for r in online), ZERO)
            full_records = [r for r in unique if r.full_refund]
            dates = [r.refund_date for r in unique if r.refund_date is not None]
            last_date = max(dates) if dates else None
            for r in unique:
                if r.amount <= 0:
                    warnings.append(
                        f"Refund {r.refund_id} has amount {r.amount}, not a positive one"
                    )
            if len(full_records) > 1:
                ids = ", ".join(str(r.refund_id) for r in full_records)
                warnings.append(f"{len(full_records)} Refund records are full refunds ({ids})")
            full_record = full_records[0] if full_records else None
        kind = transaction.transaction_type if transaction is not None else None
        if kind is None:
            kind = next((r.transaction_type for r in unique if r.transaction_type), None)

        if transaction is None:
            warnings.append(
                f"transaction {tid} itself is not known (not synchronised yet, or its type is "
                "not): its original and current amounts are unknown and offline refunds cannot "
                "be inferred"
            )
            return RefundState(
                transaction_id=tid,
                transaction_type=kind,
                original_amount=None,
                current_amount=None,
                online_refund_count=len(online),
                online_refunds=online_total,
                online_partial_refunds=online_partial,
                inferred_offline_refunds=ZERO,
                full_refund_amount=full_record.amount if full_record else None,
                full_refund_online=full_record.online if full_record else None,
                status=RefundStatus.FULL
                if full_record
                else RefundStatus.PARTIAL
                if unique
                else RefundStatus.NONE,
                last_refund_date=last_date,
                warnings=tuple(warnings),
            )

        amount = transaction.amount
        original_field = transaction.original_amount
        if transaction.deleted:
            # The deleted record's Amount is what the full refund returned, which is also what
            # remained of the transaction just before it.
            before_full = (
                transaction.full_refund_amount
                if transaction.full_refund_amount is not None
                else amount
            )
        else:
            before_full = amount
        if amount < 0 or original_field < 0:
            warnings.append(f"negative amount (Amount {amount}, OriginalAmount {original_field})")
        if original_field > 0:
            original = original_field
            partial_total = original_field - before_full
            if partial_total < 0:
                warnings.append(
                    f"Amount {before_full} is more than OriginalAmount {original_field}"
                )
                partial_total = ZERO
        else:
            original = before_full
            partial_total = ZERO

        offline = partial_total - online_partial
        if offline < 0:
            warnings.append(
                f"online partial refunds ({online_partial}) exceed what the transaction shows "
                f"as partially refunded (OriginalAmount - Amount = {partial_total}): a refund "
                "counted twice, or data missing"
            )
            offline = ZERO

        full_amount: Decimal | None = None
        full_online: bool | None = None
        if transaction.deleted:
            full_amount = before_full
            full_online = full_record is not None and full_record.online
            if full_record is not None and full_record.amount != before_full:
                warnings.append(
                    f"the full refund record {full_record.refund_id} returned "
                    f"{full_record.amount} but the deleted transaction shows {before_full}"
                )
            status = RefundStatus.FULL
            current = ZERO
        elif full_record is not None:
            warnings.append(
                f"Refund {full_record.refund_id} is a full refund but the transaction is not "
                "deleted (its delete not synchronised yet?)"
            )
            full_amount = full_record.amount
            full_online = full_record.online
            status = RefundStatus.FULL
            current = ZERO
        else:
            current = amount
            status = (
                RefundStatus.PARTIAL
                if partial_total > 0 or online_partial > 0
                else RefundStatus.NONE
            )

        return RefundState(
            transaction_id=tid,
            transaction_type=kind,
            original_amount=original,
            current_amount=current,
            online_refund_count=len(online),
            online_refunds=online_total,
            online_partial_refunds=online_partial,
            inferred_offline_refunds=offline,
            full_refund_amount=full_amount,
            full_refund_online=full_online,
            status=status,
            last_refund_date=last_date,
            warnings=tuple(warnings),
        )

    @staticmethod
    def _unique(
        tid: int, refunds: Iterable[RefundRecord], warnings: list[str]
    ) -> list[RefundRecord]:
        """Each RefundId once (the first seen kept), in the order given."""
        seen: dict[int, RefundRecord] = {}
        for refund in refunds:
            if refund.transaction_id != tid:
                raise ValueError(
                    f"Refund {refund.refund_id} refunds transaction {refund.transaction_id}, "
                    f"not {tid}"
                )
            first = seen.get(refund.refund_id)
            if first is None:
                seen[refund.refund_id] = refund
            elif first != refund:
                warnings.append(
                    f"Refund {refund.refund_id} was read twice with different values; the "
                    "first is counted"
                )
        return list(seen.values())
