"""The query interface: constituents changed since a time, in stable pages; code tables; gifts
and pledges; Basic auth of RE users."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from raisers_edge_simulator import LOGIN_FAILED, RaisersEdgeAdmin, RaisersEdgeSimulator

from simulators.raisers_edge.tests.support import API, CODE_TABLES, seed_people
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def _all_pages(api: httpx.AsyncClient, limit: int, **params: Any) -> list[str]:
    seen: list[str] = []
    offset = 0
    while True:
        answer = await api.get(
            f"{API}/constituents", params={**params, "limit": limit, "offset": offset}
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()["constituents"]
        seen.extend(c["import_id"] for c in page)
        if len(page) < limit:
            return seen
        offset += limit


class TestConstituents:
    """GET /re/v1/constituents: every field of the contract, in (date_changed, import_id)
    order."""

    async def test_a_constituent_has_exactly_the_contract_fields(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        body = (await api.get(f"{API}/constituents")).json()
        assert body["total"] == 3
        ada = body["constituents"][0]
        assert ada == {
            "import_id": "00001-079-0000001",
            "constituent_id": "10001",
            "luminate_id": "1001001",
            "first_name": "Ada",
            "middle_name": None,
            "last_name": "Lovelace",
            "date_changed": "2026-01-01T09:00:00+00:00",
            "addresses": [
                {
                    "type": "Home",
                    "street1": "1 Main St",
                    "street2": None,
                    "city": "Boston",
                    "state": None,
                    "zip": None,
                    "country": None,
                    "preferred": True,
                }
            ],
            "phones": [{"type": "Email", "number": "ada@example.org"}],
            "constituent_codes": [],
            "is_solicitor": False,
            "inactive": False,
        }
        assert [c["is_solicitor"] for c in body["constituents"]] == [False, False, True]

    async def test_order_is_date_changed_then_import_id_and_changed_since_is_exclusive(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        clock.advance(minutes=5)
        await admin.modify_constituent("00001-079-0000001", first_name="Augusta")
        clock.advance(minutes=5)
        await admin.modify_constituent("00001-079-0000002", middle_name="J.")
        body = (await api.get(f"{API}/constituents")).json()
        order = [(c["import_id"], c["date_changed"]) for c in body["constituents"]]
        assert order == [
            ("00001-079-0000003", "2026-01-01T09:00:00+00:00"),
            ("00001-079-0000001", "2026-01-01T09:05:00+00:00"),
            ("00001-079-0000002", "2026-01-01T09:10:00+00:00"),
        ]
        since = (
            await api.get(
                f"{API}/constituents", params={"changed_since": "2026-01-01T09:05:00+00:00"}
            )
        ).json()
        assert [c["import_id"] for c in since["constituents"]] == ["00001-079-0000002"]
        assert since["total"] == 1
        # Without an offset the time is read as UTC.
        naive = await api.get(f"{API}/constituents", params={"changed_since": "2026-01-01T09:04"})
        assert naive.json()["total"] == 2

    async def test_offset_pages_cover_every_constituent_once(
        self, sim: RaisersEdgeSimulator, api: httpx.AsyncClient
    ) -> None:
        sim.sample(constituents=57, gifts=0, seed=3)
        seen = await _all_pages(api, 10)
        assert len(seen) == len(set(seen)) == 57
        with sim.lock:
            expected = sorted(
                sim.database.constituents.values(), key=lambda c: (c.date_changed, c.import_id)
            )
        assert seen == [c.import_id for c in expected]

    async def test_keyset_paging_is_stable_while_records_change(
        self,
        sim: RaisersEdgeSimulator,
        api: httpx.AsyncClient,
        admin: RaisersEdgeAdmin,
        clock: ManualClock,
    ) -> None:
        """A constituent changed while a client pages moves to the end: with the key of the
        last record seen (changed_since + after_import_id) nothing is skipped, and the changed
        one comes again with its new state."""
        for n in range(1, 7):
            await admin.add_constituent(import_id=f"00001-079-000000{n}", last_name=f"L{n}")
        first = (await api.get(f"{API}/constituents", params={"limit": 3})).json()
        seen = [c["import_id"] for c in first["constituents"]]
        clock.advance(seconds=1)
        await admin.modify_constituent("00001-079-0000001", first_name="Changed")
        last = first["constituents"][-1]
        rest = (
            await api.get(
                f"{API}/constituents",
                params={
                    "changed_since": last["date_changed"],
                    "after_import_id": last["import_id"],
                    "limit": 10,
                },
            )
        ).json()
        seen += [c["import_id"] for c in rest["constituents"]]
        assert seen == [
            "00001-079-0000001",
            "00001-079-0000002",
            "00001-079-0000003",
            "00001-079-0000004",
            "00001-079-0000005",
            "00001-079-0000006",
            "00001-079-0000001",
        ]
        assert rest["constituents"][-1]["first_name"] == "Changed"

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"limit": "0"}, "limit: 0 is not between 1 and 5000"),
            ({"limit": "many"}, "limit: 'many' is not a whole number"),
            ({"offset": "-1"}, "offset: -1 is not between 0 and 2147483647"),
            ({"changed_since": "yesterday"}, "changed_since: 'yesterday' is not an ISO-8601"),
            ({"after_import_id": "00001-079-0000001"}, "after_import_id: give it with"),
        ],
    )
    async def test_bad_parameters_are_refused_by_name(
        self, api: httpx.AsyncClient, params: dict[str, str], message: str
    ) -> None:
        answer = await api.get(f"{API}/constituents", params=params)
        assert answer.status_code == 400
        assert answer.json()["error"].startswith(message)


class TestAuth:
    """Every request logs in with an RE user (Basic auth)."""

    async def test_without_or_with_wrong_credentials_the_answer_is_401(
        self, sim: RaisersEdgeSimulator
    ) -> None:
        async with sim.client() as anonymous:
            answer = await anonymous.get(f"{API}/constituents")
            assert answer.status_code == 401
            assert answer.json()["error"].startswith(LOGIN_FAILED)
            assert answer.headers["WWW-Authenticate"].startswith("Basic")
            garbled = await anonymous.get(
                f"{API}/constituents", headers={"Authorization": "Basic !!!"}
            )
            assert garbled.status_code == 401
        for user, password in (("supervisor", "wrong"), ("nobody", "admin")):
            async with sim.api_client(user, password) as client:
                refused = await client.get(f"{API}/code-tables/Fund")
                assert (refused.status_code, refused.json()) == (401, {"error": LOGIN_FAILED})

    async def test_a_seeded_user_logs_in(
        self, sim: RaisersEdgeSimulator, admin: RaisersEdgeAdmin
    ) -> None:
        await admin.add_user("connector", "c0nn3ct")
        async with sim.api_client("connector", "c0nn3ct") as client:
            assert (await client.get(f"{API}/constituents")).status_code == 200
        state = await admin.state()
        assert state["users"] == ["connector", "supervisor"]
        assert "c0nn3ct" not in str(state)


class TestCodeTables:
    async def test_a_table_lists_its_entries_by_code(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await admin.seed({"code_tables": CODE_TABLES})
        await admin.set_code("Fund", "BUILD", "Building Fund")
        await admin.set_code("Fund", "SCHOLAR", "Scholarships", active=False)
        body = (await api.get(f"{API}/code-tables/Fund")).json()
        assert body == {
            "table": "Fund",
            "entries": [
                {"code": "BUILD", "description": "Building Fund", "active": True},
                {"code": "GENERAL", "description": "General Operating", "active": True},
                {"code": "OLDFUND", "description": "Retired fund", "active": False},
                {"code": "SCHOLAR", "description": "Scholarships", "active": False},
            ],
        }
        appeal = (await api.get(f"{API}/code-tables/appeal")).json()
        assert appeal["table"] == "Appeal"
        assert [e["code"] for e in appeal["entries"]] == ["WEB"]

    async def test_an_unknown_table_is_404(self, api: httpx.AsyncClient) -> None:
        answer = await api.get(f"{API}/code-tables/Package")
        assert answer.status_code == 404
        assert answer.json()["error"] == (
            "'Package' is not a code table (known: Campaign, Fund, Appeal)"
        )


class TestGiftsAndPledges:
    async def test_gifts_and_pledges_list_what_the_database_holds(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        clock.advance(hours=1)
        paid = await admin.add_gift(
            constituent_import_id="00001-079-0000001",
            type="Pay-Cash",
            amount="120.00",
            date="2026-01-01",
            fund="GENERAL",
            pledge_import_id="00001-145-0000001",
            luminate_gift_id="2001001",
        )
        cash = await admin.add_gift(
            constituent_import_id="00001-079-0000002",
            amount="25",
            date="2026-01-01",
            fund="SCHOLAR",
            campaign="ANNUAL26",
            appeal="WEB",
            solicitor_import_id="00001-079-0000003",
        )
        gifts = (await api.get(f"{API}/gifts")).json()
        assert gifts["total"] == 3
        # The pledge changed when it was paid: it moves to the end with the payment.
        assert [g["import_id"] for g in gifts["gifts"]] == [
            "00001-145-0000001",
            paid["import_id"],
            cash["import_id"],
        ]
        assert gifts["gifts"][1]["attributes"] == {"Luminate Online Gift ID": "2001001"}
        assert cash["amount"] == "25.00"
        assert cash["solicitor_import_id"] == "00001-079-0000003"
        pledges = (await api.get(f"{API}/pledges")).json()
        assert pledges["total"] == 1
        assert pledges["pledges"][0]["balance"] == "380.00"
        assert pledges["pledges"][0]["date_changed"] == "2026-01-01T10:00:00+00:00"
        of_ben = (
            await api.get(f"{API}/gifts", params={"constituent_import_id": "00001-079-0000002"})
        ).json()
        assert [g["import_id"] for g in of_ben["gifts"]] == [cash["import_id"]]
        by_type = (await api.get(f"{API}/gifts", params={"type": "Pay-Cash"})).json()
        assert [g["import_id"] for g in by_type["gifts"]] == [paid["import_id"]]
        one = (await api.get(f"{API}/gifts/{paid['import_id']}")).json()
        assert one["pledge_import_id"] == "00001-145-0000001"

    async def test_an_unknown_gift_is_404(self, api: httpx.AsyncClient) -> None:
        answer = await api.get(f"{API}/gifts/00001-145-9999999")
        assert answer.status_code == 404
        assert "00001-145-9999999" in answer.json()["error"]


async def test_a_path_the_interface_does_not_have_is_404(api: httpx.AsyncClient) -> None:
    answer = await api.get(f"{API}/funds")
    assert answer.status_code == 404
    assert answer.json() == {"error": "There is no GET /re/v1/funds in the RE interface."}
