"""The kit as a syncframe plugin: adds ``syncframe simulate``.

The kit registers no simulator of its own; simulator plugins (``luminate_simulator``...)
register theirs through ``syncframe_register_simulators`` and this command serves them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
import uvicorn
from rich.table import Table
from rich.text import Text

from syncframe.cli import UserError, console, guarded
from syncframe.clock import Clock, ManualClock, SystemClock
from syncframe.hookspecs import hookimpl
from syncframe.host import Host
from syncframe.registry import SimulatorEntry
from syncframe_simulators.server import base_url_of, bind_socket, quiet_simulated_disconnects
from syncframe_simulators.simulator import ADMIN_PREFIX, Simulator

__all__ = ["add_simulate_command", "syncframe_register_commands"]


def _known(simulators: dict[str, SimulatorEntry]) -> str:
    if not simulators:
        return "no simulators are installed (install a simulator plugin, e.g. luminate)"
    return "known simulators: " + ", ".join(sorted(simulators))


def _list(simulators: dict[str, SimulatorEntry]) -> None:
    out = console()
    if not simulators:
        out.print(_known(simulators))
        return
    table = Table(title="Simulators", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("plugin", style="dim")
    table.add_column("description")
    for name in sorted(simulators):
        entry = simulators[name]
        table.add_row(name, entry.plugin, Text(entry.description))
    out.print(table)


def add_simulate_command(app: typer.Typer, host: Callable[[], Host] = Host) -> None:
    """Add ``syncframe simulate`` to ``app``; ``host()`` gives the plugin host whose simulators
    it serves (called when the command runs, so plugins load lazily)."""

    @app.command("simulate")
    @guarded
    def simulate(
        name: str | None = typer.Argument(
            None, help="The registered simulator to serve (see --list)."
        ),
        port: int = typer.Option(
            8000, "--port", "-p", min=0, max=65535, help="Port to listen on (0: a free one)."
        ),
        bind: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        seed: int = typer.Option(0, "--seed", help="Seed of the fault injection."),
        manual_clock: bool = typer.Option(
            False,
            "--manual-clock",
            help="Start a manual clock at 2026-01-01T09:00Z that only POST /_admin/clock "
            "moves, instead of following the system clock.",
        ),
        list_only: bool = typer.Option(False, "--list", help="List the simulators and exit."),
    ) -> None:
        """Serve a simulator of an external system over HTTP, with its admin API."""
        simulators = host().registry.simulators
        if list_only:
            _list(simulators)
            return
        if name is None:
            raise UserError(f"name the simulator to serve; {_known(simulators)}")
        entry = simulators.get(name)
        if entry is None:
            raise UserError(f"unknown simulator {name!r}; {_known(simulators)}")
        clock: Clock = ManualClock() if manual_clock else SystemClock()
        simulator = entry.factory(clock=clock, seed=seed)
        app_ = simulator.app if isinstance(simulator, Simulator) else simulator
        if not callable(app_):
            raise UserError(
                f"simulator {name!r} of plugin {entry.plugin!r} did not build an ASGI app "
                f"(its factory returned {type(simulator).__name__})"
            )
        try:
            sock = bind_socket(bind, port)
        except OSError as exc:
            raise UserError(str(exc.strerror or exc)) from None
        url = base_url_of(sock)
        out = console()
        out.print(f"simulator {name} serving at {url}", highlight=False)
        if isinstance(simulator, Simulator):
            out.print(f"admin API at {url}{ADMIN_PREFIX}/", highlight=False)
            kind = "manual (POST /_admin/clock moves it)" if manual_clock else "system"
            out.print(f"clock: {kind}; fault seed {seed}; Ctrl-C stops", highlight=False)
        # The caller may be a script waiting for the URLs on a pipe.
        sys.stdout.flush()
        # Lifespan on: a simulator may run a schedule of its own while served (Luminate's data
        # sync calls the RE connector when its schedule fires).
        config = uvicorn.Config(
            app_, log_level="info", lifespan="auto", timeout_graceful_shutdown=1
        )
        quiet_simulated_disconnects()
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()


@hookimpl
def syncframe_register_commands(app: typer.Typer, host: Host) -> None:
    """``syncframe simulate NAME`` and ``--list``, serving the CLI host's simulators."""
    add_simulate_command(app, lambda: host)
