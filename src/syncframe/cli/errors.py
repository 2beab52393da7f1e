"""How the command line ends: exit codes, user errors and the guard that keeps tracebacks away.

Exit codes (also in ``syncframe --help``):

* ``0``: everything succeeded.
* ``1``: a flow failed, records failed, a demo step failed, or something unexpected broke.
* ``2``: the command cannot start: a config problem, a missing file, an unknown flow or run id.
* ``130``: interrupted with Ctrl-C.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from syncframe.cli.output import err_console, print_error, print_problems
from syncframe.config.resolved import ConfigError
from syncframe.registry import PluginError
from syncframe.state.migrations import StateError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UserError",
    "guarded",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("syncframe.cli")

P = ParamSpec("P")
R = TypeVar("R")


class UserError(Exception):
    """Something the person at the keyboard can fix: shown as one line, exit code 2."""


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so every error ends in a clear message and the right exit code.

    Config problems print every problem as ``file:line: path: message``; user errors (and a
    plugin or state store that cannot be used) print one line; anything unexpected prints its
    message and a hint, with the traceback only in the log at debug level.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except ConfigError as exc:
            print_problems(exc.problems)
            raise typer.Exit(EXIT_USAGE) from None
        except (UserError, PluginError, StateError) as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        except KeyboardInterrupt:
            print_error("interrupted", label="stopped")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            log.debug("unexpected error", exc_info=True)
            print_error(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            err_console().print(
                "run again with --log-level debug to see the traceback", style="dim"
            )
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper
