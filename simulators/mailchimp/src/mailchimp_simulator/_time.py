"""Times as the Marketing API writes and reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

__all__ = ["format_time", "parse_time", "webhook_time"]

# "2015-10-21T15:41:36 00:00": a "+" that an unencoded query string turned into a space.
_SPACE_FOR_PLUS: Final = re.compile(r"^(.*\d) (\d{2}:?\d{2})$")


def format_time(when: datetime) -> str:
    """``2015-10-21T15:41:36+00:00``: whole seconds, UTC, as every API time field is written."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def webhook_time(when: datetime) -> str:
    """``2015-10-21 15:41:36``: the ``fired_at`` of a webhook (UTC)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time from a query or a body; ``None`` when it is not one.

    Lenient where clients commonly slip: ``Z``, no offset (read as UTC), a bare date (midnight
    UTC) and a ``+`` that arrived as a space.
    """
    value = text.strip()
    if not value:
        return None
    spaced = _SPACE_FOR_PLUS.match(value)
    if spaced and "T" in value:
        value = f"{spaced.group(1)}+{spaced.group(2)}"
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
