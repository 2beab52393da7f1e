"""The Virtuous side passes syncframe's conformance suite against the simulator: the
``virtuous_import`` sink (SinkConformance) and the ``virtuous_webhook`` source
(WebhookSourceConformance, fed through ``syncframe serve``'s app)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import pytest
import syncframe_raisedonors_virtuous.plugin as plugin
from virtuous_simulator import VirtuousSimulator

from plugins.raisedonors_virtuous.tests.virtuous_helpers import (
    SYNC_USER,
    make_simulator,
    run_imports,
    settings_values,
)
from syncframe.clock import ManualClock
from syncframe.serve import service_app
from syncframe.testing import (
    READ_FLOW,
    ConformanceHarness,
    InvalidSettings,
    RejectedRecord,
    SinkConformance,
    WebhookSourceConformance,
)

REFUSED_LOGIN = f"refused the login of user {SYNC_USER!r}"


def invalid_settings(simulator: VirtuousSimulator) -> list[InvalidSettings]:
    valid = settings_values(simulator)
    return [
        InvalidSettings({**valid, "password": None}, "password", "without its password"),
        InvalidSettings({**valid, "api_key": "vk-1"}, "api_key", "not both"),
        InvalidSettings({**valid, "rate_limit_per_hour": 0}, "rate_limit_per_hour"),
        InvalidSettings({**valid, "base_url": "api.virtuoussoftware.com"}, "base_url", "http(s)"),
    ]


class TestVirtuousImportConformance(SinkConformance):
    """Donors sent to the import tool; what landed is what a person's import of the nightly
    bundle makes of them: one contact per donor id, however often it was sent."""

    plugins = (plugin,)
    system = "virtuous"
    bad_credentials_error = REFUSED_LOGIN

    sink_type = "virtuous_import"
    sink_entity = "donor"
    # The 503/429 hits a Contact Transaction (a write), not the sign-in.
    sink_fault_match: ClassVar[Mapping[str, Any]] = {"path": "/api/Contact/Transaction"}

    @pytest.fixture
    def simulator(self) -> VirtuousSimulator:
        """A simulated organization with the sync user (on a ManualClock)."""
        return make_simulator()

    def connection_settings(self, simulator: VirtuousSimulator) -> dict[str, Any]:
        return settings_values(simulator)

    def bad_credentials(self, simulator: VirtuousSimulator) -> dict[str, Any]:
        return settings_values(simulator, password="not-the-password")

    def invalid_settings(self, simulator: VirtuousSimulator) -> list[InvalidSettings]:
        return invalid_settings(simulator)

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {
            str(9000 + n): {
                "donor_id": 9000 + n,
                "first_name": f"Donor{n}",
                "last_name": "Conformance",
                "email": f"donor{n}@conformance.example.org",
                "phone": f"555-01{n:02d}",
            }
            for n in range(count)
        }

    def landed(self, simulator: VirtuousSimulator) -> list[str]:
        # Nothing reaches a contact before a person runs the nightly import: run it, then
        # read every contact carrying our reference (a duplicate shows twice).
        run_imports(simulator, "Conformance Importer")
        return [
            str(contact.reference_id)
            for contact in simulator.contacts.contacts.values()
            if contact.reference_source == "Legacy RaiseDonors"
        ]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "9999",
            {"donor_id": 9999, "last_name": "Refused", "email": "not-an-email"},
            "HTTP 400: email",
        )


class TestVirtuousWebhookConformance(WebhookSourceConformance):
    """Contacts created in the simulated Virtuous, delivered by its webhook into ``syncframe
    serve``'s app of the harness's engine, which stores them in the ``read`` flow's inbox and
    runs the flow at once."""

    plugins = (plugin,)
    system = "virtuous"
    bad_credentials_error = REFUSED_LOGIN
    source_type = "virtuous_webhook"

    @pytest.fixture
    def simulator(self) -> VirtuousSimulator:
        """A simulated organization with the sync user and a webhook to the ``read`` flow."""
        return make_simulator(flow=READ_FLOW)

    def connection_settings(self, simulator: VirtuousSimulator) -> dict[str, Any]:
        return settings_values(simulator)

    def bad_credentials(self, simulator: VirtuousSimulator) -> dict[str, Any]:
        return settings_values(simulator, password="not-the-password")

    def invalid_settings(self, simulator: VirtuousSimulator) -> list[InvalidSettings]:
        return invalid_settings(simulator)

    def _create(self, simulator: VirtuousSimulator, count: int) -> list[str]:
        """``count`` contacts from RaiseDonors, created by an admin; their donor ids."""
        start = len(simulator.contacts.contacts)
        donor_ids = [str(5000 + start + n) for n in range(count)]
        for donor_id in donor_ids:
            simulator.create_contact(
                {
                    "contactType": "Household",
                    "referenceSource": "Legacy RaiseDonors",
                    "referenceId": donor_id,
                    "contactIndividuals": [
                        {"firstName": "Donor", "lastName": donor_id, "isPrimary": True}
                    ],
                },
                source="admin",
            )
        return donor_ids

    @staticmethod
    async def _deliver(simulator: VirtuousSimulator, transport: httpx.AsyncBaseTransport) -> Any:
        simulator.webhook_transport = transport
        try:
            return await simulator.deliver_webhooks()
        finally:
            simulator.webhook_transport = None

    async def push_changes(
        self,
        simulator: VirtuousSimulator,
        count: int,
        url: str,
        transport: httpx.AsyncBaseTransport,
    ) -> Sequence[str]:
        # The simulator's webhook already points at the read flow's endpoint (make_simulator).
        donor_ids = self._create(simulator, count)
        report = await self._deliver(simulator, transport)
        assert (report.attempted, report.delivered) == (count, count)
        return donor_ids

    @pytest.mark.anyio
    @pytest.mark.parametrize("fault", ["503", "disconnect"])
    async def test_a_failed_delivery_is_retried_by_virtuous(
        self, conformance: ConformanceHarness, fault: str
    ) -> None:
        """A delivery that fails (syncframe answered 503, or the connection dropped) is
        retried by Virtuous a minute later, and each event is read once."""
        simulator = conformance.simulator
        assert isinstance(simulator, VirtuousSimulator)
        donor_ids = self._create(simulator, 3)

        failed = await self._deliver(simulator, Outage(fault))
        clock = simulator.clock
        assert isinstance(clock, ManualClock)
        clock.advance(timedelta(minutes=1))
        with conformance.engine(self.connection_settings(simulator)) as engine:
            retried = await self._deliver(simulator, httpx.ASGITransport(app=service_app(engine)))

        assert (failed.failed, retried.delivered) == (3, 3)
        read = [change.key for change in conformance.take_captured()]
        assert Counter(read) == Counter(donor_ids)


class Outage(httpx.AsyncBaseTransport):
    """syncframe serve unreachable: every delivery answered 503 or its connection dropped."""

    def __init__(self, fault: str) -> None:
        self.fault = fault

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fault == "503":
            return httpx.Response(503, text="Service Unavailable", headers={"Retry-After": "60"})
        raise httpx.RemoteProtocolError("peer closed connection", request=request)
