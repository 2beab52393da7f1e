"""Fixtures for the kit's tests: the ledger test simulator on the plugin's ``sim_clock``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from simulators.kit.tests.ledger import TOKEN, LedgerSimulator
from syncframe.clock import ManualClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ledger(sim_clock: ManualClock) -> LedgerSimulator:
    """A ledger simulator with two accounts, on the test's manual clock."""
    sim = LedgerSimulator(clock=sim_clock, seed=0)
    sim.seed_records({"accounts": [{"name": "Ada", "balance": "10"}, {"name": "Grace"}]})
    return sim


@pytest.fixture
async def api(ledger: LedgerSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated in-process client of the ledger's imitated API."""
    async with ledger.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client
