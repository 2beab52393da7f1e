"""Writing SOQL safely: quoted text literals, unquoted date-time literals, ``IN`` lists.

Values always go through :func:`soql_text` (never into a query as they are), so a name with an
apostrophe (``O'Brien``) or a constituent id with a backslash cannot change the query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "IN_LIST_SIZE",
    "in_chunks",
    "soql_condition",
    "soql_datetime",
    "soql_in",
    "soql_text",
]

#: Values per ``IN (...)`` list: keeps a query well under the URL length Salesforce accepts
#: for GET (about 16,000 characters) even with 80-character emails.
IN_LIST_SIZE: Final = 100

_ESCAPES: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def soql_text(value: str) -> str:
    """A quoted SOQL text literal: ``O'Brien`` -> ``'O\\'Brien'``."""
    return "'" + "".join(_ESCAPES.get(char, char) for char in value) + "'"


def soql_datetime(value: datetime) -> str:
    """An unquoted SOQL date-time literal in UTC, whole seconds: ``2026-01-01T09:00:00Z``.

    A naive datetime is refused: Salesforce stores instants, and guessing a zone would move the
    watermark by hours.
    """
    if value.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_in(field: str, values: Sequence[str]) -> str:
    """``field IN ('a', 'b')``."""
    return f"{field} IN ({', '.join(soql_text(value) for value in values)})"


def in_chunks(values: Sequence[str], size: int = IN_LIST_SIZE) -> Iterator[list[str]]:
    """``values`` in lists of at most ``size``, for ``IN`` lists."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def soql_condition(value: str | None) -> str | None:
    """An operator's SOQL condition (what follows ``WHERE``), stripped; ``None`` when empty.

    ``ValueError`` when it carries clauses of its own (``ORDER BY``, ``LIMIT``, ``OFFSET``):
    the connector adds it to queries of its own with ``AND (...)``.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if any(word in text.upper().split() for word in ("ORDER", "LIMIT", "OFFSET")):
        raise ValueError(
            f"{value!r}: give a condition only (what follows WHERE), without ORDER BY, LIMIT "
            "or OFFSET"
        )
    return text
