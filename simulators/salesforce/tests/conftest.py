"""Shared fixtures of the Salesforce simulator tests: an org with an integration user, and an
API client holding its session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from salesforce_simulator import SalesforceSimulator

API = "/services/data/v59.0"
USERNAME = "integration@example.org"
PASSWORD = "pa55word"
SECURITY_TOKEN = "TOKEN123"
CLIENT_ID = "3MVG9test.connector"
CLIENT_SECRET = "consumer-secret"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Org:
    """An org's simulator, an API client with a bearer token, and the admin client."""

    sim: SalesforceSimulator
    http: httpx.AsyncClient
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{API}{path}", params=params, headers=self.auth)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"{API}{path}", json=body, headers=self.auth)

    async def patch(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return await self.http.patch(f"{API}{path}", json=body, params=params, headers=self.auth)

    async def delete(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.delete(f"{API}{path}", params=params, headers=self.auth)

    async def query(self, soql: str, *, all_rows: bool = False, **headers: str) -> httpx.Response:
        resource = "/queryAll/" if all_rows else "/query/"
        return await self.http.get(
            f"{API}{resource}", params={"q": soql}, headers={**self.auth, **headers}
        )

    async def create(self, **fields: Any) -> str:
        """Create a Contact through the API; its id."""
        answer = await self.post("/sobjects/Contact/", fields)
        assert answer.status_code == 201, answer.text
        record_id: str = answer.json()["id"]
        return record_id

    async def log_in_again(self) -> None:
        """A new session, after the clock moved past the old one's timeout."""
        self.token = await open_session(self.sim)

    def stored(self, record_id: str) -> dict[str, Any]:
        """What the org holds for a Contact, as the admin state shows it."""
        [record] = [c for c in self.sim.snapshot()["contacts"] if c["Id"] == record_id]
        return record


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    """``(status, errorCode, message)`` of a one-item Salesforce error list."""
    body = answer.json()
    assert isinstance(body, list), answer.text
    [item] = body
    return answer.status_code, item["errorCode"], item["message"]


async def open_session(sim: SalesforceSimulator, username: str = USERNAME) -> str:
    async with sim.admin() as admin:
        session: Mapping[str, Any] = await admin.post(
            "/salesforce/sessions", {"username": username}
        )
    return str(session["access_token"])


@pytest.fixture
async def org(salesforce_simulator: SalesforceSimulator) -> Org:
    """The simulator with the integration user and a connected app, and a client logged in as
    that user (a session handed out by the admin API)."""
    sim = salesforce_simulator
    sim.add_user(USERNAME, PASSWORD, security_token=SECURITY_TOKEN, name="Integration User")
    sim.add_connected_app(CLIENT_ID, CLIENT_SECRET, run_as=USERNAME)
    return Org(sim, sim.client(), await open_session(sim))
