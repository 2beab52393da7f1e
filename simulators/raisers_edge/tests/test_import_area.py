"""The import area: files land without changing RE data; the client imports them by hand, or
the opt-in auto-import does on arrival."""

from __future__ import annotations

import httpx
import pytest
from raisers_edge_simulator import RaisersEdgeAdmin, RaisersEdgeSimulator
from syncframe_simulators import SimulatorAdminError

from simulators.raisers_edge.tests.support import (
    API,
    constituents_file,
    put,
    seed_people,
    transactions_file,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

NEW_DONOR = {
    "CONS_ID": "1001077",
    "FIRST_NAME": "Grace",
    "LAST_NAME": "Hopper",
    "PRIMARY_EMAIL": "grace@example.org",
    "REASON": "new_registration",
}
DONATION = {
    "TRANSACTION_ID": "2001001",
    "TRANSACTION_TYPE": "Donation",
    "DONOR_EXCHANGE_ID": "00001-079-0000002",
    "AMOUNT": "25.00",
    "DATE": "2026-01-01",
    "RE_FUND": "GENERAL",
}


class TestLanding:
    async def test_a_file_lands_and_changes_nothing_until_imported(
        self,
        sim: RaisersEdgeSimulator,
        api: httpx.AsyncClient,
        admin: RaisersEdgeAdmin,
        clock: ManualClock,
    ) -> None:
        await seed_people(admin)
        before = await admin.state()
        clock.advance(minutes=1)
        body = constituents_file(NEW_DONOR)
        answer = await api.put(f"{API}/import-area/luminate_17_constituents.csv", content=body)
        assert (answer.status_code, answer.json()) == (
            201,
            {"name": "luminate_17_constituents.csv", "size": len(body)},
        )
        listed = (await api.get(f"{API}/import-area")).json()
        assert listed == {
            "files": [
                {
                    "name": "luminate_17_constituents.csv",
                    "size": len(body),
                    "received_at": "2026-01-01T09:01:00+00:00",
                    "imported": False,
                }
            ]
        }
        fetched = await api.get(f"{API}/import-area/luminate_17_constituents.csv")
        assert fetched.content == body
        after = await admin.state()
        assert after["constituents"] == before["constituents"]
        assert after["gifts"] == before["gifts"]
        assert after["imports"] == []

    async def test_the_same_name_again_replaces_the_file_as_a_new_arrival(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        await put(api, "luminate_1_transactions.csv", transactions_file(DONATION))
        await admin.import_file("luminate_1_transactions.csv")
        await put(api, "other.csv", b"x")
        second = transactions_file(DONATION, {**DONATION, "TRANSACTION_ID": "2001002"})
        await put(api, "luminate_1_transactions.csv", second)
        files = (await api.get(f"{API}/import-area")).json()["files"]
        assert [(f["name"], f["size"], f["imported"]) for f in files] == [
            ("other.csv", 1, False),
            ("luminate_1_transactions.csv", len(second), False),
        ]
        fetched = await api.get(f"{API}/import-area/luminate_1_transactions.csv")
        assert fetched.content == second

    @pytest.mark.parametrize("name", ["..", ".hidden.csv", "a b.csv", "x" * 201])
    async def test_a_name_that_is_not_a_plain_file_name_is_refused(
        self, api: httpx.AsyncClient, name: str
    ) -> None:
        answer = await api.put(f"{API}/import-area/{name}", content=b"CONS_ID\r\n")
        assert answer.status_code in (400, 404)
        assert (await api.get(f"{API}/import-area")).json() == {"files": []}

    async def test_the_import_area_needs_a_login(self, sim: RaisersEdgeSimulator) -> None:
        async with sim.client() as anonymous:
            answer = await anonymous.put(f"{API}/import-area/a.csv", content=b"x")
            assert answer.status_code == 401
            assert (await anonymous.get(f"{API}/import-area")).status_code == 401
            assert (await anonymous.get(f"{API}/import-area/a.csv")).status_code == 401
        assert sim.import_area.listed() == []

    async def test_an_unknown_file_is_404_and_a_file_can_be_removed(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        missing = await api.get(f"{API}/import-area/none.csv")
        assert missing.status_code == 404
        assert missing.json() == {"error": "There is no file 'none.csv' in the import area."}
        await put(api, "done.csv", b"x")
        await admin.remove_file("done.csv")
        assert (await api.get(f"{API}/import-area")).json() == {"files": []}
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.remove_file("done.csv")
        assert refused.value.status == 404


class TestManualImport:
    async def test_importing_applies_the_file_and_marks_it_imported(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        await put(api, "luminate_17_constituents.csv", constituents_file(NEW_DONOR))
        clock.advance(minutes=2)
        outcome = await admin.import_file("luminate_17_constituents.csv")
        assert outcome == {
            "file": "luminate_17_constituents.csv",
            "run": 1,
            "imported_at": "2026-01-01T09:02:00+00:00",
            "kind": "constituents",
            "rows": 1,
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "exception_count": 0,
            "refused": None,
            "exceptions": [],
        }
        files = (await api.get(f"{API}/import-area")).json()["files"]
        assert files[0]["imported"] is True
        made = (
            await api.get(
                f"{API}/constituents", params={"changed_since": "2026-01-01T09:00:00+00:00"}
            )
        ).json()["constituents"]
        assert [(c["first_name"], c["luminate_id"]) for c in made] == [("Grace", "1001077")]
        assert await admin.imports() == [{k: v for k, v in outcome.items() if k != "exceptions"}]

    async def test_importing_a_file_that_is_not_there_is_404(self, admin: RaisersEdgeAdmin) -> None:
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.import_file("missing.csv")
        assert refused.value.status == 404
        assert "missing.csv" in refused.value.message

    async def test_the_house_style_admin_path_imports_too(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        await put(api, "t.csv", transactions_file(DONATION))
        outcome = await admin.post("raisers_edge/import-area/t.csv/import")
        assert (outcome["kind"], outcome["created"]) == ("transactions", 1)


class TestAutoImport:
    async def test_it_is_off_by_default(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        assert await admin.settings() == {"auto_import": False, "available": True}
        await put(api, "t.csv", transactions_file(DONATION))
        assert (await api.get(f"{API}/gifts")).json()["total"] == 1  # only the seeded pledge

    async def test_when_on_a_file_is_imported_as_it_arrives(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        assert (await admin.set_auto_import(True))["auto_import"] is True
        await put(api, "luminate_3_transactions.csv", transactions_file(DONATION))
        files = (await api.get(f"{API}/import-area")).json()["files"]
        assert files[0]["imported"] is True
        gifts = (await api.get(f"{API}/gifts", params={"type": "Cash"})).json()["gifts"]
        assert [g["attributes"] for g in gifts] == [{"Luminate Online Gift ID": "2001001"}]
        [run] = await admin.imports()
        assert (run["file"], run["created"]) == ("luminate_3_transactions.csv", 1)

    async def test_switching_it_on_imports_the_files_waiting(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        await put(api, "first.csv", transactions_file(DONATION))
        await put(api, "second.csv", transactions_file({**DONATION, "TRANSACTION_ID": "2001002"}))
        await put(api, "refused.csv", b"NOT,A,HEADER\r\n")
        await admin.import_file("second.csv")
        with pytest.raises(SimulatorAdminError):
            await admin.import_file("refused.csv")
        await admin.set_auto_import(True)
        runs = [(run["run"], run["file"], run["created"]) for run in await admin.imports()]
        # Only the file never imported; a refused one is not tried again on its own.
        assert runs == [(1, "second.csv", 1), (2, "refused.csv", 0), (3, "first.csv", 1)]

    async def test_the_constructor_switch_survives_a_reset(
        self, simulator_factory: object, sim_clock: ManualClock
    ) -> None:
        assert callable(simulator_factory)
        sim = simulator_factory("raisers_edge", auto_import=True)
        assert isinstance(sim, RaisersEdgeSimulator)
        async with sim.admin() as admin:
            await admin.post("raisers_edge/settings", {"auto_import": False})
            await admin.reset()
            assert (await admin.settings())["auto_import"] is True
