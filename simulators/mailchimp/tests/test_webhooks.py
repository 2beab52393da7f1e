"""Webhooks: the URL check, the form-encoded payloads of each event type, whose changes are
reported, and delivery with Mailchimp's retries on the simulator clock."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from syncframe_simulators import SimulatorAdmin

from simulators.mailchimp.tests.conftest import (
    HOOK_URL,
    LIST,
    WebhookReceiver,
    member_url,
    problem,
    put_member,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

HOOKS = f"/3.0/lists/{LIST}/webhooks"
EMPTY_MERGES = {
    "data[merges][LNAME]": "",
    "data[merges][ADDRESS]": "",
    "data[merges][PHONE]": "",
    "data[merges][BIRTHDAY]": "",
}


async def add_hook(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await api.post(HOOKS, json={"url": HOOK_URL, **body})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def ui(sim: MailchimpSimulator) -> SimulatorAdmin:
    return sim.admin()


def member_of(sim: MailchimpSimulator, email: str) -> Any:
    return sim.account.audiences[LIST].members[subscriber_hash(email)]


async def test_saving_a_webhook_checks_the_url_with_a_get(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    hook = await add_hook(api)
    assert hook["events"] == {
        "subscribe": True,
        "unsubscribe": True,
        "profile": True,
        "cleaned": True,
        "upemail": True,
        "campaign": True,
    }
    assert hook["sources"] == {"user": True, "admin": True, "api": False}
    [check] = receiver.received
    assert (check.method, check.url) == ("GET", HOOK_URL)
    assert check.headers["user-agent"] == "MailChimp.com WebHook Validator"
    assert list(sim.account.audiences[LIST].webhooks) == [hook["id"]]


async def test_a_url_that_does_not_answer_200_is_refused(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    receiver.verify_status = 405
    answer = await api.post(HOOKS, json={"url": HOOK_URL})
    refusal = problem(answer)
    assert refusal["detail"] == (
        "We couldn't verify the URL is working. Please double check and try again. HTTP Code: 405"
    )
    assert refusal["errors"][0]["field"] == "url"
    assert sim.account.audiences[LIST].webhooks == {}
    sim.verify_webhook_urls = False
    assert (await api.post(HOOKS, json={"url": HOOK_URL})).status_code == 200
    assert len(receiver.received) == 1  # no second check


async def test_bad_webhook_bodies_name_the_field(
    api: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    assert problem(await api.post(HOOKS, json={"url": "ftp://x"}))["errors"][0]["field"] == "url"
    answer = await api.post(HOOKS, json={"url": HOOK_URL, "events": {"subscribe": "yes"}})
    assert problem(answer)["errors"][0]["field"] == "events.subscribe"
    answer = await api.post(HOOKS, json={"url": HOOK_URL, "sources": {"robots": True}})
    assert problem(answer)["errors"][0]["message"] == "unknown key(s): robots"
    await add_hook(api)
    duplicate = await api.post(HOOKS, json={"url": HOOK_URL})
    assert problem(duplicate)["errors"][0]["field"] == "url"


async def test_webhook_crud(api: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    hook = await add_hook(api)
    listed = (await api.get(HOOKS)).json()
    assert ([h["id"] for h in listed["webhooks"]], listed["total_items"]) == ([hook["id"]], 1)
    changed = await api.patch(f"{HOOKS}/{hook['id']}", json={"sources": {"api": True}})
    assert changed.json()["sources"] == {"user": True, "admin": True, "api": True}
    assert (await api.get(f"{HOOKS}/{hook['id']}")).json()["sources"]["api"] is True
    assert (await api.delete(f"{HOOKS}/{hook['id']}")).status_code == 204
    assert (await api.get(f"{HOOKS}/{hook['id']}")).status_code == 404


async def test_api_changes_are_reported_only_to_webhooks_that_ask_for_them(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    await add_hook(api)
    await put_member(api, "quiet@example.org")
    assert await sim.deliver_webhooks() == []
    await api.patch(
        f"{HOOKS}/{(await api.get(HOOKS)).json()['webhooks'][0]['id']}",
        json={"sources": {"api": True}},
    )
    await put_member(api, "loud@example.org", merge_fields={"FNAME": "Lou"})
    [result] = await sim.deliver_webhooks()
    assert (result.type, result.outcome, result.status_code) == ("subscribe", "delivered", 200)
    [post] = [r for r in receiver.received if r.method == "POST"]
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert post.headers["user-agent"] == "MailChimp"
    assert post.url == HOOK_URL
    member = member_of(sim, "loud@example.org")
    assert post.form() == {
        "type": "subscribe",
        "fired_at": "2026-01-01 09:00:00",
        "data[id]": member.unique_email_id,
        "data[email]": "loud@example.org",
        "data[email_type]": "html",
        "data[ip_opt]": "",
        "data[web_id]": str(member.web_id),
        "data[ip_signup]": "",
        "data[merges][EMAIL]": "loud@example.org",
        "data[merges][FNAME]": "Lou",
        **EMPTY_MERGES,
        "data[list_id]": LIST,
    }


async def test_a_signup_form_and_its_confirmation(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    await add_hook(api)
    sim.account.audiences[LIST].double_optin = True
    async with ui(sim) as admin:
        pending = await admin.post(
            f"mailchimp/lists/{LIST}/signup",
            {
                "email_address": "new@example.org",
                "merge_fields": {"FNAME": "Nia"},
                "ip": "203.0.113.9",
            },
        )
        assert (pending["status"], pending["source"]) == ("pending", "Hosted Signup Form")
        assert await sim.deliver_webhooks() == []  # nobody is subscribed yet
        confirmed = await admin.post(f"mailchimp/lists/{LIST}/members/new@example.org/confirm")
    assert confirmed["status"] == "subscribed"
    [result] = await sim.deliver_webhooks()
    assert (result.type, result.outcome) == ("subscribe", "delivered")
    assert await sim.deliver_webhooks() == []  # delivered once, not again
    [form] = receiver.posts()
    assert form["type"] == "subscribe"
    assert (form["data[ip_signup]"], form["data[ip_opt]"]) == ("203.0.113.9", "203.0.113.9")
    assert form["data[merges][FNAME]"] == "Nia"


async def test_an_unsubscribe_link_and_a_spam_report(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    await add_hook(api)
    await put_member(api, "ann@example.org", merge_fields={"FNAME": "Ann"})
    await put_member(api, "bob@example.org")
    async with ui(sim) as admin:
        await admin.post(
            f"mailchimp/lists/{LIST}/members/ann@example.org/unsubscribe",
            {"campaign_id": "c0ffee1234"},
        )
        await admin.post(
            f"mailchimp/lists/{LIST}/members/bob@example.org/unsubscribe", {"reason": "abuse"}
        )
    await sim.deliver_webhooks()
    ann, bob = receiver.posts()
    assert {
        k: ann[k]
        for k in (
            "type",
            "data[action]",
            "data[reason]",
            "data[campaign_id]",
            "data[email]",
            "data[merges][FNAME]",
        )
    } == {
        "type": "unsubscribe",
        "data[action]": "unsub",
        "data[reason]": "manual",
        "data[campaign_id]": "c0ffee1234",
        "data[email]": "ann@example.org",
        "data[merges][FNAME]": "Ann",
    }
    assert (bob["type"], bob["data[reason]"]) == ("unsubscribe", "abuse")
    member = member_of(sim, "ann@example.org")
    assert (member.status, member.unsubscribe_reason) == (
        "unsubscribed",
        "I no longer want to receive these emails",
    )


async def test_profile_edits_and_email_changes(
    api: httpx.AsyncClient,
    sim: MailchimpSimulator,
    receiver: WebhookReceiver,
    sim_clock: ManualClock,
) -> None:
    await add_hook(api)
    await put_member(api, "cy@example.org", merge_fields={"FNAME": "Cy"})
    sim_clock.advance(minutes=3)
    async with ui(sim) as admin:
        # An account user edits the contact in the dashboard...
        await admin.request(
            "PATCH",
            f"mailchimp/lists/{LIST}/members/cy@example.org",
            json={"merge_fields": {"LNAME": "Young"}},
        )
        # ...then the contact changes their address on the update-profile page.
        await admin.post(
            f"mailchimp/lists/{LIST}/members/cy@example.org/profile",
            {"email_address": "cy.young@example.org"},
        )
    await sim.deliver_webhooks()
    profile, upemail = receiver.posts()
    assert (profile["type"], profile["fired_at"]) == ("profile", "2026-01-01 09:03:00")
    assert profile["data[merges][LNAME]"] == "Young"
    member = member_of(sim, "cy.young@example.org")
    assert upemail == {
        "type": "upemail",
        "fired_at": "2026-01-01 09:03:00",
        "data[list_id]": LIST,
        "data[new_id]": member.unique_email_id,
        "data[new_email]": "cy.young@example.org",
        "data[old_email]": "cy@example.org",
    }
    deliveries = (await sim.admin().get("mailchimp/webhooks/deliveries"))["deliveries"]
    assert [(d["type"], d["source"], d["status"]) for d in deliveries] == [
        ("profile", "admin", "delivered"),
        ("upemail", "user", "delivered"),
    ]


async def test_an_address_is_flattened_into_form_fields(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    await add_hook(api, sources={"api": True})
    address = {
        "addr1": "1 High St",
        "addr2": "",
        "city": "Leeds",
        "state": "",
        "zip": "LS1 1AA",
        "country": "GB",
    }
    await put_member(api, "di@example.org", merge_fields={"ADDRESS": address})
    await sim.deliver_webhooks()
    [form] = receiver.posts()
    assert {k: v for k, v in form.items() if "[ADDRESS]" in k} == {
        f"data[merges][ADDRESS][{key}]": value for key, value in address.items()
    }


async def test_a_bounce_cleans_the_address_and_is_reported_whatever_the_sources(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    await add_hook(api, sources={"user": False, "admin": False, "api": False})
    await put_member(api, "eve@example.org")
    async with ui(sim) as admin:
        await admin.post(
            f"mailchimp/lists/{LIST}/members/eve@example.org/bounce", {"campaign_id": "abc"}
        )
    await sim.deliver_webhooks()
    assert receiver.posts() == [
        {
            "type": "cleaned",
            "fired_at": "2026-01-01 09:00:00",
            "data[list_id]": LIST,
            "data[campaign_id]": "abc",
            "data[reason]": "hard",
            "data[email]": "eve@example.org",
        }
    ]
    assert member_of(sim, "eve@example.org").status == "cleaned"


async def test_archiving_and_deleting_report_an_unsubscribe_with_action_delete(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    await add_hook(api)
    await put_member(api, "fay@example.org")
    await put_member(api, "gus@example.org")
    async with ui(sim) as admin:
        await admin.post(f"mailchimp/lists/{LIST}/members/fay@example.org/archive")
        await admin.post(f"mailchimp/lists/{LIST}/members/gus@example.org/delete-permanent")
    await sim.deliver_webhooks()
    assert [(f["data[email]"], f["type"], f["data[action]"]) for f in receiver.posts()] == [
        ("fay@example.org", "unsubscribe", "delete"),
        ("gus@example.org", "unsubscribe", "delete"),
    ]


async def test_failed_deliveries_are_retried_on_mailchimps_schedule(
    api: httpx.AsyncClient,
    sim: MailchimpSimulator,
    receiver: WebhookReceiver,
    sim_clock: ManualClock,
) -> None:
    await add_hook(api, sources={"api": True})
    await put_member(api, "hal@example.org")
    receiver.post_statuses = [500, 503]
    [first] = await sim.deliver_webhooks()
    assert (first.outcome, first.status_code, first.reason) == ("retrying", 500, "HTTP 500: nope")
    assert first.next_attempt_at is not None
    assert first.next_attempt_at.isoformat() == "2026-01-01T09:01:00+00:00"
    assert await sim.deliver_webhooks() == []  # not due yet
    sim_clock.advance(minutes=1)
    [second] = await sim.deliver_webhooks()
    assert (second.outcome, second.status_code) == ("retrying", 503)
    assert second.next_attempt_at is not None
    assert second.next_attempt_at.isoformat() == "2026-01-01T09:05:00+00:00"
    sim_clock.advance(minutes=4)
    [third] = await sim.deliver_webhooks()
    assert third.outcome == "delivered"
    bodies = {r.body for r in receiver.received if r.method == "POST"}
    assert len(bodies) == 1  # every attempt sends the same bytes


async def test_after_75_minutes_of_failures_a_delivery_fails_until_retried_by_hand(
    api: httpx.AsyncClient,
    sim: MailchimpSimulator,
    receiver: WebhookReceiver,
    sim_clock: ManualClock,
) -> None:
    await add_hook(api, sources={"api": True})
    await put_member(api, "ida@example.org")
    receiver.post_statuses = [500] * 6
    outcomes = []
    for wait in (0, 1, 4, 10, 20, 40):
        sim_clock.advance(minutes=wait)
        outcomes += [r.outcome for r in await sim.deliver_webhooks()]
    assert outcomes == ["retrying"] * 5 + ["failed"]
    sim_clock.advance(hours=5)
    assert await sim.deliver_webhooks() == []
    async with ui(sim) as admin:
        [failed] = (await admin.get("mailchimp/webhooks/deliveries", status="failed"))["deliveries"]
        assert len(failed["attempts"]) == 6
        await admin.post(f"mailchimp/webhooks/deliveries/{failed['id']}/retry")
        sent = await admin.post("mailchimp/webhooks/deliver")
    assert [r["outcome"] for r in sent["results"]] == ["delivered"]


async def test_a_receiver_that_does_not_answer_in_time_fails_the_attempt(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    async def slow(request: Request) -> Response:
        if request.method == "POST":
            await anyio.sleep(5)
        return PlainTextResponse("ok")

    sim.webhook_transport = httpx.ASGITransport(
        app=Starlette(routes=[Route("/hooks/mailchimp", slow, methods=["GET", "POST"])])
    )
    sim.webhook_timeout = 0.05
    await add_hook(api, sources={"api": True})
    await put_member(api, "jo@example.org")
    [result] = await sim.deliver_webhooks()
    assert (result.outcome, result.status_code, result.reason) == (
        "retrying",
        None,
        "no answer within 0.05 s",
    )


async def test_an_api_write_that_cleans_or_archives_reports_it(
    api: httpx.AsyncClient, sim: MailchimpSimulator, receiver: WebhookReceiver
) -> None:
    await add_hook(api, sources={"api": True})
    await put_member(api, "kit@example.org", status_if_new="pending")
    await api.patch(member_url("kit@example.org"), json={"status": "cleaned"})
    await api.delete(member_url("kit@example.org"))
    # Profile edits of an archived member are not reported.
    await api.patch(member_url("kit@example.org"), json={"merge_fields": {"FNAME": "Kit"}})
    await sim.deliver_webhooks()
    assert [
        (f["type"], f.get("data[reason]"), f.get("data[action]")) for f in receiver.posts()
    ] == [
        ("cleaned", "hard", None),
        ("unsubscribe", "manual", "delete"),
    ]
