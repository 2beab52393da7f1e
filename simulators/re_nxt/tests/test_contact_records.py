"""Email addresses, addresses and phones: primary/preferred rules, do-not flags, edits and deletes,
and that each change stamps the constituent too."""

from __future__ import annotations

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator

from simulators.re_nxt.tests.conftest import C, create, get, messages
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def add_email(
    api: httpx.AsyncClient, constituent_id: str, address: str, **more: object
) -> str:
    answer = await api.post(
        f"{C}/emailaddresses",
        json={"constituent_id": constituent_id, "address": address, "type": "Email", **more},
    )
    assert answer.status_code == 200, answer.text
    email_id: str = answer.json()["id"]
    return email_id


async def test_the_first_email_is_primary_and_a_new_primary_takes_over(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    constituent_id = await create(api)
    first = await add_email(api, constituent_id, "ada@example.org")
    clock.advance(minutes=1)
    second = await add_email(api, constituent_id, "ada@work.example.com", type="Business")
    emails = {e.id: e for e in sim.store.emails_of(constituent_id)}
    assert (emails[first].primary, emails[second].primary) == (True, False)
    clock.advance(minutes=1)
    third = await add_email(api, constituent_id, "lovelace@example.net", primary=True)
    emails = {e.id: e for e in sim.store.emails_of(constituent_id)}
    assert [emails[i].primary for i in (first, second, third)] == [False, False, True]
    assert emails[first].date_modified == clock.now()  # losing primary is a change too
    body = await get(api, constituent_id)
    assert body["email"]["id"] == third
    assert body["date_modified"] == "2026-01-01T09:02:00+00:00"


async def test_patch_email_sets_do_not_email_and_can_move_primary(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    constituent_id = await create(api)
    home = await add_email(api, constituent_id, "ada@example.org")
    work = await add_email(api, constituent_id, "ada@work.example.com")
    clock.advance(minutes=3)
    answer = await api.patch(f"{C}/emailaddresses/{home}", json={"do_not_email": True})
    assert (answer.status_code, answer.content) == (200, b"")
    await api.patch(f"{C}/emailaddresses/{work}", json={"primary": True})
    listed = (await api.get(f"{C}/constituents/{constituent_id}/emailaddresses")).json()
    assert listed["count"] == 2
    by_id = {item["id"]: item for item in listed["value"]}
    assert (by_id[home]["do_not_email"], by_id[home]["primary"]) == (True, False)
    assert by_id[work]["primary"] is True
    assert sim.store.constituents[constituent_id].date_modified == clock.now()


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"address": None}, "address: cannot be set to null"),
        ({"type": None}, "type: cannot be set to null"),
        ({"address": "not-an-email"}, "address: 'not-an-email' is not a valid email address"),
        ({"constituent_id": "1002"}, "constituent_id: is not a property of this record"),
    ],
)
async def test_email_edits_that_are_refused(
    api: httpx.AsyncClient, patch: dict[str, object], expected: str
) -> None:
    constituent_id = await create(api)
    email_id = await add_email(api, constituent_id, "ada@example.org")
    answer = await api.patch(f"{C}/emailaddresses/{email_id}", json=patch)
    assert answer.status_code == 400
    assert messages(answer)[0].startswith(expected)


async def test_inactive_emails_are_listed_only_when_asked_and_deletes_remove(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    constituent_id = await create(api)
    keep = await add_email(api, constituent_id, "ada@example.org")
    old = await add_email(api, constituent_id, "old@example.org", inactive=True)
    url = f"{C}/constituents/{constituent_id}/emailaddresses"
    assert [e["id"] for e in (await api.get(url)).json()["value"]] == [keep]
    every = await api.get(url, params={"include_inactive": "true"})
    assert [e["id"] for e in every.json()["value"]] == [keep, old]
    deleted = await api.delete(f"{C}/emailaddresses/{keep}")
    assert deleted.status_code == 200
    assert [e.id for e in sim.store.emails_of(constituent_id)] == [old]
    assert "email" not in await get(api, constituent_id)  # the primary one is gone; none is
    gone = await api.delete(f"{C}/emailaddresses/{keep}")
    assert messages(gone) == [f"The email address with ID {keep} was not found."]


async def test_an_email_for_an_unknown_constituent_is_a_404(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        f"{C}/emailaddresses",
        json={"constituent_id": "4242", "address": "a@example.org", "type": "Email"},
    )
    assert answer.status_code == 404
    assert messages(answer) == ["The constituent with ID 4242 was not found."]


async def test_addresses_have_one_preferred_and_end_dates_make_them_inactive(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    constituent_id = await create(api)
    home = await api.post(
        f"{C}/addresses",
        json={
            "constituent_id": constituent_id,
            "type": "Home",
            "address_lines": "1 Main St",
            "city": "Boston",
            "state": "MA",
            "postal_code": "02101",
        },
    )
    seasonal = await api.post(
        f"{C}/addresses",
        json={
            "constituent_id": constituent_id,
            "type": "Seasonal",
            "city": "Naples",
            "state": "FL",
            "preferred": True,
            "end": "2026-03-01T00:00:00Z",
        },
    )
    home_id, seasonal_id = home.json()["id"], seasonal.json()["id"]
    body = await get(api, constituent_id)
    assert body["address"]["id"] == seasonal_id
    assert body["address"]["end"] == "2026-03-01T00:00:00+00:00"
    clock.advance(days=60)
    api.headers.update(sim.api_headers())  # the hour-long token ran out meanwhile
    url = f"{C}/constituents/{constituent_id}/addresses"
    assert [a["id"] for a in (await api.get(url)).json()["value"]] == [home_id]
    await api.patch(f"{C}/addresses/{home_id}", json={"preferred": True, "do_not_mail": True})
    address = sim.store.address(home_id)
    assert (address.preferred, address.do_not_mail) == (True, True)
    assert sim.store.address(seasonal_id).preferred is False
    backwards = await api.patch(
        f"{C}/addresses/{home_id}", json={"start": "2026-05-01", "end": "2026-04-01"}
    )
    assert messages(backwards) == ["end: must not be before start."]
    too_long = await api.patch(f"{C}/addresses/{home_id}", json={"postal_code": "1234567890123"})
    assert messages(too_long) == ["postal_code: String should have at most 12 characters"]


async def test_phones_follow_the_primary_rules(api: httpx.AsyncClient, sim: ReNxtSimulator) -> None:
    constituent_id = await create(api, phone={"number": "617-555-0100", "type": "Home"})
    mobile = await api.post(
        f"{C}/phones",
        json={
            "constituent_id": constituent_id,
            "number": "617-555-0199",
            "type": "Mobile",
            "primary": True,
            "do_not_call": True,
        },
    )
    assert mobile.status_code == 200
    body = await get(api, constituent_id)
    assert (body["phone"]["number"], body["phone"]["do_not_call"]) == ("617-555-0199", True)
    phones = sim.store.phones_of(constituent_id)
    assert [(p.number, p.primary) for p in phones] == [
        ("617-555-0100", False),
        ("617-555-0199", True),
    ]
    await api.patch(f"{C}/phones/{phones[0].id}", json={"number": "617-555-0101"})
    await api.delete(f"{C}/phones/{phones[1].id}")
    assert [p.number for p in sim.store.phones_of(constituent_id)] == ["617-555-0101"]
