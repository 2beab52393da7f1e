"""Injected faults answer as RaiseDonors does (ProblemDetails), by operation name, and a faulted
request changes nothing."""

from __future__ import annotations

import httpx
import pytest
from raisedonors_simulator import RaiseDonorsSimulator
from syncframe_simulators import FaultRule

from simulators.raisedonors.tests.conftest import ANN_ID, Api, problem

pytestmark = pytest.mark.anyio


async def test_the_journal_names_each_operation(api: Api, sim: RaiseDonorsSimulator) -> None:
    await api.get("/api/Donor/list")
    await api.get("/api/Donor/search", filter="ann")
    await api.get(f"/api/Donor/{ANN_ID}")
    await api.patch(f"/api/Donor/{ANN_ID}", {"firstName": "A"})
    await api.post("/api/Donor", {"lastName": "N", "email": "n@example.org"})
    await api.get("/api/Activity/list")
    await api.get("/api/Integration/Virtuous")
    await api.put("/api/Integration/Virtuous", {})
    await api.post("/api/Raise/give", {})
    await api.http.post("/oauth/token")
    await api.request("DELETE", f"/api/Donor/{ANN_ID}")
    assert [(e.operation, e.status) for e in sim.journal.entries()] == [
        ("Authorize", 200),
        ("ListDonors", 200),
        ("SearchDonors", 200),
        ("GetDonor", 200),
        ("UpdateDonor", 200),
        ("CreateDonor", 201),
        ("ListActivity", 200),
        ("GetVirtuousIntegration", 200),
        ("UpdateVirtuousIntegration", 200),
        ("Give", 400),
        ("RefreshToken", 400),
        (None, 405),
    ]


async def test_an_error_is_a_problem_and_changes_nothing(
    api: Api, sim: RaiseDonorsSimulator
) -> None:
    sim.faults.add(FaultRule(kind="error", status=503, operation="UpdateDonor", times=1))
    body = problem(await api.patch(f"/api/Donor/{ANN_ID}", {"firstName": "Zed"}), 503)
    assert body["title"] == "Service Unavailable"
    assert sim.account.donors.get(ANN_ID).first_name == "Ann"
    assert len(sim.account.activity) == 0
    await api.ok("PATCH", f"/api/Donor/{ANN_ID}", json={"firstName": "Zed"})
    assert sim.account.donors.get(ANN_ID).first_name == "Zed"
    assert [(e.status, e.fault) for e in sim.journal.entries()][-2:] == [
        (503, "error"),
        (200, None),
    ]


async def test_a_server_error_is_a_problem(api: Api, sim: RaiseDonorsSimulator) -> None:
    sim.faults.add(FaultRule(kind="error", status=500, operation="GetDonor"))
    body = problem(await api.get(f"/api/Donor/{ANN_ID}"), 500)
    assert body["title"] == "An error occurred while processing your request."


async def test_rate_limit_is_429_with_retry_after(api: Api, sim: RaiseDonorsSimulator) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="rate_limit", operation="ListActivity", retry_after=30)
    response = await api.get("/api/Activity/list")
    body = problem(response, 429)
    assert response.headers["retry-after"] == "30"
    assert "30 seconds" in body["detail"]


async def test_a_late_timeout_is_a_gateway_problem(api: Api, sim: RaiseDonorsSimulator) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="timeout", operation="GetDonor", hang=0.01)
    problem(await api.get(f"/api/Donor/{ANN_ID}"), 504)


async def test_malformed_is_cut_json(api: Api, sim: RaiseDonorsSimulator) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="malformed", operation="ListActivity", times=1)
        await admin.add_fault(kind="malformed", operation="GetDonor", times=1)
    listing = await api.get("/api/Activity/list")
    assert listing.status_code == 200
    assert listing.text.startswith('{"items": [{"id"')
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        listing.json()
    single = await api.get(f"/api/Donor/{ANN_ID}")
    assert single.text.startswith('{"id"')


async def test_a_dropped_connection(api: Api, sim: RaiseDonorsSimulator) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="disconnect", operation="UpdateDonor", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.patch(f"/api/Donor/{ANN_ID}", {"firstName": "Never"})
    assert sim.account.donors.get(ANN_ID).first_name == "Ann"
