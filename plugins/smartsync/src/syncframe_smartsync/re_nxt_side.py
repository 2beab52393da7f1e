"""What the re_nxt connection registers with syncframe (called from ``plugin.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar


def register_systems(register: SystemRegistrar) -> None:
    """Register this side's system."""


def register_sources(register: ComponentRegistrar) -> None:
    """Register this side's sources."""


def register_sinks(register: ComponentRegistrar) -> None:
    """Register this side's sinks."""


def register_filters(register: ComponentRegistrar) -> None:
    """Register this side's filters."""


def register_commands(app: typer.Typer, host: Host) -> None:
    """Register this side's commands."""
