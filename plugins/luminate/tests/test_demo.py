"""The Luminate step of ``syncframe demo``: a served simulator synced into SQLite and CSV files."""

from __future__ import annotations

import csv
import sqlite3
from decimal import Decimal
from pathlib import Path

from syncframe_luminate.demo import API_PASSWORD
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.host import Host


def test_the_demo_step_lands_every_type_and_reconciles_each_refund_story(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(Host()), ["demo", "--step", "luminate", "--workdir", str(tmp_path)]
    )

    assert result.exit_code == 0, result.output
    assert "✓ luminate: window 1:" in result.output
    assert API_PASSWORD not in result.output
    workdir = tmp_path / "luminate"
    db = sqlite3.connect(workdir / "luminate.db")
    try:
        db.row_factory = sqlite3.Row
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        states = [dict(r) for r in db.execute("SELECT * FROM luminate_refund_state")]
        donations = db.execute("SELECT count(*) FROM luminate_donation").fetchone()[0]
    finally:
        db.close()
    for table in ("donation", "teamraiserregistration", "ticketpurchase", "refund"):
        assert f"luminate_{table}" in tables
    assert "luminate_donationcampaign" in tables  # the lookups came with the gifts
    assert donations > 100
    refunded = [s for s in states if s["status"] != "none"]
    # The five stories of the sample site and the two refunds the demo makes between windows.
    assert len(refunded) == 6
    assert {s["status"] for s in refunded} == {"partial", "full"}
    for state in refunded:
        original = Decimal(state["original_amount"])
        refunded_total = (
            Decimal(state["online_refunds"])
            + Decimal(state["inferred_offline_refunds"])
            + (Decimal(state["full_refund_amount"]) if state["status"] == "full" else 0)
            - (Decimal(state["full_refund_amount"]) if state["full_refund_online"] else 0)
        )
        assert original - Decimal(state["current_amount"]) == refunded_total, state
    files = sorted((workdir / "windows").glob("*.csv"))
    windows = {f.stem.split("_", 1)[1] for f in files}
    assert len(windows) == 2  # one set of files per sync window
    with files[0].open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[0] == "_operation"
