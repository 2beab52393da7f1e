"""The raisedonors_activity source and the raisedonors_donors sink pass syncframe's
conformance suite against the Legacy RaiseDonors simulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest
from raisedonors_simulator import RaiseDonorsSimulator

from plugins.raisedonors_virtuous.tests.raisedonors_helpers import (
    CASCADE,
    RaiseDonorsSide,
    connection_settings,
    open_account,
)
from syncframe.clock import ManualClock
from syncframe.testing import InvalidSettings, RejectedRecord, SinkConformance, SourceConformance


class _RaiseDonorsConnection:
    """What both test classes share: the plugin, the simulator and the connection."""

    plugins: ClassVar[Sequence[object]] = (RaiseDonorsSide(),)
    system: ClassVar[str] = "raisedonors"
    bad_credentials_error: ClassVar[str | None] = (
        "RaiseDonors refused API client 'virtuous-crm-sync'"
    )

    @pytest.fixture
    def simulator(self) -> RaiseDonorsSimulator:
        """A simulator with the sync's API client and contact sync switched on (no donors)."""
        sim = RaiseDonorsSimulator(clock=ManualClock(), seed=0)
        open_account(sim)
        return sim

    def connection_settings(self, simulator: RaiseDonorsSimulator) -> dict[str, Any]:
        return connection_settings(simulator)

    def bad_credentials(self, simulator: RaiseDonorsSimulator) -> dict[str, Any]:
        return connection_settings(simulator, client_secret="not-the-secret")

    def invalid_settings(self, simulator: RaiseDonorsSimulator) -> list[InvalidSettings]:
        valid = connection_settings(simulator)
        return [
            InvalidSettings({**valid, "base_url": "ftp://api.example.org"}, "base_url", "http(s)"),
            InvalidSettings({**valid, "page_size": 501}, "page_size", "500"),
            InvalidSettings({**valid, "client_key": ""}, "client_key"),
        ]


class TestActivitySourceConformance(_RaiseDonorsConnection, SourceConformance):
    """``raisedonors_activity``: donors created in the admin portal, read from the feed."""

    source_type = "raisedonors_activity"
    # The fault hits a page of the feed, not the sign-in or the settings.
    source_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "ListActivity"}

    async def seed_source(self, simulator: RaiseDonorsSimulator, count: int) -> Sequence[str]:
        start = len(simulator.snapshot()["donors"])
        made = []
        async with simulator.admin() as admin:
            for n in range(start, start + count):
                donor = await admin.post(
                    "/raisedonors/donors",
                    {
                        "channel": "admin_portal",
                        "fields": {
                            "email": f"donor{n}@example.org",
                            "firstName": f"Donor{n}",
                            "lastName": "Conformance",
                        },
                    },
                )
                made.append(str(donor["id"]))
        return made


class TestDonorSinkConformance(_RaiseDonorsConnection, SinkConformance):
    """``raisedonors_donors``: contacts matched by the flow file's cascade, else created."""

    sink_type = "raisedonors_donors"
    sink_entity = "contact"
    sink_matchers: ClassVar[Sequence[Mapping[str, Any]]] = CASCADE
    # The 503/429 hits a create, not a lookup.
    sink_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "CreateDonor"}

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {
            f"conf{n}@example.org": {
                "virtuous_contact_id": f"80{n}",
                "email": f"conf{n}@example.org",
                "first_name": f"Conf{n}",
                "last_name": "Conformance",
                "city": "Austin",
            }
            for n in range(count)
        }

    def landed(self, simulator: RaiseDonorsSimulator) -> list[str]:
        return [donor["email"] for donor in simulator.snapshot()["donors"]]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "conf-bad",
            {
                "virtuous_contact_id": "899",
                "email": "bad@example.org",
                "last_name": "Bad",
                "phone": "12",
            },
            "phone: '12' is not a phone number",
        )
