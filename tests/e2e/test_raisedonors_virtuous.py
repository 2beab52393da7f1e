"""End-to-end tests of the Legacy RaiseDonors <-> Virtuous CRM+ contact sync
(``examples/raisedonors_virtuous/flows.toml`` as shipped, both simulators on one clock, webhooks
delivered to ``syncframe serve``'s app in this process). Each rule of the help article
(``shared/seeds/002_cf4db36694e080ed.txt``) is a test; each asserts on the records that landed
in the simulators, and on run history where the rule is about an outcome.

The world (``tests/e2e/raisedonors_virtuous_world.py``) says how both systems are driven."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from syncframe_simulators import FaultRule
from virtuous_simulator import EDIT_SOURCES

from tests.e2e.raisedonors_virtuous_world import (
    ENV,
    EXAMPLE_FLOW_FILE,
    IMPORT_FLOW,
    IMPORTER_NAME,
    OTHER_CLIENT_NAME,
    RD_CLIENT_NAME,
    REFERENCE_SOURCE,
    WEBHOOK_FLOW,
    Linked,
    SyncWorld,
    contact_email,
    contact_synced_fields,
    donor_synced_fields,
    flatten,
    sync_world,
)

pytestmark = pytest.mark.anyio

ADA = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.org",
    "phone": "(512) 555-0100",
    "primaryAddress": {
        "address1": "12 Oak St",
        "address2": "Apt 4",
        "city": "Austin",
        "state": "TX",
        "postalCode": "78701",
        "country": "US",
    },
}
GRACE = {
    "firstName": "Grace",
    "lastName": "Hopper",
    "email": "grace@example.org",
    "phone": "(703) 555-0111",
    "primaryAddress": {
        "address1": "1 Navy Way",
        "city": "Arlington",
        "state": "VA",
        "postalCode": "22201",
        "country": "US",
    },
}
HOPE_FUND = {
    "organizationName": "Hope Community Fund",
    "firstName": "Cara",
    "lastName": "Diaz",
    "email": "giving@hopefund.example.org",
    "phone": "(312) 555-0150",
    "primaryAddress": {
        "address1": "400 Lake Shore Dr",
        "city": "Chicago",
        "state": "IL",
        "postalCode": "60611",
        "country": "US",
    },
}
MOVED = {
    "address1": "77 Elm Ave",
    "address2": None,
    "city": "Denver",
    "state": "CO",
    "postalCode": "80202",
    "country": "US",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SyncWorld]:
    with sync_world(tmp_path) as built:
        yield built


def later(world: SyncWorld, minutes: int = 5) -> None:
    """Let some time pass (edits get distinct times)."""
    world.clock.advance(timedelta(minutes=minutes))


def contact_fields(world: SyncWorld, contact_id: int) -> dict[str, str]:
    return contact_synced_fields(world.contact(contact_id))


def donor_fields(world: SyncWorld, donor_id: int) -> dict[str, str]:
    return donor_synced_fields(world.donor(donor_id))


def sync_writes(world: SyncWorld, donor_id: int) -> list[dict[str, Any]]:
    """The recent activity of a donor written by the sync (its API client), oldest first."""
    return [
        item
        for item in world.activity()
        if item["donorId"] == donor_id and item["actor"] == RD_CLIENT_NAME
    ]


async def dashboard(world: SyncWorld) -> list[dict[str, Any]]:
    """The dashboard's recent activity, newest first."""
    async with world.raisedonors.admin() as admin:
        answer: dict[str, Any] = await admin.get("/raisedonors/activity", limit=50)
    items: list[dict[str, Any]] = answer["items"]
    return items


# ---- no backfill ---------------------------------------------------------------------------------


async def test_nothing_flows_while_contact_sync_is_off_and_the_run_says_why(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    [ada] = world.seed_linked(ADA)
    await world.portal_edit(ada.donor_id, "admin_portal", lastName="Byron")
    world.virtuous_edit(ada.contact_id, "admin", phone="(512) 555-0199")

    with caplog.at_level(logging.WARNING):
        report = await world.run_daily()
    delivered = await world.deliver()
    imports = world.import_batches()

    assert (report.summary.status, report.summary.counts) == ("succeeded", {})
    assert world.outcomes(report) == []
    said = [r.getMessage() for r in caplog.records if "contact sync is off" in r.getMessage()]
    assert said, caplog.text
    assert "'Sync Legacy RaiseDonors Contacts to Virtuous Donors' is not checked" in said[0]
    assert "edits made while it is off are never sent" in said[0]
    assert world.holding() == []
    assert imports == []
    assert delivered.attempted == 0  # no webhook until the sync is enabled
    assert contact_fields(world, ada.contact_id)["last_name"] == "Lovelace"
    assert donor_fields(world, ada.donor_id)["phone"] == "5125550100"


async def test_edits_before_the_switch_on_moment_never_flow(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    ada, grace, hope = world.seed_linked(ADA, GRACE, HOPE_FUND)
    await world.portal_edit(ada.donor_id, "admin_portal", lastName="Byron")
    world.virtuous_edit(grace.contact_id, "admin", phone="(703) 555-0199")
    later(world)
    switched_on = await world.switch_on()
    # An edit at the very moment of the switch counts as after it (docs: a choice).
    await world.portal_edit(hope.donor_id, "admin_portal", phone="(312) 555-0177")

    with caplog.at_level(logging.INFO):
        report = await world.sync_day()

    assert switched_on == world.switched_on_at
    assert flatten(world.outcomes(report)) == [(str(hope.donor_id), "updated")]
    assert contact_fields(world, hope.contact_id)["phone"] == "3125550177"
    assert contact_fields(world, ada.contact_id)["last_name"] == "Lovelace"
    assert donor_fields(world, grace.donor_id)["phone"] == "7035550111"
    # Only the import's ContactUpdate: no webhook existed when Grace's contact was edited.
    assert [(e["contactId"], e["source"]) for e in world.webhook_events()] == [
        (hope.contact_id, "import")
    ]
    assert "passed over 1 activity items from before contact sync was switched on" in caplog.text
    assert "there is no backfill" in caplog.text

    # Switched off and on again: what was edited meanwhile is never sent either.
    later(world)
    await world.switch_off()
    await world.portal_edit(ada.donor_id, "donor_portal", firstName="Augusta")
    off_run = await world.run_daily()
    later(world)
    await world.switch_on()
    await world.portal_edit(grace.donor_id, "admin_portal", lastName="Hopper-Murray")
    on_run = await world.sync_day()

    assert off_run.summary.counts == {}
    assert flatten(world.outcomes(on_run)) == [(str(grace.donor_id), "updated")]
    assert contact_fields(world, ada.contact_id)["first_name"] == "Ada"
    assert contact_fields(world, grace.contact_id)["last_name"] == "Hopper-Murray"


# ---- RaiseDonors -> Virtuous, once a day through the import tool --------------------------------


@pytest.mark.parametrize("channel", ["admin_portal", "donor_portal"])
async def test_portal_edits_flow_to_virtuous_once_imported(world: SyncWorld, channel: str) -> None:
    ada, hope = world.seed_linked(ADA, HOPE_FUND)
    await world.switch_on()
    later(world)
    await world.portal_edit(ada.donor_id, channel, firstName="Augusta", lastName="King")
    await world.portal_edit(ada.donor_id, channel, phone="(512) 555-0123")
    await world.portal_edit(ada.donor_id, channel, primaryAddress=MOVED)
    await world.portal_edit(ada.donor_id, channel, email="augusta@example.org")
    await world.portal_edit(hope.donor_id, channel, organizationName="Hope Fund of Chicago")
    before = {c["id"]: c for c in world.contacts()}

    report = await world.run_daily()

    assert report.summary.status == "succeeded"
    assert flatten(world.outcomes(report)) == [(str(ada.donor_id), "updated")] * 4 + [
        (str(hope.donor_id), "updated")
    ]
    # Waiting in the import tool, with our reference; Virtuous itself is unchanged.
    held = world.holding()
    assert {
        (h["kind"], h["payload"]["referenceSource"], h["payload"]["referenceId"]) for h in held
    } == {
        ("contact", REFERENCE_SOURCE, str(ada.donor_id)),
        ("contact", REFERENCE_SOURCE, str(hope.donor_id)),
    }
    assert {c["id"]: c for c in world.contacts()} == before

    [batch] = world.import_batches()

    assert batch["source"] == REFERENCE_SOURCE
    assert batch["importedBy"] == IMPORTER_NAME
    assert batch["summary"]["updated"] == 2
    assert batch["summary"]["created"] == 0
    ada_contact = world.contact(ada.contact_id)
    assert contact_synced_fields(ada_contact) == donor_fields(world, ada.donor_id)
    assert contact_synced_fields(ada_contact)["last_name"] == "King"
    assert contact_synced_fields(ada_contact)["city"] == "Denver"
    assert contact_synced_fields(ada_contact)["address2"] == ""  # the move replaced Apt 4
    assert contact_email(ada_contact) == "augusta@example.org"
    assert contact_fields(world, hope.contact_id)["organization_name"] == "Hope Fund of Chicago"
    audit = [e for e in world.audit(ada.contact_id) if e["source"] == "import"]
    assert {e["field"] for e in audit} >= {
        "First Name",
        "Last Name",
        "Primary Phone",
        "Primary Address",
        "Primary Email",
    }
    assert {e["user"] for e in audit} == {IMPORTER_NAME}
    assert all(f"Imported by {IMPORTER_NAME}" in e["note"] for e in audit)
    await world.deliver()
    assert world.disagreements() == []


async def test_api_edits_are_filtered_with_the_channel_in_the_reason(world: SyncWorld) -> None:
    [ada] = world.seed_linked(ADA)
    await world.switch_on()
    later(world)
    edited = await world.api_edit(ada.donor_id, lastName="Byron", phone="(512) 555-0188")

    report = await world.run_daily()
    imports = world.import_batches()

    assert edited["lastName"] == "Byron"
    [row] = world.outcomes(report)
    assert (row.record, row.outcome) == (str(ada.donor_id), "filtered")
    assert row.reason == (
        f"donor {ada.donor_id} was edited through the Legacy RaiseDonors API; only edits in the "
        "admin portal or in the donor portal are sent"
    )
    assert world.activity()[-1]["actor"] == OTHER_CLIENT_NAME
    assert world.holding() == []
    assert imports == []
    assert contact_fields(world, ada.contact_id)["last_name"] == "Lovelace"


async def test_a_gift_of_a_new_donor_creates_the_contact_through_the_import(
    world: SyncWorld,
) -> None:
    await world.switch_on()
    later(world)
    gift = await world.give(
        email="katherine@example.org",
        firstName="Katherine",
        lastName="Johnson",
        amount="50.00",
        phone="(757) 555-0142",
        billingAddress={
            "address1": "3 Langley Rd",
            "city": "Hampton",
            "state": "VA",
            "postalCode": "23681",
            "country": "US",
        },
    )
    donor_id = gift["donor"]["id"]
    assert gift["donorCreated"] is True

    report = await world.run_daily()

    assert flatten(world.outcomes(report)) == [(str(gift["gift"]["id"]), "created")]
    [held] = world.holding()
    assert held["kind"] == "gift"
    assert held["payload"]["contact"]["referenceSource"] == REFERENCE_SOURCE
    assert held["payload"]["contact"]["referenceId"] == str(donor_id)
    assert world.contacts() == []  # nothing changes in Virtuous until the import runs

    [batch] = world.import_batches()
    await world.deliver()

    contact = world.contact_by_reference(donor_id)
    assert contact is not None
    assert (contact["referenceSource"], contact["referenceId"]) == (REFERENCE_SOURCE, str(donor_id))
    assert contact_synced_fields(contact) == donor_fields(world, donor_id)
    assert contact_email(contact) == "katherine@example.org"
    [created] = [e for e in world.audit(contact["id"]) if e["field"] == "Contact"]
    assert (created["user"], created["source"], created["newValue"]) == (
        IMPORTER_NAME,
        "import",
        "Created",
    )
    assert batch["summary"]["giftsCreated"] == 1
    assert [g.amount for g in world.virtuous.imports.gifts_of(contact["id"])] == [50]
    # Virtuous's ContactCreate tells RaiseDonors the new contact id (donor overview).
    assert world.donor_overview(donor_id)["virtuousContactId"] == str(contact["id"])

    # A second gift of the same donor the next day updates that contact; no second one.
    later(world, 60)
    await world.give(
        email="Katherine@Example.org",
        firstName="Katherine",
        lastName="Johnson",
        amount=20,
        billingAddress={**gift["donor"]["primaryAddress"], "city": "Newport News"},
    )
    await world.sync_day()
    assert world.duplicates() == []
    assert [c["id"] for c in world.contacts()] == [contact["id"]]
    assert contact_fields(world, contact["id"])["city"] == "Newport News"
    assert len(world.virtuous.imports.gifts_of(contact["id"])) == 2
    assert world.disagreements() == []


# ---- Virtuous -> RaiseDonors, in real time through webhooks -------------------------------------


def _query_for(contact_id: int) -> dict[str, Any]:
    condition = {"parameter": "Contact Id", "operator": "Is", "value": str(contact_id)}
    return {"groups": [{"conditions": [condition]}]}


async def _edit_by(world: SyncWorld, source: str, linked: Linked) -> tuple[str, str]:
    """Make an edit of ``linked``'s contact by ``source``, the way that source edits in
    Virtuous; the synced field it changed and the value RaiseDonors must then show."""
    cid = linked.contact_id
    if source == "admin":
        world.virtuous_edit(cid, "admin", user="Jane Admin", phone="(512) 555-0161")
        return "phone", "5125550161"
    if source == "donor_portal":
        world.virtuous_edit(cid, "donor_portal", firstName="Augusta")
        return "first_name", "Augusta"
    if source == "api":
        key = world.virtuous.add_api_key("Hope Website", "vk-website-e2e")
        async with world.virtuous.client() as http:
            answer = await http.put(
                f"/api/Contact/{cid}",
                json={"lastName": "King"},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert answer.status_code == 200, answer.text
        return "last_name", "King"
    if source == "ncoa":
        moved = {"address1": "77 Elm Ave", "city": "Denver", "state": "CO", "postal": "80202"}
        assert world.virtuous.ncoa([(cid, moved)])["updated"] == 1
        return "address1", "77 Elm Ave"
    if source == "query_update":
        done = world.virtuous.query_update(_query_for(cid), {"phone": "512.555.0172"})
        assert done == {"matched": 1, "updated": 1}
        return "phone", "5125550172"
    assert source == "import"
    # Another integration's upload, imported by a person: matched on the email.
    world.other_import(
        "Gala Spreadsheet", {"referenceId": "row-7", "email": linked.email, "lastName": "Byron"}
    )
    [batch] = world.import_batches()
    assert batch["summary"]["updated"] == 1
    return "last_name", "Byron"


@pytest.mark.parametrize("source", EDIT_SOURCES)
async def test_an_edit_from_every_virtuous_source_applies_to_raisedonors_at_once(
    world: SyncWorld, source: str
) -> None:
    [ada] = world.seed_linked(ADA)
    await world.switch_on()
    later(world)

    field, value = await _edit_by(world, source, ada)
    report = await world.deliver()

    assert (report.attempted, report.delivered) == (1, 1)
    [event] = world.webhook_events()
    assert (event["source"], event["status"], event["httpStatus"]) == (source, "delivered", 200)
    assert flatten(world.history()) == [(str(ada.donor_id), "updated")]
    assert donor_fields(world, ada.donor_id)[field] == value
    assert donor_fields(world, ada.donor_id) == contact_fields(world, ada.contact_id)
    # In RaiseDonors' recent activity, on the donor overview and on the dashboard.
    [write] = sync_writes(world, ada.donor_id)
    assert write["channel"] == "Api"
    assert write["type"] == "DonorUpdated"
    overview = world.donor_overview(ada.donor_id)["recentActivity"]
    assert overview[0]["id"] == write["id"]
    assert (await dashboard(world))[0]["id"] == write["id"]


async def test_only_contacts_from_raisedonors_qualify(world: SyncWorld) -> None:
    [ada] = world.seed_linked(ADA)
    walk_in, other = world.seed_contacts(
        {
            "contactType": "Household",
            "contactIndividuals": [{"firstName": "Walk", "lastName": "In"}],
        },
        {
            "contactType": "Household",
            "referenceSource": "Gala Spreadsheet",
            "referenceId": "row-9",
            "contactIndividuals": [
                {
                    "firstName": "Mary",
                    "lastName": "Jackson",
                    "contactMethods": [{"type": "Home Email", "value": "mary@example.org"}],
                }
            ],
        },
    )
    await world.switch_on()
    later(world)
    donors_before = world.donors()

    world.virtuous_edit(walk_in, "admin", lastName="Inman")
    world.virtuous_edit(other, "admin", phone="(757) 555-0190")
    world.virtuous_edit(ada.contact_id, "admin", lastName="Byron")
    report = await world.deliver()

    assert (report.attempted, report.delivered) == (3, 3)
    rows = {row.record: row for row in world.history()}
    assert {record: row.outcome for record, row in rows.items()} == {
        str(walk_in): "filtered",
        str(other): "filtered",
        str(ada.donor_id): "updated",
    }
    assert rows[str(walk_in)].reason == (
        f"Virtuous CRM+ contact {walk_in} has no reference source, not 'Legacy RaiseDonors': only "
        "contacts from Legacy RaiseDonors sync back to it"
    )
    other_reason = rows[str(other)].reason
    assert other_reason is not None
    assert "reference source 'Gala Spreadsheet'" in other_reason
    assert [d["id"] for d in world.donors()] == [d["id"] for d in donors_before]
    assert donor_fields(world, ada.donor_id)["last_name"] == "Byron"


async def test_names_phone_and_address_flow_and_an_email_change_is_ignored(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    ada, hope = world.seed_linked(ADA, HOPE_FUND)
    await world.switch_on()
    later(world)

    world.virtuous_edit(
        ada.contact_id,
        "admin",
        firstName="Augusta",
        lastName="King",
        phone="(512) 555-0134",
        address={"address1": "9 Pine Rd", "address2": None, "city": "Dallas", "postal": "75201"},
        email="augusta@virtuous.example.org",
    )
    world.virtuous_edit(hope.contact_id, "admin", name="Hope Foundation of Illinois")
    with caplog.at_level(logging.WARNING):
        await world.deliver()
    later(world)
    before = len(world.history())
    world.virtuous_edit(ada.contact_id, "donor_portal", email="king@virtuous.example.org")
    with caplog.at_level(logging.WARNING):
        await world.deliver()

    ada_donor = world.donor(ada.donor_id)
    assert donor_synced_fields(ada_donor) == {
        "first_name": "Augusta",
        "last_name": "King",
        "organization_name": "",
        "phone": "5125550134",
        "address1": "9 Pine Rd",
        "address2": "",
        "city": "Dallas",
        "state": "TX",
        "postal_code": "75201",
        "country": "US",
    }
    assert ada_donor["email"] == "ada@example.org"  # RaiseDonors keeps its email
    assert donor_fields(world, hope.donor_id)["organization_name"] == "Hope Foundation of Illinois"
    assert world.donor(hope.donor_id)["isOrganization"] is True
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "email change from Virtuous ignored" in r.getMessage()
    ]
    assert len(warnings) == 2
    assert all(f"ignored for donor {ada.donor_id} (security)" in w for w in warnings)
    # The email-only edit changed nothing in RaiseDonors: no activity, outcome unchanged.
    assert flatten(world.history()[before:]) == [(str(ada.donor_id), "unchanged")]
    assert [sorted(w["changes"]) for w in sync_writes(world, ada.donor_id)] == [
        ["firstName", "lastName", "phone", "primaryAddress"]
    ]
    assert all("email" not in w["changes"] for w in sync_writes(world, hope.donor_id))


async def test_matching_without_our_ids_donor_id_then_contact_id_then_email_else_create(
    world: SyncWorld,
) -> None:
    ada, grace = world.seed_linked(ADA, GRACE)
    [unlinked] = world.seed_donors(
        {"firstName": "Mary", "lastName": "Jackson", "email": "Mary.Jackson@example.org"}
    )
    await world.switch_on()
    later(world)
    donors_before = len(world.donors())

    # 1. The usual: ReferenceId is the donor id.
    world.virtuous_edit(ada.contact_id, "admin", lastName="Byron")
    # 2. The contact lost its ReferenceId (a query update cleared it): the contact id the donor
    #    shows finds it.
    world.virtuous_edit(grace.contact_id, "query_update", referenceId=None, lastName="Murray")
    # 3. Made through the Virtuous API with our reference source and no id: the email finds the
    #    donor (whatever its case).
    by_email = world.virtuous.create_contact(
        {
            "contactType": "Household",
            "referenceSource": REFERENCE_SOURCE,
            "contactIndividuals": [
                {
                    "firstName": "Mary",
                    "lastName": "Jackson-Smith",
                    "contactMethods": [{"type": "Work Email", "value": "mary.jackson@example.org"}],
                }
            ],
        },
        source="api",
    )
    # 4. Nobody has the email: a new donor.
    new = world.virtuous.create_contact(
        {
            "contactType": "Household",
            "referenceSource": REFERENCE_SOURCE,
            "address": {"address1": "5 Wright St", "city": "Dayton", "state": "OH"},
            "contactIndividuals": [
                {
                    "firstName": "Katherine",
                    "lastName": "Johnson",
                    "contactMethods": [
                        {"type": "Home Email", "value": "kj@example.org"},
                        {"type": "Mobile Phone", "value": "(937) 555-0101"},
                    ],
                }
            ],
        },
        source="api",
    )
    report = await world.deliver()

    assert (report.attempted, report.delivered) == (4, 4)
    # Run history names each record by its first key: the ReferenceId, else the contact id.
    rows = {row.record: row for row in world.history()}
    assert {record: row.outcome for record, row in rows.items()} == {
        str(ada.donor_id): "updated",
        str(grace.contact_id): "updated",
        str(by_email.id): "updated",
        str(new.id): "created",
    }
    assert rows[str(ada.donor_id)].reason == (
        f"matched on donor_id {ada.donor_id} (record {ada.donor_id})"
    )
    assert rows[str(grace.contact_id)].reason == (
        f"matched on virtuous_contact_id {grace.contact_id} (record {grace.donor_id})"
    )
    email_reason = rows[str(by_email.id)].reason
    assert email_reason is not None
    assert "matched on email" in email_reason
    assert f"(record {unlinked})" in email_reason
    assert donor_fields(world, ada.donor_id)["last_name"] == "Byron"
    assert donor_fields(world, grace.donor_id)["last_name"] == "Murray"
    mary = world.donor(unlinked)
    assert (mary["lastName"], mary["virtuousContactId"]) == ("Jackson-Smith", str(by_email.id))
    assert mary["email"] == "Mary.Jackson@example.org"
    assert len(world.donors()) == donors_before + 1
    [created] = [d for d in world.donors() if d["email"] == "kj@example.org"]
    assert created["virtuousContactId"] == str(new.id)
    assert donor_synced_fields(created) == contact_fields(world, new.id)
    assert world.duplicates() == []


# ---- several addresses and phones: only the primary ones ----------------------------------------


async def test_only_the_primary_address_and_phone_sync_from_raisedonors(world: SyncWorld) -> None:
    [grace] = world.seed_linked(
        {
            **GRACE,
            "otherAddresses": [{"address1": "PO Box 9", "city": "Arlington", "state": "VA"}],
            "otherPhones": [{"number": "(703) 555-0999", "type": "Work"}],
        }
    )
    await world.switch_on()
    later(world)
    await world.add_donor_address(grace.donor_id, {"address1": "8 Summer Ln", "city": "Nags Head"})
    with_phone = await world.add_donor_phone(grace.donor_id, "(703) 555-0888")
    [work] = [p for p in with_phone["donorPhoneNumbers"] if p["number"] == "(703) 555-0999"]
    async with world.raisedonors.admin() as admin:
        await admin.post(
            f"/raisedonors/donors/{grace.donor_id}/phones/{work['id']}/make-primary", {}
        )

    report = await world.sync_day()

    # Adding a second address or phone is not a change of anything the sync carries; making
    # another phone primary is.
    assert flatten(world.outcomes(report)) == [(str(grace.donor_id), "updated")]
    contact = world.contact(grace.contact_id)
    assert contact_synced_fields(contact)["phone"] == "7035550999"
    assert contact_synced_fields(contact)["address1"] == "1 Navy Way"
    assert [a["address1"] for a in contact["addresses"]] == ["1 Navy Way"]
    phones = [
        m["value"]
        for m in contact["contactIndividuals"][0]["contactMethods"]
        if m["type"].endswith("Phone")
    ]
    assert phones == ["(703) 555-0999"]
    assert world.disagreements() == []


async def test_only_the_primary_address_and_phone_sync_from_virtuous(world: SyncWorld) -> None:
    [ada] = world.seed_linked(ADA)
    await world.switch_on()
    later(world)

    await world.virtuous_add_address(
        ada.contact_id, {"address1": "1 Beach Rd", "city": "Galveston", "state": "TX"}
    )
    await world.virtuous_add_phone(ada.contact_id, "(409) 555-0100")
    await world.deliver()
    unchanged = world.history()
    # NCOA: the new address becomes the primary, the old one stays on the contact.
    world.virtuous.ncoa(
        [(ada.contact_id, {"address1": "77 Elm Ave", "city": "Denver", "state": "CO"})]
    )
    await world.deliver()

    assert [(r.record, r.outcome) for r in unchanged] == [(str(ada.donor_id), "unchanged")] * 2
    contact = world.contact(ada.contact_id)
    assert len(contact["addresses"]) == 3
    donor = world.donor(ada.donor_id)
    assert donor_synced_fields(donor) == contact_synced_fields(contact)
    assert (donor["primaryAddress"]["address1"], donor["primaryAddress"]["postalCode"]) == (
        "77 Elm Ave",
        None,
    )
    assert len(donor["donorAddresses"]) == 1
    assert len(donor["donorPhoneNumbers"]) == 1
    assert donor["phone"] == "(512) 555-0100"
    assert [sorted(w["changes"]) for w in sync_writes(world, ada.donor_id)] == [["primaryAddress"]]


# ---- no echo, both flows active at once ----------------------------------------------------------


async def test_no_echo_with_both_flows_active(world: SyncWorld) -> None:
    ada, grace, hope = world.seed_linked(ADA, GRACE, HOPE_FUND)
    await world.switch_on()
    later(world)
    # The same day: Ada and the fund edited in RaiseDonors, Grace in Virtuous (applied at once).
    await world.portal_edit(ada.donor_id, "admin_portal", lastName="Byron", phone="(512) 555-0111")
    await world.portal_edit(hope.donor_id, "donor_portal", primaryAddress=MOVED)
    world.virtuous_edit(grace.contact_id, "admin", lastName="Murray", phone="(703) 555-0122")
    await world.deliver()

    daily = await world.run_daily()
    world.import_batches()
    before = len(world.history())
    echoes = await world.deliver()

    assert flatten(world.outcomes(daily)) == [
        (str(ada.donor_id), "updated"),
        (str(hope.donor_id), "updated"),
        (str(grace.donor_id), "filtered"),  # the sync's own write into RaiseDonors (Api)
    ]
    # The import's ContactUpdates come back through the webhook and are blocked as echoes.
    assert [e.status for e in echoes.outcomes] == ["delivered", "delivered"]
    assert {e["source"] for e in world.webhook_events()[-2:]} == {"import"}
    rows = world.history()[before:]
    assert sorted((r.record, r.outcome) for r in rows) == [
        (str(ada.donor_id), "blocked"),
        (str(hope.donor_id), "blocked"),
    ]
    assert all(
        r.reason and r.reason.startswith(f"echo of syncframe's own write by flow {IMPORT_FLOW}")
        for r in rows
    )
    # Nothing bounced: RaiseDonors was written once (Grace), and nothing more goes to Virtuous.
    assert sync_writes(world, ada.donor_id) == sync_writes(world, hope.donor_id) == []
    assert len(sync_writes(world, grace.donor_id)) == 1
    next_day = await world.run_daily()
    assert next_day.summary.counts == {}
    assert world.holding() == []
    assert world.disagreements() == []

    # A real edit afterwards flows: Grace, written by the sync, edited in RaiseDonors.
    later(world)
    await world.portal_edit(grace.donor_id, "admin_portal", primaryAddress=MOVED)
    before = len(world.history())
    real = await world.sync_day()
    assert flatten(world.outcomes(real)) == [(str(grace.donor_id), "updated")]
    assert contact_fields(world, grace.contact_id)["city"] == "Denver"
    assert flatten(world.history()[before:]) == [(str(grace.donor_id), "blocked")]
    assert world.disagreements() == []


async def test_a_real_virtuous_edit_after_an_imported_raisedonors_edit_flows(
    world: SyncWorld,
) -> None:
    """A RaiseDonors edit goes to Virtuous as the whole donor (what the loop guard remembers)
    with the list of fields it changed (all the import sends); once imported, its echo is
    blocked, and a later Virtuous edit of another field (a new phone, an NCOA move) is a real
    edit and flows."""
    [ada] = world.seed_linked(ADA)
    await world.switch_on()
    later(world)
    await world.portal_edit(ada.donor_id, "admin_portal", lastName="Byron")
    await world.sync_day()  # sent, imported, its echo blocked

    later(world)
    before = len(world.history())
    world.virtuous_edit(ada.contact_id, "admin", phone="(512) 555-0199")
    await world.deliver()

    assert flatten(world.history()[before:]) == [(str(ada.donor_id), "updated")]
    assert donor_fields(world, ada.donor_id)["phone"] == "5125550199"


# ---- failed deliveries ------------------------------------------------------------------------


async def test_raisedonors_down_the_delivery_fails_and_virtuous_retry_applies_it_once(
    world: SyncWorld,
) -> None:
    [ada] = world.seed_linked(ADA)
    await world.switch_on()
    later(world)
    down = world.raisedonors.faults.add(FaultRule(kind="error", status=503))
    world.virtuous_edit(ada.contact_id, "admin", lastName="Byron")

    first = await world.deliver()

    [outcome] = first.outcomes
    assert (outcome.status, outcome.http_status) == ("failed", 503)
    [event] = world.webhook_events("failed")
    assert event["httpStatus"] == 503
    assert event["attempts"] == 1
    assert event["reason"].startswith("HTTP 503: ")
    assert "still failing after 5 tries" in event["reason"]
    assert "HTTP 503" in event["reason"].removeprefix("HTTP 503: ")
    assert event["nextAttemptAt"] is not None
    assert world.donor(ada.donor_id)["lastName"] == "Lovelace"
    assert world.failed() == []  # not refused: it waits in syncframe's inbox

    world.raisedonors.faults.remove(down)
    world.clock.advance(timedelta(minutes=1))  # Virtuous's automatic retry is due
    second = await world.deliver()
    world.clock.advance(timedelta(hours=3))  # no retry of a delivered event
    third = await world.deliver()

    assert [o.status for o in second.outcomes] == ["delivered"]
    assert third.attempted == 0
    [event] = world.webhook_events()
    assert (event["status"], event["attempts"], event["httpStatus"]) == ("delivered", 2, 200)
    assert world.donor(ada.donor_id)["lastName"] == "Byron"
    assert len(sync_writes(world, ada.donor_id)) == 1


@pytest.mark.parametrize("first_retry", ["webhook_page", "cli"])
async def test_a_refused_change_is_kept_with_its_reason_and_a_retry_applies_it_once(
    world: SyncWorld, first_retry: str
) -> None:
    [ada] = world.seed_linked(ADA)
    await world.switch_on()
    later(world)
    # RaiseDonors refuses the update once (400 ProblemDetails).
    world.raisedonors.faults.add(
        FaultRule(kind="error", status=400, operation="UpdateDonor", times=1)
    )
    world.virtuous_edit(ada.contact_id, "donor_portal", firstName="Augusta")

    report = await world.deliver()

    [outcome] = report.outcomes
    assert (outcome.status, outcome.http_status) == ("failed", 422)
    [event] = world.webhook_events("failed")
    assert event["reason"].startswith("HTTP 422: ")
    assert f"updating donor {ada.donor_id}" in event["reason"]
    assert "(HTTP 400)" in event["reason"]
    [failed] = world.failed()
    assert failed.change_id == event["eventId"]
    assert f"updating donor {ada.donor_id}" in failed.reason
    assert world.donor(ada.donor_id)["firstName"] == "Ada"

    async def from_page() -> None:
        answer = await world.retry_from_webhook_page(event["eventId"])
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/settings/connectivity/webhooks?tab=failures")

    async def from_cli() -> None:
        await world.retry_failed_from_cli()

    retries: list[Callable[[], Awaitable[None]]] = [from_page, from_cli]
    if first_retry == "cli":
        retries.reverse()
    for retry in retries:
        await retry()
        assert world.donor(ada.donor_id)["firstName"] == "Augusta"
        assert world.failed() == []
        assert len(sync_writes(world, ada.donor_id)) == 1

    world.clock.advance(timedelta(hours=3))  # the automatic retries would be due by now
    later_report = await world.deliver()
    [event] = world.webhook_events()
    assert event["status"] == "delivered"
    assert later_report.attempted == 0 or [o.status for o in later_report.outcomes] == ["delivered"]
    assert len(sync_writes(world, ada.donor_id)) == 1
    assert world.engine.state.list_failed(flow=WEBHOOK_FLOW, status="resolved")


# ---- faults in both systems, both directions --------------------------------------------------


def _faults(path: str = "*") -> list[FaultRule]:
    """Transient trouble a busy day brings: 503s, 429s with Retry-After, dropped connections."""
    return [
        FaultRule(kind="error", path=path, status=503, probability=0.15),
        FaultRule(kind="rate_limit", path=path, retry_after=2.0, probability=0.1),
        FaultRule(kind="disconnect", path=path, probability=0.05),
    ]


async def _drain(world: SyncWorld) -> None:
    """Faults off: let Virtuous's automatic retries and a last daily run finish the work;
    events out of automatic retries are retried from the Failures tab."""
    for _ in range(6):
        world.clock.advance(timedelta(minutes=35))
        await world.deliver()
    for event in world.webhook_events("failed"):
        await world.retry_from_webhook_page(event["eventId"])
    await world.sync_day()


async def test_faults_in_both_systems_during_a_mixed_scenario(world: SyncWorld) -> None:
    """Two days of edits on both sides at once, gifts of new and known donors, contacts made in
    Virtuous, with 503s, 429s and dropped connections in both simulators; in the end both
    systems agree, nobody is duplicated, and email went RaiseDonors -> Virtuous only."""
    people = [
        {
            "firstName": f"Donor{n}",
            "lastName": f"Family{n}",
            "email": f"donor{n}@example.org",
            "phone": f"(512) 555-01{n:02d}",
            "primaryAddress": {
                "address1": f"{n} Main St",
                "city": "Austin",
                "state": "TX",
                "postalCode": "78701",
                "country": "US",
            },
        }
        for n in range(12)
    ]
    linked = world.seed_linked(*people, HOPE_FUND)
    in_raisedonors, in_virtuous, hope = linked[:6], linked[6:12], linked[12]
    await world.switch_on()
    # Every call the sync makes; not the giving form (people's edits are admin routes).
    for rule in [*_faults("/oauth/*"), *_faults("/api/[ADI]*")]:
        world.raisedonors.faults.add(rule)
    for rule in _faults():
        world.virtuous.faults.add(rule)
    kept_in_virtuous: dict[int, str] = {}
    virtuous_made: list[int] = []

    for day in range(2):
        later(world, 30)
        for n, person in enumerate(in_raisedonors):
            if n % 2 != day:
                continue  # given below instead
            edit: dict[str, Any] = {"lastName": f"Edited{day}-{n}"}
            if n % 3 == 0:
                edit["email"] = f"new{day}-{n}@example.org"
            if n % 4 == 0:
                edit["primaryAddress"] = {**MOVED, "address1": f"{n} Elm Ave"}
            channel = "admin_portal" if n % 3 else "donor_portal"
            await world.portal_edit(person.donor_id, channel, **edit)
        await world.portal_edit(hope.donor_id, "admin_portal", organizationName=f"Hope Fund {day}")
        await world.give(
            email=f"gift{day}@example.org",
            firstName="New",
            lastName=f"Giver{day}",
            amount=25,
            billingAddress={"address1": f"{day} Gift St", "city": "Austin", "state": "TX"},
        )
        known = in_raisedonors[1 - day]  # not edited today
        await world.give(
            email=world.donor(known.donor_id)["email"].upper(),
            firstName="Any",
            lastName="Body",
            amount=10,
            billingAddress={"address1": f"{day} Gift Rd", "city": "Austin", "state": "TX"},
        )
        for n, person in enumerate(in_virtuous):
            source = EDIT_SOURCES[(n + day) % 3]  # admin, donor_portal, api
            world.virtuous_edit(person.contact_id, source, phone=f"(737) 555-0{day}{n:02d}")
            if n % 2 == day:
                address = {"address1": f"{n} Oak Blvd", "city": "Houston", "postal": "77002"}
                world.virtuous_edit(person.contact_id, "admin", address=address)
            if n % 3 == day:
                new_email = f"v{day}-{n}@virtuous.example.org"
                world.virtuous_edit(person.contact_id, "admin", email=new_email)
                kept_in_virtuous[person.donor_id] = new_email
        made = world.virtuous.create_contact(
            {
                "contactType": "Household",
                "referenceSource": REFERENCE_SOURCE,
                "contactIndividuals": [
                    {
                        "firstName": "Made",
                        "lastName": f"InVirtuous{day}",
                        "contactMethods": [
                            {"type": "Home Email", "value": f"made{day}@example.org"}
                        ],
                    }
                ],
            },
            source="api",
        )
        virtuous_made.append(made.id)
        await world.deliver()
        await world.run_daily()
        world.import_batches()
        await world.deliver()

    world.raisedonors.faults.clear()
    world.virtuous.faults.clear()
    await _drain(world)

    # Faults did fire on both sides, and nothing is left failed or waiting.
    assert {e.fault for e in world.raisedonors.journal.entries()} >= {
        "error",
        "rate_limit",
        "disconnect",
    }
    assert {e.fault for e in world.virtuous.journal.entries()} >= {
        "error",
        "rate_limit",
        "disconnect",
    }
    assert world.webhook_events("failed") == []
    assert world.webhook_events("pending") == []
    assert world.failed() == []
    # Both systems agree on every synced field of every linked pair, nobody is duplicated.
    assert world.disagreements(email_kept_in_virtuous=kept_in_virtuous) == []
    assert world.duplicates() == []
    pairs = world.linked_pairs()
    assert len(pairs) == len(world.donors()) == len(world.contacts()) == 13 + 2 + 2
    assert set(virtuous_made) <= {contact["id"] for _, contact in pairs}
    # Every email change went RaiseDonors -> Virtuous only: the sync never changed an email in
    # RaiseDonors (it sets one only on a donor it creates), and every email an import gave a
    # contact was a RaiseDonors email.
    for person in in_virtuous:
        assert world.donor(person.donor_id)["email"] == person.email
    email_writes = [
        item
        for item in world.activity()
        if item["actor"] == RD_CLIENT_NAME
        and item["type"] == "DonorUpdated"
        and "email" in item["changes"]
    ]
    assert email_writes == []
    raisedonors_emails = {p["email"] for p in (*people, HOPE_FUND)} | {
        item["changes"]["email"]["new"] for item in world.activity() if "email" in item["changes"]
    }
    imported = [
        entry["newValue"]
        for contact in world.contacts()
        for entry in world.audit(contact["id"])
        if entry["field"] == "Primary Email" and entry["source"] == "import"
    ]
    assert imported
    assert set(imported) <= raisedonors_emails


async def test_what_a_failed_daily_run_already_sent_does_not_overwrite_newer_data(
    world: SyncWorld,
) -> None:
    """Ada's name is edited in the admin portal, then she gives with a new billing address
    (which becomes her primary address). The daily run sends the name; the gift's transaction
    keeps failing, so the run fails before the engine records what it sent. Once the name is
    imported, its ContactUpdate (with the contact's older address) is not known as an echo, but
    the donor sink keeps the address the gift changed (on its way to Virtuous), so it is not
    written over; when the gift is imported both systems agree."""
    [ada] = world.seed_linked(ADA)
    await world.switch_on()
    later(world)
    await world.portal_edit(ada.donor_id, "admin_portal", lastName="Byron")
    gift_address = {"address1": "5 Gift Rd", "city": "Austin", "state": "TX", "country": "US"}
    await world.give(
        email=ADA["email"],
        firstName="Ada",
        lastName="Lovelace",
        amount=5,
        billingAddress=gift_address,
    )
    gifts_down = world.virtuous.faults.add(
        FaultRule(kind="error", status=503, operation="CreateGiftTransaction")
    )
    failed_run = await world.run_daily()
    assert failed_run.summary.status == "failed"
    world.import_batches()  # the move that did reach Virtuous is imported
    await world.deliver()
    world.virtuous.faults.remove(gifts_down)
    later(world)
    await world.sync_day()  # the batch again, gift included

    assert donor_fields(world, ada.donor_id)["address1"] == "5 Gift Rd"
    assert world.disagreements() == []


async def test_the_flow_file_is_the_example_with_only_the_addresses_changed(
    world: SyncWorld,
) -> None:
    shipped = EXAMPLE_FLOW_FILE.read_text(encoding="utf-8").splitlines()
    tested = world.path.read_text(encoding="utf-8").splitlines()
    changed = [(a, b) for a, b in zip(shipped, tested, strict=True) if a != b]
    assert changed == [
        ('base_url = "https://api.raisedonors.com"', f'base_url = "{world.raisedonors.base_url}"'),
        (
            'base_url = "https://api.virtuoussoftware.com"',
            f'base_url = "{world.virtuous.base_url}"',
        ),
    ]
    # The secrets came from the environment, not from the file.
    assert not [name for name, value in ENV.items() if value in "\n".join(tested)]
