"""The admin API: seeding in bulk, what an RE user changes, the settings, state and reset."""

from __future__ import annotations

import httpx
import pytest
from raisers_edge_simulator import RaisersEdgeAdmin, RaisersEdgeSimulator
from syncframe_simulators import SimulatorAdminError

from simulators.raisers_edge.tests.support import API, CODE_TABLES, put, seed_people
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


class TestSeed:
    async def test_a_payload_seeds_users_tables_constituents_pledges_and_gifts(
        self, sim: RaisersEdgeSimulator, admin: RaisersEdgeAdmin
    ) -> None:
        made = await admin.seed(
            {
                "users": [{"name": "connector", "password": "pw"}],
                "code_tables": CODE_TABLES,
                "constituents": [
                    {"last_name": "Ames", "date_changed": "2025-12-01T00:00:00Z"},
                    {"last_name": "Bo", "luminate_id": "77", "constituent_codes": ["Alumni"]},
                ],
                "pledges": [
                    {
                        "constituent_import_id": "00001-079-0000001",
                        "amount": "300",
                        "date": "2025-01-01",
                        "fund": "GENERAL",
                        "balance": "100.00",
                    }
                ],
                "gifts": [
                    {
                        "constituent_import_id": "00001-079-0000001",
                        "type": "Pay-Cash",
                        "amount": "40.00",
                        "date": "2025-02-01",
                        "fund": "GENERAL",
                        "pledge_import_id": "00001-145-0000001",
                        "attributes": {"Luminate Online Gift ID": "2001001"},
                    }
                ],
            }
        )
        assert made == {
            "users": ["connector"],
            "code_tables": {
                "Campaign": ["ANNUAL26", "OLDCAMP"],
                "Fund": ["GENERAL", "SCHOLAR", "OLDFUND"],
                "Appeal": ["WEB"],
            },
            "constituents": ["00001-079-0000001", "00001-079-0000002"],
            "pledges": ["00001-145-0000001"],
            "gifts": ["00001-145-0000002"],
        }
        state = await admin.state()
        ames, bo = state["constituents"]
        assert (ames["constituent_id"], ames["date_added"], ames["date_changed"]) == (
            "10001",
            "2025-12-01T00:00:00+00:00",
            "2025-12-01T00:00:00+00:00",
        )
        assert (bo["luminate_id"], bo["constituent_codes"]) == ("77", ["Alumni"])
        pledge, payment = state["gifts"]
        assert (pledge["type"], pledge["balance"]) == ("Pledge", "60.00")
        assert payment["pledge_import_id"] == pledge["import_id"]
        with sim.lock:
            assert sim.database.gifts_by_luminate_id["2001001"].import_id == payment["import_id"]

    @pytest.mark.parametrize(
        ("payload", "status", "message"),
        [
            ({"constituents": [{"last_name": "x" * 101}]}, 422, "constituents.0.last_name"),
            (
                {"constituents": [{"luminate_id": "1"}, {"luminate_id": "1"}]},
                400,
                "constituents.1.luminate_id: the alias Luminate ID '1' already belongs to "
                "constituent 00001-079-0000001",
            ),
            (
                {"constituents": [{"import_id": "A"}, {"import_id": "A"}]},
                400,
                "constituents.1.import_id: Import ID 'A' is already used",
            ),
            (
                {
                    "constituents": [{"import_id": "A"}],
                    "gifts": [
                        {
                            "constituent_import_id": "A",
                            "amount": "5",
                            "date": "2025-01-01",
                            "fund": "NOPE",
                        }
                    ],
                },
                400,
                "gifts.0.fund: 'NOPE' is not in the Fund table",
            ),
            (
                {
                    "gifts": [
                        {
                            "constituent_import_id": "Z",
                            "amount": "5",
                            "date": "2025-01-01",
                            "fund": "GENERAL",
                        }
                    ]
                },
                400,
                "gifts.0.constituent_import_id: there is no constituent with Import ID 'Z'",
            ),
            ({"gifts": [{"amount": "-1"}]}, 422, "gifts.0.constituent_import_id: Field required"),
            (
                {
                    "pledges": [
                        {
                            "constituent_import_id": "A",
                            "type": "Cash",
                            "amount": "5",
                            "date": "2025-01-01",
                            "fund": "GENERAL",
                        }
                    ]
                },
                422,
                "pledges.0.type: a pledge has the type Pledge",
            ),
            ({"donors": []}, 422, "donors: Extra inputs are not permitted"),
            (
                {"constituents": [{"last_name": "N", "date_changed": "2025-01-01T00:00:00"}]},
                422,
                "date_changed needs a timezone",
            ),
            (
                {
                    "constituents": [
                        {
                            "last_name": "N",
                            "date_added": "2025-02-01T00:00:00Z",
                            "date_changed": "2025-01-01T00:00:00Z",
                        }
                    ]
                },
                400,
                "constituents.0.date_changed: a constituent cannot change before it was added",
            ),
        ],
    )
    async def test_bad_records_are_refused_naming_the_field(
        self, admin: RaisersEdgeAdmin, payload: dict[str, object], status: int, message: str
    ) -> None:
        await admin.seed({"code_tables": {"Fund": [{"code": "GENERAL"}]}})
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.seed(payload)
        assert refused.value.status == status
        assert message in refused.value.message

    async def test_the_sample_can_be_seeded_by_payload(self, admin: RaisersEdgeAdmin) -> None:
        made = await admin.seed({"sample": {"constituents": 30, "gifts": 80, "seed": 4}})
        assert (made["sample"]["constituents"], made["sample"]["gifts"]) == (30, 80)
        state = await admin.state()
        assert (len(state["constituents"]), len(state["gifts"])) == (30, 80)
        assert [t["code"] for t in state["code_tables"]["Fund"]][:2] == ["BUILD", "EVENTS"]


class TestWhatAnReUserDoes:
    async def test_modifying_a_constituent_moves_date_changed(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        clock.advance(minutes=30)
        changed = await admin.modify_constituent(
            "00001-079-0000002",
            last_name="Baker-Smith",
            luminate_id="1001002",
            phones=[{"type": "Email", "number": "ben@example.org"}],
            addresses=[{"type": "Home", "city": "Denver"}, {"type": "Business", "city": "Boulder"}],
            inactive=True,
        )
        assert changed["date_changed"] == "2026-01-01T09:30:00+00:00"
        assert changed["date_added"] == "2026-01-01T09:00:00+00:00"
        assert [(a["city"], a["preferred"]) for a in changed["addresses"]] == [
            ("Denver", True),
            ("Boulder", False),
        ]
        body = (
            await api.get(
                f"{API}/constituents", params={"changed_since": "2026-01-01T09:00:00+00:00"}
            )
        ).json()
        [ben] = body["constituents"]
        assert (ben["last_name"], ben["luminate_id"], ben["inactive"]) == (
            "Baker-Smith",
            "1001002",
            True,
        )
        cleared = await admin.modify_constituent("00001-079-0000002", luminate_id=None)
        assert cleared["luminate_id"] is None
        await admin.modify_constituent("00001-079-0000001", luminate_id="1001002")

    @pytest.mark.parametrize(
        ("import_id", "changes", "status", "message"),
        [
            ("00001-079-0000001", {}, 400, "the body names no field to change"),
            ("00001-079-0000404", {"first_name": "X"}, 404, "00001-079-0000404"),
            (
                "00001-079-0000002",
                {"first_name": "X", "luminate_id": "1001001"},
                400,
                "luminate_id: the alias Luminate ID '1001001' already belongs to constituent "
                "00001-079-0000001",
            ),
            (
                "00001-079-0000002",
                {"constituent_id": "10001"},
                400,
                "constituent_id: Constituent ID '10001' is already used",
            ),
            ("00001-079-0000002", {"inactive": None}, 400, "inactive: cannot be null"),
            (
                "00001-079-0000002",
                {"last_name": "X", "addresses": [{"preferred": True}, {"preferred": True}]},
                400,
                "addresses: only one address can be the preferred address",
            ),
            ("00001-079-0000002", {"nickname": "B"}, 422, "nickname: Extra inputs"),
        ],
    )
    async def test_a_bad_change_is_refused_and_changes_nothing(
        self,
        admin: RaisersEdgeAdmin,
        import_id: str,
        changes: dict[str, object],
        status: int,
        message: str,
    ) -> None:
        await seed_people(admin)
        before = await admin.state()
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.modify_constituent(import_id, **changes)
        assert refused.value.status == status
        assert message in refused.value.message
        assert (await admin.state())["constituents"] == before["constituents"]

    async def test_a_constituent_reads_back_with_its_gifts(self, admin: RaisersEdgeAdmin) -> None:
        await seed_people(admin)
        ada = await admin.constituent("00001-079-0000001")
        assert [g["import_id"] for g in ada["gifts"]] == ["00001-145-0000001"]
        assert ada["requests_no_email"] is False


class TestStateAndReset:
    async def test_reset_forgets_records_files_and_switches(
        self, sim: RaisersEdgeSimulator, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        await admin.add_user("extra", "pw")
        await put(api, "a.csv", b"CONS_ID,EXCHANGE_ID,SEGMENT\r\n")
        await admin.import_file("a.csv")
        await admin.set_auto_import(True)
        await admin.set_available(False)
        folder = sim.import_area.folder()
        await admin.reset()
        state = await admin.state()
        assert (state["constituents"], state["gifts"], state["import_area"], state["imports"]) == (
            [],
            [],
            [],
            [],
        )
        assert state["users"] == ["supervisor"]
        assert state["settings"] == {"auto_import": False, "available": True}
        assert all(entries == [] for entries in state["code_tables"].values())
        assert not folder.exists()
        made = await admin.add_constituent(last_name="Fresh")
        assert made["import_id"] == "00001-079-0000001"

    async def test_the_state_shows_files_with_their_outcome(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await put(api, "a.csv", b"CONS_ID,EXCHANGE_ID,SEGMENT\r\n,,x\r\n")
        await admin.import_file("a.csv")
        [landed] = (await admin.state())["import_area"]
        assert landed["outcome"]["rows"] == 1
        assert landed["outcome"]["exception_count"] == 1

    async def test_bad_settings_are_refused(self, admin: RaisersEdgeAdmin) -> None:
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.post("raisers_edge/settings", {"auto_import": "sometimes"})
        assert refused.value.status == 422
        assert refused.value.message.startswith("auto_import:")
