"""Salesforce record ids: 15 case-sensitive characters, or 18 with the case-safe suffix.

An id is a three-character key prefix naming the object (``003`` Contact, ``005`` User, ``00D``
organization...), then characters the org assigns. The 18-character form appends three
characters that encode, five characters at a time, which letters of the 15 are upper case, so
the 18-character form survives case-insensitive tools (a spreadsheet, an email client). The API
accepts both forms and always answers with the 18-character one.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["IdMinter", "normalize_id", "to_18"]

_SUFFIX_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE: Final = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-5]{3})?")
#: The two characters after the key prefix: the pod the simulated org "lives" on.
_POD: Final = "Rs"


def _suffix(id15: str) -> str:
    chars = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        chars.append(_SUFFIX_ALPHABET[bits])
    return "".join(chars)


def to_18(id15: str) -> str:
    """The 18-character form of a 15-character id."""
    return id15 + _suffix(id15)


def normalize_id(raw: str) -> str | None:
    """The 18-character id ``raw`` stands for, or ``None`` when it is not an id.

    A 15-character id is taken as written (its case matters). An 18-character id may come in
    any case: its suffix says which letters are upper case, so the case is restored from it;
    a suffix that does not fit the letters (an upper-case bit on a digit) is not an id.
    """
    if not _ID_SHAPE.fullmatch(raw):
        return None
    if len(raw) == 15:
        return to_18(raw)
    body, suffix = raw[:15], raw[15:].upper()
    restored = []
    for chunk in range(3):
        bits = _SUFFIX_ALPHABET.index(suffix[chunk])
        for position, char in enumerate(body[chunk * 5 : chunk * 5 + 5]):
            upper = bool(bits & (1 << position))
            if upper and not char.isalpha():
                return None
            restored.append(char.upper() if upper else char.lower())
    id15 = "".join(restored)
    return to_18(id15) if _suffix(id15) == suffix else None


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise OverflowError(f"{number} does not fit in {width} base-62 characters")
    return text.rjust(width, "0")


class IdMinter:
    """Hands out the ids of one key prefix, in sequence: ``003Rs00000Ab1xQ`` + suffix."""

    def __init__(self, key_prefix: str, start: int = 1) -> None:
        if len(key_prefix) != 3:
            raise ValueError(f"a key prefix has 3 characters, not {key_prefix!r}")
        self.key_prefix = key_prefix
        self._next = start

    def mint(self) -> str:
        """The next 18-character id."""
        number = self._next
        self._next += 1
        return to_18(f"{self.key_prefix}{_POD}0{_base62(number, 9)}")

    def restart(self, start: int = 1) -> None:
        """Count again from ``start`` (a reset org)."""
        self._next = start
