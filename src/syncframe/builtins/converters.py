"""Value converters for field mappings (``convert = ["strip", "lower"]``).

Each takes one value and returns the converted value, or raises :class:`ValueError` whose
message becomes the reason the record is rejected. Mappings do not call converters for empty
values, so converters need not handle ``None`` or "".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["CONVERTERS"]

_NOT_DIGIT = re.compile(r"\D+")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})


def _text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{name} needs text, not {type(value).__name__} {value!r}")


def strip(value: Any) -> str:
    """Remove blanks at both ends."""
    return _text(value, "strip").strip()


def lower(value: Any) -> str:
    """Lower-case the text."""
    return _text(value, "lower").lower()


def upper(value: Any) -> str:
    """Upper-case the text."""
    return _text(value, "upper").upper()


def title(value: Any) -> str:
    """Capitalise each word ("ada lovelace" -> "Ada Lovelace")."""
    return _text(value, "title").title()


def digits(value: Any) -> str:
    """Keep only the digits ("AB-123 45" -> "12345")."""
    text = _text(value, "digits")
    kept = _NOT_DIGIT.sub("", text)
    if not kept:
        raise ValueError(f"{text!r} has no digits")
    return kept


def to_int(value: Any) -> int:
    """A whole number ("42", " 42 ", "42.0" -> 42)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a yes/no value, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():  # also false for NaN and infinity
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    text = _text(value, "int").strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number")
    return int(number)


def to_float(value: Any) -> float:
    """A decimal number ("3.5" -> 3.5); not NaN or infinity."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a yes/no value, not a number")
    text = _text(value, "float").strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite number")
    return number


def to_bool(value: Any) -> bool:
    """Yes or no: true/false, yes/no, y/n, t/f, 1/0, on/off (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = _text(value, "bool").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes or no (true/false, yes/no, 1/0, on/off)")


def to_date(value: Any) -> str:
    """An ISO date "YYYY-MM-DD", from an ISO date or date-time (its date part)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value, "date").strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None


def empty_to_none(value: Any) -> Any:
    """Turn text that is empty or only blanks into no value; leave anything else as it is."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def phone_digits(value: Any) -> str:
    """A phone number as its digits only ("+1 (555) 010-9999" -> "15550109999"), 7 to 15 of
    them."""
    text = _text(value, "phone_digits")
    kept = _NOT_DIGIT.sub("", text)
    if not 7 <= len(kept) <= 15:
        raise ValueError(
            f"{text!r} does not look like a phone number ({len(kept)} digits; 7 to 15 expected)"
        )
    return kept


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "strip": strip,
    "lower": lower,
    "upper": upper,
    "title": title,
    "digits": digits,
    "int": to_int,
    "float": to_float,
    "bool": to_bool,
    "date": to_date,
    "empty_to_none": empty_to_none,
    "phone_digits": phone_digits,
}
"""Converter name -> function, as registered by the built-in plugin."""
