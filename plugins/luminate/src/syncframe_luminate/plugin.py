"""The hook implementations of the Luminate plugin (entry point ``luminate``).

What it registers: the ``luminate`` system (a Luminate Online site's web services), the sources
``luminate_transactions`` and ``luminate_constituents``, the sinks ``luminate_constituents``,
``luminate_sql`` and ``luminate_files``, the ``syncframe luminate`` commands and a step of
``syncframe demo``. See ``docs/luminate.md``.
"""

from __future__ import annotations

import importlib.util

import typer

from syncframe import hookimpl
from syncframe.registry import ComponentRegistrar, DemoRegistrar, SystemRegistrar

from .constituent_sink import ConstituentSink
from .file_sink import LuminateFileSink
from .settings import LuminateSettings
from .sources import ConstituentSource, TransactionSource
from .sql_sink import LuminateSqlSink

SYSTEM = "luminate"


@hookimpl
def syncframe_register_systems(register: SystemRegistrar) -> None:
    """A Luminate Online site's web services (SOAP), as connections of system ``luminate``."""
    register(SYSTEM, LuminateSettings, description="Luminate Online web services (SOAP)")


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """Transactions (with lookups and refunds) and constituents, one sync window per run."""
    register("luminate_transactions", TransactionSource)
    register("luminate_constituents", ConstituentSource)


@hookimpl
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    """Constituents into Luminate; downloads into a SQL database or one file per window."""
    register("luminate_constituents", ConstituentSink)
    register("luminate_sql", LuminateSqlSink)
    register("luminate_files", LuminateFileSink)


@hookimpl
def syncframe_register_commands(app: typer.Typer) -> None:
    """``syncframe luminate refunds``: the reconciled refund state of each gift."""
    from .refunds_cli import register

    register(app)


@hookimpl
def syncframe_register_demos(register: DemoRegistrar) -> None:
    """A simulated Luminate site synced into SQLite and CSV files (needs the simulator)."""
    if importlib.util.find_spec("luminate_simulator") is None:
        return  # installed without the simulators: no demo step
    from .demo import luminate_demo

    register(
        "luminate",
        luminate_demo,
        description="a simulated Luminate Online site synced into SQLite and CSV, twice",
    )
