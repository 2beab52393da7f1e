"""Audience merge fields: their definitions and how a member's merge values are checked.

A merge field is a column of an audience (``FNAME``, ``ADDRESS``, a custom ``CONSID``...). The
API stores a member's values under the field's ``tag``; :func:`coerce_value` turns what a client
sent into what is stored, or says why it cannot (the message Mailchimp shows for that type).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal, get_args

from mailchimp_simulator.problems import FieldProblem

__all__ = [
    "ADDRESS_KEYS",
    "DEFAULT_MERGE_FIELDS",
    "MERGE_TYPES",
    "MergeField",
    "MergeType",
    "MergeValue",
    "coerce_value",
    "merge_value_text",
    "valid_tag",
]

MergeType = Literal[
    "text",
    "number",
    "address",
    "phone",
    "date",
    "url",
    "imageurl",
    "radio",
    "dropdown",
    "birthday",
    "zip",
]
MERGE_TYPES: Final[tuple[str, ...]] = get_args(MergeType)

#: A stored merge value: text, a number, or an address object.
MergeValue = str | int | float | dict[str, str]

#: The keys of an address value, in the order Mailchimp returns them.
ADDRESS_KEYS: Final = ("addr1", "addr2", "city", "state", "zip", "country")

_TAG: Final = re.compile(r"[A-Z0-9_]{1,10}")
_URL: Final = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)
_US_ZIP: Final = re.compile(r"\d{5}(-\d{4})?")
_TEXT_LIMIT: Final = 255


def valid_tag(tag: str) -> bool:
    """Merge tags are 1-10 upper-case letters, digits or underscores; ``EMAIL`` is reserved."""
    return bool(_TAG.fullmatch(tag)) and tag != "EMAIL"


@dataclass(slots=True)
class MergeField:
    """One merge field of an audience, as ``/lists/{list_id}/merge-fields`` describes it."""

    merge_id: int
    tag: str
    name: str
    type: MergeType
    required: bool = False
    default_value: str = ""
    public: bool = True
    display_order: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    help_text: str = ""

    def to_json(self, list_id: str) -> dict[str, Any]:
        return {
            "merge_id": self.merge_id,
            "tag": self.tag,
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default_value": self.default_value,
            "public": self.public,
            "display_order": self.display_order,
            "options": dict(self.options),
            "help_text": self.help_text,
            "list_id": list_id,
        }


def default_options(merge_type: MergeType) -> dict[str, Any]:
    """The ``options`` a new field of this type gets when the client sends none."""
    if merge_type == "text":
        return {"size": 25}
    if merge_type == "address":
        return {"default_country": 164}  # Mailchimp's country id of the United States
    if merge_type == "phone":
        return {"phone_format": "none"}
    if merge_type == "date":
        return {"date_format": "MM/DD/YYYY"}
    if merge_type == "birthday":
        return {"date_format": "MM/DD"}
    if merge_type in ("radio", "dropdown"):
        return {"choices": []}
    return {}


#: The merge fields of a new audience (``EMAIL`` is merge id 0 and never listed).
DEFAULT_MERGE_FIELDS: Final[tuple[tuple[str, str, MergeType], ...]] = (
    ("FNAME", "First Name", "text"),
    ("LNAME", "Last Name", "text"),
    ("ADDRESS", "Address", "address"),
    ("PHONE", "Phone Number", "phone"),
    ("BIRTHDAY", "Birthday", "birthday"),
)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        return int(parsed) if parsed.is_integer() else parsed
    return None


def _date(value: str, date_format: str) -> date | None:
    formats = {
        "MM/DD/YYYY": "%m/%d/%Y",
        "DD/MM/YYYY": "%d/%m/%Y",
    }
    for pattern in ("%Y-%m-%d", formats.get(date_format, "%m/%d/%Y")):
        try:
            return datetime.strptime(value.strip(), pattern).date()
        except ValueError:
            continue
    return None


def _birthday(value: str, date_format: str) -> str | None:
    parts = value.strip().split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    month, day = (parts[1], parts[0]) if date_format == "DD/MM" else (parts[0], parts[1])
    try:
        date(2000, int(month), int(day))  # a leap year: 02/29 is a birthday
    except ValueError:
        return None
    return f"{int(month):02d}/{int(day):02d}"


def _address(merge: MergeField, value: Any) -> dict[str, str] | FieldProblem:
    if not isinstance(value, dict):
        return FieldProblem(
            merge.tag,
            "Please enter a complete address (an object with addr1, "
            "addr2, city, state, zip and country)",
        )
    unknown = sorted(set(value) - set(ADDRESS_KEYS))
    if unknown:
        return FieldProblem(merge.tag, f"Unknown address part(s): {', '.join(unknown)}")
    address = {key: str(value.get(key) or "").strip() for key in ADDRESS_KEYS}
    if not any(address.values()):
        return {}
    address["country"] = address["country"] or "US"
    needed = ["addr1", "city"]
    if address["country"].upper() in ("US", "USA"):
        needed += ["state", "zip"]
    missing = [key for key in needed if not address[key]]
    if missing:
        return FieldProblem(
            merge.tag, f"Please enter a complete address: {', '.join(missing)} missing"
        )
    return address


def coerce_value(merge: MergeField, value: Any) -> MergeValue | FieldProblem:
    """What is stored for ``value`` sent for ``merge``; ``""`` (or ``{}``) clears the field.

    Returns a :class:`FieldProblem` naming the tag when the value does not fit the type.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return ""
    if merge.type == "address":
        return _address(merge, value)
    if merge.type == "number":
        number = _number(value)
        return FieldProblem(merge.tag, "Please enter a number") if number is None else number
    if isinstance(value, dict | list | bool):
        return FieldProblem(merge.tag, f"Please enter a {merge.type} value, not {value!r}")
    text = str(value).strip() if merge.type != "text" else str(value)
    if merge.type == "text":
        if len(text) > _TEXT_LIMIT:
            return FieldProblem(
                merge.tag, f"Text is longer than {_TEXT_LIMIT} characters ({len(text)})"
            )
        return text
    if merge.type == "phone":
        if merge.options.get("phone_format") == "US":
            digits = re.sub(r"\D", "", text)
            if len(digits) != 10:
                return FieldProblem(merge.tag, "Please enter a valid US phone number")
            return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
        if len(text) > 50:
            return FieldProblem(merge.tag, "Please enter a valid phone number")
        return text
    if merge.type == "date":
        date_format = str(merge.options.get("date_format", "MM/DD/YYYY"))
        parsed = _date(text, date_format)
        if parsed is None:
            return FieldProblem(
                merge.tag, f"Please enter the date as {date_format} or YYYY-MM-DD, not {text!r}"
            )
        return parsed.isoformat()
    if merge.type == "birthday":
        date_format = str(merge.options.get("date_format", "MM/DD"))
        birthday = _birthday(text, date_format)
        if birthday is None:
            return FieldProblem(merge.tag, f"Please enter the birthday as {date_format}")
        return birthday
    if merge.type in ("url", "imageurl"):
        if not _URL.fullmatch(text):
            return FieldProblem(merge.tag, "Please enter a complete URL (http:// or https://)")
        return text
    if merge.type in ("radio", "dropdown"):
        choices = [str(choice) for choice in merge.options.get("choices", [])]
        if text not in choices:
            return FieldProblem(
                merge.tag, f"{text!r} is not one of the choices: {', '.join(choices)}"
            )
        return text
    if merge.type == "zip":
        if not _US_ZIP.fullmatch(text):
            return FieldProblem(merge.tag, "Please enter a valid US zip code")
        return text
    raise AssertionError(f"unhandled merge type {merge.type}")


def merge_value_text(value: MergeValue) -> str:
    """A merge value as text (webhook payloads send every value as form text)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
