"""Donors and gifts from Legacy RaiseDonors written into Virtuous CRM+ through its Gift and
Contact Import Tool (sink ``virtuous_import``).

As the seed describes the integration, RaiseDonors never edits a Virtuous contact directly:
a donor's edit goes as a **Contact Transaction** (``POST /api/Contact/Transaction``) and a gift,
with its donor's contact data, as a **Gift Transaction** (``POST /api/v2/Gift/Transaction``,
``transactionSource`` "Legacy RaiseDonors", ``transactionId`` the gift id). Every transaction
carries ReferenceSource "Legacy RaiseDonors" and ReferenceId = the donor id, which is how a
donor missing in Virtuous is created (with that reference) and how one already there is found.
Virtuous keeps the transactions in a holding area, bundles them at midnight into one import per
source, and nothing reaches a contact until a user runs that import: then the changes show on
the contact's audit log with that user's name, and the contact's webhooks fire (source
``import``).

**Exactly once.** The sink is idempotent by key, the donor id. A batch the engine sends again
(a retry after a 503, or the rerun after a crash between the write and the engine's commit)
sends the same transactions again, and that cannot duplicate a contact:

* within one bundle, the import tool merges the rows of one reference (ReferenceSource +
  ReferenceId) into one, so a contact sent twice is one row and changes once;
* across bundles (a resend after midnight), importing matches each row on its reference first:
  the contact the first import created carries that reference, so the second updates it;
* gift transactions are unique by (transactionSource, transactionId): the same gift sent twice
  is one gift.

``was_applied`` therefore answers ``False`` (the default): Virtuous offers no way to read the
holding area through the API, so the sink cannot tell whether a batch reached it, and
resending is harmless. ``target_keys`` is the donor id, the key the ``virtuous_webhook``
source gives the contact first, so the ``echo`` loop guard recognises the import's own
ContactUpdate when it comes back.

A record the import tool refuses (HTTP 400, e.g. no name at all) is ``REJECTED`` with
Virtuous's message; one whose fields are wrong before anything is sent (no donor id, an amount
that is not a number, a field the import tool does not have) is rejected with the field named.
Blank names, email and phone are left out of a transaction (the import tool reads an absent
field as "no information"); the primary address is sent whole, its blank parts cleared.
Deletions are skipped: the import tool only creates and updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from syncframe.components import (
    BatchResult,
    ComponentContext,
    Outcome,
    Sink,
    WritePlan,
)
from syncframe.records import Change, Operation
from syncframe_raisedonors_virtuous.virtuous_client import RecordRefused, virtuous_client_for
from syncframe_raisedonors_virtuous.virtuous_models import (
    ORGANIZATION_TYPES,
    RAISEDONORS_REFERENCE_SOURCE,
)

__all__ = [
    "ImportRecord",
    "VirtuousImportOptions",
    "VirtuousImportSink",
    "contact_transaction",
    "gift_transaction",
]

CONTACT_TYPES: Final = ("Household", *sorted(ORGANIZATION_TYPES))
_CENT: Final = Decimal("0.01")


def _text(value: Any) -> Any:
    """Ids as text; a blank is no value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value  # not an id: validation refuses it
    return str(value).strip() if isinstance(value, int | str) else value


class ImportRecord(BaseModel):
    """The fields of a change the sink sends: a donor, and for a gift the gift's own fields.

    The names are the RaiseDonors side's (``raisedonors_activity`` emits exactly these), so a
    flow from it needs no field mapping. ``virtuous_contact_id`` is accepted and not sent: the
    import tool matches on the reference, not on a contact id.
    """

    model_config = ConfigDict(extra="forbid")

    donor_id: str = Field(min_length=1)
    is_organization: bool | None = None
    contact_type: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organization_name: str | None = None
    email: str | None = None
    phone: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    virtuous_contact_id: str | None = None
    reference_source: str | None = None
    # The fields an edit changed (the RaiseDonors source lists them): only those are sent, so a
    # copy of the others never overwrites what changed in Virtuous before the import ran.
    changed_fields: list[str] | None = None
    gift_id: str | None = None
    amount: Decimal | None = None
    gift_date: date | None = None
    project_code: str | None = None

    @field_validator("donor_id", "virtuous_contact_id", "gift_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator(
        "contact_type",
        "first_name",
        "last_name",
        "organization_name",
        "email",
        "phone",
        "address1",
        "address2",
        "city",
        "state",
        "postal_code",
        "country",
        "reference_source",
        "project_code",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an amount")
        try:
            amount = Decimal(str(value).replace(",", "").strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not an amount") from None
        if not amount.is_finite() or amount <= 0:
            raise ValueError(f"{value!r} is not a positive amount")
        return amount.quantize(_CENT)

    @field_validator("gift_date", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str):
            text = value.strip()
            try:
                return datetime.fromisoformat(text).date()
            except ValueError:
                pass
            try:
                # RaiseDonors' giving form shows dates as M/D/YYYY.
                return datetime.strptime(text, "%m/%d/%Y").date()
            except ValueError:
                raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
        return value

    @field_validator("contact_type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and value not in CONTACT_TYPES:
            raise ValueError(f"{value!r} is not a contact type ({', '.join(CONTACT_TYPES)})")
        return value

    @field_validator("reference_source")
    @classmethod
    def _ours(cls, value: str | None) -> str | None:
        if value is not None and value != RAISEDONORS_REFERENCE_SOURCE:
            raise ValueError(
                f"{value!r}: the sync sends only ReferenceSource {RAISEDONORS_REFERENCE_SOURCE!r}"
            )
        return value

    @property
    def is_gift(self) -> bool:
        """Whether the change is a gift (a Gift Transaction), not only a donor's edit."""
        return self.gift_id is not None

    @property
    def resolved_contact_type(self) -> str:
        """``contact_type`` if given, else Organization for an organization, else Household."""
        if self.contact_type is not None:
            return self.contact_type
        return "Organization" if self.is_organization else "Household"


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(step) for step in error["loc"]) or "fields"
        if error["type"] == "extra_forbidden":
            problems.append(f"field {where!r} is not one the Virtuous import tool takes")
        elif error["type"] == "missing":
            problems.append(f"field {where!r} is missing")
        else:
            problems.append(f"field {where!r}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


#: What a contact transaction always carries: who the contact is.
_IDENTITY: Final = frozenset(
    {"donor_id", "is_organization", "contact_type", "virtuous_contact_id", "reference_source"}
)
_ADDRESS: Final = ("address1", "address2", "city", "state", "postal_code", "country")


def _only_changed(record: ImportRecord) -> ImportRecord:
    """``record`` with only the fields its edit changed (an address goes whole)."""
    changed = set(record.changed_fields or ())
    if changed & set(_ADDRESS):
        changed |= set(_ADDRESS)
    if record.resolved_contact_type in ORGANIZATION_TYPES:
        changed.discard("first_name")
        changed.discard("last_name")
    kept = {
        name: getattr(record, name)
        for name in type(record).model_fields
        if name in _IDENTITY or name in changed
    }
    return ImportRecord.model_validate(kept)


def contact_transaction(record: ImportRecord) -> dict[str, Any]:
    """The Contact Transaction of a donor: reference, name, primary email, phone and address.

    Blank names, email and phone are left out (the import tool reads an absent field as "no
    information", and a donor without a phone must not wipe the contact's). The primary address
    goes whole: when the donor has one, its blank parts are sent as "" (cleared), so a move from
    "1 Elm St, Apt 4" to "9 Oak Rd" does not keep "Apt 4".
    """
    contact_type = record.resolved_contact_type
    organization = contact_type in ORGANIZATION_TYPES
    values: dict[str, Any] = {
        "referenceSource": RAISEDONORS_REFERENCE_SOURCE,
        "referenceId": record.donor_id,
        "contactType": contact_type,
        "name": record.organization_name if organization else None,
        "firstName": record.first_name,
        "lastName": record.last_name,
        "emailType": "Home Email" if record.email else None,
        "email": record.email,
        "phoneType": "Home Phone" if record.phone else None,
        "phone": record.phone,
    }
    transaction = {name: value for name, value in values.items() if value is not None}
    address = {
        "address1": record.address1,
        "address2": record.address2,
        "city": record.city,
        "state": record.state,
        "postal": record.postal_code,
        "country": record.country,
    }
    if any(address.values()):
        transaction.update({name: value or "" for name, value in address.items()})
    return transaction


def gift_transaction(record: ImportRecord, gift_type: str, gift_date: date) -> dict[str, Any]:
    """The Gift Transaction of a gift, with its donor's contact data."""
    # The sink sends only gifts with an id and an amount.
    assert record.gift_id is not None
    assert record.amount is not None
    values: dict[str, Any] = {
        "transactionSource": RAISEDONORS_REFERENCE_SOURCE,
        "transactionId": record.gift_id,
        "contact": contact_transaction(record),
        "giftDate": (record.gift_date or gift_date).isoformat(),
        "giftType": gift_type,
        # Virtuous takes the amount as a JSON number; it has whole cents (quantized).
        "amount": float(record.amount),
    }
    if record.project_code:
        values["designations"] = [
            {"code": record.project_code, "amountDesignated": float(record.amount)}
        ]
    return values


class VirtuousImportOptions(BaseModel):
    """Options of the ``virtuous_import`` sink."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(
        "contact",
        min_length=1,
        description=(
            "The entity the engine records this sink's writes under: 'contact', what the "
            "virtuous_webhook source reads back, so the echo loop guard recognises them."
        ),
    )
    gift_type: str = Field(
        "Credit",
        min_length=1,
        description="giftType of the Gift Transactions (gifts on RaiseDonors' forms are card "
        "payments: Credit).",
    )


class VirtuousImportSink(Sink[VirtuousImportOptions]):
    """Donor edits and gifts into Virtuous CRM+'s import tool (Contact and Gift Transactions,
    ReferenceSource "Legacy RaiseDonors", ReferenceId = donor id); idempotent by donor id."""

    Options = VirtuousImportOptions
    system = "virtuous"

    def __init__(self, context: ComponentContext, options: VirtuousImportOptions) -> None:
        super().__init__(context, options)
        self.client = virtuous_client_for(context)

    async def check(self) -> None:
        """Sign in and make one authenticated call."""
        await self.client.check()

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = BatchResult([])
        for index, change in enumerate(changes):
            outcome, donor_id, reason = await self._send(change, plan.dry_run)
            result.outcomes.append(outcome)
            if donor_id is not None:
                result.target_keys[index] = donor_id
            if reason is not None:
                result.reasons[index] = reason
        return result

    async def _send(self, change: Change, dry_run: bool) -> tuple[Outcome, str | None, str | None]:
        """Send one change: its outcome, the donor id it was sent under, and why (if not)."""
        if change.operation is Operation.DELETE:
            return (
                Outcome.SKIPPED,
                None,
                f"{change.describe()}: the Virtuous import tool does not delete contacts",
            )
        try:
            record = ImportRecord.model_validate(change.fields)
        except ValidationError as exc:
            return Outcome.REJECTED, None, f"{change.describe()}: {_describe(exc)}"
        if record.is_gift and record.amount is None:
            return (
                Outcome.REJECTED,
                None,
                f"{change.describe()}: gift {record.gift_id} has no amount",
            )
        created = change.operation is Operation.INSERT
        if record.is_gift:
            when = change.occurred_at or self.context.clock.now()
            transaction = gift_transaction(record, self.options.gift_type, when.date())
            what = f"sending gift {record.gift_id} of donor {record.donor_id} to the import tool"
            created = True
        else:
            if record.changed_fields is not None:
                record = _only_changed(record)
            transaction = contact_transaction(record)
            what = f"sending donor {record.donor_id} to the import tool"
        if not dry_run:
            try:
                if record.is_gift:
                    await self.client.gift_transaction(transaction, what)
                else:
                    await self.client.contact_transaction(transaction, what)
            except RecordRefused as exc:
                return Outcome.REJECTED, None, f"{change.describe()}: {exc}"
        return (Outcome.CREATED if created else Outcome.UPDATED), record.donor_id, None
