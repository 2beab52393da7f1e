"""The SmartSYNC step of ``syncframe demo``: RE NXT and Mailchimp simulators kept in step by two
flows made of steps. One demo run (shared by the tests) is checked against what the simulators
hold at the end and against run history in the step's work directory."""

from __future__ import annotations

import io
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import anyio
import mailchimp_simulator
import pytest
import re_nxt_simulator
from mailchimp_simulator import DEFAULT_API_KEY, MailchimpSimulator
from re_nxt_simulator import DEFAULT_CLIENT_SECRET, DEFAULT_SUBSCRIPTION_KEY, ReNxtSimulator
from rich.console import Console
from syncframe_smartsync import plugin as smartsync_plugin
from syncframe_smartsync.demo import smartsync_demo
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.clock import SystemClock
from syncframe.demo import DemoContext
from syncframe.host import Host
from syncframe.state import StateStore, open_state
from syncframe.state.base import OutcomeRow, RunRecord


class KeptReNxt(ReNxtSimulator):
    """The RE NXT simulator, kept by the test once the demo built it."""

    made: ClassVar[list[ReNxtSimulator]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        KeptReNxt.made.append(self)


class KeptMailchimp(MailchimpSimulator):
    """The Mailchimp simulator, kept by the test once the demo built it."""

    made: ClassVar[list[MailchimpSimulator]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        KeptMailchimp.made.append(self)


@dataclass
class Played:
    """What one demo run left: its line, its output, the simulators' final state, the folder."""

    line: str
    output: str
    workdir: Path
    raisers_edge: dict[str, Any]
    audience: dict[str, Any]

    def members(self) -> dict[str, dict[str, Any]]:
        return {m["email_address"].lower(): m for m in self.audience["members"]}

    def constituent(self, constituent_id: str) -> dict[str, Any]:
        [found] = [c for c in self.raisers_edge["constituents"] if c["id"] == constituent_id]
        return dict(found)

    def by_lookup_id(self) -> dict[str, dict[str, Any]]:
        return {c["lookup_id"]: c for c in self.raisers_edge["constituents"]}

    def mailing_list(self) -> list[str]:
        [listed] = self.raisers_edge["lists"]
        return list(listed["constituent_ids"])

    @contextmanager
    def state(self) -> Iterator[StateStore]:
        """The step's state store (run history, the ledger)."""
        store = open_state(f"sqlite:///{self.workdir / 'state.db'}")
        try:
            yield store
        finally:
            store.close()


def runs_of(store: StateStore, flow: str) -> list[RunRecord]:
    return sorted(store.list_runs(flow), key=lambda run: run.started_at)


def outcomes(store: StateStore, run: RunRecord) -> list[OutcomeRow]:
    return list(store.run_outcomes(run.run_id))


def step_outcome(row: OutcomeRow, step: str) -> str | None:
    """What happened to a record at ``step`` of its step log (None: it never got there)."""
    return next((s["outcome"] for s in row.steps or [] if s["step"] == step), None)


def changed_in_mailchimp(played: Played) -> dict[str, str]:
    """RE constituent id -> the member's status, for the members the Mailchimp flow wrote."""
    with played.state() as store:
        [back] = runs_of(store, "mailchimp_to_re")
        rows = outcomes(store, back)
    members = {m["id"]: m for m in played.audience["members"]}
    return {str(row.target_key): members[row.record]["status"] for row in rows}


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    workdir = tmp_path_factory.mktemp("smartsync_demo")
    output = io.StringIO()
    context = DemoContext(
        workdir=workdir,
        console=Console(file=output, width=240, color_system=None),
        clock=SystemClock(),
        host=Host(plugins=[smartsync_plugin], entry_points=False),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(re_nxt_simulator, "ReNxtSimulator", KeptReNxt)
        patch.setattr(mailchimp_simulator, "MailchimpSimulator", KeptMailchimp)
        line = anyio.run(smartsync_demo, context)
    [raisers_edge] = KeptReNxt.made
    [mailchimp] = KeptMailchimp.made
    [audience] = mailchimp.snapshot()["lists"]
    yield Played(line, output.getvalue(), workdir, raisers_edge.snapshot(), audience)
    KeptReNxt.made.clear()
    KeptMailchimp.made.clear()


def test_every_list_member_is_in_the_audience_with_its_constituent_id(played: Played) -> None:
    listed = played.mailing_list()
    members = played.members()
    constituents = played.by_lookup_id()

    assert len(members) == len(listed) == 20
    assert sorted(constituents[m["merge_fields"]["CONSID"]]["id"] for m in members.values()) == (
        sorted(listed)
    )
    for email, member in members.items():
        constituent = constituents[member["merge_fields"]["CONSID"]]
        assert constituent["email"]["address"].lower() == email
        assert member["merge_fields"]["FNAME"] == constituent["first"]
    # People outside the list (opted out, inactive, organizations...) stayed out.
    assert len(played.raisers_edge["constituents"]) > len(listed)


def test_the_first_run_found_the_two_existing_members_by_email(played: Played) -> None:
    with played.state() as store:
        [first, *_] = runs_of(store, "re_to_mailchimp")
        rows = outcomes(store, first)

    assert first.counts == {"created": 18, "updated": 2}
    by_email = [row for row in rows if step_outcome(row, "Find member by email") == "match"]
    assert len(by_email) == 2
    assert {row.outcome for row in by_email} == {"updated"}
    # The two were in the audience under a capitalised address, first name only: now they have
    # their CONSID and RE's last name, the address as it was.
    for row in by_email:
        constituent = played.constituent(row.record)
        member = played.members()[constituent["email"]["address"].lower()]
        assert member["email_address"] != member["email_address"].lower()
        assert member["merge_fields"]["CONSID"] == constituent["lookup_id"]
        assert member["merge_fields"]["LNAME"] == constituent["last"]
    assert "2 found by email" in played.line


def test_the_unsubscribe_reached_re_as_an_email_opt_out_and_solicit_code(
    played: Played,
) -> None:
    [left] = [m for m in played.members().values() if m["status"] == "unsubscribed"]
    constituent = played.by_lookup_id()[left["merge_fields"]["CONSID"]]

    opt_outs = [
        c
        for c in constituent["consents"]
        if (c["channel"], c["constituent_consent_response"]) == ("Email", "OptOut")
    ]
    assert [c["source"] for c in opt_outs] == ["Mailchimp"]
    codes = [s for s in constituent["solicit_codes"] if s["solicit_code"] == "Do not email"]
    assert len(codes) == 1
    assert not codes[0].get("end_date")
    with played.state() as store:
        [back] = runs_of(store, "mailchimp_to_re")
        assert back.counts == {"updated": 2}


def test_the_new_last_name_reached_re(played: Played) -> None:
    [renamed_id] = [
        i for i, status in changed_in_mailchimp(played).items() if status != "unsubscribed"
    ]
    constituent = played.constituent(renamed_id)
    member = played.members()[constituent["email"]["address"].lower()]

    assert member["merge_fields"]["LNAME"].endswith("-Ramos")
    assert constituent["last"] == member["merge_fields"]["LNAME"]
    assert constituent["last"] in played.line


def test_the_re_edit_within_the_hour_was_blocked_and_the_next_one_flowed(
    played: Played,
) -> None:
    with played.state() as store:
        [_, blocked_run, passed_run] = runs_of(store, "re_to_mailchimp")
        blocked = outcomes(store, blocked_run)
        passed = outcomes(store, passed_run)
        [back] = runs_of(store, "mailchimp_to_re")

    assert blocked_run.counts == {"blocked": 2}
    # Both records Mailchimp had just changed: the edited one and the unsubscribed one.
    assert {row.record for row in blocked} == set(changed_in_mailchimp(played))
    for row in blocked:
        assert row.reason is not None
        until = re.search(r"changes flow back after (\S+)$", row.reason)
        assert until is not None, row.reason
        # An hour after the Mailchimp changes (made just before that flow's run).
        allowed = datetime.fromisoformat(until.group(1))
        assert allowed == back.started_at + timedelta(hours=1)
        assert blocked_run.started_at < allowed <= passed_run.started_at
        assert step_outcome(row, "loop protection") == "blocked"
        assert step_outcome(row, "Find member by CONSID") is None
    [flowed] = passed
    assert flowed.outcome == "updated"
    # What landed: the member has the RE phone of the blocked edit and the address of the next.
    constituent = played.constituent(flowed.record)
    member = played.members()[constituent["email"]["address"].lower()]
    assert member["merge_fields"]["PHONE"] == constituent["phone"]["number"] == "617-555-0142"
    assert member["merge_fields"]["ADDRESS"]["addr1"] == constituent["address"]["address_lines"]


def test_the_printed_command_shows_the_step_log(played: Played) -> None:
    [command] = re.findall(r"syncframe runs show .* --steps --record \S+", played.output)
    _, *arguments = shlex.split(command)

    result = CliRunner().invoke(
        build_app(Host(plugins=[smartsync_plugin], entry_points=False)), arguments
    )

    assert result.exit_code == 0, result.output
    assert Path(arguments[2]) == played.workdir / "flows.toml"
    for step in ("Constituent changed in RE", "loop protection", "Find member by CONSID"):
        assert step in result.output
    assert "Create or update member" in result.output


def test_no_secret_is_printed(played: Played) -> None:
    secrets = (DEFAULT_CLIENT_SECRET, DEFAULT_SUBSCRIPTION_KEY, DEFAULT_API_KEY)
    for secret in secrets:
        assert secret not in played.output
        assert secret not in (played.workdir / "flows.toml").read_text()
    assert DEFAULT_API_KEY in (played.workdir / ".env").read_text()
