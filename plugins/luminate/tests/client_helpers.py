"""Shared test helpers of helper A (client, settings, constituent sink): a simulated Luminate
site with an API user, and a client on its in-process transport."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from luminate_simulator.app import LuminateSimulator
from pydantic import SecretStr
from syncframe_luminate.client import LuminateClient
from syncframe_luminate.constituent_sink import ConstituentSink
from syncframe_luminate.settings import LuminateSettings

from syncframe import hookimpl
from syncframe.clock import ManualClock
from syncframe.components import ComponentContext
from syncframe.registry import ComponentRegistrar, SystemRegistrar

__all__ = [
    "API_LOGIN",
    "API_PASSWORD",
    "START",
    "ConstituentSinkPlugin",
    "add_donations",
    "client_for",
    "make_simulator",
    "settings_for",
    "sink_context",
]

API_LOGIN = "sync-api"
API_PASSWORD = "Pa55-w0rd-never-shown"
#: The simulator clock's start in every helper-built simulator.
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def make_simulator(*, seed: int = 0) -> LuminateSimulator:
    """A simulated site on a manual clock, with the API user of :func:`settings_for`."""
    simulator = LuminateSimulator(clock=ManualClock(START), seed=seed)
    simulator.services.add_api_user(API_LOGIN, API_PASSWORD)
    return simulator


def settings_for(simulator: LuminateSimulator, **overrides: Any) -> LuminateSettings:
    """Connection settings that open ``simulator``'s site."""
    values: dict[str, Any] = {
        "url": f"{simulator.base_url}/1.0/{simulator.site}",
        "api_login": API_LOGIN,
        "api_password": SecretStr(API_PASSWORD),
        **overrides,
    }
    return LuminateSettings(**values)


@asynccontextmanager
async def client_for(
    simulator: LuminateSimulator, *, read_timeout: float = 5.0, **overrides: Any
) -> AsyncIterator[LuminateClient]:
    """A client of ``simulator`` over its in-process transport (closed afterwards)."""
    async with httpx.AsyncClient(
        transport=simulator.transport(), base_url=simulator.base_url, timeout=read_timeout
    ) as http:
        yield LuminateClient(settings_for(simulator, **overrides), http)


def add_donations(simulator: LuminateSimulator, count: int, *, amount: str = "25.00") -> list[int]:
    """``count`` donations by one new donor each; their TransactionIds."""
    services = simulator.services
    ids: list[int] = []
    for n in range(count):
        cons_id = services.add_constituent(
            {
                "PrimaryEmail": f"donor{n}@example.org",
                "ConsName": {"FirstName": f"Donor{n}", "LastName": "Example"},
            }
        )
        ids.append(
            services.add_transaction(
                "Donation",
                {
                    "Donor": {"ConsId": cons_id},
                    "CampaignId": 101,
                    "Payment": {"Amount": str(Decimal(amount) + n), "TenderType": "VISA"},
                },
            )
        )
    return ids


class ConstituentSinkPlugin:
    """A stand-in for ``plugin.py`` in helper A's tests: system ``luminate`` and the
    ``luminate_constituents`` sink (``Host(plugins=[ConstituentSinkPlugin()], ...)``)."""

    __name__ = "syncframe_luminate_test_a"

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        """Luminate Online sites."""
        register("luminate", LuminateSettings)

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        """Constituents into Luminate Online."""
        register("luminate_constituents", ConstituentSink)


def sink_context(
    simulator: LuminateSimulator, http: httpx.AsyncClient, **overrides: Any
) -> ComponentContext:
    """A component context on ``simulator`` (what the engine would build), for direct tests."""
    return ComponentContext(
        flow="test",
        connection_name="lo",
        connection=settings_for(simulator, **overrides),
        clock=simulator.clock,
        state=None,  # type: ignore[arg-type]  # the constituent sink keeps no state
        logger=logging.getLogger("test.luminate"),
        http_factory=lambda: http,
    )
