"""The raisedonors_donors sink and its lookup, run through the engine (a feed of Virtuous-side
changes, the flow file's key_cascade) against the simulator: each step of the cascade, email
changes ignored and logged, creates, idempotent reruns, and rejections with their reasons."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from raisedonors_simulator import RaiseDonorsSimulator
from syncframe_simulators import FaultRule

from plugins.raisedonors_virtuous.tests.raisedonors_helpers import (
    ADA,
    CLIENT_NAME,
    HOPE_FUND,
    SideHarness,
    donor_of,
    open_account,
)
from syncframe.testing import WRITE_FLOW

pytestmark = pytest.mark.anyio

ADA_ID, FUND_ID, BEN_ID = 100_001, 100_002, 100_003
BEN = {
    "firstName": "Ben",
    "lastName": "Okafor",
    "email": "ben@example.org",
    "phone": "(303) 555-0142",
    "virtuousContactId": "7001",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim(raisedonors_simulator: RaiseDonorsSimulator) -> RaiseDonorsSimulator:
    """Ada, a fund and Ben (whose Virtuous contact id is known)."""
    open_account(raisedonors_simulator, donors=[ADA, HOPE_FUND, BEN])
    return raisedonors_simulator


@pytest.fixture
def harness(sim: RaiseDonorsSimulator, tmp_path: Path) -> Iterator[SideHarness]:
    """The engine around the sink, with the flow file's cascade."""
    world = SideHarness(sim, tmp_path)
    yield world
    world.close()


def _activity(sim: RaiseDonorsSimulator) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = sim.snapshot()["activity"]
    return items


def _outcomes(harness: SideHarness, report: Any) -> dict[str, tuple[str, str | None, str | None]]:
    return {
        row.record: (row.outcome, row.target_key, row.reason)
        for row in harness.state.run_outcomes(report.run_id)
    }


# ---- the cascade ---------------------------------------------------------------------------------


async def test_a_donor_id_match_patches_only_what_differs(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    report = await harness.write(
        {
            "c-1": {
                "donor_id": str(ADA_ID),
                "virtuous_contact_id": "9001",
                "reference_source": "Legacy RaiseDonors",
                "first_name": "Ada",
                "last_name": "King",
                "email": "ada@example.org",
                "phone": "512.555.0100",  # the same number, written differently
                "address1": "12 Oak St",
                "address2": "Apt 4",
                "city": "Dallas",
                "state": "TX",
                "postal_code": "75201",
                "country": "US",
            }
        }
    )

    assert report.summary.counts == {"updated": 1}
    assert _outcomes(harness, report)["c-1"][:2] == ("updated", str(ADA_ID))
    ada = donor_of(sim, ADA_ID)
    assert (ada["lastName"], ada["phone"], ada["virtuousContactId"]) == (
        "King",
        "(512) 555-0100",
        "9001",
    )
    assert ada["primaryAddress"]["city"] == "Dallas"
    assert ada["primaryAddress"]["address2"] == "Apt 4"
    (item,) = _activity(sim)
    assert (item["type"], item["channel"], item["actor"]) == ("DonorUpdated", "Api", CLIENT_NAME)
    assert sorted(item["changes"]) == ["lastName", "primaryAddress", "virtuousContactId"]


async def test_a_virtuous_contact_id_match(sim: RaiseDonorsSimulator, harness: SideHarness) -> None:
    report = await harness.write(
        {"c-7001": {"virtuous_contact_id": "7001", "last_name": "Okafor-Diaz"}}
    )

    assert _outcomes(harness, report)["c-7001"][:2] == ("updated", str(BEN_ID))
    assert donor_of(sim, BEN_ID)["lastName"] == "Okafor-Diaz"
    assert len(sim.snapshot()["donors"]) == 3


async def test_an_email_match_sets_the_virtuous_contact_id(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    report = await harness.write(
        {
            "c-9": {
                "virtuous_contact_id": "9009",
                "email": "ADA@Example.org",
                "first_name": "Ada",
                "last_name": "Lovelace",
            }
        }
    )

    outcome, target, reason = _outcomes(harness, report)["c-9"]
    assert (outcome, target) == ("updated", str(ADA_ID))
    assert reason is not None
    assert "matched on email ada@example.org" in reason
    ada = donor_of(sim, ADA_ID)
    assert ada["virtuousContactId"] == "9009"
    assert ada["email"] == "ada@example.org"


async def test_no_match_creates_the_donor(sim: RaiseDonorsSimulator, harness: SideHarness) -> None:
    report = await harness.write(
        {
            "c-42": {
                "virtuous_contact_id": "42",
                "email": "grace@example.org",
                "first_name": "Grace",
                "last_name": "Hopper",
                "phone": "(703) 555-0101",
                "address1": "1 Navy Way",
                "city": "Arlington",
                "state": "VA",
                "postal_code": "22202",
                "country": "US",
            }
        }
    )

    outcome, target, _ = _outcomes(harness, report)["c-42"]
    assert outcome == "created"
    assert target is not None
    grace = donor_of(sim, int(target))
    assert {
        k: grace[k] for k in ("email", "firstName", "lastName", "phone", "virtuousContactId")
    } == {
        "email": "grace@example.org",
        "firstName": "Grace",
        "lastName": "Hopper",
        "phone": "(703) 555-0101",
        "virtuousContactId": "42",
    }
    assert grace["isOrganization"] is False
    assert grace["primaryAddress"]["postalCode"] == "22202"
    assert _activity(sim)[-1]["type"] == "DonorCreated"


async def test_an_organization_is_created_and_renamed_by_its_name(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    report = await harness.write(
        {
            "org-1": {
                "virtuous_contact_id": "501",
                "is_organization": True,
                "organization_name": "Riverbend Foundation",
                "first_name": "Cara",  # a person's name does not name an organization
                "email": "grants@riverbend.example.org",
            },
            "org-2": {
                "donor_id": str(FUND_ID),
                "is_organization": True,
                "organization_name": "Hope Fund of Austin",
                "last_name": "Ignored",
            },
        }
    )

    assert report.summary.counts == {"created": 1, "updated": 1}
    riverbend = donor_of(sim, int(_outcomes(harness, report)["org-1"][1] or 0))
    assert (riverbend["organizationName"], riverbend["firstName"], riverbend["isOrganization"]) == (
        "Riverbend Foundation",
        None,
        True,
    )
    fund = donor_of(sim, FUND_ID)
    assert (fund["organizationName"], fund["lastName"]) == ("Hope Fund of Austin", "Diaz")


async def test_a_contact_that_became_an_individual(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    report = await harness.write(
        {"c-1": {"donor_id": FUND_ID, "is_organization": False, "last_name": "Diaz-Reyes"}}
    )

    assert report.summary.counts == {"updated": 1}
    fund = donor_of(sim, FUND_ID)
    assert (fund["isOrganization"], fund["organizationName"], fund["lastName"]) == (
        False,
        None,
        "Diaz-Reyes",
    )


# ---- email -----------------------------------------------------------------------------------


async def test_an_email_change_from_virtuous_is_ignored_and_logged(
    sim: RaiseDonorsSimulator, harness: SideHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        report = await harness.write(
            {
                "c-1": {"donor_id": ADA_ID, "email": "ada.new@example.org", "last_name": "King"},
                "c-2": {"donor_id": BEN_ID, "email": "ben.new@example.org"},
            }
        )

    assert report.summary.counts == {"updated": 1, "unchanged": 1}
    assert donor_of(sim, ADA_ID)["email"] == "ada@example.org"
    assert donor_of(sim, ADA_ID)["lastName"] == "King"
    assert donor_of(sim, BEN_ID)["email"] == "ben@example.org"
    assert f"email change from Virtuous ignored for donor {ADA_ID} (security)" in caplog.text
    assert f"email change from Virtuous ignored for donor {BEN_ID} (security)" in caplog.text
    # Only Ada's last name made activity; no email ever changed.
    assert [sorted(item["changes"]) for item in _activity(sim)] == [["lastName"]]


async def test_the_same_email_in_another_case_is_no_change(
    sim: RaiseDonorsSimulator, harness: SideHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        report = await harness.write({"c-1": {"donor_id": ADA_ID, "email": "Ada@Example.ORG"}})

    assert report.summary.counts == {"unchanged": 1}
    assert "email change" not in caplog.text
    assert _activity(sim) == []


# ---- idempotence -------------------------------------------------------------------------------


async def test_writing_a_batch_again_changes_nothing_and_logs_no_activity(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    records: dict[str, dict[str, Any]] = {
        "c-1": {"donor_id": ADA_ID, "last_name": "King", "city": "Dallas"},
        "c-42": {
            "virtuous_contact_id": "42",
            "email": "grace@example.org",
            "first_name": "Grace",
            "last_name": "Hopper",
        },
        "c-43": {"email": "alan@example.org", "first_name": "Alan", "last_name": "Turing"},
    }
    first = await harness.write(records)
    activity = len(_activity(sim))
    donors = sim.snapshot()["donors"]

    harness.state.reset_flow(WRITE_FLOW)
    again = await harness.run(WRITE_FLOW, harness.settings)

    assert first.summary.counts == {"updated": 1, "created": 2}
    assert again.summary.counts == {"unchanged": 3}
    assert len(_activity(sim)) == activity
    assert sim.snapshot()["donors"] == donors


async def test_a_stop_between_write_and_commit_leaves_each_donor_once(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    harness.queue(
        {
            f"c-{n}": {"email": f"new{n}@example.org", "last_name": f"New{n}"}
            for n in range(3)  # no Virtuous contact id: found again by email
        },
        "contact",
    )
    stopped = await harness.run_stopping_before_commit(WRITE_FLOW, harness.settings)
    rerun = await harness.run(WRITE_FLOW, harness.settings)

    assert stopped.summary.status == "failed"
    assert rerun.summary.status == "succeeded"
    emails = [d["email"] for d in sim.snapshot()["donors"]]
    assert sorted(e for e in emails if e.startswith("new")) == [
        "new0@example.org",
        "new1@example.org",
        "new2@example.org",
    ]


async def test_a_duplicate_email_on_create_resolves_to_the_donor_that_has_it(
    sim: RaiseDonorsSimulator, tmp_path: Path
) -> None:
    # Without matchers the sink creates; RaiseDonors answers 409 and the donor with the email
    # is updated instead. Two changes of one new contact in one batch land on one donor.
    world = SideHarness(sim, tmp_path, matchers=(), batch_size=10)
    try:
        report = await world.write(
            {
                "c-1": {"email": "ada@example.org", "last_name": "Lovelace", "city": "Dallas"},
                "c-2": {"email": "grace@example.org", "last_name": "Hopper"},
                "c-3": {"email": "GRACE@example.org", "last_name": "Hopper", "city": "Arlington"},
            }
        )
        outcomes = _outcomes(world, report)
    finally:
        world.close()

    assert [outcomes[k][0] for k in ("c-1", "c-2", "c-3")] == ["updated", "created", "updated"]
    assert outcomes["c-1"][1] == str(ADA_ID)
    assert outcomes["c-3"][1] == outcomes["c-2"][1]
    assert donor_of(sim, ADA_ID)["primaryAddress"]["city"] == "Dallas"
    assert len(sim.snapshot()["donors"]) == 4
    grace = donor_of(sim, int(outcomes["c-2"][1] or 0))
    assert grace["primaryAddress"]["city"] == "Arlington"


async def test_without_matchers_the_changes_donor_id_decides(
    sim: RaiseDonorsSimulator, tmp_path: Path
) -> None:
    world = SideHarness(sim, tmp_path, matchers=())
    try:
        report = await world.write({"c-1": {"donor_id": BEN_ID, "phone": "(303) 555-0000"}})
    finally:
        world.close()

    assert report.summary.counts == {"updated": 1}
    assert donor_of(sim, BEN_ID)["phone"] == "(303) 555-0000"


# ---- refused ----------------------------------------------------------------------------------


async def test_changes_raisedonors_cannot_hold_are_rejected_with_the_reason(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    report = await harness.write(
        {
            "no-email": {"virtuous_contact_id": "1", "last_name": "Nobody"},
            "no-last-name": {"email": "first.only@example.org", "first_name": "Only"},
            "no-org-name": {"email": "org@example.org", "is_organization": True},
            "clears-last-name": {"donor_id": ADA_ID, "last_name": ""},
            "unknown-field": {"donor_id": ADA_ID, "middle_name": "Augusta"},
            "bad-phone": {"donor_id": ADA_ID, "phone": "12"},
            "bad-id": {"donor_id": "V-12"},
            "good": {"donor_id": BEN_ID, "first_name": "Benjamin"},
        }
    )
    outcomes = _outcomes(harness, report)

    def reason(key: str) -> str:
        outcome, _, why = outcomes[key]
        assert outcome == "rejected", (key, outcome, why)
        assert why is not None
        return why

    assert "a new Legacy RaiseDonors donor needs an email" in reason("no-email")
    assert "a new Legacy RaiseDonors donor needs a last name" in reason("no-last-name")
    assert "needs an organization name" in reason("no-org-name")
    assert (
        f"Legacy RaiseDonors requires a last name; the change would leave donor {ADA_ID} "
        "without one" in reason("clears-last-name")
    )
    assert "field 'middle_name' is not a RaiseDonors donor field" in reason("unknown-field")
    assert f"updating donor {ADA_ID}: phone: '12' is not a phone number" in reason("bad-phone")
    assert "'V-12' is not a RaiseDonors donor id" in reason("bad-id")
    assert outcomes["good"][0] == "updated"
    assert donor_of(sim, BEN_ID)["firstName"] == "Benjamin"
    assert donor_of(sim, ADA_ID)["lastName"] == "Lovelace"
    assert {f.change["keys"]["key"] for f in harness.state.list_failed(flow=WRITE_FLOW)} == {
        "no-email",
        "no-last-name",
        "no-org-name",
        "clears-last-name",
        "unknown-field",
        "bad-phone",
        "bad-id",
    }
    assert len(sim.snapshot()["donors"]) == 3


async def test_create_missing_off_rejects_instead(
    sim: RaiseDonorsSimulator, tmp_path: Path
) -> None:
    world = SideHarness(sim, tmp_path, sink_options={"create_missing": False})
    try:
        report = await world.write({"c-1": {"email": "grace@example.org", "last_name": "Hopper"}})
        outcomes = _outcomes(world, report)
    finally:
        world.close()

    assert outcomes["c-1"][0] == "rejected"
    assert "create_missing is off" in (outcomes["c-1"][2] or "")
    assert len(sim.snapshot()["donors"]) == 3


async def test_the_lookup_names_what_it_can_find_by(
    sim: RaiseDonorsSimulator, tmp_path: Path
) -> None:
    world = SideHarness(
        sim,
        tmp_path,
        matchers=[{"type": "key_cascade", "keys": ["phone"], "on_no_match": "create"}],
    )
    try:
        report = await world.write({"c-1": {"phone": "(512) 555-0100", "last_name": "X"}})
    finally:
        world.close()

    assert report.summary.status == "failed"
    assert "cannot be found by 'phone'; they can by donor_id, virtuous_contact_id, email" in (
        report.summary.error or ""
    )


async def test_a_transient_fault_while_matching_is_retried(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    sim.faults.add(FaultRule(kind="error", status=503, operation="ListDonors", times=1))

    report = await harness.write({"c-7001": {"virtuous_contact_id": "7001", "first_name": "B."}})

    assert report.summary.counts == {"updated": 1}
    assert harness.waits
    assert donor_of(sim, BEN_ID)["firstName"] == "B."


async def test_the_contact_id_index_follows_the_sinks_own_writes(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    # One run, two batches: the first sets Ada's contact id (found by email), the second finds
    # her by that id through the index the first batch built.
    report = await harness.write(
        {
            "a": {"virtuous_contact_id": "7001", "first_name": "Benny"},
            "b": {"virtuous_contact_id": "555", "email": "ada@example.org"},
            "c": {"virtuous_contact_id": "555", "first_name": "Augusta"},
        }
    )

    outcomes = _outcomes(harness, report)
    assert [outcomes[k][:2] for k in ("a", "b", "c")] == [
        ("updated", str(BEN_ID)),
        ("updated", str(ADA_ID)),
        ("updated", str(ADA_ID)),
    ]
    assert donor_of(sim, ADA_ID)["firstName"] == "Augusta"
    # The donor list was read once for the whole run.
    assert [e.operation for e in sim.journal.entries()].count("ListDonors") == 1


async def test_a_dry_run_says_what_would_happen_and_writes_nothing(
    sim: RaiseDonorsSimulator, harness: SideHarness
) -> None:
    harness.queue(
        {
            "c-1": {"donor_id": ADA_ID, "last_name": "King"},
            "c-2": {"donor_id": BEN_ID, "phone": "303-555-0142"},
            "c-3": {"email": "grace@example.org", "last_name": "Hopper"},
        },
        "contact",
    )
    with harness.engine(harness.settings) as engine:
        report = await engine.run_flow(WRITE_FLOW, dry_run=True)

    assert report.summary.counts == {"updated": 1, "unchanged": 1, "created": 1}
    assert donor_of(sim, ADA_ID)["lastName"] == "Lovelace"
    assert len(sim.snapshot()["donors"]) == 3
    assert _activity(sim) == []
    writes = {"UpdateDonor", "CreateDonor"} & {e.operation for e in sim.journal.entries()}
    assert writes == set()
