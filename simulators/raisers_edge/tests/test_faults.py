"""Faults: the kit's injected faults on the query interface, and the database switched off (the
connector's real cause of Luminate's "Not initiating download since no files were
generated")."""

from __future__ import annotations

import json

import httpx
import pytest
from raisers_edge_simulator import DATABASE_UNAVAILABLE, RaisersEdgeAdmin, RaisersEdgeSimulator
from syncframe_simulators import FaultRule, SimulatorAdminError

from simulators.raisers_edge.tests.support import API, put, seed_people, transactions_file

pytestmark = pytest.mark.anyio

DONATION = {
    "TRANSACTION_ID": "2001001",
    "TRANSACTION_TYPE": "Donation",
    "DONOR_EXCHANGE_ID": "00001-079-0000002",
    "AMOUNT": "25.00",
    "DATE": "2026-01-01",
    "RE_FUND": "GENERAL",
}


class TestInjectedFaults:
    async def test_an_error_then_a_retry_shows_in_the_journal_by_operation(
        self, sim: RaisersEdgeSimulator, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await admin.add_fault(kind="error", operation="ListConstituents", status=503, times=1)
        failed = await api.get(f"{API}/constituents")
        assert (failed.status_code, failed.json()) == (503, {"error": "Service Unavailable"})
        assert (await api.get(f"{API}/constituents")).status_code == 200
        assert (await api.get(f"{API}/code-tables/Fund")).status_code == 200
        journal = [(e.operation, e.status, e.fault) for e in sim.journal.entries()]
        assert journal == [
            ("ListConstituents", 503, "error"),
            ("ListConstituents", 200, None),
            ("GetCodeTable", 200, None),
        ]

    async def test_rate_limit_answers_429_with_retry_after(
        self, sim: RaisersEdgeSimulator, api: httpx.AsyncClient
    ) -> None:
        sim.faults.add(FaultRule(kind="rate_limit", path="/re/v1/*", retry_after=2, times=1))
        limited = await api.get(f"{API}/gifts")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")

    async def test_malformed_answers_json_cut_off(
        self, sim: RaisersEdgeSimulator, api: httpx.AsyncClient
    ) -> None:
        sim.faults.add(FaultRule(kind="malformed", operation="ListConstituents", times=1))
        cut = await api.get(f"{API}/constituents")
        assert cut.status_code == 200
        assert cut.text.startswith('{"constituents": [{"import_id"')
        with pytest.raises(json.JSONDecodeError):
            cut.json()

    async def test_timeout_and_disconnect_leave_the_client_without_an_answer(
        self, sim: RaisersEdgeSimulator
    ) -> None:
        sim.faults.add(FaultRule(kind="timeout", operation="ListPledges", hang=5, times=1))
        sim.faults.add(FaultRule(kind="disconnect", operation="ListGifts", times=1))
        async with sim.api_client(timeout=0.05) as api:
            with pytest.raises(httpx.ReadTimeout):
                await api.get(f"{API}/pledges")
            with pytest.raises(httpx.RemoteProtocolError):
                await api.get(f"{API}/gifts")
        assert [(e.operation, e.status) for e in sim.journal.entries()] == [
            ("ListPledges", None),
            ("ListGifts", None),
        ]

    async def test_a_faulted_put_lands_no_file(
        self, sim: RaisersEdgeSimulator, api: httpx.AsyncClient
    ) -> None:
        sim.faults.add(FaultRule(kind="error", operation="PutImportFile", status=500, times=1))
        answer = await api.put(f"{API}/import-area/a.csv", content=b"x")
        assert answer.status_code == 500
        assert (await api.get(f"{API}/import-area")).json() == {"files": []}


class TestDatabaseUnavailable:
    async def test_every_query_answers_503_with_res_message(
        self, sim: RaisersEdgeSimulator, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        assert (await admin.set_available(False))["available"] is False
        for path in (
            "constituents",
            "code-tables/Fund",
            "gifts",
            "gifts/00001-145-0000001",
            "pledges",
        ):
            answer = await api.get(f"{API}/{path}")
            assert (answer.status_code, answer.json()) == (503, {"error": DATABASE_UNAVAILABLE})
        async with sim.client() as anonymous:
            # The database is asked who the user is, so even a login gets the 503.
            assert (await anonymous.get(f"{API}/constituents")).status_code == 503
        await admin.set_available(True)
        assert (await api.get(f"{API}/constituents")).json()["total"] == 3

    async def test_files_still_land_but_wait_to_be_imported(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        await admin.set_available(False)
        await admin.set_auto_import(True)
        await put(api, "luminate_5_transactions.csv", transactions_file(DONATION))
        files = (await api.get(f"{API}/import-area")).json()["files"]
        assert [(f["name"], f["imported"]) for f in files] == [
            ("luminate_5_transactions.csv", False)
        ]
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.import_file("luminate_5_transactions.csv")
        assert refused.value.status == 409
        assert refused.value.message == (
            f"{DATABASE_UNAVAILABLE} The file luminate_5_transactions.csv stays in the import area."
        )
        assert await admin.imports() == []
        # Back on, with auto-import on: what arrived meanwhile is imported now.
        await admin.set_available(True)
        [run] = await admin.imports()
        assert (run["file"], run["created"]) == ("luminate_5_transactions.csv", 1)
        files = (await api.get(f"{API}/import-area")).json()["files"]
        assert files[0]["imported"] is True
