"""The re_nxt_constituents source and sink pass syncframe's conformance suite against the
Raiser's Edge NXT simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from re_nxt_simulator import ReNxtSimulator
from re_nxt_simulator import plugin as re_nxt_simulator_plugin
from syncframe_smartsync import plugin as smartsync_plugin

from plugins.smartsync.tests.re_nxt_helpers import add_constituent, connection_settings
from syncframe.testing import InvalidSettings, RejectedRecord, SinkConformance, SourceConformance


class TestReNxtConformance(SourceConformance, SinkConformance):
    """Constituents polled by last_modified, and written keyed by their Constituent ID."""

    plugins = (smartsync_plugin, re_nxt_simulator_plugin)
    system = "re_nxt"
    simulator_name = "re_nxt"
    bad_credentials_error = "refused the refresh token"

    source_type = "re_nxt_constituents"
    # The faults hit the poll itself, not the token request before it.
    source_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "ListConstituents"}

    sink_type = "re_nxt_constituents"
    sink_entity = "constituent"
    # A 503/429 on the second create of a batch: the first one is written again.
    sink_fault_match: ClassVar[Mapping[str, Any]] = {"operation": "CreateConstituent", "after": 1}

    def connection_settings(self, simulator: ReNxtSimulator) -> dict[str, Any]:
        return connection_settings(simulator)

    def bad_credentials(self, simulator: ReNxtSimulator) -> dict[str, Any]:
        return connection_settings(simulator, refresh_token="a-refresh-token-never-issued")

    def invalid_settings(self, simulator: ReNxtSimulator) -> list[InvalidSettings]:
        valid = connection_settings(simulator)
        return [
            InvalidSettings({**valid, "api_url": "ftp://api.example.org"}, "api_url", "http(s)"),
            InvalidSettings({**valid, "page_size": 6000}, "page_size", "5000"),
            InvalidSettings({**valid, "poll_every": "soon"}, "poll_every", "not a duration"),
            InvalidSettings({**valid, "refresh_token": " "}, "refresh_token", "must not be empty"),
        ]

    def seed_source(self, simulator: ReNxtSimulator, count: int) -> list[str]:
        start = len(simulator.store.constituents)
        made = [
            add_constituent(
                simulator,
                first=f"Member{start + n}",
                last="Conformance",
                email={"address": f"member{start + n}@example.org", "type": "Email"},
            )
            for n in range(count)
        ]
        return [constituent.id for constituent in made]

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

    def landed(self, simulator: ReNxtSimulator) -> list[str]:
        with simulator.lock:
            return [c.lookup_id for c in simulator.store.constituents.values()]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "conf-bad",
            {"constituent_id": "conf-bad", "email": "not-an-email", "last_name": "Bad"},
            "email: 'not-an-email' is not an email address",
        )
