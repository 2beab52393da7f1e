"""The record types of the simulated Luminate Online web services, in WSDL order.

Everything else is derived from this module: the WSDL (``wsdl.py``), ``DescribeRecordType``,
field-list validation for ``GetIncremental*`` / ``Query`` / ``Find`` and the shape of the records
``services.py`` returns. Field order matters: the real service rejects a ``Field`` list that is
not in WSDL order, so the order of ``RecordType.fields`` (and of each ``children`` tuple) *is* the
WSDL order.

Where the public documentation names a field (``ConsId``, ``ConsName.FirstName``,
``Payment.Amount``, ``TransactionId``, ``AlertId``, ``CampaignId``...) the name is the
documented one. ``OriginalAmount``, ``OriginalTransactionId`` and every ``Refund`` field are
named by the seed (``003``) but not described publicly; their types and places are our choice and
are written down in ``docs/simulators.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ALL_OPERATIONS",
    "ASSOCIATED_TYPES",
    "RECORD_TYPES",
    "TRANSACTION_TYPES",
    "FieldDef",
    "RecordKind",
    "RecordType",
    "XsdScalar",
    "complex_types",
    "field_paths",
]

XsdScalar = Literal["string", "long", "int", "decimal", "boolean", "dateTime"]
SCALAR_TYPES: Final[frozenset[str]] = frozenset(
    {"string", "long", "int", "decimal", "boolean", "dateTime"}
)
RecordKind = Literal["constituent", "transaction", "associated", "meta"]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One element of a record type.

    ``xsd_type`` is a scalar XSD type name or, when ``children`` is set, the name of the complex
    type those children form (shared by every field of that complex type, see
    :func:`complex_types`). ``writable`` is what ``DescribeRecordType`` reports and what
    ``Create``/``Update`` accept; ``max_length`` applies to strings only.
    """

    name: str
    xsd_type: str
    writable: bool = False
    nillable: bool = True
    multiple: bool = False
    children: tuple[FieldDef, ...] | None = None
    max_length: int | None = None

    @property
    def is_complex(self) -> bool:
        return self.children is not None


@dataclass(frozen=True, slots=True)
class RecordType:
    """A record type: its fields in WSDL order and the operations it supports."""

    name: str
    fields: tuple[FieldDef, ...]
    operations: frozenset[str]
    kind: RecordKind
    id_field: str

    def field(self, path: str) -> FieldDef | None:
        """The field at a dot-notation ``path`` (``ConsName.FirstName``), or None."""
        fields: tuple[FieldDef, ...] | None = self.fields
        found: FieldDef | None = None
        for part in path.split("."):
            if fields is None:
                return None
            found = next((f for f in fields if f.name == part), None)
            if found is None:
                return None
            fields = found.children
        return found

    def supports(self, operation: str) -> bool:
        return operation in self.operations


# -- operation names (the SOAP operation names, as DescribeRecordType lists them) -------------

GET_INSERTS: Final = "GetIncrementalInserts"
GET_UPDATES: Final = "GetIncrementalUpdates"
GET_DELETES: Final = "GetIncrementalDeletes"
QUERY: Final = "Query"
FIND: Final = "Find"
CREATE: Final = "Create"
UPDATE: Final = "Update"
DELETE: Final = "Delete"
ALL_OPERATIONS: Final[tuple[str, ...]] = (
    GET_INSERTS,
    GET_UPDATES,
    GET_DELETES,
    QUERY,
    FIND,
    CREATE,
    UPDATE,
    DELETE,
)

_INCREMENTAL = frozenset({GET_INSERTS, GET_UPDATES, GET_DELETES})
_LOOKUP = frozenset({QUERY, FIND})


# -- building blocks ---------------------------------------------------------------------------


def _s(name: str, *, writable: bool = False, max_length: int | None = None) -> FieldDef:
    return FieldDef(name, "string", writable=writable, max_length=max_length)


def _id(name: str, *, nillable: bool = False) -> FieldDef:
    return FieldDef(name, "long", nillable=nillable)


def _ref(name: str) -> FieldDef:
    """A reference to another record's id (absent when the transaction has none)."""
    return FieldDef(name, "long")


def _dec(name: str) -> FieldDef:
    return FieldDef(name, "decimal")


def _dt(name: str) -> FieldDef:
    return FieldDef(name, "dateTime")


def _int(name: str) -> FieldDef:
    return FieldDef(name, "int")


def _bool(name: str, *, writable: bool = False) -> FieldDef:
    return FieldDef(name, "boolean", writable=writable)


def _complex(
    name: str, type_name: str, children: tuple[FieldDef, ...], *, writable: bool = False
) -> FieldDef:
    return FieldDef(name, type_name, writable=writable, children=children)


# Constituent name and address parts are writable through Create/Update.
_NAME_PARTS: Final = (
    _s("FirstName", writable=True, max_length=50),
    _s("MiddleName", writable=True, max_length=50),
    _s("LastName", writable=True, max_length=50),
)
_ADDRESS_PARTS: Final = (
    _s("Street1", writable=True, max_length=255),
    _s("Street2", writable=True, max_length=255),
    _s("City", writable=True, max_length=50),
    _s("State", writable=True, max_length=50),
    _s("Zip", writable=True, max_length=40),
    _s("Country", writable=True, max_length=50),
)

# The constituent a transaction belongs to, as it is embedded in the transaction (Donor,
# Participant...). One complex type for all of them.
_CONS_SUMMARY: Final = (
    _id("ConsId"),
    _s("MemberId"),
    _s("PrimaryEmail"),
    _complex("ConsName", "Name", _NAME_PARTS),
)

# Payment as every financial transaction and every Refund carries it. OriginalAmount is 0 unless
# the transaction was partially refunded (seed 003); on a Refund it is the transaction's amount
# before that refund.
_PAYMENT: Final = (
    _dec("Amount"),
    _dec("OriginalAmount"),
    _dt("PaymentDate"),
    _dt("ModifyDate"),
    _int("CreationMethod"),
    _s("TenderType"),
    _s("ConfirmationCode"),
    _s("BillingName"),
    _ref("DiscountId"),
)


def _donor(name: str = "Donor") -> FieldDef:
    return _complex(name, "ConstituentSummary", _CONS_SUMMARY)


def _payment() -> FieldDef:
    return _complex("Payment", "Payment", _PAYMENT)


def _rt(
    name: str,
    kind: RecordKind,
    operations: frozenset[str],
    id_field: str,
    *fields: FieldDef,
) -> RecordType:
    return RecordType(name, tuple(fields), operations, kind, id_field)


_TRANSACTION_OPS: Final = _INCREMENTAL
_INSERTS_ONLY: Final = frozenset({GET_INSERTS})

_TYPES: Final[tuple[RecordType, ...]] = (
    # -- constituents ---------------------------------------------------------------------
    _rt(
        "Constituent",
        "constituent",
        _INCREMENTAL | _LOOKUP | {CREATE, UPDATE, DELETE},
        "ConsId",
        _id("ConsId"),
        _s("MemberId", writable=True, max_length=255),
        _s("UserName", writable=True, max_length=60),
        _s("PrimaryEmail", writable=True, max_length=255),
        _complex("ConsName", "Name", _NAME_PARTS, writable=True),
        _complex("HomeAddress", "Address", _ADDRESS_PARTS, writable=True),
        _s("HomePhone", writable=True, max_length=50),
        _bool("AcceptsEmail", writable=True),
        _dt("CreationDate"),
        _dt("ModifyDate"),
    ),
    # -- transactions (download only) -----------------------------------------------------
    _rt(
        "ActionAlertResponse",
        "transaction",
        _INSERTS_ONLY,
        "ResponseId",
        _id("ResponseId"),
        _ref("AlertId"),
        _donor("Constituent"),
        _dt("ResponseDate"),
        _s("Subject"),
    ),
    _rt(
        "Donation",
        "transaction",
        _TRANSACTION_OPS,
        "TransactionId",
        _id("TransactionId"),
        _donor(),
        _ref("CampaignId"),
        _ref("FormId"),
        _ref("DonationLevelId"),
        _dec("TaxDeductibleValue"),
        _payment(),
    ),
    _rt(
        "PersonalFundraisingGift",
        "transaction",
        _TRANSACTION_OPS,
        "TransactionId",
        _id("TransactionId"),
        _donor(),
        _ref("PersonalFundraisingCampaignId"),
        _payment(),
    ),
    _rt(
        "ProductOrder",
        "transaction",
        _TRANSACTION_OPS,
        "TransactionId",
        _id("TransactionId"),
        _donor(),
        _ref("ProductId"),
        _ref("ShipmentItemId"),
        _int("Quantity"),
        _payment(),
    ),
    _rt(
        "TeamRaiserGift",
        "transaction",
        _TRANSACTION_OPS,
        "TransactionId",
        _id("TransactionId"),
        _donor(),
        _ref("EventId"),
        _ref("TeamId"),
        _ref("RecipientConsId"),
        _payment(),
    ),
    _rt(
        "TeamRaiserRegistration",
        "transaction",
        _TRANSACTION_OPS,
        "TransactionId",
        _id("TransactionId"),
        _donor("Participant"),
        _ref("EventId"),
        _ref("TeamId"),
        _ref("CompanyId"),
        _ref("ParticipationTypeId"),
        _payment(),
    ),
    _rt(
        "TicketPurchase",
        "transaction",
        _TRANSACTION_OPS,
        "TransactionId",
        _id("TransactionId"),
        _donor("Purchaser"),
        _ref("CalendarEventId"),
        _int("Quantity"),
        _payment(),
    ),
    _rt(
        "Refund",
        "transaction",
        _INSERTS_ONLY | _LOOKUP,
        "RefundId",
        _id("RefundId"),
        _ref("OriginalTransactionId"),
        _s("OriginalTransactionType"),
        _dt("RefundDate"),
        _bool("Online"),
        _bool("FullRefund"),
        _payment(),
    ),
    # -- associated (lookup) types ----------------------------------------------------------
    _rt(
        "ActionAlert",
        "associated",
        _LOOKUP,
        "AlertId",
        _id("AlertId"),
        _s("Title"),
        _s("Status"),
    ),
    _rt(
        "DonationCampaign",
        "associated",
        _LOOKUP,
        "CampaignId",
        _id("CampaignId"),
        _s("Title"),
        _s("Description"),
    ),
    _rt(
        "DonationForm",
        "associated",
        _LOOKUP,
        "FormId",
        _id("FormId"),
        _ref("CampaignId"),
        _s("Title"),
    ),
    _rt(
        "DonationLevel",
        "associated",
        _LOOKUP,
        "DonationLevelId",
        _id("DonationLevelId"),
        _ref("FormId"),
        _s("Title"),
        _dec("Amount"),
    ),
    _rt(
        "PersonalFundraisingCampaign",
        "associated",
        _LOOKUP,
        "PersonalFundraisingCampaignId",
        _id("PersonalFundraisingCampaignId"),
        _ref("OwnerConsId"),
        _s("Title"),
        _dec("Goal"),
    ),
    _rt(
        "ShipmentItem",
        "associated",
        _LOOKUP,
        "ShipmentItemId",
        _id("ShipmentItemId"),
        _ref("ProductId"),
        _int("Quantity"),
        _dt("ShipDate"),
        _s("Status"),
    ),
    _rt(
        "Product",
        "associated",
        _LOOKUP,
        "ProductId",
        _id("ProductId"),
        _s("Name"),
        _s("Sku"),
        _dec("Price"),
    ),
    _rt(
        "TeamRaiserEvent",
        "associated",
        _LOOKUP,
        "EventId",
        _id("EventId"),
        _s("Name"),
        _dt("EventDate"),
    ),
    _rt(
        "TeamRaiserCompany",
        "associated",
        _LOOKUP,
        "CompanyId",
        _id("CompanyId"),
        _ref("EventId"),
        _s("Name"),
    ),
    _rt(
        "TeamRaiserParticipationType",
        "associated",
        _LOOKUP,
        "ParticipationTypeId",
        _id("ParticipationTypeId"),
        _ref("EventId"),
        _s("Name"),
        _dec("Fee"),
    ),
    _rt(
        "TeamRaiserTeam",
        "associated",
        _LOOKUP,
        "TeamId",
        _id("TeamId"),
        _ref("EventId"),
        _ref("CompanyId"),
        _s("Name"),
        _ref("CaptainConsId"),
    ),
    _rt(
        "CalendarEvent",
        "associated",
        _LOOKUP,
        "CalendarEventId",
        _id("CalendarEventId"),
        _s("Title"),
        _dt("StartDate"),
        _dt("EndDate"),
        _s("Location"),
    ),
    _rt(
        "Discount",
        "associated",
        _LOOKUP,
        "DiscountId",
        _id("DiscountId"),
        _s("Name"),
        _s("Code"),
        _dec("Amount"),
    ),
    # -- meta -------------------------------------------------------------------------------
    _rt(
        "Partition",
        "meta",
        _LOOKUP,
        "PartitionId",
        _id("PartitionId"),
        _s("Name"),
        _s("Description"),
    ),
)

RECORD_TYPES: Final[dict[str, RecordType]] = {t.name: t for t in _TYPES}
TRANSACTION_TYPES: Final[tuple[str, ...]] = tuple(t.name for t in _TYPES if t.kind == "transaction")
ASSOCIATED_TYPES: Final[tuple[str, ...]] = tuple(t.name for t in _TYPES if t.kind == "associated")


def _walk(fields: tuple[FieldDef, ...], prefix: str) -> Iterator[tuple[str, FieldDef]]:
    for f in fields:
        path = f"{prefix}{f.name}"
        yield path, f
        if f.children is not None:
            yield from _walk(f.children, f"{path}.")


def field_paths(record_type: RecordType | str, *, leaves_only: bool = False) -> list[str]:
    """Every field path of a type in WSDL (document) order, dot notation for subfields.

    A complex field comes right before its children (``ConsName``, ``ConsName.FirstName``, ...):
    a request may name the whole complex field or some of its parts. ``leaves_only`` drops the
    complex fields themselves.
    """
    rt = RECORD_TYPES[record_type] if isinstance(record_type, str) else record_type
    return [p for p, f in _walk(rt.fields, "") if not (leaves_only and f.is_complex)]


def complex_types() -> dict[str, tuple[FieldDef, ...]]:
    """Every complex type used by the record types, by name (for the WSDL).

    Raises ``ValueError`` when one complex type name is used with two different shapes, so a
    schema edit cannot silently produce an inconsistent WSDL.
    """
    found: dict[str, tuple[FieldDef, ...]] = {}
    for rt in _TYPES:
        for path, f in _walk(rt.fields, f"{rt.name}."):
            if f.children is None:
                if f.xsd_type not in SCALAR_TYPES:
                    raise ValueError(f"{path}: unknown XSD type {f.xsd_type!r}")
                continue
            shape = tuple((c.name, c.xsd_type, c.multiple) for c in f.children)
            seen = found.get(f.xsd_type)
            if seen is not None and tuple((c.name, c.xsd_type, c.multiple) for c in seen) != shape:
                raise ValueError(f"{path}: complex type {f.xsd_type} used with two shapes")
            found.setdefault(f.xsd_type, f.children)
    return found


complex_types()  # fail at import when the schema is inconsistent
