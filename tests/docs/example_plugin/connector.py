"""The PledgeBox components: a source of changed pledges, a sink that saves them, a converter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from syncframe import (
    BatchResult,
    Change,
    ComponentContext,
    Operation,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    TargetLookup,
    TargetRecord,
    WritePlan,
)
from syncframe.components import JSONValue

from .client import InvalidPledge, PledgeBoxClient
from .models import Pledge, PledgeBoxSettings, PledgeCursor, PledgeWrite

#: The pledge fields PledgeBox can search by (what matchers may look up).
SEARCHABLE = ("external_ref", "donor_email")


def client_for(context: ComponentContext) -> PledgeBoxClient:
    """A PledgeBox client on the engine's HTTP client for the component's connection."""
    settings = context.connection
    if not isinstance(settings, PledgeBoxSettings):
        raise PermanentError(f"connection {context.connection_name!r} is not a PledgeBox one")
    return PledgeBoxClient(context.http(), settings)


# --------------------------------------------------------------------------------------------
# Source


class PledgeSourceOptions(BaseModel):
    """Options of the ``pledgebox`` source."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(
        None, description="On the first run, read pledges changed after this time (default: all)."
    )


class PledgeSource(Source[PledgeSourceOptions]):
    """Pledges changed in PledgeBox since the last run, oldest change first."""

    Options = PledgeSourceOptions
    system = "pledgebox"
    entity = "pledge"

    def __init__(self, context: ComponentContext, options: PledgeSourceOptions) -> None:
        super().__init__(context, options)
        self.client = client_for(context)

    async def check(self) -> None:
        await self.client.ping()

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        # Keyset paging on (updated_at, id): pledges changed in the same instant are neither
        # skipped nor read twice, however the pages fall.
        position = (
            PledgeCursor.model_validate(cursor)
            if cursor is not None
            else PledgeCursor(updated_since=self.options.since)
        )
        while True:
            page = await self.client.changed_since(
                position.updated_since, position.after_id, batch_size
            )
            if not page.data:
                return
            last = page.data[-1]
            position = PledgeCursor(updated_since=last.updated_at, after_id=last.id)
            changes = [self._change(pledge) for pledge in page.data]
            yield SourceBatch(changes, position.model_dump(mode="json"))
            if not page.has_more:
                return

    def _change(self, pledge: Pledge) -> Change:
        created = pledge.created_at == pledge.updated_at
        return Change(
            # The connection's name, so the engine's ledger and identity map (which name the
            # connection written to) recognise this record when a flow reads it back.
            system=self.context.connection_name,
            entity=self.entity,
            keys={"id": pledge.id},
            operation=Operation.INSERT if created else Operation.UPDATE,
            fields=pledge.fields(),
            occurred_at=pledge.updated_at,
        )


# --------------------------------------------------------------------------------------------
# Sink


class PledgeSinkOptions(BaseModel):
    """Options of the ``pledgebox`` sink."""

    model_config = ConfigDict(extra="forbid")

    create_missing: bool = Field(
        True, description="Create pledges no matcher found; false: reject them instead."
    )


class PledgeSink(Sink[PledgeSinkOptions]):
    """Creates and updates pledges in PledgeBox, idempotent by external reference."""

    Options = PledgeSinkOptions
    system = "pledgebox"

    def __init__(self, context: ComponentContext, options: PledgeSinkOptions) -> None:
        super().__init__(context, options)
        self.client = client_for(context)

    async def check(self) -> None:
        await self.client.ping()

    def lookup(self) -> TargetLookup:
        return PledgeLookup(self.client)

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = BatchResult([])
        for i, change in enumerate(changes):
            target = plan.targets[i] if plan.targets is not None else None
            try:
                outcome, pledge_id, reason = await self._apply(change, target, plan.dry_run)
            except InvalidPledge as exc:
                # PledgeBox refused this record's data: reject it, keep writing the others.
                outcome, pledge_id, reason = Outcome.REJECTED, None, f"{change.describe()}: {exc}"
            result.outcomes.append(outcome)
            if pledge_id is not None:
                result.target_keys[i] = pledge_id
            if reason is not None:
                result.reasons[i] = reason
        return result

    async def _apply(
        self, change: Change, target: str | None, dry_run: bool
    ) -> tuple[Outcome, str | None, str | None]:
        """Apply one change: its outcome, the pledge's id in PledgeBox, and why (if not clear)."""
        if change.operation is Operation.DELETE:
            if target is None:
                return Outcome.SKIPPED, None, "no PledgeBox pledge to delete"
            if dry_run:
                return Outcome.DELETED, target, None
            gone = await self.client.delete(target)
            return (Outcome.DELETED if gone else Outcome.UNCHANGED), target, None
        try:
            pledge = PledgeWrite.model_validate(change.fields)
        except ValidationError as exc:
            return Outcome.REJECTED, None, f"{change.describe()}: {_describe(exc)}"
        if target is None and not self.options.create_missing:
            return Outcome.REJECTED, None, "no pledge matches it and create_missing is off"
        if target is None and not pledge.external_ref:
            # Without an external reference a retried create could make a second pledge.
            return Outcome.REJECTED, None, f"{change.describe()}: external_ref is needed to create"
        if dry_run:
            return (Outcome.CREATED if target is None else Outcome.UPDATED), target, None
        if target is not None:
            saved = await self.client.update(target, pledge)
        else:
            saved = await self.client.upsert_by_ref(str(pledge.external_ref), pledge)
        if saved.created:
            return Outcome.CREATED, saved.data.id, None
        return (Outcome.UPDATED if saved.modified else Outcome.UNCHANGED), saved.data.id, None


class PledgeLookup(TargetLookup):
    """Finds pledges by external reference or donor email, for matchers."""

    def __init__(self, client: PledgeBoxClient) -> None:
        self.client = client

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        if field not in SEARCHABLE:
            raise PermanentError(
                f"PledgeBox cannot find pledges by {field!r}; it can by {', '.join(SEARCHABLE)}"
            )
        found: dict[str, list[TargetRecord]] = {}
        for pledge in await self.client.search(field, values):
            value = getattr(pledge, field)
            found.setdefault(str(value), []).append(TargetRecord(pledge.id, pledge.fields()))
        return found


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"field {'.'.join(str(part) for part in error['loc'])!r}: {error['msg']}"
        for error in exc.errors()
    )


# --------------------------------------------------------------------------------------------
# Converter


def cents(value: Any) -> int:
    """An amount in currency units (``"25.00"``, ``"1,250.50"``) as whole cents (2500, 125050)."""
    try:
        amount = Decimal(str(value).replace(",", "").strip()) * 100
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if amount != amount.to_integral_value():
        raise ValueError(f"{value!r} has a fraction of a cent")
    return int(amount)
