"""Raiser's Edge NXT, Mailchimp and Salesforce (three simulators, one clock), the SmartSYNC-style
example flow file around them, and the ways a test drives and reads the three systems. Shared
by the SmartSYNC end-to-end tests (``test_smartsync.py``) and the kill -9 test
(``test_smartsync_kill.py``).

Two layers:

* :class:`Systems`: the three simulators on one clock, set up as the example flow file expects
  (the SKY application and its authorization, the audience with its ``CONSID`` merge field, the
  Salesforce connected app and its integration user, the RE mailing list paired with the
  audience), what people do in each system (RE web view edits and consents, a Mailchimp contact
  editing their profile, unsubscribing or signing up, Salesforce UI edits) and reading back what
  each holds. It needs no engine, so the kill test can serve the simulators on sockets and run
  ``syncframe run`` in another process.
* :class:`SyncWorld`: ``Systems`` plus the example flow file (:func:`flow_document`) and an
  :class:`~syncframe.engine.Engine` whose HTTP transport routes by host to each simulator. The
  engine's waits (retries, the scheduler) move the shared clock instead of sleeping, and what
  people do meanwhile (``happenings``) happens at its time.

**The flow file** is ``examples/smartsync/flows.toml`` as shipped, read and written back as YAML
(the loader takes both) with only these changes: each connection's address points at its
simulator; the ``account`` connection and flows triggered by the real-time API are left out (the
lead wires that API); the example's ``mailing-list`` placeholder becomes the id of the RE list
the world made; each polling event step gets ``since`` = the time the flows were switched on
(after the initial alignment, as docs/smartsync/*.md advise); and the core's ``rate_limit`` of
the RE connection is dropped, because the core's token bucket waits in real time while these
tests run on a manual clock (the simulator's own limit is off). ``customize`` changes more.

**The mailing list** stands for RE's *dynamic* constituent list paired with the audience: RE
re-evaluates such a list by its query; the world does the same before every run by making every
constituent with an active email address a member (:meth:`Systems.refresh_mailing_list`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import yaml
from mailchimp_simulator import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    MailchimpSimulator,
    subscriber_hash,
)
from mailchimp_simulator.sample import CONSID_FIELD
from re_nxt_simulator import DEFAULT_SUBSCRIPTION_KEY, ReNxtSimulator
from re_nxt_simulator.inputs import ConsentAdd, ConstituentAdd, ConstituentEdit, SolicitCodeAdd
from salesforce_simulator import SalesforceSimulator
from syncframe_smartsync import plugin as smartsync_plugin
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.clock import Clock, ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.state.base import OutcomeRow
from tests.e2e.conftest import Result
from tests.e2e.raisedonors_virtuous_world import HostRouter

__all__ = [
    "EXAMPLE_FLOW_FILE",
    "FLOWS",
    "LIST_ID",
    "MC",
    "MC_TO_RE",
    "RE",
    "REPO",
    "RE_TO_MC",
    "SEEDED_AT",
    "SF",
    "SF_TO_RE",
    "START",
    "Customize",
    "Happening",
    "HostRouter",
    "Person",
    "SyncWorld",
    "Systems",
    "action_step",
    "event_step",
    "flow_document",
    "only_rows",
    "subscriber_hash",
    "sync_world",
]

REPO: Final = Path(__file__).resolve().parents[2]
#: The flow file the tests run, as shipped.
EXAMPLE_FLOW_FILE: Final = REPO / "examples" / "smartsync" / "flows.toml"
#: The example's flows these tests run, and its connections.
RE_TO_MC: Final = "re_to_mailchimp"
MC_TO_RE: Final = "mailchimp_to_re"
SF_TO_RE: Final = "salesforce_to_re"
FLOWS: Final = (RE_TO_MC, MC_TO_RE, SF_TO_RE)
RE: Final = "raisers_edge"
MC: Final = "mailchimp"
SF: Final = "salesforce"
_SYSTEMS: Final = {RE: "re_nxt", MC: "mailchimp", SF: "salesforce"}
#: The Mailchimp audience of the example (the simulator's default audience has this id).
LIST_ID: Final = DEFAULT_LIST_ID
#: The example's placeholder for the RE list paired with the audience.
MAILING_LIST_PLACEHOLDER: Final = "mailing-list"
#: When both sides were aligned (the seeded records' time) and when the flows were switched on.
SEEDED_AT: Final = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
START: Final = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# The sync's credentials (given through the environment); none may show in any output.
RE_CLIENT_SECRET: Final = "re-app-s3cret-never-shown"
SF_CLIENT_SECRET: Final = "sf-consumer-s3cret-never-shown"
SF_USER: Final = "smartsync@example.org"
SF_PASSWORD: Final = "Sf-e2e-Pa55-never-shown"


def _example() -> dict[str, Any]:
    with EXAMPLE_FLOW_FILE.open("rb") as handle:
        return tomllib.load(handle)


def _client_id(connection: str) -> str:
    client_id = _example()["connections"][connection]["client_id"]
    assert isinstance(client_id, str), f"{EXAMPLE_FLOW_FILE}: connections.{connection}.client_id"
    return client_id


# ---- the flow file ------------------------------------------------------------------------------


def flow_document(
    *,
    re_url: str,
    mailchimp_url: str,
    salesforce_url: str,
    mailing_list_id: str,
    since: datetime | None,
) -> dict[str, Any]:
    """The example flow file as a document, pointed at the simulators (module docstring)."""
    document = _example()
    connections: dict[str, Any] = document["connections"]
    for name, system in _SYSTEMS.items():
        found = connections.get(name, {}).get("system")
        if found != system:
            raise AssertionError(f"{EXAMPLE_FLOW_FILE}: connections.{name} is not a {system}")
    document["connections"] = {name: connections[name] for name in _SYSTEMS}
    raisers_edge = document["connections"][RE]
    raisers_edge["api_url"] = raisers_edge["oauth_url"] = re_url
    raisers_edge.pop("rate_limit", None)  # real-time token bucket: see the module docstring
    document["connections"][MC]["base_url"] = mailchimp_url
    document["connections"][SF]["login_url"] = salesforce_url
    flows: dict[str, Any] = document["flows"]
    missing = [name for name in FLOWS if name not in flows]
    if missing:
        raise AssertionError(f"{EXAMPLE_FLOW_FILE} no longer has the flows {missing}")
    document["flows"] = {name: flows[name] for name in FLOWS}
    for name in FLOWS:
        for step in document["flows"][name]["steps"]:
            for key in ("list_id", "within_list"):
                if step.get(key) == MAILING_LIST_PLACEHOLDER:
                    step[key] = mailing_list_id
        if since is not None:
            event_step(document, name)["since"] = since.isoformat()
    document["state"] = {"url": "sqlite:///state.db"}
    return document


def _steps(document: Mapping[str, Any], flow: str, kind: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = document["flows"][flow]["steps"]
    return [step for step in steps if step["step"] == kind]


def event_step(document: Mapping[str, Any], flow: str) -> dict[str, Any]:
    """The event step of ``flow`` in ``document`` (to change it in place)."""
    [step] = _steps(document, flow, "event")
    return step


def action_step(document: Mapping[str, Any], flow: str) -> dict[str, Any]:
    """The action step of ``flow``."""
    [step] = _steps(document, flow, "action")
    return step


# ---- transport ----------------------------------------------------------------------------------


# HostRouter: the RaiseDonors <-> Virtuous world's (each host to its simulator's transport).


# ---- the three systems --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in RE and (when aligned) in the audience: the constituent's system record id,
    its Constituent ID (the CONSID binding key), names and email."""

    record_id: str
    constituent_id: str
    first: str
    last: str
    email: str


class Systems:
    """The three simulators on one clock, set up as the example flow file expects, with what
    people do in each and ways to read each back. No engine: see :class:`SyncWorld`.

    ``clock`` is shared by the three (default: a manual clock at :data:`SEEDED_AT`; the kill
    test serves them on sockets with real time, ``SystemClock()``)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or ManualClock(SEEDED_AT)
        self.re = ReNxtSimulator(clock=self.clock)
        self.mailchimp = MailchimpSimulator(clock=self.clock)
        self.salesforce = SalesforceSimulator(clock=self.clock)
        self.re_client_id = _client_id(RE)
        self.sf_client_id = _client_id(SF)
        with self.re.lock:
            # The SKY application the example names, authorized once by a person.
            self.re.auth.add_application(
                self.re_client_id, RE_CLIENT_SECRET, ("http://localhost:5000/auth/callback",)
            )
            self.mailing_list_id = self.re.store.add_list("Mailing list", []).id
        self.refresh_token = self.re.issue_tokens(self.re_client_id).refresh_token
        self.mailchimp.seed_records({"lists": [{"id": LIST_ID, "merge_fields": [CONSID_FIELD]}]})
        self.salesforce.add_user(SF_USER, SF_PASSWORD, name="SmartSYNC")
        self.salesforce.add_connected_app(
            self.sf_client_id, SF_CLIENT_SECRET, name="SmartSYNC", run_as=SF_USER
        )

    @property
    def environ(self) -> dict[str, str]:
        """The secrets of the example flow file, as the environment gives them."""
        return {
            "SYNCFRAME_RAISERS_EDGE_CLIENT_SECRET": RE_CLIENT_SECRET,
            "SYNCFRAME_RAISERS_EDGE_REFRESH_TOKEN": self.refresh_token,
            "SYNCFRAME_RAISERS_EDGE_SUBSCRIPTION_KEY": DEFAULT_SUBSCRIPTION_KEY,
            "SYNCFRAME_MAILCHIMP_API_KEY": DEFAULT_API_KEY,
            "SYNCFRAME_SALESFORCE_CLIENT_SECRET": SF_CLIENT_SECRET,
        }

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        """Each simulator's in-process transport by its host."""
        return {
            httpx.URL(sim.base_url).host: sim.transport()
            for sim in (self.re, self.mailchimp, self.salesforce)
        }

    def now(self) -> datetime:
        return self.clock.now()

    # ---- the initial alignment -----------------------------------------------------------------
    def add_aligned(
        self,
        first: str,
        last: str,
        email: str,
        constituent_id: str,
        *,
        consents: Sequence[str | None] = (None, "All communications"),
        with_consid: bool = True,
    ) -> Person:
        """Someone both sides hold alike, as the one-off alignment leaves them, last changed
        now: a constituent in RE opted in to Email (an opt-in for each of ``consents``: None is
        the channel's own, else a category), a subscribed member with the same names in the
        audience, with the Constituent ID in ``CONSID`` unless ``with_consid`` is false."""
        when = self.clock.now().isoformat()
        responses: list[dict[str, Any]] = []
        for category in consents:
            response = {
                "channel": "Email",
                "constituent_consent_response": "OptIn",
                "consent_date": when,
            }
            if category is not None:
                response["category"] = category
            responses.append(response)
        made = self.re.seed_records(
            {
                "constituents": [
                    {
                        "type": "Individual",
                        "first": first,
                        "last": last,
                        "lookup_id": constituent_id,
                        "date_added": when,
                        "date_modified": when,
                        "email_addresses": [{"address": email, "type": "Email", "primary": True}],
                        "consents": responses,
                    }
                ]
            }
        )
        [record] = made["constituents"]
        self.mailchimp.seed_records(
            {
                "lists": [
                    {
                        "id": LIST_ID,
                        "members": [
                            {
                                "email_address": email,
                                "status": "subscribed",
                                "merge_fields": {
                                    "FNAME": first,
                                    "LNAME": last,
                                    **({"CONSID": constituent_id} if with_consid else {}),
                                },
                                "last_changed": when,
                            }
                        ],
                    }
                ]
            }
        )
        self.refresh_mailing_list()
        return Person(record["id"], constituent_id, first, last, email)

    # ---- Raiser's Edge NXT: what people do in the web view -----------------------------------
    def refresh_mailing_list(self) -> None:
        """Re-evaluate the dynamic mailing list: every constituent with an active email."""
        with self.re.lock:
            store = self.re.store
            members = [
                cid
                for cid in store.constituents
                if any(not e.inactive for e in store.emails_of(cid, include_inactive=False))
            ]
            store.set_list_members(self.mailing_list_id, members)

    def re_edit(self, record_id: str, **profile: Any) -> None:
        """Someone edits the constituent's profile in RE (``first``, ``last``,
        ``preferred_name``...)."""
        with self.re.lock:
            self.re.store.edit_constituent(record_id, ConstituentEdit.model_validate(profile))

    def re_add(self, **body: Any) -> str:
        """Someone adds an individual in RE; its system record id."""
        body.setdefault("type", "Individual")
        with self.re.lock:
            return self.re.store.create_constituent(ConstituentAdd.model_validate(body)).id

    def re_consent(self, record_id: str, response: str, category: str | None = None) -> None:
        """Someone records an Email consent response in RE (``category`` None: the channel's)."""
        body: dict[str, Any] = {
            "constituent_id": record_id,
            "channel": "Email",
            "constituent_consent_response": response,
            "consent_date": self.clock.now(),
        }
        if category is not None:
            body["category"] = category
        with self.re.lock:
            self.re.store.add_consent(ConsentAdd.model_validate(body), actor="re.user")

    def re_solicit_code(self, record_id: str, code: str) -> None:
        """Someone gives the constituent a solicit code in RE."""
        with self.re.lock:
            self.re.store.add_solicit_code(
                SolicitCodeAdd.model_validate({"constituent_id": record_id, "solicit_code": code})
            )

    # ---- Raiser's Edge NXT: reading -------------------------------------------------------------
    def constituents(self) -> list[dict[str, Any]]:
        """Every constituent with all its records, as the admin state shows them."""
        with self.re.lock:
            found: list[dict[str, Any]] = self.re.store.snapshot()["constituents"]
            return found

    def constituent(self, record_id: str) -> dict[str, Any]:
        for record in self.constituents():
            if record["id"] == record_id:
                return record
        raise AssertionError(f"no constituent {record_id} in RE")

    def constituents_with_email(self, email: str) -> list[dict[str, Any]]:
        """Constituents holding ``email`` (any of their addresses, case ignored)."""
        wanted = email.lower()
        return [
            c
            for c in self.constituents()
            if any(e["address"].lower() == wanted for e in c["email_addresses"])
        ]

    @staticmethod
    def primary_email(constituent: Mapping[str, Any]) -> str | None:
        for email in constituent["email_addresses"]:
            if email.get("primary") and not email.get("inactive"):
                address: str = email["address"]
                return address
        return None

    @staticmethod
    def current_solicit_codes(constituent: Mapping[str, Any], now: datetime) -> list[str]:
        """The solicit codes the constituent holds now (not ended)."""
        codes: list[str] = []
        for code in constituent["solicit_codes"]:
            end = code.get("end_date")
            if end is None or datetime.fromisoformat(end) > now:
                codes.append(code["solicit_code"])
        return codes

    # ---- Mailchimp: what contacts and account users do ----------------------------------------
    async def _mailchimp_admin(self, path: str, payload: Any = None) -> Any:
        async with self.mailchimp.admin() as admin:
            return await admin.post(f"mailchimp/lists/{LIST_ID}/{path}", payload)

    async def mc_profile(self, email: str, **merge_fields: Any) -> None:
        """The contact edits their profile on the update-profile page."""
        await self._mailchimp_admin(
            f"members/{subscriber_hash(email)}/profile", {"merge_fields": merge_fields}
        )

    async def mc_unsubscribe(self, email: str) -> None:
        """The contact clicks "unsubscribe" in a campaign."""
        await self._mailchimp_admin(
            f"members/{subscriber_hash(email)}/unsubscribe", {"reason": "manual"}
        )

    async def mc_signup(self, email: str, **merge_fields: Any) -> None:
        """Someone fills in the hosted sign-up form (a former contact comes back subscribed)."""
        await self._mailchimp_admin(
            "signup", {"email_address": email, "merge_fields": merge_fields}
        )

    # ---- Mailchimp: reading ---------------------------------------------------------------------
    def members(self) -> dict[str, dict[str, Any]]:
        """The audience's members by email (lower case), as the simulator holds them."""
        [audience] = [a for a in self.mailchimp.snapshot()["lists"] if a["id"] == LIST_ID]
        return {m["email_address"].lower(): m for m in audience["members"]}

    def member(self, email: str) -> dict[str, Any]:
        found = self.members().get(email.lower())
        if found is None:
            raise AssertionError(f"no member {email} in the audience")
        return found

    # ---- Salesforce ---------------------------------------------------------------------------
    def sf_add(self, **fields: Any) -> str:
        """Someone adds a Contact in Salesforce; its Id."""
        return self.salesforce.add_contact(dict(fields))

    def sf_edit(self, contact_id: str, **fields: Any) -> None:
        """Someone edits a Contact in Salesforce."""
        self.salesforce.edit_contact(contact_id, dict(fields))

    def sf_contact(self, contact_id: str) -> dict[str, Any]:
        for contact in self.salesforce.snapshot()["contacts"]:
            if contact["Id"] == contact_id:
                found: dict[str, Any] = contact
                return found
        raise AssertionError(f"no Contact {contact_id} in Salesforce")


# ---- the sync itself ----------------------------------------------------------------------------

Customize = Callable[[dict[str, Any]], None]
#: Something a person does (a coroutine function for what goes through an admin API).
Happening = Callable[[], Awaitable[None] | None]


class SyncWorld(Systems):
    """:class:`Systems` with the example flow file and an engine on it. Build it with
    :func:`sync_world` (which closes the engine). The clock starts at :data:`SEEDED_AT`, when
    both sides were aligned; :meth:`switch_on` moves it to :data:`START`, when the flows'
    event steps begin to read (``since``)."""

    def __init__(self, folder: Path, *, customize: Customize | None = None) -> None:
        self.manual_clock = ManualClock(SEEDED_AT)
        super().__init__(self.manual_clock)
        self.folder = folder
        self.document = flow_document(
            re_url=self.re.base_url,
            mailchimp_url=self.mailchimp.base_url,
            salesforce_url=self.salesforce.base_url,
            mailing_list_id=self.mailing_list_id,
            since=START,
        )
        if customize is not None:
            customize(self.document)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "flows.yaml"
        self.path.write_text(yaml.safe_dump(self.document, sort_keys=False), encoding="utf-8")
        self.host = Host(plugins=[smartsync_plugin], entry_points=False)
        self.config = load_config(self.path, self.host.registry, environ=self.environ)
        #: Seconds the engine waited (retries, the scheduler): they move the clock instead.
        self.waits: list[float] = []
        #: What people do while the engine waits: (when, action), run when the clock passes it.
        self.happenings: list[tuple[datetime, Happening]] = []
        self.engine = Engine(
            self.config,
            self.host,
            clock=self.clock,
            transport=HostRouter(self.transports()),
            sleep=self._wait,
        )

    async def _wait(self, seconds: float) -> None:
        # Waits pass on the simulated clock: Retry-After is honoured without sleeping, and a
        # schedule's periods pass at once. What people do meanwhile happens at its time.
        self.waits.append(seconds)
        until = self.clock.now() + timedelta(seconds=seconds)
        while self.happenings and min(at for at, _ in self.happenings) <= until:
            due = min(self.happenings, key=lambda happening: happening[0])
            self.happenings.remove(due)
            self.manual_clock.set(max(due[0], self.clock.now()))
            done = due[1]()
            if done is not None:
                await done
        self.manual_clock.set(until)

    def close(self) -> None:
        self.engine.close()

    # ---- time ------------------------------------------------------------------------------------
    def switch_on(self) -> datetime:
        """The flows are switched on: the clock moves to :data:`START`."""
        self.manual_clock.set(START)
        return START

    def advance(self, **delta: float) -> datetime:
        """Time passes (``minutes=40``); the new time."""
        return self.manual_clock.advance(timedelta(**delta))

    # ---- running the flows -----------------------------------------------------------------------
    async def run(self, flow: str) -> RunReport:
        """One run of ``flow`` (what ``syncframe serve`` runs on its schedule)."""
        self.refresh_mailing_list()
        report = await self.engine.run_flow(flow)
        assert report.summary.status == "succeeded", f"{flow}: {report.summary}"
        return report

    async def tick(self) -> dict[str, RunReport]:
        """One poll of both directions of the RE NXT <-> Mailchimp sync, as ``syncframe serve``
        runs them when both are due: RE -> Mailchimp, then Mailchimp -> RE (file order)."""
        return {flow: await self.run(flow) for flow in (RE_TO_MC, MC_TO_RE)}

    # ---- run history -------------------------------------------------------------------------
    def rows(self, report: RunReport) -> list[OutcomeRow]:
        """What became of every record of a run (``syncframe runs show``)."""
        return list(self.engine.state.run_outcomes(report.run_id))

    def history(self, flow: str) -> list[OutcomeRow]:
        """Every record outcome of every run of ``flow``, oldest first."""
        state = self.engine.state
        runs = reversed(state.list_runs(flow=flow, limit=100_000))
        return [row for run in runs for row in state.run_outcomes(run.run_id)]

    def cli(self, *args: str) -> Result:
        """The ``syncframe`` command line in this process, on this world's flow file."""
        runner = CliRunner()
        # No COLUMNS: the tables get the width piped output gets (what people read in logs).
        env: dict[str, str | None] = {**self.environ, "COLUMNS": None}
        old = Path.cwd()
        os.chdir(self.folder)
        try:
            result = runner.invoke(
                build_app(self.host), list(args), env=env, catch_exceptions=False
            )
        finally:
            os.chdir(old)
        return Result(result.exit_code, result.stdout, result.stderr, args)


@contextmanager
def sync_world(folder: Path, *, customize: Customize | None = None) -> Iterator[SyncWorld]:
    """A :class:`SyncWorld` in ``folder``, closed afterwards (the clock at :data:`SEEDED_AT`)."""
    world = SyncWorld(folder, customize=customize)
    try:
        yield world
    finally:
        world.close()


def only_rows(rows: Sequence[OutcomeRow], key: str) -> OutcomeRow:
    """The one row of ``rows`` for record ``key``."""
    found = [row for row in rows if row.record == key]
    assert len(found) == 1, f"{len(found)} rows for {key}: {rows}"
    return found[0]
