"""The hook implementations of the RE connector plugin (entry point ``re_connector``).

What it registers: the systems ``raisers_edge`` (the RE query interface), ``luminate_ftp`` (the
site's ``shortname_ds`` FTP account) and ``re_connector`` (the connector machine as Luminate's
data sync operation calls it); the sources ``re_constituents``, ``re_code_tables`` and
``luminate_download``; the sinks ``luminate_upload`` and ``re_import_area``; the
``/re-connector/upload`` and ``/re-connector/download`` routes of ``syncframe serve``; and the
``syncframe re-connector`` commands; and a step of ``syncframe demo`` when the simulators are
installed. See ``docs/re-connector.md``.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from syncframe import hookimpl

from .download import ImportAreaSink, LuminateDownloadSource
from .re_sources import CodeTableSource, ConstituentSource
from .settings import (
    CONNECTOR_SYSTEM,
    FTP_SYSTEM,
    RE_SYSTEM,
    LuminateFtpSettings,
    RaisersEdgeSettings,
    ReConnectorSettings,
)
from .upload_sink import LuminateUploadSink

if TYPE_CHECKING:
    import typer

    from syncframe.demo import DemoContext
    from syncframe.host import Host
    from syncframe.registry import (
        ComponentRegistrar,
        DemoRegistrar,
        ServeRouteRegistrar,
        SystemRegistrar,
    )


@hookimpl
def syncframe_register_systems(register: SystemRegistrar) -> None:
    """``raisers_edge``, ``luminate_ftp`` and ``re_connector``."""
    register(RE_SYSTEM, RaisersEdgeSettings, description="Raiser's Edge query interface")
    register(
        FTP_SYSTEM, LuminateFtpSettings, description="Luminate Online data sync FTP (shortname_ds)"
    )
    register(
        CONNECTOR_SYSTEM,
        ReConnectorSettings,
        description="The RE connector machine Luminate's data sync calls",
    )


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """RE's changed constituents and code tables; Luminate's files in /download/."""
    register("re_constituents", ConstituentSource)
    register("re_code_tables", CodeTableSource)
    register("luminate_download", LuminateDownloadSource)


@hookimpl
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    """Upload files for Luminate; RE's import area."""
    register("luminate_upload", LuminateUploadSink)
    register("re_import_area", ImportAreaSink)


@hookimpl
def syncframe_register_serve_routes(register: ServeRouteRegistrar) -> None:
    """``/re-connector/upload`` and ``/re-connector/download``: the calls of Luminate's sync."""
    from .routes import serve_routes

    register("re_connector", serve_routes)


@hookimpl
def syncframe_register_commands(app: typer.Typer, host: Host) -> None:
    """``syncframe re-connector check|status``."""
    from .cli import register

    register(app, host)


#: The simulators the demo step serves (test dependencies, not the connector's).
_DEMO_SIMULATORS = ("raisers_edge_simulator", "luminate_simulator", "syncframe_simulators")


@hookimpl
def syncframe_register_demos(register: DemoRegistrar) -> None:
    """Raiser's Edge <-> Luminate Online through the connector machine (needs the simulators)."""
    if any(importlib.util.find_spec(name) is None for name in _DEMO_SIMULATORS):
        return  # installed without the simulators: no demo step
    register(
        "re_connector",
        _re_connector_demo,
        description="Raiser's Edge <-> Luminate Online through the RE connector machine and FTP",
    )


async def _re_connector_demo(ctx: DemoContext) -> str:
    """The demo step; its module (and the simulators it serves) load only when it runs."""
    from .demo import re_connector_demo

    return await re_connector_demo(ctx)
