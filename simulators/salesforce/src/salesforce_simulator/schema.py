"""The Contact sObject: its fields, their describe metadata, and how API values become stored
values (and back).

Stored values are Python values: ``str`` for text, email, phone, picklist, id and reference
fields, ``bool`` for checkboxes, aware UTC ``datetime`` (whole seconds) for date-times, and
``None`` for an empty field. :func:`render_value` turns them into the JSON the API sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from salesforce_simulator.errors import READ_ONLY_HINT, ErrorItem, SalesforceError
from salesforce_simulator.ids import normalize_id

__all__ = [
    "CONTACT",
    "CONTACT_KEY_PREFIX",
    "EXTERNAL_ID_FIELD",
    "FieldDef",
    "FieldType",
    "SObjectDef",
    "format_datetime",
    "parse_datetime",
    "render_value",
]

FieldType = Literal[
    "id", "string", "textarea", "email", "phone", "picklist", "boolean", "datetime", "reference"
]

#: The Contact key prefix: every Contact id starts with it.
CONTACT_KEY_PREFIX: Final = "003"
#: The custom External ID (and Unique) field that holds the Raiser's Edge Constituent ID.
EXTERNAL_ID_FIELD: Final = "RE_Constituent_ID__c"

_TEXT_TYPES: Final = frozenset({"string", "textarea", "email", "phone", "picklist"})
_SOAP_TYPES: Final = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
}
# Lenient on purpose, like Salesforce's own check: one @, no spaces, a dot in the domain.
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of an sObject as ``describe`` shows it."""

    name: str
    label: str
    type: FieldType
    length: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()

    @property
    def is_text(self) -> bool:
        """Whether the field holds text (``LIKE`` works on it, values are quoted in SOQL)."""
        return self.type in _TEXT_TYPES

    @property
    def is_id(self) -> bool:
        """Whether the field holds a record id (``Id`` or a lookup)."""
        return self.type in ("id", "reference")

    def describe(self) -> dict[str, Any]:
        """The field's entry in ``sobjects/Contact/describe``."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "length": self.length,
            "byteLength": self.length * 3,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.id_lookup,
            "caseSensitive": False,
            "calculated": self.name == "Name",
            "defaultedOnCreate": self.type == "boolean" or not self.createable,
            "defaultValue": False if self.type == "boolean" else None,
            "filterable": True,
            "sortable": True,
            "groupable": self.type != "datetime",
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": value, "value": value}
                for value in self.picklist_values
            ],
            "restrictedPicklist": False,
        }


def _text(name: str, label: str, length: int, **kwargs: Any) -> FieldDef:
    return FieldDef(name, label, "string", length, **kwargs)


def _system(name: str, label: str, type_: FieldType, **kwargs: Any) -> FieldDef:
    length = 18 if type_ in ("id", "reference") else 0
    return FieldDef(
        name, label, type_, length, createable=False, updateable=False, nillable=False, **kwargs
    )


@dataclass(frozen=True, slots=True)
class SObjectDef:
    """An sObject type: its names, key prefix and fields in describe order."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    _by_key: dict[str, FieldDef] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: the lookup table is filled in once, here.
        object.__setattr__(self, "_by_key", {f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name``, in any case (API names are case-insensitive)."""
        return self._by_key.get(name.lower())

    @property
    def external_id_fields(self) -> tuple[FieldDef, ...]:
        return tuple(field for field in self.fields if field.external_id)

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        }

    def basic_describe(self, version: str) -> dict[str, Any]:
        """The object's entry in the global describe and in its basic information."""
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "undeletable": True,
            "queryable": True,
            "retrieveable": True,
            "replicateable": True,
            "searchable": True,
            "layoutable": True,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        """``GET sobjects/Contact/describe``."""
        return {
            **self.basic_describe(version),
            "fields": [field.describe() for field in self.fields],
            "childRelationships": [],
            "recordTypeInfos": [],
        }

    # -- writes ------------------------------------------------------------------------------

    def writable_values(
        self, body: Mapping[str, Any], *, audit_fields: bool = False
    ) -> dict[str, Any]:
        """The stored values a create or update body asks for, by canonical field name.

        ``attributes`` (which clients echo back from records they read) is ignored. Raises
        ``SalesforceError`` 400: ``INVALID_FIELD`` for a field the object does not have,
        ``INVALID_FIELD_FOR_INSERT_UPDATE`` for read-only ones (all of them named),
        ``JSON_PARSER_ERROR`` for a value of the wrong JSON type, ``STRING_TOO_LONG``,
        ``INVALID_EMAIL_ADDRESS`` and ``MALFORMED_ID`` for values the field refuses.
        ``audit_fields`` lets ``CreatedDate`` and ``LastModifiedDate`` through, as Salesforce's
        "Set Audit Fields upon Record Creation" permission does for data loads.
        """
        fields: list[tuple[FieldDef, Any]] = []
        read_only: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            field = self.field(key)
            if field is None:
                raise SalesforceError.one(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {self.name}"
                )
            if audit_fields and field.name in ("CreatedDate", "LastModifiedDate"):
                fields.append((field, raw))
            elif not (field.createable or field.updateable):
                read_only.append(field.name)
            else:
                fields.append((field, raw))
        if read_only:
            raise SalesforceError.one(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. {READ_ONLY_HINT}",
                read_only,
            )
        values: dict[str, Any] = {}
        problems: list[ErrorItem] = []
        for field, raw in fields:
            try:
                values[field.name] = _coerce(field, raw)
            except _Refused as refused:
                problems.append(refused.item)
        if problems:
            parser_errors = [p for p in problems if p.error_code == "JSON_PARSER_ERROR"]
            raise SalesforceError(400, parser_errors[:1] or problems)
        return values


class _Refused(Exception):
    def __init__(self, item: ErrorItem) -> None:
        super().__init__(item.message)
        self.item = item


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


def _parser_error(field: FieldDef, java_type: str, value: Any) -> _Refused:
    return _Refused(
        ErrorItem(
            f"Cannot deserialize instance of {java_type} from {_json_type(value)} value "
            f"{value!r} or request may be missing a required field (field {field.name})",
            "JSON_PARSER_ERROR",
        )
    )


def _coerce(field: FieldDef, raw: Any) -> Any:
    if field.type == "boolean":
        if raw is None:
            return False  # a checkbox is never empty: clearing it unticks it
        if not isinstance(raw, bool):
            raise _parser_error(field, "boolean", raw)
        return raw
    if field.type == "datetime":
        if not isinstance(raw, str):
            raise _parser_error(field, "datetime", raw)
        parsed = parse_datetime(raw)
        if parsed is None:
            raise _Refused(
                ErrorItem(
                    f"{field.label}: value not of required type: {raw}",
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    (field.name,),
                )
            )
        return parsed
    if raw is None:
        return None
    # Numbers are taken as their text (a ZIP code sent as 12345), as Salesforce's JSON reader
    # does; booleans, arrays and objects are not text.
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _parser_error(field, "string", raw)
    text = raw if isinstance(raw, str) else str(raw)
    if text == "":
        return None  # Salesforce stores an empty text field as null
    if field.is_id:
        record_id = normalize_id(text)
        if record_id is None or not record_id.startswith(_KEY_PREFIXES[field.reference_to or ""]):
            raise _Refused(
                ErrorItem(
                    f"{field.label}: id value of incorrect type: {text}",
                    "MALFORMED_ID",
                    (field.name,),
                )
            )
        return record_id
    if len(text) > field.length:
        raise _Refused(
            ErrorItem(
                f"{field.label}: data value too large: {text} (max length={field.length})",
                "STRING_TOO_LONG",
                (field.name,),
            )
        )
    if field.type == "email" and not _EMAIL.fullmatch(text):
        raise _Refused(
            ErrorItem(
                f"{field.label}: invalid email address: {text}",
                "INVALID_EMAIL_ADDRESS",
                (field.name,),
            )
        )
    return text


_KEY_PREFIXES: Final = {"Account": "001", "User": "005", "": CONTACT_KEY_PREFIX}

CONTACT: Final = SObjectDef(
    name="Contact",
    label="Contact",
    label_plural="Contacts",
    key_prefix=CONTACT_KEY_PREFIX,
    fields=(
        _system("Id", "Contact ID", "id", id_lookup=True),
        _system("IsDeleted", "Deleted", "boolean"),
        FieldDef(
            "AccountId",
            "Account ID",
            "reference",
            18,
            reference_to="Account",
            relationship_name="Account",
        ),
        _text("LastName", "Last Name", 80, nillable=False),
        _text("FirstName", "First Name", 40),
        FieldDef(
            "Salutation",
            "Salutation",
            "picklist",
            40,
            picklist_values=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."),
        ),
        FieldDef("Name", "Full Name", "string", 121, createable=False, updateable=False),
        FieldDef("MailingStreet", "Mailing Street", "textarea", 255),
        _text("MailingCity", "Mailing City", 40),
        _text("MailingState", "Mailing State/Province", 80),
        _text("MailingPostalCode", "Mailing Zip/Postal Code", 20),
        _text("MailingCountry", "Mailing Country", 80),
        FieldDef("Phone", "Business Phone", "phone", 40),
        FieldDef("MobilePhone", "Mobile Phone", "phone", 40),
        FieldDef("HomePhone", "Home Phone", "phone", 40),
        FieldDef("Email", "Email", "email", 80, id_lookup=True),
        _text("Title", "Title", 128),
        _system("OwnerId", "Owner ID", "reference", reference_to="User", relationship_name="Owner"),
        FieldDef("HasOptedOutOfEmail", "Email Opt Out", "boolean", nillable=False),
        _system("CreatedDate", "Created Date", "datetime"),
        _system(
            "CreatedById",
            "Created By ID",
            "reference",
            reference_to="User",
            relationship_name="CreatedBy",
        ),
        _system("LastModifiedDate", "Last Modified Date", "datetime"),
        _system(
            "LastModifiedById",
            "Last Modified By ID",
            "reference",
            reference_to="User",
            relationship_name="LastModifiedBy",
        ),
        _system("SystemModstamp", "System Modstamp", "datetime"),
        _text(
            EXTERNAL_ID_FIELD,
            "RE Constituent ID",
            50,
            custom=True,
            external_id=True,
            unique=True,
            id_lookup=True,
        ),
    ),
)


# -- values on the wire ------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """``2026-01-01T09:00:00.000+0000``: how Salesforce writes a date-time in JSON."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


_OFFSET_WITHOUT_COLON: Final = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time (``Z``, ``+00:00`` or ``+0000``; no offset = UTC), or ``None``."""
    candidate = text.strip()
    if "T" not in candidate:
        return None
    candidate = _OFFSET_WITHOUT_COLON.sub(r"\1:\2", candidate)
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def render_value(value: Any) -> Any:
    """A stored value as the API's JSON shows it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    return value
