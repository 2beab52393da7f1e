"""Constituents written into Raiser's Edge NXT (sink ``re_nxt_constituents``): the action steps
(create, update, set consent and solicit codes), and the lookup the search steps use.

**What a change does.** Its fields are the common vocabulary (:data:`VOCABULARY`). With a target
(the constituent a matcher found), the constituent is read and only what differs is written:
names (``first``, ``last``, ``preferred_name``) in one PATCH; a new email address, phone or
postal address is added as the primary (preferred) one, the old one kept as RE keeps history (an
address it already has is made primary instead); ``email_status`` becomes consents and solicit
codes (:mod:`syncframe_smartsync.re_nxt_consent`). A blank or missing field never clears what RE
NXT holds. Without a target a constituent is created with its email, phone and address, then its
consent. The outcome says which (``created`` / ``updated`` / ``unchanged``); a record RE NXT
refuses, or that does not fit (a bad email, an unknown field), is ``rejected`` with the reason;
deletes are ``skipped`` (the SKY API cannot delete constituents).

**Idempotent by key.** Nothing is written when RE already holds the values, so a batch written
twice changes nothing the second time. Before creating, the sink looks the record up itself, by
its ``constituent_id`` (RE's lookup_id, which the new constituent gets) or, without one, by its
``email``, and updates what it finds; it also remembers what it created in this run, for a batch
the engine writes again after a transient error. So neither a retry nor a crash between the write
and the engine's commit creates a constituent twice. A record with neither key is refused a
create, since nothing could recognise it afterwards.

**The lookup** finds constituents by ``constituent_id`` (the ``lookup_id`` search), ``email``
(the ``email_address`` search: any active address of the constituent) or ``id``; with
``list_id`` only members of that constituent list count, for the lookup and for the check
before a create.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
from syncframe_smartsync.re_nxt_client import (
    COMMPREF_API,
    CONSTITUENT_API,
    ReNxtClient,
    SkyNotFound,
    SkyRefused,
    first_error,
)
from syncframe_smartsync.re_nxt_consent import (
    ConsentPlan,
    ConsentPolicy,
    SolicitCodeEnd,
    consent_plan,
)
from syncframe_smartsync.re_nxt_models import (
    VOCABULARY,
    ConsentRead,
    ConstituentRead,
    ContactFields,
    SearchResult,
    SolicitCodeRead,
    digits_of,
)
from syncframe_smartsync.re_nxt_source import ENTITY, client_for

__all__ = [
    "SEARCHABLE",
    "ReNxtConstituentSink",
    "ReNxtLookup",
    "ReNxtSinkOptions",
]

#: Fields the lookup finds constituents by, and the search field of each (``id``: read by id).
SEARCHABLE: Final[dict[str, str | None]] = {
    "constituent_id": "lookup_id",
    "email": "email_address",
    "id": None,
}


#: Outcomes whose record is named by its constituent id in the batch result.
_KEYED: Final = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED})


class ReNxtSinkOptions(BaseModel):
    """Options of the ``re_nxt_constituents`` sink."""

    model_config = ConfigDict(extra="forbid")

    list_id: str | None = Field(
        None,
        min_length=1,
        description="Find only constituents of this constituent list (lookups and the check "
        "before a create); others are as if absent.",
    )
    create_missing: bool = Field(
        True, description="Create constituents nothing matched; false: skip them."
    )
    email_type: str = Field(
        "Email", min_length=1, description="Type of the email addresses the sink adds."
    )
    phone_type: str = Field("Home", min_length=1, description="Type of the phones the sink adds.")
    address_type: str = Field(
        "Home", min_length=1, description="Type of the postal addresses the sink adds."
    )
    consent_channel: str = Field(
        "Email", min_length=1, description="The consent channel email_status is written to."
    )
    consent_category: str = Field(
        "All communications",
        min_length=1,
        description="The consent category an opt-in is written to (besides the channel).",
    )
    consent_source: str | None = Field(
        None, description="The source recorded on consents written (e.g. Mailchimp); null: none."
    )
    unsubscribe_solicit_code: str | None = Field(
        "Do not email",
        description="The solicit code an unsubscribe adds and a subscribe ends (null: none).",
    )
    unknown_fields: Literal["reject", "ignore"] = Field(
        "reject",
        description="A field outside the vocabulary: reject the record (default) or ignore it.",
    )
    concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Constituents written at once (changes of one constituent always in "
        "order); the connection's max_concurrency caps the requests in flight.",
    )

    @property
    def entity(self) -> str:
        """The entity writes are recorded under (what ``re_nxt_constituents`` reads back)."""
        return ENTITY

    def policy(self) -> ConsentPolicy:
        """How email_status is written."""
        return ConsentPolicy(
            channel=self.consent_channel,
            category=self.consent_category,
            source=self.consent_source,
            solicit_code=self.unsubscribe_solicit_code,
        )


class _ListMembers:
    """A constituent list's members, read once (the first time they are needed)."""

    def __init__(self, client: ReNxtClient, list_id: str) -> None:
        self.client = client
        self.list_id = list_id
        self._members: frozenset[str] | None = None
        self._lock = anyio.Lock()

    async def get(self) -> frozenset[str]:
        async with self._lock:
            if self._members is None:
                try:
                    self._members = await self.client.list_member_ids(self.list_id)
                except SkyRefused as exc:
                    raise PermanentError(
                        f"RE NXT: list_id {self.list_id!r} of sink re_nxt_constituents: "
                        f"{exc.detail}"
                    ) from None
            return self._members


def _search_record(hit: SearchResult, field: str, value: str) -> TargetRecord:
    return TargetRecord(
        hit.id,
        {
            "id": hit.id,
            "constituent_id": hit.lookup_id,
            # The address searched for: the hit may hold it as a second address.
            "email": value if field == "email" else hit.email,
            "primary_email": hit.email,
            "name": hit.name,
            "inactive": hit.inactive,
            "deceased": hit.deceased,
        },
    )


def _read_record(found: ConstituentRead) -> TargetRecord:
    return TargetRecord(
        found.id,
        {
            "id": found.id,
            "constituent_id": found.lookup_id,
            "email": found.email.address if found.email is not None else None,
            "primary_email": found.email.address if found.email is not None else None,
            "name": found.name,
            "inactive": found.inactive,
            "deceased": found.deceased,
        },
    )


class ReNxtLookup(TargetLookup):
    """Finds constituents by ``constituent_id``, ``email`` or ``id`` (one search per value, a few
    at once), optionally only among a constituent list's members."""

    def __init__(
        self, client: ReNxtClient, members: _ListMembers | None = None, *, concurrency: int = 4
    ) -> None:
        self.client = client
        self.members = members
        self._limit = anyio.CapacityLimiter(concurrency)

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        if field not in SEARCHABLE:
            raise PermanentError(
                f"RE NXT cannot find constituents by {field!r}; it can by {', '.join(SEARCHABLE)}"
            )
        allowed = await self.members.get() if self.members is not None else None
        found: dict[str, list[TargetRecord]] = {}

        async def one(value: str) -> None:
            async with self._limit:
                records = await self._records(field, value)
            kept = [r for r in records if allowed is None or r.key in allowed]
            if kept:
                found[value] = kept

        wanted = dict.fromkeys(str(v).strip() for v in values if v is not None and str(v).strip())
        try:
            async with anyio.create_task_group() as group:
                for value in wanted:
                    group.start_soon(one, value)
        except BaseExceptionGroup as failed:
            raise first_error(failed) from None
        return found

    async def _records(self, field: str, value: str) -> list[TargetRecord]:
        search_field = SEARCHABLE[field]
        if search_field is None:
            if not value.isdigit():
                return []  # not a system record id: no constituent has it
            try:
                return [_read_record(await self.client.constituent(value))]
            except SkyNotFound:
                return []
        hits = await self.client.search(search_field, value)
        return [_search_record(hit, field, value) for hit in hits]


# ---- writing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """One write of a change: what it is (for reasons) and the call that makes it."""

    what: str
    run: Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _Result:
    outcome: Outcome
    key: str | None = None
    reason: str | None = None


class _Refused(Exception):
    """A step RE NXT refused, with what had been written before it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _problems(exc: ValidationError) -> str:
    parts = []
    for problem in exc.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "fields"
        message = str(problem["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _address_body(values: Mapping[str, str]) -> dict[str, str]:
    names = {"address1": "address_lines"}
    return {names.get(name, name): value for name, value in values.items()}


def _groups(changes: Sequence[Change], targets: Sequence[str | None] | None) -> list[list[int]]:
    """Indexes of changes that may concern one constituent (same target, constituent_id or
    email), each group in batch order: a group is written in order, groups side by side."""
    parent = list(range(len(changes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, change in enumerate(changes):
        keys = []
        target = targets[i] if targets is not None else None
        if target:
            keys.append(f"id:{target}")
        for name in ("constituent_id", "email"):
            value = change.fields.get(name)
            if isinstance(value, str | int) and str(value).strip():
                keys.append(f"{name}:{str(value).strip().casefold()}")
        for key in keys:
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    grouped: dict[int, list[int]] = {}
    for i in range(len(changes)):
        grouped.setdefault(root(i), []).append(i)
    return list(grouped.values())


class ReNxtConstituentSink(Sink[ReNxtSinkOptions]):
    """Creates and updates Raiser's Edge NXT constituents with their email, phone, address and
    email consent; idempotent by key (constituent_id, else email)."""

    Options = ReNxtSinkOptions
    system = "re_nxt"

    def __init__(self, context: ComponentContext, options: ReNxtSinkOptions) -> None:
        super().__init__(context, options)
        self._client: ReNxtClient | None = None
        self._lookup: ReNxtLookup | None = None
        #: Change id -> constituent this sink created for it (a batch written again after a
        #: transient error updates it instead of creating it twice).
        self._created: dict[str, str] = {}

    @property
    def client(self) -> ReNxtClient:
        """The SKY API client (made on first use, on the engine's HTTP client)."""
        if self._client is None:
            self._client = client_for(self.context)
        return self._client

    def lookup(self) -> ReNxtLookup:
        """Finds constituents by constituent_id, email or id (within ``list_id`` if set)."""
        if self._lookup is None:
            members = (
                _ListMembers(self.client, self.options.list_id)
                if self.options.list_id is not None
                else None
            )
            self._lookup = ReNxtLookup(self.client, members, concurrency=self.options.concurrency)
        return self._lookup

    async def check(self) -> None:
        """An authorized call; every code-table entry the options name exists; the list too."""
        await self.client.check()
        options = self.options
        wanted: list[tuple[str, str | None, str]] = [
            ("email_type", options.email_type, f"{CONSTITUENT_API}/emailaddresstypes"),
            ("phone_type", options.phone_type, f"{CONSTITUENT_API}/phonetypes"),
            ("address_type", options.address_type, f"{CONSTITUENT_API}/addresstypes"),
            ("consent_channel", options.consent_channel, f"{COMMPREF_API}/consent/channels"),
            ("consent_category", options.consent_category, f"{COMMPREF_API}/consent/categories"),
            ("consent_source", options.consent_source, f"{COMMPREF_API}/consent/sources"),
            (
                "unsubscribe_solicit_code",
                options.unsubscribe_solicit_code,
                f"{COMMPREF_API}/solicitcodes",
            ),
        ]
        wrong = []
        for option, value, path in wanted:
            if value is None:
                continue
            entries = await self.client.code_table(path)
            if value.casefold() not in {entry.casefold() for entry in entries}:
                wrong.append(f"{option} {value!r} is not in {path} ({', '.join(entries)})")
        if wrong:
            raise PermanentError(
                "RE NXT: options of sink re_nxt_constituents name code-table entries the "
                "environment does not have: " + "; ".join(wrong)
            )
        members = self.lookup().members
        if members is not None:
            await members.get()

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        results: list[_Result | None] = [None] * len(changes)
        limit = anyio.CapacityLimiter(self.options.concurrency)

        async def write_group(indexes: list[int]) -> None:
            async with limit:
                for i in indexes:
                    target = plan.targets[i] if plan.targets is not None else None
                    results[i] = await self._apply(changes[i], target, plan.dry_run)

        try:
            async with anyio.create_task_group() as group:
                for indexes in _groups(changes, plan.targets):
                    group.start_soon(write_group, indexes)
        except BaseExceptionGroup as failed:
            raise first_error(failed) from None
        batch = BatchResult([])
        for i, result in enumerate(results):
            assert result is not None  # every group wrote every change it holds
            batch.outcomes.append(result.outcome)
            if result.reason is not None:
                batch.reasons[i] = result.reason
            if result.key is not None and result.outcome in _KEYED:
                batch.target_keys[i] = result.key
        return batch

    # ---- one change ------------------------------------------------------------------------
    async def _apply(self, change: Change, target: str | None, dry_run: bool) -> _Result:
        what = change.describe()
        if change.operation is Operation.DELETE:
            return _Result(
                Outcome.SKIPPED,
                target,
                f"{what}: the SKY API cannot delete constituents (delete or mark it inactive in "
                "the RE NXT web view)",
            )
        fields = self._fields(change)
        if isinstance(fields, str):
            return _Result(Outcome.REJECTED, None, fields)
        try:
            created = self._created.get(change.change_id) if target is None else None
            if created is not None:
                # Created by an earlier try of this batch: it was created in this run.
                done = await self._update(change, created, fields, dry_run)
                if done.outcome is Outcome.UNCHANGED:
                    return _Result(Outcome.CREATED, created, done.reason)
                return done
            if target is None:
                target = await self._existing(fields)
            if target is None:
                return await self._create(change, fields, dry_run)
            return await self._update(change, target, fields, dry_run)
        except _Refused as refused:
            return _Result(Outcome.REJECTED, None, f"{what}: {refused.reason}")

    def _fields(self, change: Change) -> ContactFields | str:
        """The change's fields checked, or why they cannot be written."""
        values = dict(change.fields)
        unknown = sorted(set(values) - set(VOCABULARY))
        if unknown and self.options.unknown_fields == "reject":
            return (
                f"{change.describe()}: RE NXT constituents have no field "
                f"{', '.join(repr(name) for name in unknown)} (the sink takes "
                f"{', '.join(VOCABULARY)}); map it to one of them, or set unknown_fields = "
                '"ignore"'
            )
        for name in unknown:
            del values[name]
        try:
            return ContactFields.model_validate(values)
        except ValidationError as exc:
            return f"{change.describe()}: {_problems(exc)}"

    async def _existing(self, fields: ContactFields) -> str | None:
        """The constituent the record already is, found by its key (constituent_id, else
        email), or ``None``."""
        if fields.constituent_id is not None:
            field, value = "constituent_id", fields.constituent_id
        elif fields.email is not None:
            field, value = "email", fields.email
        else:
            return None
        hits = (await self.lookup().find(field, [value])).get(value, [])
        if len(hits) > 1:
            keys = ", ".join(sorted(hit.key for hit in hits)[:5])
            raise _Refused(
                f"{len(hits)} constituents have {field} {value} ({keys}); refusing to guess "
                "which one it is"
            )
        return hits[0].key if hits else None

    async def _create(self, change: Change, fields: ContactFields, dry_run: bool) -> _Result:
        what = change.describe()
        if not self.options.create_missing:
            return _Result(
                Outcome.SKIPPED,
                None,
                f"{what}: no constituent matches it and create_missing is off",
            )
        if fields.constituent_id is None and fields.email is None:
            return _Result(
                Outcome.REJECTED,
                None,
                f"{what}: a constituent is created only with a constituent_id or an email (with "
                "neither, a batch written again could create it twice)",
            )
        if fields.last_name is None:
            return _Result(
                Outcome.REJECTED,
                None,
                f"{what}: last_name is needed to create a constituent (RE NXT requires a last "
                "name for an individual)",
            )
        consent = self._consent_plan(change, fields, [], [])
        body: dict[str, Any] = {"type": "Individual", "last": fields.last_name}
        if fields.first_name is not None:
            body["first"] = fields.first_name
        if fields.nickname is not None:
            body["preferred_name"] = fields.nickname
        if fields.constituent_id is not None:
            body["lookup_id"] = fields.constituent_id
        if fields.email is not None:
            body["email"] = {
                "address": fields.email,
                "type": self.options.email_type,
                "primary": True,
                "do_not_email": bool(consent is not None and consent.do_not_email),
            }
        if fields.phone is not None:
            body["phone"] = {"number": fields.phone, "type": self.options.phone_type}
        address = fields.address()
        if address:
            body["address"] = {"type": self.options.address_type, **_address_body(address)}
        note = consent.note if consent is not None else None
        if dry_run:
            return _Result(Outcome.CREATED, None, note)
        try:
            created = await self.client.create_constituent(body, f"creating {what}")
        except SkyRefused as exc:
            raise _Refused(f"creating the constituent was refused: {exc.detail}") from None
        self._created[change.change_id] = created
        if consent is not None:
            steps = self._consent_steps(created, consent, change)
            await self._run(steps, f"created constituent {created}")
        return _Result(Outcome.CREATED, created, note)

    async def _update(
        self, change: Change, target: str, fields: ContactFields, dry_run: bool
    ) -> _Result:
        client = self.client
        try:
            current = await client.constituent(target)
        except SkyNotFound:
            raise _Refused(
                f"constituent {target} is not in RE NXT any more (deleted or merged)"
            ) from None
        notes: list[str] = []
        steps = self._profile_steps(current, fields, notes)
        consent: ConsentPlan | None = None
        if fields.email_status is not None:
            listed = fields.email_status in ("subscribed", "unsubscribed")
            consents = await client.consents(target) if listed else []
            codes = await client.solicit_codes(target) if listed else []
            consent = self._consent_plan(change, fields, consents, codes)
        steps += await self._email_steps(current, fields, consent, notes)
        steps += await self._phone_steps(current, fields)
        steps += self._address_steps(current, fields)
        if consent is not None:
            steps += self._consent_steps(target, consent, change)
            if consent.note:
                notes.append(consent.note)
        note = "; ".join(notes) or None
        if not steps:
            return _Result(Outcome.UNCHANGED, target, note)
        if not dry_run:
            await self._run(steps, f"constituent {target}")
        return _Result(Outcome.UPDATED, target, note)

    async def _run(self, steps: Sequence[_Step], record: str) -> None:
        done: list[str] = []
        for step in steps:
            try:
                await step.run()
            except SkyRefused as exc:
                before = f" (after {', '.join(done)})" if done else ""
                raise _Refused(f"{record}: {step.what} was refused{before}: {exc.detail}") from None
            done.append(step.what)

    # ---- what to write -----------------------------------------------------------------------
    def _profile_steps(
        self, current: ConstituentRead, fields: ContactFields, notes: list[str]
    ) -> list[_Step]:
        given = {
            "first": fields.first_name,
            "last": fields.last_name,
            "preferred_name": fields.nickname,
        }
        if current.type != "Individual":
            if any(value is not None for value in given.values()):
                notes.append("names are not written to an organization")
            return []
        edit = {
            name: value
            for name, value in given.items()
            if value is not None and value != getattr(current, name)
        }
        if not edit:
            return []
        client = self.client
        return [
            _Step(
                f"editing {', '.join(edit)}",
                partial(client.edit_constituent, current.id, edit, f"editing {current.id}"),
            )
        ]

    async def _email_steps(
        self,
        current: ConstituentRead,
        fields: ContactFields,
        consent: ConsentPlan | None,
        notes: list[str],
    ) -> list[_Step]:
        client, target = self.client, current.id
        flag = consent.do_not_email if consent is not None else None
        primary = current.email
        wanted = fields.email
        if wanted is not None and (
            primary is None or primary.inactive or primary.address.casefold() != wanted.casefold()
        ):
            held = await client.email_addresses(target)
            same = next((e for e in held if e.address.casefold() == wanted.casefold()), None)
            if same is not None:
                edit: dict[str, Any] = {"primary": True}
                if same.inactive:
                    edit["inactive"] = False
                if flag is not None and same.do_not_email != flag:
                    edit["do_not_email"] = flag
                return [
                    _Step(
                        f"making email address {same.id} primary",
                        partial(client.edit_email_address, same.id, edit, f"editing {same.id}"),
                    )
                ]
            body: dict[str, Any] = {
                "constituent_id": target,
                "address": wanted,
                "type": self.options.email_type,
                "primary": True,
            }
            if flag:
                body["do_not_email"] = True
            return [
                _Step(
                    "adding the email address",
                    partial(client.add_email_address, body, f"adding an email to {target}"),
                )
            ]
        if flag is None:
            return []
        if primary is None:
            if flag:
                notes.append("email_status cleaned: the constituent has no email address to mark")
            return []
        if primary.do_not_email == flag:
            return []
        return [
            _Step(
                f"setting do_not_email of email address {primary.id} to {str(flag).lower()}",
                partial(
                    client.edit_email_address,
                    primary.id,
                    {"do_not_email": flag},
                    f"editing {primary.id}",
                ),
            )
        ]

    async def _phone_steps(self, current: ConstituentRead, fields: ContactFields) -> list[_Step]:
        client, target, wanted = self.client, current.id, fields.phone
        if wanted is None:
            return []
        digits = digits_of(wanted)
        held_now = current.phone
        if held_now is not None and not held_now.inactive and digits_of(held_now.number) == digits:
            return []
        held = await client.phones(target)
        same = next((p for p in held if digits and digits_of(p.number) == digits), None)
        if same is not None:
            edit: dict[str, Any] = {"primary": True}
            if same.inactive:
                edit["inactive"] = False
            return [
                _Step(
                    f"making phone {same.id} primary",
                    partial(client.edit_phone, same.id, edit, f"editing {same.id}"),
                )
            ]
        body = {
            "constituent_id": target,
            "number": wanted,
            "type": self.options.phone_type,
            "primary": True,
        }
        adding = partial(client.add_phone, body, f"adding a phone to {target}")
        return [_Step("adding the phone", adding)]

    def _address_steps(self, current: ConstituentRead, fields: ContactFields) -> list[_Step]:
        given = fields.address()
        if not given:
            return []
        held = current.address.vocabulary() if current.address is not None else {}
        if all(held.get(name) == value for name, value in given.items()):
            return []
        # Fields the change leaves out keep the preferred address's values.
        merged = {name: value for name, value in held.items() if value} | given
        body = {
            "constituent_id": current.id,
            "type": self.options.address_type,
            "preferred": True,
            **_address_body(merged),
        }
        client, target = self.client, current.id
        return [
            _Step(
                "adding the address",
                partial(client.add_address, body, f"adding an address to {target}"),
            )
        ]

    def _consent_plan(
        self,
        change: Change,
        fields: ContactFields,
        consents: Sequence[ConsentRead],
        codes: Sequence[SolicitCodeRead],
    ) -> ConsentPlan | None:
        if fields.email_status is None:
            return None
        return consent_plan(
            fields.email_status,
            consents,
            codes,
            self.options.policy(),
            occurred_at=change.occurred_at,
            now=self.context.clock.now(),
        )

    def _consent_steps(self, target: str, plan: ConsentPlan, change: Change) -> list[_Step]:
        client, policy = self.client, self.options.policy()
        now = self.context.clock.now()
        when = change.occurred_at or now
        steps: list[_Step] = []
        for write in plan.consents:
            body = write.body(target, policy, when)
            steps.append(
                _Step(
                    f"adding the {write.describe(policy)}",
                    partial(client.add_consent, body, f"adding a consent to {target}"),
                )
            )
        for code in plan.solicit_codes:
            if isinstance(code, SolicitCodeEnd):
                ending = {"end_date": now.isoformat()}
                steps.append(
                    _Step(
                        f"ending solicit code {code.solicit_code!r}",
                        partial(
                            client.edit_solicit_code,
                            code.code_id,
                            ending,
                            f"ending solicit code {code.code_id}",
                        ),
                    )
                )
            else:
                adding = {"constituent_id": target, "solicit_code": code.solicit_code}
                steps.append(
                    _Step(
                        f"adding solicit code {code.solicit_code!r}",
                        partial(
                            client.add_solicit_code, adding, f"adding a solicit code to {target}"
                        ),
                    )
                )
        return steps
