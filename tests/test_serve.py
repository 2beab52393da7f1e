"""The serve app: webhook deliveries stored once, applied once, answered with their outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine
from syncframe.host import Host, HostSettings
from syncframe.serve import service_app
from tests import hook_plugin
from tests.e2e import memory_plugin
from tests.e2e.memory_plugin import MemoryStore, write_control
from tests.hook_plugin import delivery_body, sign

SECRET = "hook-secret-0a1b2c3d"
TOKEN = "store-token-4e5f6a7b"

FLOWS = """
[state]
url = "sqlite:///state.db"

[connections.hooks]
system = "hooks"
retry = { attempts = 2, initial_wait = 0, jitter = 0 }

[connections.warehouse]
system = "memory"
store = "warehouse.db"
control = "warehouse-control.json"
retry = { attempts = 2, initial_wait = 0, jitter = 0 }

[flows.contacts.source]
type = "signed_hooks"
connection = "hooks"

[flows.contacts.sink]
type = "memory_records"
connection = "warehouse"
entity = "person"

[flows.polled.source]
type = "memory_records"
connection = "warehouse"
entity = "person"

[flows.polled.sink]
type = "memory_records"
connection = "warehouse"
entity = "copy"
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    (tmp_path / "flows.toml").write_text(FLOWS)
    MemoryStore(tmp_path / "warehouse.db").set_meta("api_token", TOKEN)
    host = Host(
        plugins=[hook_plugin, memory_plugin],
        settings=HostSettings(plugins_extra=[], load_entrypoints=False),
        entry_points=False,
    )
    environ = {"SYNCFRAME_HOOKS_SECRET": SECRET, "SYNCFRAME_WAREHOUSE_API_TOKEN": TOKEN}
    config = load_config(tmp_path / "flows.toml", host.registry, environ=environ)

    async def no_wait(seconds: float) -> None:
        return None

    with Engine(config, host, clock=ManualClock(), sleep=no_wait) as built:
        yield built


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://syncframe") as http:
        yield http


def store(engine: Engine) -> MemoryStore:
    return MemoryStore(engine.config.base_dir / "warehouse.db")


def control(engine: Engine, **knobs: Any) -> None:
    write_control(engine.config.base_dir / "warehouse-control.json", **knobs)


async def deliver(
    client: httpx.AsyncClient, *events: dict[str, Any], flow: str = "contacts", secret: str = SECRET
) -> httpx.Response:
    body = delivery_body(*events)
    return await client.post(
        f"/webhooks/{flow}", content=body, headers={"X-Signature": sign(secret, body)}
    )


def event(event_id: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "contact.updated", "key": key, "fields": fields}


def applied(engine: Engine) -> list[tuple[str, str]]:
    """(change id, outcome) of every change the sink applied, in order."""
    return [(e.change_id, e.outcome) for e in store(engine).journal()]


pytestmark = pytest.mark.anyio


async def test_a_delivery_is_applied_at_once_and_answered_with_its_outcome(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    answer = await deliver(client, event("e1", "7", name="Ada"), event("e2", "8", name="Grace"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == [
        {"event_id": "e1", "outcome": "created", "reason": None},
        {"event_id": "e2", "outcome": "created", "reason": None},
    ]
    assert store(engine).records("person") == {"7": {"name": "Ada"}, "8": {"name": "Grace"}}
    assert engine.state.get_checkpoint("contacts") is not None


async def test_a_redelivery_is_answered_but_not_applied_twice(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    first = await deliver(client, event("e1", "7", name="Ada"))
    again = await deliver(client, event("e1", "7", name="Ada"))

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["events"] == [{"event_id": "e1", "outcome": "created", "reason": None}]
    assert applied(engine) == [("e1", "created")]


async def test_a_bad_signature_is_refused_and_nothing_is_stored(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    answer = await deliver(client, event("e1", "7", name="Ada"), secret="not-the-secret")

    assert answer.status_code == 401
    assert answer.json() == {"error": "X-Signature does not match the body"}
    assert engine.state.inbox_get("contacts", ["e1"]) == {}
    assert store(engine).records("person") == {}


async def test_an_unreadable_body_is_refused_with_400(client: httpx.AsyncClient) -> None:
    body = b"{not json"
    answer = await client.post(
        "/webhooks/contacts", content=body, headers={"X-Signature": sign(SECRET, body)}
    )

    assert answer.status_code == 400
    assert answer.json()["error"].startswith("body is not a JSON delivery")


@pytest.mark.parametrize("flow", ["nowhere", "polled"])
async def test_flows_that_take_no_webhooks_answer_404(client: httpx.AsyncClient, flow: str) -> None:
    answer = await deliver(client, event("e1", "7", name="Ada"), flow=flow)

    assert answer.status_code == 404
    assert answer.json()["error"] == (
        f"no flow {flow!r} takes webhooks here; flows that do: contacts"
    )


async def test_ignored_and_empty_events_are_answered_200(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    ping = await deliver(client, {"id": "p1", "type": "ping"})
    note = await deliver(client, {"id": "n1", "type": "note"})

    assert (ping.status_code, ping.json()["events"]) == (200, [])
    assert note.status_code == 200
    assert note.json()["events"] == [
        {
            "event_id": "n1",
            "outcome": "skipped",
            "reason": "the event carries no change",
        }
    ]
    assert applied(engine) == []


async def test_a_target_that_stays_down_gets_503_and_the_event_waits_in_the_inbox(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    control(engine, transient=5)  # more than the 2 tries of the connection

    down = await deliver(client, event("e1", "7", name="Ada"))

    assert down.status_code == 503
    assert down.headers["Retry-After"] == "60"
    assert down.json()["events"] == [{"event_id": "e1", "outcome": "pending", "reason": None}]
    assert "memory store is busy" in down.json()["error"]
    assert store(engine).records("person") == {}

    control(engine)  # the target is back
    again = await deliver(client, event("e1", "7", name="Ada"))

    assert again.status_code == 200
    assert again.json()["events"][0]["outcome"] == "created"
    assert applied(engine) == [("e1", "created")]


async def test_a_scheduled_run_picks_up_what_a_failed_delivery_left(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    control(engine, transient=5)
    assert (await deliver(client, event("e1", "7", name="Ada"))).status_code == 503
    control(engine)

    report = await client._transport.app.state.service.run("contacts")  # type: ignore[attr-defined]

    assert report.summary.status == "succeeded"
    assert store(engine).records("person") == {"7": {"name": "Ada"}}
    assert engine.state.inbox_get("contacts", ["e1"])["e1"].outcome == "created"
    # ...and the sender's retry is then answered without applying it again.
    assert (await deliver(client, event("e1", "7", name="Ada"))).status_code == 200
    assert applied(engine) == [("e1", "created")]


async def test_a_rejected_event_is_kept_with_its_reason_and_a_redelivery_retries_it(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    control(engine, poison="poison")

    refused = await deliver(
        client, event("e1", "7", name="Ada", status="poison"), event("e2", "8", name="Grace")
    )

    assert refused.status_code == 422
    outcomes = {e["event_id"]: e for e in refused.json()["events"]}
    assert outcomes["e2"]["outcome"] == "created"
    assert outcomes["e1"]["outcome"] == "failed"
    assert "refuses records with status 'poison'" in outcomes["e1"]["reason"]
    [failed] = engine.state.list_failed(flow="contacts")
    assert failed.change_id == "e1"

    control(engine, poison="nothing-is-poison-now")
    retried = await deliver(client, event("e1", "7", name="Ada", status="poison"))

    assert retried.status_code == 200, retried.text
    assert retried.json()["events"][0]["outcome"] == "created"
    assert engine.state.list_failed(flow="contacts") == []
    assert store(engine).records("person")["7"] == {"name": "Ada", "status": "poison"}
    assert sorted(applied(engine)) == [("e1", "created"), ("e2", "created")]


async def test_health_lists_what_is_served(client: httpx.AsyncClient) -> None:
    answer = await client.get("/health")

    assert answer.json()["webhook_flows"] == ["contacts"]
    assert answer.json()["scheduled_flows"] == []


async def test_old_events_the_flow_read_are_forgotten(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    assert (await deliver(client, event("e1", "7", name="Ada"))).status_code == 200
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=31))

    assert (await deliver(client, event("e2", "8", name="Grace"))).status_code == 200

    assert set(engine.state.inbox_get("contacts", ["e1", "e2"])) == {"e2"}


async def test_a_retry_from_the_command_line_settles_the_event_for_later_redeliveries(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    control(engine, poison="poison")
    assert (await deliver(client, event("e1", "7", status="poison"))).status_code == 422
    control(engine, poison="nothing-is-poison-now")

    [report] = await engine.retry_failed(flow="contacts")  # what `syncframe retry` does

    assert report.summary.counts == {"created": 1}
    assert engine.state.inbox_get("contacts", ["e1"])["e1"].outcome == "created"
    again = await deliver(client, event("e1", "7", status="poison"))
    assert again.status_code == 200
    assert again.json()["events"][0]["outcome"] == "created"
    assert applied(engine) == [("e1", "created")]


async def test_deliveries_arriving_together_share_runs(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    control(engine, write_delay=0.01)  # the sink is slow: deliveries pile up behind a run
    answers: list[httpx.Response] = []

    async def send(n: int) -> None:
        answers.append(await deliver(client, event(f"e{n}", str(n), name=f"P{n}")))

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(send, n)

    assert sorted(a.status_code for a in answers) == [200] * 20
    assert len(store(engine).records("person")) == 20
    assert sorted(applied(engine)) == sorted((f"e{n}", "created") for n in range(20))
    runs = engine.state.list_runs(flow="contacts", limit=100)
    assert len(runs) < 20


async def test_a_get_checks_the_webhook_url_as_mailchimp_does(client: httpx.AsyncClient) -> None:
    assert (await client.get("/webhooks/contacts")).json() == {
        "flow": "contacts",
        "accepts": "POST",
    }
    assert (await client.get("/webhooks/polled")).status_code == 404
