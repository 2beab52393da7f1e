"""Benchmark: one full RE connector cycle, 100,000 Raiser's Edge constituents up to Luminate
Online and 500,000 Luminate transactions back down to RE's import area (issue 6).

What runs where:

- **The connector machine** is ``syncframe serve flows.toml`` in a process of its own, on a
  loopback port, with a flow file like ``examples/re_connector/flows.toml`` (its password and
  key in the environment). Its peak RSS (``VmHWM`` of ``/proc/<pid>/status``, read just before it
  is stopped) is the product's figure.
- **A worker process** (this script with ``--worker``, one per measured cycle, so no run inherits
  another's memory) holds the simulators: Raiser's Edge served on loopback by the kit's
  ``serve_in_thread``, the FTP server (``FileServer``) with the site's ``mysite_ds`` account, and
  the Luminate simulator, whose data sync calls the connector over a real socket. It reports its
  own peak RSS from ``/proc/self/status``.

Set up, not timed, in the worker:

1. RE holds only its code tables (the sample's); Luminate's operation is created (connector URL,
   key, FTP account; TeamRaiser registrations switched on, so every synced type goes). A first
   cycle runs: the connector sends RE's code tables (and no constituent), which Luminate needs
   before any cross reference can be mapped. Luminate's campaigns, forms, TeamRaiser event,
   personal pages, calendar events and products are made and all mapped to RE codes.
2. RE gets ``--constituents`` constituents from its sample generator (``sim.sample``: a Home
   address and phone, mostly an Email phone, 2% inactive, 3% TeamRaiser solicitors...), and
   ``--constituents`` gifts (so there are open pledges for Luminate's pledge payments).
3. Every RE constituent is already linked, as on a site that has run the connector for a while:
   Luminate holds each one with CONS_ID = the RE alias "Luminate ID", MEMBER_ID = its Constituent
   ID and EXCHANGE_ID = its Import ID (constituents without an alias in the sample get one). Each
   Luminate record holds RE's values, except that one in five has an older street, which the
   cycle's import must correct.
4. Luminate gets ``--transactions`` transactions of those people, of every synced type: donations
   (some recurring, some paying an RE pledge of their donor), TeamRaiser gifts credited to a
   solicitor, TeamRaiser registrations, personal fundraising (tribute) gifts, ticket purchases
   and eCommerce orders; all settled and cross-referenced, so all of them go.

Timed: Luminate's ``run_now`` of the operation: the upload call (the connector reads every
changed constituent from RE, stages them and publishes ``re_N_constituents.csv`` and
``re_N_codetables.csv`` with their manifests), Luminate fetches and imports them, compiles every
transaction into ``luminate_N_transactions.csv``, stores it on the FTP server, and calls download
(the connector moves it into RE's import area and deletes it from the FTP server). The RE
constituents were all changed since the connector's last call (step 2 came after it), so the
connector reads every one of them: the cycle is a full one, not a quiet day's.

Checked after every cycle (the benchmark fails otherwise): the Operation Result is Completed;
its messages say every exported constituent was imported (none created, none rejected) and every
transaction compiled; the connector collected exactly the transactions file; RE's import area
holds it byte for byte as Luminate's Available File, with one row per transaction; the FTP
folders are empty; every stale street in Luminate now holds RE's; the connector's run history
says the upload flow staged one row per exported constituent.

Phases come from timers put around the Luminate data sync's steps in the worker (its private
methods ``_call_connector``, ``_fetch_uploads``, ``_apply_uploads``, ``_compile`` and
``_deliver``: wrapped, not changed) and from the connector's run history (each flow run's start
and end) and ledger (each call's start and end).

Run on demand, not part of the test suite::

    python3 -m uv run python benchmarks/re_connector_cycle.py --repeat 3 --write-doc
    python3 -m uv run python benchmarks/re_connector_cycle.py --size 10000:50000   # quick

The figures go into docs/performance.md between ``<!-- re-connector-cycle:start -->`` and
``<!-- re-connector-cycle:end -->``. ``--profile`` runs the connector under cProfile and prints
where its CPU time went. After the measured runs, ``--what-if-runs`` runs per size (1 unless
told) repeat the cycle with the engine's echo ledger off in the connector process (a launcher
that empties ``Engine._read_systems``; the product is not changed), shown apart in the doc: most
of the upload call is that bookkeeping.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import pstats
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from docblock import write_block  # benchmarks/docblock.py, beside this script

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "performance.md"
RESULTS = REPO / "benchmarks" / "data" / "re-connector-cycle-results.json"
START, END = "<!-- re-connector-cycle:start -->", "<!-- re-connector-cycle:end -->"
MiB: Final = 2**20

FTP_USER: Final = "mysite_ds"
FTP_PASSWORD: Final = "ftp-bench-s3cret"
CONNECTOR_KEY: Final = "connector-bench-key"
RE_USER, RE_PASSWORD = "supervisor", "admin"  # a fresh RE database's user
OPERATION_FILE: Final = "re_sync_v52.xml"
#: The first alias "Luminate ID" given to a sample constituent without one (past the sample's).
FIRST_NEW_ALIAS: Final = 3_000_001
#: One Luminate record in this many holds an older street than RE's.
STALE_EVERY: Final = 5
STALE_STREET: Final = "1 Old Mill Rd"
PERSONAL_PAGES: Final = 20

# Luminate transaction types and their share of the transactions (donations the most).
MIX: Final = (
    ("Donation", 0.62),
    ("TeamRaiserGift", 0.12),
    ("TeamRaiserRegistration", 0.04),
    ("PersonalFundraisingGift", 0.06),
    ("TicketPurchase", 0.08),
    ("ProductOrder", 0.08),
)
#: Shares of the donations that are recurring payments and pledge payments.
RECURRING_SHARE: Final = 0.08
PLEDGE_SHARE: Final = 0.03
AMOUNTS: Final = ("10.00", "20.00", "25.00", "35.00", "50.00", "75.00", "100.00", "250.00")

#: The Luminate data sync's steps timed in the worker (its methods, wrapped not changed).
STEPS: Final = ("_fetch_uploads", "_apply_uploads", "_compile")
ASYNC_STEPS: Final = ("_call_connector", "_deliver")


class BenchmarkFailed(Exception):
    """The cycle did not do what it should (the message says what)."""


@dataclass(frozen=True, slots=True)
class Size:
    constituents: int
    transactions: int

    @classmethod
    def parse(cls, text: str) -> Size:
        try:
            constituents, transactions = (int(part) for part in text.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--size {text!r}: give <RE constituents>:<Luminate transactions>, "
                "e.g. 100000:500000"
            ) from None
        if constituents < 1 or transactions < 1:
            raise argparse.ArgumentTypeError(f"--size {text!r}: both counts must be positive")
        return cls(constituents, transactions)

    def __str__(self) -> str:
        return f"{self.constituents}:{self.transactions}"


# ---- /proc ----------------------------------------------------------------------------------
def memory_kib(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---- the connector's flow file ----------------------------------------------------------------
def write_flow_file(folder: Path, re_url: str, ftp_port: int) -> Path:
    """The example's flow file, pointed at the simulators (secrets come from the environment)."""
    path = folder / "flows.toml"
    path.write_text(
        f"""\
[state]
url = "sqlite:///{folder / "syncframe-state.db"}"

[connections.re]
system = "raisers_edge"
url = "{re_url}"
user = "{RE_USER}"
timeout = 60

[connections.luminate_ftp]
system = "luminate_ftp"
host = "127.0.0.1"
port = {ftp_port}
user = "{FTP_USER}"
timeout = 60

[connections.re_connector]
system = "re_connector"
operation_file_name = "{OPERATION_FILE}"

[flows.re_constituents]
batch_size = 1000

[flows.re_constituents.source]
type = "re_constituents"
connection = "re"
email_phone_type = "Email"
constituent_codes = []
skip_inactive = true

[flows.re_constituents.sink]
type = "luminate_upload"
connection = "luminate_ftp"
file = "constituents"

[flows.re_code_tables.source]
type = "re_code_tables"
connection = "re"

[flows.re_code_tables.sink]
type = "luminate_upload"
connection = "luminate_ftp"
file = "codetables"

[flows.luminate_to_re]
batch_size = 10

[flows.luminate_to_re.source]
type = "luminate_download"
connection = "luminate_ftp"

[flows.luminate_to_re.sink]
type = "re_import_area"
connection = "re"

[flows.luminate_to_re.schedule]
every = "1h"
""",
        encoding="utf-8",
    )
    return path


def connector_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFRAME_")}
    env["SYNCFRAME_RE_PASSWORD"] = RE_PASSWORD
    env["SYNCFRAME_LUMINATE_FTP_PASSWORD"] = FTP_PASSWORD
    env["SYNCFRAME_RE_CONNECTOR_API_KEY"] = CONNECTOR_KEY
    return env


#: ``syncframe <args>`` with the engine keeping no echo ledger: for the what-if rows only. The
#: engine keeps a ledger entry and a link for every record a flow writes into a system that some
#: flow reads (``Engine._read_systems``, by connection name), so that loop guards can recognise
#: echoes; emptying that set turns the bookkeeping off and changes nothing else.
WITHOUT_ECHO_LEDGER: Final = """\
import runpy, sys
import syncframe.engine as engine
_init = engine.Engine.__init__
def _init_without_echo_ledger(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self._read_systems = set()
engine.Engine.__init__ = _init_without_echo_ledger
sys.argv = ["syncframe", *sys.argv[1:]]
runpy.run_module("syncframe", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True, slots=True)
class ConnectorOptions:
    """How the connector machine is started: under cProfile (``profile``: where its figures go)
    and with or without the engine's echo ledger (``echo_ledger``: False only for what-ifs)."""

    profile: Path | None = None
    echo_ledger: bool = True


@contextlib.contextmanager
def connector_machine(
    flow_file: Path, port: int, options: ConnectorOptions
) -> Iterator[subprocess.Popen[bytes]]:
    """``syncframe serve`` on ``port`` until the block ends (then stopped with Ctrl-C)."""
    serve = ["serve", str(flow_file), "--port", str(port), "--no-schedules"]
    command = [sys.executable]
    if options.profile is not None:
        command += ["-m", "cProfile", "-o", str(options.profile)]
    if options.echo_ledger:
        command += ["-m", "syncframe"]
    else:
        launcher = flow_file.parent / "syncframe_without_echo_ledger.py"
        launcher.write_text(WITHOUT_ECHO_LEDGER, encoding="utf-8")
        command.append(str(launcher))
    log = (flow_file.parent / "serve.log").open("wb")
    process = subprocess.Popen(
        [*command, *serve],
        cwd=flow_file.parent,
        env=connector_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchmarkFailed(f"syncframe serve exited at start:\n{_tail(flow_file)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                    if probe.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchmarkFailed(
                    f"syncframe serve did not answer /health:\n{_tail(flow_file)}"
                )
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _tail(flow_file: Path) -> str:
    log = flow_file.parent / "serve.log"
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


# ---- the worker: simulators, setup, one timed cycle ----------------------------------------------
class StepTimer:
    """Wall-clock spans of the Luminate data sync's steps, by wrapping its methods."""

    def __init__(self, data_sync: Any) -> None:
        self.spans: list[tuple[str, float, float]] = []
        for name in (*STEPS, *ASYNC_STEPS):
            if not callable(getattr(data_sync, name, None)):
                raise BenchmarkFailed(
                    f"the Luminate data sync has no method {name} any more: update STEPS in "
                    "benchmarks/re_connector_cycle.py"
                )
        for name in STEPS:
            setattr(data_sync, name, self._sync(name, getattr(data_sync, name)))
        for name in ASYNC_STEPS:
            setattr(data_sync, name, self._async(name, getattr(data_sync, name)))

    def _sync(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.time()
            try:
                return method(*args, **kwargs)
            finally:
                self.spans.append((name, started, time.time()))

        return timed

    def _async(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            label = name
            if name == "_call_connector":  # (http, operation, call, body, result)
                label = f"{name}:{args[2] if len(args) > 2 else kwargs.get('call')}"
            started = time.time()
            try:
                return await method(*args, **kwargs)
            finally:
                self.spans.append((label, started, time.time()))

        return timed

    def seconds(self, label: str) -> float:
        return sum(end - start for name, start, end in self.spans if name == label)

    def first(self, label: str) -> tuple[float, float]:
        for name, start, end in self.spans:
            if name == label:
                return start, end
        raise BenchmarkFailed(f"the cycle never reached the data sync's step {label}")


def _constituent_columns(person: Any) -> dict[str, Any]:
    """A Luminate record holding what RE holds of ``person`` (linked by the three ids)."""
    assert person.luminate_id is not None
    columns: dict[str, Any] = {
        "CONS_ID": int(person.luminate_id),
        "MEMBER_ID": person.constituent_id,
        "EXCHANGE_ID": person.import_id,
        "FIRST_NAME": person.first_name,
        "MIDDLE_NAME": person.middle_name,
        "LAST_NAME": person.last_name,
    }
    email = person.phone_of_type("Email")
    if email is not None:
        columns["PRIMARY_EMAIL"] = email.number
    home_phone = person.phone_of_type("Home")
    if home_phone is not None:
        columns["HOME_PHONE"] = home_phone.number
    address = next((a for a in person.addresses if a.preferred), None)
    if address is not None:
        columns.update(
            HOME_STREET1=address.street1,
            HOME_STREET2=address.street2,
            HOME_CITY=address.city,
            HOME_STATEPROV=address.state,
            HOME_ZIP=address.zip,
            HOME_COUNTRY=address.country,
        )
    return {k: v for k, v in columns.items() if v is not None}


def link_everyone(re_sim: Any, luminate: Any) -> tuple[list[int], dict[str, int]]:
    """Give every RE constituent an alias "Luminate ID" and a Luminate record linked to it;
    returns the CONS_IDs given an older street, and each RE Import ID's CONS_ID."""
    database = re_sim.database
    stale: list[int] = []
    cons_of: dict[str, int] = {}
    next_alias = FIRST_NEW_ALIAS
    with re_sim.lock:
        people = sorted(database.constituents.values(), key=lambda c: c.import_id)
        for person in people:
            if person.luminate_id is None:
                database.set_luminate_id(person, str(next_alias))
                next_alias += 1
        for n, person in enumerate(people):
            columns = _constituent_columns(person)
            # Only people the connector sends (inactive ones are left out) can be corrected.
            if n % STALE_EVERY == 0 and "HOME_STREET1" in columns and not person.inactive:
                columns["HOME_STREET1"] = STALE_STREET
                stale.append(columns["CONS_ID"])
            cons_of[person.import_id] = luminate.services.add_constituent(columns)
    return stale, cons_of


async def luminate_catalog(luminate: Any, owners: list[int]) -> dict[str, list[int]]:
    """Luminate's campaigns, forms, event, pages, calendar events and products, each mapped to
    RE codes (the code tables the first cycle brought)."""
    services, data_sync = luminate.services, luminate.data_sync
    made: dict[str, list[int]] = {}

    def add(record_type: str, record: dict[str, Any]) -> int:
        made.setdefault(record_type, []).append(services.add_associated(record_type, record))
        return made[record_type][-1]

    spring = add("DonationCampaign", {"Title": "Spring Appeal"})
    year_end = add("DonationCampaign", {"Title": "Year-End Giving"})
    mappings = [
        ("DonationForm", add("DonationForm", {"CampaignId": spring, "Title": "Spring form"}),
         ("ANNUAL26", "GENERAL", "SPRING26")),
        ("DonationForm", add("DonationForm", {"CampaignId": year_end, "Title": "Year-end form"}),
         ("ANNUAL26", "SCHOLAR", "YEAREND")),
        ("TeamRaiserEvent", add("TeamRaiserEvent", {"Name": "River Run 5K"}),
         ("TR26", "EVENTS", "RUN5K")),
        ("CalendarEvent", add("CalendarEvent", {"Title": "Gala dinner"}),
         ("CAPITAL", "EVENTS", "GALA")),
        ("CalendarEvent", add("CalendarEvent", {"Title": "Spring concert"}),
         ("ANNUAL26", "EVENTS", "WEB")),
        ("Product", add("Product", {"Name": "Tote bag", "Sku": "TOTE-1", "Price": "20.00"}),
         ("ANNUAL26", "GENERAL", "WEB")),
        ("Product", add("Product", {"Name": "Calendar", "Sku": "CAL-26", "Price": "15.00"}),
         ("ANNUAL26", "GENERAL", "WEB")),
    ]  # fmt: skip
    for n in range(PERSONAL_PAGES):
        owner = owners[n % len(owners)]
        page = add(
            "PersonalFundraisingCampaign",
            {"OwnerConsId": owner, "Title": f"In memory of a friend ({n + 1})", "Goal": "500.00"},
        )
        mappings.append(("PersonalFundraisingCampaign", page, ("TR26", "GENERAL", "RUN5K")))
    for source_type, source_id, (campaign, fund, appeal) in mappings:
        await data_sync.map_cross_reference(source_type, source_id, campaign, fund, appeal)
    return made


def add_transactions(
    luminate: Any,
    count: int,
    donors: list[int],
    solicitors: list[int],
    pledges: list[tuple[str, int]],
    catalog: dict[str, list[int]],
    seed: int,
) -> dict[str, int]:
    """``count`` settled transactions of the linked people; the count of each Luminate type."""
    rng = random.Random(f"re-connector-cycle/{seed}")
    services, data_sync = luminate.services, luminate.data_sync
    types = [t for t, _ in MIX]
    cumulative = []
    total = 0.0
    for _, share in MIX:
        total += share
        cumulative.append(total)
    counts: dict[str, int] = {}
    forms, campaigns = catalog["DonationForm"], catalog["DonationCampaign"]
    event = catalog["TeamRaiserEvent"][0]
    pages, shows, products = (
        catalog["PersonalFundraisingCampaign"],
        catalog["CalendarEvent"],
        catalog["Product"],
    )
    for _ in range(count):
        draw = rng.random() * total
        record_type = types[next(i for i, c in enumerate(cumulative) if draw < c)]
        donor = donors[int(rng.random() * len(donors))]
        amount = AMOUNTS[int(rng.random() * len(AMOUNTS))]
        payment: dict[str, Any] = {"Amount": amount, "CreationMethod": 1}
        pledge: str | None = None
        if record_type == "Donation":
            k = int(rng.random() * len(forms))
            kind = rng.random()
            if kind < PLEDGE_SHARE and pledges:
                pledge, donor = pledges[int(rng.random() * len(pledges))]
            elif kind < PLEDGE_SHARE + RECURRING_SHARE:
                payment["CreationMethod"] = 2
            record = {
                "Donor": {"ConsId": donor},
                "CampaignId": campaigns[k],
                "FormId": forms[k],
                "Payment": payment,
            }
        elif record_type == "TeamRaiserGift":
            record = {
                "Donor": {"ConsId": donor},
                "EventId": event,
                "RecipientConsId": solicitors[int(rng.random() * len(solicitors))],
                "Payment": payment,
            }
        elif record_type == "TeamRaiserRegistration":
            record = {"Participant": {"ConsId": donor}, "EventId": event, "Payment": payment}
        elif record_type == "PersonalFundraisingGift":
            record = {
                "Donor": {"ConsId": donor},
                "PersonalFundraisingCampaignId": pages[int(rng.random() * len(pages))],
                "Payment": payment,
            }
        elif record_type == "TicketPurchase":
            record = {
                "Purchaser": {"ConsId": donor},
                "CalendarEventId": shows[int(rng.random() * len(shows))],
                "Quantity": 1 + int(rng.random() * 4),
                "Payment": payment,
            }
        else:
            record = {
                "Donor": {"ConsId": donor},
                "ProductId": products[int(rng.random() * len(products))],
                "Quantity": 1,
                "Payment": payment,
            }
        transaction_id = services.add_transaction(record_type, record)
        if pledge is not None:
            data_sync.mark_pledge_payment(transaction_id, pledge)
            record_type = "Donation (pledge payment)"
        elif payment["CreationMethod"] == 2:
            record_type = "Donation (recurring)"
        counts[record_type] = counts.get(record_type, 0) + 1
    return counts


def state_bytes(folder: Path) -> int:
    """Bytes of the connector's state store (the SQLite file and its write-ahead log)."""
    return sum(p.stat().st_size for p in folder.glob("syncframe-state.db*") if p.is_file())


def staged_bytes(folder: Path) -> int:
    """Bytes the connector keeps in its state folder (staged rows, spooled files, ledger)."""
    root = folder / "re_connector"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def _count_rows(path: Path) -> int:
    """Data rows of a CSV the contract writes (``\\r\\n`` line ends, no line break in a cell)."""
    lines = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines - 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def connector_history(flow_file: Path) -> dict[str, Any]:
    """The connector's flow runs (newest first) and its ledger's calls, from its own records."""
    from syncframe_re_connector.ledger import Ledger

    from syncframe.state import open_state

    state = open_state(f"sqlite:///{flow_file.parent / 'syncframe-state.db'}")
    try:
        runs = [
            {
                "run_id": run.run_id,
                "flow": run.flow,
                "status": run.status,
                "started": run.started_at.timestamp(),
                "finished": run.finished_at.timestamp() if run.finished_at else None,
                "counts": dict(run.counts),
                "error": run.error,
            }
            for run in state.list_runs(limit=50)
        ]
    finally:
        state.close()
    ledger = Ledger(flow_file.parent / "re_connector").load()
    cycles = [
        {
            "kind": cycle.kind,
            "result_id": cycle.result_id,
            "status": cycle.status,
            "started": cycle.started_at.timestamp(),
            "finished": cycle.finished_at.timestamp() if cycle.finished_at else None,
            "files": list(cycle.files),
            "problems": list(cycle.problems),
            "runs": dict(cycle.runs),
        }
        for cycle in ledger.cycles
    ]
    return {"runs": runs, "cycles": cycles}


async def worker(size: Size, seed: int, folder: Path, options: ConnectorOptions) -> dict[str, Any]:
    """Set up, run one timed cycle, check it; the figures."""
    from luminate_simulator.app import LuminateSimulator
    from raisers_edge_simulator import RaisersEdgeSimulator
    from syncframe_simulators.file_server import FileServer
    from syncframe_simulators.server import serve_in_thread

    from syncframe.clock import SystemClock

    setup_started = time.perf_counter()
    ftp = FileServer()
    home = ftp.add_account(FTP_USER, FTP_PASSWORD)
    ftp.start()
    re_sim = RaisersEdgeSimulator(seed=seed)
    re_sim.sample(constituents=0, gifts=0, seed=seed)  # the code tables only, for now
    re_server = serve_in_thread(re_sim)
    luminate = LuminateSimulator(clock=SystemClock())
    data_sync = luminate.data_sync
    port = free_port()
    operation = data_sync.create_operation(
        {
            "name": "Raiser's Edge Connector",
            "operation_file_name": OPERATION_FILE,
            "schedule": None,
            "connector_url": f"http://127.0.0.1:{port}/re-connector",
            "connector_key": CONNECTOR_KEY,
            "ftp": {
                "host": ftp.host,
                "port": ftp.port,
                "user": FTP_USER,
                "password": FTP_PASSWORD,
                "timeout": 60,
            },
            "settings": {"teamraiser_registrations": True},
        }
    )
    flow_file = write_flow_file(folder, re_server.base_url, ftp.port)
    try:
        with connector_machine(flow_file, port, options) as connector:
            first = await data_sync.run_now(operation.operation_id)
            if first.status != "Completed" or data_sync.code_tables()[1] is None:
                raise BenchmarkFailed(
                    f"the first cycle (code tables) ended {first.status}: {first.messages}"
                )
            made = re_sim.sample(constituents=size.constituents, gifts=size.constituents, seed=seed)
            stale, cons_of = link_everyone(re_sim, luminate)
            solicitors = [cons_of[i] for i in made.solicitors]
            with re_sim.lock:
                pledges = [
                    (p, cons_of[re_sim.database.gift(p).constituent_import_id])
                    for p in made.open_pledges
                ]
            catalog = await luminate_catalog(luminate, solicitors)
            mix = add_transactions(
                luminate,
                size.transactions,
                sorted(cons_of.values()),
                solicitors,
                pledges,
                catalog,
                seed,
            )
            exported = size.constituents - len(made.inactive)
            setup_seconds = time.perf_counter() - setup_started

            timer = StepTimer(data_sync)
            journal_from = re_sim.journal.last_seq
            before: dict[str, Any] = {
                "state_bytes": state_bytes(folder),
                "connector": memory_kib(connector.pid),
                "worker": memory_kib(),
                "connector_cpu": cpu_seconds(connector.pid),
                "worker_cpu": cpu_seconds(),
            }
            started_at = time.time()
            started = time.perf_counter()
            result = await data_sync.run_now(operation.operation_id)
            seconds = time.perf_counter() - started
            after: dict[str, Any] = {
                "state_bytes": state_bytes(folder),
                "connector": memory_kib(connector.pid),
                "worker": memory_kib(),
                "connector_cpu": cpu_seconds(connector.pid),
                "worker_cpu": cpu_seconds(),
            }
        history = connector_history(flow_file)
        checked = check_cycle(
            result, re_sim, luminate, home, history, exported, size.transactions, stale
        )
        re_calls = re_sim.journal.entries(since=journal_from)
    finally:
        re_server.stop()
        ftp.stop()
    phases = phase_seconds(timer, history, started_at, seconds, result.result_id)
    pages = [e for e in re_calls if e.operation == "ListConstituents"]
    return {
        "constituents": size.constituents,
        "transactions": size.transactions,
        "exported": exported,
        "inactive": len(made.inactive),
        "stale": len(stale),
        "mix": mix,
        "seconds": seconds,
        "setup_seconds": setup_seconds,
        "rows_per_second": (exported + size.transactions) / seconds,
        "connector_peak_kib": after["connector"]["VmHWM"],
        "connector_before_kib": before["connector"],
        "connector_cpu": after["connector_cpu"] - before["connector_cpu"],
        "echo_ledger": options.echo_ledger,
        "state_growth_bytes": after["state_bytes"] - before["state_bytes"],
        "staged_bytes": staged_bytes(folder),
        "worker_peak_kib": after["worker"]["VmHWM"],
        "worker_before_kib": before["worker"],
        "worker_cpu": after["worker_cpu"] - before["worker_cpu"],
        "phases": phases,
        "re_pages": len(pages),
        "re_page_ms": sum(e.duration_ms for e in pages) / max(len(pages), 1),
        "re_seconds": sum(e.duration_ms for e in re_calls) / 1000,
        "result_id": result.result_id,
        "messages": list(result.messages),
        "files": {f.name: f.size for f in result.files},
        **checked,
    }


def check_cycle(
    result: Any,
    re_sim: Any,
    luminate: Any,
    home: Path,
    history: dict[str, Any],
    exported: int,
    transactions: int,
    stale: list[int],
) -> dict[str, Any]:
    """What landed; raises BenchmarkFailed naming what is wrong."""
    rid = result.result_id
    problems: list[str] = []
    if result.status != "Completed":
        problems.append(f"the Operation Result is {result.status}: {result.messages}")
    imported = f"Constituents imported from re_{rid}_constituents.csv: {exported} rows, 0 created"
    import_line = next((m for m in result.messages if m.startswith(imported)), None)
    if import_line is None or not import_line.endswith(", 0 rejected"):
        problems.append(f"expected '{imported}, ... 0 rejected' among {result.messages}")
    compiled = f"Transactions compiled for Raiser's Edge: {transactions}"
    if compiled not in result.messages:
        problems.append(f"expected '{compiled}' among {result.messages}")
    name = f"luminate_{rid}_transactions.csv"
    if result.collected != [name]:
        problems.append(f"the connector collected {result.collected}, expected [{name!r}]")
    sent = result.file(name)
    with re_sim.lock:
        landed = re_sim.import_area.files.get(name)
    if sent is None or landed is None:
        problems.append(f"{name}: Available File {sent}, in RE's import area {landed}")
    else:
        if _sha256(landed.path) != _sha256(sent.path):
            problems.append(f"{name} in RE's import area differs from Luminate's Available File")
        rows = _count_rows(landed.path)
        if rows != transactions:
            problems.append(f"{name} holds {rows} rows, expected {transactions}")
        if landed.imported:
            problems.append(f"{name} was imported into RE: only the client imports")
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    if left:
        problems.append(f"files left on the FTP server: {left[:10]}")
    directory = luminate.directory
    wrong = [c for c in stale if directory.get(c).street1 == STALE_STREET]
    if wrong:
        problems.append(f"{len(wrong)} stale streets not corrected by the import, e.g. {wrong[:5]}")
    cycles = [c for c in history["cycles"] if c["kind"] == "upload" and c["result_id"] == rid]
    run_id = cycles[0]["runs"].get("re_constituents") if cycles else None
    upload_run = next((r for r in history["runs"] if r["run_id"] == run_id), None)
    if upload_run is None or upload_run["status"] != "succeeded":
        problems.append(f"the connector's re_constituents run: {upload_run}")
    elif sum(upload_run["counts"].values()) != exported:
        problems.append(f"re_constituents staged {upload_run['counts']}, expected {exported} rows")
    if problems:
        raise BenchmarkFailed("; ".join(problems))
    return {"import_message": import_line, "transactions_file_bytes": sent.size if sent else 0}


def phase_seconds(
    timer: StepTimer, history: dict[str, Any], started_at: float, seconds: float, rid: int
) -> dict[str, float]:
    """Where the cycle's wall time went: Luminate's steps (timed in the worker) and, inside the
    upload call, the connector's flow runs (its run history)."""
    upload_start, upload_end = timer.first("_call_connector:upload")
    download_start, download_end = timer.first("_call_connector:download")
    [cycle] = [c for c in history["cycles"] if c["kind"] == "upload" and c["result_id"] == rid]
    by_id = {r["run_id"]: r for r in history["runs"]}
    constituents_run = by_id[cycle["runs"]["re_constituents"]]
    code_tables_run = by_id[cycle["runs"]["re_code_tables"]]
    return {
        "upload_call": upload_end - upload_start,
        "re_read_and_stage": constituents_run["finished"] - constituents_run["started"],
        "code_tables": code_tables_run["finished"] - code_tables_run["started"],
        "publish": cycle["finished"] - code_tables_run["finished"],
        "fetch_uploads": timer.seconds("_fetch_uploads"),
        "import": timer.seconds("_apply_uploads"),
        "compile": timer.seconds("_compile"),
        "deliver": timer.seconds("_deliver"),
        "download_call": download_end - download_start,
        "before_upload_call": upload_start - started_at,
        "after_download_call": started_at + seconds - download_end,
    }


def run_worker(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="re-connector-cycle-") as tmp:
        folder = Path(tmp)
        profile = folder / "connector.prof" if args.profile else None
        options = ConnectorOptions(profile=profile, echo_ledger=not args.without_echo_ledger)
        try:
            figures = asyncio.run(worker(args.worker, args.seed, folder, options))
        except BenchmarkFailed as failure:
            figures = {"failed": str(failure)}
        if profile is not None and profile.exists():
            figures["profile"] = _profile_lines(profile)
    figures["worker_peak_at_exit_kib"] = memory_kib()["VmHWM"]
    args.out.write_text(json.dumps(figures, indent=1), encoding="utf-8")


def _profile_lines(path: Path, top: int = 30) -> str:
    import io

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ---- the parent: sizes, repeats, the doc ------------------------------------------------------
def one_cycle(args: argparse.Namespace, size: Size, out: Path, echo_ledger: bool) -> dict[str, Any]:
    """One measured cycle in a fresh worker process; its figures."""
    command = [sys.executable, __file__, "--worker", str(size), "--out", str(out)]
    command += ["--seed", str(args.seed)]
    if args.profile:
        command.append("--profile")
    if not echo_ledger:
        command.append("--without-echo-ledger")
    subprocess.run(command, check=True, cwd=REPO)
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if "failed" in figures:
        raise SystemExit(f"BENCHMARK FAILED at {size}: {figures['failed']}")
    profile = figures.pop("profile", None)
    print(json.dumps(figures, indent=1), flush=True)
    if profile:
        print(profile, flush=True)
    return figures


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every size ``--repeat`` times, then the what-if runs; also kept in RESULTS."""
    sizes = args.size or [Size(100_000, 500_000), Size(10_000, 50_000)]
    load_before = _load_average()
    rows: list[list[dict[str, Any]]] = []
    what_if: list[list[dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="re-connector-cycle-out-") as tmp:
        for size in sizes:
            rows.append(
                [one_cycle(args, size, Path(tmp) / f"{size}-{n}.json", True)
                 for n in range(args.repeat)]
            )  # fmt: skip
        for size in sizes if args.what_if_runs else []:
            what_if.append(
                [one_cycle(args, size, Path(tmp) / f"{size}-what-if-{n}.json", False)
                 for n in range(args.what_if_runs)]
            )  # fmt: skip
    saved = {
        "command": "python3 -m uv run python benchmarks/re_connector_cycle.py "
        + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), Python "
        f"{platform.python_version()}",
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "load_before": load_before,
        "load_after": _load_average(),
        "sizes": rows,
        "what_if": what_if,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    return saved


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    middle = statistics.median_low([r["seconds"] for r in runs])
    return next(r for r in runs if r["seconds"] == middle)


def _mib(kib: int) -> str:
    return f"{kib * 1024 / MiB:,.0f}"


def report(saved: dict[str, Any]) -> str:
    """The doc block, from the saved figures."""
    shown = [(_median_run(runs), runs) for runs in saved["sizes"]]
    lines = [
        START,
        "## RE connector: one full cycle, RE constituents up and Luminate transactions down "
        "(issue 6)",
        "",
        "Generated by `benchmarks/re_connector_cycle.py --write-doc`; rerun it rather than "
        "editing this block.",
        "",
        f"- Command: `{saved['command']}`",
        f"- Machine: {saved['machine']}; measured {saved['date']}. Load average (1, 5, 15 min) "
        f"before: {saved['load_before']}, after: {saved['load_after']}.",
        "- The connector machine is `syncframe serve flows.toml` in its own process; the RE "
        "simulator (served on loopback), the FTP server and the Luminate simulator share a "
        "second process, one per run. Each row: the run with the median seconds of "
        f"{len(shown[0][1])} (all in the last column); peaks are the highest of the runs.",
        "",
        "| RE constituents | constituents sent | Luminate transactions | cycle s | rows/s | "
        "connector peak RSS MiB | connector RSS before MiB | connector CPU s | simulators "
        "process peak RSS MiB | simulators CPU s | connector state store growth MiB | every "
        "run, s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row, runs in shown:
        lines.append(
            f"| {row['constituents']:,} | {row['exported']:,} | {row['transactions']:,} | "
            f"{row['seconds']:.1f} | {row['rows_per_second']:,.0f} | "
            f"{_mib(max(r['connector_peak_kib'] for r in runs))} | "
            f"{_mib(row['connector_before_kib']['VmRSS'])} | {row['connector_cpu']:.1f} | "
            f"{_mib(max(r['worker_peak_kib'] for r in runs))} | {row['worker_cpu']:.1f} | "
            f"{row['state_growth_bytes'] / MiB:.1f} | "
            + ", ".join(f"{r['seconds']:.1f}" for r in runs)
            + " |"
        )
    lines += [
        "",
        "rows/s = (constituents sent + transactions) / cycle seconds. Connector RSS before: "
        "the serve process after its start and the untimed first cycle; its peak is its VmHWM "
        "read just before it is stopped, after the cycle. Simulators CPU s: the second "
        "process's CPU during the cycle (RE answering, FTP serving, Luminate importing and "
        "compiling). State store growth: what the cycle added to the connector's SQLite "
        "state store (with its write-ahead log).",
        "",
        "Where the cycle's time went (same runs):",
        "",
        "| RE constituents | upload call s | of it: RE read + staging s | code tables s | "
        "publish to FTP s | Luminate fetch s | Luminate import s | compile s | to FTP s | "
        "download call s | RE pages | RE ms a page |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row, _ in shown:
        p = row["phases"]
        lines.append(
            f"| {row['constituents']:,} | {p['upload_call']:.1f} | {p['re_read_and_stage']:.1f} | "
            f"{p['code_tables']:.2f} | {p['publish']:.2f} | {p['fetch_uploads']:.2f} | "
            f"{p['import']:.2f} | {p['compile']:.2f} | {p['deliver']:.2f} | "
            f"{p['download_call']:.2f} | {row['re_pages']} | {row['re_page_ms']:.0f} |"
        )
    big = shown[0][0]
    upload_bytes = big["files"].get(f"re_{big['result_id']}_constituents.csv", 0)
    lines += [
        "",
        "Upload call: Luminate's call to the connector, until its answer (the connector's "
        "flows and publishing). RE read + staging: the connector's `re_constituents` flow run "
        "(its run history): reading RE's pages of 500 and staging the rows. Publish: from the "
        "end of the code tables run to the end of the call (the ledger): the CSVs and their "
        "manifests onto the FTP server. Luminate fetch / import / compile / to FTP: the data "
        "sync's steps (fetching the files from `/upload/`, the constituent upload, writing "
        "the transactions file, storing it with its manifest in `/download/`). Download call: "
        "the connector takes the file from the FTP server, puts it into RE's import area and "
        "deletes it. RE ms a page: the RE simulator's own time on each page (its journal).",
        "",
        *echo_ledger_notes(shown, [(_median_run(r), r) for r in saved.get("what_if", [])]),
        "",
        *memory_notes(shown),
        "",
        "**The timed cycle.** "
        f"RE holds {big['constituents']:,} constituents, all changed since the connector's "
        f"last call; {big['inactive']:,} are inactive, which the connector leaves out "
        f"(`skip_inactive`), so it sends {big['exported']:,} rows "
        f"({upload_bytes / MiB:.1f} MiB). "
        "Every one is already linked (Luminate holds it with CONS_ID = RE's alias \"Luminate "
        'ID", MEMBER_ID and EXCHANGE_ID), as on a site that has run the connector before, so '
        f"Luminate's import matches each by CONS_ID ({big['import_message']}); "
        f"{big['stale']:,} of them had an older street in Luminate, which the import "
        f"corrects. Luminate then compiles {big['transactions']:,} transactions of those "
        f"people ({big['transactions_file_bytes'] / MiB:.1f} MiB): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(big["mix"].items()))
        + "; all settled and cross-referenced (TeamRaiser registrations switched on), so all "
        "go. Linking them directly, rather than by a first untimed cycle, keeps the timed "
        "cycle the same every run and makes the import the one a connected site runs (updates "
        f"by CONS_ID, not {big['exported']:,} new records). An untimed first cycle does run, "
        "before RE's "
        "constituents are added: it brings RE's code tables to Luminate, which Luminate needs "
        "before its campaigns, forms, events and products can be mapped. The timed cycle is "
        "that connector's second call. Its Operation Result's messages: "
        + "; ".join(f"*{m}*" for m in big["messages"])
        + ". The code tables file is header-only: the connector sends only the entries new "
        "or changed since its last call, and the first cycle sent them all.",
        "",
        "**Checked after every run** (the benchmark fails otherwise): the Operation Result is "
        "Completed; every exported constituent imported (none created, none rejected) and "
        "every transaction compiled; the connector collected exactly the transactions file, "
        "and RE's import area holds it byte for byte as Luminate's Available File, one row per "
        "transaction, not imported; nothing is left on the FTP server; every stale street is "
        "corrected; the connector's run history staged one row per exported constituent.",
        END,
    ]
    return "\n".join(lines)


def echo_ledger_notes(
    shown: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    what_if: list[tuple[dict[str, Any], list[dict[str, Any]]]],
) -> list[str]:
    """Why the upload call takes most of the cycle, and the same cycle without the engine's
    echo ledger (the what-if runs)."""
    big = shown[0][0]
    p = big["phases"]
    lines = [
        "**Where the upload call's time goes.** Of its "
        f"{p['upload_call']:.1f} s at {big['constituents']:,} constituents, RE's simulator "
        f"spent {big['re_seconds']:.1f} s answering {big['re_pages']} pages (its journal) and "
        f"the connector {big['connector_cpu']:.1f} CPU s on the cycle. The `luminate_upload` "
        "sink stages rows without a target key, so the engine keeps no loop-guard ledger entry "
        "or identity link for them (it keeps them for any flow whose sink's connection some "
        "flow reads from: `luminate_download` reads `luminate_ftp`). The first version set the "
        "key; measured with this benchmark on the same machine it cost, at 100,000 "
        "constituents: cycle 19.3 s (now the figure above), upload call 15.3 s, connector CPU "
        "11.1 s and 112.7 MiB of state store per cycle, all in `SQLiteStateStore.commit_batch`, "
        "a cost per row that grew with the store (81 us a constituent at 10,000, 156 us at "
        "100,000).",
    ]
    if not what_if:
        return lines
    lines += [
        "",
        "The same cycle with that bookkeeping off (a what-if, not the product: the connector "
        "process runs with the engine's `_read_systems` emptied, nothing else changed; "
        f"{len(what_if[0][1])} run{'s' if len(what_if[0][1]) != 1 else ''} per size, the "
        "median shown):",
        "",
        "| RE constituents | Luminate transactions | cycle s | upload call s | connector CPU s "
        "| connector peak RSS MiB | state store growth MiB | cycle s as shipped |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    shipped = {row["constituents"]: row for row, _ in shown}
    for row, runs in what_if:
        base = shipped.get(row["constituents"])
        as_shipped = f"{base['seconds']:.1f}" if base else "-"
        lines.append(
            f"| {row['constituents']:,} | {row['transactions']:,} | {row['seconds']:.1f} | "
            f"{row['phases']['upload_call']:.1f} | {row['connector_cpu']:.1f} | "
            f"{_mib(max(r['connector_peak_kib'] for r in runs))} | "
            f"{row['state_growth_bytes'] / MiB:.1f} | {as_shipped} |"
        )
    per_row = {  # upload call µs per constituent sent, by size: (as shipped, what-if)
        row["constituents"]: (
            shipped[row["constituents"]]["phases"]["upload_call"]
            / shipped[row["constituents"]]["exported"]
            * 1e6,
            row["phases"]["upload_call"] / row["exported"] * 1e6,
        )
        for row, _ in what_if
        if row["constituents"] in shipped
    }
    if len(per_row) >= 2:
        small, big_size = min(per_row), max(per_row)
        lines += [
            "",
            f"Per constituent sent, the upload call took {per_row[small][0]:.0f} µs at "
            f"{small:,} constituents and {per_row[big_size][0]:.0f} µs at {big_size:,} as "
            f"shipped; {per_row[small][1]:.0f} and {per_row[big_size][1]:.0f} µs without the "
            "ledger."
            + (
                " The bookkeeping costs more per row as the state store grows, so it also "
                "makes the cycle's time grow faster than the records."
                if per_row[big_size][0] > 1.2 * per_row[small][0]
                and per_row[big_size][1] <= 1.2 * per_row[small][1]
                else ""
            ),
        ]
    return lines


def memory_notes(shown: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[str]:
    """What the connector's peak RSS does as the records grow (from the rows measured)."""
    ordered = sorted(shown, key=lambda item: item[0]["constituents"])
    if len(ordered) < 2:
        return []
    small, big = ordered[0], ordered[-1]
    small_peak = max(r["connector_peak_kib"] for r in small[1]) / 1024
    big_peak = max(r["connector_peak_kib"] for r in big[1]) / 1024
    small_base = small[0]["connector_before_kib"]["VmRSS"] / 1024
    big_base = big[0]["connector_before_kib"]["VmRSS"] / 1024
    records = (big[0]["exported"] + big[0]["transactions"]) / (
        small[0]["exported"] + small[0]["transactions"]
    )
    growth = big_peak - small_peak
    flat = growth <= max(10.0, 0.1 * small_peak)
    verdict = (
        "**the connector's memory does not grow with the records synced**"
        if flat
        else "**the connector's memory grows with the records synced**"
    )
    return [
        f"**Memory.** With {records:.0f} times the records, the connector's peak goes from "
        f"{small_peak:,.0f} MiB to {big_peak:,.0f} MiB ({growth:+,.0f} MiB; before the cycle "
        f"{small_base:,.0f} and {big_base:,.0f} MiB): {verdict}. It reads RE a page at a "
        "time and stages each batch to disk, streams the staged rows to the FTP server, and "
        "moves Luminate's file from the FTP server to a local copy and from there to RE in "
        "chunks; nothing holds more than a batch of rows (1,000). (Flat means growth at most "
        "max(10 MiB, 10%), the engine benchmark's rule.) The simulators' process is another "
        "matter: it holds both databases (RE's constituents and gifts, Luminate's constituents and "
        "transactions) in memory, as the real systems hold them on disk; its peak is not the "
        "product's."
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        type=Size.parse,
        action="append",
        help="RE constituents:Luminate transactions, repeatable, one row each (default "
        "100000:500000 then 10000:50000)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (the median shown)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--profile", action="store_true", help="run the connector under cProfile")
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument(
        "--from-results",
        type=Path,
        nargs="?",
        const=RESULTS,
        help=f"skip measuring: render an earlier run's figures (default "
        f"{RESULTS.relative_to(REPO)}, which every run writes)",
    )
    parser.add_argument(
        "--what-if-runs",
        type=int,
        default=1,
        help="runs per size with the engine's echo ledger off in the connector (a what-if, "
        "shown apart; 0: none)",
    )
    parser.add_argument("--worker", type=Size.parse, help=argparse.SUPPRESS)
    parser.add_argument("--without-echo-ledger", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        run_worker(args)
        return
    if args.from_results is not None:
        saved = json.loads(args.from_results.read_text(encoding="utf-8"))
    else:
        saved = measure(args)
    text = report(saved)
    print(text)
    if args.write_doc:
        write_block(DOC, START, END, text)


if __name__ == "__main__":
    main()
