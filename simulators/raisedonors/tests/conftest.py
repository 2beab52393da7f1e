"""Shared fixtures of the Legacy RaiseDonors simulator tests: a simulator with the sync's API
client and three donors, and the API as the sync calls it (authorized, in-process)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from raisedonors_simulator import RaiseDonorsSimulator, realm_token

from syncframe.clock import ManualClock

KEY = "sync-key"
SECRET = "s3cret"
CLIENT_NAME = "Virtuous CRM+ Sync"

ANN_ADDRESS = {
    "address1": "12 Oak St",
    "address2": "Apt 4",
    "city": "Austin",
    "state": "TX",
    "postalCode": "78701",
    "country": "US",
}
ANN = {
    "firstName": "Ann",
    "lastName": "Lee",
    "email": "Ann.Lee@example.org",
    "phone": "(512) 555-0100",
    "primaryAddress": ANN_ADDRESS,
}
BEN = {
    "firstName": "Ben",
    "lastName": "Okafor",
    "email": "ben@example.org",
    "phone": "(303) 555-0142",
    "primaryAddress": {
        "address1": "900 Elm St",
        "city": "Denver",
        "state": "CO",
        "postalCode": "80202",
        "country": "US",
    },
    "otherAddresses": [
        {"address1": "1 Lake Rd", "city": "Vail", "state": "CO", "postalCode": "81657"}
    ],
    "otherPhones": [{"number": "(303) 555-0199", "type": "Mobile"}],
    "virtuousContactId": "7001",
}
RIVERBEND = {
    "organizationName": "Riverbend Community Foundation",
    "firstName": "Cara",
    "lastName": "Diaz",
    "email": "giving@riverbend.example.org",
}
ANN_ID, BEN_ID, RIVERBEND_ID = 100_001, 100_002, 100_003


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim(raisedonors_simulator: Any) -> RaiseDonorsSimulator:
    """The fixture simulator with the sync's API client and three donors (Ann, Ben with a
    second address and phone, the Riverbend foundation)."""
    assert isinstance(raisedonors_simulator, RaiseDonorsSimulator)
    raisedonors_simulator.seed_records(
        {
            "api_clients": [{"key": KEY, "secret": SECRET, "name": CLIENT_NAME}],
            "donors": [ANN, BEN, RIVERBEND],
        }
    )
    return raisedonors_simulator


@pytest.fixture
def clock(sim: RaiseDonorsSimulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The ProblemDetails body of an error answer, checked for shape and status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://tools.ietf.org/html/rfc")
    assert body["title"]
    assert body["detail"]
    return body


@dataclass
class Api:
    """The RaiseDonors API as the sync calls it, through an in-process client."""

    sim: RaiseDonorsSimulator
    http: httpx.AsyncClient
    token: str | None = None

    async def authorize(self, key: str = KEY, secret: str = SECRET) -> dict[str, Any]:
        response = await self.http.get(
            "/oauth/authorize",
            params={"client_id": key, "grant_type": "client_credentials"},
            headers={"Authorization": realm_token(key, secret, self.sim.clock.now().date())},
        )
        assert response.status_code == 200, response.text
        grant: dict[str, Any] = response.json()
        self.token = grant["access_token"]
        return grant

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.request("GET", path, params=params)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.request("PATCH", path, json=body)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.request("POST", path, json=body)

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self.request("PUT", path, json=body)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()


@pytest.fixture
async def api(sim: RaiseDonorsSimulator) -> Api:
    """The API, authorized as the sync's API client."""
    client = Api(sim, sim.client())
    await client.authorize()
    return client


async def admin_call(sim: RaiseDonorsSimulator, method: str, path: str, **kwargs: Any) -> Any:
    """An admin route of the simulator (``/_admin/raisedonors...``); the raw response."""
    client = sim.client()
    return await client.request(method, f"/_admin/raisedonors{path}", **kwargs)
