"""Authentication: the daily realm token, bearer tokens that expire on the simulator clock, and
refresh tokens that are good for one refresh."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from raisedonors_simulator import RaiseDonorsSimulator, realm_token

from simulators.raisedonors.tests.conftest import CLIENT_NAME, KEY, SECRET, Api, problem
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


def test_realm_token_is_the_sdks() -> None:
    # Computed outside Python: printf 'sync-key:s3cret@2026-01-01' | md5sum | (hex) | base64
    assert realm_token(KEY, SECRET, date(2026, 1, 1)) == (
        "sync-key:MmNlYTU0NDg4OGE4ZGU0ZmY5NjNiNDhiNjIyOWNkYWQ="
    )
    assert realm_token(KEY, SECRET, date(2026, 1, 2)) == (
        "sync-key:OGM5NjE0YjBmMTA0NTZlMWVmYzlmNTU5NDhlODg4MzM="
    )


async def authorize(
    sim: RaiseDonorsSimulator,
    header: str | None,
    client_id: str = KEY,
    grant: str = "client_credentials",
) -> httpx.Response:
    headers = {"Authorization": header} if header is not None else {}
    return await sim.client().get(
        "/oauth/authorize", params={"client_id": client_id, "grant_type": grant}, headers=headers
    )


class TestAuthorize:
    """``GET /oauth/authorize`` with the realm token."""

    async def test_grants_a_token_pair_for_an_hour(self, sim: RaiseDonorsSimulator) -> None:
        api = Api(sim, sim.client())
        grant = await api.authorize()
        assert grant["expires_in"] == 3600
        assert grant["token_type"] == "bearer"
        assert grant["access_token"] != grant["refresh_token"]
        assert (await api.get("/api/Donor/100001")).status_code == 200
        [client] = sim.snapshot()["api_clients"]
        assert client == {"key": KEY, "name": CLIENT_NAME, "liveTokens": 1}

    async def test_a_wrong_secret_is_refused(self, sim: RaiseDonorsSimulator) -> None:
        response = await authorize(sim, realm_token(KEY, "guess", sim.clock.now().date()))
        body = problem(response, 401)
        assert "realm token" in body["detail"]
        assert "2026-01-01" in body["detail"]
        assert sim.snapshot()["api_clients"][0]["liveTokens"] == 0

    async def test_yesterdays_realm_token_is_refused(
        self, sim: RaiseDonorsSimulator, clock: ManualClock
    ) -> None:
        yesterday = realm_token(KEY, SECRET, clock.now().date())
        clock.advance(days=1)
        problem(await authorize(sim, yesterday), 401)
        today = realm_token(KEY, SECRET, clock.now().date())
        assert (await authorize(sim, today)).status_code == 200

    async def test_no_header_unknown_client_and_grant_type(self, sim: RaiseDonorsSimulator) -> None:
        assert (
            "Authorization header is missing" in problem(await authorize(sim, None), 401)["detail"]
        )
        token = realm_token("other", SECRET, sim.clock.now().date())
        assert "'other'" in problem(await authorize(sim, token, client_id="other"), 401)["detail"]
        good = realm_token(KEY, SECRET, sim.clock.now().date())
        body = problem(await authorize(sim, good, grant="password"), 400)
        assert list(body["errors"]) == ["grant_type"]


class TestBearer:
    """API calls with ``Authorization: Bearer``."""

    async def test_missing_unknown_and_malformed_tokens(self, sim: RaiseDonorsSimulator) -> None:
        api = Api(sim, sim.client())
        body = problem(await api.get("/api/Donor/100001"), 401)
        assert "Bearer" in body["detail"]
        api.token = "not-a-token"
        response = await api.get("/api/Donor/100001")
        assert problem(response, 401)["detail"] == "The access token is not valid."
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        response = await api.request(
            "GET", "/api/Donor/100001", headers={"Authorization": "Basic abc"}
        )
        assert "Bearer <access token>" in problem(response, 401)["detail"]

    async def test_a_token_expires_after_an_hour_of_simulator_time(
        self, api: Api, clock: ManualClock
    ) -> None:
        clock.advance(minutes=59, seconds=59)
        assert (await api.get("/api/Activity/list")).status_code == 200
        clock.advance(seconds=1)
        body = problem(await api.get("/api/Activity/list"), 401)
        assert "expired at 2026-01-01T10:00:00Z" in body["detail"]
        # Still refused afterwards (the expired token is forgotten, not revived).
        assert problem(await api.get("/api/Activity/list"), 401)["detail"] == (
            "The access token is not valid."
        )


class TestRefresh:
    """``POST /oauth/token?grant_type=refresh_token``."""

    async def refresh(self, api: Api, token: str, client_id: str = KEY) -> httpx.Response:
        return await api.http.post(
            "/oauth/token",
            params={
                "client_id": client_id,
                "grant_type": "refresh_token",
                "refresh_token": token,
            },
        )

    async def test_refresh_gives_a_new_pair_once(self, api: Api, clock: ManualClock) -> None:
        first = await api.authorize()
        clock.advance(hours=2)
        response = await self.refresh(api, first["refresh_token"])
        grant = response.json()
        assert response.status_code == 200
        assert grant["expires_in"] == 3600
        assert {grant["access_token"], grant["refresh_token"]}.isdisjoint(first.values())
        api.token = grant["access_token"]
        assert (await api.get("/api/Donor/100001")).status_code == 200
        again = await self.refresh(api, first["refresh_token"])
        assert "already used" in problem(again, 401)["detail"]

    async def test_refresh_is_tied_to_its_client(self, api: Api, sim: RaiseDonorsSimulator) -> None:
        sim.account.auth.add_client("other", "pw", "Other app")
        grant = await api.authorize()
        problem(await self.refresh(api, grant["refresh_token"], client_id="other"), 401)

    async def test_expired_refresh_token(self, api: Api, clock: ManualClock) -> None:
        grant = await api.authorize()
        clock.advance(timedelta(days=14))
        body = problem(await self.refresh(api, grant["refresh_token"]), 401)
        assert "expired" in body["detail"]

    async def test_form_body_and_missing_token(self, api: Api) -> None:
        grant = await api.authorize()
        response = await api.http.post(
            "/oauth/token",
            data={
                "client_id": KEY,
                "grant_type": "refresh_token",
                "refresh_token": grant["refresh_token"],
            },
        )
        assert response.status_code == 200
        missing = await api.http.post(
            "/oauth/token", params={"client_id": KEY, "grant_type": "refresh_token"}
        )
        assert list(problem(missing, 400)["errors"]) == ["refresh_token"]
