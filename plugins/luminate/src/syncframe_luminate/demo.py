"""The Luminate step of ``syncframe demo``: a simulated Luminate Online site, served on a real
socket, synced into SQLite and into one CSV file per type per sync window, twice.

The site has constituents, the lookup records, every transaction type and a refund of each kind
seed 003 describes. The first run downloads everything; then the site's staff refund more (an
online partial refund and, on a gift already partially refunded, the rest offline) and the second
run downloads only that window. The refund state of the refunded gifts is read back from the
database.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from syncframe.demo import DemoContext
    from syncframe.engine import RunReport

__all__ = ["luminate_demo"]

API_LOGIN = "syncframe_api"
# A demo secret for a simulator on loopback; real passwords go in the environment or .env.
API_PASSWORD = "demo-password-not-a-secret"
DB_FLOW = "luminate_to_database"
FILES_FLOW = "luminate_to_files"

FLOW_FILE = """\
# Written by `syncframe demo`: a Luminate Online site (the simulator, on {url}) synced into a
# SQLite database and into CSV files. The API password is read from .env beside this file
# (SYNCFRAME_LUMINATE_API_PASSWORD).
[state]
url = "sqlite:///state.db"

[connections.luminate]
system = "luminate"
url = "{url}/1.0/syncframe"
api_login = "{login}"
max_concurrency = 4

[flows.{db_flow}]
description = "Every transaction type, its lookups and its refunds -> SQLite, refund state per gift"
batch_size = 200

[flows.{db_flow}.source]
type = "luminate_transactions"
connection = "luminate"

[flows.{db_flow}.sink]
type = "luminate_sql"
url = "sqlite:///luminate.db"

[flows.{files_flow}]
description = "The same downloads, one CSV file per record type per sync window"
batch_size = 200

[flows.{files_flow}.source]
type = "luminate_transactions"
connection = "luminate"
associated = false

[flows.{files_flow}.sink]
type = "luminate_files"
folder = "windows"
format = "csv"
"""


async def luminate_demo(ctx: DemoContext) -> str:
    """Serve a simulated Luminate site and sync it into SQLite and CSV files, twice."""
    # The simulator and its server are only needed here, not to run flows.
    from luminate_simulator.app import LuminateSimulator
    from luminate_simulator.sample import add_refunds, populate
    from syncframe_simulators import serve_in_thread

    from syncframe.clock import ManualClock
    from syncframe.config import load_config
    from syncframe.engine import Engine

    out = ctx.console
    clock = ManualClock()
    simulator = LuminateSimulator(clock=clock, seed=2026)
    services = simulator.services
    services.add_api_user(API_LOGIN, API_PASSWORD)
    site = populate(services, constituents=60, transactions=600)
    stories = add_refunds(services, site)
    clock.advance(timedelta(minutes=5))
    counts = {t: len(ids) for t, ids in site.transactions.items()}
    out.print(
        f"a simulated Luminate Online site with {len(site.constituents)} constituents, "
        f"{sum(counts.values())} transactions ("
        + ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
        + f") and a refund of each kind ({', '.join(stories)})",
        highlight=False,
    )
    with serve_in_thread(simulator) as server:
        flow_path = ctx.workdir / "flows.toml"
        flow_path.write_text(
            FLOW_FILE.format(
                url=server.base_url, login=API_LOGIN, db_flow=DB_FLOW, files_flow=FILES_FLOW
            ),
            encoding="utf-8",
        )
        (ctx.workdir / ".env").write_text(
            f"SYNCFRAME_LUMINATE_API_PASSWORD={API_PASSWORD}\n", encoding="utf-8"
        )
        config = load_config(flow_path, ctx.host.registry)
        with Engine(config, ctx.host, clock=clock) as engine:
            first = _succeeded(await engine.run())
            out.print(
                "first window: " + _counts(first[DB_FLOW]) + "; then the site's staff refund "
                "20% of a gift online and, on the gift already partly refunded online, the "
                "rest offline",
                highlight=False,
            )
            online = next(
                tid
                for _, tid in site.financial()
                if tid not in {t for ids in stories.values() for t in ids}
                and services.transactions.live.get(tid) is not None
            )
            amount = services.transactions.live[online].payment
            assert amount is not None
            services.refund(online, (amount["Amount"] / 5).quantize(amount["Amount"]), online=True)
            services.refund(stories["online_partial"][0], online=False)
            clock.advance(timedelta(minutes=5))
            second = _succeeded(await engine.run())
    database = ctx.workdir / "luminate.db"
    refunded = [online, *[tid for ids in stories.values() for tid in ids]]
    states = _refund_states(database, refunded)
    files = sorted(p.name for p in (ctx.workdir / "windows").glob("*.csv"))
    _show(ctx, states, files)
    return (
        f"window 1: {_counts(first[DB_FLOW])}; window 2: {_counts(second[DB_FLOW])}; "
        f"{len(states)} refunded gifts reconciled in luminate.db, {len(files)} CSV files "
        "(one per type per window)"
    )


def _succeeded(reports: list[RunReport]) -> dict[str, RunReport]:
    for report in reports:
        if report.summary.status != "succeeded":
            summary = report.summary
            raise RuntimeError(f"flow {report.flow} {summary.status}: {summary.error}")
    return {report.flow: report for report in reports}


def _counts(report: RunReport) -> str:
    counts = report.summary.counts
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing new"


def _refund_states(database: Path, transaction_ids: list[int]) -> list[dict[str, Any]]:
    db = sqlite3.connect(database)
    try:
        db.row_factory = sqlite3.Row
        marks = ", ".join("?" for _ in transaction_ids)
        rows = db.execute(
            f"SELECT * FROM luminate_refund_state WHERE transaction_id IN ({marks}) "
            "ORDER BY transaction_id",
            transaction_ids,
        ).fetchall()
    finally:
        db.close()
    return [dict(r) for r in rows]


def _show(ctx: DemoContext, states: list[dict[str, Any]], files: list[str]) -> None:
    table = Table(title="Refund state per gift (luminate.db, luminate_refund_state)")
    columns = (
        "transaction_type",
        "transaction_id",
        "original_amount",
        "current_amount",
        "online_refunds",
        "inferred_offline_refunds",
        "full_refund_amount",
        "status",
    )
    for column in columns:
        table.add_column(column.replace("_", " "))
    for state in states:
        table.add_row(*[Text("" if state.get(c) is None else str(state.get(c))) for c in columns])
    ctx.console.print(table)
    ctx.console.print(
        "CSV files written: " + ", ".join(files[:6]) + (" ..." if len(files) > 6 else ""),
        highlight=False,
    )
