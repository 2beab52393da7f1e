"""The echo and one_way_window loop guards, reading the ledger through the state store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from syncframe.builtins.guards import EchoGuard, OneWayWindowGuard
from syncframe.clock import ManualClock
from syncframe.records import Change, Operation, Origin

from .conftest import Build, StateWriter, ledger

pytestmark = pytest.mark.anyio


def crm(key: str, origin: Origin | None = None, **fields: Any) -> Change:
    return Change("crm", "contact", {"id": key}, Operation.UPDATE, fields, origin=origin)


async def test_echo_blocks_a_change_that_reports_back_what_was_written(
    build: Build, writer: StateWriter, clock: ManualClock
) -> None:
    at = clock.now()
    writer.commit(
        ledger=[
            ledger("c1", {"email": "ada@x.org", "phone": None, "score": 3}, source_changed_at=at),
            ledger("c2", {"email": "g@x.org"}, source_changed_at=at),
        ]
    )
    guard = build(EchoGuard)

    verdicts = await guard.screen(
        [
            # What syncframe wrote (phone None read back as "", score 3 as "3"), plus a field
            # syncframe does not write: an echo.
            crm("c1", email="ada@x.org", phone="", score="3", last_login="today"),
            crm("c2", email="grace@x.org"),  # a real edit
            crm("c3", email="new@x.org"),  # never written by syncframe
            crm("c2", name="Grace"),  # shares no written field: nothing to compare
        ]
    )

    assert verdicts[0] is not None
    assert verdicts[0].reason == (
        f"echo of syncframe's own write by flow shop-to-crm at {at.isoformat()}"
    )
    assert verdicts[0].allowed_after is None
    assert verdicts[1:] == [None, None, None]


async def test_echo_all_fields_needs_every_field_written(
    build: Build, writer: StateWriter, clock: ManualClock
) -> None:
    writer.commit(ledger=[ledger("c1", {"email": "a@x.org"}, source_changed_at=clock.now())])
    guard = build(EchoGuard, compare="all_fields")

    verdicts = await guard.screen(
        [crm("c1", email="a@x.org"), crm("c1", email="a@x.org", name="Ada")]
    )

    assert verdicts[0] is not None
    assert verdicts[1] is None


async def test_echo_trusts_an_origin_naming_a_flow(build: Build) -> None:
    guard = build(EchoGuard)
    [verdict] = await guard.screen(
        [crm("c9", Origin("crm", flow="shop-to-crm", run_id="r1"), email="x")]
    )
    assert verdict is not None
    assert verdict.reason.startswith("echo of syncframe's own write by flow shop-to-crm")


async def test_window_blocks_the_record_until_it_expires(
    build: Build, writer: StateWriter, clock: ManualClock
) -> None:
    changed = clock.now() - timedelta(minutes=10)
    writer.commit(ledger=[ledger("c1", {"email": "a@x.org"}, source_changed_at=changed)])
    guard = build(OneWayWindowGuard, window="30m")

    blocked, other = await guard.screen([crm("c1", email="edited@x.org"), crm("c2", email="x")])

    until = changed + timedelta(minutes=30)
    assert blocked is not None
    assert blocked.reason == (
        "blocked by loop protection: crm.contact[c1] was written from shop at "
        f"{changed.isoformat()}; changes flow back after {until.isoformat()}"
    )
    assert blocked.allowed_after == until
    assert other is None

    clock.advance(minutes=19, seconds=59)
    assert (await guard.screen([crm("c1", email="e")]))[0] is not None
    clock.advance(seconds=1)
    assert await guard.screen([crm("c1", email="e")]) == [None]


async def test_window_ignores_writes_caused_by_the_same_system(
    build: Build, writer: StateWriter, clock: ManualClock
) -> None:
    writer.commit(
        ledger=[ledger("c1", {"a": 1}, source_system="crm", source_changed_at=clock.now())]
    )
    guard = build(OneWayWindowGuard)
    assert await guard.screen([crm("c1", a=2)]) == [None]


async def test_window_with_system_scope(
    build: Build, writer: StateWriter, clock: ManualClock
) -> None:
    changed = clock.now()
    writer.commit(ledger=[ledger("c1", {"a": 1}, source_changed_at=changed)])
    guard = build(OneWayWindowGuard, scope="system", other_system="shop", window=60)

    verdicts = await guard.screen([crm("c1"), crm("c77")])

    assert all(v is not None for v in verdicts)
    assert verdicts[1] is not None
    assert verdicts[1].reason.startswith("blocked by loop protection: crm was written from shop")
    clock.advance(minutes=1)
    assert await guard.screen([crm("c77")]) == [None]


def test_window_options(build: Build) -> None:
    with pytest.raises(ValueError, match="scope 'system' needs other_system"):
        build(OneWayWindowGuard, scope="system")
    with pytest.raises(ValueError, match="is not a duration"):
        build(OneWayWindowGuard, window="soon")
    assert build(OneWayWindowGuard).options.window == timedelta(hours=1)


async def test_one_way_window_with_other_system_ignores_a_third_systems_writes(
    build: Build, writer: StateWriter, clock: ManualClock
) -> None:
    at = clock.now()
    writer.commit(
        ledger=[
            ledger("c1", {"email": "a@x.org"}, source_changed_at=at, source_system="mail"),
            ledger("c2", {"email": "b@x.org"}, source_changed_at=at, source_system="erp"),
        ]
    )
    guard = build(OneWayWindowGuard, other_system="mail")

    verdicts = await guard.screen([crm("c1", email="a2@x.org"), crm("c2", email="b2@x.org")])

    assert verdicts[0] is not None  # written from mail, the other side: held back
    assert verdicts[1] is None  # written from erp, a third system: flows on
