"""Listing as the SKY API lists: filters, order, ``limit``/``offset`` and ``sort_token`` paging,
read from a store that lags behind the database by the configured list latency.

``sort_token`` (ours: the real token's content is not public) is opaque to clients: base64url
JSON naming the list, the field it is ordered by (``date_modified`` or ``date_added``) and the
last record the previous page ended with. A page after a token starts right after that record in
``(field, id)`` order, so paging is stable while records change: a record changed meanwhile moves
to the end of the list (it is shown again there), and nothing that did not change is skipped or
shown twice, as it would be with offsets.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from re_nxt_simulator.errors import SkyError
from re_nxt_simulator.inputs import parse_sky_datetime

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SORTABLE",
    "ListFilters",
    "ListReplica",
    "Listed",
    "Page",
    "PageRequest",
    "SortToken",
    "TokenField",
    "page_of",
]

DEFAULT_LIMIT: Final = 500
MAX_LIMIT: Final = 5000

TokenField = Literal["date_modified", "date_added"]
#: Fields ``sort`` may name.
SORTABLE: Final = ("date_added", "date_modified", "name", "last", "first", "lookup_id", "id")


@dataclass(frozen=True, slots=True)
class Listed:
    """A record as a list shows it: what the filters and the order read, and its body."""

    id: str
    constituent_id: str
    date_added: datetime
    date_modified: datetime
    render: Callable[[], dict[str, Any]]
    name_key: tuple[str, str] = ("", "")
    lookup_id: str = ""
    inactive: bool = False
    deceased: bool = False
    postal_code: str | None = None

    def key(self, by: str) -> Any:
        """The value ``sort`` orders by for field ``by``."""
        if by in ("date_added", "date_modified"):
            return getattr(self, by)
        if by == "name":
            return self.name_key
        if by == "last":
            return self.name_key[0]
        if by == "first":
            return self.name_key[1]
        if by == "lookup_id":
            return self.lookup_id.casefold()
        return _numeric(self.id)


def _numeric(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


class ListReplica:
    """The read-optimized copy lists are served from when there is a list latency.

    Each change of a record adds a version (its list body at that moment, or ``None`` once
    deleted); a list at ``horizon`` (now minus the latency) shows each record's newest version at
    or before the horizon. The clock never goes back, so older versions are dropped as soon as a
    newer one is visible.
    """

    def __init__(self) -> None:
        self._versions: dict[str, list[tuple[datetime, Listed | None]]] = {}

    def record(self, record_id: str, at: datetime, listed: Listed | None) -> None:
        self._versions.setdefault(record_id, []).append((at, listed))

    def view(self, horizon: datetime) -> list[Listed]:
        visible: list[Listed] = []
        for record_id in list(self._versions):
            versions = self._versions[record_id]
            newest = -1
            for index, (at, _) in enumerate(versions):
                if at > horizon:
                    break
                newest = index
            if newest < 0:
                continue
            del versions[:newest]
            listed = versions[0][1]
            if listed is None and len(versions) == 1:
                del self._versions[record_id]  # deleted for good, as far as lists can tell
            elif listed is not None:
                visible.append(listed)
        return visible

    def __len__(self) -> int:
        return len(self._versions)


@dataclass(frozen=True, slots=True)
class SortToken:
    """Where a stable-sorted page ends: the list, its order field and the last record."""

    list_name: str
    field: TokenField
    value: datetime
    record_id: str

    def encode(self) -> str:
        data = {
            "l": self.list_name,
            "f": self.field,
            "v": self.value.isoformat(),
            "i": self.record_id,
        }
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, list_name: str) -> SortToken:
        """The token a ``next_link`` carried; a 400 error naming ``sort_token`` otherwise."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            token = cls(str(data["l"]), data["f"], parse_sky_datetime(data["v"]), str(data["i"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise SkyError(
                400, "sort_token: {0} is not a sort token this API gave out.", text
            ) from None
        if token.field not in ("date_modified", "date_added"):
            raise SkyError(400, "sort_token: {0} is not a sort token this API gave out.", text)
        if token.list_name != list_name:
            raise SkyError(
                400,
                "sort_token: the token belongs to the {0} list, not to {1}.",
                token.list_name,
                list_name,
            )
        return token

    def after(self, listed: Listed) -> bool:
        """Whether ``listed`` comes after the record the token points at."""
        mine = (getattr(listed, self.field), _numeric(listed.id))
        return mine > (self.value, _numeric(self.record_id))


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The paging part of a list request."""

    list_name: str
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    #: Order by this field with a sort token in ``next_link`` (``None``: ``order`` and offsets).
    token_field: TokenField | None = None
    token: SortToken | None = None
    #: ``(field, descending)`` pairs when not ordered by a token field.
    order: tuple[tuple[str, bool], ...] = (("id", False),)


@dataclass(frozen=True, slots=True)
class Page:
    """One page: its records, ``count`` (every record the filters match, the same on each page)
    and where the next page starts (``None``: this is the last page)."""

    records: list[Listed]
    count: int
    next_token: SortToken | None = None
    next_offset: int | None = None


def page_of(rows: Iterable[Listed], request: PageRequest) -> Page:
    """Order the filtered ``rows`` and cut the requested page out of them."""
    matched = list(rows)
    if request.token_field is not None:
        by = request.token_field
        matched.sort(key=lambda row: (getattr(row, by), _numeric(row.id)))
        after = request.token
        rest = [row for row in matched if after.after(row)] if after is not None else matched
        chunk = rest[request.offset : request.offset + request.limit]
        more = request.offset + request.limit < len(rest)
        next_token = (
            SortToken(request.list_name, by, getattr(chunk[-1], by), chunk[-1].id)
            if more and chunk
            else None
        )
        return Page(chunk, len(matched), next_token=next_token)
    # Stable sorts from the last key to the first give the mixed ascending/descending order.
    matched.sort(key=lambda row: _numeric(row.id))
    for name, descending in reversed(request.order):
        matched.sort(key=_sort_key(name), reverse=descending)
    chunk = matched[request.offset : request.offset + request.limit]
    more = request.offset + request.limit < len(matched)
    return Page(chunk, len(matched), next_offset=request.offset + request.limit if more else None)


def _sort_key(name: str) -> Callable[[Listed], Any]:
    return lambda row: row.key(name)


@dataclass(slots=True)
class ListFilters:
    """The filters of a list request that are not about paging."""

    last_modified: datetime | None = None
    date_added: datetime | None = None
    include_inactive: bool = False
    include_deceased: bool = True
    constituent_ids: frozenset[str] | None = None
    postal_codes: tuple[str, ...] = ()
    members: frozenset[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def keep(self, row: Listed) -> bool:
        if self.members is not None:
            # list_id: "If this value is set, other specified filters will be ignored."
            return row.constituent_id in self.members
        if self.last_modified is not None and row.date_modified < self.last_modified:
            return False
        if self.date_added is not None and row.date_added < self.date_added:
            return False
        if not self.include_inactive and row.inactive:
            return False
        if not self.include_deceased and row.deceased:
            return False
        if self.constituent_ids is not None and row.constituent_id not in self.constituent_ids:
            return False
        if self.postal_codes:
            code = (row.postal_code or "").casefold()
            return any(code.startswith(wanted.casefold()) for wanted in self.postal_codes)
        return True
