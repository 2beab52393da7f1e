"""System Settings > Integrations > Virtuous CRM+ Sync: authorize a user, tick the boxes,
"Update Settings"; the contact sync starts at that moment."""

from __future__ import annotations

from typing import Any

import pytest
from raisedonors_simulator import RaiseDonorsSimulator

from simulators.raisedonors.tests.conftest import Api, admin_call, problem
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

PATH = "/api/Integration/Virtuous"


async def test_nothing_is_on_at_first(api: Api) -> None:
    assert await api.ok("GET", PATH) == {
        "authorizedUser": None,
        "syncProjects": False,
        "syncContacts": False,
        "contactSyncEnabledAt": None,
    }


async def test_turning_contacts_on_stamps_the_time_and_off_clears_it(
    api: Api, sim: RaiseDonorsSimulator, clock: ManualClock
) -> None:
    await api.ok("PUT", PATH, json={"authorizedUser": "sync@charity.org"})
    clock.advance(minutes=10)
    settings = await api.ok("PUT", PATH, json={"syncContacts": True, "syncProjects": True})
    assert settings == {
        "authorizedUser": "sync@charity.org",
        "syncProjects": True,
        "syncContacts": True,
        "contactSyncEnabledAt": "2026-01-01T09:10:00Z",
    }
    assert sim.account.integration.contact_sync_enabled_at == clock.now()
    # Saving again with the box still ticked (the GET body sent back) keeps the first stamp.
    clock.advance(minutes=10)
    assert await api.ok("PUT", PATH, json=settings) == settings
    settings = await api.ok("PUT", PATH, json={"syncContacts": False})
    assert (settings["syncContacts"], settings["contactSyncEnabledAt"]) == (False, None)
    assert settings["syncProjects"] is True
    clock.advance(minutes=10)
    settings = await api.ok("PUT", PATH, json={"syncContacts": True})
    assert settings["contactSyncEnabledAt"] == "2026-01-01T09:30:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"syncContacts": True}, "syncContacts"),
        ({"syncProjects": True}, "syncProjects"),
        ({"authorizedUser": "u", "syncContacts": "yes"}, "syncContacts"),
        ({"authorizedUser": 5}, "authorizedUser"),
        ({"syncDonations": True}, "syncDonations"),
    ],
)
async def test_refusals_name_the_setting_and_change_nothing(
    api: Api, sim: RaiseDonorsSimulator, body: dict[str, Any], field: str
) -> None:
    answer = problem(await api.put(PATH, body), 400)
    assert field in answer["errors"]
    assert sim.account.integration.to_json()["authorizedUser"] is None
    assert sim.account.integration.sync_contacts is False


async def test_a_sync_needs_an_authorized_user(api: Api) -> None:
    await api.ok("PUT", PATH, json={"authorizedUser": "sync@charity.org", "syncContacts": True})
    body = problem(await api.put(PATH, {"authorizedUser": None}), 400)
    assert "authorize a Virtuous CRM+ user first" in body["errors"]["syncContacts"][0]
    settings = await api.ok("PUT", PATH, json={"authorizedUser": None, "syncContacts": False})
    assert settings["authorizedUser"] is None


async def test_the_admin_page_shows_and_sets_the_same(
    sim: RaiseDonorsSimulator, clock: ManualClock
) -> None:
    response = await admin_call(
        sim,
        "PUT",
        "/integration/virtuous",
        json={"authorizedUser": "sync@charity.org", "syncContacts": True},
    )
    assert response.json()["contactSyncEnabledAt"] == "2026-01-01T09:00:00Z"
    page = (await admin_call(sim, "GET", "/integration/virtuous")).json()
    assert page == sim.account.integration.to_json()
    response = await admin_call(sim, "PUT", "/integration/virtuous", json={"syncProjects": 1})
    assert response.status_code == 400
    assert "syncProjects" in response.json()["error"]
