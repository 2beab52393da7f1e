"""``syncframe demo``: run every installed plugin's demo steps into a fresh work directory."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import anyio
import typer
from rich.rule import Rule
from rich.text import Text

from syncframe.cli.display import RunDisplay
from syncframe.cli.errors import EXIT_FAILED, EXIT_OK, UserError, guarded
from syncframe.cli.output import console
from syncframe.clock import SystemClock
from syncframe.host import Host

__all__ = ["MARKER", "prepare_workdir", "register"]

log = logging.getLogger("syncframe.cli")

#: Left in a demo work directory so a later demo may wipe it (and nothing else).
MARKER = ".syncframe-demo"

_RULE_WIDTH = 100  # piped output is 200 columns wide; a separator needs less


def prepare_workdir(workdir: Path) -> Path:
    """Empty ``workdir`` (only if an earlier demo made it, or it is empty) and return it.

    The demo starts from nothing every time so that it shows the same thing every time; a
    directory the demo did not make is never wiped.
    """
    workdir = workdir.resolve()
    if workdir.exists():
        if not workdir.is_dir():
            raise UserError(f"{workdir}: is a file, not a directory; choose another --workdir")
        if (workdir / MARKER).exists():
            shutil.rmtree(workdir)
        elif any(workdir.iterdir()):
            raise UserError(
                f"{workdir}: not empty and not made by `syncframe demo`, so it is left alone; "
                "choose another --workdir"
            )
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by `syncframe demo`; the next demo wipes this folder\n")
    return workdir


def register(app: typer.Typer, host: Host) -> None:
    """Add the ``demo`` command."""

    @app.command("demo")
    @guarded
    def demo(
        workdir: Path = typer.Option(
            Path("demo-output"),
            "--workdir",
            "-w",
            metavar="DIR",
            help="Where the demo writes its files; emptied first (only if a demo made it).",
        ),
        step: list[str] | None = typer.Option(
            None,
            "--step",
            metavar="NAME",
            help="Run only this demo step (repeat for several). Default: all of them.",
            show_default=False,
        ),
    ) -> None:
        """Run real flows on generated data and show what landed: the quickest tour.

        Every installed plugin may add demo steps; they run in order, each in its own folder
        of the work directory, and each prints one line about what it did. Exit code 0 when
        every step succeeded.
        """
        from syncframe.demo import DemoContext

        demos = host.registry.demos
        names = list(step) if step else list(demos)
        unknown = [name for name in names if name not in demos]
        if unknown:
            raise UserError(
                f"no demo step named {', '.join(map(repr, unknown))} "
                f"(steps: {', '.join(demos) or 'none'})"
            )
        if not names:
            raise UserError("no demo steps are installed (is the builtins plugin blocked?)")
        root = prepare_workdir(workdir)
        out = console()
        clock = SystemClock()
        failed: list[str] = []
        started = time.perf_counter()
        with RunDisplay(out, host, live=False, log_runs=True):
            for name in names:
                entry = demos[name]
                out.print(
                    Rule(Text(f"{name}: {entry.description}"), align="left", style="cyan"),
                    width=min(out.width, _RULE_WIDTH),
                )
                context = DemoContext(workdir=root / name, console=out, clock=clock, host=host)
                context.workdir.mkdir(parents=True, exist_ok=True)
                try:
                    line = anyio.run(entry.step, context)
                except Exception as exc:
                    log.debug("demo step %s failed", name, exc_info=True)
                    failed.append(name)
                    out.print(
                        Text.assemble(
                            ("✗ ", "bold red"), (name, "bold"), f": {type(exc).__name__}: {exc}"
                        ),
                        soft_wrap=True,
                        highlight=False,
                    )
                    continue
                out.print(
                    Text.assemble(("✓ ", "bold green"), (name, "bold"), f": {line}"),
                    soft_wrap=True,
                    highlight=False,
                )
        seconds = time.perf_counter() - started
        out.print(Rule(style="cyan"), width=min(out.width, _RULE_WIDTH))
        if failed:
            out.print(
                f"{len(failed)} of {len(names)} demo steps failed ({', '.join(failed)}); "
                "run again with --log-level debug to see why",
                style="bold red",
                highlight=False,
            )
            raise typer.Exit(EXIT_FAILED)
        out.print(
            Text.assemble(
                f"demo finished: {len(names)} step{'s' if len(names) != 1 else ''} in "
                f"{seconds:.1f}s; files in ",
                (str(root), "bold"),
            ),
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(EXIT_OK)
