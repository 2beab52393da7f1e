"""The admin API every simulator serves: seed, state, reset, its own routes and bad input."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from syncframe_simulators import FaultRule, SimulatorAdminError

from simulators.kit.tests.ledger import LedgerSimulator

pytestmark = pytest.mark.anyio


class TestSeedStateReset:
    """Records go in through the admin API and come back out of it."""

    async def test_health_names_the_simulator_and_seed(self, ledger: LedgerSimulator) -> None:
        async with ledger.admin() as admin:
            assert await admin.health() == {"status": "ok", "simulator": "ledger", "seed": 0}

    async def test_seed_then_state_reads_back_what_landed(self, ledger: LedgerSimulator) -> None:
        async with ledger.admin() as admin:
            made = await admin.seed({"accounts": [{"name": "Mary", "balance": "2.50"}]})
            assert made == {"accounts": [3]}
            state = await admin.state()
        names = [(a["id"], a["name"], a["balance"]) for a in state["accounts"]]
        assert names == [(1, "Ada", "10"), (2, "Grace", "0"), (3, "Mary", "2.50")]
        # Datetimes are ISO text in the JSON, taken from the simulator's clock.
        assert state["accounts"][2]["created_at"] == "2026-01-01T09:00:00+00:00"
        assert ledger.accounts[3]["balance"] == Decimal("2.50")

    async def test_reset_forgets_records_faults_and_journal_not_the_clock(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.clock.advance(minutes=5)  # type: ignore[attr-defined]
        ledger.faults.add(FaultRule(kind="error", times=1))
        assert (await api.get("/accounts")).status_code == 503
        assert len(ledger.journal) == 1
        ledger.faults.reseed(99)
        async with ledger.admin() as admin:
            await admin.reset()
            assert await admin.state() == {"accounts": [], "entries": []}
            assert await admin.faults() == []
            assert await admin.journal() == []
            assert (await admin.now()).isoformat() == "2026-01-01T09:05:00+00:00"
        assert ledger.faults.seed == 0
        assert (await api.get("/accounts")).json() == {"accounts": []}

    async def test_a_simulators_own_admin_route_lives_under_admin(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        async with ledger.admin() as admin:
            frozen = await admin.post("ledger/accounts/1/freeze")
            assert frozen["frozen"] is True
            with pytest.raises(SimulatorAdminError) as missing:
                await admin.post("ledger/accounts/9/freeze")
        assert missing.value.status == 404
        assert missing.value.message == "no account 9"
        refused = await api.post("/accounts/1/entries", json={"amount": "1"})
        assert refused.status_code == 409
        assert ledger.accounts[1]["balance"] == Decimal("10")


class TestBadInput:
    """Bad admin input gets 400/422 and a message naming what is wrong."""

    async def test_body_that_is_not_json(self, ledger: LedgerSimulator) -> None:
        async with ledger.client() as client:
            response = await client.post("/_admin/seed", content=b"{nope")
        assert response.status_code == 400
        assert response.json()["error"].startswith("the request body is not valid JSON")

    async def test_body_that_is_not_an_object(self, ledger: LedgerSimulator) -> None:
        async with ledger.client() as client:
            response = await client.post("/_admin/seed", json=[1, 2])
        assert response.status_code == 400
        assert response.json() == {"error": "the request body must be a JSON object, not list"}

    async def test_seed_field_failing_validation_is_named(self, ledger: LedgerSimulator) -> None:
        async with ledger.admin() as admin:
            with pytest.raises(SimulatorAdminError) as refused:
                await admin.seed({"accounts": [{"name": "X", "balance": "lots"}]})
        assert refused.value.status == 422
        assert refused.value.message.startswith("accounts.0.balance: ")
        assert len(ledger.accounts) == 2

    async def test_fault_rule_with_unknown_field_or_bad_value(
        self, ledger: LedgerSimulator
    ) -> None:
        async with ledger.admin() as admin:
            with pytest.raises(SimulatorAdminError) as unknown:
                await admin.add_fault(kind="error", stauts=500)
            with pytest.raises(SimulatorAdminError) as odds:
                await admin.add_fault(kind="error", probability=2)
            with pytest.raises(SimulatorAdminError) as latency:
                await admin.add_fault(kind="latency")
        assert unknown.value.status == 422
        assert "stauts: Extra inputs are not permitted" in unknown.value.message
        assert odds.value.message.startswith("probability: ")
        assert "a latency fault needs latency > 0" in latency.value.message
        assert ledger.faults.rules() == {}

    async def test_a_bad_rule_in_a_list_installs_none(self, ledger: LedgerSimulator) -> None:
        async with ledger.client() as client:
            response = await client.post(
                "/_admin/faults", json=[{"kind": "error"}, {"kind": "boom"}]
            )
            assert response.status_code == 422
            assert response.json()["error"].startswith("1.kind: ")
            assert ledger.faults.rules() == {}
            ok = await client.post("/_admin/faults", json=[{"kind": "error"}, {"kind": "timeout"}])
        assert ok.status_code == 201
        assert ok.json() == {"ids": ["f1", "f2"]}

    async def test_unknown_fault_id_and_bad_journal_query(self, ledger: LedgerSimulator) -> None:
        async with ledger.admin() as admin:
            with pytest.raises(SimulatorAdminError) as unknown:
                await admin.remove_fault("f42")
            with pytest.raises(SimulatorAdminError) as since:
                await admin.get("journal", since="yesterday")
            with pytest.raises(SimulatorAdminError) as limit:
                await admin.get("journal", limit=-1)
        assert (unknown.value.status, unknown.value.message) == (404, "no fault rule 'f42'")
        assert (since.value.status, since.value.message) == (
            400,
            "since must be a whole number, not 'yesterday'",
        )
        assert limit.value.message == "limit must be 0 or more, not -1"

    async def test_admin_requests_are_never_journaled_nor_faulted(
        self, ledger: LedgerSimulator
    ) -> None:
        ledger.faults.add(FaultRule(kind="disconnect"))
        async with ledger.admin() as admin:
            await admin.health()
            await admin.state()
            await admin.get("journal")
            assert [f["seen"] for f in await admin.faults()] == [0]
        assert len(ledger.journal) == 0
