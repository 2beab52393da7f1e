"""End-to-end tests of the SmartSYNC-style flows (``examples/smartsync/flows.toml``: RE NXT ->
Mailchimp, Mailchimp -> RE NXT and Salesforce -> RE NXT), the three simulators and the engine on
one manual clock. The seed's loop-protection test plan (``shared/seeds/001_323a6ac36d06d592.txt``)
is followed step by step; then the step log and its CLI, consent and unsubscribes, sign-ups,
Salesforce updates, polling periods, and faults in every simulator. Each test asserts on the
records that landed in the simulators and on run history.

The world (``tests/e2e/smartsync_world.py``) says how the systems are driven and how the example
file is pointed at them.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from syncframe_simulators import FaultRule, Simulator

import syncframe.engine as engine_module
from syncframe.clock import ManualClock
from syncframe.engine import RunReport
from syncframe.state.base import OutcomeRow
from tests.e2e.smartsync_world import (
    MC,
    MC_TO_RE,
    RE,
    RE_TO_MC,
    SF,
    SF_TO_RE,
    START,
    Happening,
    SyncWorld,
    only_rows,
    subscriber_hash,
    sync_world,
)

pytestmark = pytest.mark.anyio

HOUR = timedelta(hours=1)
ADA = ("Ada", "Lovelace", "ada@example.org", "10042")
GRACE = ("Grace", "Hopper", "grace@example.org", "10043")

# The step names of the example flows (what the step log and `runs show --steps` show).
RE_EVENT = "Constituent changed in RE"
MC_EVENT = "Member changed in Mailchimp"
SF_EVENT = "Contact changed in Salesforce"
GUARD = "loop protection"
_ALLOWED = re.compile(r"changes flow back after (\S+)$")


def row_for(world: SyncWorld, report: RunReport, key: str) -> OutcomeRow:
    """The run-history row of record ``key`` in the run ``report``."""
    return only_rows(world.rows(report), key)


def allowed_after(row: OutcomeRow) -> datetime:
    """When a change held back by loop protection would have been allowed to flow."""
    assert row.outcome == "blocked", row
    assert row.reason is not None, row
    assert row.reason.startswith("blocked by loop protection"), row
    found = _ALLOWED.search(row.reason)
    assert found is not None, row.reason
    return datetime.fromisoformat(found.group(1))


def steps_of(row: OutcomeRow) -> list[tuple[str, str]]:
    """(step, outcome) of each step a record reached."""
    return [(str(entry["step"]), str(entry["outcome"])) for entry in row.steps or []]


def step_table(output: str) -> dict[str, list[tuple[str, str, str]]]:
    """The step log ``syncframe runs show --steps`` printed: record -> (step, outcome, detail)
    per line, a detail wrapped over several lines joined again."""
    table: dict[str, list[tuple[str, str, str]]] = {}
    record = ""
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        assert len(cells) == 4, line
        name, step, outcome, detail = cells
        if name:
            record = name
            table[record] = []
        if step:
            table[record].append((step, outcome, detail))
        elif detail:
            done_step, done_outcome, done_detail = table[record][-1]
            table[record][-1] = (done_step, done_outcome, f"{done_detail} {detail}")
    return table


def when(moment: datetime) -> str:
    """A time as loop protection writes it."""
    return moment.isoformat(timespec="seconds")


def loop_protection(**options: str) -> Callable[[dict[str, Any]], None]:
    """Give both RE NXT <-> Mailchimp flows ``loop_protection = { ... }``."""

    def customize(document: dict[str, Any]) -> None:
        for flow in (RE_TO_MC, MC_TO_RE):
            document["flows"][flow]["loop_protection"] = dict(options)

    return customize


# ---- the seed's test plan -----------------------------------------------------------------------


async def test_loop_protection_follows_the_seeds_test_plan(tmp_path: Path) -> None:
    with sync_world(tmp_path) as world:
        ada = world.add_aligned(*ADA)
        member = subscriber_hash(ada.email)
        world.switch_on()
        first_polls = await world.tick()
        assert [world.rows(r) for r in first_polls.values()] == [[], []]  # aligned: nothing to do

        # Make a change in Mailchimp and see if that change reaches Raiser's Edge.
        world.advance(minutes=5)
        first_mailchimp_change = world.now()
        await world.mc_profile(ada.email, LNAME="King")
        polls = await world.tick()
        assert row_for(world, polls[MC_TO_RE], member).outcome == "updated"
        assert world.constituent(ada.record_id)["last"] == "King"
        # RE now lists the constituent as changed (by that write): it does not go back.
        world.advance(minutes=5)
        polls = await world.tick()
        echo = row_for(world, polls[RE_TO_MC], ada.record_id)
        assert allowed_after(echo) == first_mailchimp_change + HOUR

        # Make further changes in Mailchimp: they reach Raiser's Edge too.
        world.advance(minutes=5)
        second_mailchimp_change = world.now()
        await world.mc_profile(ada.email, FNAME="Augusta")
        polls = await world.tick()
        assert row_for(world, polls[MC_TO_RE], member).outcome == "updated"
        assert world.constituent(ada.record_id)["first"] == "Augusta"

        # A change made in RE now does not flow to Mailchimp: one way for an hour since the last
        # change in Mailchimp. Its run history says so, with the time it would be allowed.
        world.advance(minutes=5)
        world.re_edit(ada.record_id, last="Lovelace King")
        polls = await world.tick()
        blocked = row_for(world, polls[RE_TO_MC], ada.record_id)
        assert allowed_after(blocked) == second_mailchimp_change + HOUR
        assert f"was written from {MC} at {when(second_mailchimp_change)}" in str(blocked.reason)
        assert steps_of(blocked) == [(RE_EVENT, "read"), (GUARD, "blocked")]
        assert world.member(ada.email)["merge_fields"]["LNAME"] == "King"
        shown = world.cli("runs", "show", str(world.path), polls[RE_TO_MC].run_id, "--steps")
        shown.check()
        [(_, _, read), (guard, outcome, detail)] = step_table(shown.stdout)[ada.record_id]
        assert read.startswith(f"update {RE}.constituent[id={ada.record_id}")
        assert (guard, outcome) == (GUARD, "blocked")
        assert detail == blocked.reason
        assert f"changes flow back after {when(second_mailchimp_change + HOUR)}" in detail

        # The hour restarts with every change in Mailchimp: one made 40 minutes in moves the time
        # RE changes are allowed again, so an RE change after the first hour is still held back.
        world.manual_clock.set(first_mailchimp_change + timedelta(minutes=40))
        third_mailchimp_change = world.now()
        await world.mc_profile(ada.email, LNAME="Byron")
        polls = await world.tick()
        assert row_for(world, polls[MC_TO_RE], member).outcome == "updated"
        assert world.constituent(ada.record_id)["last"] == "Byron"
        world.manual_clock.set(second_mailchimp_change + HOUR + timedelta(minutes=5))
        world.re_edit(ada.record_id, first="Ada")
        polls = await world.tick()
        blocked = row_for(world, polls[RE_TO_MC], ada.record_id)
        assert allowed_after(blocked) == third_mailchimp_change + HOUR
        assert world.member(ada.email)["merge_fields"]["FNAME"] == "Augusta"

        # Wait at least an hour, then make changes in RE: they reach Mailchimp.
        world.manual_clock.set(third_mailchimp_change + HOUR + timedelta(minutes=5))
        world.re_edit(ada.record_id, last="Lovelace")
        first_re_change = world.now()
        polls = await world.tick()
        assert row_for(world, polls[RE_TO_MC], ada.record_id).outcome == "updated"
        merge_fields = world.member(ada.email)["merge_fields"]
        assert (merge_fields["FNAME"], merge_fields["LNAME"]) == ("Ada", "Lovelace")
        # Mailchimp now lists the member as changed (by that write): it does not come back.
        assert allowed_after(row_for(world, polls[MC_TO_RE], member)) == first_re_change + HOUR

        # Make further changes in RE: they reach Mailchimp too.
        world.advance(minutes=5)
        world.re_edit(ada.record_id, last="Lovelace-Byron")
        second_re_change = world.now()
        polls = await world.tick()
        assert row_for(world, polls[RE_TO_MC], ada.record_id).outcome == "updated"
        assert world.member(ada.email)["merge_fields"]["LNAME"] == "Lovelace-Byron"

        # Changes made in Mailchimp now do not flow to RE: one way for an hour since the last
        # change in RE.
        world.advance(minutes=10)
        await world.mc_profile(ada.email, FNAME="Augusta Ada")
        polls = await world.tick()
        blocked = row_for(world, polls[MC_TO_RE], member)
        assert allowed_after(blocked) == second_re_change + HOUR
        assert steps_of(blocked) == [(MC_EVENT, "read"), (GUARD, "blocked")]
        assert world.constituent(ada.record_id)["first"] == "Ada"

        # An hour after the last RE change, Mailchimp changes reach RE again (the member as it
        # is now: the name held back before comes along).
        world.manual_clock.set(second_re_change + HOUR + timedelta(minutes=5))
        await world.mc_profile(ada.email, LNAME="Noel")
        polls = await world.tick()
        assert row_for(world, polls[MC_TO_RE], member).outcome == "updated"
        constituent = world.constituent(ada.record_id)
        assert (constituent["first"], constituent["last"]) == ("Augusta Ada", "Noel")
        assert len(world.constituents()) == 1
        assert list(world.members()) == [ada.email]


async def test_loop_protection_holds_back_only_the_record_that_came_from_mailchimp(
    tmp_path: Path,
) -> None:
    with sync_world(tmp_path) as world:
        ada, grace = world.add_aligned(*ADA), world.add_aligned(*GRACE)
        world.switch_on()
        await world.tick()
        world.advance(minutes=5)
        await world.mc_profile(ada.email, LNAME="King")
        await world.tick()

        world.advance(minutes=10)
        world.re_edit(ada.record_id, first="Augusta")
        world.re_edit(grace.record_id, first="Amazing Grace")
        polls = await world.tick()

        assert row_for(world, polls[RE_TO_MC], ada.record_id).outcome == "blocked"
        assert row_for(world, polls[RE_TO_MC], grace.record_id).outcome == "updated"
        assert world.member(ada.email)["merge_fields"]["FNAME"] == "Ada"
        assert world.member(grace.email)["merge_fields"]["FNAME"] == "Amazing Grace"


async def test_loop_protection_with_scope_system_holds_back_every_record(tmp_path: Path) -> None:
    with sync_world(tmp_path, customize=loop_protection(scope="system")) as world:
        ada, grace = world.add_aligned(*ADA), world.add_aligned(*GRACE)
        world.switch_on()
        await world.tick()
        world.advance(minutes=5)
        mailchimp_change = world.now()
        await world.mc_profile(ada.email, LNAME="King")
        await world.tick()

        # Grace never changed in Mailchimp, yet RE's changes of her wait for the hour too.
        world.advance(minutes=10)
        world.re_edit(grace.record_id, first="Amazing Grace")
        polls = await world.tick()
        blocked = row_for(world, polls[RE_TO_MC], grace.record_id)
        assert allowed_after(blocked) == mailchimp_change + HOUR
        assert f"{RE} was written from {MC}" in str(blocked.reason)
        assert world.member(grace.email)["merge_fields"]["FNAME"] == "Grace"

        world.manual_clock.set(mailchimp_change + HOUR)
        world.re_edit(grace.record_id, first="Amazing Grace Brewster")
        polls = await world.tick()
        assert row_for(world, polls[RE_TO_MC], grace.record_id).outcome == "updated"
        assert world.member(grace.email)["merge_fields"]["FNAME"] == "Amazing Grace Brewster"
        assert world.constituent(ada.record_id)["last"] == "King"


async def test_loop_protection_window_is_configurable(tmp_path: Path) -> None:
    with sync_world(tmp_path, customize=loop_protection(window="30m")) as world:
        ada = world.add_aligned(*ADA)
        world.switch_on()
        await world.tick()
        world.advance(minutes=5)
        mailchimp_change = world.now()
        await world.mc_profile(ada.email, LNAME="King")
        await world.tick()

        world.manual_clock.set(mailchimp_change + timedelta(minutes=20))
        world.re_edit(ada.record_id, first="Augusta")
        polls = await world.tick()
        held = row_for(world, polls[RE_TO_MC], ada.record_id)
        assert allowed_after(held) == mailchimp_change + timedelta(minutes=30)

        # 35 minutes after the Mailchimp change: with the default hour this would be held back.
        world.manual_clock.set(mailchimp_change + timedelta(minutes=35))
        world.re_edit(ada.record_id, first="Augusta Ada")
        polls = await world.tick()
        assert row_for(world, polls[RE_TO_MC], ada.record_id).outcome == "updated"
        assert world.member(ada.email)["merge_fields"]["FNAME"] == "Augusta Ada"


async def test_a_change_from_salesforce_into_re_flows_on_to_mailchimp(tmp_path: Path) -> None:
    with sync_world(tmp_path) as world:
        ada = world.add_aligned(*ADA)
        world.switch_on()
        await world.tick()
        world.advance(minutes=5)
        contact = world.sf_add(
            FirstName="Ada",
            LastName="Lovelace",
            Email=ada.email,
            RE_Constituent_ID__c=ada.constituent_id,
            Phone="020 7946 0001",
        )
        synced = await world.run(SF_TO_RE)
        assert row_for(world, synced, contact).outcome == "updated"
        world.advance(minutes=5)
        polls = await world.tick()
        assert row_for(world, polls[RE_TO_MC], ada.record_id).outcome == "updated"
        assert world.member(ada.email)["merge_fields"]["PHONE"] == "020 7946 0001"


# ---- the step log -------------------------------------------------------------------------------


async def test_each_record_s_way_through_the_steps_is_logged_and_shown_by_the_cli(
    tmp_path: Path,
) -> None:
    with sync_world(tmp_path) as world:
        ada = world.add_aligned(*ADA)
        bo = world.add_aligned("Bo", "Ng", "bo@example.org", "10050", with_consid=False)
        world.switch_on()
        await world.tick()
        world.advance(minutes=5)
        await world.mc_profile(ada.email, LNAME="King")  # CONSID holds her Constituent ID
        await world.mc_profile(bo.email, FNAME="Bob")  # no CONSID: found by email
        await world.mc_signup("cy@example.org", FNAME="Cy", LNAME="Twombly")  # nobody in RE
        polls = await world.tick()
        run = polls[MC_TO_RE]

        by_consid = row_for(world, run, subscriber_hash(ada.email))
        by_email = row_for(world, run, subscriber_hash(bo.email))
        created = row_for(world, run, subscriber_hash("cy@example.org"))
        find_consid, find_email = "Find constituent by CONSID", "Find constituent by email"
        action = "Update or create constituent"
        assert steps_of(by_consid) == [
            (MC_EVENT, "read"),
            (GUARD, "passed"),
            (find_consid, "match"),
            (action, "updated"),
        ]
        assert steps_of(by_email) == [
            (MC_EVENT, "read"),
            (GUARD, "passed"),
            (find_consid, "not found"),
            (find_email, "match"),
            (action, "updated"),
        ]
        assert steps_of(created) == [
            (MC_EVENT, "read"),
            (GUARD, "passed"),
            (find_consid, "not found"),
            (find_email, "create"),
            (action, "created"),
        ]
        assert [by_consid.target_key, by_email.target_key] == [ada.record_id, bo.record_id]
        [cy] = world.constituents_with_email("cy@example.org")
        assert (created.target_key, cy["first"], cy["last"]) == (cy["id"], "Cy", "Twombly")
        assert world.constituent(bo.record_id)["first"] == "Bob"

        shown = world.cli("runs", "show", str(world.path), run.run_id, "--steps").check()
        table = step_table(shown.stdout)
        assert list(table) == [row.record for row in world.rows(run)]
        for row in (by_consid, by_email, created):
            assert [(step, outcome) for step, outcome, _ in table[row.record]] == steps_of(row)
        details = {step: detail for step, _, detail in table[by_email.record]}
        assert details[find_email] == f"matched on email {bo.email} (record {bo.record_id})"
        assert details[MC_EVENT].startswith(f"update {MC}.member[id={by_email.record}")
        plain = world.cli("runs", "show", str(world.path), run.run_id).check()
        assert "created 1 · updated 2" in plain.stdout
        for secret in world.environ.values():
            assert secret not in shown.output + plain.output


# ---- consent and unsubscribe --------------------------------------------------------------------


def mailchimp_consents(world: SyncWorld, record_id: str) -> list[tuple[str | None, str]]:
    """(category, response) of the Email consents the sync recorded with source Mailchimp,
    oldest first."""
    consents = world.constituent(record_id)["consents"]
    ordered = sorted(consents, key=lambda c: (c["consent_date"], c["id"]))
    return [
        (c.get("category"), c["constituent_consent_response"])
        for c in ordered
        if c.get("source") == "Mailchimp" and c["channel"] == "Email"
    ]


async def test_unsubscribes_and_opt_ins_in_mailchimp_become_consents_in_re(
    tmp_path: Path,
) -> None:
    with sync_world(tmp_path) as world:
        ada = world.add_aligned(*ADA)  # channel and category opt-ins in RE
        bo = world.add_aligned("Bo", "Ng", "bo@example.org", "10050", consents=())
        cy = world.add_aligned("Cy", "Twombly", "cy@example.org", "10051", consents=[None])
        world.switch_on()
        await world.tick()

        # An unsubscribe in Mailchimp is one Email opt-out, plus the "Do not email" code.
        world.advance(minutes=5)
        unsubscribed_at = world.now()
        await world.mc_unsubscribe(ada.email)
        await world.tick()
        assert mailchimp_consents(world, ada.record_id) == [(None, "OptOut")]
        [opt_out] = [c for c in world.constituent(ada.record_id)["consents"] if c.get("source")]
        assert datetime.fromisoformat(opt_out["consent_date"]) == unsubscribed_at
        codes = world.current_solicit_codes(world.constituent(ada.record_id), world.now())
        assert codes == ["Do not email"]

        # Subscribed again (the sign-up form): the channel opt-in comes back (its newest response
        # was the opt-out), the category's newest response is still an opt-in, so no new one;
        # the solicit code ends.
        world.advance(minutes=30)
        await world.mc_signup(ada.email)
        await world.tick()
        assert mailchimp_consents(world, ada.record_id) == [(None, "OptOut"), (None, "OptIn")]
        assert world.current_solicit_codes(world.constituent(ada.record_id), world.now()) == []

        # A subscribed member whose constituent has no consent: the category opt-in and the
        # channel opt-in. One with only the channel opt-in: the category opt-in alone.
        await world.mc_profile(bo.email, FNAME="Bob")
        await world.mc_profile(cy.email, FNAME="Cyrus")
        await world.tick()
        assert sorted(mailchimp_consents(world, bo.record_id), key=str) == [
            ("All communications", "OptIn"),
            (None, "OptIn"),
        ]
        assert mailchimp_consents(world, cy.record_id) == [("All communications", "OptIn")]
        assert world.member(ada.email)["status"] == "subscribed"


async def test_an_opt_out_in_re_unsubscribes_the_member_in_mailchimp(tmp_path: Path) -> None:
    with sync_world(tmp_path) as world:
        grace = world.add_aligned(*GRACE)
        world.switch_on()
        await world.tick()
        world.advance(minutes=5)
        world.re_consent(grace.record_id, "OptOut")
        polls = await world.tick()

        assert row_for(world, polls[RE_TO_MC], grace.record_id).outcome == "updated"
        assert world.member(grace.email)["status"] == "unsubscribed"
        # Mailchimp's change (the unsubscribe the sync made) is not written back into RE.
        echo = row_for(world, polls[MC_TO_RE], subscriber_hash(grace.email))
        assert echo.outcome == "blocked"
        assert mailchimp_consents(world, grace.record_id) == []
        assert world.current_solicit_codes(world.constituent(grace.record_id), world.now()) == []


# ---- a new sign-up ------------------------------------------------------------------------------


async def test_a_mailchimp_sign_up_becomes_a_constituent_whose_id_reaches_consid_later(
    tmp_path: Path,
) -> None:
    """A sign-up nobody in RE matches is created as a constituent; its new Constituent ID goes
    back to the member's CONSID only once the constituent changes in RE after the hour: the
    creation's own echo is held back by loop protection and, the sync being transactional, is
    not read again."""
    email = "cy@example.org"
    member = subscriber_hash(email)
    with sync_world(tmp_path) as world:
        world.add_aligned(*ADA)
        world.switch_on()
        await world.tick()

        world.advance(minutes=5)
        signed_up_at = world.now()
        await world.mc_signup(email, FNAME="Cy", LNAME="Twombly")
        polls = await world.tick()
        assert row_for(world, polls[MC_TO_RE], member).outcome == "created"
        [cy] = world.constituents_with_email(email)
        assert (cy["first"], cy["last"], world.primary_email(cy)) == ("Cy", "Twombly", email)
        new_id = cy["lookup_id"]
        assert new_id not in ("", None, ADA[3])
        assert sorted(mailchimp_consents(world, cy["id"]), key=str) == [
            ("All communications", "OptIn"),
            (None, "OptIn"),
        ]

        # RE lists the new constituent: held back, so CONSID stays empty for now.
        world.advance(minutes=5)
        polls = await world.tick()
        held = row_for(world, polls[RE_TO_MC], cy["id"])
        assert allowed_after(held) == signed_up_at + HOUR
        assert world.member(email)["merge_fields"]["CONSID"] == ""
        # After the hour nothing is read again: the creation was a change already handled.
        world.manual_clock.set(signed_up_at + HOUR + timedelta(minutes=5))
        polls = await world.tick()
        assert [world.rows(r) for r in polls.values()] == [[], []]
        assert world.member(email)["merge_fields"]["CONSID"] == ""

        # The constituent's next change in RE carries its id to the member (found by email).
        world.re_edit(cy["id"], preferred_name="Cy")
        polls = await world.tick()
        written = row_for(world, polls[RE_TO_MC], cy["id"])
        assert steps_of(written)[-3:] == [
            ("Find member by CONSID", "not found"),
            ("Find member by email", "match"),
            ("Create or update member", "updated"),
        ]
        assert world.member(email)["merge_fields"]["CONSID"] == new_id
        assert allowed_after(row_for(world, polls[MC_TO_RE], member)) > world.now()

        # No loop and no duplicates: one constituent, one member; later Mailchimp changes are
        # found by CONSID.
        world.advance(hours=2)
        await world.mc_profile(email, LNAME="Twombly-Ng")
        polls = await world.tick()
        found = row_for(world, polls[MC_TO_RE], member)
        assert ("Find constituent by CONSID", "match") in steps_of(found)
        assert found.target_key == cy["id"]
        assert len(world.constituents_with_email(email)) == 1
        assert world.constituent(cy["id"])["last"] == "Twombly-Ng"
        assert sorted(world.members()) == [ADA[2], email]


# ---- Salesforce -> RE NXT -----------------------------------------------------------------------


async def test_salesforce_contacts_update_their_constituents_and_never_create(
    tmp_path: Path,
) -> None:
    with sync_world(tmp_path) as world:
        ada, grace = world.add_aligned(*ADA), world.add_aligned(*GRACE)
        world.switch_on()
        world.advance(minutes=5)
        by_id = world.sf_add(
            FirstName="Ada",
            LastName="Lovelace",
            Email=ada.email,
            RE_Constituent_ID__c=ada.constituent_id,
            Phone="020 7946 0001",
        )
        by_email = world.sf_add(
            FirstName="Grace", LastName="Hopper", Email="GRACE@example.org", MailingCity="Arlington"
        )
        nobody = world.sf_add(FirstName="Zed", LastName="Nobody", Email="zed@example.org")
        run = await world.run(SF_TO_RE)

        assert row_for(world, run, by_id).outcome == "updated"
        assert row_for(world, run, by_id).target_key == ada.record_id
        [phone] = world.constituent(ada.record_id)["phones"]
        assert (phone["number"], phone["primary"]) == ("020 7946 0001", True)
        assert row_for(world, run, by_email).target_key == grace.record_id
        assert steps_of(row_for(world, run, by_email))[-2:] == [
            ("Find constituent by email", "match"),
            ("Update constituent", "updated"),
        ]
        [address] = world.constituent(grace.record_id)["addresses"]
        assert address["city"] == "Arlington"

        skipped = row_for(world, run, nobody)
        assert skipped.outcome == "skipped"
        assert skipped.reason == "no record in target with email zed@example.org"
        assert steps_of(skipped) == [
            (SF_EVENT, "read"),
            (GUARD, "passed"),
            ("Find constituent by id", "not found"),
            ("Find constituent by email", "skip"),
        ]
        assert world.constituents_with_email("zed@example.org") == []
        assert len(world.constituents()) == 2
        # A second poll has nothing new: each contact was handled once.
        world.advance(minutes=5)
        again = await world.run(SF_TO_RE)
        assert world.rows(again) == []


async def test_a_salesforce_edit_does_not_opt_in_a_constituent_who_opted_out_in_re(
    tmp_path: Path,
) -> None:
    with sync_world(tmp_path) as world:
        ada = world.add_aligned(*ADA)
        world.switch_on()
        world.advance(minutes=5)
        world.re_consent(ada.record_id, "OptOut")
        world.advance(minutes=5)
        world.sf_add(
            FirstName="Ada",
            LastName="Lovelace",
            Email=ada.email,
            RE_Constituent_ID__c=ada.constituent_id,
            MailingCity="London",
        )
        await world.run(SF_TO_RE)
        assert world.constituent(ada.record_id)["addresses"][0]["city"] == "London"
        channel = [
            c
            for c in world.constituent(ada.record_id)["consents"]
            if c["channel"] == "Email" and c.get("category") is None
        ]
        newest = max(channel, key=lambda c: (c["consent_date"], c["id"]))
        assert newest["constituent_consent_response"] == "OptOut"


# ---- polling periods ----------------------------------------------------------------------------


def poll_every(connections: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    def customize(document: dict[str, Any]) -> None:
        for name, every in connections.items():
            document["connections"][name]["poll_every"] = every

    return customize


def schedules(world: SyncWorld) -> dict[str, timedelta]:
    found: dict[str, timedelta] = {}
    for name, flow in world.engine.config.flows.items():
        assert flow.config.schedule is not None, name
        found[name] = flow.config.schedule.every
    return found


async def test_polling_periods_default_per_system_and_follow_the_connection(
    tmp_path: Path,
) -> None:
    with sync_world(tmp_path / "defaults") as world:
        assert schedules(world) == {
            RE_TO_MC: timedelta(minutes=30),
            MC_TO_RE: timedelta(minutes=5),
            SF_TO_RE: timedelta(minutes=5),
        }
    faster = poll_every({RE: "10m", MC: "2m", SF: "90s"})
    with sync_world(tmp_path / "configured", customize=faster) as world:
        assert schedules(world) == {
            RE_TO_MC: timedelta(minutes=10),
            MC_TO_RE: timedelta(minutes=2),
            SF_TO_RE: timedelta(seconds=90),
        }


class _ClockTime:
    """``time`` as the engine's scheduler reads it: monotonic seconds from the manual clock, so
    ``Engine.run_on_schedule`` keeps its schedule in simulated time."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.epoch = clock.now()

    def monotonic(self) -> float:
        return (self.clock.now() - self.epoch).total_seconds()

    @staticmethod
    def perf_counter() -> float:
        return time.perf_counter()


async def test_a_change_is_picked_up_by_the_first_scheduled_poll_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sync_world(tmp_path) as world:
        ada, grace = world.add_aligned(*ADA), world.add_aligned(*GRACE)
        world.switch_on()
        monkeypatch.setattr(engine_module, "time", _ClockTime(world.manual_clock))

        async def grace_edits_her_profile() -> None:
            await world.mc_profile(grace.email, FNAME="Amazing Grace")

        def ada_changes_in_re() -> None:
            world.re_edit(ada.record_id, first="Augusta")

        happenings: list[tuple[datetime, Happening]] = [
            (START + timedelta(minutes=7), grace_edits_her_profile),
            (START + timedelta(minutes=12), ada_changes_in_re),
        ]
        world.happenings.extend(happenings)
        # Rounds at 0, 5, ... 30 minutes: RE NXT every 30 minutes, Mailchimp every 5.
        await world.engine.run_on_schedule(flows=[RE_TO_MC, MC_TO_RE], cycles=7)

        state = world.engine.state
        re_runs = sorted(state.list_runs(flow=RE_TO_MC, limit=100), key=lambda r: r.started_at)
        mc_runs = sorted(state.list_runs(flow=MC_TO_RE, limit=100), key=lambda r: r.started_at)
        assert [r.started_at - START for r in re_runs] == [timedelta(0), timedelta(minutes=30)]
        assert [r.started_at - START for r in mc_runs] == [
            timedelta(minutes=m) for m in range(0, 35, 5)
        ]
        # Each change went with the first poll of its system after it, not before; what the
        # sync wrote is held back when the other side's poll lists it.
        handled = {
            (run.flow, run.started_at - START): {
                row.record: row.outcome for row in state.run_outcomes(run.run_id)
            }
            for run in [*re_runs, *mc_runs]
            if run.counts
        }
        assert handled == {
            (MC_TO_RE, timedelta(minutes=10)): {subscriber_hash(grace.email): "updated"},
            (RE_TO_MC, timedelta(minutes=30)): {
                ada.record_id: "updated",
                grace.record_id: "blocked",
            },
            (MC_TO_RE, timedelta(minutes=30)): {subscriber_hash(ada.email): "blocked"},
        }
        assert world.constituent(grace.record_id)["first"] == "Amazing Grace"
        assert world.member(ada.email)["merge_fields"]["FNAME"] == "Augusta"


# ---- faults in every simulator ------------------------------------------------------------------


async def test_faults_in_every_simulator_lose_nothing_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    with sync_world(tmp_path) as world:
        people = [
            world.add_aligned(f"Person{n}", f"Aligned{n}", f"p{n}@example.org", f"2000{n}")
            for n in range(6)
        ]
        world.switch_on()
        await world.tick()
        world.advance(minutes=5)
        # Mailchimp: three profile edits and two sign-ups; RE: two edits and a new constituent;
        # Salesforce: two contacts of constituents.
        for person in people[:3]:
            await world.mc_profile(person.email, LNAME=f"{person.last}-mc")
        for n in range(2):
            await world.mc_signup(f"new{n}@example.org", FNAME=f"New{n}", LNAME="Signup")
        for person in people[3:5]:
            world.re_edit(person.record_id, first=f"{person.first}-re")
        added = world.re_add(
            first="Rena",
            last="Added",
            lookup_id="30001",
            email={"address": "rena@example.org", "type": "Email", "primary": True},
        )
        for person in people[4:6]:
            world.sf_add(
                FirstName=person.first,
                LastName=person.last,
                Email=person.email,
                RE_Constituent_ID__c=person.constituent_id,
                Phone=f"020 7946 000{person.constituent_id[-1]}",
            )

        # 429s with Retry-After (Salesforce throttles with its 403 REQUEST_LIMIT_EXCEEDED and
        # Retry-After) and 5xx, on reads, searches and writes; "after" puts a fault in the middle
        # of a batch, once some of its records were written.
        faults: dict[Simulator, list[FaultRule]] = {
            world.re: [
                FaultRule(kind="rate_limit", operation="ListConstituents", retry_after=2, times=1),
                FaultRule(
                    kind="error", status=503, operation="SearchConstituent", after=1, times=2
                ),
                FaultRule(
                    kind="error", status=500, operation="CreateConstituent", after=1, times=1
                ),
                FaultRule(kind="rate_limit", operation="EditConstituent", after=1, times=1),
                FaultRule(
                    kind="error", status=502, operation="CreateConstituentConsent", after=2, times=1
                ),
            ],
            world.mailchimp: [
                FaultRule(kind="rate_limit", operation="getListsIdMembers", retry_after=4, times=1),
                FaultRule(kind="error", status=503, operation="getListsIdMembers", times=1),
                FaultRule(kind="error", status=500, operation="putListsIdMembersId", times=2),
                FaultRule(kind="rate_limit", operation="postListsIdMembers", times=1),
            ],
            world.salesforce: [
                FaultRule(kind="rate_limit", operation="Query*", retry_after=3, times=1),
                FaultRule(kind="error", status=503, operation="Query*", times=1),
            ],
        }
        for simulator, rules in faults.items():
            for rule in rules:
                simulator.faults.add(rule)

        for flow in (MC_TO_RE, RE_TO_MC, SF_TO_RE):
            await world.run(flow)

        # Every fault fired, was retried through (waiting as long as a Retry-After asked), and
        # no record failed.
        for simulator, rules in faults.items():
            fired = {s.rule.model_dump_json(): s.fired for s in simulator.faults.status()}
            for rule in rules:
                assert fired[rule.model_dump_json()] == (rule.times or 1), (simulator.name, rule)
        assert {2.0, 4.0, 3.0} <= set(world.waits)
        assert world.engine.state.list_failed() == []

        # Everything landed once: each change applied, nothing created twice.
        constituents = world.constituents()
        emails = Counter(world.primary_email(c) for c in constituents)
        assert set(emails.values()) == {1}
        assert len(constituents) == 6 + 2 + 1
        for person in people[:3]:
            assert world.constituent(person.record_id)["last"] == f"{person.last}-mc"
        for n in range(2):
            [new] = world.constituents_with_email(f"new{n}@example.org")
            assert (new["first"], new["last"]) == (f"New{n}", "Signup")
        members = world.members()
        assert len(members) == 6 + 2 + 1
        for person in people[3:5]:
            assert members[person.email]["merge_fields"]["FNAME"] == f"{person.first}-re"
        assert members["rena@example.org"]["merge_fields"]["CONSID"] == "30001"
        assert world.constituent(added)["lookup_id"] == "30001"
        for person in people[4:6]:
            phones = world.constituent(person.record_id)["phones"]
            assert [p["number"] for p in phones] == [f"020 7946 000{person.constituent_id[-1]}"]
