"""Audiences, batch subscribe and member search."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash

from simulators.mailchimp.tests.conftest import LIST, problem, put_member

pytestmark = pytest.mark.anyio

NEW_LIST: dict[str, Any] = {
    "name": "Volunteers",
    "contact": {
        "company": "Good Cause",
        "address1": "1 High St",
        "city": "Leeds",
        "state": "West Yorkshire",
        "zip": "LS1 1AA",
        "country": "GB",
    },
    "permission_reminder": "You volunteered with us.",
    "campaign_defaults": {
        "from_name": "Good Cause",
        "from_email": "team@example.org",
        "subject": "News",
        "language": "en",
    },
    "email_type_option": False,
}


async def test_ping_and_the_account_root(api: httpx.AsyncClient) -> None:
    assert (await api.get("/3.0/ping")).json() == {"health_status": "Everything's Chimpy!"}
    await put_member(api, "ann@example.org")
    root = (await api.get("/3.0/")).json()
    assert (root["account_name"], root["total_subscribers"]) == ("syncframe", 1)


async def test_audiences_are_created_read_updated_and_deleted(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    made = (await api.post("/3.0/lists", json=NEW_LIST)).json()
    assert (made["name"], made["contact"]["city"], made["stats"]["member_count"]) == (
        "Volunteers",
        "Leeds",
        0,
    )
    listed = (await api.get("/3.0/lists", params={"fields": "lists.id,total_items"})).json()
    assert listed == {"lists": [{"id": LIST}, {"id": made["id"]}], "total_items": 2}
    renamed = await api.patch(f"/3.0/lists/{made['id']}", json={"name": "Helpers"})
    assert renamed.json()["name"] == "Helpers"
    assert (await api.delete(f"/3.0/lists/{made['id']}")).status_code == 204
    assert list(sim.account.audiences) == [LIST]


async def test_a_new_audience_needs_its_required_fields(api: httpx.AsyncClient) -> None:
    answer = await api.post("/3.0/lists", json={"name": "X", "contact": {"company": "C"}})
    fields = [e["field"] for e in problem(answer)["errors"]]
    assert fields[:3] == ["permission_reminder", "email_type_option", "contact.address1"]
    assert "campaign_defaults" in fields


async def test_audience_stats_count_members_by_status(api: httpx.AsyncClient) -> None:
    await put_member(api, "a@example.org")
    await put_member(api, "b@example.org", status_if_new="unsubscribed")
    await put_member(api, "c@example.org", status_if_new="cleaned")
    stats = (await api.get(f"/3.0/lists/{LIST}")).json()["stats"]
    assert (stats["member_count"], stats["unsubscribe_count"], stats["cleaned_count"]) == (1, 1, 1)
    assert stats["last_sub_date"] == "2026-01-01T09:00:00+00:00"


async def test_batch_subscribe_adds_updates_and_reports_errors(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "old@example.org", merge_fields={"FNAME": "Old"})
    await api.post(
        f"/3.0/lists/{LIST}/members/{subscriber_hash('old@example.org')}/tags",
        json={"tags": [{"name": "Stale", "status": "active"}]},
    )
    body = {
        "members": [
            {"email_address": "new@example.org", "status": "subscribed", "tags": ["Fresh"]},
            {
                "email_address": "old@example.org",
                "status": "subscribed",
                "merge_fields": {"FNAME": "Renewed"},
                "tags": ["Fresh"],
            },
            {"email_address": "broken", "status": "subscribed"},
        ],
        "update_existing": True,
        "sync_tags": True,
    }
    result = (await api.post(f"/3.0/lists/{LIST}", json=body)).json()
    assert (result["total_created"], result["total_updated"], result["error_count"]) == (1, 1, 1)
    assert result["errors"][0]["email_address"] == "broken"
    assert result["errors"][0]["field"] == "email_address"
    audience = sim.account.audiences[LIST]
    old = audience.members[subscriber_hash("old@example.org")]
    assert old.merge_fields == {"FNAME": "Renewed"}
    assert [t.name for t, _ in sim.account.member_tags(audience, old)] == ["Fresh"]
    again = (await api.post(f"/3.0/lists/{LIST}", json={"members": body["members"][:1]})).json()
    assert again["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"
    too_many = {
        "members": [
            {"email_address": f"m{i}@example.org", "status": "subscribed"} for i in range(501)
        ]
    }
    assert problem(await api.post(f"/3.0/lists/{LIST}", json=too_many))["errors"][0]["field"] == (
        "members"
    )


async def test_search_members_by_email_or_name(api: httpx.AsyncClient) -> None:
    await put_member(api, "ann.lee@example.org", merge_fields={"FNAME": "Ann", "LNAME": "Lee"})
    await put_member(api, "annabel@example.org", merge_fields={"FNAME": "Annabel"})
    exact = (await api.get("/3.0/search-members", params={"query": "Ann.Lee@example.org"})).json()
    assert [m["email_address"] for m in exact["exact_matches"]["members"]] == [
        "ann.lee@example.org"
    ]
    loose = (await api.get("/3.0/search-members", params={"query": "ann", "list_id": LIST})).json()
    assert loose["full_search"]["total_items"] == 2
    # Merge fields such as CONSID are not searched, as on the real API.
    assert problem(await api.get("/3.0/search-members"))["errors"][0]["field"] == "query"
