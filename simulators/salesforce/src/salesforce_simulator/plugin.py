"""Registers the Salesforce simulator with syncframe (entry point ``salesforce_simulator``)."""

from __future__ import annotations

from typing import Any

from salesforce_simulator.app import SalesforceSimulator
from syncframe.clock import Clock
from syncframe.hookspecs import hookimpl
from syncframe.registry import SimulatorRegistrar

__all__ = ["create_simulator", "syncframe_register_simulators"]


def create_simulator(
    *, clock: Clock | None = None, seed: int = 0, **settings: Any
) -> SalesforceSimulator:
    """A fresh Salesforce org telling time by ``clock``; ``settings`` are the simulator's
    keyword arguments (``daily_api_requests``, ``max_batch_size``, ``session_timeout``...)."""
    return SalesforceSimulator(clock=clock, seed=seed, **settings)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register ``salesforce``."""
    register(
        SalesforceSimulator.name,
        create_simulator,
        description=(
            "Salesforce REST API: OAuth, Contact CRUD, upsert by external id, SOQL with paging, "
            "updated/deleted polling, API limits"
        ),
    )
