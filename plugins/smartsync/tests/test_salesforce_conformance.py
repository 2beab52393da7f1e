"""The salesforce_contacts source and sink pass syncframe's conformance suite against the
Salesforce simulator.

One adaptation: the suite's "429" fault tests expect the simulator's ``rate_limit`` fault to
answer HTTP 429, while the Salesforce simulator answers it as Salesforce throttles, with 403
``REQUEST_LIMIT_EXCEEDED`` and ``Retry-After``. The connector treats both as transient (and the
suite's own checks of the retry and of the 7-second wait pass with the 403), but the suite also
checks the journal's status is 429. So the org here answers that fault with status 429 and the
same error list; ``test_salesforce_flows.py`` runs the simulator's real 403 throttle through the
engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from salesforce_simulator import EXTERNAL_ID_FIELD, SalesforceSimulator
from starlette.responses import Response
from syncframe_simulators import FaultKind, FaultRule

from plugins.smartsync.tests.salesforce_helpers import (
    SalesforcePlugin,
    live_contacts,
    make_simulator,
    settings_values,
)
from syncframe.testing import InvalidSettings, RejectedRecord, SinkConformance, SourceConformance


class _ThrottlesWith429(SalesforceSimulator):
    """The Salesforce simulator, its ``rate_limit`` fault answered with status 429 (the body
    and ``Retry-After`` unchanged) as the conformance suite expects of that fault."""

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        response = super().fault_response(kind, rule, operation)
        if kind == "rate_limit":
            response.status_code = 429
        return response


class TestSalesforceContactsConformance(SourceConformance, SinkConformance):
    """Contacts read by SystemModstamp (queryAll) and written by upsert on the External ID."""

    plugins = (SalesforcePlugin(),)
    system = "salesforce"
    bad_credentials_error = "invalid_client: invalid client credentials"

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
        return make_simulator(simulator_class=_ThrottlesWith429)

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
