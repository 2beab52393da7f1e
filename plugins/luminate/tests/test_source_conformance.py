"""The transaction and constituent sources pass syncframe's source conformance suite against the
simulated site."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from luminate_simulator.app import LuminateSimulator

from plugins.luminate.tests.source_helpers import (
    API_LOGIN,
    SourcesPlugin,
    add_constituent,
    add_transaction,
    make_simulator,
    settings_for,
)
from syncframe.testing import InvalidSettings, SourceConformance


class _LuminateConformance(SourceConformance):
    plugins = (SourcesPlugin(),)
    system = "luminate"
    bad_credentials_error = f"refused the login of API user {API_LOGIN!r}"

    @pytest.fixture
    def simulator(self) -> LuminateSimulator:
        return make_simulator()

    def connection_settings(self, simulator: LuminateSimulator) -> dict[str, Any]:
        return settings_for(simulator)

    def bad_credentials(self, simulator: LuminateSimulator) -> dict[str, Any]:
        return settings_for(simulator, api_password="not-the-password")

    def invalid_settings(self, simulator: LuminateSimulator) -> list[InvalidSettings]:
        valid = settings_for(simulator)
        return [
            InvalidSettings({**valid, "url": "ftp://example.org/site"}, "url", "http(s)"),
            InvalidSettings({**valid, "page_size": 201}, "page_size"),
        ]

    @staticmethod
    def _moved_on(simulator: LuminateSimulator) -> None:
        # A window ends at the server's "now", and what happens at its End belongs to the next
        # one: let a second pass so the seeded records are inside the next window.
        simulator.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]


class TestTransactionSourceConformance(_LuminateConformance):
    """``luminate_transactions``: donations read window by window."""

    source_type = "luminate_transactions"

    def seed_source(self, simulator: LuminateSimulator, count: int) -> list[str]:
        start = len(simulator.services.snapshot()["constituents"])
        made = [
            add_transaction(simulator, "Donation", add_constituent(simulator, start + n))
            for n in range(count)
        ]
        self._moved_on(simulator)
        return [str(i) for i in made]


class TestConstituentSourceConformance(_LuminateConformance):
    """``luminate_constituents``: constituents of partition 1001, a fault in mid-window."""

    source_type = "luminate_constituents"
    source_options: ClassVar[Mapping[str, Any]] = {"fields": ["PrimaryEmail", "ConsName.LastName"]}
    source_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "GetIncrementalInserts"}

    def seed_source(self, simulator: LuminateSimulator, count: int) -> list[str]:
        start = len(simulator.services.snapshot()["constituents"])
        made = [add_constituent(simulator, start + n) for n in range(count)]
        self._moved_on(simulator)
        return [str(i) for i in made]
