"""The organization's hourly rate limit: headers on every answer, 429 with Retry-After past it,
a budget shared by every credential, configurable (5,000 by default, 1,500 settable)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from virtuous_simulator import VirtuousSimulator

from simulators.virtuous.tests.conftest import (
    Receiver,
    advance,
    household,
    sign_in,
    subscribe,
)

pytestmark = pytest.mark.anyio

#: 2026-01-01T10:00Z, the end of the clock hour the tests start in.
NEXT_HOUR = int(datetime(2026, 1, 1, 10, 0, tzinfo=UTC).timestamp())


def limit_headers(answer: httpx.Response) -> tuple[int, int, int]:
    return (
        int(answer.headers["X-RateLimit-Limit"]),
        int(answer.headers["X-RateLimit-Remaining"]),
        int(answer.headers["X-RateLimit-Reset"]),
    )


async def test_headers_count_down_on_every_answer(
    sim: VirtuousSimulator, api: httpx.AsyncClient
) -> None:
    assert limit_headers(await api.get("/api/Webhook")) == (5000, 4999, NEXT_HOUR)
    missing = await api.get("/api/Contact/999")
    assert missing.status_code == 404
    assert limit_headers(missing) == (5000, 4998, NEXT_HOUR)
    # The /Token call and refused credentials do not count, but still carry the headers.
    refused = await sim.client().get("/api/Webhook")
    assert refused.status_code == 401
    assert limit_headers(refused) == (5000, 4998, NEXT_HOUR)
    assert sim.rate_limit.used == 2


async def test_over_the_limit_is_429_with_retry_after_until_the_hour_ends(
    virtuous_simulator: VirtuousSimulator,
) -> None:
    sim = virtuous_simulator
    sim.set_rate_limit(3)
    key = sim.add_api_key("Zapier")
    client = sim.client(headers={"Authorization": f"Bearer {key}"})
    advance(sim, minutes=20)  # 09:20: 40 minutes left in the window
    for remaining in (2, 1, 0):
        answer = await client.get("/api/Webhook")
        assert answer.status_code == 200
        assert limit_headers(answer)[1] == remaining
    over = await client.post("/api/Contact", json=household())
    assert over.status_code == 429
    assert over.headers["Retry-After"] == str(40 * 60)
    assert "rate limit" in over.json()["message"]
    assert limit_headers(over) == (3, 0, NEXT_HOUR)
    assert sim.contacts.contacts == {}  # the refused request changed nothing
    advance(sim, minutes=40)
    again = await client.get("/api/Webhook")
    assert again.status_code == 200
    assert limit_headers(again) == (3, 2, NEXT_HOUR + 3600)


async def test_the_budget_is_shared_by_every_user_and_key(
    sim: VirtuousSimulator, api: httpx.AsyncClient
) -> None:
    sim.set_rate_limit(2)
    key = sim.add_api_key("Other integration")
    other = sim.client(headers={"Authorization": f"Bearer {key}"})
    assert (await api.get("/api/Webhook")).status_code == 200
    assert (await other.get("/api/Webhook")).status_code == 200
    assert (await api.get("/api/Webhook")).status_code == 429
    assert (await other.get("/api/Webhook")).status_code == 429


async def test_the_older_1500_figure_is_settable_in_the_constructor_and_admin_api(
    simulator_factory: object,
) -> None:
    make = simulator_factory
    assert callable(make)
    sim = make("virtuous", rate_limit_per_hour=1500)
    assert isinstance(sim, VirtuousSimulator)
    key = sim.add_api_key("k")
    answer = await sim.client().get("/api/Webhook", headers={"Authorization": f"Bearer {key}"})
    assert limit_headers(answer)[:2] == (1500, 1499)
    admin = sim.client(base_url=sim.base_url + "/_admin/virtuous")
    changed = await admin.put("/rate-limit", json={"perHour": 5000})
    assert changed.json()["perHour"] == 5000
    assert changed.json()["used"] == 1  # requests made this hour still count
    refused = await admin.put("/rate-limit", json={"perHour": 0})
    assert refused.status_code == 422
    assert "perHour" in refused.json()["error"]
    # A reset goes back to the constructor's figure.
    sim.reset_all()
    assert sim.rate_limit.per_hour == 1500


async def test_webhook_deliveries_do_not_count(
    sim: VirtuousSimulator, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    subscribe(sim)
    await api.post("/api/Contact", json=household())
    used = sim.rate_limit.used
    report = await sim.deliver_webhooks()
    assert report.delivered == 1
    assert len(receiver.deliveries) == 1
    assert sim.rate_limit.used == used


async def test_a_new_sign_in_does_not_reset_the_count(sim: VirtuousSimulator) -> None:
    sim.set_rate_limit(1)
    client = sim.client()
    client.headers["Authorization"] = f"Bearer {await sign_in(sim, client)}"
    assert (await client.get("/api/Webhook")).status_code == 200
    client.headers["Authorization"] = f"Bearer {await sign_in(sim, client)}"
    assert (await client.get("/api/Webhook")).status_code == 429
