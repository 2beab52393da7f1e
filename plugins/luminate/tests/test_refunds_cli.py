"""``syncframe luminate refunds``: the refund state table printed from the sink's database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import typer
from syncframe_luminate.refunds_cli import register
from syncframe_luminate.sql_sink import LuminateSqlOptions, LuminateSqlSink
from typer.testing import CliRunner

from plugins.luminate.tests.sink_helpers import T0, context, donation, memory_state, refund
from syncframe import hookimpl
from syncframe.cli import build_app
from syncframe.clock import ManualClock
from syncframe.components import WritePlan
from syncframe.host import Host
from syncframe.records import Operation


class RefundsCommands:
    """Stands in for the plugin: registers the luminate command group."""

    __name__ = "luminate_refunds_test"

    @hookimpl
    def syncframe_register_commands(self, app: typer.Typer) -> None:
        register(app)


def invoke(*args: str) -> Any:
    app = build_app(Host(plugins=[RefundsCommands()], entry_points=False))
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "220"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A database the sink wrote: 2001001 partial (online 30), 2001002 full offline after an
    offline partial, 2001003 never refunded."""

    async def fill() -> None:
        clock = ManualClock(T0)
        for state in memory_state(clock):
            sink = LuminateSqlSink(context(tmp_path, clock, state), LuminateSqlOptions())
            batches = [
                [donation(t, "100.00") for t in (2001001, 2001002, 2001003)],
                [
                    donation(2001001, "70.00", "100.00", operation=Operation.UPDATE),
                    refund(3001, 2001001, "30.00", before="100.00"),
                    donation(2001002, "60.00", "100.00", operation=Operation.DELETE),
                ],
            ]
            for n, batch in enumerate(batches):
                await sink.write(batch, WritePlan(f"t:r:{n}"))
            await sink.aclose()

    anyio.run(fill)
    return tmp_path / "luminate.db"


def lines_of(output: str, transaction: int) -> str:
    return next(line for line in output.splitlines() if f" {transaction} " in line)


def test_all_transactions(database: Path) -> None:
    result = invoke("luminate", "refunds", f"sqlite:///{database}")
    assert result.exit_code == 0, result.output
    partial = lines_of(result.output, 2001001)
    assert "Donation" in partial
    assert "100.00" in partial
    assert "70.00" in partial
    assert "1 · 30.00" in partial
    assert "partial" in partial
    full = lines_of(result.output, 2001002)
    assert "60.00 offline" in full
    assert "40.00" in full  # the offline partial refund, inferred
    assert "full" in full
    assert "none" in lines_of(result.output, 2001003)
    assert result.output.strip().endswith("3 transactions")


def test_filters_and_limit(database: Path) -> None:
    result = invoke("luminate", "refunds", str(database), "--status", "full")
    assert result.exit_code == 0, result.output
    assert "2001002" in result.output
    assert "2001001" not in result.output
    result = invoke("luminate", "refunds", str(database), "--transaction", "2001001")
    assert "2001001" in result.output
    assert "2001003" not in result.output
    result = invoke("luminate", "refunds", str(database), "--limit", "2")
    assert "2 of 3 transactions" in result.output
    assert "2001003" not in result.output
    result = invoke("luminate", "refunds", str(database), "--transaction", "1")
    assert result.output.strip() == "no transactions match"
    result = invoke("luminate", "refunds", str(database), "--status", "lost")
    assert result.exit_code == 2


def test_errors_are_one_line(tmp_path: Path) -> None:
    result = invoke("luminate", "refunds", str(tmp_path / "missing.db"))
    assert result.exit_code == 2
    assert "no such database file" in result.output
    assert not (tmp_path / "missing.db").exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = invoke("luminate", "refunds", str(empty))
    assert result.exit_code == 2
    assert "has no table luminate_refund_state" in result.output
    result = invoke("luminate", "refunds", "postgresql+psycopg://u:s3cret@localhost:1/x")
    assert result.exit_code == 2
    assert "s3cret" not in result.output
    assert "postgresql+psycopg://u:***@localhost:1/x" in result.output


def test_group_help() -> None:
    result = invoke("luminate")
    assert "refunds" in result.output
    result = invoke("--help")
    assert any("│ luminate " in line for line in result.output.splitlines())
