"""Seed, snapshot and reset through the kit's admin API; injected faults in Virtuous's words;
the journal's operation names; the sample organization."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from syncframe_simulators import FaultRule, SimulatorAdminError
from virtuous_simulator import VirtuousSimulator
from virtuous_simulator.sample import (
    RAISEDONORS_SOURCE,
    SAMPLE_USERS,
    ncoa_moves,
    populate,
    sample_contacts,
)

from simulators.virtuous.tests.conftest import RECEIVER_URL, Receiver, household, sign_in

pytestmark = pytest.mark.anyio


SEED: dict[str, Any] = {
    "users": [
        {"username": "sync@example.org", "password": "pw", "name": "Sync"},
        {"username": "jane@example.org", "password": "pw", "twoFactorEnabled": True},
        {"username": "sam@example.org", "password": "pw", "sso": True},
    ],
    "apiKeys": [{"name": "Demo", "key": "demo-key-123"}],
    "contacts": [
        {**household(), "id": 5001, "createDateTimeUtc": "2025-06-01T12:00:00Z"},
        {"contactType": "Organization", "name": "Acme Hardware Co."},
    ],
    "webhooks": [{"url": RECEIVER_URL, "events": ["ContactUpdate"], "secret": "s"}],
    "rateLimitPerHour": 1500,
}


async def test_seed_snapshot_reset(
    virtuous_simulator: VirtuousSimulator, receiver: Receiver
) -> None:
    sim = virtuous_simulator
    sim.webhook_transport = receiver.transport()
    async with sim.admin() as admin:
        made = await admin.seed(SEED)
        assert made["users"] == ["sync@example.org", "jane@example.org", "sam@example.org"]
        assert made["apiKeys"] == [{"name": "Demo", "key": "demo-key-123"}]
        assert made["contacts"] == [5001, 5002]
        assert made["webhooks"][0]["secret"] == "s"
        state = await admin.state()
        assert [u["username"] for u in state["users"]] == made["users"]
        assert state["users"][1]["twoFactorEnabled"] is True
        assert state["users"][2]["sso"] is True
        assert "pw" not in str(state["users"])
        assert state["apiKeys"] == [{"name": "Demo", "createdAt": "2026-01-01T09:00:00.000Z"}]
        assert state["rateLimit"]["perHour"] == 1500
        first, second = state["contacts"]
        assert (first["id"], first["createDateTimeUtc"]) == (5001, "2025-06-01T12:00:00.000Z")
        assert second["name"] == "Acme Hardware Co."
        assert state["audit"]["5001"][0]["user"] == "Seed"
        # Seeding is set-up: no webhook fired.
        assert state["webhookEvents"]["events"] == []
        # The seeded key works.
        answer = await sim.client().get(
            "/api/Contact/5001", headers={"Authorization": "Bearer demo-key-123"}
        )
        assert answer.status_code == 200
        await admin.reset()
        state = await admin.state()
        assert (state["users"], state["contacts"], state["webhooks"]) == ([], [], [])
        assert state["rateLimit"]["perHour"] == 5000
        assert state["imports"] == state["holding"] == state["gifts"] == []


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({"users": [{"username": "a"}]}, "users.0.password"),
        ({"contacts": [{"name": "x"}]}, "contacts.0.contactType"),
        ({"contacts": [{"contactType": "Organization"}]}, "contacts.0.name"),
        ({"contacts": [{**household(), "id": 7}, {**household(), "id": 7}]}, "contacts.1.id"),
        ({"webhooks": [{"url": "nope", "events": ["ContactCreate"]}]}, "webhooks.0.url"),
        ({"rateLimitPerHour": 0}, "rateLimitPerHour"),
        ({"colours": []}, "colours"),
        (
            {"users": [{"username": "a", "password": "p"}, {"username": "A", "password": "p"}]},
            "users.1.username",
        ),
    ],
)
async def test_bad_seed_names_the_field_and_adds_nothing(
    virtuous_simulator: VirtuousSimulator, payload: dict[str, Any], names: str
) -> None:
    async with virtuous_simulator.admin() as admin:
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.seed(payload)
        assert names in refused.value.message
        state = await admin.state()
    assert state["users"] == state["contacts"] == []


class TestFaults:
    async def test_injected_errors_answer_in_virtuous_json(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        sim.faults.add(FaultRule(kind="error", status=500, operation="GetContact", times=1))
        answer = await api.get("/api/Contact/1001")
        assert (answer.status_code, answer.json()) == (500, {"message": "An error has occurred."})
        async with sim.admin() as admin:
            await admin.add_fault(kind="error", status=503, operation="QueryContacts", times=1)
            await admin.add_fault(kind="rate_limit", retry_after=30, operation="FindContact")
            await admin.add_fault(kind="malformed", operation="GetContactByReference")
        answer = await api.post("/api/Contact/Query", json={})
        assert (answer.status_code, answer.json()) == (503, {"message": "Service Unavailable"})
        limited = await api.get("/api/Contact/Find?email=a@b.org")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "30")
        assert "rate limit" in limited.json()["message"]
        cut = await api.get("/api/Contact/X/1")
        assert cut.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            cut.json()
        operations = [entry.operation for entry in sim.journal.entries()]
        assert operations == [
            "Token",
            "GetContact",
            "QueryContacts",
            "FindContact",
            "GetContactByReference",
        ]


async def test_sample_is_deterministic_and_varied() -> None:
    first = list(sample_contacts(300, seed=5))
    assert first == list(sample_contacts(300, seed=5))
    assert first != list(sample_contacts(300, seed=6))
    types = {c["contactType"] for c in first}
    assert types == {"Household", "Organization", "Foundation"}
    emails = [c["contactIndividuals"][0]["contactMethods"][0]["value"] for c in first]
    assert len(set(emails)) == 300
    referenced = [c for c in first if c.get("referenceSource") == RAISEDONORS_SOURCE]
    assert 120 < len(referenced) < 240
    assert len({c["referenceId"] for c in referenced}) == len(referenced)
    assert any(len(c["addresses"]) == 2 for c in first)
    assert any(len(c["contactIndividuals"]) == 2 for c in first)


async def test_populate_gives_users_of_every_kind_and_contacts(
    virtuous_simulator: VirtuousSimulator,
) -> None:
    sim = virtuous_simulator
    org = populate(sim, contacts=40)
    assert len(org.contacts) == 40
    assert {(u.two_factor_enabled, u.sso) for u in sim.auth.users.values()} == {
        (False, False),
        (True, False),
        (False, True),
    }
    assert org.users == [u[0] for u in SAMPLE_USERS]
    for contact_id, donor_id in org.raisedonors.items():
        contact = sim.contacts.find_by_reference(RAISEDONORS_SOURCE, donor_id)
        assert contact is not None
        assert contact.id == contact_id
    client = sim.client()
    username, password = SAMPLE_USERS[0][:2]
    token = (
        await client.post(
            "/Token", data={"grant_type": "password", "username": username, "password": password}
        )
    ).json()["access_token"]
    answer = await client.get(
        f"/api/Contact/{org.contacts[0]}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200
    moves = ncoa_moves(org.contacts, seed=3)
    assert moves == ncoa_moves(org.contacts, seed=3)
    assert [m["contactId"] for m in moves] == org.contacts


async def test_sign_in_helper_matches_the_api(sim: VirtuousSimulator) -> None:
    token = await sign_in(sim, sim.client())
    assert sim.auth.authorize(f"Bearer {token}").actor == "RaiseDonors Sync"
