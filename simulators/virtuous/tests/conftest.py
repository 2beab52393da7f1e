"""Shared fixtures of the Virtuous simulator tests: a signed-in API client and a webhook
receiver (a small Starlette app reached through ``httpx.ASGITransport``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from virtuous_simulator import VirtuousSimulator

from syncframe.clock import ManualClock

SYNC_USER = "sync@example.org"
SYNC_PASSWORD = "Sync-Pa55word"
SYNC_NAME = "RaiseDonors Sync"
RECEIVER_URL = "http://receiver.test/webhooks/virtuous"
SECRET = "whsec-test-secret"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Delivery:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.body)
        return data

    def signature_valid(self, secret: str) -> bool:
        digest = hmac.new(secret.encode(), self.body, hashlib.sha256).digest()
        return hmac.compare_digest(
            base64.b64encode(digest).decode(), self.headers.get("x-virtuous-signature", "")
        )


@dataclass
class Receiver:
    """A webhook endpoint that records every delivery and answers with ``statuses`` in turn
    (then 200)."""

    statuses: list[int] = field(default_factory=list)
    answer_text: str = "ok"
    deliveries: list[Delivery] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.deliveries.append(Delivery(dict(request.headers), await request.body()))
            status = self.statuses.pop(0) if self.statuses else 200
            return PlainTextResponse(self.answer_text if status >= 300 else "ok", status)

        return Starlette(routes=[Route("/webhooks/virtuous", hook, methods=["POST"])])

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app())

    def events(self) -> list[dict[str, Any]]:
        return [delivery.json for delivery in self.deliveries]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def sim(virtuous_simulator: VirtuousSimulator, receiver: Receiver) -> VirtuousSimulator:
    """The registered simulator (pytest fixture of the kit) with a sync user, delivering
    webhooks to :class:`Receiver`."""
    virtuous_simulator.add_user(SYNC_USER, SYNC_PASSWORD, name=SYNC_NAME)
    virtuous_simulator.webhook_transport = receiver.transport()
    return virtuous_simulator


async def sign_in(sim: VirtuousSimulator, client: httpx.AsyncClient) -> str:
    answer = await client.post(
        "/Token",
        data={"grant_type": "password", "username": SYNC_USER, "password": SYNC_PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture
async def api(sim: VirtuousSimulator) -> httpx.AsyncClient:
    """An in-process client signed in as the sync user."""
    client = sim.client()
    token = await sign_in(sim, client)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture
async def admin(sim: VirtuousSimulator) -> httpx.AsyncClient:
    """A raw in-process client for the admin routes (answers inspected by the tests)."""
    return sim.client(base_url=sim.base_url + "/_admin/virtuous")


def household(
    first: str = "Ann",
    last: str = "Baker",
    *,
    email: str | None = "ann.baker@example.org",
    phone: str | None = "(512) 555-0100",
    reference_id: str | None = "100001",
    city: str = "Austin",
) -> dict[str, Any]:
    """A household contact as ``POST /api/Contact`` takes it."""
    methods = []
    if email is not None:
        methods.append({"type": "Home Email", "value": email, "isPrimary": True})
    if phone is not None:
        methods.append({"type": "Home Phone", "value": phone, "isPrimary": True})
    contact: dict[str, Any] = {
        "contactType": "Household",
        "address": {
            "address1": "12 Elm Street",
            "city": city,
            "state": "TX",
            "postal": "78701",
            "country": "United States",
        },
        "contactIndividuals": [
            {"firstName": first, "lastName": last, "isPrimary": True, "contactMethods": methods}
        ],
    }
    if reference_id is not None:
        contact["referenceSource"] = "Legacy RaiseDonors"
        contact["referenceId"] = reference_id
    return contact


def advance(sim: VirtuousSimulator, delta: timedelta | None = None, **kwargs: float) -> None:
    """Move the simulator's manual clock (the kit's ``sim_clock``)."""
    assert isinstance(sim.clock, ManualClock)
    sim.clock.advance(delta, **kwargs)


def subscribe(sim: VirtuousSimulator, *events: str) -> None:
    sim.subscribe_webhook(RECEIVER_URL, events or ("ContactCreate", "ContactUpdate"), secret=SECRET)
