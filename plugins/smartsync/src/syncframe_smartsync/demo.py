"""The SmartSYNC step of ``syncframe demo``: a Raiser's Edge NXT environment and a Mailchimp
audience (both simulators, served on real sockets, on one manual clock shared with the engine)
kept in step by two flows made of steps, with one-way loop protection between them.

The story, each part a real run whose numbers are read back from run history and from the
simulators: RE's mailing list is pushed into an audience that already holds two of its people
(found by email, then given their CONSID); ten minutes later one member unsubscribes in
Mailchimp and another changes their last name, and both reach RE (an Email opt-out consent and
the *Do not email* solicit code, a new last name); twenty minutes later an edit of the second
person in RE is held back by loop protection; once the hour is over, the next edit flows, and it
carries the held-back one with it. Last, one record's step log is printed from run history.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from mailchimp_simulator import MailchimpSimulator
    from re_nxt_simulator import ReNxtSimulator

    from syncframe.clock import ManualClock
    from syncframe.demo import DemoContext
    from syncframe.engine import Engine, RunReport
    from syncframe.state.base import OutcomeRow

__all__ = ["smartsync_demo"]

RE_CONNECTION: Final = "raisers_edge"
MAILCHIMP_CONNECTION: Final = "mailchimp"
TO_MAILCHIMP: Final = "re_to_mailchimp"
TO_RE: Final = "mailchimp_to_re"
#: The step names of the flow file, as the step log shows them.
FIND_MEMBER_BY_EMAIL: Final = "Find member by email"
LOOP_PROTECTION: Final = "loop protection"
#: The merge field holding the RE Constituent ID (the binding key).
CONSID: Final = "CONSID"
SEED: Final = 2026
#: People in the sample RE database; those opted in to email (and not inactive, deceased or
#: sharing an address with someone) make up the mailing list paired with the audience.
INDIVIDUALS: Final = 40
ORGANIZATIONS: Final = 3
#: Mailing-list people already in the audience before the first run (by email, without CONSID).
ALREADY_IN_AUDIENCE: Final = 2
#: The list's name in RE; its id goes into the flow file.
MAILING_LIST: Final = "Mailchimp newsletter"
UNSUBSCRIBE_CODE: Final = "Do not email"
WINDOW: Final = timedelta(hours=1)
#: A demo application on a loopback simulator; real secrets go in the environment or .env.
ENV_FILE: Final = """\
SYNCFRAME_RAISERS_EDGE_CLIENT_SECRET={client_secret}
SYNCFRAME_RAISERS_EDGE_REFRESH_TOKEN={refresh_token}
SYNCFRAME_RAISERS_EDGE_SUBSCRIPTION_KEY={subscription_key}
SYNCFRAME_MAILCHIMP_API_KEY={api_key}
"""

FLOW_FILE: Final = """\
# Written by `syncframe demo`: SmartSYNC-style flows between a Raiser's Edge NXT environment
# (the simulator on {re_url}) and a Mailchimp audience (the simulator on {mc_url}). Secrets
# are read from .env beside this file. Read a run's step log with
#   syncframe runs show flows.toml RUN_ID --steps
[state]
url = "sqlite:///state.db"

[connections.{re}]
system = "re_nxt"
api_url = "{re_url}"
oauth_url = "{re_url}"
client_id = "{client_id}"

[connections.{mc}]
system = "mailchimp"
base_url = "{mc_url}"
list_id = "{audience}"
constituent_id_merge_tag = "{consid}"
max_concurrency = 10

# Raiser's Edge NXT -> Mailchimp: members of the mailing list, into the audience.
[flows.{to_mc}]
kind = "smartsync"
flow_id = 68
description = "RE mailing list -> Mailchimp audience, by CONSID then by email"

[[flows.{to_mc}.steps]]
step = "event"
name = "Constituent changed in RE"
type = "re_nxt_constituents"
connection = "{re}"
list_id = "{list_id}"

[[flows.{to_mc}.steps]]
step = "search"
name = "Find member by CONSID"
by = "constituent_id"

[[flows.{to_mc}.steps]]
step = "search"
name = "{by_email}"
by = "email"
normalize = "lower"

[[flows.{to_mc}.steps]]
step = "action"
name = "Create or update member"
type = "mailchimp_members"
connection = "{mc}"
tags = ["From RE"]

# Mailchimp -> Raiser's Edge NXT: profile edits and unsubscribes (consent and solicit code).
# Switched on together with the first push: it reads what people change in Mailchimp after
# that moment (since), not the members the push itself wrote.
[flows.{to_re}]
kind = "smartsync"
flow_id = 69
description = "Mailchimp audience -> RE constituents, unsubscribes as Email opt-outs"

[[flows.{to_re}.steps]]
step = "event"
name = "Member changed in Mailchimp"
type = "mailchimp_members"
connection = "{mc}"
since = "{switched_on}"

[[flows.{to_re}.steps]]
step = "search"
name = "Find constituent by CONSID"
by = "constituent_id"

[[flows.{to_re}.steps]]
step = "search"
name = "Find constituent by email"
by = "email"
normalize = "lower"
within_list = "{list_id}"

[[flows.{to_re}.steps]]
step = "action"
name = "Update or create constituent"
type = "re_nxt_constituents"
connection = "{re}"
consent_source = "Mailchimp"
unsubscribe_solicit_code = "{unsubscribe_code}"
# Members carry their Mailchimp tags, which RE has no field for.
unknown_fields = "ignore"
"""


@dataclass(frozen=True, slots=True)
class _Person:
    """One constituent of the mailing list, as seeded in RE."""

    id: str
    lookup_id: str
    first: str
    last: str
    email: str


@dataclass(slots=True)
class _World:
    """The two served simulators and the clock they share with the engine."""

    clock: ManualClock
    raisers_edge: ReNxtSimulator
    mailchimp: MailchimpSimulator
    re_admin: httpx.AsyncClient
    mc_admin: httpx.AsyncClient
    audience: str

    async def admin(self, client: httpx.AsyncClient, method: str, path: str, body: Any) -> Any:
        """What a person does in the system's web view (the simulator's admin API)."""
        answer = await client.request(method, path, json=body)
        if answer.status_code >= 400:
            raise RuntimeError(
                f"the simulator refused {method} {path}: {answer.status_code} {answer.text}"
            )
        return answer.json()

    def member(self, email: str) -> dict[str, Any]:
        """The audience's member with ``email``, as Mailchimp holds it now."""
        found = self.members().get(email.lower())
        if found is None:
            raise RuntimeError(f"the audience has no member {email}")
        return found

    def members(self) -> dict[str, dict[str, Any]]:
        [audience] = [a for a in self.mailchimp.snapshot()["lists"] if a["id"] == self.audience]
        return {m["email_address"].lower(): m for m in audience["members"]}

    def constituent(self, constituent_id: str) -> dict[str, Any]:
        """A constituent with all its records, as RE holds it now."""
        for record in self.raisers_edge.snapshot()["constituents"]:
            if record["id"] == constituent_id:
                return dict(record)
        raise RuntimeError(f"RE has no constituent {constituent_id}")


async def smartsync_demo(ctx: DemoContext) -> str:
    """Serve RE NXT and Mailchimp simulators and run SmartSYNC-style flows between them."""
    # The simulators and their server are only needed here, not to run flows.
    from mailchimp_simulator import DEFAULT_API_KEY, DEFAULT_LIST_ID, MailchimpSimulator
    from re_nxt_simulator import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_SUBSCRIPTION_KEY,
        ReNxtSimulator,
    )
    from syncframe_simulators import serve_in_thread

    from syncframe.clock import ManualClock
    from syncframe.config import load_config
    from syncframe.engine import Engine

    out = ctx.console
    # One clock for both simulators and the engine: loop protection compares the times the
    # systems stamp on changes with the engine's now, and the demo moves all three together.
    clock = ManualClock()
    raisers_edge = ReNxtSimulator(clock=clock, seed=SEED)
    mailchimp = MailchimpSimulator(clock=clock, seed=SEED)
    people, list_id, in_re = _seed_raisers_edge(raisers_edge)
    already = people[-ALREADY_IN_AUDIENCE:]
    _seed_audience(mailchimp, DEFAULT_LIST_ID, already, clock.now())
    # As if the application had just been authorized in the environment (the one browser step).
    refresh_token = raisers_edge.issue_tokens().refresh_token
    out.print(
        f"Raiser's Edge NXT: {in_re} constituents, {len(people)} of them on the mailing list "
        f"{MAILING_LIST!r}; Mailchimp: an audience with a {CONSID} merge field and "
        f"{len(already)} of those people in it, without a {CONSID} "
        f"({', '.join(p.email for p in already)})",
        highlight=False,
    )
    with (
        serve_in_thread(raisers_edge) as re_server,
        serve_in_thread(mailchimp) as mc_server,
    ):
        flow_path = ctx.workdir / "flows.toml"
        flow_path.write_text(
            FLOW_FILE.format(
                re=RE_CONNECTION,
                mc=MAILCHIMP_CONNECTION,
                re_url=re_server.base_url,
                mc_url=mc_server.base_url,
                client_id=DEFAULT_CLIENT_ID,
                audience=DEFAULT_LIST_ID,
                consid=CONSID,
                to_mc=TO_MAILCHIMP,
                to_re=TO_RE,
                list_id=list_id,
                by_email=FIND_MEMBER_BY_EMAIL,
                switched_on=clock.now().isoformat(),
                unsubscribe_code=UNSUBSCRIBE_CODE,
            ),
            encoding="utf-8",
        )
        (ctx.workdir / ".env").write_text(
            ENV_FILE.format(
                client_secret=DEFAULT_CLIENT_SECRET,
                refresh_token=refresh_token,
                subscription_key=DEFAULT_SUBSCRIPTION_KEY,
                api_key=DEFAULT_API_KEY,
            ),
            encoding="utf-8",
        )
        config = load_config(flow_path, ctx.host.registry)
        async with (
            httpx.AsyncClient(base_url=re_server.admin_url) as re_admin,
            httpx.AsyncClient(base_url=mc_server.admin_url) as mc_admin,
        ):
            world = _World(clock, raisers_edge, mailchimp, re_admin, mc_admin, DEFAULT_LIST_ID)
            with Engine(config, ctx.host, clock=clock) as engine:
                return await _story(ctx, world, engine, people, flow_path)


async def _story(
    ctx: DemoContext, world: _World, engine: Engine, people: list[_Person], flow_path: Path
) -> str:
    out = ctx.console
    clock = world.clock
    leaving, renamed = people[0], people[1]

    # 1. The first push: the mailing list into the audience.
    first = await _run(engine, TO_MAILCHIMP)
    first_rows = _outcomes(engine, first)
    by_email = [r for r in first_rows if _step_outcome(r, FIND_MEMBER_BY_EMAIL) == "match"]
    members = world.members()
    bound = [m for m in members.values() if m["merge_fields"].get(CONSID)]
    out.print(
        f"{_at(clock)} {TO_MAILCHIMP}: {_counts(first)}; {len(by_email)} found by email "
        f"and given their {CONSID}; the audience now has {len(members)} members, "
        f"{len(bound)} with a {CONSID}",
        highlight=False,
    )

    # 2. Ten minutes later, two people act in Mailchimp.
    clock.advance(timedelta(minutes=10))
    new_last = f"{renamed.last}-Ramos"
    member_path = f"/mailchimp/lists/{world.audience}/members"
    await world.admin(
        world.mc_admin, "POST", f"{member_path}/{leaving.email}/unsubscribe", {"reason": "manual"}
    )
    await world.admin(
        world.mc_admin,
        "POST",
        f"{member_path}/{renamed.email}/profile",
        {"merge_fields": {"LNAME": new_last}},
    )
    back = await _run(engine, TO_RE)
    opt_outs = [
        c
        for c in world.constituent(leaving.id)["consents"]
        if c["channel"] == "Email" and c["constituent_consent_response"] == "OptOut"
    ]
    codes = [
        s["solicit_code"]
        for s in world.constituent(leaving.id)["solicit_codes"]
        if s["solicit_code"] == UNSUBSCRIBE_CODE and not s.get("end_date")
    ]
    now_last = world.constituent(renamed.id).get("last")
    out.print(
        f"{_at(clock)} {leaving.email} unsubscribes in Mailchimp, {renamed.email} changes "
        f"their last name to {new_last}; {TO_RE}: {_counts(back)}; in RE, {leaving.first} "
        f"{leaving.last} now has {len(opt_outs)} Email opt-out "
        f"(source {opt_outs[0].get('source') if opt_outs else 'none'}) and "
        f"{', '.join(codes) or 'no solicit code'}, {renamed.first}'s last name is {now_last}",
        highlight=False,
    )

    # 3. Twenty minutes later, someone edits the renamed person in RE: held back.
    clock.advance(timedelta(minutes=20))
    held_phone = "617-555-0142"
    await world.admin(
        world.re_admin,
        "POST",
        f"/re_nxt/constituents/{renamed.id}/phones",
        {"number": held_phone, "type": "Mobile", "primary": True},
    )
    blocked_run = await _run(engine, TO_MAILCHIMP)
    blocked = [r for r in _outcomes(engine, blocked_run) if r.outcome == "blocked"]
    renamed_blocked = next((r for r in blocked if r.record == renamed.id), None)
    if renamed_blocked is None:
        raise RuntimeError(f"the RE edit of constituent {renamed.id} was not held back")
    allowed_after = _allowed_after(engine, renamed.id)
    phone_in_mailchimp = world.member(renamed.email)["merge_fields"].get("PHONE")
    names = {p.id: p.first for p in people}
    echo = (
        f" ({leaving.first}'s unsubscribe, as RE recorded it, would otherwise echo back)"
        if any(r.record == leaving.id for r in blocked)
        else ""
    )
    out.print(
        f"{_at(clock)} someone gives {renamed.first} {new_last} a new phone in RE; "
        f"{TO_MAILCHIMP}: {_counts(blocked_run)} ("
        + ", ".join(names.get(r.record, r.record) for r in blocked)
        + f"): loop protection holds back RE changes of records Mailchimp changed, until "
        f"{allowed_after:%H:%M} for {renamed.first}{echo}; Mailchimp still has phone "
        f"{phone_in_mailchimp or 'none'}",
        highlight=False,
    )

    # 4. Past the hour, the next RE edit flows, carrying the record as it is now.
    clock.set(allowed_after + timedelta(minutes=5))
    await world.admin(
        world.re_admin,
        "POST",
        f"/re_nxt/constituents/{renamed.id}/addresses",
        {
            "type": "Home",
            "address_lines": "12 Harbor View Rd",
            "city": "Portland",
            "state": "OR",
            "postal_code": "97205",
            "country": "United States",
            "preferred": True,
        },
    )
    passed_run = await _run(engine, TO_MAILCHIMP)
    landed = world.member(renamed.email)["merge_fields"]
    address = landed.get("ADDRESS") or {}
    carried = (
        ": the held-back phone came along (a change carries the whole record)"
        if landed.get("PHONE") == held_phone
        else ""
    )
    out.print(
        f"{_at(clock)} {renamed.first} moves, entered in RE; {TO_MAILCHIMP}: "
        f"{_counts(passed_run)}; Mailchimp now has phone {landed.get('PHONE')} and address "
        f"{address.get('addr1')}, {address.get('city')}{carried}",
        highlight=False,
    )

    # 5. One record's way through the flow, from run history.
    _show_step_log(ctx, engine, renamed, [blocked_run, passed_run])
    out.print(
        f"the same from the command line: syncframe runs show {shlex.quote(str(flow_path))} "
        f"{passed_run.run_id} --steps --record {renamed.id}",
        highlight=False,
        soft_wrap=True,  # one line, to copy
    )
    written = first.summary.counts
    return (
        f"{written.get('created', 0)} members created, {len(by_email)} found by email and "
        f"bound by {CONSID}; in RE {leaving.first} has {len(opt_outs)} Email opt-out + "
        f"{', '.join(codes) or 'no solicit code'} and {renamed.first} the last name {now_last}; "
        f"{len(blocked)} RE changes blocked by loop protection until {allowed_after:%H:%M}, "
        f"then {passed_run.summary.counts.get('updated', 0)} update reached Mailchimp"
    )


# ---- seeding ----------------------------------------------------------------------------------


def _seed_raisers_edge(simulator: ReNxtSimulator) -> tuple[list[_Person], str, int]:
    """The sample database, and a list of the people opted in to email who can be mailed (not
    inactive, deceased or sharing an address). Returns them, the list's id, and how many
    constituents RE holds."""
    from re_nxt_simulator.sample import sample_payload

    payload, stories = sample_payload(
        individuals=INDIVIDUALS,
        organizations=ORGANIZATIONS,
        now=simulator.clock.now(),
        seed=SEED,
    )
    made = simulator.seed_records(payload)["constituents"]
    unmailable = {i for story in ("shared_email", "inactive", "deceased") for i in stories[story]}
    people: list[_Person] = []
    for index in stories["opted_in"]:
        if index in unmailable:
            continue
        record = payload["constituents"][index]
        people.append(
            _Person(
                id=made[index]["id"],
                lookup_id=made[index]["lookup_id"],
                first=record["first"],
                last=record["last"],
                email=record["email_addresses"][0]["address"],
            )
        )
    [list_id] = simulator.seed_records(
        {"lists": [{"name": MAILING_LIST, "constituent_ids": [p.id for p in people]}]}
    )["lists"]
    return people, str(list_id), len(made)


def _seed_audience(
    simulator: MailchimpSimulator, audience: str, people: list[_Person], now: datetime
) -> None:
    """The audience with the CONSID merge field and ``people`` signed up long ago, first name
    only and their address typed with capitals (so the search lower-cases both sides)."""
    from mailchimp_simulator.sample import CONSID_FIELD

    simulator.seed_records(
        {
            "lists": [
                {
                    "id": audience,
                    "merge_fields": [CONSID_FIELD],
                    "members": [
                        {
                            "email_address": person.email.title(),
                            "status": "subscribed",
                            "merge_fields": {"FNAME": person.first},
                            "last_changed": (now - timedelta(days=30)).isoformat(),
                        }
                        for person in people
                    ],
                }
            ]
        }
    )


# ---- reading back ----------------------------------------------------------------------------


async def _run(engine: Engine, flow: str) -> RunReport:
    """One run of ``flow``; an error when it failed or refused a record (the story has none)."""
    report = await engine.run_flow(flow)
    summary = report.summary
    if summary.status != "succeeded":
        raise RuntimeError(f"flow {flow} {summary.status}: {summary.error}")
    refused = [r for r in _outcomes(engine, report) if r.outcome in ("rejected", "failed")]
    if refused:
        raise RuntimeError(
            f"flow {flow} run {report.run_id}: "
            + "; ".join(f"record {r.record} {r.outcome}: {r.reason}" for r in refused)
        )
    return report


def _outcomes(engine: Engine, report: RunReport) -> list[OutcomeRow]:
    return list(engine.state.run_outcomes(report.run_id))


def _step_outcome(row: OutcomeRow, step: str) -> str | None:
    for entry in row.steps or []:
        if entry.get("step") == step:
            return entry.get("outcome")
    return None


def _allowed_after(engine: Engine, constituent_id: str) -> datetime:
    """When changes of the constituent may flow to Mailchimp again: the ledger's time of the
    Mailchimp change written into it, plus the window."""
    entries = engine.state.ledger_get(RE_CONNECTION, "constituent", [constituent_id])
    entry = entries.get(constituent_id)
    if entry is None:
        raise RuntimeError(f"no write into RE constituent {constituent_id} is on record")
    return entry.source_changed_at + WINDOW


def _counts(report: RunReport) -> str:
    counts = report.summary.counts
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if n) or "nothing new"


def _at(clock: ManualClock) -> str:
    return f"[{clock.now():%H:%M}]"


def _show_step_log(
    ctx: DemoContext, engine: Engine, person: _Person, reports: list[RunReport]
) -> None:
    table = Table(
        title=f"Step log of RE constituent {person.id} ({person.first}) in {TO_MAILCHIMP}",
        title_justify="left",
    )
    for column in ("run", "step", "outcome", "detail"):
        table.add_column(column)
    for report in reports:
        row = next((r for r in _outcomes(engine, report) if r.record == person.id), None)
        if row is None:
            continue
        for n, entry in enumerate(row.steps or []):
            table.add_row(
                Text(report.run_id if n == 0 else ""),
                Text(entry.get("step") or ""),
                Text(entry.get("outcome") or ""),
                Text(entry.get("detail") or ""),
            )
    ctx.console.print(table)
