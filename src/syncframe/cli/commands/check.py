"""``syncframe check``: can every component of a flow file reach its system?"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import typer
from rich.table import Table
from rich.text import Text

from syncframe.cli.commands.config import check_flow, load_flow_file
from syncframe.cli.errors import EXIT_FAILED, EXIT_OK, UserError, guarded
from syncframe.cli.output import console
from syncframe.engine import ComponentCheck
from syncframe.host import Host

__all__ = ["checks_table", "register"]


def checks_table(checks: list[ComponentCheck]) -> Table:
    """One row per component: flow, component, connection, and ok or the error."""
    table = Table(title="Connection checks", title_justify="left")
    table.add_column("flow", style="bold", no_wrap=True)
    table.add_column("component", no_wrap=True)
    table.add_column("connection", no_wrap=True)
    table.add_column("result", overflow="fold")
    for check in checks:
        table.add_row(
            Text(check.flow),
            Text(f"{check.kind} {check.component}"),
            Text(check.connection or "-"),
            Text("ok", style="green") if check.ok else Text(check.error or "", style="red"),
        )
    return table


def register(app: typer.Typer, host: Host) -> None:
    """Add the ``check`` command."""

    @app.command("check")
    @guarded
    def check(
        file: Path = typer.Argument(
            ..., help="The flow file (TOML or YAML).", metavar="FILE", show_default=False
        ),
        flow: list[str] | None = typer.Option(
            None,
            "--flow",
            "-f",
            metavar="NAME",
            help="Check only this flow's components (repeat for several). Default: every flow.",
            show_default=False,
        ),
    ) -> None:
        """Check the connections: build each flow's components and run their connection checks.

        Each source, sink, matcher, loop guard and filter is built as a run would build it and
        asked to check that it can work (reach its system, log in). Nothing is read or written.
        Exit code 0 when every check passed, 1 when any failed, 2 when the file has problems.
        """
        from syncframe.engine import Engine, FlowNotFound

        loaded = load_flow_file(file, host)
        flows = list(flow) if flow else None
        for name in flows or ():
            check_flow(loaded, name)
        out = console()
        with Engine(loaded, host) as engine:
            try:
                checks = anyio.run(partial(engine.check_connections, flows))
            except FlowNotFound as exc:
                raise UserError(str(exc)) from None
        if not checks:
            out.print("nothing to check (the file has no flows)", style="yellow")
            raise typer.Exit(EXIT_OK)
        out.print(checks_table(checks))
        failed = sum(1 for c in checks if not c.ok)
        if failed:
            out.print(
                f"{failed} of {len(checks)} check{'s' if len(checks) != 1 else ''} failed",
                style="bold red",
                highlight=False,
            )
            raise typer.Exit(EXIT_FAILED)
        out.print(
            f"all {len(checks)} check{'s' if len(checks) != 1 else ''} passed",
            style="green",
            highlight=False,
        )
