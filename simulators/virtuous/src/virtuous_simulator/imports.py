"""The Gift and Contact Import Tool: transactions wait in a holding state, are bundled at
midnight into one import per source, and change contacts only when a user runs the import.

- ``POST /api/Contact/Transaction`` and ``POST /api/v2/Gift/Transaction`` add a payload to the
  holding state (:meth:`ImportTool.hold_contact`, :meth:`ImportTool.hold_gift`).
- At midnight (UTC, on the simulator clock; checked lazily on every request) everything held
  from an earlier day becomes one :class:`Import` per (source, day received), named
  ``"<source> — <yyyy-mm-dd>"``. Rows for the same contact in one bundle are merged (later
  values win, so a payload sent twice changes the contact once); gifts are unique by
  (transactionSource, transactionId), the later payload replacing the earlier one.
- Each row is classified against the contacts as they are now: **Ready for Import** (matched by
  reference, nothing differs), **Update Needed** (matched by reference, fields differ) or
  **Match Needed** (no reference match: a suggested match by email, or a new contact).
- :meth:`ImportTool.run` (a named user clicks Import) matches on reference, then email, then
  creates a contact carrying the reference; changed fields land with the user on the audit
  log and the webhooks fire with source ``import``. Gifts already imported are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from virtuous_simulator._common import BadRequest, Conflict, NotFound, iso
from virtuous_simulator.contacts import (
    CONTACT_TYPES,
    METHOD_TYPES,
    AddressIn,
    Contact,
    ContactEdit,
    ContactIn,
    ContactMethodIn,
    ContactStore,
    IndividualIn,
    check_email,
    format_address,
)

__all__ = [
    "CONTACT_FIELDS",
    "ContactTransactionIn",
    "Gift",
    "GiftEvent",
    "GiftTransactionIn",
    "Held",
    "Import",
    "ImportRow",
    "ImportTool",
    "gift_json",
]

#: The contact fields a transaction carries (camelCase, as sent).
CONTACT_FIELDS: Final = (
    "contactType",
    "name",
    "firstName",
    "lastName",
    "email",
    "emailType",
    "phone",
    "phoneType",
    "address1",
    "address2",
    "city",
    "state",
    "postal",
    "country",
)
_ADDRESS_PARTS: Final = ("address1", "address2", "city", "state", "postal", "country")
RowStatus = Literal["Match Needed", "Update Needed", "Ready for Import"]


def _text(value: Any) -> Any:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str | None, BeforeValidator(_text)]


class _In(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True
    )


class _ContactFields(_In):
    """Contact data of a transaction. Absent or null: not given; an empty string: cleared."""

    reference_source: Text = None
    reference_id: Text = None
    contact_type: Text = None
    name: Text = None
    first_name: Text = None
    last_name: Text = None
    email: Text = None
    email_type: Text = None
    phone: Text = None
    phone_type: Text = None
    address1: Text = None
    address2: Text = None
    city: Text = None
    state: Text = None
    postal: Text = None
    country: Text = None

    @field_validator("contact_type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        for known in CONTACT_TYPES:
            if value.casefold() == known.casefold():
                return known
        raise ValueError(f"{value!r} is not a contact type ({', '.join(CONTACT_TYPES)})")

    def given(self) -> dict[str, str | None]:
        """camelCase field -> value ("" becomes None: clear) for every field given."""
        values: dict[str, str | None] = {}
        for name in CONTACT_FIELDS:
            value = getattr(self, _snake(name))
            if value is not None:
                values[name] = value or None
        return values


class ContactTransactionIn(_ContactFields):
    """``POST /api/Contact/Transaction`` (``referenceSource`` and ``referenceId`` required)."""


class _Designation(_In):
    id: int | None = None
    code: Text = None
    amount_designated: Decimal | None = None


class GiftTransactionIn(_In):
    """``POST /api/v2/Gift/Transaction``."""

    transaction_source: Text = None
    transaction_id: Text = None
    contact: _ContactFields
    gift_date: Text = None
    gift_type: Text = "Credit"
    amount: Decimal = Field(gt=0)
    currency_code: Text = "USD"
    frequency: Text = None
    recurring_gift_transaction_id: Text = None
    batch: Text = None
    segment: Text = None
    notes: Text = None
    designations: list[_Designation] = Field(default_factory=list)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


@dataclass(slots=True, eq=False)
class Gift:
    id: int
    contact_id: int
    transaction_source: str
    transaction_id: str
    gift_date: date
    gift_type: str
    amount: Decimal
    currency_code: str
    batch: str | None
    segment: str | None
    notes: str | None
    designations: list[dict[str, Any]]
    created_at: datetime
    import_id: int


def gift_json(gift: Gift) -> dict[str, Any]:
    return {
        "id": gift.id,
        "transactionSource": gift.transaction_source,
        "transactionId": gift.transaction_id,
        "contactId": gift.contact_id,
        "giftDate": gift.gift_date.isoformat(),
        "giftDateFormatted": f"{gift.gift_date.month}/{gift.gift_date.day}/{gift.gift_date.year}",
        "giftType": gift.gift_type,
        "amount": float(gift.amount),
        "currencyCode": gift.currency_code,
        "batch": gift.batch,
        "segment": gift.segment,
        "notes": gift.notes,
        "giftDesignations": gift.designations,
        "createDateTimeUtc": iso(gift.created_at),
        "importId": gift.import_id,
    }


@dataclass(frozen=True, slots=True)
class GiftEvent:
    """A gift was created by an import: what the webhooks are told (``GiftCreate``)."""

    source: str
    user: str
    gift: Gift
    at: datetime


@dataclass(slots=True, eq=False)
class Held:
    """A transaction in the holding state, waiting for midnight."""

    kind: Literal["contact", "gift"]
    source: str
    received_at: datetime
    payload: ContactTransactionIn | GiftTransactionIn

    def json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "receivedAt": iso(self.received_at),
            "payload": self.payload.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


@dataclass(slots=True, eq=False)
class ImportRow:
    """One contact of an import, merged from every payload for it in the bundle."""

    number: int
    reference_source: str | None
    reference_id: str | None
    fields: dict[str, str | None]
    payloads: int = 1
    gifts: list[tuple[str, str]] = field(default_factory=list)  # gift keys, in order
    status: RowStatus = "Match Needed"
    match_id: int | None = None
    matched_by: Literal["reference", "email"] | None = None
    changes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    result: dict[str, Any] | None = None


@dataclass(slots=True, eq=False)
class Import:
    id: int
    name: str
    source: str
    day: date
    created_at: datetime
    rows: list[ImportRow]
    gifts: dict[tuple[str, str], GiftTransactionIn]
    status: Literal["Pending", "Imported"] = "Pending"
    imported_by: str | None = None
    imported_at: datetime | None = None
    summary: dict[str, int] | None = None

    def counts(self) -> dict[str, int]:
        counts = {"Match Needed": 0, "Update Needed": 0, "Ready for Import": 0}
        for row in self.rows:
            counts[row.status] += 1
        return counts


def _gift_key(source: str, transaction_id: str) -> tuple[str, str]:
    return source.casefold(), transaction_id


def _row_key(source: str | None, reference_id: str | None, fields: dict[str, str | None]) -> Any:
    if source and reference_id:
        return ("reference", source.casefold(), reference_id)
    email = fields.get("email")
    if email:
        return ("email", email.casefold())
    return (
        "name",
        (fields.get("name") or "").casefold(),
        (fields.get("firstName") or ""),
        (fields.get("lastName") or ""),
        (fields.get("postal") or ""),
    )


class ImportTool:
    """The holding state, the imports and the gifts they created."""

    FIRST_GIFT_ID: Final = 7_000_001

    def __init__(self, store: ContactStore) -> None:
        self.store = store
        self.listeners: list[Callable[[GiftEvent], None]] = []
        self.held: list[Held] = []
        self.imports: dict[int, Import] = {}
        self.gifts: dict[int, Gift] = {}
        self._gift_by_transaction: dict[tuple[str, str], int] = {}
        self._gifts_by_contact: dict[int, list[int]] = {}
        self._next_import = 1
        self._next_gift = self.FIRST_GIFT_ID

    # -- receiving -----------------------------------------------------------------------------

    def hold_contact(self, payload: ContactTransactionIn) -> Held:
        if not payload.reference_source:
            raise BadRequest("referenceSource: a contact transaction needs a referenceSource")
        if not payload.reference_id:
            raise BadRequest("referenceId: a contact transaction needs a referenceId")
        _check_contact_fields(payload, "")
        held = Held("contact", payload.reference_source, self.store.now(), payload)
        self.held.append(held)
        return held

    def hold_gift(self, payload: GiftTransactionIn) -> Held:
        if not payload.transaction_source:
            raise BadRequest("transactionSource: a gift transaction needs a transactionSource")
        if not payload.transaction_id:
            raise BadRequest("transactionId: a gift transaction needs a transactionId")
        contact = payload.contact
        if not contact.reference_source:
            # The contact of a gift comes from the gift's source unless it names its own.
            contact.reference_source = payload.transaction_source
        fields = contact.given()
        if not (
            contact.reference_id
            or fields.get("email")
            or fields.get("name")
            or fields.get("lastName")
        ):
            raise BadRequest(
                "contact: give a referenceId, an email or a name so the gift can be matched"
            )
        _check_contact_fields(contact, "contact.")
        if payload.gift_date is not None:
            _gift_date(payload.gift_date)
        held = Held("gift", payload.transaction_source, self.store.now(), payload)
        self.held.append(held)
        return held

    # -- bundling at midnight ------------------------------------------------------------------

    def bundle_due(self) -> list[Import]:
        """Bundle everything held from a day before today (UTC) into imports."""
        if not self.held:
            return []
        now = self.store.now()
        today = now.date()
        if self.held[0].received_at.date() >= today:
            return []
        due = [h for h in self.held if h.received_at.date() < today]
        self.held = [h for h in self.held if h.received_at.date() >= today]
        groups: dict[tuple[str, date], list[Held]] = {}
        for held in due:
            day = held.received_at.date()
            groups.setdefault((held.source.casefold(), day), []).append(held)
        made: list[Import] = []
        for (_, day), items in groups.items():
            made.append(self._bundle(items[0].source, day, items))
        return made

    def _bundle(self, source: str, day: date, items: Iterable[Held]) -> Import:
        midnight = datetime.combine(day, time(), tzinfo=UTC)
        imp = Import(
            id=self._next_import,
            name=f"{source} — {day.isoformat()}",
            source=source,
            day=day,
            created_at=midnight + timedelta(days=1),  # the midnight that closed the day
            rows=[],
            gifts={},
        )
        self._next_import += 1
        rows: dict[Any, ImportRow] = {}
        gift_rows: dict[tuple[str, str], ImportRow] = {}
        for held in items:
            contact = (
                held.payload
                if isinstance(held.payload, ContactTransactionIn)
                else (held.payload.contact)
            )
            fields = contact.given()
            key = _row_key(contact.reference_source, contact.reference_id, fields)
            row = rows.get(key)
            if row is None:
                row = ImportRow(
                    len(rows) + 1, contact.reference_source, contact.reference_id, fields
                )
                rows[key] = row
            else:
                row.fields.update(fields)
                row.payloads += 1
            if isinstance(held.payload, GiftTransactionIn):
                gift = held.payload
                assert gift.transaction_source is not None
                assert gift.transaction_id is not None
                gift_key = _gift_key(gift.transaction_source, gift.transaction_id)
                previous = gift_rows.get(gift_key)
                if previous is not None:
                    previous.gifts.remove(gift_key)
                imp.gifts[gift_key] = gift
                gift_rows[gift_key] = row
                row.gifts.append(gift_key)
        imp.rows = list(rows.values())
        self.imports[imp.id] = imp
        self.classify(imp)
        return imp

    # -- classifying ---------------------------------------------------------------------------

    def _match(self, row: ImportRow) -> tuple[Contact | None, Literal["reference", "email"] | None]:
        if row.reference_source and row.reference_id:
            found = self.store.find_by_reference(row.reference_source, row.reference_id)
            if found is not None:
                return found, "reference"
        email = row.fields.get("email")
        if email:
            by_email = self.store.find_by_email(email)
            if by_email:
                # Several contacts share the email: the oldest is suggested (choice).
                return by_email[0], "email"
        return None, None

    def classify(self, imp: Import) -> None:
        """(Re)classify a pending import's rows against the contacts as they are now."""
        if imp.status != "Pending":
            return
        for row in imp.rows:
            contact, matched_by = self._match(row)
            row.match_id = contact.id if contact is not None else None
            row.matched_by = matched_by
            row.changes = _differences(contact, row.fields) if contact is not None else {}
            if matched_by == "reference":
                row.status = "Update Needed" if row.changes else "Ready for Import"
            else:
                row.status = "Match Needed"

    # -- running -------------------------------------------------------------------------------

    def get(self, import_id: int) -> Import:
        imp = self.imports.get(import_id)
        if imp is None:
            raise NotFound(f"import_id: there is no import {import_id}")
        return imp

    def run(self, import_id: int, user: str) -> Import:
        """Run an import as ``user``: every row lands (see the module doc)."""
        imp = self.get(import_id)
        if imp.status == "Imported":
            raise Conflict(
                f"Import {imp.id} ({imp.name}) was already imported by {imp.imported_by} at "
                f"{iso(imp.imported_at)}."
            )
        self.classify(imp)
        note = f"Imported by {user} from the import '{imp.name}'"
        summary = {"created": 0, "updated": 0, "unchanged": 0, "giftsCreated": 0, "giftsSkipped": 0}
        for row in imp.rows:
            contact, matched_by = self._match(row)
            if contact is None:
                contact = self.store.create(
                    _new_contact(row), source="import", user=user, note=note
                )
                action = "created"
            else:
                # A contact found by email takes the row's reference when it has none, so the
                # next import (and the sync back) finds it by reference.
                adopt = (
                    matched_by == "email"
                    and bool(row.reference_source and row.reference_id)
                    and not contact.reference_id
                )
                edit = _edit_of(contact, row, adopt_reference=adopt)
                changes = self.store.edit(contact.id, edit, source="import", user=user, note=note)
                action = "updated" if changes else "unchanged"
            summary[action] += 1
            gifts: list[dict[str, Any]] = []
            for key in row.gifts:
                gift_in = imp.gifts[key]
                existing = self._gift_by_transaction.get(key)
                if existing is not None:
                    summary["giftsSkipped"] += 1
                    gifts.append(
                        {
                            "transactionId": key[1],
                            "action": "skipped",
                            "reason": f"gift {existing} already has this transaction",
                        }
                    )
                    continue
                gift = self._create_gift(gift_in, contact.id, imp, user)
                summary["giftsCreated"] += 1
                gifts.append({"transactionId": key[1], "action": "created", "giftId": gift.id})
            row.result = {"action": action, "contactId": contact.id, "gifts": gifts}
        imp.status = "Imported"
        imp.imported_by = user
        imp.imported_at = self.store.now()
        imp.summary = summary
        return imp

    def _create_gift(
        self, spec: GiftTransactionIn, contact_id: int, imp: Import, user: str
    ) -> Gift:
        assert spec.transaction_source is not None
        assert spec.transaction_id is not None
        at = self.store.now()
        gift = Gift(
            id=self._next_gift,
            contact_id=contact_id,
            transaction_source=spec.transaction_source,
            transaction_id=spec.transaction_id,
            gift_date=_gift_date(spec.gift_date) if spec.gift_date else imp.day,
            gift_type=spec.gift_type or "Credit",
            amount=spec.amount,
            currency_code=spec.currency_code or "USD",
            batch=spec.batch,
            segment=spec.segment,
            notes=spec.notes,
            designations=[
                {
                    "projectId": d.id,
                    "projectCode": d.code,
                    "amountDesignated": float(d.amount_designated)
                    if d.amount_designated is not None
                    else float(spec.amount),
                }
                for d in spec.designations
            ],
            created_at=at,
            import_id=imp.id,
        )
        self._next_gift += 1
        self.gifts[gift.id] = gift
        self._gift_by_transaction[_gift_key(gift.transaction_source, gift.transaction_id)] = gift.id
        self._gifts_by_contact.setdefault(contact_id, []).append(gift.id)
        for listener in self.listeners:
            listener(GiftEvent("import", user, gift, at))
        return gift

    def gifts_of(self, contact_id: int) -> list[Gift]:
        return [self.gifts[i] for i in self._gifts_by_contact.get(contact_id, ())]

    # -- JSON ----------------------------------------------------------------------------------

    def import_json(self, imp: Import, *, rows: bool = True) -> dict[str, Any]:
        self.classify(imp)
        data: dict[str, Any] = {
            "id": imp.id,
            "name": imp.name,
            "source": imp.source,
            "day": imp.day.isoformat(),
            "createdAt": iso(imp.created_at),
            "status": imp.status,
            "importedBy": imp.imported_by,
            "importedAt": iso(imp.imported_at),
            "counts": imp.counts(),
            "summary": imp.summary,
        }
        if rows:
            data["rows"] = [_row_json(imp, row) for row in imp.rows]
        return data

    def snapshot(self) -> dict[str, Any]:
        return {
            "holding": [held.json() for held in self.held],
            "imports": [self.import_json(imp) for imp in self.imports.values()],
            "gifts": [gift_json(gift) for gift in self.gifts.values()],
        }

    def clear(self) -> None:
        self.held.clear()
        self.imports.clear()
        self.gifts.clear()
        self._gift_by_transaction.clear()
        self._gifts_by_contact.clear()
        self._next_import = 1
        self._next_gift = self.FIRST_GIFT_ID


def _row_json(imp: Import, row: ImportRow) -> dict[str, Any]:
    return {
        "row": row.number,
        "referenceSource": row.reference_source,
        "referenceId": row.reference_id,
        "status": row.status,
        "matchContactId": row.match_id,
        "matchedBy": row.matched_by,
        "changes": row.changes,
        "fields": row.fields,
        "payloads": row.payloads,
        "gifts": [
            {
                "transactionSource": imp.gifts[key].transaction_source,
                "transactionId": imp.gifts[key].transaction_id,
                "amount": float(imp.gifts[key].amount),
                "giftDate": imp.gifts[key].gift_date or imp.day.isoformat(),
            }
            for key in row.gifts
        ],
        "result": row.result,
    }


def _check_contact_fields(fields: _ContactFields, prefix: str) -> None:
    if fields.email:
        check_email(fields.email, f"{prefix}email")
    for name, kind in (("email_type", "Email"), ("phone_type", "Phone")):
        value = getattr(fields, name)
        if value and (value not in METHOD_TYPES or not value.endswith(kind)):
            raise BadRequest(f"{prefix}{to_camel(name)}: {value!r} is not a {kind.lower()} type")


def _gift_date(value: str) -> date:
    text = value.strip()
    try:
        if "/" in text:
            month, day, year = (int(part) for part in text.split("/"))
            return date(year, month, day)
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise BadRequest(f"giftDate: {value!r} is not a date") from None


def _differences(
    contact: Contact, fields: dict[str, str | None]
) -> dict[str, dict[str, str | None]]:
    """What running the row would change on ``contact`` (audit field names)."""
    changes: dict[str, dict[str, str | None]] = {}
    individual = contact.primary_individual()

    def note(label: str, old: str | None, new: str | None) -> None:
        if old != new:
            changes[label] = {"old": old, "new": new}

    if "firstName" in fields:
        note("First Name", individual.first_name if individual else None, fields["firstName"])
    if "lastName" in fields:
        note("Last Name", individual.last_name if individual else None, fields["lastName"])
    if "name" in fields and contact.contact_type != "Household" and fields["name"]:
        note("Name", contact.name, fields["name"])
    if "email" in fields:
        note("Primary Email", contact.primary_value("Email"), fields["email"])
    if "phone" in fields:
        note("Primary Phone", contact.primary_value("Phone"), fields["phone"])
    parts = {name: fields[name] for name in _ADDRESS_PARTS if name in fields}
    if parts:
        primary = contact.primary_address()
        old_values = dict(zip(_ADDRESS_PARTS, primary.values(), strict=True)) if primary else {}
        new_values = {name: old_values.get(name) for name in _ADDRESS_PARTS} | parts
        note(
            "Primary Address",
            format_address(primary),
            format_address(tuple(new_values[name] for name in _ADDRESS_PARTS)),
        )
    return changes


def _edit_of(contact: Contact, row: ImportRow, *, adopt_reference: bool) -> ContactEdit:
    """The edit a row makes to a matched contact. A household's name follows its person;
    only organizations and foundations take the row's ``name`` (choice). The contact type is
    not changed by an import."""
    fields = row.fields
    data: dict[str, Any] = {}
    if adopt_reference:
        data["referenceSource"] = row.reference_source
        data["referenceId"] = row.reference_id
    for name in ("firstName", "lastName", "email", "phone"):
        if name in fields:
            data[name] = fields[name]
    if fields.get("email") and fields.get("emailType"):
        data["emailType"] = fields["emailType"]
    if fields.get("phone") and fields.get("phoneType"):
        data["phoneType"] = fields["phoneType"]
    if fields.get("name") and contact.contact_type != "Household":
        data["name"] = fields["name"]
    parts = {name: fields[name] for name in _ADDRESS_PARTS if name in fields}
    if parts:
        data["address"] = parts
    return ContactEdit.model_validate(data)


def _new_contact(row: ImportRow) -> ContactIn:
    fields = row.fields
    methods: list[ContactMethodIn] = []
    if fields.get("email"):
        methods.append(
            ContactMethodIn(
                type=fields.get("emailType") or "Home Email",
                value=fields["email"] or "",
                is_primary=True,
            )
        )
    if fields.get("phone"):
        methods.append(
            ContactMethodIn(
                type=fields.get("phoneType") or "Home Phone",
                value=fields["phone"] or "",
                is_primary=True,
            )
        )
    individuals: list[IndividualIn] = []
    if fields.get("firstName") or fields.get("lastName") or methods:
        individuals.append(
            IndividualIn(
                first_name=fields.get("firstName"),
                last_name=fields.get("lastName"),
                is_primary=True,
                contact_methods=methods,
            )
        )
    parts = {name: fields[name] for name in _ADDRESS_PARTS if fields.get(name)}
    contact_type = fields.get("contactType") or "Household"
    name = fields.get("name")
    if not name:
        full = " ".join(p for p in (fields.get("firstName"), fields.get("lastName")) if p)
        name = full or fields.get("email") or f"{row.reference_source} {row.reference_id}"
    return ContactIn(
        contact_type=contact_type,
        name=name,
        reference_source=row.reference_source,
        reference_id=row.reference_id,
        address=AddressIn.model_validate(parts) if parts else None,
        contact_individuals=individuals,
    )
