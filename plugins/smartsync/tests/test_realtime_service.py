"""The real-time API inside ``syncframe serve``: a sign-up posted to /apis/execute.php creates a
constituent in the RE NXT simulator and answers with its step log; a replay is not applied twice;
a polling flow runs on a GET; the API is refused until the account enables it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from re_nxt_simulator import ReNxtSimulator
from syncframe_smartsync import plugin as smartsync_plugin
from syncframe_smartsync.realtime_api import sign

from plugins.smartsync.tests.re_nxt_helpers import (
    CONNECTION,
    add_constituent,
    connection_settings,
    make_simulator,
)
from syncframe.config import load_config
from syncframe.engine import Engine
from syncframe.host import Host
from syncframe.serve import service_app
from syncframe.state import open_state

pytestmark = pytest.mark.anyio

KEY, SECRET = "k-7f3a9c2e41", "s-0b8d6e5f7a9c"


def flows(enabled: bool) -> dict[str, Any]:
    return {
        "state": {"url": "sqlite:///state.db"},
        "connections": {
            "account": {"system": "smartsync_account", "api_enabled": enabled},
            CONNECTION: {"system": "re_nxt"},
        },
        "flows": {
            "signup": {
                "kind": "smartsync",
                "flow_id": 71,
                "steps": [
                    {"step": "event", "name": "Sign-up posted", "trigger": "api"},
                    {"step": "search", "name": "by email", "by": "email", "normalize": "lower"},
                    {
                        "step": "action",
                        "name": "create or update constituent",
                        "type": "re_nxt_constituents",
                        "connection": CONNECTION,
                        "fields": {
                            "email": "email",
                            "first_name": "first_name",
                            "last_name": "last_name",
                        },
                    },
                ],
            },
        },
    }


class Served:
    def __init__(self, simulator: ReNxtSimulator, client: httpx.AsyncClient) -> None:
        self.simulator = simulator
        self.client = client

    async def call(self, method: str, params: dict[str, Any], **kwargs: Any) -> httpx.Response:
        signed = sign(params, KEY, SECRET, self.simulator.clock.now())
        if method == "GET":
            return await self.client.get("/apis/execute.php", params=signed)
        return await self.client.post("/apis/execute.php", data=signed, **kwargs)

    def constituents(self, email: str) -> list[dict[str, Any]]:
        with self.simulator.lock:
            found = self.simulator.store.snapshot()["constituents"]
        return [c for c in found if any(e["address"] == email for e in c["email_addresses"])]


async def serve(tmp_path: Path, *, enabled: bool = True) -> AsyncIterator[Served]:
    simulator = make_simulator()
    document = flows(enabled)
    settings = connection_settings(simulator)
    secrets = {k: settings.pop(k) for k in ("client_secret", "refresh_token", "subscription_key")}
    document["connections"][CONNECTION].update(settings)
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    environ = {f"SYNCFRAME_RE_{k.upper()}": v for k, v in secrets.items()}
    environ |= {"SYNCFRAME_ACCOUNT_API_KEY": KEY, "SYNCFRAME_ACCOUNT_API_SECRET": SECRET}
    host = Host(plugins=[smartsync_plugin], entry_points=False)
    engine = Engine(
        load_config(path, host.registry, environ=environ),
        host,
        clock=simulator.clock,
        state=open_state(f"sqlite:///{tmp_path / 'state.db'}", clock=simulator.clock),
        transport=simulator.transport(),
    )
    app = service_app(engine)
    with engine:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://serve"
        ) as client:
            yield Served(simulator, client)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async for world in serve(tmp_path):
        yield world


async def test_a_signup_creates_the_constituent_and_answers_with_its_steps(
    served: Served,
) -> None:
    fields = {"flow": 71, "email": "ada@example.org", "first_name": "Ada", "last_name": "Byron"}

    answer = await served.call("POST", fields)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["success"], body["flow"], body["counts"]) == (True, 71, {"created": 1})
    [result] = body["results"]
    assert [(s["step"], s["outcome"]) for s in result["steps"]] == [
        ("Sign-up posted", "read"),
        ("loop protection", "passed"),
        ("by email", "create"),
        ("create or update constituent", "created"),
    ]
    [created] = served.constituents("ada@example.org")
    assert (created["first"], created["last"]) == ("Ada", "Byron")
    assert result["target"] == created["id"]


async def test_an_exact_replay_is_not_applied_twice(served: Served) -> None:
    signed = sign(
        {"flow": 71, "email": "eve@example.org", "last_name": "Replay"},
        KEY,
        SECRET,
        served.simulator.clock.now(),
    )
    first = await served.client.post("/apis/execute.php", data=signed)
    again = await served.client.post("/apis/execute.php", data=signed)

    assert first.status_code == again.status_code == 200
    assert again.json()["results"][0]["replayed"] is True
    assert len(served.constituents("eve@example.org")) == 1


async def test_a_second_signup_updates_the_constituent_found_by_email(served: Served) -> None:
    existing = add_constituent(
        served.simulator,
        type="Individual",
        first="Grace",
        last="Hopper",
        email={"address": "grace@example.org", "type": "Email"},
    )

    answer = await served.call(
        "POST", {"flow": 71, "email": "GRACE@example.org", "first_name": "Amazing Grace"}
    )

    [result] = answer.json()["results"]
    assert (result["outcome"], result["target"]) == ("updated", existing.id)
    [found] = served.constituents("grace@example.org")
    assert found["first"] == "Amazing Grace"


async def test_the_webhook_door_of_an_api_flow_is_shut(served: Served) -> None:
    answer = await served.client.post("/webhooks/signup", json={"email": "x@example.org"})
    assert answer.status_code == 401
    assert "real-time API" in answer.json()["error"]


async def test_unknown_flow_and_data_less_post(served: Served) -> None:
    unknown = await served.call("GET", {"flow": 99})
    assert unknown.status_code == 404
    assert unknown.json() == {
        "success": False,
        "error": unknown.json()["error"],
    }
    assert "Flow ID 99" in unknown.json()["error"]


async def test_the_api_is_refused_until_the_account_enables_it(tmp_path: Path) -> None:
    async for world in serve(tmp_path, enabled=False):
        answer = await world.call("POST", {"flow": 71, "email": "no@example.org"})
        assert answer.status_code == 403
        assert answer.json()["success"] is False
        assert world.constituents("no@example.org") == []


async def test_data_without_the_key_field_is_the_callers_mistake(served: Served) -> None:
    answer = await served.call("POST", {"flow": 71, "first_name": "Nobody"})
    assert answer.status_code == 400
    assert "has no 'email' field" in answer.json()["error"]
