"""The ``syncframe`` command line (Typer + Rich).

``main`` is the console script; ``build_app(host)`` builds the application around a given
plugin host (tests use it with :class:`typer.testing.CliRunner`). Plugins add commands through
the ``syncframe_register_commands`` hook; wrapping a command in :func:`guarded` and raising
:class:`UserError` gives it the same error handling and exit codes as the built-in ones, and
:func:`console` is where it should print.
"""

from syncframe.cli.app import build_app, main
from syncframe.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UserError, guarded
from syncframe.cli.output import console, err_console

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UserError",
    "build_app",
    "console",
    "err_console",
    "guarded",
    "main",
]
