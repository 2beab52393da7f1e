"""The Mailchimp components pass syncframe's conformance suite against the simulator: the
polling source and the sink (SourceConformance, SinkConformance) and the webhook source
(WebhookSourceConformance)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator, subscriber_hash

from plugins.smartsync.tests.mailchimp_helpers import (
    LIST_ID,
    WEBHOOK_SECRET,
    MailchimpPlugin,
    connection_settings,
    make_simulator,
    members,
    seed_members,
)
from syncframe.testing import (
    InvalidSettings,
    RejectedRecord,
    SinkConformance,
    SourceConformance,
    WebhookSourceConformance,
)


class _MailchimpConformance:
    plugins: ClassVar[Sequence[object]] = (MailchimpPlugin(),)
    system = "mailchimp"
    bad_credentials_error = "Mailchimp refused the API key"

    @pytest.fixture
    def simulator(self) -> MailchimpSimulator:
        """A simulated account whose audience has the CONSID merge field (manual clock)."""
        return make_simulator()

    def connection_settings(self, simulator: MailchimpSimulator) -> dict[str, Any]:
        return connection_settings(simulator)

    def bad_credentials(self, simulator: MailchimpSimulator) -> dict[str, Any]:
        return connection_settings(simulator, api_key="fedcba9876543210fedcba9876543210-us6")

    def invalid_settings(self, simulator: MailchimpSimulator) -> list[InvalidSettings]:
        valid = connection_settings(simulator)
        return [
            InvalidSettings({**valid, "api_key": "no-data-center"}, "api_key", "data center"),
            InvalidSettings({**valid, "list_id": "a1 b2"}, "list_id", "audience id"),
            InvalidSettings({**valid, "base_url": "ftp://example.org"}, "base_url", "http(s)"),
            InvalidSettings(
                {**valid, "constituent_id_merge_tag": "RE ID"}, "constituent_id_merge_tag"
            ),
            InvalidSettings({**valid, "page_size": 1001}, "page_size"),
            InvalidSettings({**valid, "poll_every": "soon"}, "poll_every", "duration"),
        ]


class TestMemberSourceAndSinkConformance(_MailchimpConformance, SourceConformance, SinkConformance):
    """``mailchimp_members``: members polled by last_changed, and members written (keyed by
    their CONSID merge field) with a 503/429 on the member writes."""

    source_type = "mailchimp_members"
    sink_type = "mailchimp_members"
    sink_entity = "member"
    sink_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "postListsIdMembers"}

    def seed_source(self, simulator: MailchimpSimulator, count: int) -> list[str]:
        start = len(members(simulator))
        emails = [f"reader{start + n}@example.org" for n in range(count)]
        seed_members(
            simulator,
            *(
                {"email_address": email, "merge_fields": {"FNAME": f"Reader{n}"}}
                for n, email in enumerate(emails)
            ),
        )
        return [subscriber_hash(email) for email in emails]

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {
            f"conf-{n}": {
                "constituent_id": f"conf-{n}",
                "email": f"member{n}@example.org",
                "first_name": f"Member{n}",
                "last_name": "Conformance",
                "email_status": "subscribed",
            }
            for n in range(count)
        }

    def landed(self, simulator: MailchimpSimulator) -> list[str]:
        return [
            m["merge_fields"]["CONSID"]
            for m in members(simulator).values()
            if m["merge_fields"].get("CONSID") and m["status"] != "archived"
        ]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "conf-bad",
            {"constituent_id": "conf-bad", "email": "not-an-email", "last_name": "Bad"},
            "Please provide a valid email address",
        )


class TestMemberWebhookConformance(_MailchimpConformance, WebhookSourceConformance):
    """``mailchimp_webhook``: sign-ups on the hosted form, delivered by the simulator to the
    serve app with the secret in the URL."""

    source_type = "mailchimp_webhook"

    async def push_changes(
        self,
        simulator: MailchimpSimulator,
        count: int,
        url: str,
        transport: httpx.AsyncBaseTransport,
    ) -> list[str]:
        simulator.webhook_transport = transport
        # Seeded, not POSTed: the URL check's GET would be the first delivery recorded.
        simulator.seed_records(
            {"lists": [{"id": LIST_ID, "webhooks": [{"url": f"{url}?secret={WEBHOOK_SECRET}"}]}]}
        )
        emails = [f"signup{n}@example.org" for n in range(count)]
        async with simulator.admin() as admin:
            for n, email in enumerate(emails):
                await admin.post(
                    f"mailchimp/lists/{LIST_ID}/signup",
                    {"email_address": email, "merge_fields": {"FNAME": f"Signup{n}"}},
                )
        results = await simulator.deliver_webhooks()
        assert [r.outcome for r in results] == ["delivered"] * count, results
        return [subscriber_hash(email) for email in emails]
