"""``syncframe plugins``: what is installed and what each plugin provides."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from syncframe.cli.errors import guarded
from syncframe.cli.output import console
from syncframe.host import Host

__all__ = ["register"]

#: Registry tables as people name them, in the order a flow uses them.
KIND_LABELS = {
    "systems": "systems",
    "sources": "sources",
    "sinks": "sinks",
    "matchers": "matchers",
    "loop_guards": "loop guards",
    "filters": "filters",
    "converters": "converters",
    "demos": "demos",
    "flow_kinds": "flow kinds",
    "serve_routes": "serve routes",
}


def register(app: typer.Typer, host: Host) -> None:
    """Add the ``plugins`` command."""

    @app.command("plugins")
    @guarded
    def plugins(
        verbose: bool = typer.Option(
            False, "--verbose", "-v", help="Also list every registered name with its description."
        ),
    ) -> None:
        """List the loaded plugins, where each comes from and what it provides."""
        registry = host.registry
        out = console()
        table = Table(title="Plugins", title_justify="left")
        table.add_column("plugin", style="bold")
        table.add_column("origin", style="dim")
        table.add_column("provides")
        for name in host.plugin_names():
            provided = registry.provided_by(name)
            lines = Text()
            for kind, label in KIND_LABELS.items():
                names = provided.get(kind)
                if names:
                    if lines:
                        lines.append("\n")
                    lines.append(f"{label}: ", style="cyan")
                    lines.append(", ".join(names))
            if not lines:
                # A plugin may only observe runs or add commands: say which hooks it implements.
                hooks = _hooks_of(host, name)
                lines.append("hooks: ", style="cyan")
                lines.append(", ".join(hooks) if hooks else "none")
            table.add_row(name, host.plugin_origin(name), lines)
        out.print(table)
        if verbose:
            for kind, label in KIND_LABELS.items():
                entries = registry.tables()[kind]
                if not entries:
                    continue
                detail = Table(title=label.capitalize(), title_justify="left")
                detail.add_column("name", style="bold")
                detail.add_column("plugin", style="dim")
                detail.add_column("description")
                for entry_name in sorted(entries):
                    entry = entries[entry_name]
                    detail.add_row(entry_name, entry.plugin, Text(entry.description))
                out.print(detail)


def _hooks_of(host: Host, name: str) -> list[str]:
    plugin = host.pm.get_plugin(name)
    callers = host.pm.get_hookcallers(plugin) or []
    return sorted(caller.name.removeprefix("syncframe_") for caller in callers)
