"""The re_nxt_constituents sink through the engine: creating, updating, email consent as
consents and solicit codes, idempotent reruns, and the reasons of what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from re_nxt_simulator import ReNxtSimulator
from re_nxt_simulator.inputs import EmailAddressAdd, EmailAddressEdit
from syncframe_simulators import FaultRule

from plugins.smartsync.tests.re_nxt_helpers import (
    FlowHarness,
    add_consent,
    add_constituent,
    add_solicit_code,
    change,
    make_simulator,
    read_all,
    snapshot_of,
    source_for,
    write_flow,
)
from syncframe.clock import ManualClock
from syncframe.records import Operation

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> ReNxtSimulator:
    return make_simulator()


@pytest.fixture
def harness(sim: ReNxtSimulator, tmp_path: Path) -> Iterator[FlowHarness]:
    flows = FlowHarness(sim, tmp_path)
    yield flows
    flows.close()


def clock_of(sim: ReNxtSimulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


def consents_of(sim: ReNxtSimulator, constituent_id: str) -> list[tuple[str, str | None, str]]:
    """(channel, category, response) of every consent, oldest first."""
    held = snapshot_of(sim, constituent_id)["consents"]
    ordered = sorted(held, key=lambda c: (c["consent_date"], c["date_added"], c["id"]))
    return [(c["channel"], c.get("category"), c["constituent_consent_response"]) for c in ordered]


def codes_of(sim: ReNxtSimulator, constituent_id: str) -> list[tuple[str, bool]]:
    """(solicit code, ended) of every solicit code."""
    return [
        (code["solicit_code"], "end_date" in code)
        for code in snapshot_of(sim, constituent_id)["solicit_codes"]
    ]


def only_constituent(sim: ReNxtSimulator) -> dict[str, Any]:
    with sim.lock:
        [constituent_id] = list(sim.store.constituents)
    return snapshot_of(sim, constituent_id)


NEW_MEMBER: dict[str, Any] = {
    "constituent_id": "9001",
    "email": "grace@example.org",
    "first_name": "Grace",
    "last_name": "Hopper",
    "nickname": "Amazing Grace",
    "address1": "1 Navy Way",
    "city": "Arlington",
    "state": "VA",
    "postal_code": "22201",
    "country": "United States",
    "phone": "555-0199",
    "email_status": "subscribed",
}


async def test_a_new_member_is_created_with_everything(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    harness.queue([change("m-1", Operation.INSERT, T0, **NEW_MEMBER)])

    report = await harness.run(write_flow(), "write")

    assert report.summary.counts == {"created": 1}
    grace = only_constituent(sim)
    assert harness.outcomes(report)["m-1"] == ("created", None, grace["id"])
    assert (grace["lookup_id"], grace["first"], grace["last"], grace["preferred_name"]) == (
        "9001",
        "Grace",
        "Hopper",
        "Amazing Grace",
    )
    [email] = grace["email_addresses"]
    assert (email["address"], email["type"], email["primary"], email["do_not_email"]) == (
        "grace@example.org",
        "Email",
        True,
        False,
    )
    [phone] = grace["phones"]
    assert (phone["number"], phone["type"], phone["primary"]) == ("555-0199", "Home", True)
    [address] = grace["addresses"]
    assert {k: address[k] for k in ("address_lines", "city", "state", "postal_code")} == {
        "address_lines": "1 Navy Way",
        "city": "Arlington",
        "state": "VA",
        "postal_code": "22201",
    }
    assert (address["type"], address["preferred"]) == ("Home", True)
    # An opt-in: the category opt-in and the channel opt-in, dated when it happened.
    assert sorted(consents_of(sim, grace["id"]), key=str) == [
        ("Email", "All communications", "OptIn"),
        ("Email", None, "OptIn"),
    ]
    assert {c["consent_date"] for c in grace["consents"]} == {"2026-01-01T09:00:00+00:00"}
    assert codes_of(sim, grace["id"]) == []


async def test_writing_the_same_changes_again_writes_nothing(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    harness.queue([change("m-1", Operation.INSERT, T0, **NEW_MEMBER)])
    await harness.run(write_flow(), "write")
    before = only_constituent(sim)
    mark = harness.transport.mark()

    harness.state.reset_flow("write")
    clock_of(sim).advance(timedelta(minutes=5))
    again = await harness.run(write_flow(), "write")

    assert again.summary.counts == {"unchanged": 1}
    assert harness.transport.writes[mark:] == []
    assert only_constituent(sim) == before


async def test_an_update_sends_only_what_differs(sim: ReNxtSimulator, harness: FlowHarness) -> None:
    ada = add_constituent(
        sim,
        lookup_id="8001",
        preferred_name="Countess",
        email={"address": "ada@example.org", "type": "Email"},
    )
    harness.queue(
        [
            change(
                "m-1",
                occurred_at=T0,
                constituent_id="8001",
                first_name="Ada",
                last_name="King",
                nickname="Countess",
            )
        ]
    )

    report = await harness.run(write_flow(), "write")

    outcome, _, target = harness.outcomes(report)["m-1"]
    assert (outcome, target) == ("updated", ada.id)
    assert harness.transport.writes == [
        ("PATCH", f"/constituent/v1/constituents/{ada.id}", {"last": "King"})
    ]
    held = snapshot_of(sim, ada.id)
    assert (held["first"], held["last"], held["preferred_name"]) == ("Ada", "King", "Countess")


async def test_blank_values_never_clear_what_re_holds(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(sim, lookup_id="8001", phone={"number": "555-0100", "type": "Home"})
    harness.queue(
        [change("m-1", occurred_at=T0, constituent_id="8001", first_name="", phone=None, city="  ")]
    )

    report = await harness.run(write_flow(), "write")

    assert report.summary.counts == {"unchanged": 1}
    held = snapshot_of(sim, ada.id)
    assert (held["first"], held["phone"]["number"]) == ("Ada", "555-0100")


async def test_a_new_email_becomes_primary_and_the_old_one_is_kept(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    harness.queue(
        [change("m-1", occurred_at=T0, constituent_id="8001", email="ada@engine.example")]
    )

    await harness.run(write_flow(), "write")

    emails = {(e["address"], e["primary"]) for e in snapshot_of(sim, ada.id)["email_addresses"]}
    assert emails == {("ada@example.org", False), ("ada@engine.example", True)}


async def test_an_email_already_held_is_made_primary_instead_of_added(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    with sim.lock:
        sim.store.add_email(
            ada.id,
            EmailAddressAdd.model_validate(
                {"constituent_id": ada.id, "address": "ada@work.example", "type": "Business"}
            ),
        )
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email="ADA@work.example")])

    await harness.run(write_flow(), "write")

    emails = {(e["address"], e["primary"]) for e in snapshot_of(sim, ada.id)["email_addresses"]}
    assert emails == {("ada@example.org", False), ("ada@work.example", True)}


async def test_a_changed_address_is_added_as_preferred_keeping_what_it_leaves_out(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim,
        lookup_id="8001",
        address={"type": "Home", "address_lines": "12 St James's Square", "city": "London"},
    )
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", postal_code="SW1Y 4JH")])

    await harness.run(write_flow(), "write")

    addresses = snapshot_of(sim, ada.id)["addresses"]
    [preferred] = [a for a in addresses if a["preferred"]]
    assert (preferred["address_lines"], preferred["city"], preferred["postal_code"]) == (
        "12 St James's Square",
        "London",
        "SW1Y 4JH",
    )
    assert len(addresses) == 2


async def test_a_phone_written_differently_is_the_same_phone(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(sim, lookup_id="8001", phone={"number": "(555) 0100", "type": "Home"})
    harness.queue(
        [
            change("m-1", occurred_at=T0, constituent_id="8001", phone="555-0100"),
            change("m-2", occurred_at=T0, constituent_id="8001", phone="555-0177"),
        ]
    )

    report = await harness.run(write_flow(), "write")

    outcomes = harness.outcomes(report)
    assert (outcomes["m-1"][0], outcomes["m-2"][0]) == ("unchanged", "updated")
    phones = {(p["number"], p["primary"]) for p in snapshot_of(sim, ada.id)["phones"]}
    assert phones == {("(555) 0100", False), ("555-0177", True)}


async def test_an_unsubscribe_is_one_opt_out_and_the_solicit_code(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    add_consent(sim, ada.id, "OptIn", category="All communications", when=T0 - timedelta(days=9))
    add_consent(sim, ada.id, "OptIn", when=T0 - timedelta(days=9))
    unsubscribed = change("m-1", occurred_at=T0, constituent_id="8001", email_status="unsubscribed")
    harness.queue([unsubscribed])

    first = await harness.run(write_flow(), "write")
    harness.state.reset_flow("write")
    again = await harness.run(write_flow(), "write")

    assert first.summary.counts == {"updated": 1}
    assert again.summary.counts == {"unchanged": 1}
    assert consents_of(sim, ada.id)[-1] == ("Email", None, "OptOut")
    assert len(consents_of(sim, ada.id)) == 3
    assert codes_of(sim, ada.id) == [("Do not email", False)]


async def test_a_resubscribe_opts_in_again_and_ends_the_solicit_code(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    add_consent(sim, ada.id, "OptIn", category="All communications", when=T0 - timedelta(days=9))
    add_consent(sim, ada.id, "OptOut", when=T0 - timedelta(days=2))
    add_solicit_code(sim, ada.id, "Do not email")
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email_status="subscribed")])

    await harness.run(write_flow(), "write")

    # The category is opted in already: only the channel's opt-in is added.
    assert consents_of(sim, ada.id) == [
        ("Email", "All communications", "OptIn"),
        ("Email", None, "OptOut"),
        ("Email", None, "OptIn"),
    ]
    assert codes_of(sim, ada.id) == [("Do not email", True)]


async def test_cleaned_marks_the_address_do_not_email_without_a_consent(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    add_consent(sim, ada.id, "OptIn", category="All communications", when=T0 - timedelta(days=9))
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email_status="cleaned")])

    await harness.run(write_flow(), "write")

    [email] = snapshot_of(sim, ada.id)["email_addresses"]
    assert email["do_not_email"] is True
    assert consents_of(sim, ada.id) == [("Email", "All communications", "OptIn")]


async def test_pending_writes_nothing_and_says_so(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email_status="pending")])

    report = await harness.run(write_flow(), "write")

    outcome, reason, _ = harness.outcomes(report)["m-1"]
    assert outcome == "unchanged"
    assert reason == "email_status pending: nothing is written until it is confirmed"
    assert consents_of(sim, ada.id) == []


async def test_an_older_change_does_not_override_a_newer_response_in_re(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    add_consent(sim, ada.id, "OptIn", when=T0)  # given in RE at 09:00
    harness.queue(
        [
            change(
                "m-1",
                occurred_at=T0 - timedelta(minutes=30),
                constituent_id="8001",
                email_status="unsubscribed",
            )
        ]
    )

    report = await harness.run(write_flow(), "write")

    outcome, reason, _ = harness.outcomes(report)["m-1"]
    assert outcome == "unchanged"
    assert reason is not None
    assert "RE NXT holds a newer OptIn response" in reason
    assert consents_of(sim, ada.id) == [("Email", None, "OptIn")]
    assert codes_of(sim, ada.id) == []


@pytest.mark.parametrize("status", ["subscribed", "unsubscribed", "cleaned"])
async def test_a_status_written_is_the_status_read_back(
    sim: ReNxtSimulator, harness: FlowHarness, status: str
) -> None:
    add_constituent(sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"})
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email_status=status)])
    clock_of(sim).advance(timedelta(minutes=1))

    await harness.run(write_flow(), "write")
    async with source_for(sim) as source:
        [batch] = await read_all(source)

    assert [c.fields["email_status"] for c in batch.changes] == [status]


async def test_what_re_refuses_or_cannot_take_is_rejected_with_the_reason(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    harness.queue(
        [
            change("bad-email", occurred_at=T0, email="not-an-email", last_name="X"),
            change("unknown", occurred_at=T0, email="a@example.org", last_name="X", tags=["vip"]),
            change("no-last", occurred_at=T0, email="b@example.org", first_name="Bea"),
            change("no-key", occurred_at=T0, first_name="Cy", last_name="Young"),
            change("long", occurred_at=T0, email="d@example.org", last_name="L" * 101),
            change("good", occurred_at=T0, email="e@example.org", last_name="Good"),
        ]
    )

    report = await harness.run(write_flow(), "write")

    outcomes = harness.outcomes(report)
    reasons = {
        key: reason for key, (outcome, reason, _) in outcomes.items() if outcome == "rejected"
    }
    assert reasons == {
        "bad-email": "crm.contact[key=bad-email]: email: 'not-an-email' is not an email address",
        "unknown": "crm.contact[key=unknown]: RE NXT constituents have no field 'tags' (the sink "
        "takes constituent_id, email, first_name, last_name, nickname, address1, city, state, "
        "postal_code, country, phone, email_status); map it to one of them, or set "
        'unknown_fields = "ignore"',
        "no-last": "crm.contact[key=no-last]: last_name is needed to create a constituent (RE NXT "
        "requires a last name for an individual)",
        "no-key": "crm.contact[key=no-key]: a constituent is created only with a constituent_id "
        "or an email (with neither, a batch written again could create it twice)",
        "long": "crm.contact[key=long]: last_name: String should have at most 100 characters",
    }
    assert outcomes["good"][0] == "created"
    assert [f.reason for f in harness.state.list_failed(flow="write")] == [
        reasons[key] for key in ("bad-email", "unknown", "no-last", "no-key", "long")
    ]
    assert [c["last"] for c in [only_constituent(sim)]] == ["Good"]


async def test_unknown_fields_may_be_ignored(sim: ReNxtSimulator, harness: FlowHarness) -> None:
    harness.queue(
        [change("m-1", occurred_at=T0, email="a@example.org", last_name="X", tags=["vip"])]
    )

    report = await harness.run(write_flow({"unknown_fields": "ignore"}), "write")

    assert report.summary.counts == {"created": 1}


async def test_a_code_table_entry_re_lacks_is_its_refusal(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    harness.queue(
        [
            change(
                "m-1",
                occurred_at=T0,
                email="a@example.org",
                last_name="X",
                email_status="subscribed",
            )
        ]
    )

    report = await harness.run(write_flow({"consent_source": "Carrier pigeon"}), "write")

    created = only_constituent(sim)
    outcome, reason, _ = harness.outcomes(report)["m-1"]
    assert outcome == "rejected"
    assert reason == (
        f"crm.contact[key=m-1]: created constituent {created['id']}: adding the Email > All "
        "communications OptIn consent was refused: source: Carrier pigeon is not an entry of "
        "the consent_sources table (known: Mailchimp, Website, Phone call, Event, Data import)."
    )


async def test_a_delete_is_skipped(sim: ReNxtSimulator, harness: FlowHarness) -> None:
    add_constituent(sim, lookup_id="8001")
    harness.queue([change("m-1", Operation.DELETE, T0, constituent_id="8001")])

    report = await harness.run(write_flow(), "write")

    outcome, reason, _ = harness.outcomes(report)["m-1"]
    assert outcome == "skipped"
    assert reason is not None
    assert "cannot delete constituents" in reason
    with sim.lock:
        assert len(sim.store.constituents) == 1


async def test_create_missing_off_skips_members_re_does_not_have(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    harness.queue([change("m-1", Operation.INSERT, T0, **NEW_MEMBER)])

    report = await harness.run(write_flow({"create_missing": False}), "write")

    assert harness.outcomes(report)["m-1"][:2] == (
        "skipped",
        "crm.contact[key=m-1]: no constituent matches it and create_missing is off",
    )
    with sim.lock:
        assert sim.store.constituents == {}


async def test_a_retried_batch_creates_nobody_twice(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    # The third create of the batch fails once: the engine writes the whole batch again.
    sim.faults.add(
        FaultRule(kind="error", status=503, operation="CreateConstituent", after=2, times=1)
    )
    harness.queue(
        [
            change(
                f"m-{n}", Operation.INSERT, T0, email=f"member{n}@example.org", last_name=f"M{n}"
            )
            for n in range(4)
        ]
    )

    report = await harness.run(write_flow(matchers=False), "write")

    assert report.summary.status == "succeeded"
    assert harness.waits, "the engine did not retry"
    with sim.lock:
        lasts = sorted(c.profile["last"] for c in sim.store.constituents.values())
    assert lasts == ["M0", "M1", "M2", "M3"]
    assert report.summary.counts == {"created": 4}


async def test_two_changes_of_one_new_member_in_a_batch_make_one_constituent(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    harness.queue(
        [
            change("m-1", Operation.INSERT, T0, email="grace@example.org", last_name="Hopper"),
            change("m-1", Operation.UPDATE, T0, email="grace@example.org", first_name="Grace"),
        ]
    )

    report = await harness.run(write_flow(), "write")

    assert report.summary.counts == {"created": 1, "updated": 1}
    held = only_constituent(sim)
    assert (held["first"], held["last"]) == ("Grace", "Hopper")


async def test_a_dry_run_writes_nothing_and_says_what_it_would(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    add_constituent(sim, lookup_id="8001")
    harness.queue(
        [
            change("m-1", occurred_at=T0, constituent_id="8001", last_name="King"),
            change("m-2", Operation.INSERT, T0, **NEW_MEMBER),
        ]
    )

    report = await harness.run(write_flow(), "write", dry_run=True)

    assert sorted(p.outcome for p in report.planned) == ["created", "updated"]
    assert harness.transport.writes == []
    with sim.lock:
        assert [c.profile["last"] for c in sim.store.constituents.values()] == ["Lovelace"]


async def test_names_are_not_written_to_an_organization(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    org = add_constituent(
        sim,
        type="Organization",
        name="Analytical Engines Ltd",
        lookup_id="7001",
        email={"address": "info@engines.example", "type": "Business"},
    )
    harness.queue(
        [change("m-1", occurred_at=T0, constituent_id="7001", first_name="Info", last_name="Desk")]
    )

    report = await harness.run(write_flow(), "write")

    assert harness.outcomes(report)["m-1"] == (
        "unchanged",
        "names are not written to an organization",
        org.id,
    )


async def test_a_subscribe_clears_do_not_email(sim: ReNxtSimulator, harness: FlowHarness) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    with sim.lock:
        email_id = sim.store.emails_of(ada.id)[0].id
        sim.store.edit_email(email_id, EmailAddressEdit(do_not_email=True))
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email_status="subscribed")])

    await harness.run(write_flow(), "write")

    [email] = snapshot_of(sim, ada.id)["email_addresses"]
    assert email["do_not_email"] is False


async def test_an_inactive_primary_email_brought_again_is_made_active(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    with sim.lock:
        email_id = sim.store.emails_of(ada.id)[0].id
        sim.store.edit_email(email_id, EmailAddressEdit(inactive=True))
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email="ada@example.org")])

    report = await harness.run(write_flow(), "write")

    assert report.summary.counts == {"updated": 1}
    [email] = snapshot_of(sim, ada.id)["email_addresses"]
    assert (email["address"], email["primary"], email["inactive"]) == (
        "ada@example.org",
        True,
        False,
    )
