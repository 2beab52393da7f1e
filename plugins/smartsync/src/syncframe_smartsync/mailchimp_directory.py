"""What the Mailchimp sink and its lookup know of an audience's members during one run.

Finding a member by email is one call (``GET /members/{subscriber hash}``). Finding one by the
constituent id is not: ``search-members`` searches emails and names, never merge fields, and
no listing filters on a merge value. The choices were to page the whole audience for every
lookup (a thousand members a call, every batch), to keep an index of our own in the state
store (no place for it in the core's store, and it would go stale with every change made in
Mailchimp), or to read the audience once per run and keep that current. The last is what
:class:`AudienceDirectory` does:

- when the flow finds members by constituent id (the lookup's ``prepare``, beside the source's
  first read), on the first such lookup, or when it is cheaper than reading each member a
  batch may create, it reads every member once: one call per 1000 members;
- before each later batch it reads only the members changed since (``since_last_changed``
  from its watermark, paged exactly as the polling source pages), usually one call. A batch
  that writes many members (the sink's ``REFRESH_AHEAD_WRITES``) makes that reading for the
  next batch beside its own writes instead (:meth:`refresh_ahead`): the next batch starts
  without waiting for it while Mailchimp's other connections stand idle, and a change made in
  Mailchimp while a batch is written is seen by the batch after the next one;
- what the sink writes it notes from Mailchimp's answers, at no cost. A member's
  ``last_changed`` only moves forward, so an older version never replaces a newer one: a
  listing that ran beside a write may show the member as it was before the write. (Within one
  second the two cannot be told apart; the next reading, which asks again from that second,
  puts right a member left as it was before.)

Once loaded it answers every question about a member without a call: whether one has this
email or constituent id, and what it holds (so the sink compares and writes only what differs:
one call for a new or changed member, none for an unchanged one). It keeps each member as
compact JSON, about 1.3 KB per member while a run lasts (130 MB for 100,000 members).

Entries are keyed by ``contact_id``, which stays when a member's email (and so its subscriber
hash) changes, so a moved member is never found twice. ``fetched`` keeps the members read by
id in the current batch when the directory is not loaded (lookups by email read them, the
sink's comparison needs them); :meth:`batch_done` forgets them and marks the directory due for
its refresh (unless the batch refreshed it ahead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import anyio

from syncframe_smartsync.mailchimp_client import MailchimpClient, MemberRecord
from syncframe_smartsync.mailchimp_fields import text_of
from syncframe_smartsync.mailchimp_paging import Watermark, changed_pages
from syncframe_smartsync.mailchimp_tasks import run_concurrently

__all__ = ["AudienceDirectory", "DirectoryEntry"]


@dataclass(slots=True)
class DirectoryEntry:
    """One member as the directory knows it: its keys, and the whole member as JSON."""

    id: str
    email: str
    constituent_id: str
    status: str
    last_changed: datetime | None
    data: bytes

    def member(self) -> MemberRecord:
        """The member, as Mailchimp last answered it."""
        return MemberRecord.model_validate_json(self.data)


class AudienceDirectory:
    """The members of one audience by contact id, subscriber hash and constituent id."""

    def __init__(
        self,
        client: MailchimpClient,
        list_id: str,
        constituent_id_tag: str,
        *,
        page_size: int,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        self.client = client
        self.list_id = list_id
        self.constituent_id_tag = constituent_id_tag
        self.page_size = page_size
        self.limiter = limiter
        #: Full members read in the current batch, by subscriber hash (``None``: no member).
        self.fetched: dict[str, MemberRecord | None] = {}
        self._entries: dict[str, DirectoryEntry] | None = None  # by contact id
        self._by_id: dict[str, str] = {}  # subscriber hash -> contact id
        self._by_constituent: dict[str, set[str]] = {}  # constituent id -> contact ids
        self._position = Watermark()
        self._due = False
        self._refreshed_ahead = False  # read while the current batch was written
        self._complete = False  # the first reading of the audience finished
        self._lock = anyio.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the directory holds every member of the audience (as of its last refresh;
        a first reading cut short by an error is finished before the directory answers)."""
        return self._complete

    # ---- keeping it current ----------------------------------------------------------------
    async def ensure_loaded(self) -> None:
        """Read every member (the first time), or the members changed since (when due)."""
        async with self._lock:
            if self._entries is None:
                self._entries = {}
                self._due = True
            if self._due:
                await self._catch_up()

    async def refresh(self) -> None:
        """Read the members changed since the last refresh, if loaded and due (and finish a
        first reading an error cut short)."""
        if self._entries is None:
            return
        async with self._lock:
            if self._due:
                await self._catch_up()

    async def refresh_ahead(self) -> None:
        """Read the members changed since the last reading now, while a batch is written, so
        the next batch needs no reading of its own (the loaded directory only)."""
        if not self.loaded:
            return
        async with self._lock:
            await self._catch_up()
        self._refreshed_ahead = True

    async def _catch_up(self) -> None:
        pages = changed_pages(self.client, self.list_id, self._position, page_size=self.page_size)
        async for members, position in pages:
            for member in members:
                self.note(member)
            self._position = position
        self._due = False
        self._complete = True

    def batch_done(self) -> None:
        """The batch is written: forget the members read for it; refresh before the next
        (unless it was refreshed while the batch was written)."""
        self.fetched.clear()
        self._due = not self._refreshed_ahead
        self._refreshed_ahead = False

    def note(self, member: MemberRecord) -> None:
        """Record what Mailchimp answered about ``member`` (a read or a write)."""
        if self._entries is None:
            self.fetched[member.id] = member
            return
        contact = member.contact_id or member.id
        earlier = self._entries.get(contact)
        if earlier is not None:
            if (
                member.last_changed is not None
                and earlier.last_changed is not None
                and member.last_changed < earlier.last_changed
            ):
                return  # an older version than the one noted (see the module's docstring)
            self._unindex(contact, earlier)
        constituent = text_of(member.merge_fields.get(self.constituent_id_tag))
        entry = DirectoryEntry(
            member.id,
            member.email_address,
            constituent,
            member.status,
            member.last_changed,
            member.model_dump_json().encode(),
        )
        self._entries[contact] = entry
        self._by_id[member.id] = contact
        if constituent:
            self._by_constituent.setdefault(constituent, set()).add(contact)

    def forget(self, member_id: str) -> None:
        """No member has this hash any more (it moved to another email, or was deleted)."""
        self.fetched[member_id] = None
        if self._entries is None:
            return
        contact = self._by_id.get(member_id)
        if contact is not None and contact in self._entries:
            self._unindex(contact, self._entries.pop(contact))

    def _unindex(self, contact: str, entry: DirectoryEntry) -> None:
        if self._by_id.get(entry.id) == contact:
            del self._by_id[entry.id]
        holders = self._by_constituent.get(entry.constituent_id)
        if holders is not None:
            holders.discard(contact)
            if not holders:
                del self._by_constituent[entry.constituent_id]

    # ---- answers ---------------------------------------------------------------------------
    def with_constituent_id(self, constituent_id: str) -> list[DirectoryEntry]:
        """Members whose constituent id merge field holds ``constituent_id`` (loaded only)."""
        if self._entries is None or not self.loaded:
            raise RuntimeError("the audience directory is not loaded")
        return [self._entries[c] for c in sorted(self._by_constituent.get(constituent_id, ()))]

    def with_id(self, member_id: str) -> DirectoryEntry | None:
        """The member with this subscriber hash (loaded only)."""
        if self._entries is None or not self.loaded:
            raise RuntimeError("the audience directory is not loaded")
        contact = self._by_id.get(member_id)
        return None if contact is None else self._entries.get(contact)

    async def members(self, member_ids: Iterable[str]) -> dict[str, MemberRecord | None]:
        """The members with these hashes (``None``: none): from the directory when loaded,
        else read once per batch, side by side."""
        wanted = list(dict.fromkeys(member_ids))
        if self.loaded:
            found: dict[str, MemberRecord | None] = {}
            for member_id in wanted:
                entry = self.with_id(member_id)
                found[member_id] = None if entry is None else entry.member()
            return found
        missing = [member_id for member_id in wanted if member_id not in self.fetched]

        async def read(member_id: str) -> None:
            async with self.limiter:
                found = await self.client.member(self.list_id, member_id)
            self.fetched[member_id] = found

        await run_concurrently(partial(read, member_id) for member_id in missing)
        return {member_id: self.fetched.get(member_id) for member_id in wanted}

    async def member_count(self) -> int:
        """How many members the audience holds (every status)."""
        if self.loaded and self._entries is not None:
            return len(self._entries)
        return await self.client.member_count(self.list_id)
