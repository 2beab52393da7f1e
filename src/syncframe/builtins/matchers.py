"""Matchers: which target record an incoming change is.

``key_cascade`` tries keys in order (id, then external id, then email...) against the target
and refuses to guess when a key is ambiguous; ``identity_map`` follows links syncframe recorded
when it wrote records earlier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncframe.components import (
    MatchAction,
    MatchDecision,
    Matcher,
    PermanentError,
    TargetLookup,
    TargetRecord,
)
from syncframe.records import Change

__all__ = ["IdentityMapMatcher", "KeyCascadeMatcher", "KeyCascadeOptions", "MatchKey"]

_NOT_DIGIT = re.compile(r"\D+")

Normalize = Literal["none", "lower", "strip", "digits"]

_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "none": lambda value: value,
    "strip": lambda value: value.strip(),
    "lower": lambda value: value.strip().lower(),
    "digits": lambda value: _NOT_DIGIT.sub("", value),
}


def _as_text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatchKey(_Strict):
    """One level of the cascade: a field of the incoming change and the target field it equals."""

    source: str = Field(
        description="Field of the incoming change, after mapping (the target-side name)."
    )
    target: str = Field(description="Field of the target record that must hold the same value.")
    normalize: Normalize = Field(
        "none",
        description="How both values are normalised before comparing: none, strip, lower "
        "(strip and lower-case) or digits (digits only).",
    )


class Disqualify(_Strict):
    """Target records that must never be matched, by the value of one of their fields."""

    field: str = Field(description="Field of the target record.")
    values: list[str] = Field(min_length=1, description="Values that disqualify the record.")


class KeyCascadeOptions(_Strict):
    """Options of the ``key_cascade`` matcher."""

    keys: list[MatchKey] = Field(
        min_length=1,
        description="The keys, tried in order; a field name alone means the same field on both "
        "sides, compared as is.",
    )
    disqualify: Disqualify | None = Field(
        None, description="Reject a change whose match has one of these values in a field."
    )
    on_match: Literal["match", "skip"] = Field(
        "match",
        description="What happens when a key finds one record: write to it, or skip the "
        "change (a create-only flow leaves existing records alone).",
    )
    on_no_match: Literal["create", "reject", "skip", "next"] = Field(
        "create",
        description="What happens when no key finds a record: create one, reject the change, "
        "skip it (an update-only flow), or leave it to the flow's next matcher.",
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _names_alone(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"source": k, "target": k} if isinstance(k, str) else k for k in value]
        return value


class KeyCascadeMatcher(Matcher[KeyCascadeOptions]):
    """Matches on the first key that finds exactly one target record; refuses to guess.

    For each key in order, the changes still undecided are looked up in one query: one record ->
    match; several -> reject (naming how many share the value); none, or no value in the change
    -> try the next key. When no key decides: create, or reject with ``on_no_match = "reject"``.
    A match whose ``disqualify`` field holds one of the listed values is rejected.

    ``normalize`` applies to the change's value before the lookup and to the found records'
    values when comparing. The lookup is asked for the normalised and the original value, so a
    target that stores values differently from both (e.g. "Alice@X.org" against "alice@x.org")
    is found only if the target's own search is tolerant (as most CRM searches are).
    """

    Options: ClassVar[type[BaseModel]] = KeyCascadeOptions

    def lookup_fields(self) -> Sequence[str]:
        return list(dict.fromkeys(rule.target for rule in self.options.keys))

    async def decide(
        self, changes: Sequence[Change], target: TargetLookup | None
    ) -> list[MatchDecision | None]:
        if target is None:
            raise PermanentError(
                "the key_cascade matcher needs a sink that can look records up, and this "
                "flow's sink cannot"
            )
        options = self.options
        decisions: list[MatchDecision | None] = [None] * len(changes)
        # What was tried per change, for the explanation when nothing matched.
        tried: list[list[str]] = [[] for _ in changes]
        undecided = list(range(len(changes)))
        for rule in options.keys:
            if not undecided:
                break
            normal = _NORMALIZERS[rule.normalize]
            wanted: dict[int, str] = {}
            asked: dict[str, None] = {}
            for i in undecided:
                raw = _as_text(changes[i].fields.get(rule.source))
                value = normal(raw)
                if not value:
                    continue
                wanted[i] = value
                asked[value] = None
                asked[raw] = None
            found = await target.find(rule.target, list(asked)) if asked else {}
            by_value = _group(found, rule.target, normal)
            still: list[int] = []
            for i in undecided:
                if i not in wanted:
                    still.append(i)
                    continue
                value = wanted[i]
                hits = by_value.get(value, [])
                if len(hits) == 1:
                    decisions[i] = self._match(hits[0], rule, value)
                elif len(hits) > 1:
                    keys = ", ".join(sorted(h.key for h in hits)[:5])
                    decisions[i] = MatchDecision(
                        MatchAction.REJECT,
                        f"{len(hits)} records in target share {rule.target} {value} "
                        f"({keys}{', ...' if len(hits) > 5 else ''}), refusing to guess",
                    )
                else:
                    tried[i].append(f"{rule.target} {value}")
                    still.append(i)
            undecided = still
        for i in undecided:
            searched = " or ".join(tried[i]) if tried[i] else None
            explanation = (
                f"no record in target with {searched}"
                if searched
                else "no value for any match key ("
                + ", ".join(rule.source for rule in options.keys)
                + ")"
            )
            if options.on_no_match == "next":
                continue
            action = {
                "create": MatchAction.CREATE,
                "reject": MatchAction.REJECT,
                "skip": MatchAction.SKIP,
            }[options.on_no_match]
            decisions[i] = MatchDecision(action, explanation)
        return decisions

    def _match(self, hit: TargetRecord, rule: MatchKey, value: str) -> MatchDecision:
        disqualify = self.options.disqualify
        if disqualify is not None:
            held = _as_text(hit.fields.get(disqualify.field))
            if held in disqualify.values:
                return MatchDecision(
                    MatchAction.REJECT,
                    f"matched target record {hit.key} on {rule.target} {value}, but its "
                    f"{disqualify.field} is {held!r}, which rules it out",
                    hit.key,
                )
        found = f"matched on {rule.target} {value} (record {hit.key})"
        if self.options.on_match == "skip":
            return MatchDecision(MatchAction.SKIP, f"{found}: existing records are left alone")
        return MatchDecision(MatchAction.MATCH, found, hit.key)


def _group(
    found: dict[str, list[TargetRecord]], field: str, normal: Callable[[str], str]
) -> dict[str, list[TargetRecord]]:
    """Found records by their normalised value of ``field``, each record once."""
    grouped: dict[str, dict[str, TargetRecord]] = {}
    for asked, records in found.items():
        for record in records:
            held = record.fields.get(field, asked)
            grouped.setdefault(normal(_as_text(held)), {})[record.key] = record
    return {value: list(records.values()) for value, records in grouped.items()}


class IdentityMapOptions(_Strict):
    """Options of the ``identity_map`` matcher."""

    target_system: str = Field(
        min_length=1, description="The system of the records linked to (the sink's connection)."
    )


class IdentityMapMatcher(Matcher[IdentityMapOptions]):
    """Matches a change to the target record syncframe linked it to when it wrote it earlier.

    Links are kept in the state store's identity map by the engine. A change without a link is
    left undecided, for the next matcher of the flow (list this one first).
    """

    Options: ClassVar[type[BaseModel]] = IdentityMapOptions

    async def decide(
        self, changes: Sequence[Change], target: TargetLookup | None
    ) -> list[MatchDecision | None]:
        other = self.options.target_system
        groups: dict[tuple[str, str], list[int]] = {}
        keys: list[str] = []
        for i, change in enumerate(changes):
            key = next(iter(change.keys.values()), None)
            keys.append(_as_text(key))
            if keys[-1]:
                groups.setdefault((change.system, change.entity), []).append(i)
        decisions: list[MatchDecision | None] = [None] * len(changes)
        for (system, entity), members in groups.items():
            links = self.context.state.find_links(
                system, entity, list(dict.fromkeys(keys[i] for i in members)), other
            )
            for i in members:
                linked = links.get(keys[i])
                if linked is not None:
                    decisions[i] = MatchDecision(
                        MatchAction.MATCH,
                        f"linked earlier to {other} record {linked} (identity map)",
                        linked,
                    )
        return decisions
