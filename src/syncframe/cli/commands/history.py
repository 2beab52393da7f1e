"""``syncframe runs`` and ``syncframe failed``: run history and the records that failed.

Both read the state store the flow file names (``[state] url``), so they show what happened on
this machine (or this database) for that file's flows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from syncframe.cli.commands.config import check_flow, load_flow_file, redact_url
from syncframe.cli.commands.run import exit_code_of, print_reports
from syncframe.cli.display import RunDisplay
from syncframe.cli.errors import EXIT_FAILED, EXIT_OK, UserError, guarded
from syncframe.cli.output import console, counts_text, format_time, kv_table, status_text
from syncframe.components import Outcome
from syncframe.config.resolved import LoadedConfig
from syncframe.host import Host
from syncframe.state.base import FailedRecord, OutcomeRow, RunRecord, StateStore

__all__ = ["record_name", "register"]

_FILE_HELP = "The flow file (TOML or YAML) whose state store to read."
_CHUNK = 1000  # rows per printed table when streaming a long run


@contextmanager
def _open_store(file: Path, host: Host) -> Iterator[tuple[LoadedConfig, StateStore]]:
    from syncframe.state import open_state

    loaded = load_flow_file(file, host)
    store = open_state(loaded.state_url)
    try:
        yield loaded, store
    finally:
        store.close()


def record_name(change: Mapping[str, Any]) -> str:
    """How a stored change is shown: ``system.entity[key=value]``."""
    keys = change.get("keys") or {}
    shown = ", ".join(f"{k}={v}" for k, v in keys.items()) if isinstance(keys, Mapping) else keys
    return f"{change.get('system', '?')}.{change.get('entity', '?')}[{shown}]"


def _seconds(run: RunRecord) -> str:
    if run.finished_at is None:
        return "-"
    return f"{(run.finished_at - run.started_at).total_seconds():.2f}"


class FailedStatus(StrEnum):
    """Which failed records to list."""

    open = "open"
    resolved = "resolved"


def register(app: typer.Typer, host: Host) -> None:
    """Add the ``runs`` and ``failed`` command groups."""
    runs_app = typer.Typer(
        help="Run history: which runs happened and what became of each record.",
        no_args_is_help=True,
    )
    failed_app = typer.Typer(
        help="Records that failed permanently: list them, retry them once the cause is fixed.",
        no_args_is_help=True,
    )
    app.add_typer(runs_app, name="runs")
    app.add_typer(failed_app, name="failed")

    # ---- runs ------------------------------------------------------------------------------
    @runs_app.command("list")
    @guarded
    def runs_list(
        file: Path = typer.Argument(..., help=_FILE_HELP, metavar="FILE", show_default=False),
        flow: str | None = typer.Option(
            None, "--flow", "-f", metavar="NAME", help="Only runs of this flow.", show_default=False
        ),
        limit: int = typer.Option(
            20, "--limit", "-l", min=1, metavar="N", help="How many runs, newest first."
        ),
    ) -> None:
        """List recent runs, newest first: status, outcome counts and run ids."""
        with _open_store(file, host) as (loaded, store):
            check_flow(loaded, flow)
            runs = store.list_runs(flow, limit=limit)
            out = console()
            if not runs:
                out.print(f"no runs yet{f' of flow {flow!r}' if flow else ''}", style="yellow")
                return
            table = Table(title="Runs", title_justify="left")
            table.add_column("run id", no_wrap=True)
            table.add_column("flow", style="bold")
            table.add_column("kind")
            table.add_column("status")
            table.add_column("started")
            table.add_column("seconds", justify="right")
            table.add_column("outcomes")
            for run in runs:
                kind = f"{run.kind} (dry)" if run.dry_run else run.kind
                outcomes = Text(counts_text(run.counts))
                if run.error:
                    outcomes.append(f"\n{run.error}", style="red")
                table.add_row(
                    run.run_id,
                    Text(run.flow),
                    kind,
                    status_text(run.status),
                    format_time(run.started_at),
                    _seconds(run),
                    outcomes,
                )
            out.print(table)

    @runs_app.command("show")
    @guarded
    def runs_show(
        file: Path = typer.Argument(..., help=_FILE_HELP, metavar="FILE", show_default=False),
        run_id: str = typer.Argument(
            ..., help="The run id, or a unique beginning of it.", metavar="RUN_ID"
        ),
        outcome: list[Outcome] | None = typer.Option(
            None,
            "--outcome",
            "-o",
            metavar="OUTCOME",
            help="Only records with this outcome (repeat for several): "
            + ", ".join(o.value for o in Outcome)
            + ".",
            show_default=False,
        ),
        limit: int = typer.Option(
            100, "--limit", "-l", min=0, metavar="N", help="Records to show (0: all)."
        ),
        offset: int = typer.Option(
            0, "--offset", min=0, metavar="N", help="Records to skip first (paging)."
        ),
        record: str | None = typer.Option(
            None,
            "--record",
            "-r",
            metavar="KEY",
            help="Only this record (its key).",
            show_default=False,
        ),
        steps: bool = typer.Option(
            False,
            "--steps",
            "-s",
            help="Each record's way through the flow: every step's outcome (flows with "
            "step_log, such as SmartSYNC-style flows).",
        ),
    ) -> None:
        """Show one run and what became of each of its records."""
        with _open_store(file, host) as (loaded, store):
            run = store.get_run(run_id)  # an ambiguous prefix raises a StateError naming runs
            if run is None:
                raise UserError(
                    f"no run {run_id!r} in state store {redact_url(loaded.state_url)} "
                    f"(`syncframe runs list {file}` lists them)"
                )
            out = console()
            out.print(
                kv_table(
                    [
                        ("run", run.run_id),
                        ("flow", run.flow),
                        ("kind", f"{run.kind} (dry run)" if run.dry_run else run.kind),
                        ("status", status_text(run.status)),
                        ("started", format_time(run.started_at)),
                        ("finished", format_time(run.finished_at)),
                        ("seconds", _seconds(run)),
                        ("outcomes", counts_text(run.counts)),
                        *([("error", Text(run.error, style="red"))] if run.error else []),
                    ]
                )
            )
            wanted = {o.value for o in outcome} if outcome else None
            rows = (
                r
                for r in store.run_outcomes(run.run_id)
                if (wanted is None or r.outcome in wanted)
                and (record is None or r.record == record)
            )
            shown, matched = _print_outcomes(out, rows, limit=limit, offset=offset, steps=steps)
            what = f"{', '.join(sorted(wanted))} records" if wanted else "records"
            if matched == 0:
                out.print(f"no {what} in this run's history", style="dim")
            elif shown < matched:
                out.print(
                    f"showed {what} {offset + 1:,}–{offset + shown:,} of {matched:,} "
                    f"(--offset / --limit page, --limit 0 shows all)",
                    style="dim",
                    highlight=False,
                )

    # ---- failed ----------------------------------------------------------------------------
    @failed_app.command("list")
    @guarded
    def failed_list(
        file: Path = typer.Argument(..., help=_FILE_HELP, metavar="FILE", show_default=False),
        flow: str | None = typer.Option(
            None,
            "--flow",
            "-f",
            metavar="NAME",
            help="Only records of this flow.",
            show_default=False,
        ),
        status: FailedStatus = typer.Option(
            FailedStatus.open, "--status", help="Open (still failing) or resolved records."
        ),
    ) -> None:
        """List records that failed permanently, with why and how often they were tried."""
        with _open_store(file, host) as (loaded, store):
            check_flow(loaded, flow)
            records = store.list_failed(flow, status=status.value)
            out = console()
            if not records:
                out.print(
                    f"no {status.value} failed records{f' of flow {flow!r}' if flow else ''}",
                    style="green" if status is FailedStatus.open else "dim",
                )
                return
            out.print(_failed_table(records, title=f"Failed records ({status.value})"))
            if status is FailedStatus.open:
                out.print(
                    f"retry them with `syncframe failed retry {file}` (--id N for some)",
                    style="dim",
                    highlight=False,
                    soft_wrap=True,
                )

    @failed_app.command("retry")
    @guarded
    def failed_retry(
        file: Path = typer.Argument(
            ..., help="The flow file (TOML or YAML).", metavar="FILE", show_default=False
        ),
        flow: str | None = typer.Option(
            None,
            "--flow",
            "-f",
            metavar="NAME",
            help="Only records of this flow.",
            show_default=False,
        ),
        record_id: list[int] | None = typer.Option(
            None,
            "--id",
            metavar="ID",
            help="Only this failed record (repeat for several; ids from `failed list`).",
            show_default=False,
        ),
    ) -> None:
        """Send failed records again through their flows; show what got through and what not.

        Exit code 0 when every retried record was delivered, 1 when some still fail.
        """
        from syncframe.engine import Engine, FlowNotFound

        loaded = load_flow_file(file, host)
        check_flow(loaded, flow)
        ids = list(record_id) if record_id else None
        out = console()
        with Engine(loaded, host) as engine:
            store = engine.state
            if ids:
                _check_ids(store, ids, flow)
            before = [r for r in store.list_failed(flow) if ids is None or r.id in ids]
            if not before:
                out.print(
                    f"no open failed records{f' of flow {flow!r}' if flow else ''} to retry",
                    style="green",
                )
                raise typer.Exit(EXIT_OK)
            with RunDisplay(out, host) as display:
                try:
                    reports = anyio.run(
                        partial(engine.retry_failed, flow=flow, ids=ids, progress=display)
                    )
                except FlowNotFound as exc:
                    raise UserError(str(exc)) from None
            print_reports(out, reports, file=file, title="Retries")
            still = {r.id: r for r in store.list_failed(flow)}
            delivered = [r for r in before if r.id not in still]
            failing = [still[r.id] for r in before if r.id in still]
            _print_retry_result(out, delivered, failing)
        code = exit_code_of([r.summary for r in reports])
        raise typer.Exit(EXIT_FAILED if failing else code)


def _check_ids(store: StateStore, ids: Sequence[int], flow: str | None) -> None:
    found = {r.id: r for r in store.get_failed(ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise UserError(
            f"no failed record with id {listed} (`syncframe failed list FILE` shows the ids)"
        )
    for i in ids:
        record = found[i]
        if record.status != "open":
            raise UserError(f"failed record {i} was already delivered ({record.status})")
        if flow is not None and record.flow != flow:
            raise UserError(f"failed record {i} belongs to flow {record.flow!r}, not {flow!r}")


def _failed_table(records: Sequence[FailedRecord], *, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("flow", style="bold")
    table.add_column("record")
    table.add_column("reason")
    table.add_column("attempts", justify="right")
    table.add_column("first failed")
    table.add_column("last failed")
    for record in records:
        table.add_row(
            str(record.id),
            Text(record.flow),
            Text(record_name(record.change)),
            Text(record.reason, style="red"),
            str(record.attempts),
            format_time(record.first_failed_at),
            format_time(record.last_failed_at),
        )
    return table


def _print_retry_result(
    out: Console, delivered: Sequence[FailedRecord], failing: Sequence[FailedRecord]
) -> None:
    if delivered:
        table = Table(title=f"Delivered ({len(delivered)})", title_justify="left")
        table.add_column("id", justify="right")
        table.add_column("flow", style="bold")
        table.add_column("record")
        for record in delivered:
            table.add_row(str(record.id), Text(record.flow), Text(record_name(record.change)))
        out.print(table)
    if failing:
        out.print(_failed_table(failing, title=f"Still failing ({len(failing)})"))
    total = len(delivered) + len(failing)
    out.print(
        f"{len(delivered)} of {total} delivered, {len(failing)} still failing",
        style="red" if failing else "green",
        highlight=False,
    )


def _print_outcomes(
    out: Console, rows: Iterator[OutcomeRow], *, limit: int, offset: int, steps: bool = False
) -> tuple[int, int]:
    """Print a page of outcome rows as they stream in; return (shown, matched in all)."""
    shown = matched = 0
    chunk: list[OutcomeRow] = []
    first = True
    for row in rows:
        matched += 1
        if matched <= offset or (limit and shown >= limit):
            continue  # keep counting: the footer says how many there are
        chunk.append(row)
        shown += 1
        if len(chunk) >= _CHUNK:
            out.print(
                _step_table(chunk, header=first) if steps else _outcome_table(chunk, header=first)
            )
            chunk, first = [], False
    if chunk:
        out.print(
            _step_table(chunk, header=first) if steps else _outcome_table(chunk, header=first)
        )
    return shown, matched


def _step_table(rows: Sequence[OutcomeRow], *, header: bool) -> Table:
    """Each record, then one line per step it reached (the flow's step log)."""
    table = Table(show_header=header, title="Step log" if header else None, title_justify="left")
    table.add_column("record")
    table.add_column("step")
    table.add_column("outcome")
    table.add_column("detail")
    for row in rows:
        style = _OUTCOME_STYLES.get(row.outcome, "")
        if not row.steps:
            table.add_row(
                Text(row.record),
                Text("(no step log: the flow has step_log off)", style="dim"),
                Text(row.outcome, style=style),
                Text(row.reason or ""),
            )
            continue
        for n, entry in enumerate(row.steps):
            outcome = entry.get("outcome") or ""
            table.add_row(
                Text(row.record if n == 0 else ""),
                Text(entry.get("step") or ""),
                Text(outcome, style=_OUTCOME_STYLES.get(outcome, "")),
                Text(entry.get("detail") or ""),
                end_section=n == len(row.steps) - 1,
            )
    return table


_OUTCOME_STYLES = {"failed": "bold red", "rejected": "yellow", "blocked": "yellow"}


def _outcome_table(rows: Sequence[OutcomeRow], *, header: bool) -> Table:
    table = Table(show_header=header, title="Records" if header else None, title_justify="left")
    table.add_column("record")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("target")
    for row in rows:
        style = _OUTCOME_STYLES.get(row.outcome)
        table.add_row(
            Text(row.record),
            Text(row.outcome, style=style or ""),
            Text(row.reason or ""),
            Text(row.target_key or ""),
        )
    return table
