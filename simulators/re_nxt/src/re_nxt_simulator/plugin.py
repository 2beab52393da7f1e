"""Registers the Raiser's Edge NXT simulator with syncframe (entry point ``re_nxt_simulator``)."""

from __future__ import annotations

from re_nxt_simulator.app import ReNxtSimulator
from syncframe.clock import Clock
from syncframe.hookspecs import hookimpl
from syncframe.registry import SimulatorRegistrar

__all__ = ["create_simulator", "syncframe_register_simulators"]


def create_simulator(*, clock: Clock | None = None, seed: int = 0) -> ReNxtSimulator:
    """A fresh Raiser's Edge NXT simulator telling time by ``clock``."""
    return ReNxtSimulator(clock=clock, seed=seed)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register ``re_nxt``."""
    register(
        ReNxtSimulator.name,
        create_simulator,
        description=(
            "Raiser's Edge NXT (SKY API): constituents, email addresses, addresses, phones, "
            "consents and solicit codes; OAuth 2.0, rate limit and daily quota, list latency"
        ),
    )
