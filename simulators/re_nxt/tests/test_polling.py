"""Listing and polling: ``last_modified`` (on or after) with ``sort_token`` in ``next_link``,
stable while records change; ``limit``/``offset``; filters; the list latency of the
read-optimized store."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator

from simulators.re_nxt.tests.conftest import C, create, ids_of, messages
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

START = "2026-01-01T09:00:00+00:00"


async def five_minutes_apart(
    api: httpx.AsyncClient, clock: ManualClock, count: int = 5
) -> list[str]:
    """``count`` individuals (Zed, Yan, Xu... so name order is the reverse), one a minute."""
    made = []
    for n in range(count):
        made.append(await create(api, first="P", last=chr(ord("Z") - n) + "son"))
        clock.advance(minutes=1)
    return made


async def follow(api: httpx.AsyncClient, url: str, params: dict[str, Any]) -> list[list[str]]:
    """Every page of a list, following ``next_link`` as a client would."""
    pages = []
    ids, body = await ids_of(api, url, **params)
    pages.append(ids)
    while "next_link" in body:
        answer = await api.get(body["next_link"])
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([item["id"] for item in body["value"]])
    return pages


async def test_last_modified_lists_on_or_after_in_modification_order(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    made = await five_minutes_apart(api, clock)
    ids, body = await ids_of(api, f"{C}/constituents", last_modified="2026-01-01T09:02:00Z")
    assert ids == made[2:]
    assert body["count"] == 3
    assert "next_link" not in body
    # Offsets in the filter are respected: 10:02+01:00 is 09:02 UTC.
    ids, _ = await ids_of(api, f"{C}/constituents", last_modified="2026-01-01T10:02:00+01:00")
    assert ids == made[2:]
    ids, _ = await ids_of(api, f"{C}/constituents", last_modified="2026-01-02")
    assert ids == []


async def test_next_link_carries_a_sort_token_and_pages_through_everything(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    made = await five_minutes_apart(api, clock)
    first_ids, body = await ids_of(api, f"{C}/constituents", last_modified=START, limit=2)
    assert first_ids == made[:2]
    link = urlsplit(body["next_link"])
    assert link.path == f"{C}/constituents"
    query = parse_qs(link.query)
    assert query["last_modified"] == [START]
    assert query["limit"] == ["2"]
    assert "offset" not in query
    token = json.loads(base64.urlsafe_b64decode(query["sort_token"][0] + "=="))
    assert (token["f"], token["i"]) == ("date_modified", made[1])
    pages = await follow(api, f"{C}/constituents", {"last_modified": START, "limit": 2})
    assert pages == [made[:2], made[2:4], made[4:]]


async def test_paging_is_stable_while_records_change(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    made = await five_minutes_apart(api, clock)
    first, body = await ids_of(api, f"{C}/constituents", last_modified=START, limit=2)
    assert first == made[:2]
    # The same order paged by offset (two sort fields: no sort token), for comparison.
    by_offset, _ = await ids_of(api, f"{C}/constituents", sort="date_modified,id", limit=2)
    assert by_offset == made[:2]
    # Someone edits the first record (already seen) and the third (not yet seen) meanwhile.
    await api.patch(f"{C}/constituents/{made[0]}", json={"middle": "Q"})
    await api.patch(f"{C}/constituents/{made[2]}", json={"middle": "Q"})
    rest: list[str] = []
    while "next_link" in body:
        body = (await api.get(body["next_link"])).json()
        rest.extend(item["id"] for item in body["value"])
        assert body["count"] == 5  # every record matching the filter, the same on each page
    # Nothing unchanged is skipped or repeated; the changed ones come again, at the end.
    assert rest == [made[3], made[4], made[0], made[2]]
    # Offsets count positions in the list as it is now: the fourth record is never seen.
    for offset in (2, 4):
        page, _ = await ids_of(
            api, f"{C}/constituents", sort="date_modified,id", limit=2, offset=offset
        )
        by_offset.extend(page)
    assert made[3] not in by_offset


async def test_without_dates_the_list_is_by_name_and_paged_by_offset(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    made = await five_minutes_apart(api, clock)
    org = await create(api, type="Organization", name="Acme Trust")
    pages = await follow(api, f"{C}/constituents", {"limit": 2})
    assert pages == [[org, made[4]], [made[3], made[2]], [made[1], made[0]]]
    _, body = await ids_of(api, f"{C}/constituents", limit=2)
    assert parse_qs(urlsplit(body["next_link"]).query)["offset"] == ["2"]
    ids, _ = await ids_of(api, f"{C}/constituents", sort="-date_added", limit=3)
    assert ids == [org, made[4], made[3]]
    ids, _ = await ids_of(api, f"{C}/constituents", offset=5)
    assert ids == [made[0]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "0"}, "limit: 0 is not between 1 and 5000."),
        ({"limit": "5001"}, "limit: 5001 is not between 1 and 5000."),
        ({"offset": "-1"}, "offset: -1 is not between 0 and 2147483647."),
        ({"limit": "ten"}, "limit: ten is not a whole number."),
        ({"last_modified": "yesterday"}, "last_modified: 'yesterday' is not an ISO-8601"),
        (
            {"sort": "date_added", "sort_token": "abc"},
            "sort and sort_token cannot be used together.",
        ),
        ({"sort_token": "not-a-token"}, "sort_token: not-a-token is not a sort token"),
        ({"sort": "shoe_size"}, "sort: shoe_size is not a field to sort by"),
        ({"include_inactive": "maybe"}, "include_inactive: maybe is not true or false."),
    ],
)
async def test_bad_list_parameters_are_refused(
    api: httpx.AsyncClient, params: dict[str, str], expected: str
) -> None:
    answer = await api.get(f"{C}/constituents", params=params)
    assert answer.status_code == 400
    assert messages(answer)[0].startswith(expected)


async def test_a_token_of_another_list_is_refused(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    constituent_id = await create(api, email={"address": "a@example.org", "type": "Email"})
    await create(api, email={"address": "b@example.org", "type": "Email"})
    _, body = await ids_of(api, f"{C}/emailaddresses", last_modified=START, limit=1)
    token = parse_qs(urlsplit(body["next_link"]).query)["sort_token"][0]
    answer = await api.get(f"{C}/constituents", params={"sort_token": token})
    assert messages(answer) == [
        "sort_token: the token belongs to the emailaddresses list, not to constituents."
    ]
    assert constituent_id


async def test_inactive_and_deceased_need_asking_for(api: httpx.AsyncClient) -> None:
    active = await create(api, last="Active")
    inactive = await create(api, last="Bygone", inactive=True)
    deceased = await create(api, last="Late", deceased=True)
    ids, _ = await ids_of(api, f"{C}/constituents")
    assert ids == [active]
    ids, _ = await ids_of(
        api, f"{C}/constituents", include_inactive="true", include_deceased="true"
    )
    assert ids == [active, inactive, deceased]
    # A record made inactive drops out of a default last_modified poll too.
    await api.patch(f"{C}/constituents/{active}", json={"inactive": True})
    ids, _ = await ids_of(api, f"{C}/constituents", last_modified=START)
    assert ids == []


async def test_filters_by_id_date_added_postal_code_and_fields(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    boston = await create(api, address={"type": "Home", "city": "Boston", "postal_code": "02108"})
    clock.advance(days=1)
    api.headers.update(sim.api_headers())
    denver = await create(api, last="Denverite", address={"type": "Home", "postal_code": "80202"})
    ids, _ = await ids_of(api, f"{C}/constituents", constituent_id=[boston, denver])
    assert ids == [denver, boston]
    ids, _ = await ids_of(api, f"{C}/constituents", date_added="2026-01-02")
    assert ids == [denver]
    ids, _ = await ids_of(api, f"{C}/constituents", postal_code="021,99")
    assert ids == [boston]
    _, body = await ids_of(api, f"{C}/constituents", fields="lookup_id,last")
    assert body["value"][0] == {"id": denver, "last": "Denverite", "lookup_id": "100002"}


async def test_a_list_id_selects_its_members_and_ignores_the_other_filters(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    members = [await create(api, last="Member"), await create(api, last="Another", inactive=True)]
    await create(api, last="Outsider")
    async with sim.admin() as admin:
        made = await admin.post("/re_nxt/lists", {"name": "Newsletter", "constituent_ids": members})
    ids, _ = await ids_of(api, f"{C}/constituents", list_id=made["id"], last_modified="2030-01-01")
    assert ids == [members[1], members[0]]
    unknown = await api.get(f"{C}/constituents", params={"list_id": "nope"})
    assert messages(unknown) == ["list_id: nope is not a constituent list."]


async def test_lists_lag_behind_by_the_list_latency(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    sim.configure(list_latency=1800)
    old = await create(api, last="Old")
    clock.advance(minutes=30)
    api.headers.update(sim.api_headers())
    new = await create(api, last="New")
    await api.patch(f"{C}/constituents/{old}", json={"first": "Changed"})
    clock.advance(minutes=10)
    ids, body = await ids_of(api, f"{C}/constituents", last_modified=START)
    # The new record is not listed yet; the old one is listed as it was before the change.
    assert ids == [old]
    assert body["value"][0]["date_modified"] == START
    assert body["value"][0]["first"] == "Ada"
    # Reads by id and search see the database itself.
    assert (await api.get(f"{C}/constituents/{new}")).status_code == 200
    assert (await api.get(f"{C}/constituents/{old}")).json()["first"] == "Changed"
    clock.advance(minutes=20)
    api.headers.update(sim.api_headers())
    ids, body = await ids_of(api, f"{C}/constituents", last_modified="2026-01-01T09:30:00Z")
    assert sorted(ids) == sorted([old, new])
    assert {item["first"] for item in body["value"]} == {"Changed", "Ada"}
    async with sim.admin() as admin:
        await admin.request("DELETE", f"/re_nxt/constituents/{new}")
    ids, _ = await ids_of(api, f"{C}/constituents")
    assert new in ids  # deleted, but the list does not know yet
    clock.advance(minutes=30)
    api.headers.update(sim.api_headers())
    ids, _ = await ids_of(api, f"{C}/constituents")
    assert ids == [old]


async def test_all_constituent_email_list_polls_by_last_modified(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = await create(api, email={"address": "a@example.org", "type": "Email"})
    clock.advance(minutes=1)
    second = await create(api, email={"address": "b@example.org", "type": "Email"})
    clock.advance(minutes=1)
    emails = (await api.get(f"{C}/constituents/{first}/emailaddresses")).json()["value"]
    await api.patch(f"{C}/emailaddresses/{emails[0]['id']}", json={"do_not_email": True})
    pages = []
    _, body = await ids_of(api, f"{C}/emailaddresses", last_modified=START, limit=1)
    pages.append([(v["constituent_id"], v["do_not_email"]) for v in body["value"]])
    while "next_link" in body:
        body = (await api.get(body["next_link"])).json()
        pages.append([(v["constituent_id"], v["do_not_email"]) for v in body["value"]])
    assert pages == [[(second, False)], [(first, True)]]
    ids, _ = await ids_of(api, f"{C}/emailaddresses", constituent_id=second)
    assert len(ids) == 1
    addresses = await api.get(f"{C}/addresses")
    assert addresses.json() == {"count": 0, "value": []}
