"""Constituents written into Luminate Online through the web services (sink
``luminate_constituents``), and a lookup for matchers.

Constituents are the only records the web services accept uploads of: transactions are
download-only (seed 003), so any other record type is refused when the flow file is validated,
not in the middle of a run.

The sink is idempotent by key, which is what makes it exactly-once with the engine's protocol:
a record with a ConsId (from a matcher or from the change) is an Update of that constituent;
one without is a Create, and a Create the service answers ``MATCH_EXISTING`` (its MemberId
exists: we created it before a crash, say) becomes an Update by that MemberId. Records with a
MemberId therefore land once however often a batch is replayed. A record the service refuses is
``REJECTED`` with the service's code and message; the records around it are written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

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
from syncframe_luminate.errors import InvalidRecord
from syncframe_luminate.settings import LuminateSettings
from syncframe_luminate.types import (
    ASSOCIATED_TYPES,
    CONSTITUENT,
    MAX_WRITE_RECORDS,
    TRANSACTION_TYPES,
)

if TYPE_CHECKING:
    # The client (zeep, lxml) is imported when a sink is built, not when the plugin loads:
    # every `syncframe` command loads the plugins.
    from syncframe_luminate.client import LuminateClient, RecordResult

__all__ = ["ConstituentLookup", "ConstituentSink", "ConstituentSinkOptions", "client_for"]

#: The fields a constituent can be found by (Find on Constituent takes only these).
LOOKUP_FIELDS: Final = ("ConsId", "MemberId", "PrimaryEmail")
#: Ids by which Update and Delete match a record, in the service's order of precedence.
MATCH_FIELDS: Final = LOOKUP_FIELDS


def client_for(context: ComponentContext) -> LuminateClient:
    """A web-services client on the engine's HTTP client for the component's connection."""
    from syncframe_luminate.client import LuminateClient

    settings = context.connection
    if not isinstance(settings, LuminateSettings):
        raise PermanentError(f"connection {context.connection_name!r} is not a Luminate Online one")
    return LuminateClient(settings, context.http())


class ConstituentSinkOptions(BaseModel):
    """Options of the ``luminate_constituents`` sink."""

    model_config = ConfigDict(extra="forbid")

    record_type: str = Field(
        CONSTITUENT,
        description="The record type written: Constituent, the only one the web services accept.",
    )

    @field_validator("record_type")
    @classmethod
    def _only_constituents(cls, value: str) -> str:
        if value == CONSTITUENT:
            return value
        if value in TRANSACTION_TYPES:
            raise ValueError(
                "Luminate Online does not accept uploads of transaction data: "
                f"{value} is download-only (web services can create, update and delete "
                "Constituent records only)"
            )
        if value in ASSOCIATED_TYPES or value == "Partition":
            raise ValueError(
                f"{value} is read-only in Luminate Online (it can only be read with Query or "
                "Find); web services can create, update and delete Constituent records only"
            )
        raise ValueError(
            f"{value!r} is not a Luminate Online record type web services can write; "
            "only Constituent records can be created, updated and deleted"
        )


@dataclass(slots=True)
class _Pending:
    """One change on its way: what to send, and what became of it."""

    index: int
    change: Change
    record: dict[str, Any]
    cons_id: int | None
    outcome: Outcome | None = None
    reason: str | None = None
    target: int | None = None


def _as_cons_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _reason(result: RecordResult) -> str:
    return f"{result.code}: {result.message}" if result.message else result.code


class ConstituentSink(Sink[ConstituentSinkOptions]):
    """Creates, updates and deletes Luminate Online constituents, idempotent by ConsId/MemberId."""

    Options = ConstituentSinkOptions
    system = "luminate"

    def __init__(self, context: ComponentContext, options: ConstituentSinkOptions) -> None:
        super().__init__(context, options)
        self.client = client_for(context)

    async def check(self) -> None:
        """Log in and read the server's time: the address, the WSDL and the API user work."""
        await self.client.login()
        await self.client.server_time()

    def lookup(self) -> TargetLookup:
        """Finds constituents by ConsId, MemberId or PrimaryEmail (for matchers)."""
        return ConstituentLookup(self.client)

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        pending = [await self._prepare(i, change, plan) for i, change in enumerate(changes)]
        # Consecutive changes of one kind go together, in calls of at most 50, so a batch that
        # creates and then updates one constituent applies them in that order.
        run: list[_Pending] = []
        kind: str | None = None
        for item in pending:
            if item.outcome is not None:
                continue
            item_kind = self._kind(item)
            if run and item_kind != kind:
                await self._apply(kind, run, plan.dry_run)
                run = []
            kind = item_kind
            run.append(item)
        if run:
            await self._apply(kind, run, plan.dry_run)

        result = BatchResult([item.outcome or Outcome.FAILED for item in pending])
        for item in pending:
            if item.reason is not None:
                result.reasons[item.index] = item.reason
            if item.target is not None:
                result.target_keys[item.index] = str(item.target)
        return result

    # ---- per change ------------------------------------------------------------------------
    async def _prepare(self, index: int, change: Change, plan: WritePlan) -> _Pending:
        """What to send for one change, or its outcome already (a record we cannot send)."""
        target = plan.targets[index] if plan.targets is not None else None
        record = dict(change.fields)
        cons_id = (
            _as_cons_id(target)
            if target is not None
            else _as_cons_id(change.keys.get("ConsId", record.get("ConsId")))
        )
        if target is not None and cons_id is None:
            return _Pending(
                index,
                change,
                record,
                None,
                Outcome.REJECTED,
                f"{change.describe()}: the matched target {target!r} is not a ConsId",
            )
        if change.operation is Operation.DELETE:
            ids = {name: record[name] for name in MATCH_FIELDS if record.get(name) is not None}
            for name in MATCH_FIELDS:
                if name not in ids and change.keys.get(name) is not None:
                    ids[name] = change.keys[name]
            if cons_id is not None:
                ids["ConsId"] = cons_id
            if not ids:
                return _Pending(
                    index,
                    change,
                    record,
                    None,
                    Outcome.SKIPPED,
                    f"{change.describe()}: no ConsId, MemberId or PrimaryEmail to find the "
                    "constituent to delete by",
                )
            record = ids
        elif cons_id is not None:
            record["ConsId"] = cons_id
        else:
            record.pop("ConsId", None)
        try:
            await self.client.validate(record, change.describe())
        except InvalidRecord as exc:
            return _Pending(index, change, record, cons_id, Outcome.REJECTED, str(exc))
        return _Pending(index, change, record, cons_id)

    @staticmethod
    def _kind(item: _Pending) -> str:
        if item.change.operation is Operation.DELETE:
            return "Delete"
        return "Update" if item.cons_id is not None else "Create"

    # ---- calls -----------------------------------------------------------------------------
    async def _apply(self, kind: str | None, items: list[_Pending], dry_run: bool) -> None:
        if kind == "Create":
            await self._create(items, dry_run)
        elif kind == "Update":
            await self._update(items, dry_run)
        else:
            await self._delete(items, dry_run)

    async def _calls(
        self, operation: str, items: Sequence[_Pending], records: Sequence[dict[str, Any]]
    ) -> list[RecordResult]:
        send = {
            "Create": self.client.create,
            "Update": self.client.update,
            "Delete": self.client.delete,
        }[operation]
        results: list[RecordResult] = []
        for start in range(0, len(items), MAX_WRITE_RECORDS):
            results.extend(await send(records[start : start + MAX_WRITE_RECORDS]))
        return results

    async def _create(self, items: list[_Pending], dry_run: bool) -> None:
        if dry_run:
            for item in items:
                item.outcome = Outcome.CREATED
            return
        results = await self._calls("Create", items, [item.record for item in items])
        existing: list[_Pending] = []
        for item, result in zip(items, results, strict=True):
            if result.ok:
                item.outcome, item.target = Outcome.CREATED, result.cons_id
            elif result.code == "MATCH_EXISTING" and item.record.get("MemberId"):
                existing.append(item)  # created before (a replayed batch): update it instead
            else:
                item.outcome, item.reason = Outcome.REJECTED, _reason(result)
        if existing:
            by_member = [
                {k: v for k, v in item.record.items() if k != "ConsId"} for item in existing
            ]
            for item, result in zip(
                existing, await self._calls("Update", existing, by_member), strict=True
            ):
                if result.ok:
                    item.outcome, item.target = Outcome.UPDATED, result.cons_id
                else:
                    item.outcome, item.reason = Outcome.REJECTED, _reason(result)

    async def _update(self, items: list[_Pending], dry_run: bool) -> None:
        if dry_run:
            for item in items:
                item.outcome, item.target = Outcome.UPDATED, item.cons_id
            return
        results = await self._calls("Update", items, [item.record for item in items])
        missing: list[_Pending] = []
        for item, result in zip(items, results, strict=True):
            if result.ok:
                item.outcome, item.target = Outcome.UPDATED, result.cons_id
            elif result.code == "RECORD_NOT_FOUND" and (
                item.record.get("MemberId") or item.record.get("PrimaryEmail")
            ):
                missing.append(item)  # gone from Luminate: create it again from what we have
            else:
                item.outcome, item.reason = Outcome.REJECTED, _reason(result)
        if missing:
            for item in missing:
                item.record.pop("ConsId", None)
                item.cons_id = None
            await self._create(missing, dry_run=False)

    async def _delete(self, items: list[_Pending], dry_run: bool) -> None:
        if dry_run:
            for item in items:
                item.outcome, item.target = Outcome.DELETED, item.cons_id
            return
        results = await self._calls("Delete", items, [item.record for item in items])
        for item, result in zip(items, results, strict=True):
            if result.ok:
                item.outcome, item.target = Outcome.DELETED, result.cons_id
            elif result.code == "RECORD_NOT_FOUND":
                item.outcome, item.target = Outcome.UNCHANGED, item.cons_id  # already gone
            else:
                item.outcome, item.reason = Outcome.REJECTED, _reason(result)


class ConstituentLookup(TargetLookup):
    """Finds Luminate constituents by ConsId, MemberId or PrimaryEmail (one Find per value)."""

    def __init__(self, client: LuminateClient, *, concurrency: int = 4) -> None:
        self.client = client
        self._limit = anyio.CapacityLimiter(concurrency)

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        if field not in LOOKUP_FIELDS:
            raise PermanentError(
                f"Luminate Online cannot find constituents by {field!r}; it can by "
                f"{', '.join(LOOKUP_FIELDS)}"
            )
        fields = await self.client.fields(CONSTITUENT)
        found: dict[str, list[TargetRecord]] = {}

        async def one(value: str) -> None:
            criterion: Any = value
            if field == "ConsId":
                criterion = _as_cons_id(value)
                if criterion is None:
                    return  # not a ConsId: no constituent has it
            async with self._limit:
                records = await self.client.find(CONSTITUENT, {field: criterion}, fields)
            if records:
                found[value] = [_target(record) for record in records]

        async with anyio.create_task_group() as group:
            for value in dict.fromkeys(str(v) for v in values if v not in (None, "")):
                group.start_soon(one, value)
        return found


def _target(record: Mapping[str, Any]) -> TargetRecord:
    return TargetRecord(str(record["ConsId"]), dict(record))
