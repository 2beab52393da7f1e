"""Virtuous CRM+ contact changes applied to Legacy RaiseDonors donors (sink
``raisedonors_donors``), and the lookup the flow's ``key_cascade`` matcher uses.

**Matching** is the flow file's: a ``key_cascade`` over this sink's lookup, in the seed's order
"unique ids, then email, else create"::

    keys = [
      { source = "donor_id", target = "donor_id" },
      { source = "virtuous_contact_id", target = "virtuous_contact_id" },
      { source = "email", target = "email", normalize = "lower" },
    ]

The lookup finds donors by ``donor_id`` (``GET /api/Donor/{id}``), by ``virtuous_contact_id``
(RaiseDonors cannot search by it, so an index of every donor's Virtuous contact id is built from
the donor list the first time one is asked for in a run) and by ``email`` (``GET
/api/Donor/search``, keeping the donors whose email is equal, whatever the case; emails are unique
in RaiseDonors). A flow without matchers gets the same order from the sink itself: the change's
``donor_id``, else a create that resolves a duplicate email to the donor that has it.

**Writing** a matched donor reads it first and PATCHes only the fields that differ (phones
compared by their digits, since formats differ between the systems); nothing differs: nothing
is sent, the outcome is UNCHANGED and RaiseDonors logs no activity. A donor no matcher found is
created with ``POST /api/Donor``; if RaiseDonors answers 409 (the email exists: a rerun after a
crash, or two changes of one new contact in one batch) the donor that has the email is updated
instead. The sink is therefore idempotent by key: re-applying a batch changes nothing more and
adds no activity, which is how it meets the engine's exactly-once contract (``was_applied``
answers ``False``: replaying is always safe).

**Email**: an email change from Virtuous is never written to an existing donor (the seed: "for
security purposes"); the field is dropped from the update and a log line says "email change from
Virtuous ignored for donor N (security)". The email is used only to match and to create.

**Refused**: a change RaiseDonors could not hold (no email for a new donor; no last name, or no
organization name for an organization; a field the sink does not know) and any 4xx RaiseDonors
answers for one donor are REJECTED with the reason, naming the donor or field; the other changes
of the batch are written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
from syncframe_raisedonors_virtuous.raisedonors_activity import DONOR, SYSTEM, changed_fields
from syncframe_raisedonors_virtuous.raisedonors_client import (
    AuthenticationRefused,
    DuplicateEmail,
    RaiseDonorsClient,
    RaiseDonorsProblem,
    client_for,
)
from syncframe_raisedonors_virtuous.raisedonors_models import (
    ADDRESS_FIELDS,
    Donor,
    IntegrationSettings,
    donor_fields,
)

__all__ = [
    "LOOKUP_FIELDS",
    "DonorChangeFields",
    "DonorLookup",
    "DonorSink",
    "DonorSinkOptions",
]

log = logging.getLogger(__name__)

#: The fields the lookup finds donors by.
LOOKUP_FIELDS: Final = ("donor_id", "virtuous_contact_id", "email")
#: Change field -> RaiseDonors' name in a PATCH/POST body (the address goes in primaryAddress).
_BODY_NAMES: Final[dict[str, str]] = {
    "first_name": "firstName",
    "last_name": "lastName",
    "organization_name": "organizationName",
    "email": "email",
    "phone": "phone",
    "virtuous_contact_id": "virtuousContactId",
}
_ADDRESS_BODY_NAMES: Final[dict[str, str]] = {
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "country",
}
_NOT_DIGIT = re.compile(r"\D+")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _same_text(a: str | None, b: str | None) -> bool:
    # RaiseDonors and Virtuous write a missing value as null or "": the same here.
    return (a or "").strip() == (b or "").strip()


def _same_phone(a: str | None, b: str | None) -> bool:
    # "(555) 010-0199" in Virtuous is "555-010-0199" in RaiseDonors: the same number.
    return _NOT_DIGIT.sub("", a or "") == _NOT_DIGIT.sub("", b or "")


def _same_email(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


class DonorChangeFields(BaseModel):
    """The change fields the sink accepts (``raisedonors_models.DONOR_FIELDS``, and the
    ``reference_source`` of the Virtuous webhook's changes, ignored); a field left out is left as
    it is, an empty one clears it (names excepted: RaiseDonors requires them)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    donor_id: int | None = None
    virtuous_contact_id: str | None = None
    email: str | None = None
    is_organization: bool | None = None
    first_name: str | None = None
    last_name: str | None = None
    organization_name: str | None = None
    phone: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    # Accepted and never written: a Virtuous contact's ReferenceSource, which the flow's filter
    # has already tested (so a flow from the virtuous_webhook source needs no field mapping).
    reference_source: str | None = None

    @field_validator("donor_id", mode="before")
    @classmethod
    def _donor_id(cls, value: Any) -> Any:
        if _blank(value):
            return None
        if isinstance(value, str) and not value.strip().isdigit():
            raise ValueError(f"{value!r} is not a RaiseDonors donor id (a whole number)")
        return value

    @field_validator(
        "virtuous_contact_id",
        "email",
        "first_name",
        "last_name",
        "organization_name",
        "phone",
        *ADDRESS_FIELDS,
        "reference_source",
        mode="before",
    )
    @classmethod
    def _text(cls, value: Any) -> Any:
        # Ids and postal codes may arrive as numbers; "" is no value.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return None if _blank(value) else value


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        field = ".".join(str(p) for p in error["loc"]) or "fields"
        if error["type"] == "extra_forbidden":
            parts.append(
                f"field {field!r} is not a RaiseDonors donor field (it takes "
                f"{', '.join(DonorChangeFields.model_fields)})"
            )
        else:
            parts.append(f"field {field!r}: {error['msg']}")
    return "; ".join(parts)


class DonorSinkOptions(BaseModel):
    """Options of the ``raisedonors_donors`` sink."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(
        DONOR,
        min_length=1,
        description="The entity written donors are recorded under (loop-guard ledger, identity "
        "map): the raisedonors_activity source's donor entity, so loop guards of the flow "
        "reading RaiseDonors back recognise the sync's own writes.",
    )
    create_missing: bool = Field(
        True, description="Create a donor when no matcher found one; false: reject the change."
    )
    concurrency: int = Field(
        4,
        ge=1,
        le=32,
        description="Donors written at once (changes of one donor are always applied in order).",
    )


@dataclass(slots=True)
class _Applied:
    """What became of one change."""

    outcome: Outcome
    donor_id: int | None = None
    reason: str | None = None


class DonorSink(Sink[DonorSinkOptions]):
    """Creates and updates Legacy RaiseDonors donors, idempotent by donor id and email; never
    writes an email to an existing donor."""

    Options: ClassVar[type[BaseModel]] = DonorSinkOptions
    system: ClassVar[str | None] = SYSTEM

    def __init__(self, context: ComponentContext, options: DonorSinkOptions) -> None:
        super().__init__(context, options)
        self.client: RaiseDonorsClient = client_for(context)
        #: Virtuous contact id -> donor ids, built from the donor list when first needed.
        self._by_contact: dict[str, set[int]] | None = None
        #: Donors the lookup just read, reused by the write of the same batch.
        self._fresh: dict[int, Donor] = {}
        #: The integration settings, read once a run when first needed.
        self._settings: IntegrationSettings | None = None

    async def check(self) -> None:
        """Sign in and read a page of one donor: the address and the API client work."""
        await self.client.list_donors(0, 1)

    def lookup(self) -> TargetLookup:
        """Finds donors by donor_id, virtuous_contact_id or email (for matchers).

        The engine asks for one per batch, before matching it: donors read for an earlier
        batch (whose changes a matcher may have rejected) are forgotten here, so a write only
        reuses what was read for its own batch."""
        self._fresh.clear()
        return DonorLookup(self)

    async def was_applied(self, token: str) -> bool:
        """Always ``False``: RaiseDonors has nowhere to keep a batch token, and the sink does not
        need one. Writing a batch again only sends the fields that still differ (none, if it was
        applied) and a repeated create finds the donor by its email, so the engine replays the
        batch and nothing is written twice."""
        return False

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        results: list[_Applied | None] = [None] * len(changes)

        def lane(indexes: list[int]) -> Callable[[], Awaitable[None]]:
            async def apply_in_order() -> None:
                for i in indexes:
                    target = plan.targets[i] if plan.targets is not None else None
                    results[i] = await self._apply(changes[i], target, plan)

            return apply_in_order

        try:
            await _run_all(
                [lane(ix) for ix in self._lanes(changes, plan)], self.options.concurrency
            )
        finally:
            # Read for this batch only: a retried batch reads the donors again.
            self._fresh.clear()
        result = BatchResult([])
        for i, applied in enumerate(results):
            assert applied is not None
            result.outcomes.append(applied.outcome)
            if applied.reason is not None:
                result.reasons[i] = applied.reason
            if applied.donor_id is not None and applied.outcome is not Outcome.REJECTED:
                result.target_keys[i] = str(applied.donor_id)
        return result

    @staticmethod
    def _lanes(changes: Sequence[Change], plan: WritePlan) -> Iterable[list[int]]:
        """Changes that may touch the same donor, in batch order: one lane per matched donor,
        one per email of a donor to create; lanes run side by side."""
        lanes: dict[tuple[str, str], list[int]] = {}
        for i, change in enumerate(changes):
            target = plan.targets[i] if plan.targets is not None else None
            if target is None and plan.targets is None:
                target = _text_of(change.fields.get("donor_id"))
            email = _text_of(change.fields.get("email"))
            if target:
                key = ("donor", target)
            elif email:
                key = ("email", email.lower())
            else:
                key = ("change", str(i))
            lanes.setdefault(key, []).append(i)
        return lanes.values()

    # ---- one change ----------------------------------------------------------------------------
    async def _apply(self, change: Change, target: str | None, plan: WritePlan) -> _Applied:
        what = change.describe()
        if change.operation is Operation.DELETE:
            return _Applied(
                Outcome.SKIPPED,
                reason=f"{what}: a deleted contact is not deleted in RaiseDonors (the sync "
                "carries edits only)",
            )
        try:
            wanted = DonorChangeFields.model_validate(change.fields)
        except ValidationError as exc:
            return _Applied(Outcome.REJECTED, reason=f"{what}: {_describe(exc)}")
        donor_id: int | None
        if target is not None:
            if not target.strip().isdigit():
                return _Applied(
                    Outcome.REJECTED,
                    reason=f"{what}: the matched target {target!r} is not a donor id",
                )
            donor_id = int(target)
        else:
            # Matchers chose to create; without matchers the change's own donor id decides.
            donor_id = wanted.donor_id if plan.targets is None else None
        try:
            if donor_id is not None:
                return await self._update(
                    change, donor_id, wanted, plan.dry_run, matched=target is not None
                )
            return await self._create(change, wanted, plan.dry_run)
        except AuthenticationRefused:
            raise  # the connection's problem, not this donor's: fail the batch
        except RaiseDonorsProblem as exc:
            return _Applied(Outcome.REJECTED, donor_id, f"{what}: {exc}")

    async def _donor(self, donor_id: int) -> Donor | None:
        fresh = self._fresh.pop(donor_id, None)
        return fresh if fresh is not None else await self.client.donor(donor_id)

    async def _update(
        self,
        change: Change,
        donor_id: int,
        wanted: DonorChangeFields,
        dry_run: bool,
        *,
        matched: bool,
    ) -> _Applied:
        what = change.describe()
        current = await self._donor(donor_id)
        if current is None:
            return _Applied(
                Outcome.REJECTED,
                reason=f"{what}: donor {donor_id} does not exist in Legacy RaiseDonors"
                + (" (any more)" if matched else ""),
            )
        kept = await self._kept_fields(change, donor_id)
        if kept:
            # Left out, so left as the donor has it.
            wanted = DonorChangeFields.model_validate(
                {k: v for k, v in change.fields.items() if k not in kept}
            )
        plan = _update_plan(current, wanted)
        if plan.email_ignored:
            log.warning(
                "email change from Virtuous ignored for donor %d (security): %s keeps its "
                "RaiseDonors email",
                donor_id,
                what,
            )
        if plan.missing is not None:
            return _Applied(
                Outcome.REJECTED,
                donor_id,
                f"{what}: Legacy RaiseDonors requires {plan.missing}; the change would leave "
                f"donor {donor_id} without one",
            )
        body = plan.body
        if not body:
            return _Applied(Outcome.UNCHANGED, donor_id)
        if dry_run:
            return _Applied(Outcome.UPDATED, donor_id)
        updated = await self.client.update_donor(donor_id, body)
        self._learn(updated)
        return _Applied(Outcome.UPDATED, updated.id)

    async def _kept_fields(self, change: Change, donor_id: int) -> set[str]:
        """The fields of ``change`` not to write: those the other system did not change.

        A Virtuous webhook carries the whole contact, not what changed, so a field that differs
        from the donor may be one the donor changed since (an admin's edit waiting for the daily
        batch to Virtuous, or waiting in Virtuous's import tool). The last values seen from the
        other system for this donor (the loop-guard ledger: what syncframe last wrote here from
        it) tell which fields it really changed: a field with the same value as then is kept as
        the donor has it. Before anything was seen from the other system for this donor, the
        fields RaiseDonors' portals changed since contact sync was switched on are kept instead
        (RaiseDonors' edit is on its way to Virtuous); so are those a gift changed.
        """
        if change.origin is None or change.origin.system == SYSTEM:
            return set()
        entries = self.context.state.ledger_get(
            self.context.connection_name, self.options.entity, [str(donor_id)]
        )
        seen = entries.get(str(donor_id))
        if seen is not None and seen.source_system == change.system:
            kept = {
                name
                for name in _MERGED_FIELDS
                if name in change.fields
                and name in seen.values
                and _same_value(name, change.fields[name], seen.values[name])
            }
            return _whole_address(kept)
        if self._settings is None:
            self._settings = await self.client.integration_settings()
        since = self._settings.contact_sync_enabled_at
        edited: set[str] = set()
        for item in (await self.client.donor_activity(donor_id)).items:
            if item.channel in _PORTALS and (since is None or item.occurred_at >= since):
                edited.update(changed_fields(item.changes))
        kept = {name for name in edited if name in change.fields}
        if kept:
            log.info(
                "donor %d: %s changed in RaiseDonors and not yet seen in Virtuous: kept as the "
                "donor has it (%s)",
                donor_id,
                ", ".join(sorted(kept)),
                change.describe(),
            )
        return kept

    async def _create(self, change: Change, wanted: DonorChangeFields, dry_run: bool) -> _Applied:
        what = change.describe()
        if not self.options.create_missing:
            return _Applied(
                Outcome.REJECTED,
                reason=f"{what}: no donor matches it in Legacy RaiseDonors and create_missing "
                "is off",
            )
        if wanted.email is None:
            return _Applied(
                Outcome.REJECTED,
                reason=f"{what}: a new Legacy RaiseDonors donor needs an email (the email "
                "identifies a donor there), and the change has none",
            )
        organization = _is_organization(None, wanted)
        if organization and wanted.organization_name is None:
            return _Applied(
                Outcome.REJECTED,
                reason=f"{what}: a new Legacy RaiseDonors organization donor needs an "
                "organization name, and the change has none",
            )
        if not organization and wanted.last_name is None:
            return _Applied(
                Outcome.REJECTED,
                reason=f"{what}: a new Legacy RaiseDonors donor needs a last name, and the "
                "change has none",
            )
        if dry_run:
            return _Applied(Outcome.CREATED)
        try:
            created = await self.client.create_donor(_create_body(wanted, organization))
        except DuplicateEmail as exc:
            # The email is a donor's already: created before a crash, or by an earlier change
            # of this batch. That donor is the one; update it (its email stays as it is).
            existing = await self._by_email(wanted.email)
            if existing is None:
                return _Applied(Outcome.REJECTED, reason=f"{what}: {exc}")
            self._fresh[existing.id] = existing
            return await self._update(change, existing.id, wanted, dry_run, matched=False)
        self._learn(created)
        return _Applied(Outcome.CREATED, created.id)

    async def _by_email(self, email: str) -> Donor | None:
        found = [d for d in await self.client.search_donors(email) if _same_email(d.email, email)]
        return found[0] if found else None

    # ---- the Virtuous contact id index ---------------------------------------------------------
    async def donors_by_contact(self, contact_ids: Sequence[str]) -> dict[str, list[int]]:
        """The donors whose virtuousContactId is each of ``contact_ids``."""
        if self._by_contact is None:
            index: dict[str, set[int]] = {}
            take = self.client.page_size
            skip = 0
            while True:
                page = await self.client.list_donors(skip, take)
                for donor in page.items:
                    if donor.virtuous_contact_id:
                        index.setdefault(donor.virtuous_contact_id, set()).add(donor.id)
                if len(page.items) < take:
                    break
                skip += len(page.items)
            self._by_contact = index
        return {c: sorted(self._by_contact[c]) for c in contact_ids if self._by_contact.get(c)}

    def _learn(self, donor: Donor) -> None:
        """Keep the contact id index true to a donor just written."""
        if self._by_contact is None:
            return
        for donors in self._by_contact.values():
            donors.discard(donor.id)
        if donor.virtuous_contact_id:
            self._by_contact.setdefault(donor.virtuous_contact_id, set()).add(donor.id)

    def remember(self, donor: Donor) -> None:
        """A donor the lookup just read, for the write of the same batch."""
        self._fresh[donor.id] = donor


#: Fields a Virtuous change may leave as the donor has them (see ``DonorSink._kept_fields``).
_MERGED_FIELDS: Final[tuple[str, ...]] = (
    "first_name",
    "last_name",
    "organization_name",
    "phone",
    *ADDRESS_FIELDS,
)
# Edits RaiseDonors sends to Virtuous: the portals', and a gift's (its billing address and phone).
_PORTALS: Final = frozenset({"AdminPortal", "DonorPortal", "Gift"})


def _same_value(name: str, a: Any, b: Any) -> bool:
    if name == "phone":
        return _same_phone(_text_of(a), _text_of(b))
    return _same_text(_text_of(a), _text_of(b))


def _whole_address(kept: set[str]) -> set[str]:
    """An address moves as a whole: its fields are kept together or not at all."""
    if all(name in kept for name in ADDRESS_FIELDS):
        return kept
    return kept - set(ADDRESS_FIELDS)


def _text_of(value: Any) -> str | None:
    if _blank(value):
        return None
    return str(value).strip()


def _is_organization(current: Donor | None, wanted: DonorChangeFields) -> bool:
    """Whether the donor is (to be) an organization: as the change says, else as the donor is,
    else a new donor with an organization name and no last name."""
    if wanted.is_organization is not None:
        return wanted.is_organization
    if current is not None:
        return current.is_organization
    return wanted.organization_name is not None and wanted.last_name is None


@dataclass(slots=True)
class _UpdatePlan:
    """What an update sends: the fields that differ, whether an email change was dropped, and
    the required name it would leave missing (then nothing is sent)."""

    body: dict[str, Any]
    email_ignored: bool
    missing: str | None = None


def _update_plan(current: Donor, wanted: DonorChangeFields) -> _UpdatePlan:
    """The PATCH of ``wanted`` onto ``current``: only what differs.

    Names follow the seed: an individual's first and last name, an organization's name. In
    RaiseDonors a donor *is* an organization when it has an organization name, so a change that
    turns a contact into an individual clears it (and needs a last name) and one that turns it
    into an organization sets it.
    """
    given = wanted.model_fields_set
    body: dict[str, Any] = {}
    plan = _UpdatePlan(body, "email" in given and not _same_email(current.email, wanted.email))
    if _is_organization(current, wanted):
        name = wanted.organization_name if "organization_name" in given else None
        if name is None and ("organization_name" in given or not current.is_organization):
            plan.missing = "an organization name for an organization donor"
        elif name is not None and not _same_text(current.organization_name, name):
            body["organizationName"] = name
    else:
        if current.is_organization:
            body["organizationName"] = None  # no longer an organization
        last = wanted.last_name if "last_name" in given else current.last_name
        if last is None:
            plan.missing = "a last name"
        for name in ("first_name", "last_name"):
            value = getattr(wanted, name)
            if name in given and not _same_text(getattr(current, name), value):
                body[_BODY_NAMES[name]] = value
    if "phone" in given and not _same_phone(current.primary_phone, wanted.phone):
        body["phone"] = wanted.phone
    if (
        "virtuous_contact_id" in given
        and wanted.virtuous_contact_id is not None
        and not _same_text(current.virtuous_contact_id, wanted.virtuous_contact_id)
    ):
        body["virtuousContactId"] = wanted.virtuous_contact_id
    address = current.primary
    if any(
        name in given and not _same_text(getattr(address, name, None), getattr(wanted, name))
        for name in ADDRESS_FIELDS
    ):
        # primaryAddress replaces the primary address's fields: send them all, ours over theirs
        # (none left: the primary address is removed).
        merged = {
            _ADDRESS_BODY_NAMES[name]: getattr(wanted, name)
            if name in given
            else getattr(address, name, None)
            for name in ADDRESS_FIELDS
        }
        body["primaryAddress"] = merged if any(v is not None for v in merged.values()) else None
    return plan


def _create_body(wanted: DonorChangeFields, organization: bool) -> dict[str, Any]:
    """The POST body of a new donor: its name (an organization's, or a person's first and last)
    and every other field the change has."""
    names = ("organization_name",) if organization else ("first_name", "last_name")
    body: dict[str, Any] = {}
    for name, api_name in _BODY_NAMES.items():
        value = getattr(wanted, name)
        if value is not None and (name in names or not name.endswith("_name")):
            body[api_name] = value
    if any(getattr(wanted, name) is not None for name in ADDRESS_FIELDS):
        body["primaryAddress"] = {
            _ADDRESS_BODY_NAMES[name]: getattr(wanted, name) for name in ADDRESS_FIELDS
        }
    return body


class DonorLookup(TargetLookup):
    """Finds Legacy RaiseDonors donors by donor_id, virtuous_contact_id or email."""

    def __init__(self, sink: DonorSink, *, concurrency: int = 4) -> None:
        self.sink = sink
        self.client = sink.client
        self.concurrency = concurrency

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        asked = list(dict.fromkeys(v.strip() for v in map(str, values) if not _blank(v)))
        if field == "donor_id":
            return await self._by_id(asked)
        if field == "virtuous_contact_id":
            found = await self.sink.donors_by_contact(asked)
            return {
                contact: [
                    TargetRecord(str(d), {"donor_id": d, "virtuous_contact_id": contact})
                    for d in donors
                ]
                for contact, donors in found.items()
            }
        if field == "email":
            return await self._by_email(asked)
        raise PermanentError(
            f"Legacy RaiseDonors donors cannot be found by {field!r}; they can by "
            f"{', '.join(LOOKUP_FIELDS)}"
        )

    async def _by_id(self, asked: list[str]) -> dict[str, list[TargetRecord]]:
        found: dict[str, list[TargetRecord]] = {}

        def one(value: str) -> Callable[[], Awaitable[None]]:
            async def read() -> None:
                donor = await self.client.donor(int(value))
                if donor is not None:
                    self.sink.remember(donor)
                    found[value] = [_target(donor)]

            return read

        # A value that is not a whole number is no donor's id.
        await _run_all([one(v) for v in asked if v.isdigit()], self.concurrency)
        return found

    async def _by_email(self, asked: list[str]) -> dict[str, list[TargetRecord]]:
        # The matcher asks for the normalised and the original value: one search per email.
        by_lower: dict[str, list[str]] = {}
        for value in asked:
            by_lower.setdefault(value.lower(), []).append(value)
        found: dict[str, list[TargetRecord]] = {}

        def one(email: str) -> Callable[[], Awaitable[None]]:
            async def search() -> None:
                donors = await self.client.search_donors(email)
                hits = [_target(d) for d in donors if _same_email(d.email, email)]
                if hits:
                    for value in by_lower[email]:
                        found[value] = hits

            return search

        await _run_all([one(e) for e in by_lower], self.concurrency)
        return found


async def _run_all(calls: Sequence[Callable[[], Awaitable[None]]], limit: int) -> None:
    """Run ``calls`` side by side, at most ``limit`` at a time.

    The first failure (in call order) is raised as itself, not inside an ExceptionGroup, so the
    engine still sees a TransientError (or an httpx error) and retries; calls not yet started
    when one failed are not started.
    """
    if len(calls) <= 1:
        for call in calls:
            await call()
        return
    errors: dict[int, Exception] = {}
    limiter = anyio.CapacityLimiter(max(1, limit))

    async def run(index: int, call: Callable[[], Awaitable[None]]) -> None:
        async with limiter:
            if errors:
                return
            try:
                await call()
            except Exception as exc:
                errors[index] = exc

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    if errors:
        raise errors[min(errors)]


def _target(donor: Donor) -> TargetRecord:
    return TargetRecord(str(donor.id), donor_fields(donor))
