"""Reading an audience's members in the order they changed, exactly, page after page.

Mailchimp lists members changed after an instant (``since_last_changed``, strictly after, in
whole seconds) sorted by ``last_changed``. Paging that listing by offset is not safe while the
audience changes (a member changed during the paging moves to the end, and the offsets of the
ones after it shift), and asking from the last watermark alone either misses the members
changed in the same second as the last one read or reads them again. So every page asks
afresh from the watermark's second (``since_last_changed`` = watermark - 1 s) and skips the
members already read in that second, known by id and by a fingerprint of what was read (a
second change in the same second is read again):

- :class:`Watermark` is the position: the ``last_changed`` of the last member read and
  ``{id: fingerprint}`` of the members read at that second;
- :func:`changed_pages` yields the members not read yet, at most ``page_size`` a page, with
  the watermark after each page.

A page asks for ``count = len(seen) + page_size`` members (at most 1000) from offset 0, so the
members already read at the watermark's second fit in it with room for new ones. Only when
1000 or more members changed in one second (an import) does a page start further in
(Mailchimp serves at most 1000 a page): a member changed in that very second while it is being
paged through could then be missed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ValidationError

from syncframe.components import PermanentError
from syncframe_smartsync.mailchimp_client import MailchimpClient, MemberRecord
from syncframe_smartsync.mailchimp_fields import fingerprint
from syncframe_smartsync.mailchimp_settings import MAX_PAGE_SIZE

__all__ = ["Watermark", "changed_pages"]

_SECOND = timedelta(seconds=1)


class _WatermarkJson(BaseModel):
    last_changed: AwareDatetime | None = None
    seen: dict[str, str] = {}


@dataclass(slots=True)
class Watermark:
    """Where reading resumes: after the members ``seen`` (id -> fingerprint) changed at
    ``last_changed`` (``None``: from the start)."""

    last_changed: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> Watermark:
        """The watermark stored in a cursor (``None``: the start)."""
        if value is None:
            return cls()
        try:
            parsed = _WatermarkJson.model_validate(value)
        except ValidationError as exc:
            raise PermanentError(
                f"the cursor {value!r} is not a Mailchimp members cursor: {exc.errors()[0]['msg']}"
            ) from None
        return cls(parsed.last_changed, dict(parsed.seen))

    def to_json(self) -> dict[str, Any]:
        """The cursor form: ``{"last_changed": ISO text, "seen": {id: fingerprint}}``."""
        return {
            "last_changed": self.last_changed.isoformat() if self.last_changed else None,
            "seen": dict(self.seen),
        }

    def asks_since(self, start: datetime | None) -> datetime | None:
        """The ``since_last_changed`` of the next page: the watermark's second included."""
        if self.last_changed is None:
            return start
        return self.last_changed - _SECOND

    def has_read(self, member: MemberRecord, print_: str) -> bool:
        """Whether ``member`` (with fingerprint ``print_``) is one already read."""
        return member.last_changed == self.last_changed and self.seen.get(member.id) == print_

    def after(self, read: Sequence[tuple[MemberRecord, str]]) -> Watermark:
        """The watermark once ``read`` (members in ``last_changed`` order) were read."""
        last = read[-1][0].last_changed
        seen = dict(self.seen) if last == self.last_changed else {}
        for member, print_ in read:
            if member.last_changed == last:
                seen[member.id] = print_
        return Watermark(last, seen)


def _window(seen: int, page_size: int) -> tuple[int, int]:
    """``(count, offset)`` of the next page: from the start of the watermark's second, room
    for the members read at it plus new ones; past 1000 read in one second (more than a page
    can hold), from further in, keeping some already read in view."""
    if seen < MAX_PAGE_SIZE:
        return min(MAX_PAGE_SIZE, seen + page_size), 0
    room = min(page_size, MAX_PAGE_SIZE // 2)
    return MAX_PAGE_SIZE, seen + room - MAX_PAGE_SIZE


async def changed_pages(
    client: MailchimpClient,
    list_id: str,
    position: Watermark,
    *,
    page_size: int,
    start: datetime | None = None,
) -> AsyncIterator[tuple[list[MemberRecord], Watermark]]:
    """Members of ``list_id`` changed after ``position`` (or after ``start`` when it is the
    start), oldest change first, at most ``page_size`` a page, each page with the watermark
    after it."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    while True:
        count, offset = _window(len(position.seen), page_size)
        since = position.asks_since(start)
        page = await client.members(list_id, count=count, offset=offset, since=since)
        fresh: list[tuple[MemberRecord, str]] = []
        for member in page.members:
            if member.last_changed is None:
                raise PermanentError(
                    f"listing the members of audience {list_id}: member {member.id} came "
                    "without last_changed"
                )
            print_ = fingerprint(member)
            if not position.has_read(member, print_):
                fresh.append((member, print_))
        cut = len(fresh) > page_size
        fresh = fresh[:page_size]
        if fresh:
            position = position.after(fresh)
            yield [member for member, _ in fresh], position
        if not fresh or (len(page.members) < count and not cut):
            return
