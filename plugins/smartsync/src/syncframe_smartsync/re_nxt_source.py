"""Constituents changed in Raiser's Edge NXT, polled by ``last_modified`` (source
``re_nxt_constituents``).

Each run asks ``GET /constituent/v1/constituents?last_modified=<watermark>`` and follows
``next_link`` to the end; SKY orders such a list by ``date_modified`` and pages it with a sort
token, so a constituent changed while the run pages moves to the end and is read there, and
nothing is skipped. ``last_modified`` is "on or after", so the cursor is exact with two parts:

* ``modified_since``: the newest ``date_modified`` read (never the time of the poll: SKY's lists
  lag up to ~30 minutes behind the database, and a constituent changed before the poll may be
  listed only later, with its own older time);
* ``seen``: the ids already read at exactly that time, each with a fingerprint of what was handed
  on; the next poll lists them again and skips them, unless what they hold changed within that
  same second.

So constituents changed in the same second as the watermark are neither lost (when a page or a
run ends among them, or one changes again within the second) nor read twice. Each change
carries the common vocabulary (primary email, preferred address, primary phone, names) and,
unless ``email_consent = false``, ``email_status`` from the constituent's consents and solicit
codes (two more calls per constituent with an email address, made concurrently within a
page; only the solicit codes when a current unsubscribe code already decides). SKY reports no
deletes in lists: a deleted constituent just stops appearing (see ``docs/smartsync/re_nxt.md``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import anyio
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from syncframe.components import ComponentContext, JSONValue, PermanentError, Source, SourceBatch
from syncframe.records import Change, Operation, Origin
from syncframe_smartsync.re_nxt_client import ReNxtClient, SkyRefused, first_error
from syncframe_smartsync.re_nxt_consent import ConsentPolicy, email_status_of
from syncframe_smartsync.re_nxt_models import ConstituentRead, EmailStatus
from syncframe_smartsync.re_nxt_settings import ReNxtSettings

__all__ = [
    "BEGINNING",
    "ENTITY",
    "ConstituentCursor",
    "ReNxtConstituentSource",
    "ReNxtSourceOptions",
    "client_for",
    "fingerprint",
    "vocabulary_of",
]

#: Where a first poll starts without ``since``: before any record's ``date_modified``.
BEGINNING: Final = datetime(1900, 1, 1, tzinfo=UTC)
#: The entity the RE NXT components read and write.
ENTITY: Final = "constituent"


def client_for(context: ComponentContext) -> ReNxtClient:
    """A SKY API client on the engine's HTTP client for the component's connection."""
    settings = context.connection
    if not isinstance(settings, ReNxtSettings):
        raise PermanentError(
            f"connection {context.connection_name!r} is not a Raiser's Edge NXT (re_nxt) one"
        )
    return ReNxtClient(context.http(), settings, context.clock)


class ReNxtSourceOptions(BaseModel):
    """Options of the ``re_nxt_constituents`` source."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(
        None,
        description="On the first run, read constituents changed on or after this time "
        "(default: every constituent).",
    )
    list_id: str | None = Field(
        None,
        min_length=1,
        description="Only constituents of this constituent list (its id in RE NXT); the list's "
        "members are read once per run.",
    )
    include_inactive: bool = Field(
        False, description="Read inactive constituents too (SKY leaves them out by default)."
    )
    include_deceased: bool = Field(
        False, description="Read deceased constituents too (SKY leaves them out by default)."
    )
    email_consent: bool = Field(
        True,
        description="Read each constituent's consents and solicit codes for email_status (two "
        "calls per constituent); false: changes carry no email_status.",
    )
    consent_channel: str = Field(
        "Email", min_length=1, description="The consent channel email_status is read from."
    )
    consent_category: str = Field(
        "All communications",
        min_length=1,
        description="The consent category email_status is read from (besides the channel's "
        "own responses).",
    )
    unsubscribe_solicit_code: str | None = Field(
        "Do not email",
        description="A current solicit code that makes email_status unsubscribed (null: none).",
    )

    def policy(self) -> ConsentPolicy:
        """How email_status is read."""
        return ConsentPolicy(
            channel=self.consent_channel,
            category=self.consent_category,
            solicit_code=self.unsubscribe_solicit_code,
        )


def fingerprint(fields: dict[str, Any]) -> str:
    """A short digest of a change's fields: tells two versions of one second apart."""
    text = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class ConstituentCursor(BaseModel):
    """Where polling resumes: changes on or after ``modified_since``, but not the constituents
    ``seen`` at exactly that time (id -> fingerprint of the fields handed on), unless what they
    hold has changed within that second."""

    model_config = ConfigDict(extra="forbid")

    modified_since: AwareDatetime
    seen: dict[str, str] = Field(default_factory=dict)

    def after(
        self, records: Sequence[ConstituentRead], prints: dict[str, str]
    ) -> ConstituentCursor:
        """The cursor once ``records`` (a page, oldest change first) are read; ``prints`` are
        the fingerprints of those handed on (others, outside a list, count as read too)."""
        since, seen = self.modified_since, dict(self.seen)
        for record in records:
            if record.date_modified > since:
                since, seen = record.date_modified, {}
            if record.date_modified == since:
                seen[record.id] = prints.get(record.id, "")
        return ConstituentCursor(modified_since=since, seen=seen)

    def has_read(self, record: ConstituentRead, print_: str) -> bool:
        """Whether this version of the constituent was handed on already."""
        return record.date_modified == self.modified_since and self.seen.get(record.id) == print_


def vocabulary_of(
    record: ConstituentRead, email_status: EmailStatus | None, *, with_status: bool
) -> dict[str, Any]:
    """The common vocabulary of one constituent as RE NXT holds it."""
    email = record.email if record.email is not None and not record.email.inactive else None
    phone = record.phone if record.phone is not None and not record.phone.inactive else None
    address = record.address.vocabulary() if record.address is not None else {}
    fields: dict[str, Any] = {
        "constituent_id": record.lookup_id,
        "email": email.address if email is not None else None,
        "first_name": record.first,
        "last_name": record.last,
        "nickname": record.preferred_name,
        "address1": address.get("address1"),
        "city": address.get("city"),
        "state": address.get("state"),
        "postal_code": address.get("postal_code"),
        "country": address.get("country"),
        "phone": phone.number if phone is not None else None,
    }
    if with_status:
        fields["email_status"] = email_status
    return fields


class ReNxtConstituentSource(Source[ReNxtSourceOptions]):
    """Constituents changed in Raiser's Edge NXT since the last run, oldest change first."""

    Options = ReNxtSourceOptions
    system = "re_nxt"
    entity: ClassVar[str] = ENTITY

    def __init__(self, context: ComponentContext, options: ReNxtSourceOptions) -> None:
        super().__init__(context, options)
        self._client: ReNxtClient | None = None

    @property
    def client(self) -> ReNxtClient:
        """The SKY API client (made on first use, on the engine's HTTP client)."""
        if self._client is None:
            self._client = client_for(self.context)
        return self._client

    async def check(self) -> None:
        """An authorized call, and the list (if one is set) exists."""
        await self.client.check()
        if self.options.list_id is not None:
            await self._members(self.options.list_id)

    async def _members(self, list_id: str) -> frozenset[str]:
        try:
            return await self.client.list_member_ids(list_id)
        except SkyRefused as exc:
            raise PermanentError(
                f"RE NXT: list_id {list_id!r} of source re_nxt_constituents: {exc.detail}"
            ) from None

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        position = self._cursor(cursor)
        options = self.options
        members = await self._members(options.list_id) if options.list_id is not None else None
        settings = self.client.settings
        page = await self.client.changed_constituents(
            position.modified_since,
            min(batch_size, settings.page_size),
            include_inactive=options.include_inactive,
            include_deceased=options.include_deceased,
        )
        while True:
            wanted = [r for r in page.value if members is None or r.id in members]
            made = await self._changes(wanted)
            prints = {r.id: fingerprint(c.fields) for r, c in zip(wanted, made, strict=True)}
            changes = [
                c
                for r, c in zip(wanted, made, strict=True)
                if not position.has_read(r, prints[r.id])
            ]
            moved = position.after(page.value, prints)
            if changes or moved != position:
                # An empty batch still moves the cursor past constituents outside the list.
                yield SourceBatch(changes, moved.model_dump(mode="json"))
            position = moved
            if not page.next_link:
                return
            page = await self.client.next_constituents(page.next_link)

    def _cursor(self, cursor: JSONValue | None) -> ConstituentCursor:
        if cursor is None:
            return ConstituentCursor(modified_since=self.options.since or BEGINNING)
        try:
            return ConstituentCursor.model_validate(cursor)
        except ValidationError:
            raise PermanentError(
                f"the cursor stored for flow {self.context.flow!r} ({cursor!r}) is not one of "
                "the re_nxt_constituents source; reset the flow to read from the start"
            ) from None

    async def _changes(self, records: Sequence[ConstituentRead]) -> list[Change]:
        statuses: list[EmailStatus | None] = [None] * len(records)
        # Without an email address there is no email consent worth two calls.
        asked = [i for i, r in enumerate(records) if r.email is not None and not r.email.inactive]
        if self.options.email_consent and asked:
            policy = self.options.policy()
            now = self.context.clock.now()

            async def status_of(index: int, record: ConstituentRead) -> None:
                codes = (
                    await self.client.solicit_codes(record.id)
                    if policy.solicit_code is not None
                    else []
                )
                if any(policy.is_code(code) and code.current_at(now) for code in codes):
                    # A current unsubscribe code decides alone: its consents are not read.
                    statuses[index] = "unsubscribed"
                    return
                consents = await self.client.consents(record.id)
                statuses[index] = email_status_of(consents, codes, record.email, policy, now)

            try:
                async with anyio.create_task_group() as group:
                    for index in asked:
                        group.start_soon(status_of, index, records[index])
            except BaseExceptionGroup as failed:
                raise first_error(failed) from None
        return [self._change(r, s) for r, s in zip(records, statuses, strict=True)]

    def _change(self, record: ConstituentRead, email_status: EmailStatus | None) -> Change:
        added = record.date_added == record.date_modified
        return Change(
            # The connection's name, so loop guards and the identity map recognise records a
            # flow into this connection wrote.
            system=self.context.connection_name,
            entity=ENTITY,
            # The system record id first: it is the key the sink reports writes under.
            keys={"id": record.id, "constituent_id": record.lookup_id},
            operation=Operation.INSERT if added else Operation.UPDATE,
            fields=vocabulary_of(record, email_status, with_status=self.options.email_consent),
            occurred_at=record.date_modified,
            origin=Origin(system=self.context.connection_name),
        )
