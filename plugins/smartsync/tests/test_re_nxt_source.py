"""The re_nxt_constituents source: the vocabulary of a constituent, email_status from consents
and solicit codes, and an exact cursor (paging, same-second changes, list latency, lists)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator
from re_nxt_simulator.inputs import ConstituentEdit, EmailAddressEdit
from syncframe_smartsync.re_nxt_source import ConstituentCursor

from plugins.smartsync.tests.re_nxt_helpers import (
    CONNECTION,
    FlowHarness,
    add_consent,
    add_constituent,
    add_solicit_code,
    make_simulator,
    read_all,
    read_flow,
    source_for,
)
from syncframe.clock import ManualClock
from syncframe.components import PermanentError
from syncframe.records import Operation, Origin

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> ReNxtSimulator:
    return make_simulator()


def clock_of(sim: ReNxtSimulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


def keys_of(batches: list[Any]) -> list[str]:
    return [change.key for batch in batches for change in batch.changes]


def edit(sim: ReNxtSimulator, constituent_id: str, **values: Any) -> None:
    with sim.lock:
        sim.store.edit_constituent(constituent_id, ConstituentEdit.model_validate(values))


async def test_a_constituent_in_the_vocabulary(sim: ReNxtSimulator) -> None:
    ada = add_constituent(
        sim,
        lookup_id="8001",
        preferred_name="Countess",
        email={"address": "ada@example.org", "type": "Email"},
        phone={"number": "555-0100", "type": "Home"},
        address={
            "type": "Home",
            "address_lines": "12 St James's Square",
            "city": "London",
            "state": "LND",
            "postal_code": "SW1Y 4JH",
            "country": "United Kingdom",
        },
    )
    add_consent(sim, ada.id, "OptIn", category="All communications")
    async with source_for(sim) as source:
        batches = await read_all(source)

    [change] = batches[0].changes
    assert change.system == CONNECTION
    assert change.entity == "constituent"
    assert change.keys == {"id": ada.id, "constituent_id": "8001"}
    assert change.fields == {
        "constituent_id": "8001",
        "email": "ada@example.org",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "nickname": "Countess",
        "address1": "12 St James's Square",
        "city": "London",
        "state": "LND",
        "postal_code": "SW1Y 4JH",
        "country": "United Kingdom",
        "phone": "555-0100",
        "email_status": "subscribed",
    }
    with sim.lock:
        assert change.occurred_at == sim.store.constituent(ada.id).date_modified
    assert change.origin == Origin(system=CONNECTION)


async def test_a_new_constituent_is_an_insert_and_a_changed_one_an_update(
    sim: ReNxtSimulator,
) -> None:
    ada = add_constituent(sim)
    async with source_for(sim) as source:
        first = await read_all(source)
        clock_of(sim).advance(timedelta(minutes=5))
        edit(sim, ada.id, first="Augusta Ada")
        second = await read_all(source, first[-1].cursor)

    assert [c.operation for b in first for c in b.changes] == [Operation.INSERT]
    [changed] = second[0].changes
    assert (changed.operation, changed.fields["first_name"]) == (Operation.UPDATE, "Augusta Ada")
    assert changed.occurred_at == datetime(2026, 1, 1, 9, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        ("no consent", None),
        ("category opt-in", "subscribed"),
        ("channel opt-in", "subscribed"),
        ("opt-in then channel opt-out", "unsubscribed"),
        ("opt-out then opt-in", "subscribed"),
        ("opt-in and the solicit code", "unsubscribed"),
        ("opt-in and do_not_email", "cleaned"),
        ("opt-out and do_not_email", "unsubscribed"),
        ("another category's opt-out", "subscribed"),
    ],
)
async def test_email_status_from_consents_and_solicit_codes(
    sim: ReNxtSimulator, story: str, expected: str | None
) -> None:
    ada = add_constituent(sim, email={"address": "ada@example.org", "type": "Email"})
    early = clock_of(sim).now() - timedelta(days=30)
    if "category opt-in" in story or story.startswith("opt-in"):
        add_consent(sim, ada.id, "OptIn", category="All communications", when=early)
    if story == "channel opt-in":
        add_consent(sim, ada.id, "OptIn", when=early)
    if story == "opt-in then channel opt-out":
        add_consent(sim, ada.id, "OptOut")
    if story.startswith("opt-out"):
        add_consent(sim, ada.id, "OptOut", when=early)
    if story == "opt-out then opt-in":
        add_consent(sim, ada.id, "OptIn")
    if story == "opt-in and the solicit code":
        add_solicit_code(sim, ada.id, "Do not email")
    if story.endswith("do_not_email"):
        with sim.lock:
            email_id = sim.store.emails_of(ada.id)[0].id
            sim.store.edit_email(email_id, EmailAddressEdit(do_not_email=True))
    if story == "another category's opt-out":
        add_consent(sim, ada.id, "OptIn", category="All communications", when=early)
        add_consent(sim, ada.id, "OptOut", category="Newsletters")
    async with source_for(sim) as source:
        [change] = keys_and_changes(await read_all(source))

    assert change.fields["email_status"] == expected


def keys_and_changes(batches: list[Any]) -> list[Any]:
    return [change for batch in batches for change in batch.changes]


async def test_without_email_consent_there_is_no_status_and_no_consent_calls(
    sim: ReNxtSimulator,
) -> None:
    add_constituent(sim)
    async with source_for(sim, email_consent=False) as source:
        [change] = keys_and_changes(await read_all(source))

    assert "email_status" not in change.fields
    operations = [entry.operation for entry in sim.journal.entries()]
    assert operations == ["Token", "ListConstituents"]


async def test_pages_follow_next_link_one_batch_each(sim: ReNxtSimulator) -> None:
    made = []
    for n in range(7):
        made.append(add_constituent(sim, first=f"P{n}").id)
        clock_of(sim).advance(timedelta(seconds=10))
    urls: list[httpx.URL] = []
    async with source_for(sim, urls=urls) as source:
        batches = await read_all(source, batch_size=3)

    assert [len(batch.changes) for batch in batches] == [3, 3, 1]
    assert keys_of(batches) == made
    lists = [url for url in urls if url.path == "/constituent/v1/constituents"]
    assert len(lists) == 3
    assert lists[0].params["last_modified"] == "1900-01-01T00:00:00+00:00"
    assert lists[0].params["limit"] == "3"
    assert "sort_token" not in lists[0].params
    # The next pages are SKY's next_link, with its sort token.
    assert all("sort_token" in url.params for url in lists[1:])
    assert batches[-1].cursor["modified_since"] == "2026-01-01T09:01:00Z"
    assert list(batches[-1].cursor["seen"]) == [made[-1]]


async def test_constituents_of_one_second_are_neither_lost_nor_read_twice(
    sim: ReNxtSimulator,
) -> None:
    same_second = [add_constituent(sim, first=f"S{n}").id for n in range(5)]
    async with source_for(sim) as source:
        # A run that stops after its first batch (two of the five), as a crash would.
        reading = source.read(None, 2)
        first = await reading.__anext__()
        await reading.aclose()
        rest = await read_all(source, first.cursor, batch_size=2)
        # More changes in that same second, after the watermark was reached.
        late = add_constituent(sim, first="Late").id
        after = await read_all(source, rest[-1].cursor, batch_size=2)
        nothing = await read_all(source, after[-1].cursor, batch_size=2)

    assert keys_of([first]) == same_second[:2]
    assert list(first.cursor["seen"]) == same_second[:2]
    assert keys_of(rest) == same_second[2:]
    assert keys_of(after) == [late]
    assert nothing == []


async def test_a_constituent_changed_while_paging_is_read_again_at_the_end(
    sim: ReNxtSimulator,
) -> None:
    made = []
    for n in range(4):
        made.append(add_constituent(sim, first=f"P{n}").id)
        clock_of(sim).advance(timedelta(seconds=10))
    seen: list[tuple[str, str]] = []
    async with source_for(sim) as source:
        async for batch in source.read(None, 2):
            seen += [(c.key, c.fields["first_name"]) for c in batch.changes]
            if len(seen) == 2:
                edit(sim, made[0], first="Changed")

    assert seen == [
        (made[0], "P0"),
        (made[1], "P1"),
        (made[2], "P2"),
        (made[3], "P3"),
        (made[0], "Changed"),
    ]


async def test_the_watermark_is_the_newest_change_read_not_the_poll_time(
    sim: ReNxtSimulator,
) -> None:
    # SKY's lists lag 30 minutes behind the database.
    sim.configure(list_latency=1800)
    clock = clock_of(sim)
    ann = add_constituent(sim, first="Ann").id  # 09:00
    clock.advance(timedelta(minutes=20))
    bob = add_constituent(sim, first="Bob").id  # 09:20
    async with source_for(sim) as source:
        clock.advance(timedelta(minutes=11))  # 09:31: Ann is listed, Bob not yet
        first = await read_all(source)
        clock.advance(timedelta(minutes=10))  # 09:41: still not Bob
        early = await read_all(source, first[-1].cursor)
        clock.advance(timedelta(minutes=10))  # 09:51: Bob, changed before the first poll
        second = await read_all(source, first[-1].cursor)

    assert keys_of(first) == [ann]
    assert first[-1].cursor["modified_since"] == "2026-01-01T09:00:00Z"
    assert early == []
    assert keys_of(second) == [bob]


async def test_a_list_restricts_what_is_read_and_the_cursor_still_moves(
    sim: ReNxtSimulator,
) -> None:
    members = [add_constituent(sim, first=f"M{n}").id for n in range(2)]
    clock_of(sim).advance(timedelta(seconds=10))
    outsiders = [add_constituent(sim, first=f"O{n}").id for n in range(3)]
    with sim.lock:
        newsletter = sim.store.add_list("Newsletter", members).id
    async with source_for(sim, list_id=newsletter) as source:
        batches = await read_all(source, batch_size=2)
        again = await read_all(source, batches[-1].cursor, batch_size=2)

    assert keys_of(batches) == members
    # The last page held outsiders only: an empty batch moves the cursor past them.
    assert batches[-1].changes == []
    assert ConstituentCursor.model_validate(batches[-1].cursor).seen == dict.fromkeys(outsiders, "")
    assert again == []


async def test_an_unknown_list_fails_the_check_naming_it(sim: ReNxtSimulator) -> None:
    async with source_for(sim, list_id="no-such-list") as source:
        with pytest.raises(PermanentError, match=r"list_id 'no-such-list'.*not a constituent list"):
            await source.check()


async def test_inactive_and_deceased_constituents_only_when_asked(sim: ReNxtSimulator) -> None:
    active = add_constituent(sim, first="Active").id
    inactive = add_constituent(sim, first="Inactive", inactive=True).id
    deceased = add_constituent(sim, first="Gone", deceased=True).id
    async with source_for(sim) as source:
        default = keys_of(await read_all(source))
    async with source_for(sim, include_inactive=True, include_deceased=True) as source:
        everyone = keys_of(await read_all(source))

    assert default == [active]
    assert sorted(everyone) == sorted([active, inactive, deceased])


async def test_since_starts_the_first_run_there(sim: ReNxtSimulator) -> None:
    add_constituent(sim, first="Old")
    clock_of(sim).advance(timedelta(days=2))
    recent = add_constituent(sim, first="Recent").id
    since = datetime(2026, 1, 2, tzinfo=UTC)
    async with source_for(sim, since=since) as source:
        assert keys_of(await read_all(source)) == [recent]


async def test_an_organization_has_no_first_or_last_name(sim: ReNxtSimulator) -> None:
    org = add_constituent(
        sim,
        type="Organization",
        name="Analytical Engines Ltd",
        email={"address": "info@engines.example", "type": "Business"},
    )
    async with source_for(sim) as source:
        [change] = keys_and_changes(await read_all(source))

    assert change.key == org.id
    assert (change.fields["first_name"], change.fields["last_name"]) == (None, None)
    assert change.fields["email"] == "info@engines.example"


async def test_a_deleted_constituent_is_not_reported(sim: ReNxtSimulator) -> None:
    # SKY lists no deletes (only webhooks would tell): the constituent stops appearing.
    ada = add_constituent(sim)
    async with source_for(sim) as source:
        first = await read_all(source)
        clock_of(sim).advance(timedelta(minutes=1))
        with sim.lock:
            sim.store.delete_constituent(ada.id)
        after = await read_all(source, first[-1].cursor)

    assert keys_of(first) == [ada.id]
    assert after == []


async def test_runs_through_the_engine_resume_from_the_stored_cursor(
    sim: ReNxtSimulator, tmp_path: Path
) -> None:
    harness = FlowHarness(sim, tmp_path)
    try:
        made = [add_constituent(sim, first=f"R{n}").id for n in range(3)]
        first = await harness.run(read_flow(batch_size=2), "read")
        read_first = [c.key for c in harness.take_captured()]
        clock_of(sim).advance(timedelta(minutes=30))
        edit(sim, made[1], last="Byron")
        second = await harness.run(read_flow(batch_size=2), "read")
        read_second = harness.take_captured()
        third = await harness.run(read_flow(batch_size=2), "read")
    finally:
        harness.close()

    assert [r.summary.status for r in (first, second, third)] == ["succeeded"] * 3
    assert read_first == made
    assert [(c.key, c.fields["last_name"]) for c in read_second] == [(made[1], "Byron")]
    assert third.summary.total == 0


async def test_a_cursor_of_another_source_is_a_clear_error(sim: ReNxtSimulator) -> None:
    async with source_for(sim) as source:
        with pytest.raises(PermanentError, match="is not one of the re_nxt_constituents source"):
            await read_all(source, {"updated_since": "2026-01-01T00:00:00Z"})


async def test_a_constituent_without_email_costs_no_consent_calls(sim: ReNxtSimulator) -> None:
    add_constituent(sim, first="Noemail")
    add_constituent(sim, first="Mailed", email={"address": "m@example.org", "type": "Email"})
    async with source_for(sim) as source:
        changes = keys_and_changes(await read_all(source))

    assert [(c.fields["first_name"], c.fields["email_status"]) for c in changes] == [
        ("Noemail", None),
        ("Mailed", None),
    ]
    consent_reads = [e for e in sim.journal.entries() if e.operation == "ListConstituentConsents"]
    assert len(consent_reads) == 1


async def test_a_constituent_changed_again_within_the_second_is_read_again(
    sim: ReNxtSimulator,
) -> None:
    # Timestamps of one second: the fingerprint in the cursor tells the two versions apart.
    ada = add_constituent(sim, email={"address": "ada@example.org", "type": "Email"})
    async with source_for(sim) as source:
        first = await read_all(source)
        unchanged = await read_all(source, first[-1].cursor)
        add_consent(sim, ada.id, "OptOut")  # same second: only email_status differs
        second = await read_all(source, first[-1].cursor)
        after = await read_all(source, second[-1].cursor)

    assert [c.fields["email_status"] for c in keys_and_changes(first)] == [None]
    assert unchanged == []
    assert [c.fields["email_status"] for c in keys_and_changes(second)] == ["unsubscribed"]
    assert after == []
