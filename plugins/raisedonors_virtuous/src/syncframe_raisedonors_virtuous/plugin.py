"""The hook implementations of the RaiseDonors <-> Virtuous plugin (entry point
``raisedonors_virtuous``).

Each side of the sync registers its own components (``raisedonors_side`` and ``virtuous_side``);
this module only hands the registrars to both. See ``docs/raisedonors-virtuous.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncframe import hookimpl

from . import raisedonors_side, virtuous_side

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar

_SIDES = (raisedonors_side, virtuous_side)


@hookimpl
def syncframe_register_systems(register: SystemRegistrar) -> None:
    """``raisedonors`` (Legacy RaiseDonors) and ``virtuous`` (Virtuous CRM+)."""
    for side in _SIDES:
        side.register_systems(register)


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """The RaiseDonors activity feed and the Virtuous webhook."""
    for side in _SIDES:
        side.register_sources(register)


@hookimpl
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    """RaiseDonors donors and the Virtuous import tool."""
    for side in _SIDES:
        side.register_sinks(register)


@hookimpl
def syncframe_register_filters(register: ComponentRegistrar) -> None:
    """The edit-channel and reference-source rules of the sync."""
    for side in _SIDES:
        side.register_filters(register)


@hookimpl
def syncframe_register_commands(app: typer.Typer, host: Host) -> None:
    """``syncframe raisedonors-virtuous ...``."""
    for side in _SIDES:
        side.register_commands(app, host)
