"""Registers the Legacy RaiseDonors simulator with syncframe (entry point
``raisedonors_simulator``)."""

from __future__ import annotations

from raisedonors_simulator.app import RaiseDonorsSimulator
from syncframe.clock import Clock
from syncframe.hookspecs import hookimpl
from syncframe.registry import SimulatorRegistrar

__all__ = ["create_simulator", "syncframe_register_simulators"]


def create_simulator(*, clock: Clock | None = None, seed: int = 0) -> RaiseDonorsSimulator:
    """A fresh Legacy RaiseDonors simulator telling time by ``clock``."""
    return RaiseDonorsSimulator(clock=clock, seed=seed)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register ``raisedonors``."""
    register(
        RaiseDonorsSimulator.name,
        create_simulator,
        description=(
            "Legacy RaiseDonors: donors edited through the admin portal, donor portal and API, "
            "the giving form, the recent-activity feed and the Virtuous CRM+ Sync settings"
        ),
    )
