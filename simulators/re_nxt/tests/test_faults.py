"""Injected faults answered as the SKY API answers, and the journal naming each operation."""

from __future__ import annotations

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator

from simulators.re_nxt.tests.conftest import C, P, create, messages

pytestmark = pytest.mark.anyio


async def test_the_journal_names_the_api_operations(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    constituent_id = await create(api)
    await api.get(f"{C}/constituents", params={"last_modified": "2026-01-01"})
    await api.get(f"{C}/constituents/{constituent_id}")
    await api.patch(f"{C}/constituents/{constituent_id}", json={"first": "Ada"})
    await api.get(f"{C}/constituents/search", params={"search_text": "Ada"})
    await api.get(f"{P}/constituents/{constituent_id}/consents")
    await api.post("/token", data={"grant_type": "x"})
    await api.get("/nowhere")
    async with sim.admin() as admin:
        journal = await admin.journal()
    assert [(entry.operation, entry.status) for entry in journal] == [
        ("CreateConstituent", 200),
        ("ListConstituents", 200),
        ("GetConstituent", 200),
        ("EditConstituent", 200),
        ("SearchConstituent", 200),
        ("ListConstituentConsents", 200),
        ("Token", 400),
        (None, 404),
    ]


async def test_an_error_fault_is_the_classic_error_array(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="error", status=500, operation="ListConstituents", times=1)
    failed = await api.get(f"{C}/constituents")
    assert failed.status_code == 500
    assert messages(failed) == ["An unexpected error occurred. Please try again later."]
    assert failed.json()[0]["error_name"] == "ServerError"
    assert (await api.get(f"{C}/constituents")).status_code == 200


async def test_a_faulted_write_changes_nothing(api: httpx.AsyncClient, sim: ReNxtSimulator) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="error", status=503, operation="CreateConstituent")
    answer = await api.post(f"{C}/constituents", json={"type": "Individual", "last": "X"})
    assert answer.status_code == 503
    assert sim.store.constituents == {}


async def test_a_rate_limit_fault_is_the_gateways_429(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="rate_limit", retry_after=2, operation="Get*")
    await create(api)
    answer = await api.get(f"{C}/constituents/1001")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "2"
    assert answer.json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 2 seconds.",
    }


async def test_a_malformed_fault_cuts_a_sky_shaped_body(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="malformed", operation="ListConstituents")
    answer = await api.get(f"{C}/constituents")
    assert answer.status_code == 200
    assert answer.text.startswith('{"count":3,"value":[{"id":"1001"')
    with pytest.raises(ValueError, match="Unterminated string"):
        answer.json()


async def test_a_timeout_fault_gives_the_gateways_504_to_a_patient_client(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="timeout", hang=0.01, operation="ListConstituents")
    answer = await api.get(f"{C}/constituents", timeout=None)
    assert (answer.status_code, answer.json()["statusCode"]) == (504, 504)
