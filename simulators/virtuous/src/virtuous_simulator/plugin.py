"""Registers the Virtuous CRM+ simulator with syncframe (entry point ``virtuous_simulator``)."""

from __future__ import annotations

from typing import Any

from syncframe.clock import Clock
from syncframe.hookspecs import hookimpl
from syncframe.registry import SimulatorRegistrar
from virtuous_simulator.app import VirtuousSimulator

__all__ = ["create_simulator", "syncframe_register_simulators"]


def create_simulator(
    *, clock: Clock | None = None, seed: int = 0, **options: Any
) -> VirtuousSimulator:
    """A fresh Virtuous CRM+ simulator telling time by ``clock``; ``options`` go to
    :class:`VirtuousSimulator` (``rate_limit_per_hour``, ``webhook_transport``...)."""
    return VirtuousSimulator(clock=clock, seed=seed, **options)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register ``virtuous``."""
    register(
        VirtuousSimulator.name,
        create_simulator,
        description=(
            "Virtuous CRM+: contacts and Query, users and tokens (2FA, SSO), the hourly rate "
            "limit, the Gift and Contact Import Tool, webhooks with retries"
        ),
    )
