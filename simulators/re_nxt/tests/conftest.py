"""Shared fixtures of the RE NXT simulator tests: the simulator on the test's manual clock, an
authorized in-process API client, and small helpers to read the API's answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator

from syncframe.clock import ManualClock

C = "/constituent/v1"
P = "/commpref/v1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim(re_nxt_simulator: Any) -> ReNxtSimulator:
    """The registered ``re_nxt`` simulator (built by the kit's fixture on ``sim_clock``)."""
    assert isinstance(re_nxt_simulator, ReNxtSimulator)
    return re_nxt_simulator


@pytest.fixture
def clock(sim: ReNxtSimulator, sim_clock: ManualClock) -> ManualClock:
    assert sim.clock is sim_clock
    return sim_clock


@pytest.fixture
async def api(sim: ReNxtSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client with a bearer token and the default subscription key."""
    async with sim.api_client() as client:
        yield client


def messages(response: httpx.Response) -> list[str]:
    """The ``message`` of every entry of a classic SKY error array."""
    body = response.json()
    assert isinstance(body, list), f"not an error array: {body!r}"
    for entry in body:
        assert set(entry) == {"message", "error_code", "raw_message", "error_name", "error_args"}
        assert entry["error_code"] == response.status_code
    return [entry["message"] for entry in body]


async def create(api: httpx.AsyncClient, **body: Any) -> str:
    """``POST /constituents`` (an individual named Ada Lovelace unless said); the new id."""
    body.setdefault("type", "Individual")
    if body["type"] == "Individual":
        body.setdefault("first", "Ada")
        body.setdefault("last", "Lovelace")
    answer = await api.post(f"{C}/constituents", json=body)
    assert answer.status_code == 200, answer.text
    constituent_id: str = answer.json()["id"]
    return constituent_id


async def get(api: httpx.AsyncClient, constituent_id: str) -> dict[str, Any]:
    answer = await api.get(f"{C}/constituents/{constituent_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def ids_of(
    api: httpx.AsyncClient, url: str, **params: Any
) -> tuple[list[str], dict[str, Any]]:
    """The ids on one list page and the whole body."""
    answer = await api.get(url, params=params or None)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return [item["id"] for item in body["value"]], body
