"""The live run display: fed by the engine's progress callback and the run hooks."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from syncframe.cli.display import RunDisplay
from syncframe.host import Host
from syncframe.runinfo import RunInfo, RunSummary

RUN = RunInfo("20260101T090000-abc123", "donations", False, datetime(2026, 1, 1, 9, tzinfo=UTC))


def terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=150, color_system=None), buffer


def test_progress_lines_show_counts_and_final_status(box_host: Host) -> None:
    console, buffer = terminal()
    with RunDisplay(console, box_host) as display:
        assert display.live
        display.syncframe_run_started(RUN)
        display("donations", RunSummary("running", {"created": 40, "rejected": 2}, batches=2))
        display.syncframe_run_finished(
            RUN, RunSummary("succeeded", {"created": 90, "rejected": 2}, batches=3)
        )
    final = [line for line in buffer.getvalue().splitlines() if "donations" in line][-1]
    assert "donations" in final
    assert "succeeded" in final
    assert "batches 3" in final
    assert "records 92" in final
    assert "created 90 · rejected 2" in final


def test_is_a_plugin_only_while_running(box_host: Host) -> None:
    console, _ = terminal()
    display = RunDisplay(console, box_host)
    with display:
        assert display in box_host.pm.get_plugins()
    assert display not in box_host.pm.get_plugins()


def test_without_a_terminal_only_finished_runs_are_logged(box_host: Host) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=150)
    with RunDisplay(console, box_host, log_runs=True) as display:
        assert not display.live
        display.syncframe_run_started(RUN)
        display("donations", RunSummary("running", {"created": 1}, batches=1))
        display.syncframe_run_finished(
            RUN, RunSummary("failed", {"created": 1}, batches=1, error="sink is locked")
        )
    (line,) = buffer.getvalue().splitlines()
    assert "donations failed: created 1" in line
    assert "run 20260101T090000-abc123" in line
    assert "sink is locked" in line
