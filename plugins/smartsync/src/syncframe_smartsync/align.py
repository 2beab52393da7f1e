"""``syncframe align``: the one-off initial tidy of two systems before their flows are switched on.

SmartSYNC flows are transactional: they pass on changes as they happen and never compare both
systems in bulk. Before they start, the two sides must already agree (SmartMAILCHIMP's RE list
and Mailchimp audience "must mirror each other exactly"). ``syncframe align FILE FLOW --back
BACK_FLOW`` does that tidy with the flows' own connections: it reads every record of A (FLOW's
source) and of B (BACK_FLOW's source), pairs them by FLOW's ``key_cascade`` keys, and reports
what differs; ``--apply source`` or ``--apply target`` then makes the losing side hold the
winner's values. No flow's cursor or state is read or moved. See ``docs/smartsync/align.md``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import anyio
import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from syncframe.cli import EXIT_FAILED, EXIT_OK, UserError, console, guarded
from syncframe.cli.output import print_error
from syncframe.clock import Clock
from syncframe.engine import Engine, open_engine
from syncframe.host import Host
from syncframe.state import open_state
from syncframe_smartsync.align_compare import ReportRow, RowKind, comparison_rows
from syncframe_smartsync.align_sides import (
    AlignFailed,
    AlignFlows,
    Alignment,
    AlignNotPossible,
    ApplyResult,
    Resolution,
    SecretMask,
    align_flows,
    apply_resolution,
    compare_flows,
)

__all__ = ["register_align_command", "spreadsheet_safe", "write_report"]

log = logging.getLogger("syncframe.smartsync.align")

_KIND_STYLES = {
    RowKind.DIFFERS: "cyan",
    RowKind.ONLY_IN_A: "green",
    RowKind.ONLY_IN_B: "green",
    RowKind.AMBIGUOUS: "yellow",
    RowKind.REJECTED: "yellow",
    RowKind.FAILED: "bold red",
}
_OUTCOME_ORDER = ("created", "updated", "unchanged", "skipped", "rejected", "failed")


def register_align_command(
    app: typer.Typer,
    host: Host,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> None:
    """Add ``syncframe align`` to ``app``.

    ``transport`` and ``clock`` go to the engine the command opens (tests give simulators'
    in-process transports and clock; the command line leaves both to the engine's defaults).
    """

    @app.command("align")
    @guarded
    def align(
        file: Path = typer.Argument(
            ..., help="The flow file (TOML or YAML).", metavar="FILE", show_default=False
        ),
        flow: str = typer.Argument(
            ...,
            help="The flow A -> B: its source reads A, its key_cascade keys pair the records.",
            metavar="FLOW",
            show_default=False,
        ),
        back: str = typer.Option(
            ...,
            "--back",
            metavar="BACK_FLOW",
            help="The flow B -> A: its source reads B (and its sink writes A with --apply target).",
            show_default=False,
        ),
        report: Path | None = typer.Option(
            None,
            "--report",
            metavar="PATH.csv",
            help="Also write every difference (and every record rejected or failed) to this CSV.",
            show_default=False,
        ),
        apply: Resolution | None = typer.Option(
            None,
            "--apply",
            case_sensitive=False,
            help="Write the chosen side's values: source (A wins, written into B through FLOW's "
            "sink) or target (B wins, written into A through BACK_FLOW's sink). Default: report "
            "only, nothing is written.",
            show_default=False,
        ),
        fields: str | None = typer.Option(
            None,
            "--fields",
            metavar="a,b,...",
            help="Compare (and write) only these fields, by B's names. Default: every field "
            "both sides hold.",
            show_default=False,
        ),
        rows: int = typer.Option(
            50, "--rows", metavar="N", min=0, help="Report rows shown on screen (0: all)."
        ),
    ) -> None:
        """Compare two systems record by record before their flows are switched on, and
        optionally make one side hold the other's values.

        Reads every record of A (FLOW's source) and B (BACK_FLOW's source), pairs them by
        FLOW's key_cascade keys, and reports pairs identical and differing, records only in A
        or only in B, and records sharing a key value (ambiguous: never guessed). No flow's
        cursor or state is touched. Exit code 0 when everything went well; 1 when a side could
        not be read or, with --apply, records were rejected or failed; 2 for a bad flow file,
        flows that do not pair or a bad option.
        """
        wanted = _field_list(fields)
        if report is not None:
            _check_report_path(report)
        state = open_state("sqlite://:memory:")
        try:
            engine = open_engine(file, host=host, transport=transport, clock=clock, state=state)
            with engine:
                code = _align(engine, flow, back, report, apply, wanted, rows)
        finally:
            state.close()
        raise typer.Exit(code)


def _field_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise UserError("--fields: give field names separated by commas (e.g. first_name,email)")
    return names


def _check_report_path(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"--report {path}: is a directory; give a file name (e.g. align.csv)")
    if not path.parent.is_dir():
        raise UserError(f"--report {path}: the folder {path.parent} does not exist")


def _align(
    engine: Engine,
    flow: str,
    back: str,
    report: Path | None,
    apply: Resolution | None,
    fields: list[str] | None,
    limit: int,
) -> int:
    mask = SecretMask(engine.config)
    try:
        flows = align_flows(engine, flow, back)
    except AlignNotPossible as exc:
        raise UserError(mask(str(exc))) from None
    out = console()
    _print_intro(out, flows)

    async def work() -> tuple[Alignment, ApplyResult | None]:
        alignment = await compare_flows(engine, flows, fields=fields)
        # The report comes first: with --apply it shows what is about to be written.
        _print_comparison(out, alignment, mask, limit)
        if apply is None:
            return alignment, None
        return alignment, await apply_resolution(engine, alignment, apply, fields=fields)

    try:
        alignment, applied = anyio.run(work)
    except AlignNotPossible as exc:
        raise UserError(mask(str(exc))) from None
    except AlignFailed as exc:
        print_error(mask(str(exc)))
        out.print("nothing was written", style="yellow", highlight=False)
        return EXIT_FAILED
    except Exception as exc:
        # A plugin bug, say: its message, masked (the guard around commands would not mask).
        log.debug("align failed", exc_info=True)
        print_error(mask(f"{type(exc).__name__}: {exc}"))
        return EXIT_FAILED
    if applied is None:
        out.print(
            Text.assemble(
                ("Report only: nothing was written. ", "bold"),
                f"--apply source makes {flows.b} hold {flows.a}'s values; --apply target makes "
                f"{flows.a} hold {flows.b}'s values.",
            ),
            highlight=False,
            soft_wrap=True,
        )
    else:
        _print_applied(out, flows, applied, mask)
    rows = [*comparison_rows(alignment.comparison), *alignment.refused]
    if applied is not None:
        rows += applied.problems
    if report is not None:
        write_report(report, rows, mask)
        out.print(
            f"report: {report} ({len(rows):,} row{'s' if len(rows) != 1 else ''})",
            highlight=False,
        )
    if applied is not None and (applied.problems or alignment.refused):
        return EXIT_FAILED
    return EXIT_OK


def write_report(path: Path, rows: Sequence[ReportRow], mask: SecretMask | None = None) -> None:
    """The report as CSV: a header (``kind, a_key, b_key, field, a_value, b_value, reason``),
    then one line per row, secret setting values masked and cells a spreadsheet would run as
    a formula made text (:func:`spreadsheet_safe`)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ReportRow.COLUMNS)
        writer.writeheader()
        for row in rows:
            values = row.as_csv()
            writer.writerow(
                {k: spreadsheet_safe(mask(v) if mask else v) for k, v in values.items()}
            )


def spreadsheet_safe(value: str) -> str:
    """``value`` with a ``'`` in front when a spreadsheet would read it as a formula.

    The values come from other systems, some typed by the public (a Mailchimp sign-up form), and
    the report is meant to be opened in a spreadsheet: ``=HYPERLINK(...)`` must stay text.
    ``+44 113 ...`` and ``-5`` stay as they are (a digit or space after the sign is no formula
    an attacker can use).
    """
    if not value:
        return value
    first = value[0]
    if first in "=@\t\r" or (
        first in "+-" and len(value) > 1 and not (value[1].isdigit() or value[1] == " ")
    ):
        return "'" + value
    return value


# ---- what is printed ----------------------------------------------------------------------------


def _print_intro(out: Console, flows: AlignFlows) -> None:
    keys = ", then ".join(k.label for k in flows.keys)
    out.print(
        Text.assemble(
            ("A", "bold"),
            f" = {flows.a} (read by {flows.flow}), ",
            ("B", "bold"),
            f" = {flows.b} (read by {flows.back}); pairing on {keys}",
        ),
        highlight=False,
        soft_wrap=True,
    )
    for note in flows.ignored_since:
        out.print(
            f"reading every record: the source's start is ignored ({note})",
            style="dim",
            highlight=False,
            soft_wrap=True,
        )


def _print_comparison(out: Console, alignment: Alignment, mask: SecretMask, limit: int) -> None:
    flows, comparison = alignment.flows, alignment.comparison
    out.print(
        f"read {alignment.a_records:,} records from {flows.a} and {alignment.b_records:,} from "
        f"{flows.b}; compared fields: {', '.join(comparison.fields) or 'none'}",
        highlight=False,
        soft_wrap=True,
    )
    summary = Table(title="Alignment", title_justify="left")
    summary.add_column("records")
    summary.add_column("count", justify="right")
    values = [
        ("pairs identical", len(comparison.identical)),
        ("pairs differing", len(comparison.differing)),
        (f"only in A ({flows.a})", len(comparison.only_in_a)),
        (f"only in B ({flows.b})", len(comparison.only_in_b)),
        ("ambiguous records", comparison.ambiguous_records),
    ]
    if alignment.refused:
        values.append(("not comparable (mapping refused)", len(alignment.refused)))
    for name, count in values:
        summary.add_row(Text(name), Text(f"{count:,}", style="" if count else "dim"))
    out.print(summary)
    rows = [*comparison_rows(comparison), *alignment.refused]
    if rows:
        shown = rows if limit == 0 else rows[:limit]
        out.print(_rows_table(shown, mask, title="Differences"))
        if len(shown) < len(rows):
            out.print(
                f"… and {len(rows) - len(shown):,} more rows (--rows 0 shows all; --report "
                "writes all)",
                style="dim",
                highlight=False,
            )
    else:
        out.print("the two sides agree", style="green", highlight=False)


def _rows_table(rows: Sequence[ReportRow], mask: SecretMask, *, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("kind", "A key", "B key", "field", "A value", "B value", "why"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(
            Text(row.kind.value, style=_KIND_STYLES[row.kind]),
            *(
                Text(mask(v))
                for v in (row.a_key, row.b_key, row.field, row.a_value, row.b_value, row.reason)
            ),
        )
    return table


def _print_applied(out: Console, flows: AlignFlows, applied: ApplyResult, mask: SecretMask) -> None:
    winner, loser = (
        (flows.a, flows.b) if applied.resolution is Resolution.SOURCE else (flows.b, flows.a)
    )
    # A line of its own: a table title would wrap to the width of the few count columns.
    out.print(
        Text.assemble(
            (f"Applied: {winner} wins", "bold"), f", written into {loser} by {applied.flow}'s sink"
        ),
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    names = [n for n in _OUTCOME_ORDER if n in applied.counts]
    names += sorted(set(applied.counts) - set(_OUTCOME_ORDER))
    for name in names:
        table.add_column(name, justify="right")
    if names:
        table.add_row(
            *(
                Text(
                    f"{applied.counts[n]:,}",
                    style={"failed": "bold red", "rejected": "yellow"}.get(n, ""),
                )
                for n in names
            )
        )
        out.print(table)
    else:
        out.print(f"nothing to write into {loser}", style="green", highlight=False)
    if applied.problems:
        out.print(_rows_table(applied.problems, mask, title="Not written"))
        out.print(
            "run align again to see what still differs once the causes are fixed",
            style="yellow",
            highlight=False,
        )
