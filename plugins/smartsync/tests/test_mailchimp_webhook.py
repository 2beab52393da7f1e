"""The ``mailchimp_webhook`` source behind ``syncframe serve``: Mailchimp's form-encoded audience
events, delivered by the simulator to the serve app, become changes once each; deliveries
without the URL's secret, for another audience, or unreadable are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash
from syncframe_smartsync.mailchimp_webhook import parse_form

from plugins.smartsync.tests.mailchimp_helpers import (
    API_KEY,
    LIST_ID,
    START,
    WEBHOOK_SECRET,
    MailchimpWorld,
    make_simulator,
    member,
    seed_members,
)
from syncframe.clock import ManualClock
from syncframe.engine import Engine
from syncframe.records import Change, Operation
from syncframe.serve import service_app

pytestmark = pytest.mark.anyio

HOOK = "http://syncframe.serve/webhooks/hooks"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> MailchimpSimulator:
    return make_simulator()


class Served:
    """The serve app of a flow ``hooks`` (mailchimp_webhook -> capture) and its world."""

    def __init__(self, world: MailchimpWorld, engine: Engine) -> None:
        self.world = world
        self.engine = engine
        self.transport = httpx.ASGITransport(app=service_app(engine))

    async def post(
        self, body: str | bytes, url: str = f"{HOOK}?secret={WEBHOOK_SECRET}"
    ) -> httpx.Response:
        async with httpx.AsyncClient(transport=self.transport) as client:
            return await client.post(
                url,
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )

    def read(self) -> list[Change]:
        return self.world.take_read()

    def inbox(self) -> int:
        return len(self.world.state.inbox_read("hooks", 0, 1000))


async def serve(tmp_path: Path, sim: MailchimpSimulator, **options: Any) -> AsyncIterator[Served]:
    world = MailchimpWorld(tmp_path, sim)
    flows = {
        "hooks": {
            "source": {"type": "mailchimp_webhook", "connection": "mailchimp", **options},
            "sink": {"type": "conformance_capture"},
        }
    }
    try:
        with world.engine(flows) as engine:
            yield Served(world, engine)
    finally:
        world.close()


@pytest.fixture
async def served(tmp_path: Path, sim: MailchimpSimulator) -> AsyncIterator[Served]:
    async for made in serve(tmp_path, sim):
        yield made


async def register_webhook(sim: MailchimpSimulator, served: Served) -> None:
    """Save the webhook in Mailchimp as an account user would: Mailchimp GETs the URL first."""
    sim.webhook_transport = served.transport
    async with sim.client(auth=("syncframe", API_KEY)) as api:
        answer = await api.post(
            f"/3.0/lists/{LIST_ID}/webhooks",
            json={
                "url": f"{HOOK}?secret={WEBHOOK_SECRET}",
                "sources": {"user": True, "admin": True, "api": False},
            },
        )
    assert answer.status_code == 200, answer.text


async def test_every_member_event_becomes_one_change(
    served: Served, sim: MailchimpSimulator
) -> None:
    seed_members(
        sim,
        member("edit@example.org", consid="11", FNAME="Ed"),
        member("move@example.org", consid="12"),
        member("leave@example.org", consid="13"),
        member("bounce@example.org", consid="14"),
        member("archive@example.org", consid="15"),
    )
    await register_webhook(sim, served)
    assert isinstance(sim.clock, ManualClock)
    sim.clock.advance(minutes=3)
    base = f"mailchimp/lists/{LIST_ID}/members"
    async with sim.admin() as admin:
        await admin.post(
            f"mailchimp/lists/{LIST_ID}/signup",
            {"email_address": "new@example.org", "merge_fields": {"FNAME": "Nia", "CONSID": "10"}},
        )
        await admin.request(
            "PATCH",
            f"{base}/{subscriber_hash('edit@example.org')}",
            json={
                "merge_fields": {
                    "FNAME": "Edna",
                    "ADDRESS": {
                        "addr1": "2 Mill Rd",
                        "city": "Leeds",
                        "zip": "LS2",
                        "country": "GB",
                    },
                }
            },
        )
        await admin.request(
            "PATCH",
            f"{base}/{subscriber_hash('move@example.org')}",
            json={"email_address": "moved@example.org"},
        )
        await admin.post(f"{base}/{subscriber_hash('leave@example.org')}/unsubscribe", {})
        await admin.post(f"{base}/{subscriber_hash('bounce@example.org')}/bounce", {})
        await admin.post(f"{base}/{subscriber_hash('archive@example.org')}/archive", {})

    results = await sim.deliver_webhooks()

    assert [(r.type, r.status_code) for r in results] == [
        ("subscribe", 200),
        ("profile", 200),
        ("upemail", 200),
        ("unsubscribe", 200),
        ("cleaned", 200),
        ("unsubscribe", 200),
    ]
    new, edit, move, leave, bounce, archive = served.read()
    assert new.keys == {"id": subscriber_hash("new@example.org"), "email": "new@example.org"}
    assert new.fields == {
        "email": "new@example.org",
        "email_status": "subscribed",
        "first_name": "Nia",
        "constituent_id": "10",
    }
    assert new.occurred_at == START.replace(minute=3)
    assert new.system == "mailchimp"
    assert edit.operation is Operation.UPDATE
    assert edit.fields == {
        "email": "edit@example.org",
        "first_name": "Edna",
        "constituent_id": "11",
        "address1": "2 Mill Rd",
        "city": "Leeds",
        "postal_code": "LS2",
        "country": "GB",
    }
    assert move.keys["id"] == subscriber_hash("moved@example.org")
    assert move.fields == {"email": "moved@example.org", "old_email": "move@example.org"}
    assert (leave.fields["email_status"], leave.fields["constituent_id"]) == ("unsubscribed", "13")
    assert bounce.fields == {"email": "bounce@example.org", "email_status": "cleaned"}
    assert archive.operation is Operation.DELETE
    assert "email_status" not in archive.fields
    assert served.inbox() == 6


async def test_a_retried_delivery_is_acknowledged_and_not_read_again(
    served: Served, sim: MailchimpSimulator
) -> None:
    await register_webhook(sim, served)
    async with sim.admin() as admin:
        await admin.post(f"mailchimp/lists/{LIST_ID}/signup", {"email_address": "once@example.org"})
        await sim.deliver_webhooks()
        assert [c.keys["email"] for c in served.read()] == ["once@example.org"]
        [delivery] = (await admin.get("mailchimp/webhooks/deliveries"))["deliveries"]
        # Someone presses "retry" in Mailchimp's webhook log: the same bytes again.
        await admin.post(f"mailchimp/webhooks/deliveries/{delivery['id']}/retry")

    [result] = await sim.deliver_webhooks()

    assert (result.status_code, result.outcome) == (200, "delivered")
    assert served.read() == []
    assert served.inbox() == 1


SUBSCRIBE = (
    "type=subscribe&fired_at=2026-03-02+09%3A00%3A00&data%5Bid%5D=8a25ff1d98"
    "&data%5Bemail%5D=form%40example.org&data%5Bemail_type%5D=html"
    "&data%5Bmerges%5D%5BEMAIL%5D=form%40example.org&data%5Bmerges%5D%5BFNAME%5D=Flo"
    "&data%5Bmerges%5D%5BINTERESTS%5D=Events%2C+News"
    f"&data%5Blist_id%5D={LIST_ID}"
)


async def test_the_secret_is_required(served: Served) -> None:
    missing = await served.post(SUBSCRIBE, url=HOOK)
    wrong = await served.post(SUBSCRIBE, url=f"{HOOK}?secret=guess")
    right = await served.post(SUBSCRIBE)

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert "secret parameter is missing or wrong" in wrong.text
    assert WEBHOOK_SECRET not in wrong.text
    assert right.status_code == 200
    # EMAIL and INTERESTS are not merge fields: no field of their own.
    assert [c.fields for c in served.read()] == [
        {"email": "form@example.org", "email_status": "subscribed", "first_name": "Flo"}
    ]
    assert served.inbox() == 1


async def test_deliveries_that_cannot_be_taken_are_refused_with_400(served: Served) -> None:
    other_audience = SUBSCRIBE.replace(f"list_id%5D={LIST_ID}", "list_id%5D=ffff000011")
    no_email = SUBSCRIBE.replace("&data%5Bemail%5D=form%40example.org", "")
    bad_time = SUBSCRIBE.replace("2026-03-02+09%3A00%3A00", "yesterday")

    answers = {
        "other audience": await served.post(other_audience),
        "no email": await served.post(no_email),
        "bad time": await served.post(bad_time),
        "not a form": await served.post(b"\xff\xfe{json}"),
        "no type": await served.post(f"data%5Blist_id%5D={LIST_ID}"),
    }

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 400)
    assert "audience 'ffff000011'" in answers["other audience"].text
    assert "data[email]" in answers["no email"].text
    assert "fired_at" in answers["bad time"].text
    assert served.inbox() == 0


async def test_campaign_events_and_types_left_out_are_acknowledged_and_ignored(
    tmp_path: Path, sim: MailchimpSimulator
) -> None:
    campaign = (
        "type=campaign&fired_at=2026-03-02+09%3A00%3A00&data%5Bid%5D=c1"
        f"&data%5Bsubject%5D=News&data%5Bstatus%5D=sent&data%5Blist_id%5D={LIST_ID}"
    )
    async for served in serve(tmp_path, sim, events=["unsubscribe"]):
        answers = [await served.post(campaign), await served.post(SUBSCRIBE)]

        assert [a.status_code for a in answers] == [200, 200]
        assert served.read() == []
        assert served.inbox() == 0


def test_php_style_keys_become_nested_fields() -> None:
    body = (
        b"type=profile&data%5Bmerges%5D%5BADDRESS%5D=&data%5Bmerges%5D%5BADDRESS%5D%5Baddr1%5D=1+Way"
        b"&data%5Bmerges%5D%5BFNAME%5D=Al&data%5Bemail%5D=al%40example.org"
    )

    assert parse_form(body) == {
        "type": "profile",
        "data": {
            "merges": {"ADDRESS": {"addr1": "1 Way"}, "FNAME": "Al"},
            "email": "al@example.org",
        },
    }
    assert parse_form(b"") == {}
    with pytest.raises(ValueError, match="not UTF-8"):
        parse_form(b"\xff")
    with pytest.raises(ValueError, match="not name or name"):
        parse_form(b"data%5Bx=1")


async def test_without_a_webhook_secret_the_check_fails_and_nothing_is_taken(
    tmp_path: Path, sim: MailchimpSimulator
) -> None:
    world = MailchimpWorld(tmp_path, sim)
    del world.connection["webhook_secret"]
    flows = {
        "hooks": {
            "source": {"type": "mailchimp_webhook", "connection": "mailchimp"},
            "sink": {"type": "conformance_capture"},
        }
    }
    try:
        with world.engine(flows) as engine:
            [check] = [c for c in await engine.check_connections() if c.kind == "source"]
            served = Served(world, engine)
            answer = await served.post(SUBSCRIBE, url=f"{HOOK}?secret=")
            stored = served.inbox()
    finally:
        world.close()

    assert not check.ok
    assert "has no webhook_secret" in (check.error or "")
    assert answer.status_code == 401
    assert stored == 0
