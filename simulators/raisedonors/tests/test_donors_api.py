"""The donor API: reading, listing with PascalCase paging, search, PATCH and the integration's
POST, with the errors a client sees (ProblemDetails naming the field or donor)."""

from __future__ import annotations

from typing import Any

import pytest
from raisedonors_simulator import RaiseDonorsSimulator

from simulators.raisedonors.tests.conftest import (
    ANN_ADDRESS,
    ANN_ID,
    BEN_ID,
    CLIENT_NAME,
    RIVERBEND_ID,
    Api,
    problem,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


def stored(sim: RaiseDonorsSimulator, donor_id: int) -> dict[str, Any]:
    """The donor as the simulator holds it (its admin state), not as an answer said."""
    donors: list[dict[str, Any]] = sim.snapshot()["donors"]
    [donor] = [d for d in donors if d["id"] == donor_id]
    return donor


class TestRead:
    async def test_a_donor_with_several_addresses_and_phones(self, api: Api) -> None:
        ben = await api.ok("GET", f"/api/Donor/{BEN_ID}")
        assert ben["name"] == "Ben Okafor"
        assert ben["phone"] == "(303) 555-0142"
        assert ben["primaryAddress"]["city"] == "Denver"
        assert ben["primaryAddress"]["isPrimary"] is True
        assert [(a["city"], a["isPrimary"]) for a in ben["donorAddresses"]] == [
            ("Denver", True),
            ("Vail", False),
        ]
        assert [(p["number"], p["type"], p["isPrimary"]) for p in ben["donorPhoneNumbers"]] == [
            ("(303) 555-0142", "Home", True),
            ("(303) 555-0199", "Mobile", False),
        ]
        assert ben["donorEmailAddresses"] == [
            {
                "id": ben["donorEmailAddresses"][0]["id"],
                "email": "ben@example.org",
                "isPrimary": True,
            }
        ]
        assert ben["virtuousContactId"] == "7001"
        assert ben["createdDate"] == ben["modifiedDate"] == "2026-01-01T09:00:00Z"
        assert ben["isArchived"] is False

    async def test_an_organization_is_named_by_its_organization(self, api: Api) -> None:
        org = await api.ok("GET", f"/api/Donor/{RIVERBEND_ID}")
        assert (org["isOrganization"], org["name"]) == (True, "Riverbend Community Foundation")
        assert (org["firstName"], org["lastName"]) == ("Cara", "Diaz")
        assert org["primaryAddress"] is None
        assert org["phone"] is None

    async def test_unknown_donor_is_404(self, api: Api) -> None:
        body = problem(await api.get("/api/Donor/999999"), 404)
        assert body["detail"] == "There is no donor with id 999999."

    async def test_paths_match_in_any_case(self, api: Api) -> None:
        donor = await api.ok("GET", f"/api/donor/{ANN_ID}")
        assert donor["id"] == ANN_ID
        problem(await api.get("/api/Nothing"), 404)


class TestList:
    async def seed_more(self, sim: RaiseDonorsSimulator, clock: ManualClock, count: int) -> None:
        for n in range(count):
            clock.advance(minutes=1)
            sim.seed_records(
                {
                    "donors": [
                        {"firstName": f"P{n}", "lastName": "Extra", "email": f"p{n}@example.org"}
                    ]
                }
            )

    async def test_skip_and_take_are_pascal_case(
        self, api: Api, sim: RaiseDonorsSimulator, clock: ManualClock
    ) -> None:
        await self.seed_more(sim, clock, 4)
        page = await api.ok("GET", "/api/Donor/list", params={"Skip": 1, "Take": 2})
        assert page["total"] == 7
        assert [d["id"] for d in page["items"]] == [BEN_ID, RIVERBEND_ID]
        # Lower-case names are other parameters to the API: ignored, the defaults apply.
        page = await api.ok("GET", "/api/Donor/list", params={"skip": 1, "take": 2})
        assert len(page["items"]) == 7
        assert page["items"][0]["id"] == ANN_ID

    async def test_newest_first(
        self, api: Api, sim: RaiseDonorsSimulator, clock: ManualClock
    ) -> None:
        await self.seed_more(sim, clock, 2)
        page = await api.ok(
            "GET",
            "/api/Donor/list",
            params={"Skip": 0, "Take": 3, "SortBy": "createdDateTime", "Descending": "true"},
        )
        assert [d["firstName"] for d in page["items"]] == ["P1", "P0", "Cara"]
        page = await api.ok(
            "GET", "/api/Donor/list", params={"Skip": 3, "Take": 25, "Descending": "true"}
        )
        assert [d["firstName"] for d in page["items"]] == ["Ben", "Ann"]

    async def test_other_orders(self, api: Api) -> None:
        page = await api.ok("GET", "/api/Donor/list", params={"SortBy": "lastName"})
        assert [d["lastName"] for d in page["items"]] == ["Diaz", "Lee", "Okafor"]
        page = await api.ok(
            "GET", "/api/Donor/list", params={"SortBy": "email", "Descending": "True"}
        )
        assert [d["id"] for d in page["items"]] == [RIVERBEND_ID, BEN_ID, ANN_ID]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"Take": 0}, "Take"),
            ({"Take": 501}, "Take"),
            ({"Take": "many"}, "Take"),
            ({"Skip": -1}, "Skip"),
            ({"SortBy": "shoeSize"}, "SortBy"),
            ({"Descending": "yes"}, "Descending"),
        ],
    )
    async def test_bad_parameters_name_the_parameter(
        self, api: Api, params: dict[str, Any], field: str
    ) -> None:
        body = problem(await api.get("/api/Donor/list", **params), 400)
        assert list(body["errors"]) == [field]
        assert body["detail"].startswith(f"{field}: ")


class TestSearch:
    @pytest.mark.parametrize(
        ("text", "found"),
        [
            ("ann.lee@EXAMPLE.org", [ANN_ID]),
            ("<ben@example.org>", [BEN_ID]),
            ("303-555-0199", [BEN_ID]),
            ("(512) 555-0100", [ANN_ID]),
            ("78701", [ANN_ID]),
            (str(BEN_ID), [BEN_ID]),
            ("7001", [BEN_ID]),
            ("riverbend", [RIVERBEND_ID]),
            ("okaf", [BEN_ID]),
            ("tx", [ANN_ID]),
            ("nobody@example.org", []),
        ],
    )
    async def test_finds_by_email_phone_postal_id_name_state(
        self, api: Api, text: str, found: list[int]
    ) -> None:
        result = await api.ok("GET", "/api/Donor/search", params={"filter": text})
        assert [d["id"] for d in result["items"]] == found
        assert result["total"] == len(found)

    async def test_an_empty_filter_is_refused(self, api: Api) -> None:
        assert list(problem(await api.get("/api/Donor/search"), 400)["errors"]) == ["filter"]


class TestPatch:
    async def test_changes_names_email_phone_address_and_contact_id(
        self, api: Api, sim: RaiseDonorsSimulator, clock: ManualClock
    ) -> None:
        clock.advance(minutes=5)
        answer = await api.ok(
            "PATCH",
            f"/api/Donor/{ANN_ID}",
            json={
                "firstName": "Annie",
                "lastName": "Lee-Park",
                "email": "annie@example.org",
                "phone": "(512) 555-0177",
                "primaryAddress": {
                    "address1": "77 Pine St",
                    "city": "Round Rock",
                    "state": "TX",
                    "postalCode": "78664",
                    "country": "US",
                },
                "virtuousContactId": 5150,
            },
        )
        ann = stored(sim, ANN_ID)
        assert answer == ann
        assert (ann["name"], ann["email"], ann["phone"]) == (
            "Annie Lee-Park",
            "annie@example.org",
            "(512) 555-0177",
        )
        # Replaced whole: address2, not sent, is now blank; the address keeps its id.
        assert ann["primaryAddress"]["address2"] is None
        assert ann["primaryAddress"]["city"] == "Round Rock"
        assert len(ann["donorAddresses"]) == 1
        assert ann["virtuousContactId"] == "5150"
        assert ann["modifiedDate"] == "2026-01-01T09:05:00Z"
        assert ann["createdDate"] == "2026-01-01T09:00:00Z"
        assert sim.account.donors.by_email("ANNIE@example.org") is not None
        assert sim.account.donors.by_email("ann.lee@example.org") is None

    async def test_phone_changes_the_primary_number_only(
        self, api: Api, sim: RaiseDonorsSimulator
    ) -> None:
        await api.ok("PATCH", f"/api/Donor/{BEN_ID}", json={"phone": "303.555.0150"})
        phones = stored(sim, BEN_ID)["donorPhoneNumbers"]
        assert [(p["number"], p["isPrimary"]) for p in phones] == [
            ("303.555.0150", True),
            ("(303) 555-0199", False),
        ]

    async def test_a_phone_is_added_when_there_is_none(
        self, api: Api, sim: RaiseDonorsSimulator
    ) -> None:
        await api.ok("PATCH", f"/api/Donor/{RIVERBEND_ID}", json={"phone": "+1 615 555 0123"})
        org = stored(sim, RIVERBEND_ID)
        assert org["phone"] == "+1 615 555 0123"
        assert [(p["type"], p["isPrimary"]) for p in org["donorPhoneNumbers"]] == [("Home", True)]

    async def test_removing_the_primary_promotes_the_next(
        self, api: Api, sim: RaiseDonorsSimulator
    ) -> None:
        await api.ok("PATCH", f"/api/Donor/{BEN_ID}", json={"phone": None, "primaryAddress": None})
        ben = stored(sim, BEN_ID)
        assert ben["phone"] == "(303) 555-0199"
        assert ben["primaryAddress"]["city"] == "Vail"
        assert len(ben["donorAddresses"]) == len(ben["donorPhoneNumbers"]) == 1

    async def test_an_organization_name_makes_an_organization(
        self, api: Api, sim: RaiseDonorsSimulator
    ) -> None:
        await api.ok("PATCH", f"/api/Donor/{ANN_ID}", json={"organizationName": "Lee Family Trust"})
        assert stored(sim, ANN_ID)["isOrganization"] is True
        assert stored(sim, ANN_ID)["name"] == "Lee Family Trust"
        await api.ok("PATCH", f"/api/Donor/{ANN_ID}", json={"organizationName": ""})
        assert (stored(sim, ANN_ID)["isOrganization"], stored(sim, ANN_ID)["name"]) == (
            False,
            "Ann Lee",
        )

    async def test_the_same_values_change_nothing(
        self, api: Api, sim: RaiseDonorsSimulator, clock: ManualClock
    ) -> None:
        clock.advance(minutes=30)
        await api.ok(
            "PATCH",
            f"/api/Donor/{ANN_ID}",
            json={"firstName": "Ann", "phone": "(512) 555-0100", "primaryAddress": ANN_ADDRESS},
        )
        assert stored(sim, ANN_ID)["modifiedDate"] == "2026-01-01T09:00:00Z"
        assert len(sim.account.activity) == 0

    async def test_a_taken_email_is_409_naming_it(
        self, api: Api, sim: RaiseDonorsSimulator
    ) -> None:
        response = await api.patch(f"/api/Donor/{BEN_ID}", {"email": "ANN.LEE@example.org"})
        body = problem(response, 409)
        assert "ANN.LEE@example.org" in body["detail"]
        assert f"donor {ANN_ID}" in body["detail"]
        assert list(body["errors"]) == ["email"]
        assert stored(sim, BEN_ID)["email"] == "ben@example.org"
        # A donor may change the case of its own email.
        await api.ok("PATCH", f"/api/Donor/{ANN_ID}", json={"email": "ann.lee@example.org"})
        assert stored(sim, ANN_ID)["email"] == "ann.lee@example.org"

    async def test_unknown_donor_is_404(self, api: Api) -> None:
        problem(await api.patch("/api/Donor/424242", {"firstName": "X"}), 404)

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"shoeSize": 9}, ["shoeSize"]),
            ({"id": 5, "name": "X"}, ["id", "name"]),
            ({"email": "not-an-email"}, ["email"]),
            ({"email": None}, ["email"]),
            ({"phone": "call me"}, ["phone"]),
            ({"firstName": 7}, ["firstName"]),
            ({"lastName": "x" * 51}, ["lastName"]),
            ({"primaryAddress": {"city": "Austin", "zip": "78701"}}, ["primaryAddress.zip"]),
            ({"primaryAddress": {}}, ["primaryAddress"]),
            ({"primaryAddress": "12 Oak St"}, ["primaryAddress"]),
            ({"firstName": None, "lastName": None}, ["firstName", "lastName"]),
        ],
    )
    async def test_invalid_fields_are_400_naming_each(
        self, api: Api, sim: RaiseDonorsSimulator, body: dict[str, Any], fields: list[str]
    ) -> None:
        before = stored(sim, ANN_ID)
        answer = problem(await api.patch(f"/api/Donor/{ANN_ID}", body), 400)
        assert answer["title"] == "One or more validation errors occurred."
        assert sorted(answer["errors"]) == sorted(fields)
        for field in fields:
            assert f"{field}: " in answer["detail"]
        assert stored(sim, ANN_ID) == before
        assert len(sim.account.activity) == 0

    async def test_a_body_that_is_not_a_json_object(self, api: Api) -> None:
        response = await api.request("PATCH", f"/api/Donor/{ANN_ID}", content=b"[1, 2]")
        assert problem(response, 400)["errors"] == {"body": ["must be a JSON object, not a list"]}
        response = await api.request("PATCH", f"/api/Donor/{ANN_ID}", content=b"{oops")
        assert list(problem(response, 400)["errors"]) == ["body"]

    async def test_a_donor_id_that_is_not_a_number(self, api: Api) -> None:
        assert list(problem(await api.get("/api/Donor/ann"), 400)["errors"]) == ["id"]


class TestCreate:
    async def test_post_creates_a_donor_through_the_api(
        self, api: Api, sim: RaiseDonorsSimulator
    ) -> None:
        response = await api.post(
            "/api/Donor",
            {
                "firstName": "Dee",
                "lastName": "Novak",
                "email": "dee@example.org",
                "phone": "(612) 555-0101",
                "virtuousContactId": "9001",
            },
        )
        assert response.status_code == 201
        assert response.headers["location"] == "/api/Donor/100004"
        dee = stored(sim, 100_004)
        assert response.json() == dee
        assert (dee["name"], dee["virtuousContactId"], dee["phone"]) == (
            "Dee Novak",
            "9001",
            "(612) 555-0101",
        )
        [item] = sim.snapshot()["activity"]
        assert (item["type"], item["channel"], item["actor"]) == (
            "DonorCreated",
            "Api",
            CLIENT_NAME,
        )

    async def test_an_existing_email_is_409_naming_the_donor(
        self, api: Api, sim: RaiseDonorsSimulator
    ) -> None:
        body = problem(
            await api.post("/api/Donor", {"lastName": "X", "email": "BEN@example.org"}), 409
        )
        assert f"donor {BEN_ID}" in body["detail"]
        assert len(sim.account.donors) == 3

    async def test_email_and_a_name_are_required(self, api: Api, sim: RaiseDonorsSimulator) -> None:
        assert list(problem(await api.post("/api/Donor", {"lastName": "X"}), 400)["errors"]) == [
            "email"
        ]
        body = problem(await api.post("/api/Donor", {"email": "x@example.org"}), 400)
        assert list(body["errors"]) == ["lastName"]
        assert len(sim.account.donors) == 3
