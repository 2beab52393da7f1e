"""What the command line prints: consoles, error lines and the tables several commands share.

Text that comes from files, records or other systems is never read as Rich markup (a record
named ``crm.contact[id=42]`` must print as it is), so it goes through :class:`rich.text.Text`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from syncframe.components import Outcome
from syncframe.config.resolved import ConfigProblem
from syncframe.runinfo import RunSummary

if TYPE_CHECKING:
    from syncframe.engine import PlannedWrite, RunReport

__all__ = [
    "OUTCOME_COLUMNS",
    "console",
    "counts_text",
    "err_console",
    "format_duration",
    "format_time",
    "kv_table",
    "planned_table",
    "print_error",
    "print_problems",
    "status_text",
    "summary_table",
    "values_text",
]

#: Outcome columns of the run summary, in the order people read them.
OUTCOME_COLUMNS = (
    "created",
    "updated",
    "unchanged",
    "skipped",
    "rejected",
    "filtered",
    "blocked",
    "failed",
)

# Piped output (CI logs, files) has no terminal width; Rich would assume 80 columns and squeeze
# tables until run ids wrap. Wide enough for every table here, and tables do not stretch.
_PIPE_WIDTH = 200


def _make(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    isatty = getattr(stream, "isatty", None)
    piped = not (callable(isatty) and isatty())
    width = _PIPE_WIDTH if piped and "COLUMNS" not in os.environ else None
    return Console(file=stream, width=width, stderr=stderr)


def console() -> Console:
    """A console on standard output (made per call: tests swap ``sys.stdout``)."""
    return _make(stderr=False)


def err_console() -> Console:
    """A console on standard error, for errors, problems and logs."""
    return _make(stderr=True)


def print_error(message: str, *, label: str = "error") -> None:
    """One error line on standard error: ``error: message``."""
    err_console().print(
        Text.assemble((f"{label}: ", "bold red"), message), soft_wrap=True, highlight=False
    )


def print_problems(problems: Sequence[ConfigProblem]) -> None:
    """Every problem of a flow file, one ``file:line: path: message`` line each, then a count."""
    out = err_console()
    for problem in problems:
        # soft_wrap: one problem, one line, so editors and grep can jump to it.
        out.print(Text(str(problem)), soft_wrap=True, highlight=False)
    files = sorted({p.file for p in problems})
    where = files[0] if len(files) == 1 else f"{len(files)} files"
    noun = "problem" if len(problems) == 1 else "problems"
    out.print(
        Text.assemble((f"{len(problems)} {noun}", "bold red"), f" in {where}"), highlight=False
    )


def format_duration(value: timedelta) -> str:
    """A duration as flow files write it: ``90s``, ``5m``, ``1h``, ``1d`` (largest exact unit)."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def format_time(value: datetime | None) -> str:
    """A timestamp as people read it in a table (seconds, with the offset when not UTC)."""
    if value is None:
        return "-"
    text = value.isoformat(sep=" ", timespec="seconds")
    return text.removesuffix("+00:00")


_STATUS_STYLES = {
    "succeeded": "green",
    "failed": "bold red",
    "interrupted": "yellow",
    "running": "cyan",
}


def status_text(status: str) -> Text:
    """A run status, coloured."""
    return Text(status, style=_STATUS_STYLES.get(status, ""))


def counts_text(counts: Mapping[str, int]) -> str:
    """Non-zero outcome counts in reading order: ``created 3 · updated 1``."""
    order = [*OUTCOME_COLUMNS, *sorted(set(counts) - set(OUTCOME_COLUMNS))]
    parts = [f"{name} {counts[name]:,}" for name in order if counts.get(name)]
    return " · ".join(parts) if parts else "nothing to do"


def _count_cell(counts: Mapping[str, int], name: str) -> Text:
    value = counts.get(name, 0)
    if not value:
        return Text("0", style="dim")
    style = {"failed": "bold red", "rejected": "yellow", "blocked": "yellow"}.get(name, "")
    return Text(f"{value:,}", style=style)


#: Below this width the summary table leaves out outcome columns that are zero in every row.
COMPACT_BELOW = 160
_ALWAYS_SHOWN = ("created", "updated", "failed")


def summary_table(
    reports: Sequence[RunReport], *, title: str | None = None, width: int | None = None
) -> Table:
    """One row per run: flow, status, outcome counts, seconds and run id.

    On a console narrower than :data:`COMPACT_BELOW` (``width``), outcome columns that are zero
    for every run are left out, so the table fits without cutting names short.
    """
    summaries: list[RunSummary] = [r.summary for r in reports]
    seen = {name for s in summaries for name, n in s.counts.items() if n}
    # "deleted" and outcomes plugins invent are shown only when some run has them.
    extra = sorted(seen - set(OUTCOME_COLUMNS))
    columns = [*OUTCOME_COLUMNS[:2], *[c for c in extra if c == "deleted"], *OUTCOME_COLUMNS[2:]]
    columns += [c for c in extra if c != "deleted"]
    if width is not None and width < COMPACT_BELOW:
        columns = [c for c in columns if c in seen or c in _ALWAYS_SHOWN]
    table = Table(title=title, title_justify="left")
    longest = max((len(r.flow) for r in reports), default=4)
    table.add_column("flow", style="bold", no_wrap=True, min_width=min(longest, 32))
    table.add_column("status", min_width=9)
    for name in columns:
        table.add_column(name, justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("run id", style="dim", overflow="fold")
    for report in reports:
        s = report.summary
        table.add_row(
            Text(report.flow),
            status_text(s.status),
            *[_count_cell(s.counts, name) for name in columns],
            f"{s.seconds:.2f}",
            "not kept (dry run)" if report.dry_run else report.run_id,
        )
    return table


_VALUE_WIDTH = 40  # longest value shown in a dry-run plan


def values_text(fields: Mapping[str, Any]) -> str:
    """Field values as a dry run shows them: ``name=Ada Lovelace · email=ada@example.org``."""
    parts = []
    for name, value in fields.items():
        text = "" if value is None else str(value)
        if len(text) > _VALUE_WIDTH:
            text = text[: _VALUE_WIDTH - 1] + "…"
        parts.append(f"{name}={text}")
    return " · ".join(parts)


def planned_table(planned: Iterable[PlannedWrite], *, title: str | None = None) -> Table:
    """What a dry run would write: record, operation, outcome, why (or which target) and, for
    records it would write, the values (target-side field names)."""
    table = Table(title=title, title_justify="left")
    table.add_column("record", no_wrap=True)
    table.add_column("operation")
    table.add_column("outcome")
    table.add_column("why / target")
    table.add_column("values", style="dim")
    for write in planned:
        outcome = Outcome(write.outcome)
        style = {
            "created": "green",
            "updated": "cyan",
            "rejected": "yellow",
            "failed": "bold red",
            "blocked": "yellow",
        }.get(outcome.value, "")
        why = write.reason or (f"→ {write.target_key}" if write.target_key else "")
        table.add_row(
            Text(write.record),
            Text(str(write.operation)),
            Text(outcome.value, style=style),
            Text(why),
            Text(values_text(write.fields) if outcome.wrote else ""),
        )
    return table


def kv_table(rows: Iterable[tuple[str, Any]]) -> Table:
    """A two-column "name: value" grid (run headers and the like)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, value if isinstance(value, Text) else Text(str(value)))
    return grid
