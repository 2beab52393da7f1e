"""The raisedonors_activity source and the raisedonors_edit_channels filter, run through the
engine against the simulator: what each activity item becomes, paging and the cursor, no
backfill, nothing while contact sync is off, and which edit channels are sent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from raisedonors_simulator import RaiseDonorsSimulator
from syncframe_raisedonors_virtuous.raisedonors_models import DONOR_FIELDS, GIFT_FIELDS

from plugins.raisedonors_virtuous.tests.raisedonors_helpers import (
    ADA,
    HOPE_FUND,
    SideHarness,
    add_address,
    edit,
    give,
    open_account,
    rd_client,
    switch_contact_sync,
)
from syncframe.clock import ManualClock
from syncframe.records import Operation, Origin
from syncframe.testing import READ_FLOW

pytestmark = pytest.mark.anyio

ADA_ID, FUND_ID = 100_001, 100_002
CHANNELS = [{"type": "raisedonors_edit_channels"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock(raisedonors_simulator: RaiseDonorsSimulator) -> ManualClock:
    assert isinstance(raisedonors_simulator.clock, ManualClock)
    return raisedonors_simulator.clock


@pytest.fixture
def sim(raisedonors_simulator: RaiseDonorsSimulator, clock: ManualClock) -> RaiseDonorsSimulator:
    """Ada and a fund, seeded the day before contact sync was switched on."""
    open_account(raisedonors_simulator, donors=[ADA, HOPE_FUND], sync_contacts=False)
    clock.advance(days=1)
    return raisedonors_simulator


@pytest.fixture
def harness(sim: RaiseDonorsSimulator, tmp_path: Path) -> Iterator[SideHarness]:
    """The engine around the source, with the edit-channel filter."""
    world = SideHarness(sim, tmp_path, filters=CHANNELS)
    yield world
    world.close()


async def test_each_item_becomes_a_change_with_the_synced_fields(
    sim: RaiseDonorsSimulator, harness: SideHarness, clock: ManualClock
) -> None:
    await switch_contact_sync(sim, True)
    clock.advance(minutes=5)
    edited_at = clock.now()
    await edit(sim, ADA_ID, lastName="King", phone="(512) 555-0199", actor="Maria (admin)")
    await edit(sim, FUND_ID, "donor_portal", organizationName="Hope Fund of Austin")
    receipt = await give(
        sim,
        email="grace@example.org",
        firstName="Grace",
        lastName="Hopper",
        amount=25.5,
        billingAddress={"address1": "1 Navy Way", "city": "Arlington", "state": "VA"},
        phone="703-555-0101",
        projectCode="WELLS",
    )

    report, changes = await harness.read()

    assert report.summary.status == "succeeded", report.summary.error
    ada, fund, gift = changes
    assert (ada.system, ada.entity, ada.keys, ada.operation) == (
        "conformance",
        "donor",
        {"donor_id": str(ADA_ID)},
        Operation.UPDATE,
    )
    assert ada.origin == Origin("raisedonors", channel="admin_portal")
    assert ada.occurred_at == edited_at
    assert ada.change_id == "raisedonors-activity-1"
    # The whole donor, and which fields the edit changed (all the import sends).
    assert ada.fields == {
        "donor_id": ADA_ID,
        "is_organization": False,
        "first_name": "Ada",
        "last_name": "King",
        "organization_name": None,
        "email": "ada@example.org",
        "phone": "(512) 555-0199",
        "address1": "12 Oak St",
        "address2": "Apt 4",
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
        "country": "US",
        "virtuous_contact_id": None,
        "changed_fields": ["last_name", "phone"],
    }
    assert list(fund.fields) == [*DONOR_FIELDS, "changed_fields"]
    assert fund.fields["changed_fields"] == ["organization_name"]
    assert fund.origin == Origin("raisedonors", channel="donor_portal")
    assert fund.fields["is_organization"] is True
    assert fund.fields["organization_name"] == "Hope Fund of Austin"

    grace_id = receipt["donor"]["id"]
    assert (gift.entity, gift.operation, gift.origin) == (
        "gift",
        Operation.INSERT,
        Origin("raisedonors", channel="gift"),
    )
    assert gift.keys == {"gift_id": str(receipt["gift"]["id"]), "donor_id": str(grace_id)}
    assert list(gift.fields) == [*DONOR_FIELDS, *GIFT_FIELDS]
    assert {k: gift.fields[k] for k in ("donor_id", "email", "last_name", "phone", "city")} == {
        "donor_id": grace_id,
        "email": "grace@example.org",
        "last_name": "Hopper",
        "phone": "703-555-0101",
        "city": "Arlington",
    }
    assert {k: gift.fields[k] for k in GIFT_FIELDS} == {
        "gift_id": receipt["gift"]["id"],
        "amount": "25.50",
        "gift_date": receipt["gift"]["date"][:10],
        "project_code": "WELLS",
    }


async def test_api_edits_are_filtered_with_the_reason_gifts_always_pass(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    await switch_contact_sync(sim, True)
    async with rd_client(sim) as client:
        await client.update_donor(ADA_ID, {"lastName": "Byron"})
        created = await client.create_donor({"email": "new@example.org", "lastName": "New"})
    await edit(sim, ADA_ID, "donor_portal", firstName="Augusta")
    await give(
        sim,
        email="ada@example.org",
        firstName="Ada",
        lastName="Byron",
        amount=10,
        billingAddress={"address1": "2 Elm St", "city": "Austin"},
    )

    report, changes = await harness.read()

    assert report.summary.counts == {"created": 2, "filtered": 2}
    assert [(c.entity, c.origin.channel if c.origin else None) for c in changes] == [
        ("donor", "donor_portal"),
        ("gift", "gift"),
    ]
    assert changes[1].fields["address1"] == "2 Elm St"  # the billing address overwrote it
    rows = {
        (row.record, row.outcome): row.reason for row in harness.state.run_outcomes(report.run_id)
    }
    assert rows[(str(ADA_ID), "filtered")] == (
        f"donor {ADA_ID} was edited through the Legacy RaiseDonors API; only edits in the admin "
        "portal or in the donor portal are sent"
    )
    assert rows[(str(created.id), "filtered")] == (
        f"donor {created.id} was created through the Legacy RaiseDonors API; only edits in the "
        "admin portal or in the donor portal are sent"
    )


async def test_nothing_is_read_while_contact_sync_is_off(
    sim: RaiseDonorsSimulator, harness: SideHarness, caplog: pytest.LogCaptureFixture
) -> None:
    await edit(sim, ADA_ID, lastName="King")

    with caplog.at_level(logging.WARNING):
        report, changes = await harness.read()

    assert report.summary.status == "succeeded"
    assert changes == []
    assert "contact sync is off in Legacy RaiseDonors" in caplog.text
    assert "'Sync Legacy RaiseDonors Contacts to Virtuous Donors' is not checked" in caplog.text
    assert harness.state.get_checkpoint(READ_FLOW) is None
    assert [e.operation for e in sim.journal.entries()] == [
        "Authorize",
        "GetVirtuousIntegration",
    ]


async def test_no_backfill_only_edits_after_the_switch(
    sim: RaiseDonorsSimulator,
    harness: SideHarness,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await edit(sim, ADA_ID, lastName="Before")
    await edit(sim, FUND_ID, organizationName="Before Fund")
    clock.advance(minutes=1)
    settings = await switch_contact_sync(sim, True)
    clock.advance(minutes=1)
    await edit(sim, ADA_ID, lastName="After")

    with caplog.at_level(logging.WARNING):
        _, changes = await harness.read()

    assert settings["contactSyncEnabledAt"] is not None
    assert [(c.key, c.fields["last_name"]) for c in changes] == [(str(ADA_ID), "After")]
    assert "only edits and gifts from then on are sent" in caplog.text
    assert "no backfill" in caplog.text
    checkpoint = harness.state.get_checkpoint(READ_FLOW)
    assert checkpoint is not None
    assert checkpoint.cursor == 3


async def test_switched_off_and_on_again_skips_what_happened_in_between(
    sim: RaiseDonorsSimulator, harness: SideHarness, clock: ManualClock
) -> None:
    await switch_contact_sync(sim, True)
    await edit(sim, ADA_ID, lastName="One")
    _, first = await harness.read()
    await switch_contact_sync(sim, False)
    clock.advance(minutes=1)
    await edit(sim, ADA_ID, lastName="WhileOff")
    clock.advance(minutes=1)
    await switch_contact_sync(sim, True)
    clock.advance(minutes=1)
    await edit(sim, ADA_ID, lastName="Three")

    # The cursor (activity 1) is older than the new switch-on: activity 2 is never sent.
    _, second = await harness.read()

    assert [c.fields["last_name"] for c in first] == ["One"]
    assert [c.fields["last_name"] for c in second] == ["Three"]
    assert [c.change_id for c in second] == ["raisedonors-activity-3"]


async def test_pages_with_since_id_and_resumes_from_the_cursor(
    sim: RaiseDonorsSimulator, harness: SideHarness, clock: ManualClock
) -> None:
    await switch_contact_sync(sim, True)
    for n in range(5):
        clock.advance(seconds=1)
        await edit(sim, ADA_ID, phone=f"(512) 555-02{n:02d}")

    report, changes = await harness.read()
    asked = [e for e in sim.journal.entries() if e.operation == "ListActivity"]
    await edit(sim, FUND_ID, organizationName="Later Fund")
    _, later = await harness.read()
    _, nothing = await harness.read()

    assert report.summary.batches == 3  # batch_size 2: 2 + 2 + 1
    assert [c.fields["phone"] for c in changes] == [f"(512) 555-02{n:02d}" for n in range(5)]
    assert len(asked) == 3  # the short third page ends the read
    assert [c.change_id for c in later] == ["raisedonors-activity-6"]
    assert nothing == []
    checkpoint = harness.state.get_checkpoint(READ_FLOW)
    assert checkpoint is not None
    assert checkpoint.cursor == 6


async def test_the_cursor_moves_only_once_the_batch_is_acknowledged(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    await switch_contact_sync(sim, True)
    for name in ("One", "Two", "Three"):
        await edit(sim, ADA_ID, lastName=name)

    stopped = await harness.run_stopping_before_commit(READ_FLOW, harness.settings)
    harness.take_captured()
    report, changes = await harness.read()

    assert stopped.summary.status == "failed"
    assert report.summary.status == "succeeded"
    # The stopped batch (activity 1 and 2) is read again, nothing is skipped.
    assert [c.change_id for c in changes] == [
        "raisedonors-activity-1",
        "raisedonors-activity-2",
        "raisedonors-activity-3",
    ]


async def test_edits_of_what_the_sync_does_not_carry_are_passed_over(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    await switch_contact_sync(sim, True)
    second = {"address1": "1 Lake Rd", "city": "Vail", "state": "CO", "postalCode": "81657"}
    donor = await add_address(sim, ADA_ID, second)  # a second, non-primary address
    await edit(sim, ADA_ID, virtuousContactId="V-1")  # ids flow from Virtuous, not to it
    new_id = next(a["id"] for a in donor["donorAddresses"] if a["city"] == "Vail")
    async with sim.admin() as admin:
        await admin.post(
            f"/raisedonors/donors/{ADA_ID}/addresses/{new_id}/make-primary",
            {"channel": "admin_portal"},
        )

    _, changes = await harness.read()

    # Only making the second address primary changes what the sync carries.
    assert [c.change_id for c in changes] == ["raisedonors-activity-3"]
    assert {k: changes[0].fields[k] for k in ("address1", "address2", "city", "postal_code")} == {
        "address1": "1 Lake Rd",
        "address2": None,
        "city": "Vail",
        "postal_code": "81657",
    }
    checkpoint = harness.state.get_checkpoint(READ_FLOW)
    assert checkpoint is not None
    assert checkpoint.cursor == 3


async def test_a_filter_option_can_send_more_channels(
    sim: RaiseDonorsSimulator, tmp_path: Path
) -> None:
    world = SideHarness(
        sim,
        tmp_path,
        filters=[{"type": "raisedonors_edit_channels", "channels": ["admin_portal", "api"]}],
    )
    try:
        await switch_contact_sync(sim, True)
        async with rd_client(sim) as client:
            await client.update_donor(ADA_ID, {"lastName": "Api"})
        await edit(sim, ADA_ID, "donor_portal", lastName="Portal")

        report, changes = await world.read()
        reasons = [
            r.reason for r in world.state.run_outcomes(report.run_id) if r.outcome == "filtered"
        ]
    finally:
        world.close()

    assert [c.fields["last_name"] for c in changes] == ["Api"]
    assert reasons == [
        f"donor {ADA_ID} was edited in the donor portal; only edits in the admin portal or "
        "through the Legacy RaiseDonors API are sent"
    ]


async def test_check_signs_in_and_reads_the_settings(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    checks = await harness.check(harness.settings)

    source = [c for c in checks if c.kind == "source"]
    assert [c.ok for c in source] == [True]
    assert "GetVirtuousIntegration" in [e.operation for e in sim.journal.entries()]
