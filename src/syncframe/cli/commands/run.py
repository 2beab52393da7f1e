"""``syncframe run``: run flows once, as a dry run, or on their schedules."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import typer
from rich.console import Console
from rich.text import Text

from syncframe.cli.commands.config import check_flow, load_flow_file
from syncframe.cli.display import RunDisplay
from syncframe.cli.errors import EXIT_FAILED, EXIT_OK, UserError, guarded
from syncframe.cli.output import console, planned_table, summary_table
from syncframe.host import Host
from syncframe.runinfo import RunSummary

if TYPE_CHECKING:
    from syncframe.engine import Engine, RunReport

__all__ = ["exit_code_of", "print_reports", "register"]


def failed_run(summary: RunSummary) -> bool:
    """Whether a run counts as failed for the exit code: it failed, stopped or lost records."""
    return summary.status != "succeeded" or summary.counts.get("failed", 0) > 0


def exit_code_of(summaries: Sequence[RunSummary]) -> int:
    """0 when every run succeeded without failed records, else 1."""
    return EXIT_FAILED if any(failed_run(s) for s in summaries) else EXIT_OK


def print_reports(
    out: Console,
    reports: Sequence[RunReport],
    *,
    file: Path,
    plan_limit: int = 50,
    title: str | None = None,
) -> None:
    """The dry-run plans (if any), the summary table, failed flows' errors and what to do next."""
    for report in reports:
        if not report.dry_run:
            continue
        planned = report.planned
        shown = planned if plan_limit <= 0 else planned[:plan_limit]
        if not planned:
            out.print(
                Text.assemble((report.flow, "bold"), ": no changes since the last run"),
                highlight=False,
            )
            continue
        out.print(planned_table(shown, title=f"{report.flow}: planned writes"))
        if len(shown) < len(planned):
            out.print(
                f"… and {len(planned) - len(shown):,} more planned "
                f"(of {len(planned):,}; --plan-limit 0 shows all)",
                style="dim",
                highlight=False,
            )
        if len(planned) < report.summary.total:
            # The engine keeps a bounded plan; the counts below still cover every record.
            out.print(
                f"the plan lists the first {len(planned):,} of {report.summary.total:,} records",
                style="dim",
                highlight=False,
            )
    if not reports:
        out.print("no flows ran (no enabled flows in the file)", style="yellow")
        return
    dry = all(r.dry_run for r in reports)
    title = title or ("Dry run: nothing was written" if dry else "Runs")
    out.print(summary_table(reports, title=title, width=out.width))
    for report in reports:
        if report.summary.error:
            out.print(
                Text.assemble(
                    (report.flow, "bold red"), f" {report.summary.status}: ", report.summary.error
                ),
                soft_wrap=True,
                highlight=False,
            )
    failed_records = sum(r.summary.counts.get("failed", 0) for r in reports if not r.dry_run)
    would_fail = sum(r.summary.counts.get("failed", 0) for r in reports if r.dry_run)
    if failed_records:
        out.print(
            f"{failed_records:,} record{'s' if failed_records != 1 else ''} failed and "
            f"{'were' if failed_records != 1 else 'was'} kept: see `syncframe failed list {file}`, "
            f"then `syncframe failed retry {file}`",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
    if would_fail:
        out.print(
            f"{would_fail:,} record{'s' if would_fail != 1 else ''} would fail (see the plan)",
            style="yellow",
            highlight=False,
        )


def register(app: typer.Typer, host: Host) -> None:
    """Add the ``run`` command."""

    @app.command("run")
    @guarded
    def run(
        file: Path = typer.Argument(
            ..., help="The flow file (TOML or YAML).", metavar="FILE", show_default=False
        ),
        flow: list[str] | None = typer.Option(
            None,
            "--flow",
            "-f",
            metavar="NAME",
            help="Run only this flow (repeat for several). Default: every enabled flow.",
            show_default=False,
        ),
        dry_run: bool = typer.Option(
            False,
            "--dry-run",
            "-n",
            help="Read and decide, but write nothing: show what each record would become.",
        ),
        schedule: bool = typer.Option(
            False,
            "--schedule",
            help="Keep running flows on their [flows.X.schedule] until Ctrl-C (or --cycles).",
        ),
        cycles: int | None = typer.Option(
            None,
            "--cycles",
            metavar="N",
            min=1,
            help="With --schedule: stop after this many scheduling cycles.",
            show_default=False,
        ),
        plan_limit: int = typer.Option(
            50,
            "--plan-limit",
            metavar="N",
            min=0,
            help="With --dry-run: planned writes shown per flow (0: all).",
        ),
    ) -> None:
        """Run flows: read changes, match them, write them, and report what became of each.

        Shows each flow's progress while it runs, then a table of outcomes per flow. Exit code 0
        when every flow succeeded; 1 when a flow failed or records failed (they are kept, see
        `syncframe failed`); 2 when the file has problems or a flow does not exist. Rejected
        records (bad data, kept with failed records too) do not change the exit code.
        """
        from syncframe.engine import Engine, FlowNotFound

        if cycles is not None and not schedule:
            raise UserError("--cycles only applies with --schedule")
        if schedule and dry_run:
            raise UserError("--dry-run runs flows once; it cannot be combined with --schedule")
        loaded = load_flow_file(file, host)
        flows = list(flow) if flow else None
        for name in flows or ():
            check_flow(loaded, name)
        out = console()
        code = EXIT_OK
        with Engine(loaded, host) as engine:
            try:
                if schedule:
                    code = _run_on_schedule(out, engine, host, flows, cycles)
                else:
                    with RunDisplay(out, host) as display:
                        reports = anyio.run(
                            partial(engine.run, flows, dry_run=dry_run, progress=display)
                        )
                    print_reports(out, reports, file=file, plan_limit=plan_limit)
                    code = exit_code_of([r.summary for r in reports])
            except FlowNotFound as exc:
                raise UserError(str(exc)) from None
        raise typer.Exit(code)


def _run_on_schedule(
    out: Console, engine: Engine, host: Host, flows: list[str] | None, cycles: int | None
) -> int:
    out.print(
        "running flows on their schedules"
        + (f" for {cycles} cycle{'s' if cycles != 1 else ''}" if cycles else "; Ctrl-C stops"),
        style="dim",
        highlight=False,
    )
    with RunDisplay(out, host, log_runs=True) as display:
        try:
            anyio.run(partial(engine.run_on_schedule, flows=flows, cycles=cycles, progress=display))
        except KeyboardInterrupt:
            # Ctrl-C is how a scheduled session normally ends.
            out.print("stopped", style="yellow")
    summaries = [summary for _, summary in display.finished]
    failed = sum(1 for s in summaries if failed_run(s))
    out.print(
        f"{len(summaries)} run{'s' if len(summaries) != 1 else ''}, {failed} with failures",
        style="red" if failed else "green",
        highlight=False,
    )
    return exit_code_of(summaries)
