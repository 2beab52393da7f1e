"""The admin side: seeding, API clients, what people do in the admin and donor portals (create,
edit, second addresses and phones, which one is primary), the donor overview, reset, and bad
input answered with ``{"error": ...}`` naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from raisedonors_simulator import RaiseDonorsSimulator

from simulators.raisedonors.tests.conftest import (
    ANN_ID,
    BEN_ID,
    CLIENT_NAME,
    KEY,
    RIVERBEND_ID,
    Api,
    admin_call,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def admin_ok(sim: RaiseDonorsSimulator, method: str, path: str, **kwargs: Any) -> Any:
    response = await admin_call(sim, method, path, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


class TestSeed:
    async def test_everything_a_seed_can_hold(self, raisedonors_simulator: Any) -> None:
        sim: RaiseDonorsSimulator = raisedonors_simulator
        async with sim.admin() as admin:
            made = await admin.seed(
                {
                    "api_clients": [{"key": "k", "secret": "s", "name": "Sync"}],
                    "donors": [
                        {
                            "id": 42,
                            "lastName": "Solo",
                            "email": "solo@example.org",
                            "phone": "(206) 555-0100",
                            "phoneType": "mobile",
                            "otherPhones": [{"number": "(206) 555-0101"}],
                        },
                        {"firstName": "Next", "email": "next@example.org"},
                    ],
                    "integration": {
                        "authorizedUser": "sync@charity.org",
                        "syncContacts": True,
                        "contactSyncEnabledAt": "2025-12-31T12:00:00Z",
                    },
                }
            )
            state = await admin.state()
        assert made["api_clients"] == ["k"]
        assert made["donors"] == [42, 100_001]
        assert made["integration"]["contactSyncEnabledAt"] == "2025-12-31T12:00:00Z"
        solo = state["donors"][0]
        assert [(p["number"], p["type"], p["isPrimary"]) for p in solo["donorPhoneNumbers"]] == [
            ("(206) 555-0100", "Mobile", True),
            ("(206) 555-0101", "Home", False),
        ]
        assert state["activity"] == []
        assert state["api_clients"] == [{"key": "k", "name": "Sync", "liveTokens": 0}]
        assert state["integration"]["syncContacts"] is True

    @pytest.mark.parametrize(
        ("payload", "names"),
        [
            ({"donors": [{"lastName": "X"}]}, "donors[0].email"),
            ({"donors": [{"email": "a@example.org"}]}, "donors[0].lastName"),
            ({"donors": [{"lastName": "X", "email": "ben@example.org"}]}, "donors[0].email"),
            (
                {
                    "donors": [
                        {"lastName": "X", "email": "x@example.org"},
                        {"lastName": "Y", "email": "X@example.org"},
                    ]
                },
                "donors[1].email",
            ),
            ({"donors": [{"id": BEN_ID, "lastName": "X", "email": "x@e.org"}]}, "donors[0].id"),
            ({"donors": [{"lastName": "X", "email": "x@e.org", "zip": 1}]}, "donors[0].zip"),
            ({"api_clients": [{"key": KEY, "secret": "s", "name": "n"}]}, "api_clients[0].key"),
            ({"api_clients": [{"key": "k"}]}, "api_clients[0]"),
            ({"integration": {"syncContacts": True}}, "integration.syncContacts"),
            ({"integration": {"contactSyncEnabledAt": "noon"}}, "integration.contactSyncEnabledAt"),
            ({"constituents": []}, "constituents"),
        ],
    )
    async def test_a_bad_seed_adds_nothing_and_names_the_field(
        self, sim: RaiseDonorsSimulator, payload: dict[str, Any], names: str
    ) -> None:
        before = sim.snapshot()
        # A good donor after the bad part: it must not be added either.
        good = {"lastName": "Ok", "email": "ok@example.org"}
        response = await sim.client().post(
            "/_admin/seed", json={**payload, "donors": [*payload.get("donors", []), good]}
        )
        assert response.status_code == 400, response.text
        assert names in response.json()["error"]
        assert sim.snapshot() == before


class TestPortals:
    async def test_an_admin_creates_a_donor(self, sim: RaiseDonorsSimulator, api: Api) -> None:
        donor = await admin_ok(
            sim,
            "POST",
            "/donors",
            json={
                "channel": "admin_portal",
                "actor": "Maria",
                "fields": {"firstName": "Eve", "lastName": "Ito", "email": "eve@example.org"},
            },
        )
        assert sim.account.donors.get(donor["id"]).name == "Eve Ito"
        [item] = (await api.ok("GET", "/api/Activity/list"))["items"]
        assert (item["type"], item["channel"], item["actor"]) == (
            "DonorCreated",
            "AdminPortal",
            "Maria",
        )
        assert item["changes"]["lastName"] == {"old": None, "new": "Ito"}

    async def test_a_second_address_is_not_primary(self, sim: RaiseDonorsSimulator) -> None:
        await admin_ok(
            sim,
            "POST",
            f"/donors/{ANN_ID}/addresses",
            json={"address": {"address1": "PO Box 9", "city": "Austin"}, "channel": "donor_portal"},
        )
        ann = sim.account.donors.get(ANN_ID)
        assert len(ann.addresses) == 2
        assert ann.primary_address is not None
        assert ann.primary_address.address1 == "12 Oak St"
        [item] = sim.snapshot()["activity"]
        assert set(item["changes"]) == {"donorAddresses"}
        assert (item["channel"], item["actor"]) == ("DonorPortal", "Ann Lee")

    async def test_making_another_address_primary(self, sim: RaiseDonorsSimulator) -> None:
        vail = sim.account.donors.get(BEN_ID).addresses[1]
        donor = await admin_ok(
            sim, "POST", f"/donors/{BEN_ID}/addresses/{vail.id}/make-primary", json={}
        )
        assert donor["primaryAddress"]["city"] == "Vail"
        [item] = sim.snapshot()["activity"]
        assert item["changes"]["primaryAddress"]["old"]["city"] == "Denver"
        assert item["changes"]["primaryAddress"]["new"]["city"] == "Vail"
        assert item["actor"] == "Admin"
        # Again: already primary, nothing happens.
        await admin_ok(sim, "POST", f"/donors/{BEN_ID}/addresses/{vail.id}/make-primary")
        assert len(sim.account.activity) == 1

    async def test_phones_added_and_made_primary(self, sim: RaiseDonorsSimulator) -> None:
        donor = await admin_ok(
            sim,
            "POST",
            f"/donors/{RIVERBEND_ID}/phones",
            json={"number": "(615) 555-0100", "type": "Work"},
        )
        # The first phone a donor gets is its primary.
        assert donor["phone"] == "(615) 555-0100"
        donor = await admin_ok(
            sim, "POST", f"/donors/{RIVERBEND_ID}/phones", json={"number": "(615) 555-0199"}
        )
        assert donor["phone"] == "(615) 555-0100"
        second = donor["donorPhoneNumbers"][1]["id"]
        donor = await admin_ok(
            sim, "POST", f"/donors/{RIVERBEND_ID}/phones/{second}/make-primary", json={}
        )
        assert sim.account.donors.get(RIVERBEND_ID).phone == "(615) 555-0199"
        changes = [item["changes"] for item in sim.snapshot()["activity"]]
        assert changes[0]["phone"] == {"old": None, "new": "(615) 555-0100"}
        assert set(changes[1]) == {"donorPhoneNumbers"}
        assert changes[2]["phone"] == {"old": "(615) 555-0100", "new": "(615) 555-0199"}

    async def test_the_overview_shows_the_ids_gifts_and_activity(
        self, sim: RaiseDonorsSimulator, api: Api, clock: ManualClock
    ) -> None:
        await api.ok("PATCH", f"/api/Donor/{ANN_ID}", json={"virtuousContactId": "8123"})
        await api.ok(
            "POST",
            "/api/Raise/give",
            json={
                "email": "ann.lee@example.org",
                "firstName": "Ann",
                "lastName": "Lee",
                "amount": 5,
                "billingAddress": {"address1": "12 Oak St"},
            },
        )
        page = await admin_ok(sim, "GET", f"/donors/{ANN_ID}")
        assert (page["donorId"], page["virtuousContactId"]) == (ANN_ID, "8123")
        assert [g["amount"] for g in page["gifts"]] == [5.0]
        assert [(i["type"], i["actor"]) for i in page["recentActivity"]] == [
            ("GiftCreated", "Ann Lee"),
            ("DonorUpdated", CLIENT_NAME),
        ]


class TestAdminErrors:
    @pytest.mark.parametrize(
        ("method", "path", "payload", "status", "names"),
        [
            ("POST", f"/donors/{ANN_ID}/edit", {"channel": "api", "fields": {}}, 400, "channel"),
            ("POST", f"/donors/{ANN_ID}/edit", {"channel": "admin_portal"}, 400, "fields"),
            ("POST", f"/donors/{ANN_ID}/edit", {"fields": {"zip": "1"}}, 400, "fields.zip"),
            (
                "POST",
                f"/donors/{ANN_ID}/edit",
                {"fields": {"email": "BEN@example.org"}},
                409,
                "BEN@",
            ),
            ("POST", "/donors/777/edit", {"fields": {"lastName": "X"}}, 404, "777"),
            ("POST", "/donors/abc/edit", {"fields": {}}, 400, "donor_id"),
            ("POST", f"/donors/{ANN_ID}/addresses", {"address": {}}, 400, "address"),
            (
                "POST",
                f"/donors/{ANN_ID}/addresses",
                {"address": {"town": "X"}},
                400,
                "address.town",
            ),
            ("POST", f"/donors/{ANN_ID}/phones", {"number": "1", "type": "Fax"}, 400, "type"),
            ("POST", f"/donors/{ANN_ID}/phones/999/make-primary", {}, 404, "999"),
            ("POST", "/api-clients", {"key": "a:b", "secret": "s", "name": "n"}, 400, "key"),
            ("POST", "/api-clients", {"key": "new"}, 400, "secret"),
            ("GET", "/activity?limit=0", None, 400, "limit"),
        ],
    )
    async def test_json_error_names_the_field(
        self,
        sim: RaiseDonorsSimulator,
        method: str,
        path: str,
        payload: Any,
        status: int,
        names: str,
    ) -> None:
        before = sim.snapshot()
        response = await admin_call(sim, method, path, json=payload)
        assert response.status_code == status, response.text
        assert names in response.json()["error"]
        assert sim.snapshot() == before

    async def test_a_body_that_is_not_json(self, sim: RaiseDonorsSimulator) -> None:
        response = await admin_call(sim, "POST", f"/donors/{ANN_ID}/edit", content=b"{x")
        assert response.status_code == 400
        assert "JSON" in response.json()["error"]


async def test_api_clients_through_the_admin_route(raisedonors_simulator: Any) -> None:
    sim: RaiseDonorsSimulator = raisedonors_simulator
    client = await admin_ok(
        sim, "POST", "/api-clients", json={"key": "k2", "secret": "pw", "name": "Zapier"}
    )
    assert client == {"key": "k2", "name": "Zapier"}
    api = Api(sim, sim.client())
    await api.authorize("k2", "pw")
    assert (await api.get("/api/Donor/list")).json() == {"items": [], "total": 0}
    assert sim.snapshot()["api_clients"] == [{"key": "k2", "name": "Zapier", "liveTokens": 1}]


async def test_reset_forgets_everything(sim: RaiseDonorsSimulator, api: Api) -> None:
    await api.ok("PATCH", f"/api/Donor/{ANN_ID}", json={"firstName": "X"})
    await api.ok("PUT", "/api/Integration/Virtuous", json={"authorizedUser": "u"})
    async with sim.admin() as admin:
        await admin.reset()
        state = await admin.state()
    assert state == {
        "donors": [],
        "gifts": [],
        "activity": [],
        "api_clients": [],
        "integration": {
            "authorizedUser": None,
            "syncProjects": False,
            "syncContacts": False,
            "contactSyncEnabledAt": None,
        },
    }
    # The old token went with its client; new ids start again.
    assert (await api.get("/api/Activity/list")).status_code == 401
    assert sim.seed_records({"donors": [{"lastName": "A", "email": "a@example.org"}]}) == {
        "donors": [100_001]
    }
