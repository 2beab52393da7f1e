"""Registers the Luminate Online simulator with syncframe (entry point ``luminate_simulator``)."""

from __future__ import annotations

from luminate_simulator.app import LuminateSimulator
from syncframe.clock import Clock
from syncframe.hookspecs import hookimpl
from syncframe.registry import SimulatorRegistrar

__all__ = ["create_simulator", "syncframe_register_simulators"]


def create_simulator(*, clock: Clock | None = None, seed: int = 0) -> LuminateSimulator:
    """A fresh Luminate Online simulator telling time by ``clock``."""
    return LuminateSimulator(clock=clock, seed=seed)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register ``luminate``."""
    register(
        LuminateSimulator.name,
        create_simulator,
        description=(
            "Luminate Online: SOAP web services with WSDL (sync windows, incremental downloads, "
            "refunds), Constituent360 and the standard constituent upload"
        ),
    )
