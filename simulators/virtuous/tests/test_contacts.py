"""Contacts through the API: create, read, Find, by reference, update; individuals and contact
methods; several addresses with one primary; errors naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from virtuous_simulator import VirtuousSimulator

from simulators.virtuous.tests.conftest import household

pytestmark = pytest.mark.anyio


async def create(api: httpx.AsyncClient, contact: dict[str, Any]) -> dict[str, Any]:
    answer = await api.post("/api/Contact", json=contact)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


class TestCreateAndRead:
    async def test_household_as_created(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        contact = await create(api, household())
        assert contact["id"] == 1001
        assert contact["contactType"] == "Household"
        assert contact["name"] == "Ann Baker"  # from its person when not given
        assert (contact["referenceSource"], contact["referenceId"]) == (
            "Legacy RaiseDonors",
            "100001",
        )
        assert contact["address"]["city"] == "Austin"
        assert contact["address"]["isPrimary"] is True
        assert contact["addresses"] == [contact["address"]]
        [person] = contact["contactIndividuals"]
        assert (person["firstName"], person["lastName"], person["isPrimary"]) == (
            "Ann",
            "Baker",
            True,
        )
        assert person["contactId"] == 1001
        assert [(m["type"], m["value"], m["isPrimary"]) for m in person["contactMethods"]] == [
            ("Home Email", "ann.baker@example.org", True),
            ("Home Phone", "(512) 555-0100", True),
        ]
        assert contact["createDateTimeUtc"] == "2026-01-01T09:00:00.000Z"
        assert contact["modifiedDateTimeUtc"] == "2026-01-01T09:00:00.000Z"
        read = await api.get("/api/Contact/1001")
        assert read.json() == contact
        assert sim.contacts.get(1001).primary_value("Email") == "ann.baker@example.org"

    async def test_organization_needs_a_name(self, api: httpx.AsyncClient) -> None:
        answer = await api.post(
            "/api/Contact", json={"contactType": "Organization", "contactIndividuals": []}
        )
        assert answer.status_code == 400
        assert answer.json()["message"] == "name: an Organization contact needs a name"
        made = await create(api, {"contactType": "foundation", "name": "Evergreen Trust"})
        assert (made["contactType"], made["name"], made["address"]) == (
            "Foundation",
            "Evergreen Trust",
            None,
        )

    @pytest.mark.parametrize(
        ("body", "names"),
        [
            ({"contactType": "Person", "name": "X"}, "contactType"),
            ({"name": "X"}, "contactType"),
            (
                {
                    "contactType": "Household",
                    "contactIndividuals": [
                        {"firstName": "A", "contactMethods": [{"type": "Home Email", "value": "x"}]}
                    ],
                },
                "contactIndividuals.0.contactMethods.0.value",
            ),
            (
                {
                    "contactType": "Household",
                    "contactIndividuals": [
                        {"firstName": "A", "contactMethods": [{"type": "Pager", "value": "1"}]}
                    ],
                },
                "contactIndividuals.0.contactMethods.0.type",
            ),
            (
                {
                    "contactType": "Household",
                    "name": "X",
                    "addresses": [
                        {"city": "A", "isPrimary": True},
                        {"city": "B", "isPrimary": True},
                    ],
                },
                "addresses",
            ),
        ],
    )
    async def test_bad_contact_is_400_naming_the_field(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient, body: dict[str, Any], names: str
    ) -> None:
        answer = await api.post("/api/Contact", json=body)
        assert answer.status_code == 400
        assert names in answer.json()["message"]
        assert sim.contacts.contacts == {}

    async def test_not_json(self, api: httpx.AsyncClient) -> None:
        answer = await api.post(
            "/api/Contact", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400
        assert "not valid JSON" in answer.json()["message"]

    async def test_unknown_contact_and_route(self, api: httpx.AsyncClient) -> None:
        missing = await api.get("/api/Contact/4242")
        assert (missing.status_code, missing.json()) == (
            404,
            {"message": "Contact 4242 was not found."},
        )
        unknown = await api.get("/api/Nope")
        assert unknown.status_code == 404
        assert "No HTTP resource" in unknown.json()["message"]
        wrong_method = await api.delete("/api/Contact/1001")
        assert wrong_method.status_code == 405
        assert "DELETE" in wrong_method.json()["message"]

    async def test_several_addresses_one_primary(self, api: httpx.AsyncClient) -> None:
        contact = await create(
            api,
            {
                "contactType": "Household",
                "name": "The Bakers",
                "addresses": [
                    {"address1": "1 Old Road", "city": "Boston"},
                    {"address1": "2 New Road", "city": "Denver", "isPrimary": True},
                ],
            },
        )
        assert [a["isPrimary"] for a in contact["addresses"]] == [False, True]
        assert contact["address"]["city"] == "Denver"


class TestFind:
    async def test_by_email_and_by_reference(self, api: httpx.AsyncClient) -> None:
        ann = await create(api, household())
        other = await create(
            api, household("Bo", "Chen", email="bo@example.org", reference_id="100002")
        )
        by_email = await api.get("/api/Contact/Find", params={"email": "ANN.BAKER@example.org"})
        assert by_email.json()["id"] == ann["id"]
        by_reference = await api.get(
            "/api/Contact/Find",
            params={"referenceSource": "legacy raisedonors", "referenceId": "100002"},
        )
        assert by_reference.json()["id"] == other["id"]
        # The reference wins over the email when both are given.
        both = await api.get(
            "/api/Contact/Find",
            params={
                "email": "ann.baker@example.org",
                "referenceSource": "Legacy RaiseDonors",
                "referenceId": "100002",
            },
        )
        assert both.json()["id"] == other["id"]
        path = await api.get("/api/Contact/Legacy%20RaiseDonors/100001")
        assert path.json()["id"] == ann["id"]

    async def test_not_found_and_nothing_to_find_by(self, api: httpx.AsyncClient) -> None:
        assert (await api.get("/api/Contact/Find", params={"email": "x@y.org"})).status_code == 404
        missing = await api.get("/api/Contact/Legacy%20RaiseDonors/9")
        assert missing.status_code == 404
        assert "9" in missing.json()["message"]
        bare = await api.get("/api/Contact/Find")
        assert bare.status_code == 400
        assert "email" in bare.json()["message"]

    async def test_shared_email_finds_the_oldest(self, api: httpx.AsyncClient) -> None:
        first = await create(api, household(reference_id=None))
        await create(api, household("Al", "Baker", reference_id=None))
        found = await api.get("/api/Contact/Find", params={"email": "ann.baker@example.org"})
        assert found.json()["id"] == first["id"]


class TestUpdate:
    async def test_put_changes_only_the_fields_given(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        contact = await create(api, household())
        answer = await api.put(
            f"/api/Contact/{contact['id']}",
            json={"name": "The Baker Household", "address": {"city": "Dallas"}},
        )
        assert answer.status_code == 200
        updated = answer.json()
        assert updated["name"] == "The Baker Household"
        assert updated["address"]["city"] == "Dallas"
        assert updated["address"]["address1"] == "12 Elm Street"
        assert updated["contactIndividuals"] == contact["contactIndividuals"]
        entries = [(e.field, e.old, e.new, e.source) for e in sim.contacts.get(1001).audit[1:]]
        assert entries == [
            ("Name", "Ann Baker", "The Baker Household", "api"),
            (
                "Primary Address",
                "12 Elm Street, Austin, TX 78701, United States",
                "12 Elm Street, Dallas, TX 78701, United States",
                "api",
            ),
        ]

    async def test_put_of_the_whole_contact_back_changes_nothing(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        contact = await create(api, household())
        answer = await api.put(f"/api/Contact/{contact['id']}", json=contact)
        assert answer.json() == contact
        assert len(sim.contacts.get(1001).audit) == 1

    async def test_individual_and_contact_methods(
        self, sim: VirtuousSimulator, api: httpx.AsyncClient
    ) -> None:
        contact = await create(api, household())
        person = contact["contactIndividuals"][0]
        renamed = await api.put(
            f"/api/ContactIndividual/{person['id']}", json={"firstName": "Anne"}
        )
        assert renamed.json()["firstName"] == "Anne"
        # A household named after its person follows the new name.
        assert sim.contacts.get(1001).name == "Anne Baker"
        added = await api.post(
            "/api/ContactMethod",
            json={
                "contactIndividualId": person["id"],
                "type": "Mobile Phone",
                "value": "(512) 555-0199",
                "isPrimary": True,
            },
        )
        assert added.status_code == 200
        assert sim.contacts.get(1001).primary_value("Phone") == "(512) 555-0199"
        home_phone = person["contactMethods"][1]["id"]
        back = await api.put(f"/api/ContactMethod/{home_phone}", json={"isPrimary": True})
        assert back.json()["isPrimary"] is True
        assert sim.contacts.get(1001).primary_value("Phone") == "(512) 555-0100"
        fields = [e.field for e in sim.contacts.get(1001).audit]
        assert fields == ["Contact", "First Name", "Name", "Primary Phone", "Primary Phone"]
        read = await api.get(f"/api/ContactIndividual/{person['id']}")
        assert read.json()["firstName"] == "Anne"
        assert (await api.get("/api/ContactIndividual/77")).status_code == 404
        assert (await api.put("/api/ContactMethod/77", json={"value": "x"})).status_code == 404

    async def test_bad_email_in_a_method_update(self, api: httpx.AsyncClient) -> None:
        contact = await create(api, household())
        email_id = contact["contactIndividuals"][0]["contactMethods"][0]["id"]
        answer = await api.put(f"/api/ContactMethod/{email_id}", json={"value": "no-at-sign"})
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("value:")


async def test_gifts_by_contact_is_empty_before_any_import(api: httpx.AsyncClient) -> None:
    contact = await create(api, household())
    answer = await api.get(f"/api/Gift/ByContact/{contact['id']}")
    assert answer.json() == {"list": [], "total": 0}
    assert (await api.get("/api/Gift/ByContact/4242")).status_code == 404
