"""Plugins add commands through ``syncframe_register_commands``, with the CLI's error handling."""

from __future__ import annotations

from typing import Any

import typer

from syncframe import hookimpl
from syncframe.cli import UserError, console, guarded
from syncframe.host import Host
from tests.cli.conftest import make_invoke


class GreeterPlugin:
    """Adds ``syncframe greet NAME`` and a ``syncframe sim`` group."""

    __name__ = "greeter"

    @hookimpl
    def syncframe_register_commands(self, app: typer.Typer) -> None:
        @app.command("greet")
        @guarded
        def greet(name: str = typer.Argument(..., help="Who to greet.")) -> None:
            """Say hello (a plugin's command)."""
            if name == "nobody":
                raise UserError("nobody is there to greet")
            console().print(f"hello {name}")

        sim = typer.Typer(help="Run a simulator (a plugin's command group).")

        @sim.command("start")
        def start() -> None:
            """Start it."""
            console().print("simulator started")

        app.add_typer(sim, name="sim")


def invoke(*args: Any) -> Any:
    return make_invoke(Host(plugins=[GreeterPlugin()], entry_points=False))(*args)


def test_plugin_commands_are_listed_and_run() -> None:
    help_text = invoke("--help").output
    assert any("│ greet " in line and "Say hello" in line for line in help_text.splitlines())
    assert any("│ sim " in line for line in help_text.splitlines())
    result = invoke("greet", "Ada")
    assert result.exit_code == 0
    assert result.output.strip() == "hello Ada"
    assert invoke("sim", "start").output.strip() == "simulator started"


def test_plugin_commands_share_the_error_handling() -> None:
    result = invoke("greet", "nobody")
    assert result.exit_code == 2
    assert result.output.strip() == "error: nobody is there to greet"


def test_plugins_table_shows_hook_only_plugins() -> None:
    out = invoke("plugins").output
    line = next(line for line in out.splitlines() if "│ greeter " in line)
    assert "hooks: register_commands" in line


class BrokenRegistration:
    """A plugin whose registration hook has a bug."""

    __name__ = "broken_registration"

    @hookimpl
    def syncframe_register_sources(self, register: Any) -> None:
        raise RuntimeError("plugin bug while registering")


def test_unexpected_error_is_one_line_and_a_hint() -> None:
    cli = make_invoke(Host(plugins=[BrokenRegistration()], entry_points=False))
    result = cli("plugins")
    assert result.exit_code == 1
    assert "error: RuntimeError: plugin bug while registering" in result.output
    assert "run again with --log-level debug to see the traceback" in result.output
    assert "Traceback" not in result.output
    debug = cli("--log-level", "debug", "plugins")
    assert "Traceback" in debug.output
