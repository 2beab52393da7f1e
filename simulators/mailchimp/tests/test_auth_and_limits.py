"""API-key auth and the 10-simultaneous-connection limit per key, with latency that holds the
request's slot."""

from __future__ import annotations

import base64

import anyio
import httpx
import pytest
from mailchimp_simulator import DEFAULT_API_KEY, MailchimpSimulator
from starlette.datastructures import Headers
from syncframe_simulators import SimulatorAdminError

from simulators.mailchimp.tests.conftest import AUTH, problem

pytestmark = pytest.mark.anyio

OTHER_KEY = "fedcba9876543210fedcba9876543210-us6"


async def test_any_user_name_with_the_key_as_password(sim: MailchimpSimulator) -> None:
    async with sim.client() as client:
        for user in ("anystring", "user", ""):
            answer = await client.get("/3.0/ping", auth=(user, DEFAULT_API_KEY))
            assert answer.json() == {"health_status": "Everything's Chimpy!"}
        by_scheme = await client.get(
            "/3.0/ping", headers={"Authorization": f"apikey {DEFAULT_API_KEY}"}
        )
        assert by_scheme.status_code == 200


async def test_a_request_without_a_key_or_with_a_wrong_one_is_401(sim: MailchimpSimulator) -> None:
    async with sim.client() as client:
        missing = await client.get("/3.0/ping")
        assert (missing.status_code, problem(missing)["title"]) == (401, "API Key Missing")
        for auth in (("u", "0123456789abcdef0123456789abcdef-us9"), ("u", "nonsense")):
            wrong = await client.get("/3.0/ping", auth=auth)
            body = problem(wrong)
            assert (wrong.status_code, body["title"]) == (401, "API Key Invalid")
            assert "wrong datacenter" in body["detail"]
        garbled = await client.get("/3.0/ping", headers={"Authorization": "Basic %%%"})
        assert garbled.status_code == 401
    assert [e.status for e in sim.journal.entries()] == [401, 401, 401, 401]


async def test_keys_and_oauth_tokens_are_added_and_revoked_through_the_admin_api(
    sim: MailchimpSimulator,
) -> None:
    async with sim.admin() as admin, sim.client() as client:
        await admin.post("mailchimp/api-keys", {"api_key": OTHER_KEY})
        assert (await client.get("/3.0/ping", auth=("u", OTHER_KEY))).status_code == 200
        await admin.request("DELETE", f"mailchimp/api-keys/{OTHER_KEY}")
        assert (await client.get("/3.0/ping", auth=("u", OTHER_KEY))).status_code == 401
        with pytest.raises(SimulatorAdminError) as bad:
            await admin.post("mailchimp/api-keys", {"api_key": "no-dash-suffix"})
        assert bad.value.status == 422
        assert bad.value.message.startswith("api_key: String should match pattern")
        await admin.post("mailchimp/access-tokens", {"access_token": "oauth-token-123"})
        bearer = {"Authorization": "Bearer oauth-token-123"}
        assert (await client.get("/3.0/ping", headers=bearer)).status_code == 200
        revoked = await client.get("/3.0/ping", headers={"Authorization": "Bearer other-token"})
        assert problem(revoked)["detail"] == "Your access token is invalid or has been revoked."
        state = await admin.state()
    assert state["api_keys"] == ["…cdef-us6"]
    assert state["access_tokens"] == 1


async def test_the_eleventh_simultaneous_request_of_a_key_gets_429(sim: MailchimpSimulator) -> None:
    # Each request holds its slot this long: long enough that all 11 overlap on a busy machine.
    sim.latency = 2.0
    statuses: list[int] = []

    async def ping(client: httpx.AsyncClient) -> None:
        statuses.append((await client.get("/3.0/ping")).status_code)

    async with sim.client(auth=AUTH) as client, anyio.create_task_group() as group:
        for _ in range(11):
            group.start_soon(ping, client)
    assert sorted(statuses) == [200] * 10 + [429]
    [refused] = [e for e in sim.journal.entries() if e.status == 429]
    assert refused.operation == "getPing"
    connections = sim.connections.to_json()
    assert (connections["peak"], connections["refused"], connections["in_flight"]) == (
        {"…cdef-us6": 10},
        {"…cdef-us6": 1},
        {},
    )


async def test_the_429_is_mailchimps_problem_and_other_keys_have_their_own_slots(
    sim: MailchimpSimulator,
) -> None:
    sim.seed_records({"api_keys": [OTHER_KEY]})
    sim.latency = 0.3
    sim.connections.limit = 1
    answers: dict[str, httpx.Response] = {}

    async def ping(name: str, key: str) -> None:
        async with sim.client(auth=("u", key)) as client:
            answers[name] = await client.get("/3.0/ping")

    async with anyio.create_task_group() as group:
        group.start_soon(ping, "first", DEFAULT_API_KEY)
        group.start_soon(ping, "second", DEFAULT_API_KEY)
        group.start_soon(ping, "other key", OTHER_KEY)
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert sorted(statuses.values()) == [200, 200, 429]
    assert statuses["other key"] == 200
    [busy] = [a for a in answers.values() if a.status_code == 429]
    body = problem(busy)
    assert (body["title"], body["detail"]) == (
        "Too Many Requests",
        "You have exceeded the limit of 1 simultaneous connections.",
    )
    assert "retry-after" not in busy.headers  # the real API sends none


async def test_settings_change_latency_and_limit_at_run_time(sim: MailchimpSimulator) -> None:
    async with sim.admin() as admin:
        settings = await admin.request(
            "PATCH", "mailchimp/settings", json={"latency": 0.05, "connection_limit": 3}
        )
        assert settings.json()["latency"] == 0.05
        with pytest.raises(SimulatorAdminError) as bad:
            await admin.request("PATCH", "mailchimp/settings", json={"connection_limit": 0})
        assert bad.value.message == "connection_limit: Input should be greater than or equal to 1"
    assert (sim.latency, sim.connections.limit) == (0.05, 3)
    await sim.admin().reset()
    assert (sim.latency, sim.connections.limit) == (0.0, 10)  # back to how it was built


def test_basic_auth_header_as_the_sdk_builds_it(sim: MailchimpSimulator) -> None:
    header = "Basic " + base64.b64encode(f"user:{DEFAULT_API_KEY}".encode()).decode()
    assert sim.credential_of(Headers(headers={"Authorization": header})) == DEFAULT_API_KEY
