"""The Communication Preference API: consents (a history of responses per channel and category)
and constituent solicit codes, with their code tables."""

from __future__ import annotations

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator

from simulators.re_nxt.tests.conftest import P, create, messages
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


def consent(constituent_id: str, response: str, day: str, **more: str) -> dict[str, str]:
    return {
        "constituent_id": constituent_id,
        "channel": "Email",
        "constituent_consent_response": response,
        "consent_date": day,
        **more,
    }


async def test_consents_are_a_history_newest_first(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    constituent_id = await create(api)
    posts = [
        consent(
            constituent_id, "OptIn", "2025-05-01", category="All communications", source="Website"
        ),
        consent(constituent_id, "OptIn", "2025-05-01"),
        consent(
            constituent_id,
            "OptOut",
            "2025-09-01T10:00:00Z",
            source="Mailchimp",
            consent_statement="Unsubscribed from the newsletter",
        ),
    ]
    for body in posts:
        answer = await api.post(f"{P}/consent/consents", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"].isdigit()
    listed = (await api.get(f"{P}/constituents/{constituent_id}/consents")).json()
    assert listed["count"] == 3
    newest = listed["value"][0]
    assert newest == {
        "id": newest["id"],
        "channel": "Email",
        "source": "Mailchimp",
        "constituent_consent_response": "OptOut",
        "consent_date": "2025-09-01T10:00:00+00:00",
        "consent_statement": "Unsubscribed from the newsletter",
        "date_added": "2026-01-01T09:00:00+00:00",
        "user_name": "api.user",
    }
    recent = (
        await api.get(
            f"{P}/constituents/{constituent_id}/consents", params={"most_recent_only": "true"}
        )
    ).json()
    assert [(c.get("category"), c["constituent_consent_response"]) for c in recent["value"]] == [
        (None, "OptOut"),
        ("All communications", "OptIn"),
    ]
    # A consent is a change to the constituent: polling by last_modified finds it.
    assert sim.store.constituents[constituent_id].date_modified == clock.now()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"channel": "Pigeon"}, "channel: Pigeon is not an entry of the consent_channels table"),
        (
            {"category": "Gossip"},
            "category: Gossip is not an entry of the consent_categories table",
        ),
        (
            {"constituent_consent_response": "Opt-in"},
            "constituent_consent_response: Input should be",
        ),
        ({"consent_date": "soon"}, "consent_date: 'soon' is not an ISO-8601 date or time"),
        ({"constituent_id": "999"}, "The constituent with ID 999 was not found."),
    ],
)
async def test_consents_that_are_refused(
    api: httpx.AsyncClient, sim: ReNxtSimulator, change: dict[str, str], expected: str
) -> None:
    constituent_id = await create(api)
    answer = await api.post(
        f"{P}/consent/consents", json={**consent(constituent_id, "OptIn", "2025-01-01"), **change}
    )
    assert answer.status_code in (400, 404)
    assert messages(answer)[0].startswith(expected)
    assert sim.store.consents_of(constituent_id) == []


async def test_a_consent_can_be_deleted(api: httpx.AsyncClient, sim: ReNxtSimulator) -> None:
    constituent_id = await create(api)
    made = await api.post(
        f"{P}/consent/consents", json=consent(constituent_id, "OptIn", "2025-01-01")
    )
    gone = await api.delete(f"{P}/consents/{made.json()['id']}")
    assert gone.status_code == 200
    assert sim.store.consents_of(constituent_id) == []


async def test_solicit_codes_are_added_edited_and_removed(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    constituent_id = await create(api)
    made = await api.post(
        f"{P}/constituentsolicitcodes",
        json={
            "constituent_id": constituent_id,
            "solicit_code": "do not email",
            "start_date": "2026-01-01",
        },
    )
    assert made.status_code == 200, made.text
    code_id = made.json()["id"]
    listed = (await api.get(f"{P}/constituents/{constituent_id}/constituentsolicitcodes")).json()
    assert listed == {
        "count": 1,
        "value": [
            {
                "id": code_id,
                "constituent_id": constituent_id,
                "solicit_code": "Do not email",  # the table's spelling
                "start_date": "2026-01-01T00:00:00+00:00",
            }
        ],
    }
    again = await api.post(
        f"{P}/constituentsolicitcodes",
        json={"constituent_id": constituent_id, "solicit_code": "Do not email"},
    )
    assert messages(again) == [
        f"solicit_code: constituent {constituent_id} already has Do not email (constituent "
        f"solicit code {code_id})."
    ]
    clock.advance(minutes=1)
    ended = await api.patch(
        f"{P}/constituentsolicitcodes/{code_id}", json={"end_date": "2026-01-01T09:01:00Z"}
    )
    assert ended.status_code == 200
    assignment = sim.store.solicit_code(code_id)
    assert assignment.current_at(clock.now()) is False
    assert sim.store.constituents[constituent_id].date_modified == clock.now()
    backwards = await api.patch(
        f"{P}/constituentsolicitcodes/{code_id}", json={"end_date": "2025-01-01"}
    )
    assert messages(backwards) == ["end_date: must not be before start_date."]
    assert (await api.delete(f"{P}/constituentsolicitcodes/{code_id}")).status_code == 200
    assert sim.store.solicit_codes_of(constituent_id) == []


async def test_the_code_tables_of_the_commpref_api(api: httpx.AsyncClient) -> None:
    channels = (await api.get(f"{P}/consent/channels")).json()
    assert channels["value"][0] == {"description": "Email"}
    categories = (await api.get(f"{P}/consent/categories")).json()
    assert categories["value"][0] == {
        "description": "All communications",
        "inactive": False,
        "sequence": 1,
    }
    sources = (await api.get(f"{P}/consent/sources")).json()
    assert {"description": "Mailchimp"} in sources["value"]
    codes = (await api.get(f"{P}/solicitcodes")).json()
    assert {"description": "Shared email - ignore"} in codes["value"]
