"""The conforming toy Notes connector passes the conformance suite (run in this process)."""

from __future__ import annotations

from typing import Any

import httpx

from syncframe.testing import SinkConformance, SourceConformance, WebhookSourceConformance
from tests.testing.toy_notes import NotesConformanceBase, push_notes


class TestNotesConformance(NotesConformanceBase, SourceConformance, SinkConformance):
    """The toy_notes source and sink, as a connector's own test module would run the suite."""

    source_type = "toy_notes"
    sink_type = "toy_notes"


class TestNoteHooksConformance(NotesConformanceBase, WebhookSourceConformance):
    """The toy webhook source, fed by signed deliveries of the Notes simulator."""

    source_type = "toy_note_hooks"

    async def push_changes(
        self, simulator: Any, count: int, url: str, transport: httpx.AsyncBaseTransport
    ) -> list[str]:
        return await push_notes(simulator, count, url, transport)
