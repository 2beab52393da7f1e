"""Merge fields: the defaults, a CONSID field for the RE constituent id, types and validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash

from simulators.mailchimp.tests.conftest import LIST, member_url, problem, put_member

pytestmark = pytest.mark.anyio

FIELDS = f"/3.0/lists/{LIST}/merge-fields"


async def add_field(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await api.post(FIELDS, json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def values(sim: MailchimpSimulator, email: str) -> dict[str, Any]:
    merges: dict[str, Any] = (
        sim.account.audiences[LIST].members[subscriber_hash(email)].merge_fields
    )
    return merges


async def test_a_new_audience_has_the_default_fields(api: httpx.AsyncClient) -> None:
    listing = (await api.get(FIELDS)).json()
    assert [(m["merge_id"], m["tag"], m["type"]) for m in listing["merge_fields"]] == [
        (1, "FNAME", "text"),
        (2, "LNAME", "text"),
        (3, "ADDRESS", "address"),
        (4, "PHONE", "phone"),
        (5, "BIRTHDAY", "birthday"),
    ]
    assert (listing["total_items"], listing["list_id"]) == (5, LIST)


async def test_a_consid_field_holds_the_constituent_id(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    made = await add_field(api, tag="CONSID", name="RE Constituent ID", type="text")
    assert (made["merge_id"], made["tag"], made["required"]) == (6, "CONSID", False)
    assert (await api.get(f"{FIELDS}/6")).json()["name"] == "RE Constituent ID"
    member = await put_member(api, "ann@example.org", merge_fields={"CONSID": "10042"})
    assert member["merge_fields"]["CONSID"] == "10042"
    assert values(sim, "ann@example.org") == {"CONSID": "10042"}


async def test_a_field_without_a_tag_gets_one(api: httpx.AsyncClient) -> None:
    made = await add_field(api, name="Favourite colour", type="text")
    assert made["tag"] == "MMERGE6"


async def test_bad_field_definitions_name_the_field(api: httpx.AsyncClient) -> None:
    answer = await api.post(FIELDS, json={"tag": "FNAME", "type": "colour", "required": "yes"})
    fields = [e["field"] for e in problem(answer)["errors"]]
    assert fields == ["name", "type", "tag", "required"]
    assert (await api.get(FIELDS)).json()["total_items"] == 5


async def test_required_fields_and_skip_merge_validation(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await add_field(api, tag="CONSID", name="RE Constituent ID", type="text", required=True)
    body = {"email_address": "bo@example.org", "status_if_new": "subscribed"}
    refused = await api.put(member_url("bo@example.org"), json=body)
    refusal = problem(refused)
    assert refusal["detail"] == "Your merge fields were invalid."
    assert refusal["errors"] == [{"field": "CONSID", "message": "Please enter a value"}]
    assert subscriber_hash("bo@example.org") not in sim.account.audiences[LIST].members
    accepted = await api.put(
        member_url("bo@example.org"), json=body, params={"skip_merge_validation": "True"}
    )
    assert accepted.status_code == 200
    # An update that does not send the field leaves it alone; clearing it is refused.
    assert (await api.patch(member_url("bo@example.org"), json={"vip": True})).status_code == 200
    cleared = await api.patch(member_url("bo@example.org"), json={"merge_fields": {"CONSID": ""}})
    assert problem(cleared)["errors"][0]["field"] == "CONSID"


async def test_values_are_checked_and_stored_per_type(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await add_field(api, tag="GIFTS", name="Gift count", type="number")
    await add_field(api, tag="JOINED", name="Joined", type="date")
    await add_field(
        api, tag="REGION", name="Region", type="dropdown", options={"choices": ["North", "South"]}
    )
    member = await put_member(
        api,
        "cy@example.org",
        merge_fields={
            "GIFTS": "3",
            "JOINED": "03/31/2024",
            "REGION": "North",
            "BIRTHDAY": "7/4",
            "ADDRESS": {"addr1": "1 High St", "city": "Leeds", "zip": "LS1 1AA", "country": "GB"},
        },
    )
    assert {k: member["merge_fields"][k] for k in ("GIFTS", "JOINED", "REGION", "BIRTHDAY")} == {
        "GIFTS": 3,
        "JOINED": "2024-03-31",
        "REGION": "North",
        "BIRTHDAY": "07/04",
    }
    assert values(sim, "cy@example.org")["ADDRESS"] == {
        "addr1": "1 High St",
        "addr2": "",
        "city": "Leeds",
        "state": "",
        "zip": "LS1 1AA",
        "country": "GB",
    }
    answer = await api.patch(
        member_url("cy@example.org"),
        json={
            "merge_fields": {
                "GIFTS": "many",
                "REGION": "East",
                "JOINED": "31st March",
                "ADDRESS": {"addr1": "5 Main St", "city": "Austin"},
            }
        },
    )
    errors = {e["field"]: e["message"] for e in problem(answer)["errors"]}
    assert errors["GIFTS"] == "Please enter a number"
    assert errors["REGION"] == "'East' is not one of the choices: North, South"
    assert errors["JOINED"].startswith("Please enter the date as MM/DD/YYYY")
    # A US address (the default country) needs state and zip as well.
    assert errors["ADDRESS"] == "Please enter a complete address: state, zip missing"
    assert values(sim, "cy@example.org")["GIFTS"] == 3  # nothing of a refused write lands


async def test_renaming_a_tag_moves_the_values_and_deleting_drops_them(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    made = await add_field(api, tag="CONSID", name="RE Constituent ID", type="text")
    await put_member(api, "di@example.org", merge_fields={"CONSID": "7", "FNAME": "Di"})
    renamed = await api.patch(f"{FIELDS}/{made['merge_id']}", json={"tag": "RE_ID"})
    assert renamed.json()["tag"] == "RE_ID"
    assert values(sim, "di@example.org") == {"RE_ID": "7", "FNAME": "Di"}
    retyped = await api.patch(f"{FIELDS}/{made['merge_id']}", json={"type": "number"})
    assert problem(retyped)["errors"][0]["field"] == "type"
    assert (await api.delete(f"{FIELDS}/{made['merge_id']}")).status_code == 204
    assert values(sim, "di@example.org") == {"FNAME": "Di"}
    assert (await api.get(f"{FIELDS}/{made['merge_id']}")).status_code == 404
