"""``syncframe validate`` and ``syncframe schema``: checking flow files before running them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.table import Table
from rich.text import Text

from syncframe.cli.errors import UserError, guarded
from syncframe.cli.output import console, format_duration, kv_table
from syncframe.config.resolved import ConfigError, ConfigProblem, LoadedConfig, ResolvedComponent
from syncframe.host import Host

__all__ = ["check_flow", "load_flow_file", "redact_url", "register"]


def _named(component: ResolvedComponent) -> str:
    """A component as the table shows it: by type, and by its step's name when a flow kind
    gave it one (``search by CONSID (key_cascade)``), so two steps of one type are told apart."""
    name = component.component.name
    return f"{component.label} ({name})" if component.label else name


def load_flow_file(path: Path, host: Host) -> LoadedConfig:
    """Load and validate a flow file; a missing file is a config problem like any other."""
    from syncframe.config import load_config

    if not path.exists():
        raise ConfigError([ConfigProblem(str(path), None, "", "no such file")])
    if not path.is_file():
        raise ConfigError([ConfigProblem(str(path), None, "", "is a directory, not a flow file")])
    return load_config(path, host.registry)


def check_flow(loaded: LoadedConfig, flow: str | None) -> None:
    """Raise a user error naming the flows that exist when ``flow`` is not one of them."""
    if flow is None or flow in loaded.flows:
        return
    names = ", ".join(loaded.flows) or "none"
    raise UserError(f"{loaded.path}: no flow named {flow!r} (flows: {names})")


def redact_url(url: str) -> str:
    """A URL with any password replaced, safe to print (``postgresql://u:***@db/x``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _component(component: ResolvedComponent) -> str:
    name = component.component.name
    return f"{name} ({component.connection.name})" if component.connection else name


def register(app: typer.Typer, host: Host) -> None:
    """Add the ``validate`` and ``schema`` commands."""

    @app.command("validate")
    @guarded
    def validate(
        file: Path = typer.Argument(
            ..., help="The flow file (TOML or YAML).", metavar="FILE", show_default=False
        ),
    ) -> None:
        """Check a flow file and list every problem in it, or summarise what it would run.

        Each problem is printed as file:line: path: message; the exit code is 2 when there is any.
        """
        loaded = load_flow_file(file, host)
        out = console()
        flows = loaded.flows
        out.print(
            Text.assemble(
                ("✓ ", "bold green"),
                (str(file), "bold"),
                f" is valid: {len(loaded.connections)} connection"
                f"{'' if len(loaded.connections) == 1 else 's'}, "
                f"{len(flows)} flow{'' if len(flows) == 1 else 's'}",
            ),
            highlight=False,
        )
        connections = ", ".join(
            f"{name} ({conn.system.name})" for name, conn in loaded.connections.items()
        )
        out.print(
            kv_table(
                [
                    ("connections", connections or "none"),
                    ("state", redact_url(loaded.state_url)),
                ]
            )
        )
        if not flows:
            return
        table = Table(title="Flows", title_justify="left")
        table.add_column("flow", style="bold")
        table.add_column("source → sink")
        table.add_column("matchers")
        table.add_column("filters / guards")
        table.add_column("schedule")
        table.add_column("enabled")
        for name, flow in flows.items():
            schedule = flow.config.schedule
            table.add_row(
                Text(name),
                Text(f"{_component(flow.source)} → {_component(flow.sink)}"),
                Text(", ".join(_named(m) for m in flow.matchers) or "-"),
                Text(", ".join(_named(c) for c in [*flow.filters, *flow.loop_guards]) or "-"),
                f"every {format_duration(schedule.every)}" if schedule else "-",
                Text("yes", style="green") if flow.config.enabled else Text("no", style="yellow"),
            )
        out.print(table)

    @app.command("schema")
    @guarded
    def schema(
        output: Path | None = typer.Option(
            None,
            "--output",
            "-o",
            metavar="FILE",
            help="Write the schema to this file instead of standard output.",
            show_default=False,
        ),
    ) -> None:
        """Print the JSON Schema of flow files, with every installed plugin's options.

        Point an editor at it (e.g. a "#:schema" comment for Taplo, or yaml-language-server) to
        get completion and checking while writing flow files.
        """
        from syncframe.config import config_json_schema

        text = json.dumps(config_json_schema(host.registry), indent=2, ensure_ascii=False) + "\n"
        if output is None:
            sys.stdout.write(text)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
        console().print(Text.assemble("wrote the JSON Schema to ", (str(output), "bold")))
