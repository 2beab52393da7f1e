"""Registers the Raiser's Edge simulator with syncframe (entry point ``raisers_edge_simulator``)."""

from __future__ import annotations

from raisers_edge_simulator.app import RaisersEdgeSimulator
from syncframe.clock import Clock
from syncframe.hookspecs import hookimpl
from syncframe.registry import SimulatorRegistrar

__all__ = ["create_simulator", "syncframe_register_simulators"]


def create_simulator(
    *, clock: Clock | None = None, seed: int = 0, auto_import: bool = False
) -> RaisersEdgeSimulator:
    """A fresh Raiser's Edge simulator telling time by ``clock``."""
    return RaisersEdgeSimulator(clock=clock, seed=seed, auto_import=auto_import)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register ``raisers_edge``."""
    register(
        RaisersEdgeSimulator.name,
        create_simulator,
        description=(
            "Raiser's Edge 7 as the RE connector for Luminate sees it: constituents, gifts and "
            "pledges, TeamRaiser solicitors, code tables, a query interface and an import area"
        ),
    )
