"""The luminate_constituents sink passes syncframe's conformance suite against the simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from luminate_simulator.app import LuminateSimulator

from plugins.luminate.tests.client_helpers import (
    API_LOGIN,
    API_PASSWORD,
    ConstituentSinkPlugin,
    make_simulator,
)
from syncframe.testing import InvalidSettings, RejectedRecord, SinkConformance


class TestConstituentSinkConformance(SinkConformance):
    """Constituents keyed by MemberId, written through Create/Update against the simulator."""

    plugins = (ConstituentSinkPlugin(),)
    system = "luminate"
    bad_credentials_error = f"refused the login of API user {API_LOGIN!r}"

    sink_type = "luminate_constituents"
    sink_entity = "Constituent"
    # The 503/429 hits a Create (a write), not the WSDL or the login.
    sink_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "Create"}

    @pytest.fixture
    def simulator(self) -> LuminateSimulator:
        """A simulated site with the API user (on a ManualClock)."""
        return make_simulator()

    def connection_settings(self, simulator: LuminateSimulator) -> dict[str, Any]:
        return {
            "url": f"{simulator.base_url}/1.0/{simulator.site}",
            "api_login": API_LOGIN,
            "api_password": API_PASSWORD,
        }

    def bad_credentials(self, simulator: LuminateSimulator) -> dict[str, Any]:
        return {**self.connection_settings(simulator), "api_password": "not-the-password"}

    def invalid_settings(self, simulator: LuminateSimulator) -> list[InvalidSettings]:
        valid = self.connection_settings(simulator)
        return [
            InvalidSettings({**valid, "url": "ftp://example.org/1.0/x"}, "url", "http(s)"),
            InvalidSettings({**valid, "page_size": 500}, "page_size", "200"),
        ]

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {
            f"conf-{n}": {
                "MemberId": f"conf-{n}",
                "PrimaryEmail": f"member{n}@example.org",
                "ConsName.FirstName": f"Member{n}",
                "ConsName.LastName": "Conformance",
            }
            for n in range(count)
        }

    def landed(self, simulator: LuminateSimulator) -> list[str]:
        return [
            row["MEMBER_ID"]
            for row in simulator.services.snapshot()["constituents"]
            if row["STATUS"] == "Active"
        ]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "conf-bad",
            {"MemberId": "conf-bad", "PrimaryEmail": "not-an-email", "ConsName.LastName": "Bad"},
            "SERVER_ERROR: ",
        )
