"""sObject Collections (composite/sobjects): up to 200 records a call, with allOrNone."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.salesforce.tests.conftest import Org, error_of

pytestmark = pytest.mark.anyio

TYPE = {"type": "Contact"}


def contact(**fields: Any) -> dict[str, Any]:
    return {"attributes": TYPE, **fields}


async def test_create_reports_each_record_in_order(org: Org) -> None:
    answer = await org.post(
        "/composite/sobjects",
        {
            "records": [
                contact(LastName="Doe"),
                contact(FirstName="No last"),
                contact(LastName="Roe"),
            ]
        },
    )
    assert answer.status_code == 200
    first, second, third = answer.json()
    assert first == {"id": first["id"], "success": True, "errors": []}
    assert second == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert third["success"] is True
    assert [c["LastName"] for c in org.sim.snapshot()["contacts"]] == ["Doe", "Roe"]


async def test_all_or_none_rolls_every_write_back(org: Org) -> None:
    kept = await org.create(LastName="Kept", Title="Before")
    answer = await org.patch(
        "/composite/sobjects",
        {
            "allOrNone": True,
            "records": [contact(Id=kept, Title="After"), contact(Id=kept, Email="not an email")],
        },
    )
    rolled_back, failed = answer.json()
    assert rolled_back["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert failed["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert org.stored(kept)["Title"] == "Before"
    created = await org.post(
        "/composite/sobjects",
        {"allOrNone": True, "records": [contact(LastName="New"), contact(Foo="x")]},
    )
    assert [r["success"] for r in created.json()] == [False, False]
    assert [c["LastName"] for c in org.sim.snapshot()["contacts"]] == ["Kept"]


async def test_upsert_by_external_id(org: Org) -> None:
    existing = await org.create(LastName="Doe", RE_Constituent_ID__c="1")
    answer = await org.patch(
        "/composite/sobjects/Contact/RE_Constituent_ID__c",
        {
            "allOrNone": False,
            "records": [
                contact(RE_Constituent_ID__c="1", Title="Dr"),
                contact(RE_Constituent_ID__c="2", LastName="Roe"),
                contact(LastName="No id"),
            ],
        },
    )
    updated, created, refused = answer.json()
    assert updated == {"id": existing, "success": True, "errors": [], "created": False}
    assert created["created"] is True
    assert refused["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert org.stored(existing)["Title"] == "Dr"
    assert org.stored(created["id"])["RE_Constituent_ID__c"] == "2"


async def test_retrieve_and_delete(org: Org) -> None:
    first = await org.create(LastName="Doe", Email="d@example.org")
    second = await org.create(LastName="Roe")
    got = await org.get(
        "/composite/sobjects/Contact", ids=f"{first},{second[:15]},003Rs0000000000AAA",
        fields="Email,LastName",
    )  # fmt: skip
    assert [r and r["LastName"] for r in got.json()] == ["Doe", "Roe", None]
    deleted = await org.delete("/composite/sobjects", ids=f"{first},{first}")
    assert [r["success"] for r in deleted.json()] == [True, False]
    assert deleted.json()[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert org.stored(first)["IsDeleted"] is True


async def test_request_refusals(org: Org) -> None:
    too_many = await org.post(
        "/composite/sobjects", {"records": [contact(LastName=str(n)) for n in range(201)]}
    )
    assert error_of(too_many)[:2] == (400, "EXCEEDED_MAX_SIZE_REQUEST")
    no_type = await org.post("/composite/sobjects", {"records": [{"LastName": "Doe"}]})
    assert no_type.json()[0]["errors"][0]["statusCode"] == "INVALID_TYPE"
    assert org.sim.snapshot()["contacts"] == []
    old = await org.http.post(
        "/services/data/v41.0/composite/sobjects", json={"records": []}, headers=org.auth
    )
    assert error_of(old)[:2] == (404, "NOT_FOUND")
