"""The ``syncframe`` command line: the root application, global options and the entry point."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import Any

import typer
from rich.logging import RichHandler

from syncframe.cli.commands import check, config, demo, history, plugins, run, serve
from syncframe.cli.errors import EXIT_USAGE
from syncframe.cli.output import err_console, print_error
from syncframe.host import Host
from syncframe.registry import PluginError

__all__ = ["LogLevel", "build_app", "main"]

_HELP = """\
syncframe keeps nonprofit fundraising systems in sync.

A flow file (TOML or YAML) names connections and flows; each flow reads changes from a source,
filters, guards against loops, maps fields, matches records and writes them to a sink. Start
with **syncframe demo**, check a file with **syncframe validate**, then **syncframe run** it.
"""

_EPILOG = (
    "Exit codes: 0 success · 1 a flow or records failed (or an unexpected error) · "
    "2 bad config, missing file, unknown flow or run id · 130 interrupted."
)


class LogLevel(StrEnum):
    """How much syncframe logs to standard error."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _set_up_logging(level: LogLevel) -> RichHandler:
    """Send log records at ``level`` and above to standard error through Rich."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _CliLogHandler):
            root.removeHandler(handler)
    handler = _CliLogHandler(
        tracebacks=level is LogLevel.debug,
        console=err_console(),
        show_path=False,
        markup=False,
        log_time_format="%H:%M:%S",
    )
    numeric = logging.getLevelName(level.value.upper())
    handler.setLevel(numeric)
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler


class _CliLogHandler(RichHandler):
    """The handler the command line installs (told apart so it is replaced, not stacked).

    Below debug level a logged exception shows its message, not its traceback: tracebacks are
    for ``--log-level debug``.
    """

    def __init__(self, *, tracebacks: bool, **kwargs: Any) -> None:
        super().__init__(rich_tracebacks=True, **kwargs)
        self.tracebacks = tracebacks

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and not self.tracebacks:
            exc = record.exc_info[1]
            record = logging.makeLogRecord(record.__dict__)
            message = record.getMessage()
            if exc is not None:
                message += f": {type(exc).__name__}: {exc}"
            record.msg = f"{message} (--log-level debug shows the traceback)"
            record.args = None
            record.exc_info = record.exc_text = None
        super().emit(record)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"syncframe {version('syncframe')}")
        raise typer.Exit()


def build_app(host: Host | None = None) -> typer.Typer:
    """The command-line application: built-in commands plus those plugins add.

    ``host`` is the plugin host the commands use (a new one, loading the installed plugins, when
    not given); tests pass their own.
    """
    host = host or Host()
    app = typer.Typer(
        name="syncframe",
        help=_HELP,
        epilog=_EPILOG,
        no_args_is_help=True,
        rich_markup_mode="markdown",
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        log_level: LogLevel = typer.Option(
            LogLevel.warning,
            "--log-level",
            envvar="SYNCFRAME_LOG_LEVEL",
            case_sensitive=False,
            help="Log to standard error from this level up; debug also shows tracebacks.",
        ),
        version: bool = typer.Option(
            False,
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ) -> None:
        handler = _set_up_logging(log_level)
        # Tests run many commands in one process: do not leave a handler on a closed stream.
        ctx.call_on_close(lambda: logging.getLogger().removeHandler(handler))

    for module in (plugins, config, check, run, serve, history, demo):
        module.register(app, host)
    host.add_commands(app)
    return app


def main() -> None:
    """The ``syncframe`` console script (and ``python -m syncframe``)."""
    try:
        app = build_app()
    except PluginError as exc:
        print_error(str(exc))
        sys.exit(EXIT_USAGE)
    app(prog_name="syncframe")
