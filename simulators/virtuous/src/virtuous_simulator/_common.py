"""What every part of the Virtuous simulator shares: its errors, times and JSON encoding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import orjson

__all__ = [
    "EDIT_SOURCES",
    "BadRequest",
    "Conflict",
    "NotFound",
    "VirtuousError",
    "dumps",
    "iso",
    "parse_time",
    "to_millis",
]

#: Every way a contact changes in Virtuous CRM+, as the webhook's ``source`` names it.
EDIT_SOURCES: Final = ("admin", "donor_portal", "api", "ncoa", "query_update", "import")


class VirtuousError(ValueError):
    """A request Virtuous refuses: answered with ``status`` and ``{"message": message}`` (a
    ``ValueError``, so the kit's admin API answers it with 400 and the message too)."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(VirtuousError):
    """400: the request names something wrong (a field, a value)."""

    status = 400


class NotFound(VirtuousError):
    """404: the record the request names does not exist."""

    status = 404


class Conflict(VirtuousError):
    """409: the request is fine but the record's state does not allow it."""

    status = 409


def to_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to whole milliseconds: what Virtuous stores and shows, so a time
    read back from the API compares equal to the stored one."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


_last_iso: tuple[datetime | None, str] = (None, "")


def iso(moment: datetime | None) -> str | None:
    """``2026-01-01T09:00:00.000Z`` (UTC, milliseconds), or ``None``."""
    global _last_iso
    if moment is None:
        return None
    last, text = _last_iso
    if moment == last:  # bulk changes (an NCOA file) share one time: format it once
        return text
    utc = moment.astimezone(UTC)
    text = f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    _last_iso = (moment, text)
    return text


def parse_time(value: str, field: str) -> datetime:
    """An ISO 8601 time (a naive one is UTC); :class:`BadRequest` naming ``field`` otherwise."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"{field}: {value!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def dumps(data: Any) -> bytes:
    """JSON bytes (orjson: the webhook bodies of a 100,000-address NCOA run are built fast)."""
    return orjson.dumps(data)
