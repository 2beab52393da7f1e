"""The hook implementations of the SmartSYNC-style plugin (entry point ``smartsync``).

Each connection type registers its own components (``re_nxt_side``, ``mailchimp_side``,
``salesforce_side``); this module hands the registrars to each, and registers what the flows
made of steps add on top: the ``smartsync`` flow kind (``steps``), the ``api`` event step
(``api_event``), the ``skip`` action, the ``smartsync_account`` system and its real-time API
route (``account``, ``realtime_service``), ``syncframe align`` and the demo step. See
``docs/smartsync.md``.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from syncframe import hookimpl

from . import account, api_event, mailchimp_side, re_nxt_side, salesforce_side, steps

if TYPE_CHECKING:
    import typer

    from syncframe.demo import DemoContext
    from syncframe.host import Host
    from syncframe.registry import (
        ComponentRegistrar,
        DemoRegistrar,
        FlowKindRegistrar,
        ServeRouteRegistrar,
        SystemRegistrar,
    )

_SIDES = (re_nxt_side, mailchimp_side, salesforce_side)


@hookimpl
def syncframe_register_systems(register: SystemRegistrar) -> None:
    """``re_nxt``, ``mailchimp``, ``salesforce``, and ``smartsync_account`` (the real-time API)."""
    for side in _SIDES:
        side.register_systems(register)
    account.register_systems(register)


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """Event steps: polling each system for changed records, and webhooks."""
    for side in _SIDES:
        side.register_sources(register)
    register(
        steps.API_SOURCE,
        api_event.ApiEventSource,
        description="The api event step: data POSTed to the real-time API, one change a request",
    )


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
    """Commands of each system, and ``syncframe align`` (the one-off initial tidy)."""
    from .align import register_align_command

    for side in _SIDES:
        side.register_commands(app, host)
    register_align_command(app, host)


@hookimpl
def syncframe_register_flow_kinds(register: FlowKindRegistrar) -> None:
    """``smartsync``: flows written as an event step, search steps and an action step."""
    register(steps.KIND, steps.SmartsyncFlowKind())


@hookimpl
def syncframe_register_matchers(register: ComponentRegistrar) -> None:
    """``smartsync_skip``: the ``skip`` action step."""
    register(steps.SKIP_ACTION, steps.SkipAction)


@hookimpl
def syncframe_register_serve_routes(register: ServeRouteRegistrar) -> None:
    """``/apis/execute.php``: the real-time API, in ``syncframe serve``."""
    from .realtime_service import serve_routes

    register("smartsync_realtime_api", serve_routes)


@hookimpl
def syncframe_register_demos(register: DemoRegistrar) -> None:
    """RE NXT <-> Mailchimp SmartSYNC-style flows against their simulators (needs them)."""
    if importlib.util.find_spec("re_nxt_simulator") is None:
        return  # installed without the simulators: no demo step
    register(
        "smartsync",
        _smartsync_demo,
        description="RE NXT <-> Mailchimp flows made of steps, with one-way loop protection",
    )


async def _smartsync_demo(ctx: DemoContext) -> str:
    """The demo step; its module (and the simulators it serves) load only when it runs."""
    from .demo import smartsync_demo

    return await smartsync_demo(ctx)
