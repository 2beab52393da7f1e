"""Shared fixtures of the Raiser's Edge simulator tests: the simulator on the test's manual
clock, a logged-in client of the query interface and the admin client (helpers: support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from raisers_edge_simulator import RaisersEdgeAdmin, RaisersEdgeSimulator

from syncframe.clock import ManualClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim(raisers_edge_simulator: Any) -> RaisersEdgeSimulator:
    """The registered ``raisers_edge`` simulator (built by the kit's fixture on ``sim_clock``)."""
    assert isinstance(raisers_edge_simulator, RaisersEdgeSimulator)
    return raisers_edge_simulator


@pytest.fixture
def clock(sim: RaisersEdgeSimulator, sim_clock: ManualClock) -> ManualClock:
    assert sim.clock is sim_clock
    return sim_clock


@pytest.fixture
async def api(sim: RaisersEdgeSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the query interface, logged in as supervisor/admin."""
    async with sim.api_client() as client:
        yield client


@pytest.fixture
async def admin(sim: RaisersEdgeSimulator) -> AsyncIterator[RaisersEdgeAdmin]:
    async with sim.admin() as client:
        yield client
