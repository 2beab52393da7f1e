"""``POST /api/Contact/Query``: Last Modified Date and Reference Source conditions, groups,
sorting, skip/take paging with the total, and refusals naming the condition."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from virtuous_simulator import VirtuousSimulator

from simulators.virtuous.tests.conftest import advance, household

pytestmark = pytest.mark.anyio


def condition(parameter: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"parameter": parameter, "operator": operator, "value": value, **extra}


async def query(
    api: httpx.AsyncClient,
    *groups: list[dict[str, Any]],
    skip: int = 0,
    take: int = 500,
    **body: Any,
) -> dict[str, Any]:
    answer = await api.post(
        f"/api/Contact/Query?skip={skip}&take={take}",
        json={"groups": [{"conditions": conditions} for conditions in groups], **body},
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def ids(result: dict[str, Any]) -> list[int]:
    return [contact["id"] for contact in result["list"]]


@pytest.fixture
async def three_days(sim: VirtuousSimulator, api: httpx.AsyncClient) -> list[int]:
    """Contacts made on Jan 1 (RaiseDonors), Jan 2 (no reference) and Jan 3 (RaiseDonors);
    the first is edited on Jan 3, after the third was made."""
    made = []
    for n, reference in enumerate(["100001", None, "100003"]):
        contact = household(f"P{n}", "Q", email=f"p{n}@example.org", reference_id=reference)
        made.append((await api.post("/api/Contact", json=contact)).json()["id"])
        advance(sim, days=1)
    # Now Jan 4, 09:00: edit the first.
    sim.edit_contact(made[0], {"phone": "(512) 555-0111"}, source="admin")
    return made


async def test_last_modified_on_or_after_a_date_and_a_time(
    api: httpx.AsyncClient, three_days: list[int]
) -> None:
    first, second, third = three_days
    on_or_after = condition("Last Modified Date", "OnOrAfter", "2026-01-02")
    result = await query(api, [on_or_after], sortBy="Last Modified Date")
    assert ids(result) == [second, third, first]
    assert result["total"] == 3
    exact = condition("Last Modified Date", "OnOrAfter", "2026-01-03T09:00:00.000Z")
    assert ids(await query(api, [exact], sortBy="Last Modified Date")) == [third, first]
    after = condition("Last Modified Date", "After", "2026-01-03T09:00:00.000Z")
    assert ids(await query(api, [after])) == [first]
    # A modifiedDateTimeUtc read back from the API compares equal to the stored time.
    stamp = (await api.get(f"/api/Contact/{third}")).json()["modifiedDateTimeUtc"]
    at = condition("Last Modified Date", "Is", stamp)
    assert ids(await query(api, [at])) == [third]
    day = condition("Last Modified Date", "Is", "1/3/2026")
    assert ids(await query(api, [day])) == [third]
    between = condition("Last Modified Date", "Between", "2026-01-01", secondaryValue="2026-01-02")
    assert ids(await query(api, [between])) == [second]
    before = condition("Create Date", "Before", "2026-01-02")
    assert ids(await query(api, [before])) == [first]


async def test_reference_source_and_groups(api: httpx.AsyncClient, three_days: list[int]) -> None:
    first, second, third = three_days
    raisedonors = condition("Reference Source", "Is", "legacy raisedonors")
    assert ids(await query(api, [raisedonors])) == [first, third]
    unset = condition("Reference Source", "IsNotSet")
    assert ids(await query(api, [unset])) == [second]
    recent = condition("Last Modified Date", "OnOrAfter", "2026-01-03")
    assert ids(await query(api, [raisedonors, recent])) == [first, third]
    old = condition("Create Date", "Is", "2026-01-01")
    # Groups are alternatives: either holds.
    assert ids(await query(api, [unset], [old])) == [first, second]
    email = condition("Email Address", "Is", "P2@example.org")
    assert ids(await query(api, [email])) == [third]


async def test_paging_with_skip_and_take(sim: VirtuousSimulator, api: httpx.AsyncClient) -> None:
    for n in range(7):
        sim.create_contact(household(f"N{n}", "Z", email=f"n{n}@example.org"))
    pages = [await query(api, skip=skip, take=3, descending=True) for skip in (0, 3, 6, 9)]
    assert [ids(page) for page in pages] == [
        [1007, 1006, 1005],
        [1004, 1003, 1002],
        [1001],
        [],
    ]
    assert {page["total"] for page in pages} == {7}
    default = await api.post("/api/Contact/Query", json={})
    assert len(default.json()["list"]) == 7  # take defaults to 10


async def test_pages_of_a_large_result_come_from_one_evaluation(
    sim: VirtuousSimulator, api: httpx.AsyncClient
) -> None:
    for n in range(1200):
        sim.create_contact(household(f"N{n}", "Z", email=f"n{n}@example.org", reference_id=None))
    seen: list[int] = []
    for skip in range(0, 1200, 500):
        seen += ids(await query(api, [condition("Reference Source", "IsNotSet")], skip=skip))
    assert seen == list(range(1001, 2201))
    assert len(sim.queries._cache) == 1


@pytest.mark.parametrize(
    ("url", "body", "names"),
    [
        ("/api/Contact/Query?take=501", {}, "take"),
        ("/api/Contact/Query?take=0", {}, "take"),
        ("/api/Contact/Query?skip=-1", {}, "skip"),
        ("/api/Contact/Query?skip=x", {}, "skip"),
        (
            "/api/Contact/Query",
            {"groups": [{"conditions": [condition("Shoe Size", "Is", "9")]}]},
            "groups.0.conditions.0.parameter",
        ),
        (
            "/api/Contact/Query",
            {"groups": [{"conditions": [condition("Last Modified Date", "Contains", "x")]}]},
            "groups.0.conditions.0.operator",
        ),
        (
            "/api/Contact/Query",
            {"groups": [{"conditions": [condition("Last Modified Date", "After", "soon")]}]},
            "groups.0.conditions.0.value",
        ),
        (
            "/api/Contact/Query",
            {
                "groups": [
                    {"conditions": [condition("Last Modified Date", "Between", "2026-01-01")]}
                ]
            },
            "secondaryValue",
        ),
        ("/api/Contact/Query", {"sortBy": "Shoe Size"}, "sortBy"),
        ("/api/Contact/Query", {"groups": [{"conditions": [{"operator": "Is"}]}]}, "parameter"),
    ],
)
async def test_refusals_name_what_is_wrong(
    api: httpx.AsyncClient, url: str, body: dict[str, Any], names: str
) -> None:
    answer = await api.post(url, json=body)
    assert answer.status_code == 400
    assert names in answer.json()["message"]


async def test_query_options_list_what_is_supported(api: httpx.AsyncClient) -> None:
    options = (await api.get("/api/Contact/QueryOptions")).json()
    parameters = {p["parameter"]: p["operators"] for p in options["parameters"]}
    assert "OnOrAfter" in parameters["Last Modified Date"]
    assert parameters["Reference Source"] == ["Is", "IsNot", "IsSet", "IsNotSet"]
    assert options["maxTake"] == 500
