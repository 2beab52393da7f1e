"""The admin API: seeding, what people do in Setup and the UI, state and reset."""

from __future__ import annotations

from typing import Any

import pytest
from salesforce_simulator import SalesforceSimulator
from syncframe_simulators import SimulatorAdminError

from simulators.salesforce.tests.conftest import Org
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

SEED: dict[str, Any] = {
    "users": [{"username": "api@example.org", "password": "pw", "security_token": "T0K"}],
    "connected_apps": [
        {"client_id": "app-1", "client_secret": "s3cret", "run_as": "api@example.org"}
    ],
    "contacts": [
        {"LastName": "Doe", "Email": "jane@example.org", "RE_Constituent_ID__c": "1"},
        {
            "LastName": "Roe",
            "CreatedDate": "2025-06-01T12:00:00Z",
            "LastModifiedDate": "2025-07-01T12:00:00+01:00",
        },
    ],
}


async def test_seed_creates_users_apps_and_contacts(
    salesforce_simulator: SalesforceSimulator,
) -> None:
    async with salesforce_simulator.admin() as admin:
        made = await admin.seed(SEED)
        state = await admin.state()
    assert made["connected_apps"] == ["app-1"]
    assert [u["username"] for u in state["users"]] == [
        "admin@syncframe.example",
        "api@example.org",
    ]
    assert made["users"] == [state["users"][1]["id"]]
    assert state["connected_apps"] == [
        {"client_id": "app-1", "name": "app-1", "run_as": made["users"][0]}
    ]
    doe, roe = state["contacts"]
    assert [doe["Id"], roe["Id"]] == made["contacts"]
    admin_id = state["users"][0]["id"]
    assert doe["CreatedById"] == doe["LastModifiedById"] == admin_id
    assert doe["CreatedDate"] == "2026-01-01T09:00:00.000+0000"
    # A data load may set the audit dates; SystemModstamp is always the time of the load.
    assert roe["CreatedDate"] == "2025-06-01T12:00:00.000+0000"
    assert roe["LastModifiedDate"] == "2025-07-01T11:00:00.000+0000"
    assert roe["SystemModstamp"] == "2026-01-01T09:00:00.000+0000"
    assert "password" not in str(state["users"])
    assert "s3cret" not in str(state)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {**SEED, "contacts": [{"LastName": "Ok"}, {"FirstName": "No last name"}]},
            "contacts.1: LastName: Required fields are missing: [LastName] "
            "(REQUIRED_FIELD_MISSING)",
        ),
        (
            {**SEED, "contacts": [{"LastName": "Ok", "Emial": "x"}]},
            "contacts.0: No such column 'Emial' on sobject of type Contact (INVALID_FIELD)",
        ),
        (
            {**SEED, "connected_apps": [{"client_id": "a", "client_secret": "s", "run_as": "x@y"}]},
            "connected_apps.0.run_as: there is no user 'x@y'",
        ),
        (
            {"users": [{"username": "same@example.org"}, {"username": "SAME@example.org"}]},
            "users.1.username: 'SAME@example.org' is already taken",
        ),
        ({"users": [{"username": "no-at-sign"}]}, "users.0.username: 'no-at-sign' is not an "
         "email-style username"),
    ],
)  # fmt: skip
async def test_a_bad_seed_changes_nothing_and_names_the_item(
    salesforce_simulator: SalesforceSimulator, payload: dict[str, Any], message: str
) -> None:
    async with salesforce_simulator.admin() as admin:
        before = await admin.state()
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.seed(payload)
        assert (refused.value.status, refused.value.message) == (400, message)
        assert await admin.state() == before


async def test_a_seed_of_the_wrong_shape_is_a_validation_error(
    salesforce_simulator: SalesforceSimulator,
) -> None:
    async with salesforce_simulator.admin() as admin:
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.seed({"people": []})
    assert refused.value.status == 422
    assert refused.value.message == "people: Extra inputs are not permitted"


async def test_ui_edits_are_made_by_the_admin_user(org: Org, sim_clock: ManualClock) -> None:
    record_id = await org.create(LastName="Doe", Email="jane@example.org")
    sim_clock.advance(minutes=1)
    async with org.sim.admin() as admin:
        edited = await admin.request(
            "PATCH", f"/salesforce/contacts/{record_id}", json={"HasOptedOutOfEmail": True}
        )
    record = edited.json()
    admin_id = org.sim.identity.admin.id
    assert record["HasOptedOutOfEmail"] is True
    assert record["LastModifiedById"] == admin_id
    assert record["CreatedById"] != admin_id
    assert record["SystemModstamp"] == "2026-01-01T09:01:00.000+0000"
    # A connector polling by LastModifiedById sees the UI edit as someone else's change.
    mine = await org.query(f"SELECT Id FROM Contact WHERE LastModifiedById != '{admin_id}'")
    assert mine.json()["totalSize"] == 0


async def test_ui_create_delete_and_undelete(org: Org) -> None:
    async with org.sim.admin() as admin:
        made = await admin.post("/salesforce/contacts", {"LastName": "Ui", "Phone": "555-0100"})
        record_id = made["id"]
        deleted = await admin.request("DELETE", f"/salesforce/contacts/{record_id}")
        assert deleted.json()["IsDeleted"] is True
        restored = await admin.post(f"/salesforce/contacts/{record_id}/undelete")
        assert restored["IsDeleted"] is False
        assert (await admin.get(f"/salesforce/contacts/{record_id[:15]}"))["Phone"] == "555-0100"
    assert org.stored(record_id)["IsDeleted"] is False


async def test_undelete_refuses_a_duplicate_external_id(org: Org) -> None:
    first = await org.create(LastName="Doe", RE_Constituent_ID__c="7")
    await org.delete(f"/sobjects/Contact/{first}")
    await org.create(LastName="Doe again", RE_Constituent_ID__c="7")
    async with org.sim.admin() as admin:
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.post(f"/salesforce/contacts/{first}/undelete")
    assert refused.value.status == 400
    assert refused.value.message.startswith(
        "duplicate value found: RE_Constituent_ID__c duplicates value on record with id"
    )
    assert org.stored(first)["IsDeleted"] is True


async def test_admin_refusals_name_the_field(org: Org) -> None:
    record_id = await org.create(LastName="Doe")
    async with org.sim.admin() as admin:
        with pytest.raises(SimulatorAdminError) as too_long:
            await admin.request(
                "PATCH", f"/salesforce/contacts/{record_id}", json={"MailingPostalCode": "9" * 21}
            )
        with pytest.raises(SimulatorAdminError) as missing:
            await admin.get("/salesforce/contacts/003Rs0000000000AAA")
        with pytest.raises(SimulatorAdminError) as no_user:
            await admin.post("/salesforce/sessions", {"username": "ghost@example.org"})
    assert (too_long.value.status, too_long.value.message) == (
        400,
        f"MailingPostalCode: Mailing Zip/Postal Code: data value too large: {'9' * 21} "
        "(max length=20) (STRING_TOO_LONG)",
    )
    assert (missing.value.status, missing.value.message) == (
        404,
        "id: there is no Contact '003Rs0000000000AAA'",
    )
    assert (no_user.value.status, no_user.value.message) == (
        404,
        "username: there is no user 'ghost@example.org'",
    )


async def test_reset_forgets_everything_but_the_admin_user(org: Org) -> None:
    await org.create(LastName="Doe")
    await org.query("SELECT Id FROM Contact")
    async with org.sim.admin() as admin:
        await admin.reset()
        state = await admin.state()
    assert state["contacts"] == []
    assert state["sessions"] == []
    assert state["connected_apps"] == []
    assert [u["username"] for u in state["users"]] == ["admin@syncframe.example"]
    assert state["api_usage"]["used"] == 0
    assert (await org.get("/limits")).status_code == 401


async def test_the_same_seed_gives_the_same_tokens_and_ids(
    simulator_factory: Any,
) -> None:
    def build() -> tuple[str, str]:
        sim: SalesforceSimulator = simulator_factory("salesforce", seed=5)
        sim.add_user("u@example.org", "pw")
        user = sim.identity.user_named("u@example.org")
        assert user is not None
        token = sim.identity.new_session(user, None, "admin").access_token
        return token, sim.add_contact({"LastName": "Doe"})

    assert build() == build()
