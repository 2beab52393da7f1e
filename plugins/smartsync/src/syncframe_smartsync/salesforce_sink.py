"""Contacts written into Salesforce (sink ``salesforce_contacts``) — the action steps of a
SmartSYNC-style flow into Salesforce — and the lookup its search steps use.

Per change, in this order:

* a Contact the flow's matcher found (``plan.targets[i]``, a Contact Id) or that the change
  names (a field ``Id``) is **updated by Id**, its ``constituent_id`` written into the External
  ID field (a Contact already bound to another constituent id is not rebound: rejected);
* otherwise a change with a ``constituent_id`` is **upserted by the External ID field**
  (``RE_Constituent_ID__c``): Salesforce creates the Contact or updates the one holding it;
* otherwise (the change names no Contact) it is **created**, unless a Contact has its email:
  then that one is updated (several: rejected). That keeps a replayed batch from creating its
  Contacts twice.

Before writing, the batch's Contacts are read in one query per 100 keys and only the fields
that differ are sent: a change that differs in nothing is ``UNCHANGED`` and costs no write
(Salesforce would stamp a no-op update as a change, which the source would then read back).
Writes go through sObject Collections, up to 200 records a call, ``allOrNone`` off: each record
succeeds or fails alone, and a failure (``DUPLICATE_VALUE``, ``INVALID_EMAIL_ADDRESS``,
``REQUIRED_FIELD_MISSING``, a value too long...) is ``REJECTED`` with Salesforce's code, message
and fields.

The sink is **idempotent by key**: replaying a batch finds what the first try wrote (the same
upserts and updates, now ``UNCHANGED``), which is what makes it exactly-once with the engine's
protocol. Only a change with neither a constituent id nor an email can be created twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncframe.components import (
    BatchResult,
    ComponentContext,
    Outcome,
    PermanentError,
    Sink,
    TargetLookup,
    TargetRecord,
    TransientError,
    WritePlan,
)
from syncframe.records import Change, Operation
from syncframe_smartsync.salesforce_client import (
    COLLECTION_SIZE,
    SalesforceApiError,
    SalesforceClient,
    check_contact_access,
    client_for,
)
from syncframe_smartsync.salesforce_contacts import (
    ContactValues,
    contact_fields,
    full_record_id,
    select_fields,
)
from syncframe_smartsync.salesforce_models import SaveResult
from syncframe_smartsync.salesforce_soql import in_chunks, soql_condition, soql_in
from syncframe_smartsync.salesforce_source import ENTITY

__all__ = [
    "LOOKUP_FIELDS",
    "SalesforceContactLookup",
    "SalesforceContactSink",
    "SalesforceContactSinkOptions",
]

#: Fields the lookup finds Contacts by (vocabulary names; ``id`` is the Contact Id).
LOOKUP_FIELDS: Final = ("constituent_id", "email", "id")
#: Record-level errors that pass by themselves (another transaction held the row).
TRANSIENT_RECORD_ERRORS: Final = frozenset({"UNABLE_TO_LOCK_ROW"})
#: Errors of a delete that mean the Contact is already gone.
GONE_ERRORS: Final = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})
#: How a dry run names a Contact it would create, so later changes of the batch see it.
_PLANNED: Final = "planned:"

WriteKind = Literal["upsert", "update", "create", "delete"]


class SalesforceContactSinkOptions(BaseModel):
    """Options of the ``salesforce_contacts`` sink."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(
        ENTITY,
        description=(
            "The entity written records are recorded under in the loop-guard ledger and the "
            "identity map: what the salesforce_contacts source reports ('contact')."
        ),
    )
    create_missing: bool = Field(
        True, description="Create Contacts nothing found; false: reject those changes instead."
    )
    clear_blank_fields: bool = Field(
        False,
        description=(
            "An empty value in a change clears the Contact's field; by default it leaves what "
            "Salesforce holds."
        ),
    )
    cleaned_opts_out: bool = Field(
        False,
        description=(
            "email_status 'cleaned' (a bounced address) ticks Email Opt Out; by default it "
            "leaves it as it is (a bounce is not a consent decision)."
        ),
    )
    deletes: Literal["skip", "delete"] = Field(
        "skip",
        description=(
            "What a delete change does: skip (SKIPPED, the Contact stays) or delete (the "
            "Contact goes to the recycle bin)."
        ),
    )
    unknown_fields: Literal["ignore", "reject"] = Field(
        "ignore",
        description=(
            "Fields of a change that are neither vocabulary names nor Contact fields: ignore "
            "them, or reject the change (to catch a mistyped mapping)."
        ),
    )
    lookup_where: str | None = Field(
        None,
        description=(
            "A SOQL condition the Contacts found by lookups must also meet, e.g. "
            "\"MailingCountry = 'United Kingdom'\": the search restricted to a list."
        ),
    )

    @field_validator("lookup_where")
    @classmethod
    def _a_condition(cls, value: str | None) -> str | None:
        return soql_condition(value)


# ---- the batch -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """One change on its way, and what became of it."""

    index: int
    change: Change
    values: dict[str, Any]
    record_id: str | None
    external_id: str | None
    outcome: Outcome | None = None
    reason: str | None = None
    target: str | None = None

    def decide(
        self, outcome: Outcome, reason: str | None = None, target: str | None = None
    ) -> None:
        self.outcome, self.reason, self.target = outcome, reason, target


@dataclass(slots=True)
class _Write:
    """One record of a collection call."""

    item: _Item
    kind: WriteKind
    body: dict[str, Any]
    #: The outcome a dry run reports, and the Contact it would write (``None``: a new one).
    planned: Outcome
    record_id: str | None = None


class _Org:
    """The Contacts of the batch as Salesforce holds them (after the writes made so far), by
    Id, and by External ID value and by email (both without case, as Salesforce matches)."""

    def __init__(self, external_id_field: str) -> None:
        self.external_id_field = external_id_field
        self.by_id: dict[str, dict[str, Any]] = {}
        self._index: dict[str, dict[str, dict[str, None]]] = {external_id_field: {}, "Email": {}}

    def add(self, record: Mapping[str, Any]) -> None:
        self.written(str(record["Id"]), record)

    def holding(self, external_id: str) -> list[dict[str, Any]]:
        """The Contacts whose External ID field holds ``external_id``."""
        return self._holding(self.external_id_field, external_id)

    def with_email(self, email: str) -> list[dict[str, Any]]:
        """The Contacts whose email is ``email``."""
        return self._holding("Email", email)

    def written(self, record_id: str, values: Mapping[str, Any]) -> None:
        record = self.by_id.get(record_id)
        if record is not None:
            self._unindex(record_id, record)
        record = self.by_id.setdefault(record_id, {"Id": record_id})
        record.update(values)
        for name, index in self._index.items():
            held = record.get(name)
            if held not in (None, ""):
                index.setdefault(str(held).casefold(), {})[record_id] = None

    def gone(self, record_id: str) -> None:
        record = self.by_id.pop(record_id, None)
        if record is not None:
            self._unindex(record_id, record)

    def _holding(self, name: str, value: str) -> list[dict[str, Any]]:
        return [self.by_id[i] for i in self._index[name].get(value.casefold(), {})]

    def _unindex(self, record_id: str, record: Mapping[str, Any]) -> None:
        for name, index in self._index.items():
            held = record.get(name)
            if held not in (None, ""):
                index.get(str(held).casefold(), {}).pop(record_id, None)


def _keyless_email(item: _Item) -> str | None:
    """The email of a change that names no Contact (no Id, no constituent id): the one key
    left to tell a Contact it created before (a replayed batch) from a new one."""
    if item.record_id is not None or item.external_id is not None:
        return None
    if item.change.operation is Operation.DELETE:
        return None
    email = item.values.get("Email")
    return email if isinstance(email, str) and email else None


def _same(external_id_field: str, name: str, held: Any, wanted: Any) -> bool:
    if held == "":
        held = None
    if wanted == "":
        wanted = None
    if name == external_id_field and isinstance(held, str) and isinstance(wanted, str):
        return held.casefold() == wanted.casefold()  # External IDs match without case
    return bool(held == wanted)


class SalesforceContactSink(Sink[SalesforceContactSinkOptions]):
    """Updates, upserts and creates Salesforce Contacts, idempotent by Id and External ID."""

    Options: ClassVar[type[BaseModel]] = SalesforceContactSinkOptions
    system: ClassVar[str | None] = "salesforce"

    def __init__(self, context: ComponentContext, options: SalesforceContactSinkOptions) -> None:
        super().__init__(context, options)
        self.client: SalesforceClient = client_for(context)
        self.external_id_field = self.client.settings.external_id_field

    async def check(self) -> None:
        """Log in, find the External ID field on the Contact, and run a lookup's query once
        (LIMIT 1) when ``lookup_where`` restricts lookups."""
        await check_contact_access(self.client)
        if self.options.lookup_where is not None:
            try:
                await self.client.query(
                    f"SELECT Id FROM Contact WHERE ({self.options.lookup_where}) LIMIT 1"
                )
            except SalesforceApiError as exc:
                raise PermanentError(f"lookup_where is refused: {exc}") from None

    def lookup(self) -> TargetLookup:
        """Finds Contacts by constituent_id (the External ID field), email or id."""
        return SalesforceContactLookup(self.client, where=self.options.lookup_where)

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        items = [self._prepare(i, change, plan) for i, change in enumerate(changes)]
        open_items = [item for item in items if item.outcome is None]
        org = await self._read_org(open_items)
        writer = _BatchWriter(self, org, plan.dry_run)
        for item in open_items:
            await writer.take(item)
        await writer.flush()

        result = BatchResult([item.outcome or Outcome.FAILED for item in items])
        for item in items:
            if item.reason is not None:
                result.reasons[item.index] = item.reason
            if item.target is not None and not item.target.startswith(_PLANNED):
                result.target_keys[item.index] = item.target
        return result

    # ---- per change ----------------------------------------------------------------------
    def _prepare(self, index: int, change: Change, plan: WritePlan) -> _Item:
        """What the change asks for, or its outcome already (one that cannot be sent)."""
        target = plan.targets[index] if plan.targets is not None else None
        given_id = change.fields.get("Id")
        raw_id = target or (str(given_id) if given_id not in (None, "") else None)
        record_id = full_record_id(raw_id) if raw_id is not None else None
        fields = change.fields
        raw_external = fields.get("constituent_id", fields.get(self.external_id_field))
        external_id = None if raw_external in (None, "") else str(raw_external).strip() or None
        item = _Item(index, change, {}, record_id, external_id)
        if raw_id is not None and record_id is None:
            item.decide(Outcome.REJECTED, f"{change.describe()}: {raw_id!r} is not a Contact Id")
            return item
        if change.operation is Operation.DELETE:
            if self.options.deletes == "skip":
                item.decide(
                    Outcome.SKIPPED,
                    f"{change.describe()}: deletes are not applied (sink option deletes = 'skip')",
                )
            elif record_id is None and external_id is None:
                item.decide(
                    Outcome.SKIPPED,
                    f"{change.describe()}: no Contact Id or constituent_id to find the Contact "
                    "to delete by",
                )
            return item
        try:
            wanted = ContactValues.of(
                change.fields,
                external_id_field=self.external_id_field,
                clear_blank_fields=self.options.clear_blank_fields,
                cleaned_opts_out=self.options.cleaned_opts_out,
            )
        except ValueError as exc:
            item.decide(Outcome.REJECTED, f"{change.describe()}: {exc}")
            return item
        if wanted.ignored and self.options.unknown_fields == "reject":
            item.decide(
                Outcome.REJECTED,
                f"{change.describe()}: no Contact field for {', '.join(sorted(wanted.ignored))} "
                "(sink option unknown_fields = 'reject')",
            )
            return item
        item.values = wanted.values
        return item

    async def _read_org(self, items: Sequence[_Item]) -> _Org:
        """The Contacts the batch names, by Id and by External ID, as Salesforce holds them."""
        org = _Org(self.external_id_field)
        ids = list(dict.fromkeys(item.record_id for item in items if item.record_id))
        externals = list(dict.fromkeys(item.external_id for item in items if item.external_id))
        emails = list(dict.fromkeys(e for e in (_keyless_email(item) for item in items) if e))
        fields = ", ".join(select_fields(self.external_id_field))
        searches = (("Id", ids), (self.external_id_field, externals), ("Email", emails))
        for name, values in searches:
            for chunk in in_chunks(values):
                soql = f"SELECT {fields} FROM Contact WHERE {soql_in(name, chunk)}"
                for record in await self.client.query_all(soql):
                    org.add(record)
        return org


class _BatchWriter:
    """Decides each change against the org and sends the writes in sObject Collections calls.

    Writes are gathered in a group and sent together; a change that touches a Contact the
    group already writes sends the group first, so one Contact's changes apply in order and
    each is compared with what the one before it left.
    """

    def __init__(self, sink: SalesforceContactSink, org: _Org, dry_run: bool) -> None:
        self.sink = sink
        self.client = sink.client
        self.options = sink.options
        self.external_id_field = sink.external_id_field
        self.org = org
        self.dry_run = dry_run
        self.group: list[_Write] = []
        self.touched: set[str] = set()
        #: Whether a Contact was created without any key (no constituent id, no email) in this
        #: batch: a retry of the batch would create it again, so record-level transient errors
        #: are rejections from then on.
        self.created_without_key = False

    def _keys_of(self, item: _Item) -> set[str]:
        keys: set[str] = set()
        if item.record_id is not None:
            keys.add(f"id:{item.record_id}")
        if item.external_id is not None:
            keys.add(f"ext:{item.external_id.casefold()}")
            keys.update(f"id:{r['Id']}" for r in self.org.holding(item.external_id))
        email = _keyless_email(item)
        if email is not None:
            keys.add(f"email:{email.casefold()}")
            keys.update(f"id:{r['Id']}" for r in self.org.with_email(email))
        return keys

    async def take(self, item: _Item) -> None:
        keys = self._keys_of(item)
        if keys & self.touched:
            await self.flush()
            keys = self._keys_of(item)
        write = self._decide(item)
        if write is not None:
            self.group.append(write)
            self.touched |= keys

    # ---- deciding --------------------------------------------------------------------------
    def _decide(self, item: _Item) -> _Write | None:
        if item.change.operation is Operation.DELETE:
            return self._delete(item)
        describe = item.change.describe()
        if item.record_id is not None:
            current = self._by_id(item.record_id)
            if current is not None:
                return self._update(item, current)
            if item.external_id is None:
                item.decide(
                    Outcome.REJECTED,
                    f"{describe}: Contact {item.record_id} does not exist (deleted or merged "
                    "since it was matched?)",
                )
                return None
            # The matched Contact is gone: the constituent id decides, as without a match.
        if item.external_id is not None:
            holders = self.org.holding(item.external_id)
            if len(holders) > 1:
                ids = ", ".join(sorted(str(r["Id"]) for r in holders))
                item.decide(
                    Outcome.REJECTED,
                    f"{describe}: {len(holders)} Contacts hold {self.external_id_field} "
                    f"{item.external_id} ({ids}): refusing to guess",
                )
                return None
            if holders:
                return self._upsert(item, holders[0])
        email = _keyless_email(item)
        if email is not None:
            # A change naming no Contact is created unless one has its email: the Contact an
            # interrupted try of this batch created, or one made since the matcher looked.
            same_email = self.org.with_email(email)
            if len(same_email) > 1:
                item.decide(
                    Outcome.REJECTED,
                    f"{describe}: no Id or constituent_id, and {len(same_email)} Contacts have "
                    f"email {email}: refusing to guess",
                )
                return None
            if same_email:
                return self._update(item, same_email[0])
        if not self.options.create_missing:
            found = (
                f"no Contact holds {self.external_id_field} {item.external_id}"
                if item.external_id is not None
                else "no Contact was found"
            )
            item.decide(Outcome.REJECTED, f"{describe}: {found} and create_missing is off")
            return None
        values = {k: v for k, v in item.values.items() if v is not None}
        if item.external_id is not None:
            values[self.external_id_field] = item.external_id
            return _Write(item, "upsert", values, Outcome.CREATED)
        return _Write(item, "create", values, Outcome.CREATED)

    def _by_id(self, record_id: str) -> dict[str, Any] | None:
        return self.org.by_id.get(record_id)

    def _diff(self, item: _Item, current: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: value
            for name, value in item.values.items()
            if not _same(self.external_id_field, name, current.get(name), value)
        }

    def _update(self, item: _Item, current: dict[str, Any]) -> _Write | None:
        record_id = str(current["Id"])
        held = current.get(self.external_id_field)
        if (
            item.external_id is not None
            and held not in (None, "")
            and str(held).casefold() != item.external_id.casefold()
        ):
            item.decide(
                Outcome.REJECTED,
                f"{item.change.describe()}: the matched Contact {record_id} holds "
                f"{self.external_id_field} {held}, not {item.external_id}: refusing to rebind "
                "it to another constituent (merge the records, or clear the field in "
                "Salesforce, then retry)",
            )
            return None
        diff = self._diff(item, current)
        if not diff:
            item.decide(Outcome.UNCHANGED, target=record_id)
            return None
        return _Write(item, "update", {"Id": record_id, **diff}, Outcome.UPDATED, record_id)

    def _upsert(self, item: _Item, current: dict[str, Any]) -> _Write | None:
        diff = self._diff(item, current)
        diff.pop(self.external_id_field, None)
        if not diff:
            item.decide(Outcome.UNCHANGED, target=str(current["Id"]))
            return None
        assert item.external_id is not None
        body = {self.external_id_field: item.external_id, **diff}
        return _Write(item, "upsert", body, Outcome.UPDATED, str(current["Id"]))

    def _delete(self, item: _Item) -> _Write | None:
        describe = item.change.describe()
        current = self._by_id(item.record_id) if item.record_id is not None else None
        if current is None and item.external_id is not None:
            holders = self.org.holding(item.external_id)
            if len(holders) > 1:
                item.decide(
                    Outcome.REJECTED,
                    f"{describe}: {len(holders)} Contacts hold {self.external_id_field} "
                    f"{item.external_id}: refusing to guess which to delete",
                )
                return None
            current = holders[0] if holders else None
        if current is None:
            item.decide(Outcome.UNCHANGED, f"{describe}: no such Contact (already deleted)")
            return None
        record_id = str(current["Id"])
        return _Write(item, "delete", {"Id": record_id}, Outcome.DELETED, record_id)

    # ---- sending ---------------------------------------------------------------------------
    async def flush(self) -> None:
        group, self.group, self.touched = self.group, [], set()
        if not group:
            return
        if self.dry_run:
            for write in group:
                record_id = write.record_id
                if write.kind == "delete" and record_id is not None:
                    self.org.gone(record_id)
                elif write.kind != "delete":
                    # A Contact to be created gets a stand-in id, so a later change of the
                    # batch is compared with what this one would have written.
                    record_id = record_id or f"{_PLANNED}{write.item.index}"
                    self.org.written(record_id, write.body)
                planned = None if record_id is None or record_id.startswith(_PLANNED) else record_id
                write.item.decide(write.planned, target=planned)
            return
        # Creates go last: a record-level transient error in an earlier call can still be
        # raised (the engine retries the batch) before anything was created without a key.
        for kind in ("upsert", "update", "delete", "create"):
            writes = [w for w in group if w.kind == kind]
            for start in range(0, len(writes), COLLECTION_SIZE):
                chunk = writes[start : start + COLLECTION_SIZE]
                results = await self._send(kind, chunk)
                self._record(kind, chunk, results)

    async def _send(self, kind: str, writes: Sequence[_Write]) -> list[SaveResult]:
        bodies = [write.body for write in writes]
        if kind == "upsert":
            return await self.client.upsert_contacts(self.external_id_field, bodies)
        if kind == "update":
            return await self.client.update_contacts(bodies)
        if kind == "delete":
            return await self.client.delete_contacts([str(body["Id"]) for body in bodies])
        return await self.client.create_contacts(bodies)

    def _record(self, kind: str, writes: Sequence[_Write], results: Sequence[SaveResult]) -> None:
        retry: list[str] = []
        for write, result in zip(writes, results, strict=True):
            item = write.item
            if result.success:
                record_id = result.id or str(write.body.get("Id") or "")
                if kind == "delete":
                    item.decide(Outcome.DELETED, target=record_id)
                    self.org.gone(record_id)
                    continue
                created = kind == "create" or result.created is True
                item.decide(Outcome.CREATED if created else Outcome.UPDATED, target=record_id)
                self.org.written(record_id, write.body)
                if kind == "create" and not write.body.get("Email"):
                    self.created_without_key = True
                continue
            codes = {error.status_code for error in result.errors}
            if kind == "delete" and codes and codes <= GONE_ERRORS:
                target = str(write.body["Id"])
                item.decide(Outcome.UNCHANGED, f"{item.change.describe()}: already deleted", target)
                continue
            if codes & TRANSIENT_RECORD_ERRORS and not self.created_without_key:
                retry.append(f"{item.change.describe()}: {result.describe_errors()}")
            item.decide(Outcome.REJECTED, f"{item.change.describe()}: {result.describe_errors()}")
        if retry:
            # Every write of the batch is keyed (nothing was created without a key), so the
            # engine's retry of the whole batch repeats them harmlessly.
            raise TransientError(f"Salesforce could not save {len(retry)} Contacts now: {retry[0]}")


# ---- the lookup ------------------------------------------------------------------------------


class SalesforceContactLookup(TargetLookup):
    """Finds Contacts for matchers: by ``constituent_id`` (the External ID field), ``email``
    (SOQL, which compares text without case) or ``id``; optionally only among the Contacts
    meeting a SOQL condition."""

    def __init__(self, client: SalesforceClient, *, where: str | None = None) -> None:
        self.client = client
        self.where = soql_condition(where)
        self.external_id_field = client.settings.external_id_field

    def _salesforce_field(self, field_name: str) -> str:
        names = {"constituent_id": self.external_id_field, "email": "Email", "id": "Id"}
        if field_name not in names:
            raise PermanentError(
                f"Salesforce Contacts cannot be looked up by {field_name!r}; they can by "
                f"{', '.join(LOOKUP_FIELDS)}"
            )
        return names[field_name]

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        sf_field = self._salesforce_field(field)
        asked = list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))
        if field == "id":
            # Ids are compared in their 18-character form; what is no id has no Contact.
            full = {value: full_record_id(value) for value in asked}
            wanted = list(dict.fromkeys(i for i in full.values() if i is not None))
        else:
            wanted = asked
        found: dict[str, list[TargetRecord]] = {}
        fields = ", ".join(select_fields(self.external_id_field))
        restrict = f" AND ({self.where})" if self.where else ""
        for chunk in in_chunks(wanted):
            soql = f"SELECT {fields} FROM Contact WHERE {soql_in(sf_field, chunk)}{restrict}"
            try:
                records = await self.client.query_all(soql)
            except SalesforceApiError as exc:
                raise PermanentError(f"looking Contacts up by {field}: {exc}") from None
            for record in records:
                for value in self._asked_for(field, record.get(sf_field), asked):
                    found.setdefault(value, []).append(self._target(record))
        return found

    @staticmethod
    def _asked_for(field_name: str, held: Any, asked: Iterable[str]) -> list[str]:
        """The asked values a found record answers (SOQL matched them without case)."""
        if held in (None, ""):
            return []
        text = str(held)
        if field_name == "id":
            return [v for v in asked if full_record_id(v) == text]
        return [v for v in asked if v.casefold() == text.casefold()]

    def _target(self, record: Mapping[str, Any]) -> TargetRecord:
        fields = contact_fields(record, self.external_id_field)
        fields["id"] = str(record["Id"])
        return TargetRecord(str(record["Id"]), fields)
