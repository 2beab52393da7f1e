"""Webhooks: subscriptions, signed deliveries, the event log (delivered / failed / pending with
the reason), automatic retries on the clock, retry by hand with the same event, the page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from virtuous_simulator import RETRY_DELAYS, VirtuousSimulator, sign
from virtuous_simulator.webhooks import WebhookIn

from simulators.virtuous.tests.conftest import (
    RECEIVER_URL,
    SECRET,
    Receiver,
    advance,
    household,
    subscribe,
)

pytestmark = pytest.mark.anyio


async def events(admin: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await admin.get("/webhooks/events", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


class TestSubscriptions:
    async def test_create_list_delete(self, sim: VirtuousSimulator, api: httpx.AsyncClient) -> None:
        made = await api.post(
            "/api/Webhook",
            json={"url": RECEIVER_URL, "events": ["ContactCreate", "Contact Update"]},
        )
        assert made.status_code == 200
        hook = made.json()
        assert hook["events"] == ["ContactCreate", "ContactUpdate"]
        assert len(hook["secret"]) == 32  # shown when made
        listed = (await api.get("/api/Webhook")).json()
        assert listed == [{k: v for k, v in hook.items() if k != "secret"}]
        assert hook["secret"] not in str(sim.snapshot())
        assert (await api.delete(f"/api/Webhook/{hook['id']}")).status_code == 200
        assert (await api.get("/api/Webhook")).json() == []
        assert (await api.delete(f"/api/Webhook/{hook['id']}")).status_code == 404

    @pytest.mark.parametrize(
        ("body", "names"),
        [
            ({"url": "ftp://x/y", "events": ["ContactCreate"]}, "url"),
            ({"url": "/relative", "events": ["ContactCreate"]}, "url"),
            ({"url": RECEIVER_URL, "events": ["ContactMerge"]}, "events"),
            ({"url": RECEIVER_URL, "events": []}, "events"),
        ],
    )
    async def test_bad_webhook(
        self, api: httpx.AsyncClient, body: dict[str, Any], names: str
    ) -> None:
        answer = await api.post("/api/Webhook", json=body)
        assert answer.status_code == 400
        assert answer.json()["message"].startswith(names)

    async def test_only_the_events_asked_for(
        self, sim: VirtuousSimulator, receiver: Receiver
    ) -> None:
        subscribe(sim, "ContactCreate")
        contact = sim.create_contact(household())
        sim.edit_contact(contact.id, {"phone": "1"}, source="admin")
        await sim.deliver_webhooks()
        assert [e["event"] for e in receiver.events()] == ["ContactCreate"]

    async def test_no_subscription_keeps_no_log(self, sim: VirtuousSimulator) -> None:
        sim.create_contact(household())
        assert sim.webhooks.rows == {}


class TestDelivery:
    async def test_signed_body_and_headers(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        subscribe(sim)
        contact = sim.create_contact(household(), source="donor_portal")
        report = await sim.deliver_webhooks()
        assert (report.attempted, report.delivered, report.failed) == (1, 1, 0)
        [delivery] = receiver.deliveries
        assert delivery.signature_valid(SECRET)
        assert not delivery.signature_valid("another secret")
        assert delivery.headers["x-virtuous-signature"] == sign(SECRET, delivery.body)
        body = delivery.json
        assert delivery.headers["x-virtuous-event-id"] == body["eventId"]
        assert delivery.headers["content-type"].startswith("application/json")
        assert body["event"] == "ContactCreate"
        assert body["source"] == "donor_portal"
        assert body["occurredAt"] == "2026-01-01T09:00:00.000Z"
        assert body["contact"] == (await admin.get(f"/contacts/{contact.id}")).json()
        log = await events(admin)
        [row] = log["events"]
        assert row["eventId"] == body["eventId"]
        assert (row["status"], row["attempts"], row["httpStatus"], row["reason"]) == (
            "delivered",
            1,
            200,
            None,
        )
        assert log["counts"] == {"pending": 0, "delivered": 1, "failed": 0}
        # Delivered: the log keeps the facts, not the body.
        assert sim.webhooks.rows[1].body is None

    async def test_without_a_secret_there_is_no_signature(
        self, sim: VirtuousSimulator, receiver: Receiver, api: httpx.AsyncClient
    ) -> None:
        sim.webhooks.subscribe(WebhookIn(url=RECEIVER_URL, events=["ContactCreate"]))
        sim.create_contact(household())
        await sim.deliver_webhooks()
        assert "x-virtuous-signature" not in receiver.deliveries[0].headers

    async def test_pending_until_delivered(
        self, sim: VirtuousSimulator, admin: httpx.AsyncClient
    ) -> None:
        subscribe(sim)
        sim.create_contact(household())
        pending = await events(admin, status="pending")
        assert pending["total"] == 1
        [row] = pending["events"]
        assert (row["attempts"], row["lastAttemptAt"]) == (0, None)
        assert row["nextAttemptAt"] == "2026-01-01T09:00:00.000Z"
        assert sim.webhooks.body_of(row["eventId"]) is not None
        await sim.deliver_webhooks()
        assert (await events(admin, status="pending"))["total"] == 0

    async def test_one_contact_in_order_many_contacts_at_once(self, sim: VirtuousSimulator) -> None:
        seen: list[tuple[int, str]] = []
        on_the_wire: set[int] = set()
        overlap = 0

        async def hook(request: Request) -> Response:
            nonlocal overlap
            body = await request.json()
            contact_id = body["contact"]["id"]
            assert contact_id not in on_the_wire, "two deliveries of one contact at once"
            on_the_wire.add(contact_id)
            overlap = max(overlap, len(on_the_wire))
            await anyio.sleep(0.001)
            on_the_wire.discard(contact_id)
            seen.append((contact_id, body["contact"]["contactIndividuals"][0]["firstName"]))
            return Response("ok")

        app = Starlette(routes=[Route("/webhooks/virtuous", hook, methods=["POST"])])
        sim.webhook_transport = httpx.ASGITransport(app=app)
        subscribe(sim)
        contacts = [
            sim.create_contact(household(f"P{n}", "Z", email=f"p{n}@example.org")) for n in range(6)
        ]
        for version in range(1, 4):
            for contact in contacts:
                sim.edit_contact(contact.id, {"firstName": f"V{version}"}, source="admin")
        report = await sim.deliver_webhooks()
        assert report.delivered == 24
        for contact in contacts:
            names = [name for cid, name in seen if cid == contact.id]
            assert names == [names[0], "V1", "V2", "V3"]
        assert overlap > 1  # different contacts went out concurrently

    async def test_events_fired_during_a_delivery_wait_for_the_next_one(
        self, sim: VirtuousSimulator
    ) -> None:
        async def write_back(request: Request) -> Response:
            body = await request.json()
            # The receiver answers every event by editing the contact: an echo loop.
            sim.edit_contact(body["contact"]["id"], {"phone": body["eventId"][-6:]}, source="api")
            return Response("ok")

        app = Starlette(routes=[Route("/webhooks/virtuous", write_back, methods=["POST"])])
        sim.webhook_transport = httpx.ASGITransport(app=app)
        subscribe(sim)
        sim.create_contact(household())
        for round_ in range(1, 4):
            report = await sim.deliver_webhooks()
            assert report.attempted == 1
            assert sim.webhooks.counts == {"pending": 1, "delivered": round_, "failed": 0}


class TestFailures:
    async def test_failed_with_status_and_the_first_500_characters(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        receiver.statuses = [503]
        receiver.answer_text = "x" * 499 + "yz"
        subscribe(sim)
        sim.create_contact(household())
        report = await sim.deliver_webhooks()
        assert (report.attempted, report.failed) == (1, 1)
        failed = await events(admin, status="failed")
        [row] = failed["events"]
        assert row["httpStatus"] == 503
        assert row["reason"] == "HTTP 503: " + "x" * 499 + "y"
        assert row["nextAttemptAt"] == "2026-01-01T09:01:00.000Z"
        assert failed["counts"] == {"pending": 0, "delivered": 0, "failed": 1}

    async def test_automatic_retries_on_the_clock_then_it_stays_failed(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        receiver.statuses = [500] * 5
        subscribe(sim)
        sim.create_contact(household())
        await sim.deliver_webhooks()
        for delay in RETRY_DELAYS:
            # Not due a second early...
            advance(sim, delay - timedelta(seconds=1))
            assert (await sim.deliver_webhooks()).attempted == 0
            advance(sim, seconds=1)
            assert (await sim.deliver_webhooks()).attempted == 1
        [row] = (await events(admin, status="failed"))["events"]
        assert row["attempts"] == 5
        assert row["nextAttemptAt"] is None
        advance(sim, days=1)
        assert (await sim.deliver_webhooks()).attempted == 0
        assert len(receiver.deliveries) == 5
        # Every attempt carried the same event id and body.
        assert len({(d.headers["x-virtuous-event-id"], d.body) for d in receiver.deliveries}) == 1

    async def test_retry_succeeds_on_the_second_attempt(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        receiver.statuses = [502]
        subscribe(sim)
        sim.create_contact(household())
        await sim.deliver_webhooks()
        advance(sim, minutes=1)
        assert (await sim.deliver_webhooks()).delivered == 1
        [row] = (await events(admin))["events"]
        assert (row["status"], row["attempts"], row["reason"]) == ("delivered", 2, None)

    async def test_retry_by_hand_resends_the_same_event(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        receiver.statuses = [500] * 6
        subscribe(sim)
        sim.create_contact(household())
        await sim.deliver_webhooks()
        for delay in RETRY_DELAYS:
            advance(sim, delay)
            await sim.deliver_webhooks()
        [row] = (await events(admin, status="failed"))["events"]
        # Still failing: the retry reports it and the event stays failed.
        first = await admin.post(f"/webhooks/events/{row['eventId']}/retry")
        assert first.status_code == 200
        assert (first.json()["retried"], first.json()["attempts"]) == ("failed", 6)
        second = await admin.post(f"/webhooks/events/{row['eventId']}/retry")
        assert (second.json()["retried"], second.json()["status"]) == ("delivered", "delivered")
        assert len(receiver.deliveries) == 7
        assert len({(d.headers["x-virtuous-event-id"], d.body) for d in receiver.deliveries}) == 1
        again = await admin.post(f"/webhooks/events/{row['eventId']}/retry")
        assert again.status_code == 409
        assert "already delivered" in again.json()["error"]
        unknown = await admin.post("/webhooks/events/not-an-event/retry")
        assert unknown.status_code == 404

    async def test_a_failed_retry_by_hand_keeps_the_automatic_schedule(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        receiver.statuses = [500, 500]
        subscribe(sim)
        sim.create_contact(household())
        await sim.deliver_webhooks()
        [row] = (await events(admin))["events"]
        retried = (await admin.post(f"/webhooks/events/{row['eventId']}/retry")).json()
        assert (retried["retried"], retried["attempts"]) == ("failed", 2)
        assert retried["nextAttemptAt"] == "2026-01-01T09:01:00.000Z"
        advance(sim, minutes=1)
        report = await sim.deliver_webhooks()
        assert (report.attempted, report.delivered) == (1, 1)

    async def test_a_receiver_that_cannot_be_reached_or_hangs(
        self, virtuous_simulator: VirtuousSimulator, admin: httpx.AsyncClient
    ) -> None:
        sim = virtuous_simulator

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        sim.webhook_transport = httpx.MockTransport(refuse)
        subscribe(sim)
        sim.create_contact(household())
        await sim.deliver_webhooks()
        [row] = (await events(admin, status="failed"))["events"]
        assert row["httpStatus"] is None
        assert row["reason"] == "Could not deliver: ConnectError: connection refused"

        async def hang(request: httpx.Request) -> httpx.Response:
            await anyio.sleep(5)
            return httpx.Response(200)

        sim.webhooks.timeout = 0.05
        sim.webhook_transport = _TimingOut(hang)
        advance(sim, minutes=1)
        await sim.deliver_webhooks()
        [row] = (await events(admin, status="failed"))["events"]
        assert row["reason"] == "No answer within 0.05 seconds (timed out)."
        assert row["attempts"] == 2

    async def test_deleted_webhook_fails_its_events(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        subscribe(sim)
        sim.create_contact(household())
        sim.webhooks.unsubscribe(1)
        await sim.deliver_webhooks()
        [row] = (await events(admin, status="failed"))["events"]
        assert "deleted" in row["reason"]
        assert row["nextAttemptAt"] is None
        assert receiver.deliveries == []


class _TimingOut(httpx.AsyncBaseTransport):
    """A transport that gives up as a socket's read timeout would."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions["timeout"]["read"]
        with anyio.move_on_after(timeout):
            response: httpx.Response = await self.handler(request)
            return response
        raise httpx.ReadTimeout("timed out", request=request)


class TestEventLog:
    async def test_filter_order_and_paging(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        receiver.statuses = [200, 500, 200]
        subscribe(sim)
        for n in range(3):
            sim.create_contact(household(f"P{n}", "Z", email=f"p{n}@example.org"))
        await sim.deliver_webhooks()
        sim.create_contact(household("P3", "Z", email="p3@example.org"))
        everything = await events(admin)
        assert [e["status"] for e in everything["events"]] == [
            "delivered",
            "failed",
            "delivered",
            "pending",
        ]
        assert everything["total"] == 4
        newest = await events(admin, order="desc", limit=2)
        assert [e["contactId"] for e in newest["events"]] == [1004, 1003]
        page = await events(admin, offset=1, limit=1)
        assert [e["contactId"] for e in page["events"]] == [1002]
        assert (await events(admin, status="delivered"))["total"] == 2
        bad = await admin.get("/webhooks/events", params={"status": "lost"})
        assert bad.status_code == 400
        assert "status" in bad.json()["error"]
        one = (await admin.get(f"/webhooks/events/{everything['events'][3]['eventId']}")).json()
        assert one["body"]["contact"]["id"] == 1004

    async def test_deliver_through_the_admin_api(
        self, sim: VirtuousSimulator, receiver: Receiver, admin: httpx.AsyncClient
    ) -> None:
        subscribe(sim)
        sim.create_contact(household())
        report = (await admin.post("/webhooks/deliver")).json()
        assert (report["attempted"], report["delivered"]) == (1, 1)
        assert report["outcomes"][0]["status"] == "delivered"
        assert len(receiver.deliveries) == 1

    async def test_event_ids_differ_after_a_reset(
        self, sim: VirtuousSimulator, receiver: Receiver
    ) -> None:
        subscribe(sim)
        sim.create_contact(household())
        await sim.deliver_webhooks()
        sim.reset_all()
        subscribe(sim)
        sim.create_contact(household())
        await sim.deliver_webhooks()
        first, second = (d.json["eventId"] for d in receiver.deliveries)
        assert first != second


async def test_a_large_delivery_keeps_nothing_per_event_beyond_the_log_row(
    sim: VirtuousSimulator, receiver: Receiver
) -> None:
    from virtuous_simulator.sample import ncoa_moves, populate

    org = populate(sim, contacts=1500)
    subscribe(sim, "ContactUpdate")
    sim.ncoa((m["contactId"], m["address"]) for m in ncoa_moves(org.contacts))
    sim.ncoa((m["contactId"], m["address"]) for m in ncoa_moves(org.contacts, seed=8))
    hub = sim.webhooks
    assert all(row.body is not None for row in hub.rows.values())  # kept while pending
    report = await sim.deliver_webhooks()
    assert (report.attempted, report.delivered) == (3000, 3000)
    assert len(report.outcomes) == 1000
    assert len(hub.rows) == 3000
    assert all(row.body is None and not row.in_flight for row in hub.rows.values())
    assert (hub._due, hub._busy, hub._waiting) == ([], set(), {})
    # Each contact's two moves arrived in order.
    seen: dict[int, list[str]] = {}
    for event in receiver.events():
        seen.setdefault(event["contact"]["id"], []).append(event["eventId"])
    assert all(ids == sorted(ids) for ids in seen.values())


async def test_old_events_that_will_not_be_sent_again_are_dropped_after_30_days(
    sim: VirtuousSimulator, receiver: Receiver
) -> None:
    receiver.statuses = [200, 500]
    subscribe(sim)
    sim.create_contact(household("Ok", "One", email="ok@example.org"))
    sim.create_contact(household("Bad", "Two", email="bad@example.org"))
    await sim.deliver_webhooks()
    advance(sim, days=29)
    sim.create_contact(household("New", "Three", email="new@example.org"))
    await sim.deliver_webhooks()  # the failed one was retried: delivered now
    assert sim.webhooks.counts == {"pending": 0, "delivered": 3, "failed": 0}
    advance(sim, days=2)
    await sim.deliver_webhooks()
    # The two from the first day are gone; the newer one stays.
    assert [row.contact_id for row in sim.webhooks.rows.values()] == [1003]
    assert sim.webhooks.counts == {"pending": 0, "delivered": 1, "failed": 0}


class TestPage:
    """Settings > Connectivity > Webhooks."""

    async def test_all_and_failures_tabs_with_retry_buttons(
        self, sim: VirtuousSimulator, receiver: Receiver
    ) -> None:
        receiver.statuses = [200, 500]
        receiver.answer_text = "<b>broken</b>"
        subscribe(sim)
        sim.create_contact(household("Ok", "One", email="ok@example.org"))
        sim.create_contact(household("Bad", "Two", email="bad@example.org"))
        await sim.deliver_webhooks()
        client = sim.client()
        page = await client.get("/settings/connectivity/webhooks")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert RECEIVER_URL in html
        assert "ContactCreate, ContactUpdate" in html
        assert SECRET not in html
        assert "All (2)" in html
        assert "Failures (1)" in html
        assert html.count("data-event-id=") == 2
        assert "&lt;b&gt;broken&lt;/b&gt;" in html  # the receiver's answer is escaped
        failures = (await client.get("/settings/connectivity/webhooks?tab=failures")).text
        assert failures.count("data-event-id=") == 1
        [action] = re.findall(r"<form method='post' action='([^']+)'", failures)
        [next_page] = re.findall(r"name='next' value='([^']+)'", failures)
        failed_id = sim.webhooks.event_id(2)
        assert action == f"/_admin/virtuous/webhooks/events/{failed_id}/retry"
        # Pressing Retry: the event goes out again and the browser returns to the page.
        pressed = await client.post(action, data={"next": next_page.replace("&amp;", "&")})
        assert pressed.status_code == 303
        assert pressed.headers["location"] == "/settings/connectivity/webhooks?tab=failures&page=1"
        assert sim.webhooks.counts == {"pending": 0, "delivered": 2, "failed": 0}
        after = (await client.get(pressed.headers["location"])).text
        assert "Failures (0)" in after
        assert "No events." in after

    async def test_paging_and_bad_tab(self, sim: VirtuousSimulator) -> None:
        subscribe(sim, "ContactCreate")
        for n in range(55):
            sim.create_contact(household(f"P{n}", "Z", email=f"p{n}@example.org"))
        client = sim.client()
        first = (await client.get("/settings/connectivity/webhooks")).text
        assert first.count("data-event-id=") == 50
        assert "Page 1 of 2" in first
        second = (await client.get("/settings/connectivity/webhooks?page=2")).text
        assert second.count("data-event-id=") == 5
        bad = await client.get("/settings/connectivity/webhooks?tab=mine")
        assert bad.status_code == 400
        assert "tab" in bad.json()["message"]
