"""The conforming toy Notes connector passes the conformance suite (run in this process)."""

from __future__ import annotations

from syncframe.testing import SinkConformance, SourceConformance
from tests.testing.toy_notes import NotesConformanceBase


class TestNotesConformance(NotesConformanceBase, SourceConformance, SinkConformance):
    """The toy_notes source and sink, as a connector's own test module would run the suite."""

    source_type = "toy_notes"
    sink_type = "toy_notes"
