"""The request journal: bounded, paged by sequence number, on the simulator clock."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from syncframe_simulators import RequestJournal

from simulators.kit.tests.ledger import LedgerSimulator

AT = datetime(2026, 1, 1, 9, tzinfo=UTC)


def fill(journal: RequestJournal, count: int) -> None:
    for i in range(count):
        journal.record(
            at=AT,
            method="GET",
            path=f"/r/{i + 1}",
            operation=None,
            status=200,
            fault=None,
            fault_id=None,
            duration_ms=0.1,
            request_bytes=0,
            response_bytes=2,
        )


class TestRequestJournal:
    """Bounds and paging of the journal itself."""

    def test_keeps_only_the_newest_entries(self) -> None:
        journal = RequestJournal(maxlen=3)
        fill(journal, 10)
        assert len(journal) == 3
        assert [e.seq for e in journal.entries()] == [8, 9, 10]
        assert journal.last_seq == 10

    def test_since_and_limit_page_through(self) -> None:
        journal = RequestJournal(maxlen=5)
        fill(journal, 12)
        assert [e.seq for e in journal.entries(since=9)] == [10, 11, 12]
        assert [e.seq for e in journal.entries(since=2, limit=2)] == [8, 9]
        assert [e.seq for e in journal.entries(since=9, limit=0)] == []
        assert journal.entries(since=12) == []
        assert journal.entries(since=50) == []

    def test_clear_keeps_counting(self) -> None:
        journal = RequestJournal()
        fill(journal, 2)
        journal.clear()
        fill(journal, 1)
        assert [e.seq for e in journal.entries()] == [3]

    @pytest.mark.parametrize(("since", "limit"), [(-1, None), (0, -1)])
    def test_negative_paging_is_refused(self, since: int, limit: int | None) -> None:
        with pytest.raises(ValueError, match="must be 0 or more"):
            RequestJournal().entries(since=since, limit=limit)

    def test_needs_room_for_one_entry(self) -> None:
        with pytest.raises(ValueError, match="at least one entry"):
            RequestJournal(maxlen=0)


@pytest.mark.anyio
async def test_a_long_run_does_not_grow_the_journal(api: httpx.AsyncClient) -> None:
    sim = LedgerSimulator(journal_size=4)
    sim.seed_records({"accounts": [{"name": "Ada"}]})
    async with sim.client(headers=dict(api.headers)) as client:
        for _ in range(25):
            await client.get("/accounts/1")
    assert len(sim.journal) == 4
    async with sim.admin() as admin:
        page = await admin.get("journal", since=23)
        assert [e["seq"] for e in page["entries"]] == [24, 25]
        assert (page["last_seq"], page["maxlen"]) == (25, 4)
        assert [e.seq for e in await admin.journal(since=21, limit=1)] == [22]
        await admin.clear_journal()
        assert await admin.journal() == []


@pytest.mark.anyio
async def test_entries_carry_the_simulator_clock(
    ledger: LedgerSimulator, api: httpx.AsyncClient
) -> None:
    await api.get("/accounts")
    ledger.clock.advance(hours=2)  # type: ignore[attr-defined]
    await api.get("/accounts")
    async with ledger.admin() as admin:
        times = [e.at.isoformat() for e in await admin.journal()]
    assert times == ["2026-01-01T09:00:00+00:00", "2026-01-01T11:00:00+00:00"]
