"""Registers the Mailchimp simulator with syncframe (entry point ``mailchimp_simulator``)."""

from __future__ import annotations

from mailchimp_simulator.app import MailchimpSimulator
from syncframe.clock import Clock
from syncframe.hookspecs import hookimpl
from syncframe.registry import SimulatorRegistrar

__all__ = ["create_simulator", "syncframe_register_simulators"]


def create_simulator(
    *, clock: Clock | None = None, seed: int = 0, **options: object
) -> MailchimpSimulator:
    """A fresh Mailchimp simulator telling time by ``clock``; ``options`` go to
    :class:`~mailchimp_simulator.app.MailchimpSimulator` (``latency``, ``webhook_transport``...)."""
    return MailchimpSimulator(clock=clock, seed=seed, **options)  # type: ignore[arg-type]


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register ``mailchimp``."""
    register(
        MailchimpSimulator.name,
        create_simulator,
        description=(
            "Mailchimp Marketing API v3: audiences, members by subscriber hash, merge fields, "
            "tags, webhooks, problem+json errors and the 10-connection limit"
        ),
    )
