"""The salesforce_contacts source and sink pass syncframe's conformance suite against the
Salesforce simulator.

The simulator answers its ``rate_limit`` fault as Salesforce throttles, with 403
``REQUEST_LIMIT_EXCEEDED`` and ``Retry-After``; ``throttle_status = 403`` tells the suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from salesforce_simulator import EXTERNAL_ID_FIELD, SalesforceSimulator

from plugins.smartsync.tests.salesforce_helpers import (
    SalesforcePlugin,
    live_contacts,
    make_simulator,
    settings_values,
)
from syncframe.testing import InvalidSettings, RejectedRecord, SinkConformance, SourceConformance


class TestSalesforceContactsConformance(SourceConformance, SinkConformance):
    """Contacts read by SystemModstamp (queryAll) and written by upsert on the External ID."""

    plugins = (SalesforcePlugin(),)
    system = "salesforce"
    bad_credentials_error = "invalid_client: invalid client credentials"
    # Salesforce throttles with 403 REQUEST_LIMIT_EXCEEDED (and Retry-After), not 429.
    throttle_status = 403

    source_type = "salesforce_contacts"
    # The faults hit the change query, not the login.
    source_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "QueryAll"}

    sink_type = "salesforce_contacts"
    sink_entity = "contact"
    # The 503/429 hits the write of the batch, not its read of the Contacts or the login.
    sink_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "CollectionUpsert"}

    @pytest.fixture
    def simulator(self) -> SalesforceSimulator:
        """An org with the integration user and connected app, on a ManualClock."""
        return make_simulator()

    def connection_settings(self, simulator: SalesforceSimulator) -> dict[str, Any]:
        return settings_values(simulator)

    def bad_credentials(self, simulator: SalesforceSimulator) -> dict[str, Any]:
        return settings_values(simulator, client_secret="revoked-consumer-secret")

    def invalid_settings(self, simulator: SalesforceSimulator) -> list[InvalidSettings]:
        valid = self.connection_settings(simulator)
        return [
            InvalidSettings({**valid, "api_version": "40.0"}, "api_version", "too old"),
            InvalidSettings({**valid, "login_url": "login.salesforce.com"}, "login_url"),
            InvalidSettings({**valid, "grant": "password"}, "username", "needs"),
            InvalidSettings({**valid, "external_id_field": "Email"}, "external_id_field"),
            InvalidSettings({**valid, "poll_every": "soon"}, "poll_every", "not a duration"),
        ]

    def seed_source(self, simulator: SalesforceSimulator, count: int) -> list[str]:
        start = len(simulator.snapshot()["contacts"])
        return [
            simulator.add_contact(
                {"LastName": f"Seeded{start + n}", "Email": f"seeded{start + n}@example.org"}
            )
            for n in range(count)
        ]

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {
            f"{90000 + n}": {
                "constituent_id": f"{90000 + n}",
                "email": f"member{n}@example.org",
                "first_name": f"Member{n}",
                "last_name": "Conformance",
                "email_status": "subscribed",
            }
            for n in range(count)
        }

    def landed(self, simulator: SalesforceSimulator) -> list[str]:
        return [str(contact[EXTERNAL_ID_FIELD]) for contact in live_contacts(simulator)]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "89999",
            {"constituent_id": "89999", "email": "not-an-email", "last_name": "Refused"},
            "INVALID_EMAIL_ADDRESS: Email: invalid email address: not-an-email",
        )
