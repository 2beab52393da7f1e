"""Change polling: ``last_changed``, ``since_last_changed``, count/offset paging, filters and
partial responses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator

from simulators.mailchimp.tests.conftest import LIST, member_url, problem, put_member
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

MEMBERS = f"/3.0/lists/{LIST}/members"


async def listing(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await api.get(MEMBERS, params=params)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def emails(page: dict[str, Any]) -> list[str]:
    return [m["email_address"] for m in page["members"]]


async def test_last_changed_moves_only_when_something_changed(
    api: httpx.AsyncClient, sim_clock: ManualClock
) -> None:
    first = await put_member(api, "ann@example.org", merge_fields={"FNAME": "Ann"})
    assert first["last_changed"] == "2026-01-01T09:00:00+00:00"
    sim_clock.advance(minutes=10)
    same = await put_member(api, "ann@example.org", merge_fields={"FNAME": "Ann"})
    assert same["last_changed"] == "2026-01-01T09:00:00+00:00"
    changed = await put_member(api, "ann@example.org", merge_fields={"FNAME": "Anne"})
    assert changed["last_changed"] == "2026-01-01T09:10:00+00:00"


async def test_since_last_changed_is_strictly_after(
    api: httpx.AsyncClient, sim_clock: ManualClock
) -> None:
    await put_member(api, "a@example.org")
    sim_clock.advance(seconds=30)
    await put_member(api, "b@example.org")
    sim_clock.advance(seconds=30)
    await put_member(api, "c@example.org")
    page = await listing(api, since_last_changed="2026-01-01T09:00:30+00:00")
    assert (emails(page), page["total_items"]) == (["c@example.org"], 1)
    # Z, and a "+" that an unencoded query turned into a space, are read the same way.
    assert emails(await listing(api, since_last_changed="2026-01-01T09:00:00Z")) == [
        "b@example.org",
        "c@example.org",
    ]
    raw = await api.get(f"{MEMBERS}?since_last_changed=2026-01-01T09:00:29+00:00")
    assert emails(raw.json()) == ["b@example.org", "c@example.org"]
    assert emails(await listing(api, before_last_changed="2026-01-01T09:00:30+00:00")) == [
        "a@example.org"
    ]


async def test_polling_pages_in_last_changed_order(
    api: httpx.AsyncClient, sim_clock: ManualClock
) -> None:
    for name in ("a", "b", "c", "d", "e"):
        await put_member(api, f"{name}@example.org")
        sim_clock.advance(seconds=1)
    await api.patch(member_url("a@example.org"), json={"merge_fields": {"FNAME": "A"}})
    pages = []
    offset = 0
    while True:
        page = await listing(
            api,
            since_last_changed="2026-01-01T09:00:00+00:00",
            sort_field="last_changed",
            sort_dir="ASC",
            count=2,
            offset=offset,
        )
        assert page["total_items"] == 5
        pages.append(emails(page))
        if len(page["members"]) < 2:
            break
        offset += 2
    assert pages == [
        ["b@example.org", "c@example.org"],
        ["d@example.org", "e@example.org"],
        ["a@example.org"],
    ]
    newest_first = await listing(api, sort_field="last_changed", sort_dir="DESC", count=1)
    assert emails(newest_first) == ["a@example.org"]


async def test_the_default_order_is_the_order_members_were_added(api: httpx.AsyncClient) -> None:
    for name in ("zed", "amy", "kim"):
        await put_member(api, f"{name}@example.org")
    page = await listing(api)
    assert emails(page) == ["zed@example.org", "amy@example.org", "kim@example.org"]


async def test_count_defaults_to_10_and_may_not_pass_1000(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    sim.seed_records(
        {
            "lists": [
                {"id": LIST, "members": [{"email_address": f"m{i}@example.org"} for i in range(12)]}
            ]
        }
    )
    page = await listing(api)
    assert (len(page["members"]), page["total_items"]) == (10, 12)
    assert len((await listing(api, count=5, offset=10))["members"]) == 2
    refused = await api.get(MEMBERS, params={"count": 1001})
    assert problem(refused)["errors"] == [
        {"field": "count", "message": "must be between 0 and 1000, not 1001"}
    ]


async def test_filters_by_status_and_refuses_unknown_values(api: httpx.AsyncClient) -> None:
    await put_member(api, "in@example.org")
    await put_member(api, "out@example.org", status_if_new="unsubscribed")
    await put_member(api, "gone@example.org")
    await api.delete(member_url("gone@example.org"))
    assert emails(await listing(api, status="unsubscribed")) == ["out@example.org"]
    assert emails(await listing(api, status="archived")) == ["gone@example.org"]
    # Archived members are listed (with their status) unless a status filter leaves them out.
    assert len((await listing(api))["members"]) == 3
    assert problem(await api.get(MEMBERS, params={"status": "happy"}))["errors"][0]["field"] == (
        "status"
    )
    unsub = await api.get(MEMBERS, params={"unsubscribed_since": "2025-01-01T00:00:00+00:00"})
    assert problem(unsub)["errors"][0]["field"] == "unsubscribed_since"
    bad_time = await api.get(MEMBERS, params={"since_last_changed": "yesterday"})
    assert problem(bad_time)["errors"][0]["field"] == "since_last_changed"


async def test_fields_and_exclude_fields(api: httpx.AsyncClient) -> None:
    await put_member(api, "ann@example.org", merge_fields={"FNAME": "Ann", "LNAME": "Lee"})
    # The SDK sends list parameters comma-joined.
    partial = await listing(
        api, fields="members.email_address,members.merge_fields.FNAME,total_items"
    )
    assert partial == {
        "members": [{"email_address": "ann@example.org", "merge_fields": {"FNAME": "Ann"}}],
        "total_items": 1,
    }
    trimmed = await listing(api, exclude_fields="_links,members._links,members.merge_fields")
    assert "_links" not in trimmed
    assert "merge_fields" not in trimmed["members"][0]
    assert "_links" not in trimmed["members"][0]
    assert trimmed["members"][0]["status"] == "subscribed"
    one = await api.get(member_url("ann@example.org"), params={"fields": "id,status"})
    assert set(one.json()) == {"id", "status"}
