"""The salesforce_contacts source against the simulator: the vocabulary it emits, inserts,
updates and deletes (queryAll), paging through nextRecordsUrl, a cursor that is exact when many
changes share one second, an expired query locator, and its options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from salesforce_simulator import SalesforceSimulator
from syncframe_simulators import FaultRule
from syncframe_smartsync.salesforce_source import (
    SalesforceContactSource,
    SalesforceContactSourceOptions,
)

from plugins.smartsync.tests.salesforce_helpers import (
    CONNECTION,
    START,
    component_context,
    make_simulator,
    read_all,
)
from syncframe.components import PermanentError, TransientError
from syncframe.records import Change, Operation, Origin

pytestmark = pytest.mark.anyio

ANN: dict[str, Any] = {
    "FirstName": "Ann",
    "LastName": "Lee",
    "Email": "ann.lee@example.org",
    "Phone": "+44 113 496 0000",
    "MailingStreet": "1 High Street\nFlat 2",
    "MailingCity": "Leeds",
    "MailingState": "West Yorkshire",
    "MailingPostalCode": "LS1 4AB",
    "MailingCountry": "United Kingdom",
    "RE_Constituent_ID__c": "10042",
    "Title": "Trustee",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator()


@pytest.fixture
async def http(sim: SalesforceSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sim.transport()) as client:
        yield client


def source_of(
    sim: SalesforceSimulator, http: httpx.AsyncClient, **options: Any
) -> SalesforceContactSource:
    return SalesforceContactSource(
        component_context(sim, http), SalesforceContactSourceOptions(**options)
    )


def flat(batches: list[list[Change]]) -> list[Change]:
    return [change for batch in batches for change in batch]


def names(changes: list[Change]) -> list[str]:
    return [str(change.fields["last_name"]) for change in changes]


# ---- what a change carries ---------------------------------------------------------------------


async def test_a_new_contact_is_an_insert_in_the_vocabulary(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    record_id = sim.add_contact(ANN)

    batches, cursor = await read_all(source_of(sim, http), None)

    [change] = flat(batches)
    assert change.system == CONNECTION
    assert change.entity == "contact"
    assert change.keys == {"id": record_id}
    assert change.operation is Operation.INSERT
    assert change.occurred_at == START
    assert change.origin == Origin(system=CONNECTION)
    assert change.fields == {
        "constituent_id": "10042",
        "email": "ann.lee@example.org",
        "first_name": "Ann",
        "last_name": "Lee",
        "address1": "1 High Street\nFlat 2",
        "city": "Leeds",
        "state": "West Yorkshire",
        "postal_code": "LS1 4AB",
        "country": "United Kingdom",
        "phone": "+44 113 496 0000",
        # Not opted out is not an opt-in: no email_status.
    }
    assert cursor["watermark"] == "2026-01-01T09:00:00Z"
    assert list(cursor["seen"]) == [record_id]


async def test_updates_opt_outs_and_deletes_follow_in_order(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    ann = sim.add_contact(ANN)
    bo = sim.add_contact({"LastName": "Ng"})
    source = source_of(sim, http)
    _, cursor = await read_all(source, None)

    sim.clock.advance(minutes=3)
    sim.edit_contact(ann, {"HasOptedOutOfEmail": True, "MailingCity": "York"})
    sim.clock.advance(minutes=1)
    sim.delete_contact(bo)
    batches, _ = await read_all(source, cursor)

    updated, deleted = flat(batches)
    assert (updated.key, updated.operation) == (ann, Operation.UPDATE)
    assert updated.fields["email_status"] == "unsubscribed"
    assert updated.fields["city"] == "York"
    assert updated.occurred_at == START + timedelta(minutes=3)
    assert (deleted.key, deleted.operation) == (bo, Operation.DELETE)
    assert deleted.fields["last_name"] == "Ng"  # a delete carries the last values
    assert "email_status" not in deleted.fields  # not opted out: no email status
    assert deleted.occurred_at == START + timedelta(minutes=4)


async def test_without_deletes_the_recycle_bin_is_not_read(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    gone = sim.add_contact({"LastName": "Gone"})
    sim.add_contact({"LastName": "Kept"})
    sim.delete_contact(gone)

    with_deletes, _ = await read_all(source_of(sim, http), None)
    without, _ = await read_all(source_of(sim, http, include_deletes=False), None)

    assert sorted(names(flat(with_deletes))) == ["Gone", "Kept"]
    assert names(flat(without)) == ["Kept"]
    assert [e.operation for e in sim.journal.entries() if e.operation != "OAuthToken"] == [
        "QueryAll",
        "Query",
    ]


# ---- exact across same-second changes ----------------------------------------------------------


async def test_batches_that_split_one_second_resume_exactly(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    ids = [sim.add_contact({"LastName": f"Same{n}"}) for n in range(5)]  # all at 09:00:00
    source = source_of(sim, http)

    batches, _ = await read_all(source, None, batch_size=2)
    assert [len(b) for b in batches] == [2, 2, 1]

    # Stop after the first batch (its cursor is what the engine committed) and read again.
    first_cursor = None
    async for batch in source.read(None, 2):
        first_cursor = batch.cursor
        break
    rest, last = await read_all(source, first_cursor, batch_size=2)
    assert [c.key for c in flat(rest)] == ids[2:]

    # Another Contact changes in that same second: only it is read next.
    late = sim.add_contact({"LastName": "SameLate"})
    again, last = await read_all(source, last)
    assert [c.key for c in flat(again)] == [late]
    nothing, _ = await read_all(source, last)
    assert nothing == []


async def test_a_contact_changed_again_within_the_second_it_was_read_is_read_again(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    ann = sim.add_contact(ANN)
    source = source_of(sim, http)
    _, cursor = await read_all(source, None)

    sim.edit_contact(ann, {"MailingCity": "Bradford"})  # the clock has not moved
    batches, cursor = await read_all(source, cursor)
    nothing, _ = await read_all(source, cursor)

    [again] = flat(batches)
    assert (again.key, again.fields["city"]) == (ann, "Bradford")
    assert nothing == []


async def test_pages_and_batches_of_different_sizes_hand_on_each_change_once() -> None:
    sim = make_simulator(max_batch_size=3)  # query pages of 3 records
    expected: list[str] = []
    for second in range(4):
        for n in range(second + 1):
            expected.append(f"S{second}N{n}")
            sim.add_contact({"LastName": expected[-1]})
        sim.clock.advance(seconds=1)
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        batches, _ = await read_all(source_of(sim, http), None, batch_size=4)

    assert names(flat(batches)) == expected
    assert [len(b) for b in batches] == [4, 4, 2]
    operations = [e.operation for e in sim.journal.entries() if e.operation != "OAuthToken"]
    assert operations == ["QueryAll", "QueryMore", "QueryMore", "QueryMore"]


async def test_an_expired_query_locator_is_followed_by_the_query_again() -> None:
    sim = make_simulator(max_batch_size=2)
    for n in range(5):
        sim.add_contact({"LastName": f"Slow{n}"})
    read: list[str] = []
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        async for batch in source_of(sim, http).read(None, 2):
            read.extend(names(batch.changes))
            # A sink slower than the 15 minutes Salesforce keeps an unused query cursor.
            sim.clock.advance(minutes=16)

    assert read == [f"Slow{n}" for n in range(5)]
    calls = [(e.operation, e.status) for e in sim.journal.entries() if e.operation != "OAuthToken"]
    assert ("QueryMore", 400) in calls
    assert [op for op, _ in calls].count("QueryAll") >= 2


# ---- options -----------------------------------------------------------------------------------


async def test_since_starts_the_first_run_there(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact({"LastName": "Before"})
    sim.clock.advance(hours=1)
    sim.add_contact({"LastName": "After"})

    since = START + timedelta(minutes=30)
    batches, _ = await read_all(source_of(sim, http, since=since), None)

    assert names(flat(batches)) == ["After"]


async def test_where_restricts_the_contacts(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact({"LastName": "Leeds", "MailingCountry": "United Kingdom"})
    sim.add_contact({"LastName": "Boston", "MailingCountry": "United States"})

    source = source_of(sim, http, where="MailingCountry = 'United Kingdom'")
    batches, _ = await read_all(source, None)

    assert names(flat(batches)) == ["Leeds"]


async def test_skip_own_changes_leaves_out_what_the_connection_wrote(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    source = source_of(sim, http, skip_own_changes=True)
    await source.client.upsert_contacts(
        "RE_Constituent_ID__c", [{"RE_Constituent_ID__c": "1", "LastName": "Synced"}]
    )
    sim.add_contact({"LastName": "Typed"})  # someone in the Salesforce UI

    batches, _ = await read_all(source, None)

    assert names(flat(batches)) == ["Typed"]


@pytest.mark.parametrize("where", ["LastName = 'x' ORDER BY Id", "LIMIT 5"])
def test_where_is_a_condition_only(where: str) -> None:
    with pytest.raises(ValueError, match="give a condition only"):
        SalesforceContactSourceOptions(where=where)


async def test_the_check_runs_the_query_once(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    await source_of(sim, http, where="MailingCity = 'Leeds'").check()
    with pytest.raises(PermanentError, match=r"the source's query is refused: .*INVALID_FIELD"):
        await source_of(sim, http, where="City = 'Leeds'").check()


async def test_a_transient_fault_reaches_the_engine_as_transient(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact(ANN)
    sim.faults.add(FaultRule(kind="rate_limit", retry_after=7, operation="QueryAll", times=1))

    with pytest.raises(TransientError) as caught:
        await read_all(source_of(sim, http), None)
    batches, _ = await read_all(source_of(sim, http), None)

    assert caught.value.retry_after == 7
    assert names(flat(batches)) == ["Lee"]
