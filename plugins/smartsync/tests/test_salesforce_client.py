"""The Salesforce client against the simulator: both OAuth flows, the instance URL taken from
the token answer, a session that expired, and every kind of refusal mapped to the engine's
error kinds (throttling as Salesforce does it: a 403 REQUEST_LIMIT_EXCEEDED)."""

from __future__ import annotations

import json

import httpx
import pytest
from salesforce_simulator import SalesforceSimulator
from syncframe_simulators import FaultRule
from syncframe_smartsync.salesforce_client import (
    LoginRefused,
    SalesforceApiError,
    SalesforceClient,
    check_contact_access,
)

from plugins.smartsync.tests.salesforce_helpers import (
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    client_for,
    make_simulator,
    settings_for,
)
from syncframe.components import PermanentError, TransientError

pytestmark = pytest.mark.anyio

INSTANCE = "http://na42.salesforce.simulator"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator()


class _OtherInstance(httpx.AsyncBaseTransport):
    """The simulator, with the token endpoint's ``instance_url`` rewritten to another host, and
    every request's URL kept: where the client sends its API calls."""

    def __init__(self, sim: SalesforceSimulator) -> None:
        self.inner = sim.transport()
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/services/oauth2/token" or response.status_code != 200:
            return response
        answer = json.loads(await response.aread())
        answer["instance_url"] = INSTANCE
        return httpx.Response(200, json=answer)


def token_requests(sim: SalesforceSimulator) -> list[int | None]:
    return [e.status for e in sim.journal.entries() if e.operation == "OAuthToken"]


# ---- logging in --------------------------------------------------------------------------------


async def test_client_credentials_session_runs_as_the_apps_user_on_the_answered_instance(
    sim: SalesforceSimulator,
) -> None:
    transport = _OtherInstance(sim)
    async with httpx.AsyncClient(transport=transport) as http:
        client = SalesforceClient(http, settings_for(sim))
        page = await client.query("SELECT Id FROM Contact")

    assert page.records == []
    [user] = [u for u in sim.snapshot()["users"] if u["username"] == USERNAME]
    assert await client.user_id() == user["id"]
    assert transport.urls[0] == f"{sim.base_url}/services/oauth2/token"
    assert transport.urls[1].startswith(f"{INSTANCE}/services/data/v59.0/query/?q=SELECT")


async def test_password_flow_sends_the_password_followed_by_the_security_token(
    sim: SalesforceSimulator,
) -> None:
    overrides = {
        "grant": "password",
        "username": USERNAME,
        "password": PASSWORD,
        "security_token": SECURITY_TOKEN,
    }
    async with client_for(sim, **overrides) as client:
        session = await client.login()

    assert session.instance_url == sim.base_url
    assert session.access_token.get_secret_value() not in repr(session)
    [session_row] = sim.snapshot()["sessions"]
    assert session_row["grant"] == "password"


async def test_a_wrong_password_is_refused_clearly_and_secret_free(
    sim: SalesforceSimulator,
) -> None:
    overrides = {"grant": "password", "username": USERNAME, "password": "wrong-password"}
    async with client_for(sim, **overrides) as client:
        with pytest.raises(LoginRefused) as refused:
            await client.query("SELECT Id FROM Contact")

    message = str(refused.value)
    assert "refused the password login of user 'integration@example.org'" in message
    assert "invalid_grant: authentication failure" in message
    for secret in ("wrong-password", CLIENT_SECRET, PASSWORD, SECURITY_TOKEN):
        assert secret not in message
    assert isinstance(refused.value, PermanentError)


async def test_a_wrong_client_secret_is_refused_naming_the_connected_app(
    sim: SalesforceSimulator,
) -> None:
    async with client_for(sim, client_secret="not-the-secret") as client:
        with pytest.raises(LoginRefused) as refused:
            await client.login()

    message = str(refused.value)
    assert "connected app '3MVG9smartsync.connector'" in message
    assert "invalid_client: invalid client credentials" in message
    assert "not-the-secret" not in message


async def test_an_expired_session_is_renewed_once_and_the_call_repeated(
    sim: SalesforceSimulator,
) -> None:
    sim.add_contact({"LastName": "Lee"})
    async with client_for(sim) as client:
        await client.query("SELECT Id FROM Contact")
        sim.clock.advance(hours=3)  # the org's sessions end after 2 hours without a call
        records = await client.query_all("SELECT Id, LastName FROM Contact")

    assert [r["LastName"] for r in records] == ["Lee"]
    statuses = [(e.operation, e.status) for e in sim.journal.entries()]
    assert statuses == [
        ("OAuthToken", 200),
        ("Query", 200),
        ("Query", 401),
        ("OAuthToken", 200),
        ("Query", 200),
    ]


# ---- refusals ----------------------------------------------------------------------------------


async def test_the_daily_request_limit_is_transient(sim: SalesforceSimulator) -> None:
    async with sim.admin() as admin:
        answer = await admin.request(
            "PUT", "/salesforce/limits", json={"daily_api_requests": 1, "used": 1}
        )
    assert answer.json()["remaining"] == 0
    async with client_for(sim) as client:
        with pytest.raises(TransientError) as caught:
            await client.query("SELECT Id FROM Contact")

    assert "HTTP 403: REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded." in str(caught.value)
    assert caught.value.retry_after is None


async def test_the_concurrent_request_throttle_carries_its_retry_after(
    sim: SalesforceSimulator,
) -> None:
    sim.faults.add(FaultRule(kind="rate_limit", retry_after=7, operation="Query", times=1))
    async with client_for(sim) as client:
        with pytest.raises(TransientError) as caught:
            await client.query("SELECT Id FROM Contact")
        page = await client.query("SELECT Id FROM Contact")

    assert caught.value.retry_after == 7
    assert "ConcurrentPerOrgLongTxn" in str(caught.value)
    assert page.done


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_transient(sim: SalesforceSimulator, status: int) -> None:
    sim.faults.add(FaultRule(kind="error", status=status, operation="Query", times=1))
    async with client_for(sim) as client:
        with pytest.raises(TransientError) as caught:
            await client.query("SELECT Id FROM Contact")

    assert f"HTTP {status}" in str(caught.value)


async def test_a_token_endpoint_failure_is_transient(sim: SalesforceSimulator) -> None:
    sim.faults.add(FaultRule(kind="error", status=503, operation="OAuthToken", times=1))
    async with client_for(sim) as client:
        with pytest.raises(TransientError):
            await client.login()
        session = await client.login()

    assert session.access_token.get_secret_value()
    assert token_requests(sim) == [503, 200]


async def test_an_answer_cut_off_is_transient(sim: SalesforceSimulator) -> None:
    sim.faults.add(FaultRule(kind="malformed", operation="Query", times=1))
    async with client_for(sim) as client:
        with pytest.raises(TransientError, match="not valid JSON"):
            await client.query("SELECT Id FROM Contact")


async def test_a_refused_query_carries_salesforces_error_list(sim: SalesforceSimulator) -> None:
    async with client_for(sim) as client:
        with pytest.raises(SalesforceApiError) as caught:
            await client.query("SELECT Id, Emial FROM Contact")

    assert caught.value.status == 400
    assert caught.value.error_codes == ["INVALID_FIELD"]
    assert "No such column 'Emial' on entity 'Contact'" in str(caught.value)
    assert isinstance(caught.value, PermanentError)


async def test_query_all_follows_next_records_url() -> None:
    sim = make_simulator(max_batch_size=2)
    for n in range(5):
        sim.add_contact({"LastName": f"Page{n}"})
    async with client_for(sim) as client:
        records = await client.query_all("SELECT LastName FROM Contact ORDER BY LastName")

    assert [r["LastName"] for r in records] == [f"Page{n}" for n in range(5)]
    assert [e.operation for e in sim.journal.entries()] == [
        "OAuthToken",
        "Query",
        "QueryMore",
        "QueryMore",
    ]


# ---- the connection check ----------------------------------------------------------------------


async def test_the_check_finds_the_external_id_field(sim: SalesforceSimulator) -> None:
    async with client_for(sim) as client:
        described = await check_contact_access(client)

    assert described["name"] == "Contact"


async def test_the_check_refuses_a_field_that_does_not_exist(sim: SalesforceSimulator) -> None:
    async with client_for(sim, external_id_field="Constituent_Code__c") as client:
        with pytest.raises(PermanentError, match="has no field 'Constituent_Code__c'"):
            await check_contact_access(client)


async def test_the_check_refuses_a_field_that_is_no_external_id(
    sim: SalesforceSimulator,
) -> None:
    # A field the Contact has, but not an External ID (the settings refuse a standard field's
    # name, so the client gets it past them).
    settings = settings_for(sim).model_copy(update={"external_id_field": "Email"})
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        with pytest.raises(PermanentError, match="'Email' is not an External ID field"):
            await check_contact_access(SalesforceClient(http, settings))
