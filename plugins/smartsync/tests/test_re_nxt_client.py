"""The SKY API client: the refresh-token flow (first use, expiry, one renewal on 401), and how
each kind of refusal reaches the engine."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from re_nxt_simulator import DEFAULT_CLIENT_SECRET, DEFAULT_SUBSCRIPTION_KEY, ReNxtSimulator
from re_nxt_simulator.inputs import EmailAddressAdd
from syncframe_simulators import FaultRule
from syncframe_smartsync.re_nxt_client import (
    CredentialsRefused,
    ReNxtClient,
    SkyNotFound,
    SkyRefused,
)
from syncframe_smartsync.re_nxt_settings import ReNxtSettings

from plugins.smartsync.tests.re_nxt_helpers import add_constituent, client_for, make_simulator
from syncframe.clock import ManualClock
from syncframe.components import PermanentError, TransientError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> ReNxtSimulator:
    return make_simulator()


def operations(sim: ReNxtSimulator) -> list[tuple[str | None, int | None]]:
    """(operation, status) of every request the simulator answered, in order."""
    return [(entry.operation, entry.status) for entry in sim.journal.entries()]


def clock_of(sim: ReNxtSimulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


async def test_the_first_call_gets_a_token_and_later_calls_reuse_it(sim: ReNxtSimulator) -> None:
    ada = add_constituent(sim)
    async with client_for(sim) as client:
        first = await client.constituent(ada.id)
        again = await client.constituent(ada.id)

    assert (first.lookup_id, again.first) == (ada.lookup_id, "Ada")
    assert operations(sim) == [("Token", 200), ("GetConstituent", 200), ("GetConstituent", 200)]
    assert client.tokens_issued == 1


async def test_an_expired_token_is_renewed_before_the_call(sim: ReNxtSimulator) -> None:
    ada = add_constituent(sim)
    async with client_for(sim) as client:
        await client.constituent(ada.id)
        clock_of(sim).advance(timedelta(minutes=59, seconds=30))  # inside the minute's margin
        await client.constituent(ada.id)

    # Renewed before SKY would have refused it: no 401 on the way.
    assert operations(sim) == [
        ("Token", 200),
        ("GetConstituent", 200),
        ("Token", 200),
        ("GetConstituent", 200),
    ]


async def test_a_refused_token_is_renewed_once_and_the_call_made_again(
    sim: ReNxtSimulator,
) -> None:
    ada = add_constituent(sim)
    sim.faults.add(FaultRule(kind="error", status=401, operation="GetConstituent", times=1))
    async with client_for(sim) as client:
        found = await client.constituent(ada.id)

    assert found.id == ada.id
    assert operations(sim) == [
        ("Token", 200),
        ("GetConstituent", 401),
        ("Token", 200),
        ("GetConstituent", 200),
    ]


async def test_a_second_401_is_not_renewed_again(sim: ReNxtSimulator) -> None:
    ada = add_constituent(sim)
    sim.faults.add(FaultRule(kind="error", status=401, operation="GetConstituent"))
    async with client_for(sim) as client:
        with pytest.raises(CredentialsRefused, match="refused a fresh access token"):
            await client.constituent(ada.id)

    assert [op for op, _ in operations(sim)] == ["Token", "GetConstituent"] * 2


async def test_the_refresh_token_is_kept_valid_for_the_next_run(sim: ReNxtSimulator) -> None:
    # SKY retires a refresh token on use unless asked to preserve it; the settings hold one.
    add_constituent(sim)
    refresh = sim.issue_tokens().refresh_token
    for _ in range(2):
        async with client_for(sim, refresh_token=refresh) as client:
            await client.check()

    assert operations(sim) == [("Token", 200), ("ListConstituents", 200)] * 2


async def test_a_refused_refresh_token_says_what_to_do_and_not_the_secret(
    sim: ReNxtSimulator,
) -> None:
    async with client_for(sim, refresh_token="never-issued-token") as client:
        with pytest.raises(CredentialsRefused) as refused:
            await client.check()

    message = str(refused.value)
    assert "refused the refresh token (invalid_grant" in message
    assert "authorize the application" in message
    assert "never-issued-token" not in message
    assert operations(sim) == [("Token", 400)]


async def test_a_wrong_client_secret_names_the_application_not_the_secret(
    sim: ReNxtSimulator,
) -> None:
    async with client_for(sim, client_secret="wrong-secret-value") as client:
        with pytest.raises(CredentialsRefused) as refused:
            await client.check()

    message = str(refused.value)
    assert "refused the application (invalid_client" in message
    assert "client_id 'syncframe-app'" in message
    assert "wrong-secret-value" not in message
    assert DEFAULT_CLIENT_SECRET not in message


async def test_a_refused_subscription_key_is_not_retried_with_a_new_token(
    sim: ReNxtSimulator,
) -> None:
    async with client_for(sim, subscription_key="not-a-key-of-ours") as client:
        with pytest.raises(CredentialsRefused) as refused:
            await client.check()

    message = str(refused.value)
    assert "refused the subscription key" in message
    assert "invalid subscription key" in message
    assert "not-a-key-of-ours" not in message
    assert DEFAULT_SUBSCRIPTION_KEY not in message
    assert operations(sim) == [("Token", 200), ("ListConstituents", 401)]


async def test_the_rate_limit_is_transient_with_its_retry_after(sim: ReNxtSimulator) -> None:
    sim.configure(rate_limit_per_second=1)
    async with client_for(sim) as client:
        await client.check()
        with pytest.raises(TransientError) as limited:
            await client.check()

    assert limited.value.retry_after == 1
    assert "HTTP 429" in str(limited.value)
    assert "Rate limit is exceeded" in str(limited.value)


async def test_the_daily_quota_is_transient_until_midnight(sim: ReNxtSimulator) -> None:
    sim.configure(daily_quota=1)
    async with client_for(sim) as client:
        await client.check()
        with pytest.raises(TransientError) as spent:
            await client.check()

    # The clock is at 09:00 UTC: the quota comes back in 15 hours.
    assert spent.value.retry_after == 15 * 3600
    assert "HTTP 403" in str(spent.value)
    assert "quota" in str(spent.value)


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_server_errors_are_transient(sim: ReNxtSimulator, status: int) -> None:
    sim.faults.add(FaultRule(kind="error", status=status, operation="ListConstituents", times=1))
    async with client_for(sim) as client:
        with pytest.raises(TransientError, match=f"HTTP {status}: An unexpected error"):
            await client.check()
        await client.check()  # the next try goes through


async def test_a_body_cut_off_is_transient(sim: ReNxtSimulator) -> None:
    sim.faults.add(FaultRule(kind="malformed", operation="ListConstituents", times=1))
    async with client_for(sim) as client:
        with pytest.raises(TransientError, match="could not be read"):
            await client.check()


async def test_a_refusal_carries_the_api_messages(sim: ReNxtSimulator) -> None:
    ada = add_constituent(sim)
    async with client_for(sim) as client:
        with pytest.raises(SkyRefused) as refused:
            await client.add_email_address(
                {"constituent_id": ada.id, "address": "nope", "type": "Email"}, "adding an email"
            )
        with pytest.raises(SkyNotFound) as missing:
            await client.constituent("999999")

    assert refused.value.status == 400
    assert refused.value.detail == "address: 'nope' is not a valid email address"
    assert str(refused.value).startswith("RE NXT: adding an email: HTTP 400: ")
    assert isinstance(refused.value, PermanentError)
    assert missing.value.detail == "The constituent with ID 999999 was not found."


async def test_a_next_link_to_another_host_gets_no_credentials(sim: ReNxtSimulator) -> None:
    async with client_for(sim) as client:
        with pytest.raises(PermanentError, match="refusing to send credentials there"):
            await client.next_constituents("https://elsewhere.example/constituent/v1/constituents")

    assert operations(sim) == []


async def test_search_finds_by_lookup_id_and_any_active_email(sim: ReNxtSimulator) -> None:
    ada = add_constituent(
        sim, lookup_id="AL-1", email={"address": "ada@example.org", "type": "Email"}
    )
    with sim.lock:
        sim.store.add_email(
            ada.id,
            EmailAddressAdd.model_validate(
                {"constituent_id": ada.id, "address": "ada@work.example", "type": "Business"}
            ),
        )
    async with client_for(sim) as client:
        by_id = await client.search("lookup_id", "al-1")
        by_second = await client.search("email_address", "ADA@work.example")
        nobody = await client.search("email_address", "grace@example.org")

    assert [(hit.id, hit.email) for hit in by_id] == [(ada.id, "ada@example.org")]
    assert [hit.id for hit in by_second] == [ada.id]
    assert nobody == []


async def test_an_answer_unlike_the_documented_one_is_permanent() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(200, json={"count": 1, "value": [{"name": "No id"}]})

    settings = ReNxtSettings(
        api_url="https://api.example",
        oauth_url="https://api.example",
        client_id="app",
        client_secret="secret",
        refresh_token="refresh",
        subscription_key="key",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        client = ReNxtClient(http, settings, ManualClock())
        with pytest.raises(
            PermanentError, match=r"not what the SKY API documents .*value.0.id: Field required"
        ):
            await client.check()
