"""The OAuth token endpoint, bearer sessions and the SOAP login."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from salesforce_simulator.auth import token_signature

from simulators.salesforce.tests.conftest import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    Org,
    error_of,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

TOKEN_URL = "/services/oauth2/token"


def password_form(**changes: str) -> dict[str, str]:
    form = {
        "grant_type": "password",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "username": USERNAME,
        "password": PASSWORD + SECURITY_TOKEN,
    }
    return {**form, **changes}


async def token(org: Org, form: dict[str, str], **kwargs: Any) -> httpx.Response:
    return await org.http.post(TOKEN_URL, data=form, **kwargs)


async def can_call(org: Org, access_token: str) -> int:
    answer = await org.http.get(
        f"{API}/limits", headers={"Authorization": f"Bearer {access_token}"}
    )
    return answer.status_code


async def test_password_flow_answers_a_session_on_the_simulator(org: Org) -> None:
    answer = await token(org, password_form())
    assert answer.status_code == 200
    body = answer.json()
    user_id = org.sim.identity.user_named(USERNAME).id  # type: ignore[union-attr]
    assert body["instance_url"] == "http://salesforce.simulator"
    assert body["id"] == f"http://salesforce.simulator/id/{org.sim.org_id}/{user_id}"
    assert body["token_type"] == "Bearer"
    assert body["issued_at"] == "1767258000000"  # 2026-01-01T09:00Z in milliseconds
    assert body["signature"] == token_signature(CLIENT_SECRET, body["id"], body["issued_at"])
    assert body["access_token"].startswith(org.sim.org_id[:15] + "!")
    assert "refresh_token" not in body  # the username-password flow issues none
    assert await can_call(org, body["access_token"]) == 200
    [session] = [s for s in org.sim.snapshot()["sessions"] if s["grant"] == "password"]
    assert (session["user_id"], session["client_id"]) == (user_id, CLIENT_ID)


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        ({"password": PASSWORD}, "invalid_grant", "authentication failure"),
        ({"username": "nobody@example.org"}, "invalid_grant", "authentication failure"),
        ({"client_id": "unknown"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "wrong"}, "invalid_client", "invalid client credentials"),
        ({"grant_type": "implicit"}, "unsupported_grant_type", "grant type not supported"),
    ],
)
async def test_token_refusals(
    org: Org, changes: dict[str, str], error: str, description: str
) -> None:
    answer = await token(org, password_form(**changes))
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": error, "error_description": description},
    )
    assert [s["grant"] for s in org.sim.snapshot()["sessions"]] == ["admin"]


async def test_client_credentials_run_as_the_apps_user(org: Org) -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    answer = await token(
        org, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert answer.status_code == 200
    assert answer.json()["id"].endswith(org.sim.identity.user_named(USERNAME).id)  # type: ignore[union-attr]
    in_form = await token(
        org,
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert in_form.status_code == 200


async def test_client_credentials_need_a_run_as_user(org: Org) -> None:
    org.sim.add_connected_app("no-user-app", "s3cret")
    answer = await token(
        org,
        {"grant_type": "client_credentials", "client_id": "no-user-app", "client_secret": "s3cret"},
    )
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "no client credentials user enabled",
    }


async def test_authorization_code_then_refresh_token(org: Org) -> None:
    async with org.sim.admin() as admin:
        code = (
            await admin.post(
                "/salesforce/authorizations", {"client_id": CLIENT_ID, "username": USERNAME}
            )
        )["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": "https://localhost/callback",
    }
    first = await token(org, form)
    assert first.status_code == 200
    refresh_token = first.json()["refresh_token"]
    reused = await token(org, form)
    assert reused.json()["error_description"] == "invalid authorization code"
    refreshed = await token(
        org,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID},
    )
    assert refreshed.status_code == 200
    assert "refresh_token" not in refreshed.json()
    assert await can_call(org, refreshed.json()["access_token"]) == 200
    # Revoking the refresh token ends the sessions it made, and it cannot be used again.
    revoke = await org.http.post("/services/oauth2/revoke", data={"token": refresh_token})
    assert revoke.status_code == 200
    assert await can_call(org, refreshed.json()["access_token"]) == 401
    again = await token(
        org,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID},
    )
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }


async def test_a_session_expires_after_two_idle_hours(org: Org, sim_clock: ManualClock) -> None:
    sim_clock.advance(minutes=119)
    assert await can_call(org, org.token) == 200  # the call restarts the timeout
    sim_clock.advance(minutes=119)
    assert await can_call(org, org.token) == 200
    sim_clock.advance(hours=2, seconds=1)
    answer = await org.get("/limits")
    assert error_of(answer) == (401, "INVALID_SESSION_ID", "Session expired or invalid")
    assert "sforce-limit-info" not in answer.headers


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic Zm9vOmJhcg==", "Bearer "])
async def test_calls_without_a_valid_token(org: Org, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    answer = await org.http.get(f"{API}/sobjects/Contact/describe", headers=headers)
    assert error_of(answer) == (401, "INVALID_SESSION_ID", "Session expired or invalid")


async def test_the_older_oauth_scheme_is_accepted(org: Org) -> None:
    answer = await org.http.get(f"{API}/limits", headers={"Authorization": f"OAuth {org.token}"})
    assert answer.status_code == 200


async def test_the_admin_can_end_every_session(org: Org) -> None:
    async with org.sim.admin() as admin:
        ended = await admin.request("DELETE", "/salesforce/sessions")
    assert ended.json() == {"revoked": 1}
    assert await can_call(org, org.token) == 401


async def test_soap_login(org: Org) -> None:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        '<n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        f"<n1:username>{USERNAME}</n1:username><n1:password>{{}}</n1:password>"
        "</n1:login></env:Body></env:Envelope>"
    )
    url = "/services/Soap/u/59.0"
    answer = await org.http.post(url, content=envelope.format(PASSWORD + SECURITY_TOKEN))
    assert answer.status_code == 200
    text = answer.text
    assert f"<serverUrl>http://salesforce.simulator/services/Soap/u/59.0/{org.sim.org_id}" in text
    session_id = text.split("<sessionId>")[1].split("</sessionId>")[0]
    assert await can_call(org, session_id) == 200
    refused = await org.http.post(url, content=envelope.format("wrong"))
    assert refused.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in refused.text
    assert "Invalid username, password, security token; or user locked out." in refused.text
    doctype = await org.http.post(url, content=b'<!DOCTYPE x [<!ENTITY a "b">]><x/>')
    assert doctype.status_code == 500
    assert "DOCTYPE" in doctype.text


async def test_a_user_without_a_security_token_logs_in_with_the_password(org: Org) -> None:
    org.sim.add_user("plain@example.org", "just-a-password")
    answer = await token(
        org, password_form(username="plain@example.org", password="just-a-password")
    )
    assert answer.status_code == 200
