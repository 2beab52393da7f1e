"""Injected faults, answered as Salesforce answers, and the journal's operation names."""

from __future__ import annotations

import json

import httpx
import pytest

from simulators.salesforce.tests.conftest import API, CLIENT_ID, CLIENT_SECRET, Org, error_of

pytestmark = pytest.mark.anyio


async def test_operations_are_journaled_by_name(org: Org) -> None:
    record_id = await org.create(LastName="Doe", RE_Constituent_ID__c="1")
    await org.get(f"/sobjects/Contact/{record_id}")
    await org.patch(f"/sobjects/Contact/{record_id}", {"Title": "Dr"})
    await org.patch("/sobjects/Contact/RE_Constituent_ID__c/1", {"Title": "Prof"})
    await org.query("SELECT Id FROM Contact")
    await org.get(
        "/sobjects/Contact/updated/", start="2026-01-01T08:00:00Z", end="2026-01-01T09:00:00Z"
    )
    await org.delete(f"/sobjects/Contact/{record_id}")
    await org.http.post("/services/oauth2/token", data={"grant_type": "password"})
    await org.http.get(f"{API}/nowhere")
    journal = org.sim.journal.entries()
    assert [(e.operation, e.status) for e in journal] == [
        ("SObjectCreate", 201),
        ("SObjectRetrieve", 200),
        ("SObjectUpdate", 204),
        ("SObjectUpsert", 200),
        ("Query", 200),
        ("SObjectGetUpdated", 200),
        ("SObjectDelete", 204),
        ("OAuthToken", 400),
        (None, 404),
    ]


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId "
         "if you contact support: 1931201407-8501 (-1527584478)"),
        (503, "SERVER_UNAVAILABLE", "The server is temporarily unable to service your request."),
        (401, "INVALID_SESSION_ID", "Session expired or invalid"),
        (418, "UNKNOWN_EXCEPTION", "I'm a Teapot"),
    ],
)  # fmt: skip
async def test_an_error_fault_is_an_error_list(
    org: Org, status: int, code: str, message: str
) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="error", operation="Query", status=status, times=1)
    faulted = await org.query("SELECT Id FROM Contact")
    assert error_of(faulted) == (status, code, message)
    assert (await org.query("SELECT Id FROM Contact")).status_code == 200
    assert [(e.operation, e.fault) for e in org.sim.journal.entries()] == [
        ("Query", "error"),
        ("Query", None),
    ]


async def test_a_faulted_write_changes_nothing(org: Org) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="error", operation="SObjectCreate", status=503)
    answer = await org.post("/sobjects/Contact/", {"LastName": "Doe"})
    assert answer.status_code == 503
    assert org.sim.snapshot()["contacts"] == []
    assert org.sim.snapshot()["api_usage"]["used"] == 0


async def test_rate_limit_is_the_concurrent_request_limit(org: Org) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="rate_limit", path=f"{API}/sobjects/*", retry_after=2)
    answer = await org.get("/sobjects/Contact/describe")
    assert error_of(answer) == (
        403,
        "REQUEST_LIMIT_EXCEEDED",
        "ConcurrentPerOrgLongTxn Limit exceeded.",
    )
    assert answer.headers["Retry-After"] == "2"


async def test_malformed_is_a_query_result_cut_off(org: Org) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="malformed", operation="Query")
    answer = await org.query("SELECT Id FROM Contact")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json;charset=UTF-8"
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    assert answer.text.startswith('{"totalSize":3,"done":true,"records":[{"attributes"')


async def test_a_timeout_the_client_waits_out_ends_in_504(org: Org) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="timeout", operation="Query", hang=0.05)
    answer = await org.query("SELECT Id FROM Contact")
    assert error_of(answer) == (
        504,
        "REQUEST_RUNNING_TOO_LONG",
        "Your request was running for too long, and has been stopped.",
    )


async def test_a_timeout_with_a_client_deadline(org: Org) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="timeout", operation="Query", hang=5)
    with pytest.raises(httpx.ReadTimeout):
        await org.http.get(
            f"{API}/query/", params={"q": "SELECT Id FROM Contact"}, headers=org.auth, timeout=0.05
        )


async def test_faults_on_the_token_endpoint_answer_in_oauth_form(org: Org) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="error", operation="OAuthToken", status=500, times=1)
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    faulted = await org.http.post("/services/oauth2/token", data=form)
    assert (faulted.status_code, faulted.json()) == (
        500,
        {"error": "unknown_error", "error_description": "retry your request"},
    )
    assert (await org.http.post("/services/oauth2/token", data=form)).status_code == 200


async def test_disconnect(org: Org) -> None:
    async with org.sim.admin() as admin:
        await admin.add_fault(kind="disconnect", operation="SObjectRetrieve")
    with pytest.raises(httpx.RemoteProtocolError):
        await org.get("/sobjects/Contact/003Rs0000000000AAA")
