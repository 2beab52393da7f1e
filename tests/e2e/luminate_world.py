"""A Luminate site (the simulator), a flow file around it and ways to compare what landed in the
SQL sink's database with the simulator's own view. Shared by the Luminate end-to-end tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from luminate_simulator.app import LuminateSimulator

from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.state import open_state
from syncframe.state.base import StateStore

API_LOGIN = "e2e_api"
API_PASSWORD = "e2e-password-7c1d9a"  # must never show in any output
ENV = {"SYNCFRAME_LUMINATE_API_PASSWORD": API_PASSWORD}
FINANCIAL = (
    "Donation",
    "PersonalFundraisingGift",
    "ProductOrder",
    "TeamRaiserGift",
    "TeamRaiserRegistration",
    "TicketPurchase",
)
DB_FLOW = "to_db"
FILES_FLOW = "to_files"

FLOW_FILE = """\
[state]
url = "sqlite:///state.db"

[connections.luminate]
system = "luminate"
url = "{url}/1.0/syncframe"
api_login = "{login}"
page_size = {page_size}
max_concurrency = 4

[connections.luminate.retry]
attempts = 8
initial_wait = 0
max_wait = 0
jitter = 0

[flows.{db_flow}]
batch_size = {batch_size}

[flows.{db_flow}.source]
type = "luminate_transactions"
connection = "luminate"
{source_extra}

[flows.{db_flow}.sink]
type = "{db_sink}"
url = "sqlite:///luminate.db"

[flows.{files_flow}]
batch_size = {batch_size}
enabled = false

[flows.{files_flow}.source]
type = "luminate_transactions"
connection = "luminate"
associated = false

[flows.{files_flow}.sink]
type = "{files_sink}"
folder = "outbox"
format = "csv"
"""


def flow_file(
    folder: Path,
    url: str,
    *,
    page_size: int = 200,
    batch_size: int = 100,
    source_extra: str = "",
    db_sink: str = "luminate_sql",
    files_sink: str = "luminate_files",
) -> Path:
    """Write the test's flow file (and the .env with the password) into ``folder``."""
    path = folder / "flows.toml"
    path.write_text(
        FLOW_FILE.format(
            url=url,
            login=API_LOGIN,
            page_size=page_size,
            batch_size=batch_size,
            source_extra=source_extra,
            db_flow=DB_FLOW,
            files_flow=FILES_FLOW,
            db_sink=db_sink,
            files_sink=files_sink,
        ),
        encoding="utf-8",
    )
    (folder / ".env").write_text(f"SYNCFRAME_LUMINATE_API_PASSWORD={API_PASSWORD}\n")
    return path


@dataclass
class LuminateWorld:
    """The simulator, its clock, the flow file and one state store shared by every run."""

    folder: Path
    host: Host
    clock: ManualClock = field(default_factory=ManualClock)
    page_size: int = 200
    batch_size: int = 100
    source_extra: str = ""
    waits: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.simulator = LuminateSimulator(clock=self.clock, seed=11)
        self.services = self.simulator.services
        self.services.add_api_user(API_LOGIN, API_PASSWORD)
        self.path = flow_file(
            self.folder,
            self.simulator.base_url,
            page_size=self.page_size,
            batch_size=self.batch_size,
            source_extra=self.source_extra,
        )
        self.state: StateStore = open_state(
            f"sqlite:///{self.folder / 'state.db'}", clock=self.clock
        )

    def engine(self) -> Engine:
        async def record_wait(seconds: float) -> None:
            self.waits.append(seconds)

        config = load_config(self.path, self.host.registry, environ=ENV)
        return Engine(
            config,
            self.host,
            clock=self.clock,
            state=self.state,
            transport=self.simulator.transport(),
            sleep=record_wait,
        )

    async def run(self, flow: str = DB_FLOW) -> RunReport:
        """One run of ``flow``, after moving the clock on so that what was just done is in the
        window (windows end at "now", exclusive)."""
        self.clock.advance(timedelta(minutes=1))
        with self.engine() as engine:
            report = await engine.run_flow(flow)
        return report

    def close(self) -> None:
        self.state.close()

    # ---- reading back ------------------------------------------------------------------------
    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """The SQL sink's database, read-only use, closed afterwards."""
        db = sqlite3.connect(self.folder / "luminate.db")
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()


def rows(db: sqlite3.Connection, table: str) -> dict[int, dict[str, Any]]:
    """A table's rows by their first column (the Luminate id)."""
    result: dict[int, dict[str, Any]] = {}
    for row in db.execute(f'SELECT * FROM "{table}"'):
        record = dict(row)
        result[int(next(iter(record.values())))] = record
    return result


def table_names(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ExpectedRefundState:
    original: Decimal
    current: Decimal
    online_count: int
    online: Decimal
    offline: Decimal
    full: Decimal | None
    status: str


def expected_refund_states(services: Any) -> Iterator[tuple[int, ExpectedRefundState]]:
    """What the refund state of every financial transaction must be, from the simulator's own
    bookkeeping (its live transactions, audit copies and Refund records)."""
    store = services.transactions
    zero = Decimal("0.00")
    for tid, tx in [*store.live.items(), *store.audit.items()]:
        if tx.payment is None:
            continue
        deleted = tid not in store.live
        amount = money(tx.payment["Amount"])
        original_field = money(tx.payment["OriginalAmount"])
        online = list(store.refunds_of(tid))
        online_sum = sum((money(r.amount) for r in online), zero)
        partial_online = sum((money(r.amount) for r in online if not r.full), zero)
        original = original_field if original_field > 0 else amount
        offline = (original_field - amount - partial_online) if original_field > 0 else zero
        status = "full" if deleted else ("partial" if original_field > 0 else "none")
        yield (
            tid,
            ExpectedRefundState(
                original,
                zero if deleted else amount,
                len(online),
                online_sum,
                money(offline),
                amount if deleted else None,
                status,
            ),
        )
