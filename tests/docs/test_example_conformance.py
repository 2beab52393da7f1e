"""The PledgeBox example connector passes syncframe's conformance suite against its simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from syncframe.testing import RejectedRecord, SinkConformance, SourceConformance
from tests.docs import example_plugin
from tests.docs.example_plugin.simulator import PledgeBoxSimulator

API_KEY = "pb-test-key"


class TestPledgeBoxConformance(SourceConformance, SinkConformance):
    """The pledgebox source and sink, run through the engine against the PledgeBox simulator."""

    plugins = (example_plugin,)
    system = "pledgebox"
    simulator_name = "pledgebox"
    bad_credentials_error = "HTTP 401"

    source_type = "pledgebox"
    sink_type = "pledgebox"
    sink_entity = "pledge"
    # A 503 in the middle of a batch of saves, not on a read.
    sink_fault_match: ClassVar[Mapping[str, Any]] = {"method": "PUT", "after": 1}

    def connection_settings(self, simulator: PledgeBoxSimulator) -> dict[str, Any]:
        return {"base_url": simulator.base_url, "api_key": API_KEY}

    def bad_credentials(self, simulator: PledgeBoxSimulator) -> dict[str, Any]:
        return {"base_url": simulator.base_url, "api_key": "pb-revoked-0000"}

    def seed_source(self, simulator: PledgeBoxSimulator, count: int) -> list[str]:
        start = len(simulator.pledges)
        made = [
            simulator.add(donor_email=f"donor{start + n}@example.org", amount_cents=100 * n)
            for n in range(count)
        ]
        return [pledge["id"] for pledge in made]

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {
            f"conf-{n}": {
                "external_ref": f"conf-{n}",
                "donor_email": f"donor{n}@example.org",
                "amount_cents": 1000 + n,
            }
            for n in range(count)
        }

    def landed(self, simulator: PledgeBoxSimulator) -> list[str]:
        return [pledge["external_ref"] for pledge in simulator.pledges.values()]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "conf-bad",
            {"external_ref": "conf-bad", "donor_email": "not-an-email", "amount_cents": 500},
            "donor_email 'not-an-email' is not an email address",
        )
