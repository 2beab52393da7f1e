"""OAuth 2.0 and the gateway: authorization code and refresh grants, token lifetime on the clock,
subscription keys and bearer tokens on every API call."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from re_nxt_simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SUBSCRIPTION_KEY,
    ReNxtSimulator,
)

from simulators.re_nxt.tests.conftest import C
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

KEY = {"Bb-Api-Subscription-Key": DEFAULT_SUBSCRIPTION_KEY}
CLIENT = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}


async def authorization_code(client: httpx.AsyncClient, state: str = "xyz") -> str:
    """What the browser brings back after the user consents."""
    answer = await client.get(
        "/authorization",
        params={
            "client_id": DEFAULT_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": DEFAULT_REDIRECT_URI,
            "state": state,
        },
    )
    assert answer.status_code == 302
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == DEFAULT_REDIRECT_URI
    query = parse_qs(target.query)
    assert query["state"] == [state]
    return query["code"][0]


async def test_the_authorization_code_flow_gives_tokens_that_open_the_api(
    sim: ReNxtSimulator,
) -> None:
    async with sim.client() as client:
        code = await authorization_code(client)
        answer = await client.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": DEFAULT_REDIRECT_URI,
                **CLIENT,
            },
        )
        assert answer.status_code == 200, answer.text
        grant = answer.json()
        assert grant["token_type"] == "bearer"
        assert grant["expires_in"] == 3600
        assert grant["refresh_token_expires_in"] == 365 * 24 * 3600
        assert grant["environment_id"].startswith("p-")
        assert answer.headers["cache-control"] == "no-store"
        api = await client.get(
            f"{C}/constituents", headers={**KEY, "Authorization": f"Bearer {grant['access_token']}"}
        )
        assert (api.status_code, api.json()) == (200, {"count": 0, "value": []})
        again = await client.post(
            "/token", data={"grant_type": "authorization_code", "code": code, **CLIENT}
        )
        assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


async def test_client_credentials_may_come_as_basic_auth(sim: ReNxtSimulator) -> None:
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    async with sim.client() as client:
        code = await authorization_code(client)
        answer = await client.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert answer.status_code == 200, answer.text


async def test_a_refresh_retires_the_old_refresh_token_unless_preserved(
    sim: ReNxtSimulator,
) -> None:
    first = sim.issue_tokens()
    async with sim.client() as client:
        answer = await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": first.refresh_token, **CLIENT},
        )
        second = answer.json()
        assert answer.status_code == 200
        assert second["refresh_token"] != first.refresh_token
        reused = await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": first.refresh_token, **CLIENT},
        )
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
        kept = await client.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": second["refresh_token"],
                "preserve_refresh_token": "true",
                **CLIENT,
            },
        )
        assert kept.json()["refresh_token"] == second["refresh_token"]
        # Both access tokens work: a refresh does not end the access token it replaces.
        for token in (second["access_token"], kept.json()["access_token"]):
            api = await client.get(
                f"{C}/genders", headers={**KEY, "Authorization": f"Bearer {token}"}
            )
            assert api.status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant"),
        (
            {"grant_type": "refresh_token", "client_secret": "wrong"},
            401,
            "invalid_client",
        ),
    ],
)
async def test_token_errors_are_rfc_6749_errors(
    sim: ReNxtSimulator, form: dict[str, str], status: int, error: str
) -> None:
    async with sim.client() as client:
        answer = await client.post("/token", data={**CLIENT, **form})
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]


async def test_an_unknown_redirect_uri_is_refused_at_authorization(sim: ReNxtSimulator) -> None:
    async with sim.client() as client:
        answer = await client.get(
            "/authorization",
            params={"client_id": DEFAULT_CLIENT_ID, "redirect_uri": "https://evil.example.com/cb"},
        )
    assert answer.status_code == 400
    assert "is not one of application" in answer.json()["error_description"]


async def test_access_tokens_expire_after_an_hour_on_the_clock(
    sim: ReNxtSimulator, clock: ManualClock
) -> None:
    async with sim.api_client() as api:
        clock.advance(seconds=3599)
        assert (await api.get(f"{C}/genders")).status_code == 200
        clock.advance(seconds=1)
        expired = await api.get(f"{C}/genders")
    assert expired.status_code == 401
    assert expired.json() == {
        "statusCode": 401,
        "message": "Unauthorized. Access token is missing or invalid.",
    }


async def test_the_subscription_key_is_checked_first(sim: ReNxtSimulator) -> None:
    token = {"Authorization": f"Bearer {sim.issue_tokens().access_token}"}
    async with sim.client() as client:
        missing = await client.get(f"{C}/genders", headers=token)
        wrong = await client.get(
            f"{C}/genders", headers={**token, "Bb-Api-Subscription-Key": "not-a-key"}
        )
        in_query = await client.get(
            f"{C}/genders", headers=token, params={"subscription-key": DEFAULT_SUBSCRIPTION_KEY}
        )
        no_token = await client.get(f"{C}/genders", headers=KEY)
    assert missing.status_code == wrong.status_code == 401
    assert "missing subscription key" in missing.json()["message"]
    assert "invalid subscription key" in wrong.json()["message"]
    assert in_query.status_code == 200
    assert no_token.status_code == 401
    assert no_token.json()["message"] == "Unauthorized. Access token is missing or invalid."


async def test_revoking_an_application_ends_its_tokens(sim: ReNxtSimulator) -> None:
    grant = sim.issue_tokens()
    async with sim.admin() as admin, sim.api_client(headers=sim.api_headers(grant)) as api:
        assert (await api.get(f"{C}/genders")).status_code == 200
        revoked = await admin.post(f"/re_nxt/applications/{DEFAULT_CLIENT_ID}/revoke")
        assert revoked["revoked"] >= 2
        assert (await api.get(f"{C}/genders")).status_code == 401
    async with sim.client() as client:
        refresh = await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": grant.refresh_token, **CLIENT},
        )
    assert refresh.json()["error"] == "invalid_grant"


async def test_admin_registers_applications_and_keys_and_mints_tokens(sim: ReNxtSimulator) -> None:
    async with sim.admin() as admin:
        await admin.post(
            "/re_nxt/applications",
            {
                "client_id": "other-app",
                "client_secret": "s3cret",
                "redirect_uris": ["https://a.example.org/cb"],
            },
        )
        await admin.post("/re_nxt/subscription-keys", {"key": "second-key"})
        grant = await admin.post("/re_nxt/tokens", {"client_id": "other-app"})
        state = await admin.state()
    assert {app["client_id"] for app in state["auth"]["applications"]} == {
        DEFAULT_CLIENT_ID,
        "other-app",
    }
    assert state["auth"]["subscription_keys"] == 2
    async with sim.client(
        headers={
            "Authorization": f"Bearer {grant['access_token']}",
            "Bb-Api-Subscription-Key": "second-key",
        }
    ) as client:
        assert (await client.get(f"{C}/genders")).status_code == 200
