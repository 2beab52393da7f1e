"""Transactions, refunds and associated (lookup) records of the simulated site.

Transactions of every type share one id sequence (a Refund's ``OriginalTransactionId`` names one
transaction without its type). Each transaction type, ``Refund`` included, has its own
:class:`ChangeLog` the incremental downloads read. A fully refunded transaction leaves the live
store for the audit store (seed 003: "a copy of the deleted donation record is saved for
auditing"), where ``GetIncrementalDeletes`` and the snapshot still find it.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from luminate_simulator._faults import AdminError, AdminNotFound
from luminate_simulator._fields import Record, coerce_value
from luminate_simulator.changelog import ChangeLog
from luminate_simulator.constituents import Constituent
from luminate_simulator.schema import ASSOCIATED_TYPES, RECORD_TYPES, FieldDef, RecordType

__all__ = [
    "CONSTITUENT_ELEMENT",
    "FIRST_TRANSACTION_ID",
    "AssociatedStore",
    "Refund",
    "RefundOutcome",
    "Transaction",
    "TransactionStore",
    "constituent_summary",
]

FIRST_TRANSACTION_ID: Final = 2001001
FIRST_REFUND_ID: Final = 3001
FIRST_ASSOCIATED_ID: Final = 101
ZERO: Final = Decimal("0.00")
CENT: Final = Decimal("0.01")
CREATION_METHOD_OFFLINE: Final = 0
CREATION_METHOD_ONLINE: Final = 1
# Transaction types that carry money and can be refunded.
REFUNDABLE: Final[frozenset[str]] = frozenset(
    {
        "Donation",
        "PersonalFundraisingGift",
        "ProductOrder",
        "TeamRaiserGift",
        "TeamRaiserRegistration",
        "TicketPurchase",
    }
)
STORED_TRANSACTION_TYPES: Final[tuple[str, ...]] = ("ActionAlertResponse", *sorted(REFUNDABLE))


def _constituent_element(record_type: RecordType) -> str:
    for definition in record_type.fields:
        if definition.xsd_type == "ConstituentSummary":
            return definition.name
    raise RuntimeError(f"{record_type.name} has no constituent element")


# The element naming the constituent a transaction belongs to: Donor, Participant, Purchaser...
CONSTITUENT_ELEMENT: Final[dict[str, str]] = {
    name: _constituent_element(RECORD_TYPES[name]) for name in STORED_TRANSACTION_TYPES
}


def constituent_summary(cons: Constituent | None, cons_id: int) -> Record:
    """The ConstituentSummary element of a transaction (the constituent as it is now)."""
    if cons is None:
        return {"ConsId": cons_id, "MemberId": None, "PrimaryEmail": None, "ConsName": None}
    return {
        "ConsId": cons.cons_id,
        "MemberId": cons.member_id,
        "PrimaryEmail": cons.primary_email,
        "ConsName": {
            "FirstName": cons.first_name,
            "MiddleName": cons.middle_name,
            "LastName": cons.last_name,
        },
    }


@dataclass(slots=True)
class Transaction:
    record_type: str
    transaction_id: int
    cons_id: int
    values: dict[str, Any]  # the type's own elements except the id, the constituent and Payment
    payment: dict[str, Any] | None  # Payment element (None for ActionAlertResponse)
    created_at: datetime
    deleted_at: datetime | None = None
    refund_ids: list[int] = field(default_factory=list)

    def record(self, cons: Constituent | None) -> Record:
        """The whole record in schema order, with the constituent as it is now."""
        record_type = RECORD_TYPES[self.record_type]
        out: Record = {}
        for definition in record_type.fields:
            name = definition.name
            if name == record_type.id_field:
                out[name] = self.transaction_id
            elif definition.xsd_type == "ConstituentSummary":
                out[name] = constituent_summary(cons, self.cons_id)
            elif name == "Payment":
                out[name] = dict(self.payment) if self.payment is not None else None
            else:
                out[name] = self.values.get(name)
        return out


@dataclass(slots=True)
class Refund:
    refund_id: int
    original_transaction_id: int
    original_type: str
    refund_date: datetime
    online: bool
    full: bool
    amount: Decimal
    amount_before: Decimal
    tender_type: str | None
    billing_name: str | None

    def record(self) -> Record:
        return {
            "RefundId": self.refund_id,
            "OriginalTransactionId": self.original_transaction_id,
            "OriginalTransactionType": self.original_type,
            "RefundDate": self.refund_date,
            "Online": self.online,
            "FullRefund": self.full,
            "Payment": {
                "Amount": self.amount,
                "OriginalAmount": self.amount_before,
                "PaymentDate": self.refund_date,
                "ModifyDate": self.refund_date,
                "CreationMethod": CREATION_METHOD_ONLINE
                if self.online
                else CREATION_METHOD_OFFLINE,
                "TenderType": self.tender_type,
                "ConfirmationCode": f"REFUND-{self.refund_id}",
                "BillingName": self.billing_name,
                "DiscountId": None,
            },
        }


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    """What an admin refund did; ``remaining`` = the transaction's Amount afterwards (0: full)."""

    transaction_id: int
    full: bool
    online: bool
    amount: Decimal
    remaining: Decimal
    refund_id: int | None


def _coerce_fields(
    fields: tuple[FieldDef, ...], data: Mapping[str, Any], where: str, skip: frozenset[str]
) -> dict[str, Any]:
    known = {f.name: f for f in fields}
    for name in data:
        if name not in known:
            raise AdminError(f"{where}: unknown element {name!r}")
    values: dict[str, Any] = {}
    for definition in fields:
        if definition.name in skip or definition.name not in data:
            continue
        if definition.children is not None:
            raise AdminError(f"{where}.{definition.name}: nested elements are not accepted here")
        try:
            values[definition.name] = coerce_value(
                definition, data[definition.name], f"{where}.{definition.name}"
            )
        except ValueError as exc:
            raise AdminError(str(exc)) from None
    return values


def _in_cents(amount: Decimal, where: str) -> Decimal:
    """Money as the donation console holds it: whole cents, two decimal places."""
    cents = amount.quantize(CENT)
    if cents != amount:
        raise AdminError(f"{where} {amount} has fractions of a cent")
    return cents


class TransactionStore:
    """Every transaction by id (live and audit copies), each type's change log, and refunds."""

    def __init__(self) -> None:
        self.logs: dict[str, ChangeLog] = {
            name: ChangeLog() for name in (*STORED_TRANSACTION_TYPES, "Refund")
        }
        self.live: dict[int, Transaction] = {}
        self.audit: dict[int, Transaction] = {}  # fully refunded: deleted, kept for auditing
        self.refunds: dict[int, Refund] = {}
        self._next_id = FIRST_TRANSACTION_ID
        self._next_refund_id = FIRST_REFUND_ID

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]  # same fresh state

    def get(self, transaction_id: int) -> Transaction | None:
        """A live or audited (deleted) transaction."""
        return self.live.get(transaction_id) or self.audit.get(transaction_id)

    def add(
        self,
        record_type: str,
        data: Mapping[str, Any],
        now: datetime,
        constituents: Container[int],
    ) -> Transaction:
        """Add a transaction from a SOAP-shaped record (admin API). Returns it."""
        if record_type not in CONSTITUENT_ELEMENT:
            raise AdminError(
                f"record_type {record_type!r} is not a transaction type "
                f"({', '.join(STORED_TRANSACTION_TYPES)})"
            )
        definition = RECORD_TYPES[record_type]
        where = record_type
        element = CONSTITUENT_ELEMENT[record_type]
        person = data.get(element)
        if not isinstance(person, Mapping) or person.get("ConsId") in (None, ""):
            raise AdminError(f"{where}.{element}.ConsId is required (the constituent's ConsId)")
        extra = set(person) - {"ConsId"}
        if extra:
            raise AdminError(
                f"{where}.{element}: only ConsId is given; the rest comes from the constituent "
                f"(got {sorted(extra)[0]!r})"
            )
        try:
            cons_id = coerce_value(
                RECORD_TYPES["Constituent"].fields[0], person["ConsId"], f"{where}.{element}.ConsId"
            )
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        if cons_id not in constituents:
            raise AdminNotFound(f"{where}.{element}.ConsId: no constituent {cons_id}")
        id_field = definition.id_field
        values = _coerce_fields(
            definition.fields, data, where, frozenset({id_field, element, "Payment"})
        )
        transaction_id = self._transaction_id(data.get(id_field), f"{where}.{id_field}")
        payment: dict[str, Any] | None = None
        if record_type in REFUNDABLE:
            payment = self._payment(data.get("Payment"), f"{where}.Payment", now)
        if record_type == "ActionAlertResponse" and values.get("ResponseDate") is None:
            values["ResponseDate"] = now
        transaction = Transaction(record_type, transaction_id, cons_id, values, payment, now)
        self.live[transaction_id] = transaction
        self.logs[record_type].record(now, transaction_id, "insert", "admin")
        return transaction

    def _transaction_id(self, raw: object, where: str) -> int:
        if raw is None:
            transaction_id = self._next_id
            while transaction_id in self.live or transaction_id in self.audit:
                transaction_id += 1
        else:
            try:
                transaction_id = coerce_value(FieldDef("id", "long"), raw, where)
            except ValueError as exc:
                raise AdminError(str(exc)) from None
            if transaction_id <= 0:
                raise AdminError(f"{where} must be positive, not {transaction_id}")
            if transaction_id in self.live or transaction_id in self.audit:
                raise AdminError(f"{where} {transaction_id} is already used by another transaction")
        self._next_id = max(self._next_id, transaction_id + 1)
        return int(transaction_id)

    @staticmethod
    def _payment(raw: object, where: str, now: datetime) -> dict[str, Any]:
        if not isinstance(raw, Mapping) or raw.get("Amount") in (None, ""):
            raise AdminError(f"{where}.Amount is required")
        payment_type = RECORD_TYPES["Donation"].field("Payment")
        assert payment_type is not None
        assert payment_type.children is not None
        if "OriginalAmount" in raw:
            raise AdminError(
                f"{where}.OriginalAmount is set by partial refunds, not given "
                "(use the refunds action)"
            )
        values = _coerce_fields(payment_type.children, raw, where, frozenset())
        amount = values["Amount"]
        if amount <= 0:
            raise AdminError(f"{where}.Amount must be positive, not {amount}")
        values["Amount"] = _in_cents(amount, f"{where}.Amount")
        values["OriginalAmount"] = ZERO
        values.setdefault("PaymentDate", now)
        values["ModifyDate"] = now
        values.setdefault("CreationMethod", CREATION_METHOD_ONLINE)
        return {child.name: values.get(child.name) for child in payment_type.children}

    def refund(
        self, transaction_id: int, amount: Decimal | None, online: bool, now: datetime
    ) -> RefundOutcome:
        """Apply a partial or full, online or offline refund (seed 003)."""
        transaction = self.live.get(transaction_id)
        if transaction is None:
            if transaction_id in self.audit:
                raise AdminError(
                    f"transaction {transaction_id} was fully refunded already; nothing remains"
                )
            raise AdminNotFound(f"transaction_id: no transaction {transaction_id}")
        if transaction.payment is None:
            raise AdminError(
                f"transaction {transaction_id} is an {transaction.record_type}: it has no payment "
                "to refund"
            )
        payment = transaction.payment
        remaining: Decimal = payment["Amount"]
        if amount is None:
            amount = remaining
        if amount <= 0:
            raise AdminError(f"amount must be positive, not {amount}")
        amount = _in_cents(amount, "amount")
        if amount > remaining:
            raise AdminError(
                f"amount {amount} is more than the {remaining} that remains of transaction "
                f"{transaction_id}"
            )
        full = amount == remaining
        log = self.logs[transaction.record_type]
        payment["ModifyDate"] = now
        if full:
            # Amount stays: a deleted transaction's Amount is what the full refund returned.
            transaction.deleted_at = now
            del self.live[transaction_id]
            self.audit[transaction_id] = transaction
            log.record(now, transaction_id, "delete", "admin")
        else:
            if payment["OriginalAmount"] == 0:
                payment["OriginalAmount"] = remaining
            payment["Amount"] = remaining - amount
            log.record(now, transaction_id, "update", "admin")
        refund_id: int | None = None
        if online:
            refund_id = self._next_refund_id
            self._next_refund_id += 1
            self.refunds[refund_id] = Refund(
                refund_id,
                transaction_id,
                transaction.record_type,
                now,
                online,
                full,
                amount,
                remaining,
                payment.get("TenderType"),
                payment.get("BillingName"),
            )
            transaction.refund_ids.append(refund_id)
            self.logs["Refund"].record(now, refund_id, "insert", "admin")
        return RefundOutcome(
            transaction_id, full, online, amount, ZERO if full else remaining - amount, refund_id
        )

    def refunds_of(self, transaction_id: int) -> Iterator[Refund]:
        transaction = self.get(transaction_id)
        if transaction is None:
            return iter(())
        return (self.refunds[r] for r in transaction.refund_ids)


class AssociatedStore:
    """Associated (lookup) records by type and id, in id order."""

    def __init__(self) -> None:
        self.records: dict[str, dict[int, Record]] = {name: {} for name in ASSOCIATED_TYPES}
        self._next_id: dict[str, int] = dict.fromkeys(ASSOCIATED_TYPES, FIRST_ASSOCIATED_ID)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]  # same fresh state

    def add(self, record_type: str, data: Mapping[str, Any]) -> int:
        if record_type not in self.records:
            raise AdminError(
                f"record_type {record_type!r} is not an associated type "
                f"({', '.join(ASSOCIATED_TYPES)})"
            )
        definition = RECORD_TYPES[record_type]
        values = _coerce_fields(definition.fields, data, record_type, frozenset())
        store = self.records[record_type]
        record_id = values.get(definition.id_field)
        if record_id is None:
            record_id = self._next_id[record_type]
            while record_id in store:
                record_id += 1
        elif record_id in store:
            raise AdminError(
                f"{record_type}.{definition.id_field} {record_id} is already used by another record"
            )
        elif record_id <= 0:
            raise AdminError(f"{record_type}.{definition.id_field} must be positive")
        self._next_id[record_type] = max(self._next_id[record_type], record_id + 1)
        values[definition.id_field] = record_id
        store[record_id] = {f.name: values.get(f.name) for f in definition.fields}
        return int(record_id)
