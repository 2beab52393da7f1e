"""The hook implementations of the SmartSYNC-style plugin (entry point ``smartsync``).

Each connection type registers its own components (``re_nxt_side``, ``mailchimp_side``,
``salesforce_side``); this module only hands the registrars to each. See ``docs/smartsync.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncframe import hookimpl

from . import mailchimp_side, re_nxt_side, salesforce_side

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar

_SIDES = (re_nxt_side, mailchimp_side, salesforce_side)


@hookimpl
def syncframe_register_systems(register: SystemRegistrar) -> None:
    """``re_nxt``, ``mailchimp`` and ``salesforce``."""
    for side in _SIDES:
        side.register_systems(register)


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """Event steps: polling each system for changed records, and webhooks."""
    for side in _SIDES:
        side.register_sources(register)


@hookimpl
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    """Action steps: create, update and set consent in each system."""
    for side in _SIDES:
        side.register_sinks(register)


@hookimpl
def syncframe_register_filters(register: ComponentRegistrar) -> None:
    """Filters of each system (a list restriction, say)."""
    for side in _SIDES:
        side.register_filters(register)


@hookimpl
def syncframe_register_commands(app: typer.Typer, host: Host) -> None:
    """Commands of each system."""
    for side in _SIDES:
        side.register_commands(app, host)
