"""The RE connector step of ``syncframe demo``: a Raiser's Edge database, a Luminate Online site
and the connector machine between them, exchanging files through a real FTP server on loopback.

The pieces, all real: the Raiser's Edge simulator served on a loopback socket (the connector
reads it through its URL), the kit's FTP server with the site's ``demosite_ds`` account, the
Luminate simulator with the RE connector's data sync operation (``re_sync_v52.xml``, every 60
minutes, some On Demand switches on), and the connector machine itself: ``syncframe serve``'s app
for a flow file written into the step's folder, called by Luminate in-process. One manual clock
is shared by all of them; the demo moves it past the schedule and lets Luminate run what is due.

The story: the first scheduled run brings RE's constituents and code tables into Constituent360;
then people act in Luminate (a registration and a profile edit are pushed at once; gifts wait
for the next run, which sends the mapped ones and reports the skipped ones with their reasons);
the files wait in RE's import area until the client imports them; the run after that sends the
TeamRaiser gift skipped for its solicitor's missing Import ID. Last, the two documented errors by
their real causes: RE's database down, and the connector machine not reachable.
"""

from __future__ import annotations

import csv
import logging
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from anyio.lowlevel import checkpoint
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from luminate_simulator.app import LuminateSimulator
    from luminate_simulator.data_sync_model import OperationResult
    from raisers_edge_simulator import RaisersEdgeSimulator
    from syncframe_simulators import SimulatorAdmin
    from syncframe_simulators.file_server import FileServer

    from syncframe.clock import ManualClock
    from syncframe.config import LoadedConfig
    from syncframe.demo import DemoContext

__all__ = ["DemoOutcome", "re_connector_demo", "run_re_connector_demo"]

SEED: Final = 2026
START: Final = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Minutes between two scheduled runs of Luminate's data sync operation.
SCHEDULE_MINUTES: Final = 60
OPERATION_FILE_NAME: Final = "re_sync_v52.xml"
FTP_USER: Final = "demosite_ds"
RE_USER: Final = "syncframe_connector"
#: Demo secrets for simulators on loopback; real ones go in the environment or a .env file.
#: They are written to .env beside the flow file and must never show in the demo's output.
RE_PASSWORD: Final = "demo-re-pw-7Qx2"
FTP_PASSWORD: Final = "demo-ftp-pw-4Kd8"
CONNECTOR_KEY: Final = "demo-connector-key-9Ts5"
SECRETS: Final = (RE_PASSWORD, FTP_PASSWORD, CONNECTOR_KEY)
#: Where ``syncframe serve flows.toml --port 8765`` would answer; Luminate reaches the app
#: in-process here, so the port is only the address Luminate's operation holds.
CONNECTOR_URL: Final = "http://127.0.0.1:8765/re-connector"
#: On Demand switches of the operation: those listed are on, the others off (never all on).
SWITCHED_ON: Final = ("new_registration", "profile_viewed_or_modified")
SWITCHED_OFF: Final = (
    "cross_reference_mapping",
    "group_offline_segment",
    "teamraiser_registrations",
)

ENV_FILE: Final = """\
SYNCFRAME_RE_PASSWORD={re_password}
SYNCFRAME_LUMINATE_FTP_PASSWORD={ftp_password}
SYNCFRAME_RE_CONNECTOR_API_KEY={connector_key}
"""

FLOW_FILE: Final = """\
# Written by `syncframe demo`: the RE connector machine between a Raiser's Edge database
# (the simulator on {re_url}) and a Luminate Online site's data sync FTP account
# ({ftp_user} on {ftp_host}:{ftp_port}). Passwords and the connector key are read from .env
# beside this file.
#   syncframe re-connector check flows.toml
#   syncframe re-connector status flows.toml
[state]
url = "sqlite:///state.db"

[connections.re]
system = "raisers_edge"
url = "{re_url}"
user = "{re_user}"

[connections.luminate_ftp]
system = "luminate_ftp"
host = "{ftp_host}"
port = {ftp_port}
user = "{ftp_user}"
timeout = 10

[connections.re_connector]
system = "re_connector"
operation_file_name = "{operation_file_name}"

[flows.re_constituents]
description = "RE constituents changed since the last call -> re_N_constituents.csv"
source = {{ type = "re_constituents", connection = "re", email_phone_type = "Email" }}
sink = {{ type = "luminate_upload", connection = "luminate_ftp", file = "constituents" }}

[flows.re_code_tables]
description = "RE's Campaign, Fund and Appeal code tables -> re_N_codetables.csv"
source = {{ type = "re_code_tables", connection = "re" }}
sink = {{ type = "luminate_upload", connection = "luminate_ftp", file = "codetables" }}

[flows.luminate_to_re]
description = "Luminate's files in /download/ -> RE's import area"
source = {{ type = "luminate_download", connection = "luminate_ftp" }}
sink = {{ type = "re_import_area", connection = "re" }}
"""

#: The loggers that report a failure the demo causes on purpose.
_FAILURE_LOGGERS: Final = ("syncframe.engine", "syncframe.flow", "syncframe.re_connector")

CODE_TABLES: Final = (
    ("Campaign", "ANNUAL26", "Annual Fund 2026"),
    ("Campaign", "WALK26", "River Walk 2026"),
    ("Fund", "GENERAL", "General Operating"),
    ("Fund", "WALK", "River Walk"),
    ("Appeal", "WEB", "Online Giving"),
    ("Appeal", "SPONSOR", "Sponsor a Walker"),
)


@dataclass(frozen=True, slots=True)
class _Person:
    """A constituent of the demo's RE database."""

    first: str
    last: str | None
    email: str
    city: str
    solicitor: bool = False
    inactive: bool = False


# fmt: off
PEOPLE: Final = (
    _Person("Ann", "Lee", "ann.lee@example.org", "Austin"),
    _Person("Bo", "Kim", "bo.kim@example.org", "Boston"),
    _Person("Carmen", "Diaz", "carmen.diaz@example.org", "Denver"),
    _Person("Dan", "Okafor", "dan.okafor@example.org", "Portland", solicitor=True),
    _Person("Elena", "Rossi", "elena.rossi@example.org", "Seattle"),
    _Person("Farah", "Haddad", "farah.haddad@example.org", "Chicago"),
    _Person("Grace", "Ito", "grace.ito@example.org", "Madison"),
    _Person("Hana", "Novak", "hana.novak@example.org", "Raleigh"),
    _Person("Ivan", "Petrov", "ivan.petrov@example.org", "Tucson", inactive=True),
    _Person("Jin", "Park", "jin.park@example.org", "Richmond"),
    _Person("Cher", None, "cher@example.org", "Atlanta"),
    _Person("Kai", "Nakamura", "kai.nakamura@example.org", "Sacramento"),
)
# fmt: on
#: People who already registered on the Luminate site before the connector's first run (RE's
#: rows find them by email).
ALREADY_IN_LUMINATE: Final = ("ann.lee@example.org", "farah.haddad@example.org")
#: Who registers on the Luminate site during the demo (a River Walk participant).
NEW_WALKER: Final = {
    "FIRST_NAME": "Leila",
    "LAST_NAME": "Santos",
    "PRIMARY_EMAIL": "leila.santos@example.org",
}


@dataclass(slots=True)
class DemoOutcome:
    """What the demo step left behind, read back from the systems before they stopped."""

    summary: str
    flow_file: Path
    #: Every Operation Result as Luminate lists it (``to_json``), oldest first.
    results: list[dict[str, Any]]
    #: Constituent360 at the end (the simulator's records).
    luminate_constituents: list[dict[str, Any]]
    #: RE's import area at the end: ``{"name", "size", "received_at", "imported"}``.
    import_area: list[dict[str, Any]]
    #: RE's constituents (``render()``) and gifts (``render()``) at the end.
    re_constituents: list[dict[str, Any]]
    re_gifts: list[dict[str, Any]]
    #: The outcomes of the client's imports in RE (``render()``).
    imports: list[dict[str, Any]] = field(default_factory=list)


async def re_connector_demo(ctx: DemoContext) -> str:
    """Raiser's Edge <-> Luminate Online through the RE connector machine (needs the
    simulators); the one-line summary."""
    outcome = await run_re_connector_demo(ctx)
    return outcome.summary


async def run_re_connector_demo(ctx: DemoContext) -> DemoOutcome:
    """Run the step into ``ctx.workdir`` and read back what landed on each side."""
    # The simulators and their servers are only needed here, not to run the connector.
    import httpx
    from luminate_simulator.app import LuminateSimulator
    from raisers_edge_simulator import RaisersEdgeSimulator
    from syncframe_simulators import serve_in_thread
    from syncframe_simulators.file_server import FileServer

    from syncframe.clock import ManualClock
    from syncframe.config import load_config
    from syncframe.engine import Engine
    from syncframe.serve import service_app

    # One clock for RE, Luminate and the engine: RE stamps changes with it, the connector reads
    # "changed since" by it and Luminate's schedule fires by it.
    clock = ManualClock(START)

    async def waits_on_the_demo_clock(seconds: float) -> None:
        """The engine's waits between tries pass on the demo's clock, not in real time."""
        clock.advance(timedelta(seconds=seconds))
        await checkpoint()

    raisers_edge = RaisersEdgeSimulator(clock=clock, seed=SEED)
    _seed_raisers_edge(raisers_edge)
    luminate = LuminateSimulator(clock=clock, seed=SEED)
    with FileServer() as ftp, serve_in_thread(raisers_edge) as re_server:
        ftp.add_account(FTP_USER, FTP_PASSWORD)
        flow_path = ctx.workdir / "flows.toml"
        flow_path.write_text(
            FLOW_FILE.format(
                re_url=re_server.base_url,
                re_user=RE_USER,
                ftp_host=ftp.host,
                ftp_port=ftp.port,
                ftp_user=FTP_USER,
                operation_file_name=OPERATION_FILE_NAME,
            ),
            encoding="utf-8",
        )
        (ctx.workdir / ".env").write_text(
            ENV_FILE.format(
                re_password=RE_PASSWORD, ftp_password=FTP_PASSWORD, connector_key=CONNECTOR_KEY
            ),
            encoding="utf-8",
        )
        config = load_config(flow_path, ctx.host.registry)
        with Engine(config, ctx.host, clock=clock, sleep=waits_on_the_demo_clock) as engine:
            app = service_app(engine)
            async with app.router.lifespan_context(app):
                # Luminate calls the connector machine's API through the serve app itself.
                luminate.data_sync.http_transport = httpx.ASGITransport(app=app)
                story = _Story(ctx, clock, raisers_edge, luminate, luminate.admin(), ftp)
                try:
                    await story.set_up(re_server.base_url)
                    await story.check(config)
                    await story.first_cycle()
                    await story.luminate_activity()
                    await story.documented_errors()
                    return story.outcome(flow_path)
                finally:
                    await luminate.aclose()
                    luminate.reset()  # also removes the copies of its Available Files


def _seed_raisers_edge(raisers_edge: RaisersEdgeSimulator) -> None:
    """The client's RE database: a dozen constituents, a TeamRaiser solicitor, code tables."""
    from raisers_edge_simulator import Address, Phone

    with raisers_edge.lock:
        database = raisers_edge.database
        database.add_user(RE_USER, RE_PASSWORD)
        for table, code, description in CODE_TABLES:
            database.set_code(table, code, description)
        database.set_code("Fund", "BUILDING", "Building Fund (closed)", active=False)
        for number, person in enumerate(PEOPLE, start=1):
            database.add_constituent(
                first_name=person.first,
                last_name=person.last,
                addresses=[
                    Address(
                        type="Home",
                        street1=f"{number * 11} Main St",
                        city=person.city,
                        country="USA",
                        preferred=True,
                    )
                ],
                phones=[
                    Phone(type="Email", number=person.email),
                    Phone(type="Home", number=f"555-01{number:02d}"),
                ],
                is_solicitor=person.solicitor,
                inactive=person.inactive,
            )


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def _quiet_expected_failure() -> Iterator[None]:
    """Keep the engine's and the connector's warnings about a failure the demo causes on
    purpose out of its output (the Operation Result shows it); ``--log-level info`` or
    lower shows them."""
    if logging.getLogger().getEffectiveLevel() < logging.WARNING:
        yield
        return
    loggers = [logging.getLogger(name) for name in _FAILURE_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(slots=True)
class _Story:
    """The systems of the step, and what the demo does with them, stage by stage."""

    ctx: DemoContext
    clock: ManualClock
    raisers_edge: RaisersEdgeSimulator
    luminate: LuminateSimulator
    admin: SimulatorAdmin
    ftp: FileServer
    operation_id: int = 0
    #: Luminate ids of the demo's records, by what they are.
    forms: dict[str, int] = field(default_factory=dict)
    walk: int = 0
    walker: int = 0
    imports: list[dict[str, Any]] = field(default_factory=list)

    # ---- output --------------------------------------------------------------------------------

    def say(self, text: str, style: str = "") -> None:
        self.ctx.console.print(Text(text, style=style), soft_wrap=True, highlight=False)

    def show_result(self, result: OperationResult, what: str) -> None:
        """An Operation Result as Luminate lists it: status, messages, Available Files."""
        style = {"Completed": "green", "Failed": "bold red"}.get(result.status, "yellow")
        self.ctx.console.print(
            Text.assemble(
                f"{self.at()} {what}: Operation Result {result.result_id} ",
                (result.status, style),
                f" (trigger {result.trigger})",
            ),
            soft_wrap=True,
            highlight=False,
        )
        for message in result.messages:
            self.say(f"    {message}", "red" if result.status == "Failed" else "")
        if result.files:
            self.say("    Available Files: " + ", ".join(f.name for f in result.files), "dim")

    def at(self) -> str:
        return self.clock.now().strftime("%H:%M")

    # ---- the systems -----------------------------------------------------------------------------

    def constituent360(self) -> list[dict[str, Any]]:
        people: list[dict[str, Any]] = self.luminate.snapshot()["constituents"]
        return people

    def cons_id(self, person: _Person) -> int:
        """A Luminate constituent's CONS_ID, found by email."""
        for record in self.constituent360():
            if record["PRIMARY_EMAIL"] == person.email:
                cons_id: int = record["CONS_ID"]
                return cons_id
        raise RuntimeError(f"Luminate has no constituent {person.email}")

    def names(self) -> dict[str, str]:
        """Luminate's constituents' names by CONS_ID (as the files write it)."""
        return {
            str(p["CONS_ID"]): " ".join(n for n in (p["FIRST_NAME"], p["LAST_NAME"]) if n)
            for p in self.constituent360()
        }

    def import_area(self) -> list[dict[str, Any]]:
        with self.raisers_edge.lock:
            return [landed.render() for landed in self.raisers_edge.import_area.listed()]

    def re_counts(self) -> tuple[int, int]:
        """RE's constituents and gifts."""
        with self.raisers_edge.lock:
            database = self.raisers_edge.database
            return len(database.constituents), len(database.gifts)

    async def scheduled_run(self) -> OperationResult:
        """Move the clock past the schedule and let Luminate run what is due (one run)."""
        self.clock.advance(timedelta(minutes=SCHEDULE_MINUTES))
        results = await self.luminate.data_sync.run_due()
        if len(results) != 1:
            raise RuntimeError(f"expected one scheduled run at {self.at()}, got {len(results)}")
        return results[0]

    def pushed(self, answer: dict[str, Any]) -> OperationResult:
        """The Operation Result of the On Demand push an admin answer's ``on_demand`` names."""
        on_demand = answer.get("on_demand") or {}
        push = on_demand.get("push")
        if push is None:
            raise RuntimeError(f"expected an On Demand push, got {on_demand or answer}")
        return self.luminate.data_sync.result(int(push["result_id"]))

    def available_rows(self, result: OperationResult, name: str) -> list[dict[str, str]]:
        """The rows of one of a result's Available Files."""
        found = result.file(name)
        if found is None:
            raise RuntimeError(f"Operation Result {result.result_id} has no file {name}")
        return _rows(found.path)

    async def transaction(self, record_type: str, record: dict[str, Any]) -> int:
        made = await self.admin.post(f"/luminate/transactions/{record_type}", record)
        transaction_id: int = made["TransactionId"]
        return transaction_id

    async def associated(self, record_type: str, record: dict[str, Any]) -> int:
        made = await self.admin.post(f"/luminate/associated/{record_type}", record)
        return int(next(value for key, value in made.items() if key != "record_type"))

    # ---- 1. set up -------------------------------------------------------------------------------

    async def set_up(self, re_url: str) -> None:
        registered = [
            {"FIRST_NAME": p.first, "LAST_NAME": p.last, "PRIMARY_EMAIL": p.email}
            for p in PEOPLE
            if p.email in ALREADY_IN_LUMINATE
        ]
        await self.admin.seed({"constituents": registered})
        operation = self.luminate.data_sync.create_operation(
            {
                "name": "Raiser's Edge Connector",
                "operation_file_name": OPERATION_FILE_NAME,
                "schedule": {"every_minutes": SCHEDULE_MINUTES},
                "connector_url": CONNECTOR_URL,
                "connector_key": CONNECTOR_KEY,
                "ftp": {
                    "host": self.ftp.host,
                    "port": self.ftp.port,
                    "user": FTP_USER,
                    "password": FTP_PASSWORD,
                },
                "settings": {
                    **dict.fromkeys(SWITCHED_ON, True),
                    **dict.fromkeys(SWITCHED_OFF, False),
                },
            }
        )
        self.operation_id = operation.operation_id
        tables = ", ".join(
            f"{table} {sum(1 for t, _, _ in CODE_TABLES if t == table)}"
            for table in ("Campaign", "Fund", "Appeal")
        )
        self.say(
            f"Raiser's Edge on {re_url}: {len(PEOPLE)} constituents (a TeamRaiser solicitor, "
            f"one inactive, one without a last name), code tables {tables}"
        )
        self.say(
            f"FTP server {self.ftp.address}: the site's account {FTP_USER} (/upload/, /download/)"
        )
        self.say(
            f"Luminate Online: {len(registered)} constituents who registered online; the RE "
            f"connector's data sync {OPERATION_FILE_NAME}, every {SCHEDULE_MINUTES} min, "
            f"calling {CONNECTOR_URL} (syncframe serve flows.toml, in-process); On Demand on: "
            f"{', '.join(SWITCHED_ON)}; off: {', '.join(SWITCHED_OFF)}"
        )

    # ---- 2. is it the standard connector? ------------------------------------------------------

    async def check(self, config: LoadedConfig) -> None:
        from .cli import check_connector

        found = await check_connector(config)
        where = f"FTP server {found.ftp_address} (account {found.ftp_user})"
        reachable = f"not reachable: {found.ftp_error}" if found.ftp_error else "reachable"
        self.say(
            "syncframe re-connector check flows.toml: standard RE connector: "
            f"{'yes' if found.verdict.standard else 'no'} ({found.verdict.describe()}); "
            f"{where}: {reachable}; manifests placed by hand: "
            f"{', '.join(found.hand_placed) or 'none'}",
            "green" if found.ok else "bold red",
        )
        if not found.ok:
            raise RuntimeError("syncframe re-connector check found a problem (above)")

    # ---- 3. the first scheduled run ------------------------------------------------------------

    async def first_cycle(self) -> None:
        result = await self.scheduled_run()
        self.show_result(result, "scheduled run")
        people = self.constituent360()
        from_re = [p for p in people if p["EXCHANGE_ID"]]
        ann = next(p for p in people if p["PRIMARY_EMAIL"] == PEOPLE[0].email)
        self.say(
            f"    Constituent360: {len(people)} constituents, {len(from_re)} with RE's Import "
            f"ID as EXCHANGE_ID (RE's inactive constituent was not sent); e.g. "
            f"{ann['FIRST_NAME']} {ann['LAST_NAME']}: CONS_ID {ann['CONS_ID']}, MEMBER_ID "
            f"{ann['MEMBER_ID']} (RE Constituent ID), EXCHANGE_ID {ann['EXCHANGE_ID']}"
        )

    # ---- 4. people act in Luminate; their data waits in RE's import area ---------------------

    async def luminate_activity(self) -> None:
        await self.map_cross_references()
        await self.register_walker()
        await self.modify_profiles()
        await self.give()
        result = await self.scheduled_run()
        self.show_result(result, "scheduled run")
        names = self.names()
        for skipped in self.available_rows(result, f"skipped_transactions_{result.result_id}.csv"):
            self.say(
                f"    skipped: {names[skipped['DONOR_CONS_ID']]} {skipped['AMOUNT']} "
                f"({skipped['LUMINATE_TYPE']}): {skipped['REASON']}",
                "yellow",
            )
        await self.client_imports()
        again = await self.scheduled_run()
        self.show_result(again, "scheduled run")
        for sent in self.available_rows(again, f"luminate_{again.result_id}_transactions.csv"):
            self.say(
                f"    sent now: {names[sent['DONOR_CONS_ID']]} {sent['AMOUNT']} to "
                f"{names[sent['SOLICITOR_CONS_ID']]}, whose Import ID "
                f"{sent['SOLICITOR_EXCHANGE_ID']} came back from RE in re_{again.result_id}_"
                "constituents.csv",
                "green",
            )

    async def map_cross_references(self) -> None:
        """The site's admins map forms and events to RE's codes (the On Demand switch for
        mappings is off: the mapped gifts wait for the next scheduled run)."""
        for title in ("Give now", "Spring Gala auction"):
            self.forms[title] = await self.associated("DonationForm", {"Title": title})
        self.walk = await self.associated("TeamRaiserEvent", {"Name": "River Walk 2026"})
        for source_type, source_id, (campaign, fund, appeal) in (
            ("DonationForm", self.forms["Give now"], ("ANNUAL26", "GENERAL", "WEB")),
            ("TeamRaiserEvent", self.walk, ("WALK26", "WALK", "SPONSOR")),
        ):
            await self.admin.post(
                "/luminate/data-sync/cross-references",
                {
                    "source_type": source_type,
                    "source_id": source_id,
                    "campaign": campaign,
                    "fund": fund,
                    "appeal": appeal,
                },
            )
        self.say(
            f"{self.at()} the site's admins map the form 'Give now' (ANNUAL26/GENERAL/WEB) and "
            "the TeamRaiser event 'River Walk 2026' (WALK26/WALK/SPONSOR) to RE's codes; the "
            "form 'Spring Gala auction' stays unmapped"
        )

    async def register_walker(self) -> None:
        self.clock.advance(timedelta(minutes=5))
        self.say(
            f"{self.at()} {NEW_WALKER['FIRST_NAME']} {NEW_WALKER['LAST_NAME']} registers on the "
            "site to walk the River Walk (new_registration is on)"
        )
        registered = await self.admin.post("/luminate/constituents", NEW_WALKER)
        self.walker = int(registered["ConsId"])
        self.show_result(self.pushed(registered), "pushed at once")

    async def modify_profiles(self) -> None:
        self.clock.advance(timedelta(minutes=5))
        bo, cher = PEOPLE[1], PEOPLE[10]
        self.say(
            f"{self.at()} {bo.first} {bo.last} moves to Cambridge in Constituent360 "
            "(profile_viewed_or_modified is on)"
        )
        modified = await self.admin.request(
            "PATCH",
            f"/luminate/constituents/{self.cons_id(bo)}",
            json={"HomeAddress": {"City": "Cambridge"}},
        )
        self.show_result(self.pushed(modified.json()), "pushed at once")
        viewed = await self.admin.post(f"/luminate/constituents/{self.cons_id(cher)}/view", {})
        on_demand = viewed["on_demand"]
        self.say(
            f"{self.at()} {cher.first}'s profile (no last name) is viewed: queued "
            f"{on_demand['queued']}, "
            + ("held back, no push" if on_demand["push"] is None else "pushed")
        )

    async def give(self) -> None:
        self.clock.advance(timedelta(minutes=5))
        ann, bo, dan, farah, grace = (self.cons_id(PEOPLE[i]) for i in (0, 1, 3, 5, 6))
        gifts = (
            ("Donation", {"Donor": {"ConsId": ann}, "FormId": self.forms["Give now"]}, "50.00"),
            (
                "Donation",
                {"Donor": {"ConsId": bo}, "FormId": self.forms["Spring Gala auction"]},
                "120.00",
            ),
            ("TeamRaiserGift", _tr_gift(farah, self.walk, dan), "30.00"),
            ("TeamRaiserGift", _tr_gift(grace, self.walk, self.walker), "25.00"),
        )
        for record_type, record, amount in gifts:
            await self.transaction(record_type, {**record, "Payment": {"Amount": amount}})
        self.say(
            f"{self.at()} gifts: Ann 50.00 on 'Give now', Bo 120.00 on 'Spring Gala auction', "
            "Farah 30.00 to Dan's River Walk page (Dan is RE's TeamRaiser solicitor), Grace "
            "25.00 to Leila's page"
        )

    async def client_imports(self) -> None:
        constituents, gifts = self.re_counts()
        waiting = self.import_area()
        self.say(
            "    RE's import area: "
            + ", ".join(
                f"{f['name']} ({'imported' if f['imported'] else 'not imported'})" for f in waiting
            )
            + f"; RE still has {constituents} constituents and {gifts} gifts: nothing changes "
            "until the client imports"
        )
        # The client's step, in RE: import the files in the order they arrived.
        for landed in waiting:
            self.imports.append(self.raisers_edge.import_file(landed["name"]).render())
        self.say(
            f"{self.at()} the client imports them in RE: "
            + "; ".join(
                f"{o['file']} {o['created']} created, {o['updated']} updated, "
                f"{o['exception_count']} exceptions"
                for o in self.imports
            )
        )
        self.show_re_gifts()

    def show_re_gifts(self) -> None:
        with self.raisers_edge.lock:
            database = self.raisers_edge.database
            gifts = list(database.gifts.values())
            names = {
                c.import_id: " ".join(n for n in (c.first_name, c.last_name) if n)
                for c in database.constituents.values()
            }
            walker = next(
                c for c in database.constituents.values() if c.luminate_id == str(self.walker)
            )
            new = (
                f"new constituent {walker.first_name} {walker.last_name}: Import ID "
                f"{walker.import_id}, Constituent ID {walker.constituent_id}, alias "
                f'"Luminate ID" {walker.luminate_id}'
            )
        table = Table(title="Raiser's Edge after the import: new gifts", title_justify="left")
        for column in ("Import ID", "constituent", "type", "amount", "fund", "solicitor"):
            table.add_column(column)
        table.add_column("Luminate Online Gift ID", justify="right")
        for gift in gifts:
            table.add_row(
                gift.import_id,
                names.get(gift.constituent_import_id, gift.constituent_import_id),
                gift.type + (f" / {gift.subtype}" if gift.subtype else ""),
                f"{gift.amount}",
                gift.fund or "",
                names.get(gift.solicitor_import_id or "", ""),
                gift.luminate_gift_id or "",
            )
        self.ctx.console.print(table)
        self.say(f"    and a {new}")

    # ---- 5. the documented errors, by their real causes --------------------------------------

    async def documented_errors(self) -> None:
        self.raisers_edge.configure(available=False)
        self.say(
            f"{self.at()} RE's database server goes down (the connector tries RE 5 times; the "
            "waits pass on the demo's clock)"
        )
        try:
            with _quiet_expected_failure():
                down = await self.scheduled_run()
        finally:
            self.raisers_edge.configure(available=True)
        self.show_result(down, "scheduled run")
        closed_url = f"http://127.0.0.1:{_closed_port()}/re-connector"
        sync = self.luminate.data_sync
        transport = sync.http_transport
        self.say(f"{self.at()} the operation's connector URL is {closed_url}: nothing listens")
        # Through a real socket this time: the connection is refused.
        sync.http_transport = None
        sync.edit_operation(self.operation_id, {"connector_url": closed_url})
        try:
            unreachable = await sync.run_now(self.operation_id)
        finally:
            sync.edit_operation(self.operation_id, {"connector_url": CONNECTOR_URL})
            sync.http_transport = transport
        self.show_result(unreachable, "run now")

    # ---- what landed -----------------------------------------------------------------------------

    def outcome(self, flow_path: Path) -> DemoOutcome:
        results = self.luminate.data_sync.result_list()[::-1]
        saved = self._save_available_files(results)
        with self.raisers_edge.lock:
            database = self.raisers_edge.database
            re_constituents = [c.render() for c in database.constituents.values()]
            re_gifts = [g.render() for g in database.gifts.values()]
        people = self.constituent360()
        area = self.import_area()
        with_exchange_id = sum(1 for p in people if p["EXCHANGE_ID"])
        imported = sum(1 for f in area if f["imported"])
        created = sum(o["created"] for o in self.imports if o["kind"] == "constituents")
        summary = (
            f"{with_exchange_id} of Luminate's {len(people)} constituents carry RE's Import ID; "
            f"{len(area)} of Luminate's files reached RE's import area ({imported} imported by "
            f"the client: {len(re_gifts)} gifts, {created} new constituent); "
            f"{len(results)} Operation Results, the documented errors by their real causes; "
            f"{saved} Available Files in operation_results/"
        )
        return DemoOutcome(
            summary=summary,
            flow_file=flow_path,
            results=[r.to_json("/_admin/luminate/data-sync") for r in results],
            luminate_constituents=people,
            import_area=area,
            re_constituents=re_constituents,
            re_gifts=re_gifts,
            imports=self.imports,
        )

    def _save_available_files(self, results: list[OperationResult]) -> int:
        """Copy every Available File into the step's folder (Luminate's copies go at reset)."""
        saved = 0
        for result in results:
            folder = self.ctx.workdir / "operation_results" / str(result.result_id)
            for available in result.files:
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(available.path, folder / available.name)
                saved += 1
        return saved


def _tr_gift(donor: int, event: int, participant: int) -> dict[str, Any]:
    """A gift to a TeamRaiser participant's page: the participant is its solicitor."""
    return {"Donor": {"ConsId": donor}, "EventId": event, "RecipientConsId": participant}
