"""``syncframe align`` end to end: a flow file in a temporary folder, the RE NXT, Mailchimp and
Salesforce simulators served in-process behind one transport, and the command run with typer's
CliRunner. Each test asserts on the report (console and CSV) and, after ``--apply``, on the
records that landed in the simulators."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from re_nxt_simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SUBSCRIPTION_KEY,
)
from salesforce_simulator import EXTERNAL_ID_FIELD
from syncframe_simulators import FaultRule
from syncframe_smartsync import mailchimp_side, re_nxt_side, salesforce_side
from syncframe_smartsync import plugin as smartsync_plugin
from syncframe_smartsync.align import register_align_command, spreadsheet_safe
from syncframe_smartsync.align_sides import SecretMask
from syncframe_smartsync.mailchimp_client import subscriber_hash
from typer.testing import CliRunner

from plugins.smartsync.tests import mailchimp_helpers, re_nxt_helpers, salesforce_helpers
from plugins.smartsync.tests.mailchimp_helpers import API_KEY, LIST_ID, member, members
from syncframe import hookimpl
from syncframe.cli import build_app
from syncframe.config import load_config
from syncframe.host import Host
from syncframe.registry import ComponentRegistrar, SystemRegistrar

# ---- the three systems behind one transport -----------------------------------------------------


class HostRouter(httpx.AsyncBaseTransport):
    """Sends each request to the simulator whose host it names."""

    def __init__(self, routes: Mapping[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = dict(routes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no simulator at {request.url.host}", request=request)
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        # The simulators own their transports.
        return None


class SidesPlugin:
    """The three connections of the SmartSYNC-style plugin, without its commands (the test
    adds ``align`` itself, on the simulators' transport)."""

    __name__ = "smartsync_sides"

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        """re_nxt, mailchimp, salesforce."""
        for side in (re_nxt_side, mailchimp_side, salesforce_side):
            side.register_systems(register)

    @hookimpl
    def syncframe_register_sources(self, register: ComponentRegistrar) -> None:
        """Their sources."""
        for side in (re_nxt_side, mailchimp_side, salesforce_side):
            side.register_sources(register)

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        """Their sinks."""
        for side in (re_nxt_side, mailchimp_side, salesforce_side):
            side.register_sinks(register)


RETRY = "retry = { attempts = 3, initial_wait = 0, max_wait = 0, jitter = 0 }"
CASCADE = 'keys = ["constituent_id", { source = "email", target = "email", normalize = "lower" }]'

CONNECTIONS = f"""
[state]
url = "sqlite:///state.db"

[connections.re]
system = "re_nxt"
api_url = "http://re_nxt.simulator"
oauth_url = "http://re_nxt.simulator"
client_id = "{DEFAULT_CLIENT_ID}"
{RETRY}

[connections.mc]
system = "mailchimp"
list_id = "{LIST_ID}"
base_url = "http://mailchimp.simulator"
max_concurrency = 10
{RETRY}

[connections.sf]
system = "salesforce"
login_url = "http://salesforce.simulator"
client_id = "{salesforce_helpers.CLIENT_ID}"
{RETRY}
"""

FLOWS = f"""
[flows.re_to_mc]
batch_size = 2
source = {{ type = "re_nxt_constituents", connection = "re" }}
sink = {{ type = "mailchimp_members", connection = "mc" }}

[[flows.re_to_mc.matchers]]
type = "key_cascade"
{CASCADE}

# Its since (where the flow's first run starts) is after every seeded member's last change:
# align must read them all the same.
[flows.mc_to_re]
source = {{ type = "mailchimp_members", connection = "mc", since = "2026-03-05T00:00:00Z" }}
sink = {{ type = "re_nxt_constituents", connection = "re", unknown_fields = "ignore" }}

[[flows.mc_to_re.matchers]]
type = "key_cascade"
{CASCADE}

[flows.mc_events]
source = {{ type = "mailchimp_webhook", connection = "mc" }}
sink = {{ type = "re_nxt_constituents", connection = "re", unknown_fields = "ignore" }}

[flows.re_to_sf]
source = {{ type = "re_nxt_constituents", connection = "re" }}
sink = {{ type = "salesforce_contacts", connection = "sf" }}

[[flows.re_to_sf.matchers]]
type = "key_cascade"
{CASCADE}

[flows.sf_to_re]
source = {{ type = "salesforce_contacts", connection = "sf" }}
sink = {{ type = "re_nxt_constituents", connection = "re", unknown_fields = "ignore" }}

[flows.re_to_mc_checked]
source = {{ type = "re_nxt_constituents", connection = "re" }}
sink = {{ type = "mailchimp_members", connection = "mc" }}

[flows.re_to_mc_checked.mapping]
unmapped = "keep"
fields = {{ email = {{ from = "email", required = true }} }}

[[flows.re_to_mc_checked.matchers]]
type = "key_cascade"
{CASCADE}

[flows.mc_to_re_nicknames]
source = {{ type = "mailchimp_members", connection = "mc" }}
sink = {{ type = "re_nxt_constituents", connection = "re" }}

[flows.mc_to_re_nicknames.mapping]
fields = {{ nickname = "first_name", email = "email" }}

[flows.unmatched_re_to_mc]
source = {{ type = "re_nxt_constituents", connection = "re" }}
sink = {{ type = "mailchimp_members", connection = "mc" }}
"""

MC_WEBHOOK_SECRET = "mc-hook-s3cret-never-shown"


class World:
    """The three simulators, a flow file in ``folder`` and the command line around them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.re = re_nxt_helpers.make_simulator()
        self.mc = mailchimp_helpers.make_simulator()
        self.sf = salesforce_helpers.make_simulator()
        self.path = folder / "flows.toml"
        self.path.write_text(CONNECTIONS + FLOWS, encoding="utf-8")
        self.env = {
            "SYNCFRAME_RE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "SYNCFRAME_RE_REFRESH_TOKEN": self.re.issue_tokens().refresh_token,
            "SYNCFRAME_RE_SUBSCRIPTION_KEY": DEFAULT_SUBSCRIPTION_KEY,
            "SYNCFRAME_MC_API_KEY": API_KEY,
            "SYNCFRAME_MC_WEBHOOK_SECRET": MC_WEBHOOK_SECRET,
            "SYNCFRAME_SF_CLIENT_SECRET": salesforce_helpers.CLIENT_SECRET,
        }
        # The flow file names each simulator by its base URL's host.
        self.transport = HostRouter(
            {httpx.URL(sim.base_url).host: sim.transport() for sim in (self.re, self.mc, self.sf)}
        )

    @property
    def secrets(self) -> list[str]:
        """Every secret setting's value (all come from the environment)."""
        return list(self.env.values())

    def align(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        """``syncframe align FILE ARGS...``; the output never holds a secret or a traceback."""
        host = Host(plugins=[SidesPlugin()], entry_points=False)
        app = build_app(host)
        register_align_command(app, host, transport=self.transport)
        # Wide enough that no table title or line of the report wraps.
        result = CliRunner().invoke(
            app, ["align", str(self.path), *args], env={**(env or self.env), "COLUMNS": "250"}
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        output = result.stdout + result.stderr
        assert "Traceback" not in output
        for secret in self.secrets:
            assert secret not in output
        return result

    # ---- seeding, as imports into each system would -----------------------------------------
    def seed_re(self, *people: dict[str, Any]) -> dict[str, str]:
        """Constituents (with an Email opt-in when they have an email) -> lookup_id: id."""
        constituents = []
        for person in people:
            body: dict[str, Any] = {"type": "Individual", **person}
            email = body.pop("email", None)
            if email:
                body["email_addresses"] = [{"address": email, "type": "Email"}]
                body["consents"] = [
                    {
                        "channel": "Email",
                        "category": "All communications",
                        "constituent_consent_response": "OptIn",
                        "consent_date": "2025-06-01",
                    }
                ]
            city = body.pop("city", None)
            if city:
                body["addresses"] = [{"type": "Home", "city": city, "preferred": True}]
            constituents.append(body)
        answer = self.re.seed_records({"constituents": constituents})
        return {c["lookup_id"]: c["id"] for c in answer["constituents"]}

    def re_by_lookup(self) -> dict[str, dict[str, Any]]:
        """RE constituents by their Constituent ID (lookup_id), as the admin state shows them."""
        with self.re.lock:
            held = self.re.store.snapshot()["constituents"]
        return {c["lookup_id"]: c for c in held}

    def re_by_email(self) -> dict[str, dict[str, Any]]:
        with self.re.lock:
            held = self.re.store.snapshot()["constituents"]
        return {e["address"]: c for c in held for e in c["email_addresses"]}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def without_reason(rows: list[dict[str, str]]) -> set[tuple[str, ...]]:
    return {
        (r["kind"], r["a_key"], r["b_key"], r["field"], r["a_value"], r["b_value"]) for r in rows
    }


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# ---- RE NXT <-> Mailchimp -----------------------------------------------------------------------


def seed_re_and_mailchimp(world: World) -> dict[str, str]:
    """Both sides as the tests below expect them; RE lookup_id -> system id.

    8001 Ann: identical in both (Mailchimp holds her address in other case).
    8002 Bo: Mailchimp has another last name.
    8003 Cy: in Mailchimp without CONSID (found only by email), another first name.
    8004 Di: only in RE.  eve@: only in Mailchimp.
    8005 Fay and 8006 Gus share shared@ in RE; Mailchimp has one member with it: ambiguous.
    """
    ids = world.seed_re(
        {"lookup_id": "8001", "first": "Ann", "last": "Lee", "email": "ann@example.org"},
        {"lookup_id": "8002", "first": "Bo", "last": "Ng", "email": "bo@example.org"},
        {"lookup_id": "8003", "first": "Cy", "last": "Ito", "email": "cy@example.org"},
        {"lookup_id": "8004", "first": "Di", "last": "Evans", "email": "di@example.org"},
        {"lookup_id": "8005", "first": "Fay", "last": "Shaw", "email": "shared@example.org"},
        {"lookup_id": "8006", "first": "Gus", "last": "Shaw", "email": "shared@example.org"},
    )
    mailchimp_helpers.seed_members(
        world.mc,
        member("Ann@Example.org", consid="8001", FNAME="Ann", LNAME="Lee"),
        member("bo@example.org", consid="8002", FNAME="Bo", LNAME="Nguyen"),
        member("cy@example.org", FNAME="Cyrus", LNAME="Ito"),
        member("eve@example.org", FNAME="Eve", LNAME="Moss"),
        member("shared@example.org", FNAME="Fay", LNAME="Shaw"),
    )
    return ids


def h(email: str) -> str:
    return subscriber_hash(email)


def expected_rows(ids: Mapping[str, str]) -> set[tuple[str, ...]]:
    return {
        ("differs", ids["8002"], h("bo@example.org"), "last_name", "Ng", "Nguyen"),
        ("differs", ids["8003"], h("cy@example.org"), "constituent_id", "8003", ""),
        ("differs", ids["8003"], h("cy@example.org"), "first_name", "Cy", "Cyrus"),
        ("only_in_a", ids["8004"], "", "", "", ""),
        ("only_in_b", "", h("eve@example.org"), "", "", ""),
        ("ambiguous", ids["8005"], "", "email", "shared@example.org", ""),
        ("ambiguous", ids["8006"], "", "email", "shared@example.org", ""),
        ("ambiguous", "", h("shared@example.org"), "email", "", "shared@example.org"),
    }


def test_the_report_lists_every_difference_and_writes_nothing(world: World) -> None:
    ids = seed_re_and_mailchimp(world)
    before_mc, before_re = members(world.mc), world.re_by_lookup()
    report = world.folder / "align.csv"

    result = world.align("re_to_mc", "--back", "mc_to_re", "--report", str(report))

    assert result.exit_code == 0, result.output
    rows = read_csv(report)
    assert list(rows[0]) == ["kind", "a_key", "b_key", "field", "a_value", "b_value", "reason"]
    assert without_reason(rows) == expected_rows(ids)
    reasons = {(r["kind"], r["a_key"] or r["b_key"]): r["reason"] for r in rows}
    assert reasons[("only_in_a", ids["8004"])] == (
        "no record in B with constituent_id 8004 or email di@example.org"
    )
    assert reasons[("only_in_b", h("eve@example.org"))] == (
        "no record in A with email eve@example.org"
    )
    assert reasons[("ambiguous", ids["8005"])] == (
        "2 records in A and 1 in B share email shared@example.org; refusing to guess"
    )
    cy = [r for r in rows if r["a_key"] == ids["8003"]]
    assert {r["reason"] for r in cy} == {"paired on email cy@example.org"}
    out = result.stdout
    for line in (
        "pairs identical",
        "pairs differing",
        "only in A (re)",
        "only in B (mc)",
        "ambiguous",
        "Report only: nothing was written",
        "report: ",
    ):
        assert line in out
    assert "reading every record: the source's start is ignored (mc_to_re: since = " in out
    # Nothing landed anywhere, and no flow state was made.
    assert members(world.mc) == before_mc
    assert world.re_by_lookup() == before_re
    assert not (world.folder / "state.db").exists()


def summary_counts(output: str) -> dict[str, int]:
    """The summary table's counts by row name."""
    found: dict[str, int] = {}
    for name in ("pairs identical", "pairs differing", "only in A", "only in B", "ambiguous"):
        line = next(line for line in output.splitlines() if name in line)
        found[name] = int(line.split("│")[-2].strip().replace(",", ""))
    return found


def test_apply_source_makes_mailchimp_hold_re_values(world: World) -> None:
    ids = seed_re_and_mailchimp(world)
    report = world.folder / "applied.csv"

    result = world.align(
        "re_to_mc", "--back", "mc_to_re", "--apply", "source", "--report", str(report)
    )

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stdout) == {
        "pairs identical": 1,
        "pairs differing": 2,
        "only in A": 1,
        "only in B": 1,
        "ambiguous": 3,
    }
    assert "Applied: re wins, written into mc by re_to_mc's sink" in result.stdout
    held = members(world.mc)
    assert held["bo@example.org"]["merge_fields"]["LNAME"] == "Ng"
    assert held["cy@example.org"]["merge_fields"]["CONSID"] == "8003"
    assert held["cy@example.org"]["merge_fields"]["FNAME"] == "Cy"
    assert held["cy@example.org"]["merge_fields"]["LNAME"] == "Ito"
    di = held["di@example.org"]
    assert (di["status"], di["merge_fields"]["CONSID"], di["merge_fields"]["LNAME"]) == (
        "subscribed",
        "8004",
        "Evans",
    )
    # The member only in Mailchimp and the ambiguous one are left as they were.
    assert held["eve@example.org"]["merge_fields"]["FNAME"] == "Eve"
    assert not held["shared@example.org"]["merge_fields"].get("CONSID")
    assert len(held) == 6
    # RE was not written.
    assert world.re_by_lookup()["8002"]["last"] == "Ng"
    # The report has the differences as found before writing, no problems.
    assert without_reason(read_csv(report)) == expected_rows(ids)

    again = world.align("re_to_mc", "--back", "mc_to_re")

    assert again.exit_code == 0
    assert summary_counts(again.stdout) == {
        "pairs identical": 4,
        "pairs differing": 0,
        "only in A": 0,
        "only in B": 1,
        "ambiguous": 3,
    }


def test_apply_target_makes_re_hold_mailchimp_values(world: World) -> None:
    ids = seed_re_and_mailchimp(world)

    result = world.align("re_to_mc", "--back", "mc_to_re", "--apply", "target")

    assert result.exit_code == 0, result.output
    assert "Applied: mc wins, written into re by mc_to_re's sink" in result.stdout
    held = world.re_by_lookup()
    assert held["8002"]["last"] == "Nguyen"
    assert held["8003"]["first"] == "Cyrus"
    assert held["8004"]["first"] == "Di"  # only in RE: kept, not deleted
    eve = world.re_by_email()["eve@example.org"]
    assert (eve["first"], eve["last"]) == ("Eve", "Moss")
    assert {(c["channel"], c["constituent_consent_response"]) for c in eve["consents"]} >= {
        ("Email", "OptIn")
    }
    assert (held["8005"]["first"], held["8006"]["first"]) == ("Fay", "Gus")
    assert len(held) == 7
    assert held["8002"]["id"] == ids["8002"]
    # Mailchimp was not written: Bo keeps his Mailchimp name, Cy still has no CONSID.
    mc = members(world.mc)
    assert mc["bo@example.org"]["merge_fields"]["LNAME"] == "Nguyen"
    assert not mc["cy@example.org"]["merge_fields"].get("CONSID")

    again = world.align("re_to_mc", "--back", "mc_to_re")

    # What is left: the constituent ids Mailchimp lacks (Cy's; Eve's, which RE gave her when
    # she was created), Di only in RE, the ambiguous email.
    assert summary_counts(again.stdout) == {
        "pairs identical": 2,
        "pairs differing": 2,
        "only in A": 1,
        "only in B": 0,
        "ambiguous": 3,
    }


def test_fields_restrict_what_is_compared_and_written(world: World) -> None:
    seed_re_and_mailchimp(world)
    report = world.folder / "names.csv"

    result = world.align(
        "re_to_mc",
        "--back",
        "mc_to_re",
        "--fields",
        "first_name",
        "--apply",
        "source",
        "--report",
        str(report),
    )

    assert result.exit_code == 0, result.output
    differs = [r for r in read_csv(report) if r["kind"] == "differs"]
    assert [(r["field"], r["a_value"], r["b_value"]) for r in differs] == [
        ("first_name", "Cy", "Cyrus")
    ]
    held = members(world.mc)
    assert held["cy@example.org"]["merge_fields"]["FNAME"] == "Cy"
    # Not compared, so not written: Bo's last name and Cy's CONSID stay.
    assert held["bo@example.org"]["merge_fields"]["LNAME"] == "Nguyen"
    assert not held["cy@example.org"]["merge_fields"].get("CONSID")
    # A record only in A is still created whole.
    assert held["di@example.org"]["merge_fields"]["CONSID"] == "8004"


def test_rejected_and_failed_records_are_reported_with_their_reason(world: World) -> None:
    world.seed_re(
        {"lookup_id": "8002", "first": "Bo", "last": "Ng", "email": "bo@example.org"},
        {"lookup_id": "8009", "first": "Hal", "last": "Nomail"},
    )
    mailchimp_helpers.seed_members(
        world.mc, member("bo@example.org", consid="8002", FNAME="Bo", LNAME="Nguyen")
    )
    # Mailchimp refuses every member update (a permanent error: the batch is then written one
    # record at a time); Hal has no email, which the sink rejects before any call.
    world.mc.faults.add(FaultRule(kind="error", status=403, method="PUT"))
    report = world.folder / "problems.csv"

    result = world.align(
        "re_to_mc", "--back", "mc_to_re", "--apply", "source", "--report", str(report)
    )

    assert result.exit_code == 1
    problems = {r["kind"]: r for r in read_csv(report) if r["kind"] in ("rejected", "failed")}
    assert set(problems) == {"rejected", "failed"}
    assert problems["rejected"]["b_key"] == ""
    assert "a member cannot be created without one" in problems["rejected"]["reason"]
    assert problems["failed"]["b_key"] == h("bo@example.org")
    assert "403" in problems["failed"]["reason"]
    assert "Not written" in result.stdout
    assert members(world.mc)["bo@example.org"]["merge_fields"]["LNAME"] == "Nguyen"
    assert len(members(world.mc)) == 1


def test_writing_stops_when_retries_run_out(world: World) -> None:
    ids = seed_re_and_mailchimp(world)
    # Every member update answers 503, more often than the connection retries (3 tries).
    world.mc.faults.add(FaultRule(kind="error", status=503, method="PUT"))
    report = world.folder / "stopped.csv"

    result = world.align(
        "re_to_mc", "--back", "mc_to_re", "--apply", "source", "--report", str(report)
    )

    assert result.exit_code == 1
    failed = {r["a_key"]: r["reason"] for r in read_csv(report) if r["kind"] == "failed"}
    # Bo and Cy were the first batch (batch_size 2); Di's create came after and was not tried.
    assert set(failed) == {ids["8002"], ids["8003"], ids["8004"]}
    assert failed[ids["8002"]].startswith("writing stopped after an error: ")
    assert failed[ids["8004"]].startswith("not written: writing stopped after an error: ")
    assert "di@example.org" not in members(world.mc)


def test_a_transient_error_is_retried(world: World) -> None:
    world.seed_re({"lookup_id": "8002", "first": "Bo", "last": "Ng", "email": "bo@example.org"})
    mailchimp_helpers.seed_members(
        world.mc, member("bo@example.org", consid="8002", FNAME="Bo", LNAME="Nguyen")
    )
    world.mc.faults.add(FaultRule(kind="error", status=503, method="PUT", times=1))
    world.mc.faults.add(FaultRule(kind="rate_limit", retry_after=0, method="GET", times=1))

    result = world.align("re_to_mc", "--back", "mc_to_re", "--apply", "source")

    assert result.exit_code == 0, result.output
    assert members(world.mc)["bo@example.org"]["merge_fields"]["LNAME"] == "Ng"


def test_a_side_that_cannot_be_read_writes_nothing(world: World) -> None:
    world.seed_re({"lookup_id": "8004", "first": "Di", "last": "Evans", "email": "di@example.org"})
    bad_key = "ffffffffffffffffffffffffffffffff-us6"
    env = {**world.env, "SYNCFRAME_MC_API_KEY": bad_key}

    result = world.align("re_to_mc", "--back", "mc_to_re", "--apply", "source", env=env)

    assert result.exit_code == 1
    assert "refused the API key" in result.stderr
    assert bad_key not in result.stdout + result.stderr
    assert "nothing was written" in result.stdout
    assert members(world.mc) == {}


def test_records_the_flow_mapping_refuses_are_reported_not_compared(world: World) -> None:
    ids = world.seed_re(
        {"lookup_id": "8002", "first": "Bo", "last": "Ng", "email": "bo@example.org"},
        {"lookup_id": "8009", "first": "Hal", "last": "Nomail"},
    )
    mailchimp_helpers.seed_members(
        world.mc, member("bo@example.org", consid="8002", FNAME="Bo", LNAME="Nguyen")
    )
    report = world.folder / "checked.csv"

    result = world.align("re_to_mc_checked", "--back", "mc_to_re", "--report", str(report))

    assert result.exit_code == 0, result.output
    assert "not comparable (mapping refused)" in result.stdout
    [refused] = [r for r in read_csv(report) if r["kind"] == "rejected"]
    assert refused["a_key"] == ids["8009"]
    assert refused["reason"].startswith(
        "flow 're_to_mc_checked''s mapping refused it, so it was not compared: "
    )
    assert "'email'" in refused["reason"]

    applied = world.align("re_to_mc_checked", "--back", "mc_to_re", "--apply", "source")

    # Bo is written; Hal could not be aligned, so the exit code says not all went well.
    assert applied.exit_code == 1
    assert members(world.mc)["bo@example.org"]["merge_fields"]["LNAME"] == "Ng"
    assert len(members(world.mc)) == 1


def test_target_values_go_back_through_the_back_flow_mapping(world: World) -> None:
    seed_re_and_mailchimp(world)

    result = world.align(
        "re_to_mc", "--back", "mc_to_re_nicknames", "--fields", "first_name", "--apply", "target"
    )

    # Eve, only in Mailchimp, cannot be created: this back flow's mapping carries no last name.
    assert result.exit_code == 1
    assert "last_name is needed to create a constituent" in result.stdout
    assert "eve@example.org" not in world.re_by_email()
    held = world.re_by_lookup()
    # The back flow keeps Mailchimp's first name as RE's nickname (preferred_name).
    assert (held["8003"]["first"], held["8003"]["preferred_name"]) == ("Cy", "Cyrus")
    assert held["8002"].get("preferred_name") in (None, "")


# ---- RE NXT <-> Salesforce ----------------------------------------------------------------------


def test_re_and_salesforce_align_salesforce_wins(world: World) -> None:
    ids = world.seed_re(
        {"lookup_id": "9001", "first": "Ann", "last": "Lee", "email": "ann@example.org"},
        {"lookup_id": "9002", "first": "Bo", "last": "Ng", "email": "bo@example.org"},
        {"lookup_id": "9003", "first": "Cy", "last": "Ito", "email": "cy@example.org"},
    )
    sf = world.sf
    identical = {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.org"}
    sf.add_contact({EXTERNAL_ID_FIELD: "9001", **identical})
    bo = sf.add_contact(
        {
            EXTERNAL_ID_FIELD: "9002",
            "FirstName": "Bo",
            "LastName": "Ng",
            "Email": "bo@example.org",
            "MailingCity": "Leeds",
        }
    )
    # Two Contacts share Cy's email (in other case) and hold no constituent id: RE's Cy could
    # be either, so all three are ambiguous.
    twin_a = sf.add_contact({"FirstName": "Cy", "LastName": "Ito", "Email": "cy@example.org"})
    twin_b = sf.add_contact({"FirstName": "Cyd", "LastName": "Ito", "Email": "CY@example.org"})
    new = sf.add_contact({"FirstName": "Eve", "LastName": "Moss", "Email": "eve@example.org"})
    report = world.folder / "sf.csv"

    result = world.align(
        "re_to_sf", "--back", "sf_to_re", "--apply", "target", "--report", str(report)
    )

    assert result.exit_code == 0, result.output
    rows = without_reason(read_csv(report))
    assert rows == {
        ("differs", ids["9002"], bo, "city", "", "Leeds"),
        ("only_in_b", "", new, "", "", ""),
        ("ambiguous", ids["9003"], "", "email", "cy@example.org", ""),
        ("ambiguous", "", twin_a, "email", "", "cy@example.org"),
        ("ambiguous", "", twin_b, "email", "", "CY@example.org"),
    }
    held = world.re_by_lookup()
    bo_addresses = held["9002"]["addresses"]
    assert [a["city"] for a in bo_addresses if a.get("preferred")] == ["Leeds"]
    eve = world.re_by_email()["eve@example.org"]
    assert (eve["first"], eve["last"]) == ("Eve", "Moss")
    assert len(held) == 4

    report_again = world.folder / "sf_again.csv"
    again = world.align("re_to_sf", "--back", "sf_to_re", "--report", str(report_again))

    # Eve was created in RE, which gave her a constituent id Salesforce does not hold yet.
    assert summary_counts(again.stdout) == {
        "pairs identical": 2,
        "pairs differing": 1,
        "only in A": 0,
        "only in B": 0,
        "ambiguous": 3,
    }
    eve_id = world.re_by_email()["eve@example.org"]["lookup_id"]
    [left] = [r for r in read_csv(report_again) if r["kind"] == "differs"]
    assert (left["b_key"], left["field"], left["a_value"], left["b_value"]) == (
        new,
        "constituent_id",
        eve_id,
        "",
    )

    # RE wins for what is left: Salesforce's Eve gets her constituent id.
    final = world.align("re_to_sf", "--back", "sf_to_re", "--apply", "source")

    assert final.exit_code == 0
    assert salesforce_helpers.by_constituent(world.sf)[eve_id]["Id"] == new


def test_re_and_salesforce_align_re_wins(world: World) -> None:
    world.seed_re(
        {"lookup_id": "9002", "first": "Bo", "last": "Ng", "email": "bo@example.org"},
        {"lookup_id": "9004", "first": "Di", "last": "Evans", "email": "di@example.org"},
    )
    sf = world.sf
    bo = sf.add_contact({"FirstName": "Bob", "LastName": "Ng", "Email": "bo@example.org"})

    result = world.align("re_to_sf", "--back", "sf_to_re", "--apply", "source")

    assert result.exit_code == 0, result.output
    contacts = salesforce_helpers.by_constituent(sf)
    assert contacts["9002"]["Id"] == bo  # found by email, now bound to its constituent
    assert contacts["9002"]["FirstName"] == "Bo"
    assert contacts["9004"]["Email"] == "di@example.org"
    assert len(salesforce_helpers.live_contacts(sf)) == 2


# ---- what the operator can get wrong ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--back", "mc_to_re"], "no flow named 'nope' (FLOW); flows: re_to_mc"),
        (["re_to_mc", "--back", "nope"], "no flow named 'nope' (--back)"),
        (["re_to_mc", "--back", "re_to_mc"], "--back names 're_to_mc' again"),
        (
            ["re_to_mc", "--back", "sf_to_re"],
            "flows 're_to_mc' and 'sf_to_re' do not pair: 're_to_mc' reads connection 're' "
            "(re_nxt) and writes connection 'mc' (mailchimp), but 'sf_to_re' reads connection "
            "'sf' (salesforce)",
        ),
        (["re_to_mc", "--back", "re_to_sf"], "do not pair"),
        (["unmatched_re_to_mc", "--back", "mc_to_re"], "has no key_cascade matcher"),
        (["re_to_mc", "--back", "mc_events"], "takes webhooks"),
        (["re_to_mc", "--back", "mc_to_re", "--fields", " , "], "--fields: give field names"),
        (["re_to_mc", "--back", "mc_to_re", "--fields", "frist_name"], "'frist_name'"),
        (["re_to_mc", "--back", "mc_to_re", "--report", "/no/such/dir/a.csv"], "does not exist"),
        (["re_to_mc", "--back", "mc_to_re", "--apply", "both"], "'both' is not one of"),
    ],
)
def test_user_errors_exit_2_with_a_clear_message(
    world: World, args: list[str], message: str
) -> None:
    world.seed_re({"lookup_id": "8001", "first": "Ann", "last": "Lee", "email": "ann@example.org"})

    result = world.align(*args)

    assert result.exit_code == 2
    assert message in " ".join((result.stdout + result.stderr).split())
    assert members(world.mc) == {}


def test_a_broken_flow_file_exits_2_naming_the_problem(world: World) -> None:
    world.path.write_text(CONNECTIONS + FLOWS + "\n[flows.extra]\nsource = 3\n", encoding="utf-8")

    result = world.align("re_to_mc", "--back", "mc_to_re")

    assert result.exit_code == 2
    assert "flows.extra.source" in result.stderr


def test_rows_caps_the_screen_not_the_report(world: World) -> None:
    seed_re_and_mailchimp(world)
    report = world.folder / "all.csv"

    result = world.align("re_to_mc", "--back", "mc_to_re", "--rows", "2", "--report", str(report))

    assert result.exit_code == 0
    assert "… and 6 more rows (--rows 0 shows all; --report writes all)" in result.stdout
    assert len(read_csv(report)) == 8


def test_report_cells_a_spreadsheet_would_run_stay_text(world: World) -> None:
    world.seed_re({"lookup_id": "8002", "first": "Bo", "last": "Ng", "email": "bo@example.org"})
    mailchimp_helpers.seed_members(
        world.mc,
        member("bo@example.org", consid="8002", FNAME='=HYPERLINK("http://x.example")', LNAME="Ng"),
    )
    report = world.folder / "safe.csv"

    result = world.align("re_to_mc", "--back", "mc_to_re", "--report", str(report))

    assert result.exit_code == 0
    [row] = read_csv(report)
    assert row["b_value"] == '\'=HYPERLINK("http://x.example")'
    assert [spreadsheet_safe(v) for v in ("+44 113 496 0000", "-5", "+cmd|x", "@SUM(A1)")] == [
        "+44 113 496 0000",
        "-5",
        "'+cmd|x",
        "'@SUM(A1)",
    ]


def test_secret_setting_values_are_masked(world: World) -> None:
    host = Host(plugins=[SidesPlugin()], entry_points=False)
    mask = SecretMask(load_config(world.path, host.registry, environ=world.env))

    masked = mask("refused: " + " / ".join(world.secrets))

    assert masked == "refused: " + " / ".join(["***"] * len(world.secrets))


def test_the_plugin_adds_the_command() -> None:
    app = build_app(Host(plugins=[smartsync_plugin], entry_points=False))

    result = CliRunner().invoke(app, ["align", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    assert "--back" in result.stdout
    assert "--apply" in result.stdout
