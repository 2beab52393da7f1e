"""``POST /Token``: password and refresh grants, two-factor and SSO users, bad passwords; API
keys; tokens expiring on the simulator clock; the 401 every API route gives without them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from virtuous_simulator import VirtuousSimulator

from simulators.virtuous.tests.conftest import (
    SYNC_NAME,
    SYNC_PASSWORD,
    SYNC_USER,
    advance,
    household,
)

pytestmark = pytest.mark.anyio

DENIED = {"message": "Authorization has been denied for this request."}


async def token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/Token", data=form)


class TestPasswordGrant:
    """A plain user gets a bearer token good for 15 days."""

    async def test_token_answer(self, sim: VirtuousSimulator) -> None:
        client = sim.client()
        answer = await token(
            client, grant_type="password", username=SYNC_USER, password=SYNC_PASSWORD
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 15 * 24 * 3600
        assert body["userName"] == SYNC_USER
        assert body["twoFactorEnabled"] is False
        assert body[".issued"] == "Thu, 01 Jan 2026 09:00:00 GMT"
        assert body[".expires"] == "Fri, 16 Jan 2026 09:00:00 GMT"
        assert body["access_token"] != body["refresh_token"]
        created = await client.post(
            "/api/Contact",
            json=household(),
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        assert created.status_code == 200
        # The audit log names the user the token belongs to.
        audit = sim.contacts.get(created.json()["id"]).audit
        assert [(e.user, e.source, e.new) for e in audit] == [(SYNC_NAME, "api", "Created")]

    async def test_user_name_is_not_case_sensitive(self, sim: VirtuousSimulator) -> None:
        answer = await token(
            sim.client(), grant_type="password", username=SYNC_USER.upper(), password=SYNC_PASSWORD
        )
        assert answer.status_code == 200

    @pytest.mark.parametrize(
        ("username", "password"),
        [(SYNC_USER, "wrong"), ("nobody@example.org", SYNC_PASSWORD), (SYNC_USER, "")],
    )
    async def test_bad_password_or_user(
        self, sim: VirtuousSimulator, username: str, password: str
    ) -> None:
        answer = await token(
            sim.client(), grant_type="password", username=username, password=password
        )
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "invalid_grant",
            "error_description": "The user name or password is incorrect.",
        }

    async def test_unknown_grant_type(self, sim: VirtuousSimulator) -> None:
        answer = await token(sim.client(), grant_type="client_credentials")
        assert (answer.status_code, answer.json()) == (400, {"error": "unsupported_grant_type"})

    async def test_token_expires_after_15_days(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        assert (await api.get("/api/Webhook")).status_code == 200
        advance(sim, timedelta(days=15) - timedelta(seconds=1))
        assert (await api.get("/api/Webhook")).status_code == 200
        advance(sim, seconds=1)
        answer = await api.get("/api/Webhook")
        assert (answer.status_code, answer.json()) == (401, DENIED)


class TestRefreshGrant:
    async def test_refresh_gives_a_new_token_and_retires_the_old_refresh_token(
        self, sim: VirtuousSimulator
    ) -> None:
        client = sim.client()
        first = (
            await token(client, grant_type="password", username=SYNC_USER, password=SYNC_PASSWORD)
        ).json()
        advance(sim, days=20)  # the access token is dead
        refreshed = await token(
            client, grant_type="refresh_token", refresh_token=first["refresh_token"]
        )
        assert refreshed.status_code == 200
        new = refreshed.json()
        assert new["access_token"] != first["access_token"]
        assert (
            await client.get(
                "/api/Webhook", headers={"Authorization": f"Bearer {new['access_token']}"}
            )
        ).status_code == 200
        again = await token(
            client, grant_type="refresh_token", refresh_token=first["refresh_token"]
        )
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"

    async def test_refresh_token_expires_after_a_year(self, sim: VirtuousSimulator) -> None:
        client = sim.client()
        first = (
            await token(client, grant_type="password", username=SYNC_USER, password=SYNC_PASSWORD)
        ).json()
        advance(sim, days=366)
        answer = await token(
            client, grant_type="refresh_token", refresh_token=first["refresh_token"]
        )
        assert answer.status_code == 400
        assert "expired" in answer.json()["error_description"]


class TestUsersTheSyncCannotUse:
    """Two-factor users get 202 and a code; SSO users are refused outright."""

    async def test_two_factor_user_gets_202_then_a_token_with_the_otp(
        self, sim: VirtuousSimulator
    ) -> None:
        sim.add_user("jane@example.org", "Jane-pw", name="Jane Admin", two_factor_enabled=True)
        client = sim.client()
        form = {"grant_type": "password", "username": "jane@example.org", "password": "Jane-pw"}
        answer = await token(client, **form)
        assert answer.status_code == 202
        body = answer.json()
        assert body["twoFactorEnabled"] is True
        assert "OTP" in body["message"]
        assert "access_token" not in body
        wrong = await token(client, **form, OTP="000000x")
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_grant"
        # What Jane reads in her email, through the admin API.
        otp = (await client.get("/_admin/virtuous/users/jane@example.org/otp")).json()["otp"]
        assert len(otp) == 6
        granted = await token(client, **form, OTP=otp)
        assert granted.status_code == 200
        assert granted.json()["userName"] == "jane@example.org"
        # A code is good once.
        assert (await token(client, **form, OTP=otp)).status_code == 400

    async def test_two_factor_code_expires(self, sim: VirtuousSimulator) -> None:
        sim.add_user("jane@example.org", "Jane-pw", two_factor_enabled=True)
        client = sim.client()
        form = {"grant_type": "password", "username": "jane@example.org", "password": "Jane-pw"}
        assert (await token(client, **form)).status_code == 202
        otp = sim.auth.current_otp("jane@example.org")
        advance(sim, minutes=11)
        late = await token(client, **form, OTP=otp)
        assert late.status_code == 400
        assert "expired" in late.json()["error_description"]

    async def test_two_factor_user_with_a_wrong_password_gets_no_code(
        self, sim: VirtuousSimulator
    ) -> None:
        sim.add_user("jane@example.org", "Jane-pw", two_factor_enabled=True)
        answer = await token(
            sim.client(), grant_type="password", username="jane@example.org", password="nope"
        )
        assert answer.status_code == 400
        assert sim.auth.user("jane@example.org").otp is None  # type: ignore[union-attr]

    async def test_sso_user_is_refused_whatever_the_password(self, sim: VirtuousSimulator) -> None:
        sim.add_user("sam@example.org", "Sam-pw", sso=True)
        for password in ("Sam-pw", "anything"):
            answer = await token(
                sim.client(), grant_type="password", username="sam@example.org", password=password
            )
            assert answer.status_code == 400
            body = answer.json()
            assert body["error"] == "invalid_grant"
            assert "single sign-on (WorkOS)" in body["error_description"]
            assert "sam@example.org" in body["error_description"]


class TestBearerCredentials:
    async def test_every_api_route_needs_a_token(self, sim: VirtuousSimulator) -> None:
        client = sim.client()
        for method, path in [
            ("GET", "/api/Contact/1001"),
            ("GET", "/api/Contact/Find?email=a@b.org"),
            ("POST", "/api/Contact/Query"),
            ("POST", "/api/Contact/Transaction"),
            ("POST", "/api/v2/Gift/Transaction"),
            ("GET", "/api/Webhook"),
        ]:
            answer = await client.request(method, path)
            assert (answer.status_code, answer.json()) == (401, DENIED), path
        answer = await client.get("/api/Webhook", headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401
        answer = await client.get("/api/Webhook", headers={"Authorization": "Basic eDp5"})
        assert answer.status_code == 401

    async def test_api_key_works_as_a_bearer_token_and_names_the_audit_entries(
        self, sim: VirtuousSimulator
    ) -> None:
        client = sim.client()
        created = await client.post("/_admin/virtuous/api-keys", json={"name": "Zapier"})
        assert created.status_code == 201
        key = created.json()["key"]
        advance(sim, days=400)  # keys do not expire
        answer = await client.post(
            "/api/Contact", json=household(), headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200
        entry = sim.contacts.get(answer.json()["id"]).audit[0]
        assert (entry.user, entry.source) == ("Zapier", "api")
        # The key itself is never in the state.
        assert key not in str(sim.snapshot())

    async def test_revoking_tokens_signs_the_user_out_but_keeps_api_keys(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        key = sim.add_api_key("Zapier")
        other = sim.client(headers={"Authorization": f"Bearer {key}"})
        assert sim.auth.revoke_tokens("SYNC@example.org") == 1
        assert (await api.get("/api/Webhook")).status_code == 401
        assert (await other.get("/api/Webhook")).status_code == 200
        assert sim.auth.revoke_tokens() == 0

    async def test_removed_user_token_stops_working(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        del sim.auth.users[SYNC_USER.casefold()]
        assert (await api.get("/api/Webhook")).status_code == 401


async def test_admin_refuses_a_duplicate_user_naming_the_field(sim: VirtuousSimulator) -> None:
    client = sim.client()
    answer = await client.post(
        "/_admin/virtuous/users", json={"username": SYNC_USER, "password": "x"}
    )
    assert answer.status_code == 400
    assert "username" in answer.json()["error"]
    answer = await client.post("/_admin/virtuous/users", json={"username": "x"})
    assert answer.status_code == 422
    assert "password" in answer.json()["error"]
