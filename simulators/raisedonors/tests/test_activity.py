"""The recent-activity feed the sync reads: every channel, its actor, the field changes and the
donor right after, oldest first, paged with ``SinceId``."""

from __future__ import annotations

from typing import Any

import pytest
from raisedonors_simulator import RaiseDonorsSimulator

from simulators.raisedonors.tests.conftest import (
    ANN_ID,
    BEN_ID,
    CLIENT_NAME,
    RIVERBEND_ID,
    Api,
    admin_call,
    problem,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def portal_edit(
    sim: RaiseDonorsSimulator, donor_id: int, channel: str, fields: dict[str, Any], **extra: Any
) -> Any:
    response = await admin_call(
        sim,
        "POST",
        f"/donors/{donor_id}/edit",
        json={"channel": channel, "fields": fields, **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def feed(api: Api, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.ok("GET", "/api/Activity/list", params=params)
    return result


async def test_each_channel_is_named_with_its_actor(
    api: Api, sim: RaiseDonorsSimulator, clock: ManualClock
) -> None:
    await portal_edit(sim, ANN_ID, "admin_portal", {"lastName": "Park"}, actor="Maria (admin)")
    clock.advance(minutes=1)
    await portal_edit(sim, BEN_ID, "donor_portal", {"phone": "(303) 555-0111"})
    clock.advance(minutes=1)
    await api.ok("PATCH", f"/api/Donor/{RIVERBEND_ID}", json={"organizationName": "Riverbend CF"})
    clock.advance(minutes=1)
    await api.ok(
        "POST",
        "/api/Raise/give",
        json={
            "email": "ben@example.org",
            "firstName": "Ben",
            "lastName": "Okafor",
            "amount": "50.00",
            "billingAddress": {"address1": "900 Elm St", "city": "Denver", "state": "CO"},
        },
    )
    items = (await feed(api))["items"]
    assert [(i["id"], i["donorId"], i["type"], i["channel"], i["actor"]) for i in items] == [
        (1, ANN_ID, "DonorUpdated", "AdminPortal", "Maria (admin)"),
        (2, BEN_ID, "DonorUpdated", "DonorPortal", "Ben Okafor"),
        (3, RIVERBEND_ID, "DonorUpdated", "Api", CLIENT_NAME),
        (4, BEN_ID, "GiftCreated", "Gift", "Ben Okafor"),
    ]
    assert [i["occurredAt"] for i in items] == [
        "2026-01-01T09:00:00Z",
        "2026-01-01T09:01:00Z",
        "2026-01-01T09:02:00Z",
        "2026-01-01T09:03:00Z",
    ]
    assert items[0]["changes"] == {"lastName": {"old": "Lee", "new": "Park"}}
    assert items[1]["changes"] == {"phone": {"old": "(303) 555-0142", "new": "(303) 555-0111"}}
    assert items[2]["changes"] == {
        "organizationName": {
            "old": "Riverbend Community Foundation",
            "new": "Riverbend CF",
        }
    }
    gift = items[3]
    assert gift["gift"]["amount"] == 50.0
    assert gift["gift"]["donorId"] == BEN_ID
    assert set(gift["changes"]) == {"primaryAddress"}
    assert "gift" not in items[0]


async def test_the_donor_is_as_it_was_right_after(api: Api, sim: RaiseDonorsSimulator) -> None:
    await portal_edit(sim, ANN_ID, "admin_portal", {"firstName": "Annie"})
    await portal_edit(sim, ANN_ID, "admin_portal", {"firstName": "Anna"})
    first, second = (await feed(api))["items"]
    assert first["donor"]["firstName"] == "Annie"
    assert second["donor"]["firstName"] == "Anna"
    assert second["changes"] == {"firstName": {"old": "Annie", "new": "Anna"}}
    assert sim.snapshot()["donors"][0] == second["donor"]


async def test_address_changes_carry_the_whole_primary_address(
    api: Api, sim: RaiseDonorsSimulator
) -> None:
    new_address = {"address1": "5 Bay Rd", "city": "Austin", "state": "TX", "postalCode": "78702"}
    await portal_edit(sim, ANN_ID, "donor_portal", {"primaryAddress": new_address})
    [item] = (await feed(api))["items"]
    change = item["changes"]["primaryAddress"]
    assert change["old"]["address1"] == "12 Oak St"
    assert change["old"]["address2"] == "Apt 4"
    assert change["new"] == {
        "id": change["old"]["id"],
        "address1": "5 Bay Rd",
        "address2": None,
        "city": "Austin",
        "state": "TX",
        "postalCode": "78702",
        "country": None,
        "isPrimary": True,
    }


async def test_paging_with_since_id(api: Api, sim: RaiseDonorsSimulator) -> None:
    for n in range(7):
        await portal_edit(sim, ANN_ID if n % 2 else BEN_ID, "admin_portal", {"lastName": f"L{n}"})
    page = await feed(api, SinceId=0, Take=3)
    assert ([i["id"] for i in page["items"]], page["total"]) == ([1, 2, 3], 7)
    page = await feed(api, SinceId=3, Take=3)
    assert ([i["id"] for i in page["items"]], page["total"]) == ([4, 5, 6], 4)
    page = await feed(api, SinceId=6, Take=3)
    assert ([i["id"] for i in page["items"]], page["total"]) == ([7], 1)
    page = await feed(api, SinceId=7, Take=3)
    assert page == {"items": [], "total": 0}
    page = await feed(api, SinceId=99)
    assert page == {"items": [], "total": 0}
    # One donor's items, paged the same way.
    page = await feed(api, SinceId=2, Take=2, DonorId=ANN_ID)
    assert ([i["id"] for i in page["items"]], page["total"]) == ([4, 6], 2)
    # Lower-case names are not the feed's parameters: the defaults (from the start) apply.
    page = await feed(api, sinceId=5, take=1)
    assert len(page["items"]) == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"Take": 501}, "Take"),
        ({"Take": 0}, "Take"),
        ({"SinceId": -1}, "SinceId"),
        ({"DonorId": "x"}, "DonorId"),
    ],
)
async def test_bad_paging_names_the_parameter(api: Api, params: dict[str, Any], field: str) -> None:
    assert list(problem(await api.get("/api/Activity/list", **params), 400)["errors"]) == [field]


async def test_the_feed_needs_a_token(sim: RaiseDonorsSimulator) -> None:
    problem(await sim.client().get("/api/Activity/list"), 401)


async def test_the_dashboard_shows_newest_first(sim: RaiseDonorsSimulator) -> None:
    for name in ("A", "B", "C"):
        await portal_edit(sim, ANN_ID, "admin_portal", {"firstName": name})
    response = await admin_call(sim, "GET", "/activity", params={"limit": 2})
    assert [i["donor"]["firstName"] for i in response.json()["items"]] == ["C", "B"]
