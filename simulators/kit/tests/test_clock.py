"""The simulator clock through the admin API: read, advance, set, and 409 when it cannot move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from syncframe_simulators import SimulatorAdminError

from simulators.kit.tests.ledger import LedgerSimulator
from syncframe.clock import ManualClock, SystemClock

pytestmark = pytest.mark.anyio


async def test_advance_moves_the_shared_clock(
    ledger: LedgerSimulator, sim_clock: ManualClock, api: httpx.AsyncClient
) -> None:
    async with ledger.admin() as admin:
        reading = await admin.clock()
        assert (reading.now, reading.manual) == (datetime(2026, 1, 1, 9, tzinfo=UTC), True)
        assert await admin.advance(timedelta(hours=1)) == datetime(2026, 1, 1, 10, tzinfo=UTC)
        assert await admin.advance(30) == datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)
    # The engine's clock is the same object: it sees the new time too.
    assert sim_clock.now() == datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)
    entry = (await api.post("/accounts/1/entries", json={"amount": "5"})).json()
    assert entry["at"] == "2026-01-01T10:00:30+00:00"
    assert ledger.journal.entries()[-1].at == datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)


async def test_set_jumps_forward_but_never_back(ledger: LedgerSimulator) -> None:
    async with ledger.admin() as admin:
        later = datetime(2026, 3, 1, 12, tzinfo=UTC)
        assert await admin.set_clock(later) == later
        with pytest.raises(SimulatorAdminError) as back:
            await admin.set_clock(datetime(2026, 2, 1, tzinfo=UTC))
        assert back.value.status == 400
        assert back.value.message == (
            "set: a clock does not go backwards (the simulator's time is 2026-03-01T12:00:00+00:00)"
        )
        assert await admin.now() == later


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, 'give exactly one of "advance" (seconds) or "set" (ISO time)'),
        ({"advance": 1, "set": "2026-05-01T00:00:00Z"}, "give exactly one of"),
        ({"advance": -5}, "advance: Input should be greater than or equal to 0"),
        ({"set": "2026-05-01T00:00:00"}, '"set" needs a timezone'),
        ({"speed": 2}, "speed: Extra inputs are not permitted"),
    ],
)
async def test_bad_clock_changes_are_refused(
    ledger: LedgerSimulator, body: dict[str, object], message: str
) -> None:
    async with ledger.client() as client:
        response = await client.post("/_admin/clock", json=body)
    assert response.status_code == 422
    assert message in response.json()["error"]
    assert ledger.clock.now() == datetime(2026, 1, 1, 9, tzinfo=UTC)


async def test_a_system_clock_cannot_be_moved() -> None:
    sim = LedgerSimulator(clock=SystemClock())
    async with sim.admin() as admin:
        assert (await admin.clock()).manual is False
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.advance(60)
    assert refused.value.status == 409
    assert "follows the system clock and cannot be moved" in refused.value.message
    assert "--manual-clock" in refused.value.message


def test_a_simulator_without_a_clock_gets_a_manual_one() -> None:
    sim = LedgerSimulator()
    assert isinstance(sim.clock, ManualClock)
    assert sim.base_url == "http://ledger.simulator"
