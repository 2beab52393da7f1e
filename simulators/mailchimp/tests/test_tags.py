"""Member tags: ``POST /members/{hash}/tags`` adds and removes, ``GET`` lists them."""

from __future__ import annotations

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash

from simulators.mailchimp.tests.conftest import LIST, member_url, problem, put_member
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


def tag_names(sim: MailchimpSimulator, email: str) -> list[str]:
    audience = sim.account.audiences[LIST]
    member = audience.members[subscriber_hash(email)]
    return [tag.name for tag, _ in sim.account.member_tags(audience, member)]


async def test_active_adds_and_inactive_removes(
    api: httpx.AsyncClient, sim: MailchimpSimulator, sim_clock: ManualClock
) -> None:
    await put_member(api, "ann@example.org")
    sim_clock.advance(minutes=1)
    answer = await api.post(
        f"{member_url('ann@example.org')}/tags",
        json={
            "tags": [
                {"name": "Donor", "status": "active"},
                {"name": "Volunteer", "status": "active"},
            ]
        },
    )
    assert (answer.status_code, answer.content) == (204, b"")
    assert tag_names(sim, "ann@example.org") == ["Donor", "Volunteer"]
    member = (await api.get(member_url("ann@example.org"))).json()
    assert member["tags_count"] == 2
    assert member["last_changed"] == "2026-01-01T09:01:00+00:00"
    # Names are matched without regard to case; removing an absent tag is not an error.
    await api.post(
        f"{member_url('ann@example.org')}/tags",
        json={
            "tags": [
                {"name": "donor", "status": "inactive"},
                {"name": "Never", "status": "inactive"},
            ],
            "is_syncing": True,
        },
    )
    assert tag_names(sim, "ann@example.org") == ["Volunteer"]
    listed = (await api.get(f"{member_url('ann@example.org')}/tags")).json()
    assert listed["tags"] == [
        {"id": 10002, "name": "Volunteer", "date_added": "2026-01-01T09:01:00+00:00"}
    ]
    assert listed["total_items"] == 1


async def test_a_tag_is_one_per_audience_whatever_the_case(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    for email, name in (("a@example.org", "Donor"), ("b@example.org", "DONOR")):
        await put_member(api, email)
        await api.post(
            f"{member_url(email)}/tags", json={"tags": [{"name": name, "status": "active"}]}
        )
    assert [t.name for t in sim.account.audiences[LIST].tags.values()] == ["Donor"]
    search = (await api.get(f"/3.0/lists/{LIST}/tag-search", params={"name": "do"})).json()
    assert search == {"tags": [{"id": 10001, "name": "Donor"}], "total_items": 1}


async def test_bad_tag_bodies_name_the_entry(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "c@example.org")
    answer = await api.post(
        f"{member_url('c@example.org')}/tags",
        json={"tags": [{"name": "Ok", "status": "active"}, {"name": "", "status": "on"}]},
    )
    assert [e["field"] for e in problem(answer)["errors"]] == ["tags.1.name", "tags.1.status"]
    assert tag_names(sim, "c@example.org") == []  # nothing of a refused call lands


async def test_tags_of_an_unknown_member_are_404(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        f"{member_url('ghost@example.org')}/tags",
        json={"tags": [{"name": "x", "status": "active"}]},
    )
    assert answer.status_code == 404
