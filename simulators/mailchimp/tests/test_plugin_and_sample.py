"""Registration (fixture, ``syncframe simulate``), background webhook delivery when served, and
the sample audience."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from mailchimp_simulator import DEFAULT_API_KEY, MailchimpSimulator
from mailchimp_simulator.plugin import create_simulator
from mailchimp_simulator.sample import populate, sample_people, seed_payload
from syncframe_simulators import RunningServer
from typer.testing import CliRunner

from simulators.mailchimp.tests.conftest import HOOK_URL, LIST, WebhookReceiver
from syncframe.cli import build_app
from syncframe.clock import ManualClock, SystemClock


def test_the_fixture_is_a_fresh_simulator_on_the_test_clock(
    mailchimp_simulator: MailchimpSimulator, sim_clock: ManualClock
) -> None:
    assert isinstance(mailchimp_simulator, MailchimpSimulator)
    assert mailchimp_simulator.clock is sim_clock
    assert mailchimp_simulator.auto_deliver is False  # tests send webhooks themselves


def test_syncframe_simulate_lists_mailchimp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFRAME_PLUGINS_ALLOW", "simulators,mailchimp_simulator")
    monkeypatch.delenv("SYNCFRAME_PLUGINS_EXTRA", raising=False)
    result = CliRunner().invoke(build_app(), ["simulate", "--list"])
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "│ mailchimp " in line]
    assert "mailchimp_simulator" in row
    assert "Mailchimp Marketing API v3" in row


def test_served_with_a_real_clock_it_delivers_webhooks_by_itself(
    serve_simulator: Callable[[MailchimpSimulator], RunningServer],
) -> None:
    sim = create_simulator(clock=SystemClock())
    assert sim.auto_deliver is True
    receiver = WebhookReceiver()
    sim.webhook_transport = receiver.transport()
    server = serve_simulator(sim)
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        hook = client.post(
            f"/3.0/lists/{LIST}/webhooks", json={"url": HOOK_URL}, auth=("u", DEFAULT_API_KEY)
        )
        assert hook.status_code == 200, hook.text
        signup = client.post(
            f"/_admin/mailchimp/lists/{LIST}/signup", json={"email_address": "ann@example.org"}
        )
        assert signup.status_code == 201, signup.text
    deadline = time.monotonic() + 5
    while not receiver.posts() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(p["type"], p["data[email]"]) for p in receiver.posts()] == [
        ("subscribe", "ann@example.org")
    ]


def test_the_same_seed_gives_the_same_people() -> None:
    assert sample_people(50, seed=3) == sample_people(50, seed=3)
    assert sample_people(50, seed=3) != sample_people(50, seed=4)
    people = sample_people(500)
    assert len({p.email for p in people}) == 500
    with_ids = [p.constituent_id for p in people if p.constituent_id is not None]
    assert with_ids[:3] == ["10001", "10002", "10003"]
    assert 300 < len(with_ids) < 500  # some contacts exist only in Mailchimp


def test_populate_loads_every_status_with_consid_and_a_trickle_of_changes(
    sim_clock: ManualClock,
) -> None:
    sim = MailchimpSimulator(clock=sim_clock)
    sample = populate(sim, members=300)
    audience = sim.account.audiences[LIST]
    assert len(audience.members) == 300
    assert {m.status for m in audience.members.values()} == {
        "subscribed",
        "unsubscribed",
        "cleaned",
        "pending",
        "transactional",
        "archived",
    }
    assert audience.merge_field_by_tag("CONSID") is not None
    assert sample.emails("archived") == sorted(
        (m.email_address for m in audience.members.values() if m.status == "archived"),
        key=[p.email for p in sample.people].index,
    )
    changes = sorted(m.last_changed for m in audience.members.values())
    assert changes[-1] < sim_clock.now()
    assert (sim_clock.now() - changes[0]).days == 30
    assert sim.outbox.deliveries == {}  # seeding fires no webhook
    # The seed payload is what POST /_admin/seed takes, and is JSON-able as it is.
    payload, _ = seed_payload(5)
    assert payload["lists"][0]["merge_fields"] == [
        {"tag": "CONSID", "name": "RE Constituent ID", "type": "text"}
    ]
