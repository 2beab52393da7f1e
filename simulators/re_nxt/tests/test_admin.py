"""The admin side: changes made "in RE" (stamped, so polling finds them), seed, state, reset."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator
from syncframe_simulators import SimulatorAdminError

from simulators.re_nxt.tests.conftest import C, P, create, get, ids_of
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def test_edits_in_re_are_stamped_and_show_up_in_polling(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    quiet = await create(api, last="Quiet")
    edited = await create(api, last="Edited", email={"address": "e@example.org", "type": "Email"})
    clock.advance(minutes=10)
    watermark = clock.now().isoformat()
    async with sim.admin() as admin:
        changed = await admin.request(
            "PATCH", f"/re_nxt/constituents/{edited}", json={"preferred_name": "Eddie"}
        )
        assert changed.json()["preferred_name"] == "Eddie"
        email_id = (await get(api, edited))["email"]["id"]
        clock.advance(minutes=1)
        flagged = await admin.request(
            "PATCH", f"/re_nxt/emailaddresses/{email_id}", json={"do_not_email": True}
        )
        assert flagged.json()["do_not_email"] is True
        opted_out = await admin.post(
            f"/re_nxt/constituents/{edited}/consents",
            {
                "channel": "Email",
                "constituent_consent_response": "OptOut",
                "consent_date": "2026-01-01",
            },
        )
    assert opted_out["user_name"] == "re.user"
    api.headers.update(sim.api_headers())
    ids, body = await ids_of(api, f"{C}/constituents", last_modified=watermark)
    assert ids == [edited]
    assert body["value"][0]["date_modified"] == "2026-01-01T09:11:00+00:00"
    assert body["value"][0]["email"]["do_not_email"] is True
    assert quiet not in ids


async def test_admin_adds_and_removes_every_kind_of_record(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    async with sim.admin() as admin:
        made = await admin.post("/re_nxt/constituents", {"type": "Individual", "last": "Admin"})
        cid = made["id"]
        email = await admin.post(
            f"/re_nxt/constituents/{cid}/emailaddresses",
            {"address": "a@example.org", "type": "Email"},
        )
        address = await admin.post(
            f"/re_nxt/constituents/{cid}/addresses", {"type": "Home", "city": "Leeds"}
        )
        phone = await admin.post(
            f"/re_nxt/constituents/{cid}/phones", {"number": "5550100", "type": "Home"}
        )
        code = await admin.post(
            f"/re_nxt/constituents/{cid}/solicitcodes", {"solicit_code": "Do not mail"}
        )
        record = await admin.get(f"/re_nxt/constituents/{cid}")
        assert (record["email"]["id"], record["address"]["id"], record["phone"]["id"]) == (
            email["id"],
            address["id"],
            phone["id"],
        )
        assert [s["solicit_code"] for s in record["solicit_codes"]] == ["Do not mail"]
        await admin.request("PATCH", f"/re_nxt/addresses/{address['id']}", json={"city": "York"})
        await admin.request("PATCH", f"/re_nxt/phones/{phone['id']}", json={"do_not_call": True})
        await admin.request(
            "PATCH", f"/re_nxt/solicitcodes/{code['id']}", json={"end_date": "2027-01-01"}
        )
        for path in (
            f"emailaddresses/{email['id']}",
            f"addresses/{address['id']}",
            f"phones/{phone['id']}",
            f"solicitcodes/{code['id']}",
        ):
            await admin.request("DELETE", f"/re_nxt/{path}")
        await admin.request("DELETE", f"/re_nxt/constituents/{cid}")
        with pytest.raises(SimulatorAdminError) as missing:
            await admin.get(f"/re_nxt/constituents/{cid}")
        state = await admin.state()
    assert missing.value.status == 404
    assert state["constituents"] == []
    assert state["deleted_constituents"] == [
        {"id": cid, "lookup_id": made["lookup_id"], "deleted_at": "2026-01-01T09:00:00+00:00"}
    ]
    assert (await api.get(f"{C}/constituents/{cid}")).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        ("/re_nxt/constituents", {"type": "Individual"}, 422, "last is required for an Individual"),
        (
            "/re_nxt/constituents/9/phones",
            {"number": "1", "type": "Home"},
            404,
            "constituent with ID 9",
        ),
        ("/re_nxt/lists", {"name": "L", "constituent_ids": ["9"]}, 404, "constituent with ID 9"),
        ("/re_nxt/settings", {"list_latency": -1}, 422, "list_latency: Input should be greater"),
    ],
)
async def test_bad_admin_input_names_the_field(
    sim: ReNxtSimulator, path: str, body: dict[str, Any], status: int, expected: str
) -> None:
    async with sim.admin() as admin:
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.post(path, body)
    assert refused.value.status == status
    assert expected in refused.value.message


async def test_seed_loads_records_changed_in_the_past(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    payload = {
        "code_tables": {"solicit_codes": ["No newsletter", "Do not email"]},
        "constituents": [
            {
                "type": "Individual",
                "first": "Old",
                "last": "Timer",
                "id": "5000",
                "lookup_id": "LEGACY-1",
                "date_added": "2019-03-01T00:00:00Z",
                "date_modified": "2024-06-01T12:00:00Z",
                "email_addresses": [{"address": "old@example.org", "type": "Email"}],
                "addresses": [{"type": "Home", "city": "Bath", "preferred": True}],
                "phones": [{"number": "5550100", "type": "Home"}],
                "consents": [
                    {
                        "channel": "Email",
                        "constituent_consent_response": "OptIn",
                        "consent_date": "2024-06-01",
                        "user_name": "importer",
                    }
                ],
                "solicit_codes": [{"solicit_code": "No newsletter"}],
            },
            {"type": "Organization", "name": "Later Ltd"},
        ],
        "lists": [{"name": "Legacy", "constituent_ids": ["5000"]}],
    }
    async with sim.admin() as admin:
        made = await admin.seed(payload)
    assert made["constituents"] == [
        {"id": "5000", "lookup_id": "LEGACY-1"},
        {"id": "5001", "lookup_id": "100001"},
    ]
    body = await get(api, "5000")
    assert (body["date_added"], body["date_modified"]) == (
        "2019-03-01T00:00:00+00:00",
        "2024-06-01T12:00:00+00:00",
    )
    assert body["email"]["date_modified"] == "2024-06-01T12:00:00+00:00"
    consents = (await api.get(f"{P}/constituents/5000/consents")).json()["value"]
    assert consents[0]["user_name"] == "importer"
    ids, _ = await ids_of(api, f"{C}/constituents", last_modified="2025-01-01")
    assert ids == ["5001"]
    ids, _ = await ids_of(api, f"{C}/constituents", list_id=made["lists"][0])
    assert ids == ["5000"]


@pytest.mark.parametrize(
    ("payload", "status", "expected"),
    [
        (
            {"constituents": [{"type": "Individual", "last": "A", "id": "x1"}]},
            422,
            "constituents.0.id",
        ),
        (
            {
                "constituents": [
                    {"type": "Individual", "last": "A", "lookup_id": "L"},
                    {"type": "Individual", "last": "B", "lookup_id": "L"},
                ]
            },
            400,
            "constituents.1: lookup_id: L is already the Constituent ID of constituent 1001.",
        ),
        (
            {"constituents": [{"type": "Individual", "last": "A", "date_modified": "2030-01-01"}]},
            400,
            "constituents.0: date_modified: 2030-01-01T00:00:00+00:00 is in the future.",
        ),
        ({"code_tables": {"colours": ["red"]}}, 422, "code_tables.colours"),
    ],
)
async def test_a_bad_seed_loads_nothing(
    sim: ReNxtSimulator, payload: dict[str, Any], status: int, expected: str
) -> None:
    async with sim.admin() as admin:
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.seed(payload)
    assert refused.value.status == status
    assert expected in refused.value.message
    assert sim.store.constituents == {}


async def test_reset_forgets_records_and_tokens_but_keeps_the_default_app(
    api: httpx.AsyncClient, sim: ReNxtSimulator
) -> None:
    await create(api)
    async with sim.admin() as admin:
        await admin.reset()
        state = await admin.state()
    assert state["constituents"] == []
    assert state["auth"]["access_tokens"] == []
    assert (await api.get(f"{C}/constituents")).status_code == 401  # the old token is gone
    async with sim.api_client() as fresh:
        assert await create(fresh) == "1001"  # the sequences start over
