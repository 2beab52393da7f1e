"""Members written into a Mailchimp audience (sink ``mailchimp_members``), and the lookup the
``key_cascade`` matcher uses as the search steps of a flow.

The action steps of Raiser's Edge -> Mailchimp flows: a change's vocabulary fields become the
member's email, status, merge fields (``FNAME``, ``LNAME``, ``ADDRESS``, ``CONSID``...) and
tags. The sink is idempotent by key: it reads what the member holds, writes only what differs
and reports ``unchanged`` when nothing does, so a batch written again changes nothing more.

Which member a change is:

1. the one the flow's matchers chose (``plan.targets``), when it still exists;
2. else (a flow without matchers, or a matched member gone since) the member whose
   ``CONSID`` holds the change's ``constituent_id`` (two such members: rejected, not guessed);
3. else the member with the change's email (its subscriber hash): updated if it exists,
   created if not.

Writes: a new member is one ``POST /members`` with its status (``email_status``, else the
``status_if_new`` option), merge fields and tags; an existing one a ``PUT /members/{hash}``
of what differs (its email when the change carries another one: Mailchimp moves the member to
the new address) and a ``POST .../tags`` when its tags must change. A member already holding
every value costs no write. Members of a batch are written side by side, up to the
``concurrency`` option (10, Mailchimp's limit per API key; the connection's
``max_concurrency`` caps what is really in flight); changes of the same member (or the same
constituent) stay in order.

A member Mailchimp refuses (an invalid address, a merge value of the wrong type, a cleaned
address set to subscribed) is ``rejected`` with Mailchimp's title, detail and the field it
names; the members around it are written. A bad key or a missing audience fails the batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncframe.components import (
    BatchResult,
    ComponentContext,
    Outcome,
    PermanentError,
    Sink,
    TargetLookup,
    TargetRecord,
    WritePlan,
)
from syncframe.records import Change, Operation
from syncframe_smartsync.mailchimp_client import (
    MailchimpClient,
    MailchimpRefusal,
    MemberRecord,
    TagRef,
    client_for,
    subscriber_hash,
)
from syncframe_smartsync.mailchimp_directory import AudienceDirectory
from syncframe_smartsync.mailchimp_fields import (
    EMAIL_STATUSES,
    AudienceFields,
    FieldMap,
    audience_fields,
    email_status_of,
    member_fields,
    tag_names,
    text_of,
)
from syncframe_smartsync.mailchimp_settings import (
    MAX_CONNECTIONS,
    MAX_PAGE_SIZE,
    SYSTEM,
    settings_of,
)
from syncframe_smartsync.mailchimp_tasks import run_concurrently

__all__ = [
    "LOOKUP_FIELDS",
    "REFRESH_AHEAD_WRITES",
    "MemberLookup",
    "MemberSink",
    "MemberSinkOptions",
]

#: The fields a member can be found by.
LOOKUP_FIELDS: Final = ("constituent_id", "email")
#: Refusals that concern one member's data (the others concern the whole batch).
_RECORD_REFUSALS: Final = frozenset({400, 422})
#: A batch writing at least this many members reads the audience's changes for the next batch
#: while it writes (one call among them; for the last batch of a run it is wasted).
REFRESH_AHEAD_WRITES: Final = 100


class MemberSinkOptions(BaseModel):
    """Options of the ``mailchimp_members`` sink."""

    model_config = ConfigDict(extra="forbid")

    list_id: str | None = Field(
        None, description="Another audience of the account than the connection's list_id."
    )
    entity: Literal["member"] = Field(
        "member",
        description=(
            "The entity writes are remembered under (loop-guard ledger, identity map): the one "
            "the Mailchimp sources report, so a flow reading the audience back recognises them."
        ),
    )
    status_if_new: Literal["subscribed", "unsubscribed", "pending", "transactional"] = Field(
        "subscribed",
        description="The status of a member created from a change without email_status.",
    )
    resubscribe: Literal["keep", "pending", "subscribed"] = Field(
        "keep",
        description=(
            "What an email_status of subscribed does to an unsubscribed or cleaned member: keep "
            "its status (the contact's own choice wins), make it pending (Mailchimp asks the "
            "contact to opt in again), or subscribe it (Mailchimp refuses that for a cleaned "
            "address)."
        ),
    )
    tags: list[str] = Field(
        default_factory=list, description="Tags every member written gets (e.g. 'From RE')."
    )
    on_delete: Literal["archive", "unsubscribe", "skip"] = Field(
        "archive",
        description="What a delete does: archive the member, unsubscribe it, or nothing.",
    )
    unknown_fields: Literal["ignore", "reject"] = Field(
        "ignore",
        description=(
            "Fields a member has no place for (another system's own, say): ignore them, or "
            "reject the change naming them. A field named like a merge tag (upper case) the "
            "audience lacks is always rejected."
        ),
    )
    concurrency: int = Field(
        MAX_CONNECTIONS,
        ge=1,
        le=MAX_CONNECTIONS,
        description=(
            "Members written at once (Mailchimp allows 10 connections per API key; the "
            "connection's max_concurrency caps what is really in flight)."
        ),
    )

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: list[str]) -> list[str]:
        return tag_names(value, "tags")

    @field_validator("list_id")
    @classmethod
    def _audience(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


@dataclass(slots=True)
class _Write:
    """One change on its way: what it asks for, which member it is, what became of it."""

    index: int
    change: Change
    email: str | None = None
    status: str | None = None
    constituent_id: str = ""
    merges: dict[str, Any] = field(default_factory=dict)
    address: dict[str, str] = field(default_factory=dict)
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    planned: str | None = None
    target: str | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    written_id: str | None = None

    @property
    def delete(self) -> bool:
        return self.change.operation is Operation.DELETE

    def settle(
        self, outcome: Outcome, reason: str | None = None, member_id: str | None = None
    ) -> None:
        self.outcome, self.reason, self.written_id = outcome, reason, member_id


def _state(member: MemberRecord) -> tuple[Any, ...]:
    """What a write can change of a member (tags are compared on their own)."""
    return (member.email_address.casefold(), member.status, member.merge_fields)


class MemberSink(Sink[MemberSinkOptions]):
    """Creates and updates members of a Mailchimp audience, idempotent by CONSID and email."""

    Options = MemberSinkOptions
    system = SYSTEM

    def __init__(self, context: ComponentContext, options: MemberSinkOptions) -> None:
        super().__init__(context, options)
        self.settings = settings_of(context)
        self.list_id = options.list_id or self.settings.list_id
        # Members read one by one (an unloaded directory) go ``concurrency`` at a time; writes
        # are made by ``concurrency`` writers (see write()).
        self.limiter = anyio.CapacityLimiter(options.concurrency)
        self._client: MailchimpClient | None = None
        self._directory: AudienceDirectory | None = None
        self._fields: AudienceFields | None = None
        self._fields_lock = anyio.Lock()
        self._audience_size: int | None = None

    # ---- the client, the audience ----------------------------------------------------------
    @property
    def client(self) -> MailchimpClient:
        """The API client (made on first use, on the engine's HTTP client)."""
        if self._client is None:
            self._client = client_for(self.context)
        return self._client

    @property
    def directory(self) -> AudienceDirectory:
        """What this run knows of the audience's members (shared with the lookup)."""
        if self._directory is None:
            self._directory = AudienceDirectory(
                self.client,
                self.list_id,
                self.settings.constituent_id_merge_tag,
                page_size=self.settings.page_size,
                limiter=self.limiter,
            )
        return self._directory

    async def fields(self) -> AudienceFields:
        """The audience's merge fields, read once per run (by whoever asks first: the lookup's
        preparation and the first batch may ask at once)."""
        async with self._fields_lock:
            if self._fields is None:
                self._fields = await audience_fields(self.client, self.list_id)
        return self._fields

    async def check(self) -> None:
        """The key opens the account, the audience exists and has the mapped merge fields."""
        await audience_fields(self.client, self.list_id, require_mapped=True)

    def lookup(self) -> TargetLookup:
        """Finds members by ``constituent_id`` (the CONSID merge field) or ``email``."""
        return MemberLookup(self)

    # ---- writing ---------------------------------------------------------------------------
    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        fields = await self.fields()
        try:
            await self.directory.refresh()
            writes = [self._prepare(i, change, plan, fields) for i, change in enumerate(changes)]
            pending = [w for w in writes if w.outcome is None]
            members = await self._resolve(pending, plan)
            groups = iter(_groups(pending))

            async def writer() -> None:
                # Each writer takes the next member as soon as it is done with one, in the same
                # task: no hand-over to another task (a turn of the event loop) while one of
                # Mailchimp's connections waits.
                for group in groups:
                    await self._write_group(group, members, fields, plan.dry_run)

            calls = [writer] * min(self.options.concurrency, len(pending))
            if self.directory.loaded and len(pending) >= REFRESH_AHEAD_WRITES:
                # One call among many writes now, rather than one the next batch waits for.
                calls.insert(0, self._refresh_ahead)
            await run_concurrently(calls)
        finally:
            self.directory.batch_done()
        result = BatchResult([w.outcome or Outcome.FAILED for w in writes])
        for w in writes:
            if w.reason is not None:
                result.reasons[w.index] = w.reason
            if w.written_id is not None:
                result.target_keys[w.index] = w.written_id
        return result

    async def _refresh_ahead(self) -> None:
        """Catch the directory up while the batch is written; a failure leaves it due, so the
        next batch reads it (and fails there if Mailchimp still refuses) instead of this batch,
        whose writes went through."""
        try:
            await self.directory.refresh_ahead()
        except Exception as exc:  # the next batch's own refresh reports it
            self.context.logger.info(
                "reading the changes of audience %s while writing failed: %s", self.list_id, exc
            )

    def _prepare(
        self, index: int, change: Change, plan: WritePlan, fields: AudienceFields
    ) -> _Write:
        """What a change asks for, or its rejection (a field the member has no place for)."""
        w = _Write(index, change)
        if plan.targets is not None:
            w.planned = plan.targets[index]
        values = change.fields
        w.email = text_of(values.get("email")) or None
        w.constituent_id = text_of(values.get("constituent_id"))
        if w.delete:
            return w
        status = text_of(values.get("email_status")).lower()
        if status and status not in EMAIL_STATUSES:
            w.settle(
                Outcome.REJECTED,
                f"{change.describe()}: email_status {values['email_status']!r} is not one of "
                f"{', '.join(EMAIL_STATUSES)}",
            )
            return w
        w.status = status or None
        try:
            w.add_tags = tag_names(
                [*self.options.tags, *tag_names(values.get("tags"), "tags")], "tags"
            )
            w.remove_tags = tag_names(values.get("remove_tags"), "remove_tags")
        except ValueError as exc:
            w.settle(Outcome.REJECTED, f"{change.describe()}: {exc}")
            return w
        desired = fields.desired(values)
        problems = list(desired.problems)
        if desired.unknown and self.options.unknown_fields == "reject":
            problems.append(
                f"{', '.join(sorted(desired.unknown))}: not fields of a Mailchimp member "
                "(map them to merge tags, or set unknown_fields = 'ignore')"
            )
        if problems:
            w.settle(Outcome.REJECTED, f"{change.describe()}: " + "; ".join(problems))
            return w
        w.merges, w.address = desired.merges, desired.address
        return w

    async def _resolve(
        self, writes: Sequence[_Write], plan: WritePlan
    ) -> dict[str, MemberRecord | None]:
        """Decide which member each write is (``target``) and read those members."""
        directory = self.directory
        by_constituent = plan.targets is None and any(w.constituent_id for w in writes)
        if by_constituent or await self._directory_pays(writes):
            await directory.ensure_loaded()
        members = await directory.members(w.planned for w in writes if w.planned)
        for w in writes:
            if w.planned and members.get(w.planned) is not None:
                w.target = w.planned
                continue
            if w.constituent_id and (plan.targets is None or w.planned) and not directory.loaded:
                await directory.ensure_loaded()  # a matched member gone: find it again
            if w.constituent_id and directory.loaded and (plan.targets is None or w.planned):
                holders = directory.with_constituent_id(w.constituent_id)
                if len(holders) > 1:
                    ids = ", ".join(h.id for h in holders[:5])
                    w.settle(
                        Outcome.REJECTED,
                        f"{w.change.describe()}: {len(holders)} members of audience "
                        f"{self.list_id} hold constituent_id {w.constituent_id} ({ids}); "
                        "refusing to guess",
                    )
                    continue
                if holders:
                    w.target = holders[0].id
                    continue
            if w.email:
                w.target = subscriber_hash(w.email)
            elif w.delete:
                w.settle(
                    Outcome.SKIPPED,
                    f"{w.change.describe()}: no member to delete (no email, no member with its "
                    "constituent_id)",
                )
            else:
                w.settle(
                    Outcome.REJECTED,
                    f"{w.change.describe()}: no email, and no member of audience "
                    f"{self.list_id} to update: a member cannot be created without one",
                )
        members.update(await directory.members(w.target for w in writes if w.target))
        return members

    async def _directory_pays(self, writes: Sequence[_Write]) -> bool:
        """Whether reading the whole audience costs fewer calls than reading each member the
        batch may create (then new members are known to be new without a call each)."""
        if self.directory.loaded:
            return False
        unknown = {
            subscriber_hash(w.email)
            for w in writes
            if w.email and not w.planned and subscriber_hash(w.email) not in self.directory.fetched
        }
        if len(unknown) < 4:
            return False
        if self._audience_size is None:
            self._audience_size = await self.directory.member_count()
        return self._audience_size // MAX_PAGE_SIZE + 1 < len(unknown)

    async def _write_group(
        self,
        group: list[_Write],
        members: dict[str, MemberRecord | None],
        fields: AudienceFields,
        dry_run: bool,
    ) -> None:
        """The writes of one member, in order, each seeing what the one before left."""
        for w in group:
            if w.outcome is not None or w.target is None:
                continue
            target = w.target
            if w.constituent_id:
                # An earlier change of this constituent in the batch may have moved it.
                for earlier in group:
                    if earlier is w:
                        break
                    if earlier.written_id and earlier.constituent_id == w.constituent_id:
                        target = earlier.written_id
            current = members.get(target)
            try:
                after = await self._apply(w, target, current, fields, dry_run)
            except MailchimpRefusal as refusal:
                if refusal.status not in _RECORD_REFUSALS:
                    raise
                w.settle(Outcome.REJECTED, self._refused(w, target, current, refusal))
                continue
            if after is not None:
                if after.id != target:
                    members[target] = None
                    self.directory.forget(target)
                members[after.id] = after
                if not dry_run:
                    self.directory.note(after)

    def _refused(
        self, w: _Write, target: str, current: MemberRecord | None, refusal: MailchimpRefusal
    ) -> str:
        """The reason of a member Mailchimp refused, in its words."""
        if (
            current is not None
            and w.email
            and w.email.casefold() != current.email_address.casefold()
        ):
            what = f"changing the email of member {current.email_address} to {w.email}"
        else:
            what = f"member {w.email or (current.email_address if current else target)}"
        return (
            f"{w.change.describe()}: Mailchimp refused {what} (audience {self.list_id}): "
            f"{refusal.explanation}"
        )

    async def _apply(
        self,
        w: _Write,
        target: str,
        current: MemberRecord | None,
        fields: AudienceFields,
        dry_run: bool,
    ) -> MemberRecord | None:
        """Write one change to member ``target`` (``current``: what it holds, ``None``: no
        such member); returns the member as it is after (``None``: nothing written)."""
        what = f"writing {w.change.describe()} to member {target} of audience {self.list_id}"
        if w.delete:
            return await self._delete(w, target, current, dry_run, what)
        if current is None:
            return await self._create(w, fields, dry_run, what)
        return await self._update(w, current, fields, dry_run, what)

    async def _create(
        self, w: _Write, fields: AudienceFields, dry_run: bool, what: str
    ) -> MemberRecord | None:
        if not w.email:
            w.settle(
                Outcome.REJECTED,
                f"{w.change.describe()}: no email: a member cannot be created without one",
            )
            return None
        merges = {tag: value for tag, value in w.merges.items() if text_of(value)}
        if w.address and fields.address_tag:
            address = fields.address_value(None, w.address)
            if address:
                merges[fields.address_tag] = address
        body: dict[str, Any] = {
            "email_address": w.email,
            "status": w.status or self.options.status_if_new,
            "merge_fields": merges,
        }
        if w.add_tags:
            body["tags"] = list(w.add_tags)
        member_id = subscriber_hash(w.email)
        if dry_run:
            w.settle(Outcome.CREATED, None, member_id)
            return None
        try:
            created = await self.client.add_member(self.list_id, body, what)
        except MailchimpRefusal as refusal:
            if refusal.title != "Member Exists":
                raise
            # Added since we looked (another writer, or a batch written again): update it.
            existing = await self.client.member(self.list_id, member_id)
            if existing is None:
                raise
            return await self._update(w, existing, fields, dry_run, what)
        w.settle(Outcome.CREATED, None, created.id)
        return created

    async def _update(
        self,
        w: _Write,
        current: MemberRecord,
        fields: AudienceFields,
        dry_run: bool,
        what: str,
    ) -> MemberRecord | None:
        body: dict[str, Any] = {}
        notes: list[str] = []
        email = current.email_address
        if w.email and w.email.casefold() != current.email_address.casefold():
            body["email_address"] = email = w.email
        status = self._status_change(current.status, w.status, notes)
        if current.status == "archived":
            body["status_if_new"] = status or w.status or self.options.status_if_new
        elif status is not None:
            body["status"] = status
        merges: dict[str, Any] = {}
        for tag, value in w.merges.items():
            if not fields.same(tag, value, current.merge_fields.get(tag)):
                merges[tag] = value
        if w.address and fields.address_tag:
            held = current.merge_fields.get(fields.address_tag)
            address = fields.address_value(held, w.address)
            if not fields.same(fields.address_tag, address, held):
                merges[fields.address_tag] = address
        if merges:
            body["merge_fields"] = merges
        held_tags = {name.casefold() for name in current.tag_names()}
        tag_changes = {name: True for name in w.add_tags if name.casefold() not in held_tags}
        tag_changes.update({name: False for name in w.remove_tags if name.casefold() in held_tags})
        reason = "; ".join(notes) or None
        if not body and not tag_changes:
            w.settle(Outcome.UNCHANGED, reason, current.id)
            return None
        if dry_run:
            w.settle(Outcome.UPDATED, reason, subscriber_hash(email))
            return None
        after = current
        if body:
            body.setdefault("email_address", email)
            body.setdefault("status_if_new", w.status or self.options.status_if_new)
            after = await self.client.put_member(self.list_id, current.id, body, what)
        if tag_changes:
            await self.client.update_tags(self.list_id, after.id, tag_changes, what)
            removed = {name.casefold() for name, active in tag_changes.items() if not active}
            tags = [t for t in after.tags if t.name.casefold() not in removed]
            tags += [TagRef(name=name) for name, active in tag_changes.items() if active]
            after = after.model_copy(update={"tags": tags})
        changed = bool(tag_changes) or _state(after) != _state(current)
        w.settle(Outcome.UPDATED if changed else Outcome.UNCHANGED, reason, after.id)
        return after

    def _status_change(self, held: str, wanted: str | None, notes: list[str]) -> str | None:
        """The status to send for a member holding ``held`` asked to be ``wanted``."""
        if wanted is None or wanted == held:
            return None
        if held in ("unsubscribed", "cleaned") and wanted == "subscribed":
            if self.options.resubscribe == "keep":
                notes.append(f"kept {held}: email_status subscribed (resubscribe = 'keep')")
                return None
            return self.options.resubscribe
        return wanted

    async def _delete(
        self,
        w: _Write,
        target: str,
        current: MemberRecord | None,
        dry_run: bool,
        what: str,
    ) -> MemberRecord | None:
        if current is None or current.status == "archived":
            w.settle(Outcome.UNCHANGED, None, target)
            return None
        if self.options.on_delete == "skip":
            w.settle(Outcome.SKIPPED, f"{w.change.describe()}: deletes are skipped (on_delete)")
            return None
        if self.options.on_delete == "unsubscribe":
            if current.status == "unsubscribed":
                w.settle(Outcome.UNCHANGED, None, current.id)
                return None
            if dry_run:
                w.settle(Outcome.UPDATED, None, current.id)
                return None
            body = {
                "email_address": current.email_address,
                "status": "unsubscribed",
                "status_if_new": "unsubscribed",
            }
            after = await self.client.put_member(self.list_id, current.id, body, what)
            w.settle(Outcome.UPDATED, None, after.id)
            return after
        if dry_run:
            w.settle(Outcome.DELETED, None, current.id)
            return None
        if not await self.client.archive_member(self.list_id, current.id, what):
            w.settle(Outcome.UNCHANGED, None, current.id)
            return None
        w.settle(Outcome.DELETED, None, current.id)
        return current.model_copy(update={"status": "archived"})


def _groups(writes: Sequence[_Write]) -> list[list[_Write]]:
    """The writes that touch the same member (by target) or the same constituent, together
    and in batch order; the groups are independent of each other."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for position, w in enumerate(writes):
        for key in (
            f"m:{w.target}" if w.target else "",
            f"c:{w.constituent_id}" if w.constituent_id else "",
        ):
            if not key:
                continue
            if key in owner:
                parent[root(position)] = root(owner[key])
            else:
                owner[key] = position
    grouped: dict[int, list[_Write]] = {}
    for position, w in enumerate(writes):
        grouped.setdefault(root(position), []).append(w)
    return list(grouped.values())


class MemberLookup(TargetLookup):
    """Finds members by ``constituent_id`` or ``email`` for the flow's matchers.

    By email: the subscriber hash names the member, one call each (none once the sink's
    directory holds the audience). By constituent id: Mailchimp cannot search merge fields, so
    the audience directory (:mod:`syncframe_smartsync.mailchimp_directory`) is read once per run
    and kept current; every later lookup is answered from it. A record found carries the
    member's vocabulary fields, ``email_status`` (``None`` for a transactional or archived
    member) and Mailchimp's own ``member_status``.
    """

    def __init__(self, sink: MemberSink) -> None:
        self.sink = sink

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        if field not in LOOKUP_FIELDS:
            raise PermanentError(
                f"Mailchimp members cannot be found by {field!r}; they can by "
                f"{', '.join(LOOKUP_FIELDS)}"
            )
        wanted = [text_of(v) for v in dict.fromkeys(values) if text_of(v)]
        directory = self.sink.directory
        found: dict[str, list[TargetRecord]] = {}
        if field == "constituent_id":
            fields_map = await self._fields_beside(directory.ensure_loaded)
            for value in wanted:
                holders = [h.member() for h in directory.with_constituent_id(value)]
                if holders:
                    found[value] = [_record(fields_map, m) for m in holders]
            return found
        fields_map = await self._fields_beside(directory.refresh)
        hashes = {value: subscriber_hash(value) for value in wanted}
        members = await directory.members(hashes.values())
        for value, member_id in hashes.items():
            member = members.get(member_id)
            if member is not None:
                found[value] = [_record(fields_map, member)]
        return found

    async def prepare(self, fields: Sequence[str]) -> None:
        """Read the audience's merge fields and, when members are found by constituent id, the
        whole audience (the directory), while the source reads its first batch."""
        if "constituent_id" in fields:
            await self._fields_beside(self.sink.directory.ensure_loaded)
        else:
            await self.sink.fields()

    async def _fields_beside(self, read: Callable[[], Awaitable[None]]) -> FieldMap:
        """The audience's fields, read side by side with ``read`` (the directory's reading):
        the first lookup of a run waits for one round of calls, not two. Both run to their
        end; a failure to read the fields is the one reported."""
        fields: list[FieldMap] = []
        failures: list[Exception] = []

        async def read_fields() -> None:
            try:
                fields.append(await self.sink.fields())
            except Exception as exc:  # raised below, the fields' failure first
                failures.insert(0, exc)

        async def read_members() -> None:
            try:
                await read()
            except Exception as exc:  # raised below
                failures.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(read_fields)
            group.start_soon(read_members)
        if failures:
            raise failures[0]
        return fields[0]


def _record(fields_map: FieldMap, member: MemberRecord) -> TargetRecord:
    fields = member_fields(fields_map, member, include_empty=True)
    fields["email_status"] = email_status_of(member.status)
    fields["member_status"] = member.status
    return TargetRecord(member.id, fields)
