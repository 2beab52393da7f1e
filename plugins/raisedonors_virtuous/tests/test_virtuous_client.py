"""The Virtuous CRM+ client against the simulator: signing in (the sync user, an API key; a
two-factor user, an SSO user and a wrong password refused with the seed's advice), refreshing
the token, staying under the hourly limit, 429 and the error kinds."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from syncframe_raisedonors_virtuous.virtuous_client import (
    LoginRefused,
    RecordRefused,
    VirtuousClient,
)
from syncframe_simulators import FaultRule

from plugins.raisedonors_virtuous.tests.virtuous_helpers import (
    API_KEY,
    SSO_USER,
    SYNC_USER,
    TWO_FACTOR_USER,
    client_for,
    make_simulator,
    settings_for,
)
from syncframe.clock import ManualClock
from syncframe.components import PermanentError, TransientError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def calls(simulator: object) -> list[tuple[str, str, int | None]]:
    """(method, path, status) of every request the simulator served."""
    return [(e.method, e.path, e.status) for e in simulator.journal.entries()]  # type: ignore[attr-defined]


# ---- signing in ------------------------------------------------------------------------------


async def test_the_sync_user_signs_in_once_and_its_token_opens_the_api() -> None:
    simulator = make_simulator()
    async with client_for(simulator) as client:
        await client.check()
        hooks = await client.webhooks()

    assert calls(simulator) == [
        ("POST", "/Token", 200),
        ("GET", "/api/Webhook", 200),
        ("GET", "/api/Webhook", 200),
    ]
    assert [hook["events"] for hook in hooks] == [["ContactCreate", "ContactUpdate"]]


async def test_an_api_key_needs_no_sign_in() -> None:
    simulator = make_simulator()
    async with client_for(
        simulator, username=None, password=None, api_key=SecretStr(API_KEY)
    ) as client:
        await client.check()

    assert calls(simulator) == [("GET", "/api/Webhook", 200)]


async def test_a_two_factor_user_is_refused_with_the_advice() -> None:
    simulator = make_simulator()
    async with client_for(simulator, username=TWO_FACTOR_USER, password="Jane-Pa55") as client:
        with pytest.raises(LoginRefused) as caught:
            await client.login()

    message = str(caught.value)
    assert f"user {TWO_FACTOR_USER!r}" in message
    assert "two-factor" in message
    assert "Create a dedicated Virtuous CRM+ user without two-factor authentication" in message
    assert calls(simulator) == [("POST", "/Token", 202)]


async def test_an_sso_user_is_refused_with_the_advice() -> None:
    simulator = make_simulator()
    async with client_for(simulator, username=SSO_USER, password="whatever") as client:
        with pytest.raises(LoginRefused) as caught:
            await client.check()

    message = str(caught.value)
    assert f"user {SSO_USER!r} signs in with single sign-on (WorkOS SSO)" in message
    assert "a domain other than the one configured for WorkOS SSO" in message
    assert "whatever" not in message


async def test_a_wrong_password_is_refused_naming_the_user_not_the_password() -> None:
    simulator = make_simulator()
    async with client_for(simulator, password="not-the-password") as client:
        with pytest.raises(LoginRefused) as caught:
            await client.check()

    message = str(caught.value)
    assert f"refused the login of user {SYNC_USER!r}" in message
    assert "The user name or password is incorrect." in message
    assert "not-the-password" not in message
    assert isinstance(caught.value, PermanentError)


async def test_a_refused_api_key_is_a_permanent_error_without_the_key() -> None:
    simulator = make_simulator()
    async with client_for(
        simulator, username=None, password=None, api_key=SecretStr("vk-revoked-0000")
    ) as client:
        with pytest.raises(LoginRefused) as caught:
            await client.check()

    assert "refused the API key (HTTP 401)" in str(caught.value)
    assert "vk-revoked-0000" not in str(caught.value)


async def test_the_token_is_refreshed_before_it_expires() -> None:
    simulator = make_simulator()
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    async with client_for(simulator) as client:
        await client.webhooks()
        # The user's password changes: only the refresh token can get a new access token.
        simulator.auth.users[SYNC_USER.casefold()].password = SecretStr("changed-by-its-owner")
        clock.advance(timedelta(days=15) - timedelta(minutes=2))
        await client.webhooks()
        clock.advance(timedelta(days=1))
        await client.webhooks()

    assert calls(simulator) == [
        ("POST", "/Token", 200),
        ("GET", "/api/Webhook", 200),
        ("POST", "/Token", 200),  # the refresh, within the last minutes of the 15 days
        ("GET", "/api/Webhook", 200),
        ("GET", "/api/Webhook", 200),
    ]


async def test_an_expired_refresh_token_means_signing_in_again() -> None:
    simulator = make_simulator()
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    async with client_for(simulator) as client:
        await client.webhooks()
        clock.advance(timedelta(days=400))  # both tokens long expired
        await client.webhooks()

    assert calls(simulator) == [
        ("POST", "/Token", 200),
        ("GET", "/api/Webhook", 200),
        ("POST", "/Token", 400),  # the refresh token: refused
        ("POST", "/Token", 200),  # the password grant
        ("GET", "/api/Webhook", 200),
    ]


async def test_a_revoked_token_is_replaced_once() -> None:
    simulator = make_simulator()
    async with client_for(simulator) as client:
        await client.webhooks()
        simulator.auth._access.clear()  # an administrator signed the user out everywhere
        await client.webhooks()

    assert calls(simulator) == [
        ("POST", "/Token", 200),
        ("GET", "/api/Webhook", 200),
        ("GET", "/api/Webhook", 401),
        ("POST", "/Token", 200),
        ("GET", "/api/Webhook", 200),
    ]


# ---- the hourly limit ------------------------------------------------------------------------


async def test_the_client_stays_under_the_organizations_hourly_limit() -> None:
    # The organization still has the older limit of 1,500 an hour, here scaled down to 12.
    simulator = make_simulator(rate_limit_per_hour=12)
    waits: list[float] = []
    async with client_for(simulator, waits, rate_limit_per_hour=12) as client:
        for _ in range(40):
            await client.webhooks()

    statuses = Counter(status for _, _, status in calls(simulator))
    assert statuses == {200: 41}  # 40 calls and the sign-in; never a 429
    assert waits, "the client never waited"
    per_hour = Counter(
        entry.at.replace(minute=0, second=0, microsecond=0)
        for entry in simulator.journal.entries()
        if entry.path != "/Token"
    )
    assert max(per_hour.values()) <= 12


async def test_the_limit_set_in_the_settings_holds_when_virtuous_allows_more() -> None:
    simulator = make_simulator(rate_limit_per_hour=5000)
    waits: list[float] = []
    async with client_for(simulator, waits, rate_limit_per_hour=5) as client:
        for _ in range(12):
            await client.webhooks()

    times = [entry.at for entry in simulator.journal.entries()]
    assert len(times) == 13
    # Never more than 5 requests within any hour (a sliding one).
    for index in range(len(times) - 5):
        assert times[index + 5] - times[index] >= timedelta(hours=1)
    assert len(waits) >= 2


async def use_up_the_hour(simulator: object) -> None:
    """Another integration of the organization uses the whole hour's budget."""
    async with client_for(
        simulator,  # type: ignore[arg-type]
        username=None,
        password=None,
        api_key=SecretStr(API_KEY),
    ) as other:
        for _ in range(3):
            await other.webhooks()


async def test_a_429_is_transient_with_virtuous_retry_after() -> None:
    simulator = make_simulator(rate_limit_per_hour=3)
    await use_up_the_hour(simulator)
    async with client_for(
        simulator, username=None, password=None, api_key=SecretStr(API_KEY)
    ) as client:
        with pytest.raises(TransientError) as caught:
            await client.webhooks()

    assert "hourly request limit is used up (HTTP 429)" in str(caught.value)
    assert "3 requests per hour" in str(caught.value)
    # 09:00 on the clock: the organization's window resets at 10:00.
    assert caught.value.retry_after == 3600
    assert calls(simulator)[-1] == ("GET", "/api/Webhook", 429)


async def test_a_client_told_the_budget_is_spent_waits_for_the_reset() -> None:
    simulator = make_simulator(rate_limit_per_hour=3)
    await use_up_the_hour(simulator)
    waits: list[float] = []
    async with client_for(simulator, waits) as client:
        # Signing in is not counted, but its answer says nothing is left until 10:00.
        await client.webhooks()

    assert waits == [3600]
    assert calls(simulator)[-2:] == [("POST", "/Token", 200), ("GET", "/api/Webhook", 200)]


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_is_transient(status: int) -> None:
    simulator = make_simulator()
    simulator.faults.add(FaultRule(kind="error", status=status, path="/api/Webhook", times=1))
    async with client_for(simulator) as client:
        with pytest.raises(TransientError) as caught:
            await client.webhooks()

    assert f"listing Virtuous CRM+ webhooks: HTTP {status}" in str(caught.value)


async def test_a_refused_record_names_what_was_sent_and_virtuous_reason() -> None:
    simulator = make_simulator()
    async with client_for(simulator) as client:
        with pytest.raises(RecordRefused) as caught:
            await client.contact_transaction(
                {"referenceSource": "Legacy RaiseDonors", "referenceId": "4", "email": "nope"},
                "sending donor 4 to the import tool",
            )

    message = str(caught.value)
    assert message.startswith("sending donor 4 to the import tool: HTTP 400: ")
    assert "email" in message
    assert simulator.imports.held == []


async def test_a_missing_record_is_permanent() -> None:
    simulator = make_simulator()
    async with client_for(simulator) as client:
        with pytest.raises(PermanentError) as caught:
            await client.request("GET", "/api/Contact/999", "reading contact 999")

    assert not isinstance(caught.value, TransientError)
    assert str(caught.value).startswith("reading contact 999: HTTP 404")


async def test_a_cut_off_token_answer_is_transient() -> None:
    simulator = make_simulator()
    simulator.faults.add(FaultRule(kind="malformed", path="/Token", times=1))
    async with client_for(simulator) as client:
        with pytest.raises(TransientError, match="cut off"):
            await client.login()
        await client.login()  # the next try works

    assert calls(simulator)[-1] == ("POST", "/Token", 200)


async def test_an_unexpected_token_answer_is_permanent_and_shows_no_token() -> None:
    simulator = make_simulator()

    def odd_answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "tok-SECRET-123", "expires_in": "soon"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(odd_answer)) as http:
        client = VirtuousClient(http, settings_for(simulator), simulator.clock)
        with pytest.raises(PermanentError) as caught:
            await client.login()

    assert "unexpected answer (expires_in: " in str(caught.value)
    assert "tok-SECRET-123" not in str(caught.value)
