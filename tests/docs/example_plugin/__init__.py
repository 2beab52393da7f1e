"""PledgeBox for syncframe: a worked example plugin (see docs/plugin-guide.md).

Installed as a distribution, this package would be found through its entry point::

    [project.entry-points.syncframe]
    pledgebox = "syncframe_pledgebox"

The tests register it directly: ``Host(plugins=[example_plugin], entry_points=False)``.
"""

from __future__ import annotations

from typing import Any

from syncframe import hookimpl
from syncframe.registry import (
    ComponentRegistrar,
    ConverterRegistrar,
    SimulatorRegistrar,
    SystemRegistrar,
)

from .connector import PledgeSink, PledgeSource, cents
from .models import PledgeBoxSettings


@hookimpl
def syncframe_register_systems(register: SystemRegistrar) -> None:
    """PledgeBox accounts, as connections of system ``pledgebox``."""
    register("pledgebox", PledgeBoxSettings)


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """Pledges changed in PledgeBox since the last run."""
    register("pledgebox", PledgeSource)


@hookimpl
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    """Pledges saved into PledgeBox (with a lookup for matchers)."""
    register("pledgebox", PledgeSink)


@hookimpl
def syncframe_register_converters(register: ConverterRegistrar) -> None:
    """``cents``: amounts in currency units as whole cents."""
    register("cents", cents)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """A simulated PledgeBox, for tests and ``syncframe simulate pledgebox``."""
    register("pledgebox", pledgebox_simulator)


def pledgebox_simulator(**kwargs: Any) -> Any:
    """A fresh simulated PledgeBox (``clock=``, ``seed=``, ``api_key=``)."""
    # Imported when one is built: the simulator needs the simulator kit and Starlette, which
    # running flows does not.
    from .simulator import PledgeBoxSimulator

    return PledgeBoxSimulator(**kwargs)
