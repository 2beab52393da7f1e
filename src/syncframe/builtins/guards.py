"""Loop guards: stop a change that syncframe itself caused from flowing back where it came from.

Both read the engine's ledger (what syncframe last wrote to each record, and because of which
change) through the state store. Values are compared as text, and a missing value (``None``)
equals an empty one: many systems return "" for a field syncframe wrote as empty, and the other
way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from syncframe.components import GuardVerdict, LoopGuard
from syncframe.config.models import parse_duration
from syncframe.records import Change
from syncframe.state.base import LedgerEntry

__all__ = ["EchoGuard", "EchoOptions", "OneWayWindowGuard", "OneWayWindowOptions"]


def _same(a: Any, b: Any) -> bool:
    if a is None:
        a = ""
    if b is None:
        b = ""
    return a == b or str(a) == str(b)


def _ledger(guard: LoopGuard[Any], changes: Sequence[Change]) -> dict[int, LedgerEntry]:
    """The ledger entry of each change's record that has one (one query per system/entity)."""
    groups: dict[tuple[str, str], list[int]] = {}
    keys: list[str] = []
    for i, change in enumerate(changes):
        key = next(iter(change.keys.values()), None)
        keys.append("" if key is None else str(key))
        if keys[-1]:
            groups.setdefault((change.system, change.entity), []).append(i)
    found: dict[int, LedgerEntry] = {}
    for (system, entity), members in groups.items():
        entries = guard.context.state.ledger_get(
            system, entity, list(dict.fromkeys(keys[i] for i in members))
        )
        for i in members:
            entry = entries.get(keys[i])
            if entry is not None:
                found[i] = entry
    return found


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EchoOptions(_Strict):
    """Options of the ``echo`` loop guard."""

    compare: Literal["written_fields", "all_fields"] = Field(
        "written_fields",
        description="written_fields: the change is an echo when every field syncframe wrote "
        "still has the written value (other fields are ignored); all_fields: every field of the "
        "change must be one syncframe wrote, with the written value.",
    )


class EchoGuard(LoopGuard[EchoOptions]):
    """Blocks a change that only reports back what syncframe itself wrote to the record.

    The ledger entry of the change's record holds the values syncframe last wrote there. With
    ``compare = "written_fields"`` the change is an echo when it carries at least one of those
    fields and each one it carries still has the written value; fields syncframe did not write
    are ignored. With ``"all_fields"`` every field of the change must be in the entry with the
    written value. A change whose origin names a syncframe flow (the source could tell) is an
    echo too. A change that differs from what was written is a real edit and flows.
    """

    Options: ClassVar[type[BaseModel]] = EchoOptions

    async def screen(self, changes: Sequence[Change]) -> list[GuardVerdict | None]:
        verdicts: list[GuardVerdict | None] = [None] * len(changes)
        for i, change in enumerate(changes):
            origin = change.origin
            if origin is not None and origin.flow is not None:
                verdicts[i] = GuardVerdict(
                    f"echo of syncframe's own write by flow {origin.flow} "
                    f"(the source marks {change.describe()} as written by syncframe)"
                )
        all_fields = self.options.compare == "all_fields"
        for i, entry in _ledger(self, changes).items():
            if verdicts[i] is not None:
                continue
            fields = changes[i].fields
            written = entry.values
            if all_fields:
                echo = bool(fields) and all(
                    name in written and _same(value, written[name])
                    for name, value in fields.items()
                )
            else:
                shared = [name for name in written if name in fields]
                echo = bool(shared) and all(_same(fields[n], written[n]) for n in shared)
            if echo:
                verdicts[i] = GuardVerdict(
                    f"echo of syncframe's own write by flow {entry.flow} at "
                    f"{_when(entry.written_at)}"
                )
        return verdicts


class OneWayWindowOptions(_Strict):
    """Options of the ``one_way_window`` loop guard."""

    window: timedelta = Field(
        timedelta(hours=1),
        description="How long after a change in another system syncframe wrote into a record "
        "changes of that record do not flow back (e.g. '90s', '30m', '1h').",
    )
    scope: Literal["record", "system"] = Field(
        "record",
        description="record: hold back the records syncframe wrote; system: hold back every "
        "change of the system while any write from other_system is recent.",
    )
    other_system: str | None = Field(
        None,
        description="The system whose writes start the window: the flow's sink connection, "
        "the side changes would flow back to (required for scope system; for scope record, "
        "without it a write caused by any other system starts it).",
    )

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @model_validator(mode="after")
    def _other_for_system(self) -> OneWayWindowOptions:
        if self.scope == "system" and not self.other_system:
            raise ValueError("scope 'system' needs other_system: the system whose writes count")
        return self


class OneWayWindowGuard(LoopGuard[OneWayWindowOptions]):
    """Holds back changes of a record (or a system) for a while after syncframe wrote into it.

    When syncframe wrote into a record of system B because of a change in another system at T
    (the source change's time), changes of that record from B are blocked until T + ``window``;
    after that they flow again. Scope ``system`` blocks every change from B while the latest write
    into B caused by ``other_system`` is that recent. Time comes from the engine's clock.
    """

    Options: ClassVar[type[BaseModel]] = OneWayWindowOptions

    async def screen(self, changes: Sequence[Change]) -> list[GuardVerdict | None]:
        options = self.options
        now = self.context.clock.now()
        verdicts: list[GuardVerdict | None] = [None] * len(changes)
        if options.scope == "system":
            assert options.other_system is not None
            latest: dict[str, LedgerEntry | None] = {}
            for i, change in enumerate(changes):
                if change.system not in latest:
                    latest[change.system] = self.context.state.ledger_latest(
                        change.system, options.other_system
                    )
                entry = latest[change.system]
                if entry is not None and entry.source_system != change.system:
                    verdicts[i] = self._verdict(entry, now, f"{change.system}")
            return verdicts
        other = options.other_system
        for i, entry in _ledger(self, changes).items():
            change = changes[i]
            # Only a write caused by the other side holds the record back: a third system's
            # update flows on (other is None: any system but the record's own).
            if entry.source_system != change.system and other in (None, entry.source_system):
                verdicts[i] = self._verdict(
                    entry, now, f"{change.system}.{change.entity}[{entry.key}]"
                )
        return verdicts

    def _verdict(self, entry: LedgerEntry, now: datetime, what: str) -> GuardVerdict | None:
        written_from = entry.source_changed_at
        until = written_from + self.options.window
        if now >= until:
            return None
        return GuardVerdict(
            f"blocked by loop protection: {what} was written from {entry.source_system} at "
            f"{_when(written_from)}; changes flow back after {_when(until)}",
            allowed_after=until,
        )
