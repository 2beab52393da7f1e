"""Members by subscriber hash: add, upsert, update, archive and permanent delete, and the rules
Mailchimp applies to each."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash

from simulators.mailchimp.tests.conftest import LIST, member_url, problem, put_member
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

MEMBERS = f"/3.0/lists/{LIST}/members"


def stored(sim: MailchimpSimulator, email: str) -> Any:
    return sim.account.audiences[LIST].members.get(subscriber_hash(email))


async def test_the_subscriber_hash_is_md5_of_the_lower_cased_email(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    member = await put_member(api, "Jane.Doe@Example.org")
    assert member["id"] == "b49be4c6d5b60918bf27d1189d8f326d"
    assert member["email_address"] == "Jane.Doe@Example.org"  # kept as written
    assert stored(sim, "jane.doe@example.org").status == "subscribed"
    # The path may also be the email address itself or the contact_id.
    for key in ("jane.doe@example.org", member["contact_id"]):
        answer = await api.get(f"{MEMBERS}/{key}")
        assert answer.json()["id"] == member["id"]


async def test_post_adds_and_refuses_an_address_already_on_the_list(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    body = {
        "email_address": "ann@example.org",
        "status": "subscribed",
        "merge_fields": {"FNAME": "Ann"},
        "tags": ["Donor"],
    }
    added = await api.post(MEMBERS, json=body)
    assert added.status_code == 200
    assert added.json()["tags"] == [{"id": 10001, "name": "Donor"}]
    member = stored(sim, "ann@example.org")
    assert (member.status, member.merge_fields, member.source) == (
        "subscribed",
        {"FNAME": "Ann"},
        "API - Generic",
    )
    again = await api.post(MEMBERS, json=body)
    assert again.status_code == 400
    refusal = problem(again)
    assert refusal["title"] == "Member Exists"
    assert "Use PUT to insert or update list members" in refusal["detail"]


async def test_post_needs_an_email_and_a_status(api: httpx.AsyncClient) -> None:
    answer = await api.post(MEMBERS, json={"merge_fields": {"FNAME": "Ann"}})
    refusal = problem(answer)
    assert (answer.status_code, refusal["title"]) == (400, "Invalid Resource")
    assert [e["field"] for e in refusal["errors"]] == ["email_address", "status"]


async def test_a_bad_email_address_is_refused(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    answer = await api.post(MEMBERS, json={"email_address": "not-an-email", "status": "subscribed"})
    refusal = problem(answer)
    assert refusal["detail"] == "Please provide a valid email address."
    assert refusal["errors"][0]["field"] == "email_address"
    assert sim.account.audiences[LIST].members == {}


async def test_put_creates_with_status_if_new_and_never_changes_the_status_otherwise(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    created = await put_member(api, "bo@example.org", status_if_new="pending")
    assert created["status"] == "pending"
    updated = await put_member(
        api, "bo@example.org", status_if_new="subscribed", merge_fields={"LNAME": "Bo"}
    )
    assert updated["status"] == "pending"
    assert stored(sim, "bo@example.org").merge_fields == {"LNAME": "Bo"}
    # ``status`` is what changes an existing member's status.
    await put_member(api, "bo@example.org", status="subscribed")
    assert stored(sim, "bo@example.org").status == "subscribed"


async def test_put_refuses_a_hash_that_is_not_the_emails(api: httpx.AsyncClient) -> None:
    answer = await api.put(
        member_url("someone@example.org"),
        json={"email_address": "other@example.org", "status_if_new": "subscribed"},
    )
    refusal = problem(answer)
    assert refusal["errors"] == [
        {
            "field": "email_address",
            "message": "The email address does not match the subscriber hash in the URL.",
        }
    ]


async def test_put_of_a_new_member_needs_a_status(api: httpx.AsyncClient) -> None:
    answer = await api.put(member_url("x@example.org"), json={"email_address": "x@example.org"})
    assert problem(answer)["errors"][0]["field"] == "status_if_new"


async def test_patch_changes_only_what_was_sent(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "cy@example.org", merge_fields={"FNAME": "Cy", "LNAME": "Young"})
    answer = await api.patch(
        member_url("cy@example.org"), json={"merge_fields": {"LNAME": "Old"}, "vip": True}
    )
    assert answer.status_code == 200
    member = stored(sim, "cy@example.org")
    assert (member.merge_fields, member.vip, member.status) == (
        {"FNAME": "Cy", "LNAME": "Old"},
        True,
        "subscribed",
    )
    assert answer.json()["full_name"] == "Cy Old"


async def test_patch_of_an_unknown_member_is_404(api: httpx.AsyncClient) -> None:
    answer = await api.patch(member_url("ghost@example.org"), json={"vip": True})
    assert (answer.status_code, problem(answer)["title"]) == (404, "Resource Not Found")


async def test_patch_may_not_set_transactional(api: httpx.AsyncClient) -> None:
    await put_member(api, "dee@example.org")
    answer = await api.patch(member_url("dee@example.org"), json={"status": "transactional"})
    assert problem(answer)["errors"][0]["field"] == "status"


async def test_patch_with_a_new_email_moves_the_member_to_the_new_hash(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    before = await put_member(api, "old@example.org", merge_fields={"FNAME": "Eve"})
    answer = await api.patch(
        member_url("old@example.org"), json={"email_address": "new@example.org"}
    )
    after = answer.json()
    assert after["id"] == subscriber_hash("new@example.org")
    assert after["contact_id"] == before["contact_id"]
    assert after["unique_email_id"] != before["unique_email_id"]
    assert stored(sim, "old@example.org") is None
    assert stored(sim, "new@example.org").merge_fields == {"FNAME": "Eve"}
    assert (await api.get(member_url("old@example.org"))).status_code == 404


async def test_patch_to_an_email_another_member_has_is_refused(api: httpx.AsyncClient) -> None:
    await put_member(api, "one@example.org")
    await put_member(api, "two@example.org")
    answer = await api.patch(
        member_url("one@example.org"), json={"email_address": "Two@example.org"}
    )
    assert problem(answer)["title"] == "Member Exists"


async def test_delete_archives_and_a_later_add_brings_the_member_back(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "fay@example.org", merge_fields={"FNAME": "Fay"})
    deleted = await api.delete(member_url("fay@example.org"))
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert stored(sim, "fay@example.org").status == "archived"
    assert (await api.get(member_url("fay@example.org"))).json()["status"] == "archived"
    back = await api.post(
        MEMBERS, json={"email_address": "fay@example.org", "status": "subscribed"}
    )
    assert back.status_code == 200
    member = stored(sim, "fay@example.org")
    assert (member.status, member.merge_fields) == ("subscribed", {"FNAME": "Fay"})


async def test_delete_permanent_forgets_the_member_and_blocks_re_adding(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "gus@example.org")
    gone = await api.post(
        f"{member_url('gus@example.org')}/actions/delete-permanent", content=b"null"
    )
    assert gone.status_code == 204
    assert stored(sim, "gus@example.org") is None
    assert sim.account.audiences[LIST].forgotten == {subscriber_hash("gus@example.org")}
    for attempt in (
        api.post(MEMBERS, json={"email_address": "gus@example.org", "status": "subscribed"}),
        api.put(
            member_url("gus@example.org"),
            json={"email_address": "gus@example.org", "status_if_new": "subscribed"},
        ),
    ):
        refusal = problem(await attempt)
        assert refusal["title"] == "Forgotten Email Not Subscribed"
    # A fresh double opt-in (pending) is how such a contact gets back on the list.
    back = await put_member(api, "gus@example.org", status_if_new="pending")
    assert back["status"] == "pending"


async def test_a_cleaned_address_cannot_be_resubscribed_by_the_api(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "hal@example.org", status_if_new="cleaned")
    answer = await api.patch(member_url("hal@example.org"), json={"status": "subscribed"})
    assert problem(answer)["title"] == "Member In Compliance State"
    assert stored(sim, "hal@example.org").status == "cleaned"


async def test_resubscribing_an_unsubscribed_member_follows_the_setting(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "ivy@example.org", status_if_new="unsubscribed")
    member = stored(sim, "ivy@example.org")
    assert member.unsubscribe_reason == "N/A (Unsubscribed by an admin)"
    sim.account.allow_resubscribe = False
    refused = await api.patch(member_url("ivy@example.org"), json={"status": "subscribed"})
    assert problem(refused)["title"] == "Member In Compliance State"
    sim.account.allow_resubscribe = True
    allowed = await api.patch(member_url("ivy@example.org"), json={"status": "subscribed"})
    assert allowed.json()["status"] == "subscribed"
    assert "unsubscribe_reason" not in allowed.json()


async def test_statuses_stamp_their_times(
    api: httpx.AsyncClient, sim: MailchimpSimulator, sim_clock: ManualClock
) -> None:
    pending = await put_member(api, "jo@example.org", status_if_new="pending")
    assert (pending["timestamp_signup"], pending["timestamp_opt"]) == (
        "2026-01-01T09:00:00+00:00",
        "",
    )
    sim_clock.advance(minutes=5)
    confirmed = (
        await api.patch(member_url("jo@example.org"), json={"status": "subscribed"})
    ).json()
    assert confirmed["timestamp_opt"] == "2026-01-01T09:05:00+00:00"


async def test_unknown_merge_tags_and_keys_are_ignored(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "kai@example.org", merge_fields={"FNAME": "Kai", "NOSUCH": "x"}, foo=1)
    assert stored(sim, "kai@example.org").merge_fields == {"FNAME": "Kai"}


async def test_interests_are_refused_because_no_audience_has_interest_categories(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.put(
        member_url("lu@example.org"),
        json={
            "email_address": "lu@example.org",
            "status_if_new": "subscribed",
            "interests": {"abc123": True},
        },
    )
    assert problem(answer)["errors"] == [
        {"field": "interests", "message": "Invalid interest ID: 'abc123'"}
    ]


async def test_bad_json_is_a_json_parse_exception(api: httpx.AsyncClient) -> None:
    answer = await api.post(MEMBERS, content=b"{nope", headers={"Content-Type": "application/json"})
    assert (answer.status_code, problem(answer)["title"]) == (400, "JSON Parse Exception")


async def test_unknown_audience_and_route_answer_problem_json(api: httpx.AsyncClient) -> None:
    assert problem(await api.get("/3.0/lists/nope/members"))["title"] == "Resource Not Found"
    assert problem(await api.get("/3.0/nothing-here"))["status"] == 404
    refused = await api.post("/3.0/ping")
    assert problem(refused)["title"] == "Method Not Allowed"
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD"}
