"""Constituents through the API: create, read and edit individuals and organizations, with the
real API's POST/PATCH semantics and its error array."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator

from simulators.re_nxt.tests.conftest import C, create, get, messages
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def test_a_new_individual_has_its_email_phone_and_address(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    constituent_id = await create(
        api,
        first="Grace",
        middle="B.",
        last="Hopper",
        title="Dr.",
        birthdate={"d": 9, "m": 12, "y": 1906},
        email={"address": "grace@example.org", "type": "Email"},
        phone={"number": "617-555-0100", "type": "Mobile"},
        address={
            "type": "Home",
            "address_lines": "1 Navy Way",
            "city": "Arlington",
            "state": "VA",
            "postal_code": "22201",
            "country": "United States",
        },
    )
    body = await get(api, constituent_id)
    assert body["id"] == constituent_id == "1001"
    assert (body["name"], body["lookup_id"], body["type"]) == (
        "Grace B. Hopper",
        "100001",
        "Individual",
    )
    assert (body["gender"], body["deceased"], body["inactive"]) == ("Unknown", False, False)
    assert body["age"] == 119
    assert body["email"]["address"] == "grace@example.org"
    assert body["email"]["primary"] is True
    assert body["phone"]["number"] == "617-555-0100"
    assert body["address"]["preferred"] is True
    assert body["address"]["formatted_address"] == "1 Navy Way\nArlington, VA 22201\nUnited States"
    assert body["date_added"] == body["date_modified"] == "2026-01-01T09:00:00+00:00"
    assert "middle" in body
    assert "former_name" not in body  # properties without a value are left out
    stored = sim.store.constituents[constituent_id]
    assert stored.profile["title"] == "Dr."
    assert [e.address for e in sim.store.emails_of(constituent_id)] == ["grace@example.org"]


async def test_an_organization_has_a_name_and_no_individual_fields(api: httpx.AsyncClient) -> None:
    constituent_id = await create(
        api, type="Organization", name="Acme Foundation", lookup_id="ORG-1"
    )
    body = await get(api, constituent_id)
    assert (body["name"], body["lookup_id"], body["type"]) == (
        "Acme Foundation",
        "ORG-1",
        "Organization",
    )
    assert "gender" not in body
    assert "deceased" not in body
    refused = await api.post(
        f"{C}/constituents", json={"type": "Organization", "name": "X", "first": "Bo"}
    )
    assert refused.status_code == 400
    assert messages(refused) == ["first: for an Individual only"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "Individual", "first": "Ada"}, ["last is required for an Individual"]),
        ({"type": "Organization"}, ["name is required for an Organization"]),
        (
            {"type": "Household", "last": "X"},
            ["type: Input should be 'Individual' or 'Organization'"],
        ),
        (
            {"type": "Individual", "last": "X", "first_name": "Ada", "email": {"address": "nope"}},
            [
                "email.address: 'nope' is not a valid email address",
                "email.type: is required",
                "first_name: is not a property of this record (check its spelling, or edit it "
                "elsewhere)",
            ],
        ),
        (
            {"type": "Individual", "last": "x" * 101},
            ["last: String should have at most 100 characters"],
        ),
        (
            {
                "type": "Individual",
                "last": "X",
                "email": {"address": "a@example.org", "type": "Pager"},
            },
            [
                "email.type: Pager is not an entry of the email_types table (known: Email, Home, "
                "Business, Other)."
            ],
        ),
        (
            {"type": "Individual", "last": "X", "gender": "Robot"},
            [
                "gender: Robot is not an entry of the genders table (known: Female, Male, Other, "
                "Unknown)."
            ],
        ),
    ],
)
async def test_bad_bodies_are_refused_naming_every_field(
    api: httpx.AsyncClient, sim: ReNxtSimulator, body: dict[str, Any], expected: list[str]
) -> None:
    answer = await api.post(f"{C}/constituents", json=body)
    assert answer.status_code == 400
    assert messages(answer) == expected
    assert sim.store.constituents == {}  # a refused create leaves nothing behind


async def test_a_body_that_is_not_json_is_refused(api: httpx.AsyncClient) -> None:
    answer = await api.post(f"{C}/constituents", content=b"{not json")
    assert answer.status_code == 400
    assert messages(answer)[0].startswith("Invalid JSON")
    empty = await api.post(f"{C}/constituents")
    assert messages(empty) == ["The request body is empty; send a JSON object."]


async def test_lookup_ids_are_unique_and_given_out_in_sequence(api: httpx.AsyncClient) -> None:
    first = await create(api)
    second = await create(api, lookup_id="100002")
    third = await create(api)
    assert [(await get(api, i))["lookup_id"] for i in (first, second, third)] == [
        "100001",
        "100002",
        "100003",
    ]
    taken = await api.post(
        f"{C}/constituents", json={"type": "Individual", "last": "X", "lookup_id": "100001"}
    )
    assert taken.status_code == 400
    assert messages(taken) == [
        "lookup_id: 100001 is already the Constituent ID of constituent 1001."
    ]
    assert taken.json()[0]["error_name"] == "Duplicate"


async def test_patch_changes_what_is_sent_clears_nulls_and_stamps_the_record(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    constituent_id = await create(api, preferred_name="Addie", gender="Female")
    clock.advance(minutes=5)
    answer = await api.patch(
        f"{C}/constituents/{constituent_id}", json={"first": "Augusta", "preferred_name": None}
    )
    assert (answer.status_code, answer.content) == (200, b"")
    body = await get(api, constituent_id)
    assert (body["first"], body["last"], body["gender"]) == ("Augusta", "Lovelace", "Female")
    assert "preferred_name" not in body
    assert body["date_modified"] == "2026-01-01T09:05:00+00:00"
    assert body["date_added"] == "2026-01-01T09:00:00+00:00"
    clock.advance(minutes=5)
    # The same values again: still an update, stamped as a database update is.
    await api.patch(f"{C}/constituents/{constituent_id}", json={"first": "Augusta"})
    assert sim.store.constituents[constituent_id].date_modified == clock.now()
    clock.advance(minutes=5)
    empty = await api.patch(f"{C}/constituents/{constituent_id}", json={})
    assert empty.status_code == 200
    assert (await get(api, constituent_id))["date_modified"] == "2026-01-01T09:10:00+00:00"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"last": None}, "last: cannot be null for an Individual"),
        ({"name": "Ada L"}, "name: is computed for an Individual (edit first/last)"),
        ({"email": {"address": "a@example.org"}}, "email: is not a property of this record"),
        ({"lookup_id": None}, "lookup_id: cannot be null"),
        ({"inactive": "yes"}, "inactive: Input should be a valid boolean"),
    ],
)
async def test_patch_refusals_name_the_field(
    api: httpx.AsyncClient, patch: dict[str, Any], expected: str
) -> None:
    constituent_id = await create(api)
    answer = await api.patch(f"{C}/constituents/{constituent_id}", json=patch)
    assert answer.status_code == 400
    assert messages(answer)[0].startswith(expected)
    assert (await get(api, constituent_id))["last"] == "Lovelace"


async def test_an_unknown_constituent_is_a_404_error_array(api: httpx.AsyncClient) -> None:
    for answer in (
        await api.get(f"{C}/constituents/999"),
        await api.patch(f"{C}/constituents/999", json={"first": "X"}),
    ):
        assert answer.status_code == 404
        assert messages(answer) == ["The constituent with ID 999 was not found."]
        assert answer.json()[0]["error_name"] == "NotFound"


async def test_unknown_routes_get_the_gateways_404(api: httpx.AsyncClient) -> None:
    for answer in (
        await api.get("/constituent/v1/nothing"),
        await api.delete(f"{C}/constituents/1001"),  # the API cannot delete constituents
    ):
        assert (answer.status_code, answer.json()) == (
            404,
            {"statusCode": 404, "message": "Resource not found"},
        )


async def test_code_tables_are_listed(api: httpx.AsyncClient) -> None:
    types = (await api.get(f"{C}/emailaddresstypes")).json()
    assert types == {"count": 4, "value": ["Email", "Home", "Business", "Other"]}
    assert (await api.get(f"{C}/phonetypes")).json()["value"][1] == "Mobile"
    assert "Seasonal" in (await api.get(f"{C}/addresstypes")).json()["value"]
