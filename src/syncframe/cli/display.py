"""The live view of running flows: one progress line per flow, updated after every batch.

The engine reports progress through its ``progress`` callback (flow name and running summary)
and through the run hooks (a run started, a run finished). :class:`RunDisplay` takes both: it is
registered on the host as a plugin for as long as the command runs. Without a terminal (CI,
pipes) there is no live display; in schedule mode each finished run is still printed as a line.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from syncframe.cli.output import counts_text, format_time, status_text
from syncframe.hookspecs import hookimpl
from syncframe.host import Host
from syncframe.runinfo import RunInfo, RunSummary

__all__ = ["RunDisplay"]

_PLUGIN_NAME = "syncframe-cli-display"


class RunDisplay:
    """Shows flows' progress while they run; used as a context manager around the runs."""

    def __init__(
        self, console: Console, host: Host, *, live: bool | None = None, log_runs: bool = False
    ) -> None:
        self.console = console
        self.host = host
        self.live = console.is_terminal if live is None else live
        #: Print one line per finished run (schedule mode: runs keep coming, no table at the end).
        self.log_runs = log_runs
        self.finished: list[tuple[RunInfo, RunSummary]] = []
        self._progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("[bold]{task.fields[flow]}"),
            TextColumn("{task.fields[state]}"),
            TextColumn("batches {task.fields[batches]}"),
            TextColumn("records {task.completed:,.0f}"),
            TextColumn("[dim]{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.live,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    # ---- context manager ---------------------------------------------------------------------
    def __enter__(self) -> RunDisplay:
        self.host.pm.register(self, name=_PLUGIN_NAME)
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()
        if self.host.pm.get_plugin(_PLUGIN_NAME) is self:
            self.host.pm.unregister(self)

    # ---- the engine's progress callback ------------------------------------------------------
    def __call__(self, flow: str, summary: RunSummary) -> None:
        """Called by the engine after every batch with the flow's running summary."""
        task = self._task(flow)
        self._progress.update(
            task,
            completed=summary.total,
            batches=summary.batches,
            counts=counts_text(summary.counts),
        )

    def _task(self, flow: str, *, restart: bool = False) -> TaskID:
        task = self._tasks.get(flow)
        if task is None:
            task = self._progress.add_task(
                flow, total=None, flow=flow, state="running", batches=0, counts=""
            )
            self._tasks[flow] = task
        elif restart:
            self._progress.reset(task, total=None, state="running", batches=0, counts="")
        return task

    # ---- run hooks ---------------------------------------------------------------------------
    @hookimpl
    def syncframe_run_started(self, run: RunInfo) -> None:
        """A flow started: show (or restart) its line."""
        task = self._task(run.flow, restart=True)
        label = "dry run" if run.dry_run else ("retrying" if run.kind == "retry" else "running")
        self._progress.update(task, state=label)

    @hookimpl
    def syncframe_run_finished(self, run: RunInfo, summary: RunSummary) -> None:
        """A flow ended: freeze its line with the final status."""
        self.finished.append((run, summary))
        task = self._task(run.flow)
        self._progress.update(
            task,
            completed=summary.total,
            total=summary.total,
            batches=summary.batches,
            counts=counts_text(summary.counts),
            state=f"[{_style(summary.status)}]{summary.status}[/]",
        )
        if self.log_runs:
            line = Text.assemble(
                (format_time(run.started_at), "dim"),
                " ",
                (run.flow, "bold"),
                " ",
                status_text(summary.status),
                f": {counts_text(summary.counts)} in {summary.seconds:.2f}s ",
                (f"run {run.run_id}", "dim"),
            )
            if summary.error:
                line.append(f" — {summary.error}", style="red")
            self.console.print(line, soft_wrap=True, highlight=False)


def _style(status: str) -> str:
    return {"succeeded": "green", "failed": "bold red", "interrupted": "yellow"}.get(status, "cyan")
