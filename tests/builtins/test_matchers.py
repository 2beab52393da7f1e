"""The key_cascade and identity_map matchers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from syncframe.builtins.matchers import IdentityMapMatcher, KeyCascadeMatcher
from syncframe.components import (
    MatchAction,
    MatchDecision,
    PermanentError,
    TargetLookup,
    TargetRecord,
)
from syncframe.records import Change, Operation
from syncframe.state import Link

from .conftest import Build, StateWriter

pytestmark = pytest.mark.anyio


class FakeTarget(TargetLookup):
    """Target records in memory; remembers every lookup."""

    def __init__(self, *records: dict[str, Any]) -> None:
        self.records = [TargetRecord(str(r["id"]), r) for r in records]
        self.calls: list[tuple[str, list[str]]] = []

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        self.calls.append((field, list(values)))
        found: dict[str, list[TargetRecord]] = {}
        for value in values:
            hits = [r for r in self.records if r.fields.get(field) == value]
            if hits:
                found[value] = hits
        return found


def incoming(**fields: Any) -> Change:
    return Change("shop", "customer", {"ref": "s1"}, Operation.UPDATE, fields)


CASCADE = {
    "keys": [
        {"source": "external_id", "target": "external_id"},
        {"source": "email", "target": "email", "normalize": "lower"},
        {"source": "phone", "target": "phone", "normalize": "digits"},
    ]
}

TARGET = FakeTarget(
    {"id": "c1", "external_id": "X1", "email": "ada@x.org", "phone": "5550001"},
    {"id": "c2", "external_id": "X2", "email": "twin@x.org", "status": "deceased"},
    {"id": "c3", "external_id": "X3", "email": "twin@x.org"},
    {"id": "c4", "external_id": "X4", "email": "gone@x.org", "status": "deceased"},
)


async def decide(matcher: Any, changes: list[Change], target: TargetLookup) -> list[MatchDecision]:
    decisions = await matcher.decide(changes, target)
    assert all(d is not None for d in decisions)
    return decisions


async def test_first_key_with_one_hit_matches(build: Build) -> None:
    matcher = build(KeyCascadeMatcher, **CASCADE)
    target = FakeTarget(*[r.fields for r in TARGET.records])

    decisions = await decide(
        matcher,
        [
            incoming(external_id="X1", email="someone@else.org"),
            incoming(email=" ADA@x.org "),
            incoming(phone="(555) 000-1"),
        ],
        target,
    )

    assert decisions == [
        MatchDecision(MatchAction.MATCH, "matched on external_id X1 (record c1)", "c1"),
        MatchDecision(MatchAction.MATCH, "matched on email ada@x.org (record c1)", "c1"),
        MatchDecision(MatchAction.MATCH, "matched on phone 5550001 (record c1)", "c1"),
    ]
    # One lookup per key level for the whole batch, only for undecided changes.
    assert target.calls == [
        ("external_id", ["X1"]),
        ("email", ["ada@x.org", " ADA@x.org "]),
        ("phone", ["5550001", "(555) 000-1"]),
    ]


async def test_several_hits_refuse_to_guess(build: Build) -> None:
    matcher = build(KeyCascadeMatcher, **CASCADE)
    [decision] = await decide(matcher, [incoming(email="twin@x.org")], TARGET)
    assert decision.action is MatchAction.REJECT
    assert decision.explanation == (
        "2 records in target share email twin@x.org (c2, c3), refusing to guess"
    )


async def test_no_hit_on_any_key_creates_or_rejects(build: Build) -> None:
    creating = build(KeyCascadeMatcher, **CASCADE)
    [created, blank] = await decide(
        creating, [incoming(external_id="X9", email="new@x.org"), incoming(name="no keys")], TARGET
    )
    assert created == MatchDecision(
        MatchAction.CREATE, "no record in target with external_id X9 or email new@x.org"
    )
    assert blank == MatchDecision(
        MatchAction.CREATE, "no value for any match key (external_id, email, phone)"
    )

    rejecting = build(KeyCascadeMatcher, **CASCADE, on_no_match="reject")
    [rejected] = await decide(rejecting, [incoming(email="new@x.org")], TARGET)
    assert rejected == MatchDecision(MatchAction.REJECT, "no record in target with email new@x.org")


async def test_disqualified_match_is_rejected(build: Build) -> None:
    matcher = build(
        KeyCascadeMatcher, **CASCADE, disqualify={"field": "status", "values": ["deceased"]}
    )
    [gone, fine] = await decide(
        matcher, [incoming(external_id="X4"), incoming(external_id="X1")], TARGET
    )
    assert gone == MatchDecision(
        MatchAction.REJECT,
        "matched target record c4 on external_id X4, but its status is 'deceased', "
        "which rules it out",
        "c4",
    )
    assert fine.action is MatchAction.MATCH


async def test_normalised_values_must_agree_on_both_sides(build: Build) -> None:
    # The lookup returns records for the raw value too; they count only if they normalise equal.
    target = FakeTarget({"id": "c9", "code": "AB-12"})
    matcher = build(
        KeyCascadeMatcher, keys=[{"source": "code", "target": "code", "normalize": "digits"}]
    )
    [decision] = await decide(matcher, [incoming(code="AB-12")], target)
    assert decision.action is MatchAction.MATCH
    assert decision.target_key == "c9"


async def test_key_cascade_needs_a_lookup(build: Build) -> None:
    matcher = build(KeyCascadeMatcher, **CASCADE)
    with pytest.raises(PermanentError, match="needs a sink that can look records up"):
        await matcher.decide([incoming(email="a@x.org")], None)


def test_key_cascade_field_name_alone_is_the_same_field_on_both_sides(build: Build) -> None:
    matcher = build(KeyCascadeMatcher, keys=["email", {"source": "id", "target": "crm_id"}])
    assert [(k.source, k.target, k.normalize) for k in matcher.options.keys] == [
        ("email", "email", "none"),
        ("id", "crm_id", "none"),
    ]


def test_key_cascade_names_the_fields_it_finds_by_once_each(build: Build) -> None:
    matcher = build(
        KeyCascadeMatcher,
        keys=["email", {"source": "id", "target": "crm_id"}, {"source": "mail", "target": "email"}],
    )
    assert list(matcher.lookup_fields()) == ["email", "crm_id"]
    assert list(build(IdentityMapMatcher, target_system="crm").lookup_fields()) == []


def test_key_cascade_options_are_strict(build: Build) -> None:
    with pytest.raises(ValueError, match="normalize"):
        build(KeyCascadeMatcher, keys=[{"source": "a", "target": "a", "normalize": "upper"}])
    with pytest.raises(ValueError, match="keys"):
        build(KeyCascadeMatcher, keys=[])


async def test_identity_map_matches_linked_records_only(build: Build, writer: StateWriter) -> None:
    writer.commit(links=[Link("shop", "customer", "s1", "crm", "contact", "c42", "shop-to-crm")])
    matcher = build(IdentityMapMatcher, target_system="crm")

    decisions = await matcher.decide(
        [
            Change("shop", "customer", {"ref": "s1"}, Operation.UPDATE, {}),
            Change("shop", "customer", {"ref": "s2"}, Operation.UPDATE, {}),
            Change("shop", "order", {"ref": "s1"}, Operation.UPDATE, {}),
        ],
        None,
    )

    assert decisions == [
        MatchDecision(MatchAction.MATCH, "linked earlier to crm record c42 (identity map)", "c42"),
        None,
        None,
    ]


async def test_no_match_can_skip_or_leave_the_change_to_the_next_matcher(build: Build) -> None:
    target = FakeTarget({"id": "c1", "external_id": "X1", "email": "ada@x.org"})
    changes = [incoming(external_id="X1"), incoming(external_id="X9", email="new@x.org")]

    skipping = await build(KeyCascadeMatcher, keys=["external_id"], on_no_match="skip").decide(
        changes, target
    )
    passing = await build(KeyCascadeMatcher, keys=["external_id"], on_no_match="next").decide(
        changes, target
    )

    assert skipping[0] is not None
    assert skipping[0].action is MatchAction.MATCH
    assert skipping[1] == MatchDecision(MatchAction.SKIP, "no record in target with external_id X9")
    assert passing[0] is not None
    assert passing[0].target_key == "c1"
    assert passing[1] is None  # the next matcher of the flow decides


async def test_a_match_can_be_skipped(build: Build) -> None:
    target = FakeTarget({"id": "c1", "external_id": "X1"})
    matcher = build(KeyCascadeMatcher, keys=["external_id"], on_match="skip")

    decisions = await matcher.decide([incoming(external_id="X1")], target)

    assert decisions == [
        MatchDecision(
            MatchAction.SKIP,
            "matched on external_id X1 (record c1): existing records are left alone",
        )
    ]
