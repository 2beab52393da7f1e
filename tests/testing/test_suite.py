"""The conformance suite tested with pytester: a conforming connector passes every test, and a
connector that breaks one promise fails the test for that promise, saying what is wrong.

Each case runs pytest in a subprocess on a test module that subclasses the suite with the toy
Notes connector (``toy_notes.py``, copied in), as a connector's own tests would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TOY = Path(__file__).with_name("toy_notes.py")

MODULE = """\
from syncframe.testing import SinkConformance, SourceConformance
from toy_notes import NotesConformanceBase


class TestNotes(NotesConformanceBase, SourceConformance, SinkConformance):
    source_type = {source!r}
    sink_type = {sink!r}
"""

#: Every test of the suite for a connector with a source and a sink.
ALL_TESTS = {
    "test_valid_settings_validate",
    "test_invalid_settings_name_the_setting",
    "test_credentials_are_secret",
    "test_connection_check_passes",
    "test_bad_credentials_fail_the_check_clearly",
    "test_read_from_empty",
    "test_incremental_read_resumes_from_its_cursor",
    "test_transient_fault_on_read_is_retried[503]",
    "test_transient_fault_on_read_is_retried[429]",
    "test_writes_land",
    "test_writing_the_same_changes_twice_changes_nothing",
    "test_rerun_after_a_stop_between_write_and_commit",
    "test_transient_fault_on_write_is_retried[503]",
    "test_transient_fault_on_write_is_retried[429]",
    "test_a_rejected_record_carries_its_reason",
}

_FAILED_LINE = re.compile(r"^FAILED \S+::TestNotes::(\S+)")


class SuiteRun:
    """What one pytest run of the suite gave: passed and failed test names, and its output."""

    def __init__(self, result: pytest.RunResult) -> None:
        self.result = result
        self.output = result.stdout.str()
        self.failed = {
            m.group(1) for line in result.stdout.lines if (m := _FAILED_LINE.match(line))
        }
        self.outcomes = result.parseoutcomes()


def run_suite(pytester: pytest.Pytester, *, source: str, sink: str) -> SuiteRun:
    pytester.makepyfile(toy_notes=TOY.read_text(encoding="utf-8"))
    pytester.makepyfile(test_notes_conformance=MODULE.format(source=source, sink=sink))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf", "-W", "error")
    run = SuiteRun(result)
    assert "errors" not in run.outcomes, run.output
    return run


def assert_only_failed(run: SuiteRun, expected: set[str]) -> None:
    assert run.failed == expected, run.output
    assert run.outcomes.get("passed") == len(ALL_TESTS) - len(expected), run.output


class TestConformingConnector:
    """The toy connector that keeps every promise passes the whole suite."""

    def test_every_test_passes(self, pytester: pytest.Pytester) -> None:
        run = run_suite(pytester, source="toy_notes", sink="toy_notes")

        assert run.outcomes == {"passed": len(ALL_TESTS)}, run.output


class TestBrokenConnectors:
    """Each broken toy fails the test of the promise it breaks, with a message that says so."""

    def test_a_source_that_ignores_its_cursor(self, pytester: pytest.Pytester) -> None:
        run = run_suite(pytester, source="toy_notes_forgetful", sink="toy_notes")

        assert_only_failed(run, {"test_incremental_read_resumes_from_its_cursor"})
        assert "the source did not resume from its cursor" in run.output
        assert "only ['n4', 'n5'] were new" in run.output

    def test_a_sink_that_duplicates_on_rerun(self, pytester: pytest.Pytester) -> None:
        run = run_suite(pytester, source="toy_notes", sink="toy_notes_duplicating")

        assert_only_failed(
            run,
            {
                "test_writing_the_same_changes_twice_changes_nothing",
                "test_rerun_after_a_stop_between_write_and_commit",
            },
        )
        assert (
            "after writing them twice, the simulator holds ['r0', 'r1', 'r2'] more than once"
            in (run.output)
        )
        assert "after the stop and the rerun, the simulator holds ['r0', 'r1'] more than once" in (
            run.output
        )

    def test_a_client_that_does_not_retry(self, pytester: pytest.Pytester) -> None:
        run = run_suite(pytester, source="toy_notes_brittle", sink="toy_notes_brittle")

        assert_only_failed(
            run,
            {
                "test_transient_fault_on_read_is_retried[503]",
                "test_transient_fault_on_read_is_retried[429]",
                "test_transient_fault_on_write_is_retried[503]",
                "test_transient_fault_on_write_is_retried[429]",
            },
        )
        assert "the run failed after one 503 from the simulator" in run.output
        assert "the run failed after one 429 from the simulator" in run.output
        # The sink survives by luck (the engine writes the records again one by one after a
        # permanent error), but the suite sees that nothing waited and retried.
        assert "the engine never waited to retry after the 503" in run.output
        assert "do not turn it into PermanentError or swallow it" in run.output

    def test_a_sink_that_rejects_without_a_reason(self, pytester: pytest.Pytester) -> None:
        run = run_suite(pytester, source="toy_notes", sink="toy_notes_silent")

        assert_only_failed(run, {"test_a_rejected_record_carries_its_reason"})
        assert "the rejected record's reason is 'rejected'; it should say why" in run.output
        assert "Put it in BatchResult.reasons" in run.output


HOOKS_MODULE = """\
from syncframe.testing import WebhookSourceConformance
from toy_notes import NotesConformanceBase, push_notes


class TestNotes(NotesConformanceBase, WebhookSourceConformance):
    source_type = {source!r}

    async def push_changes(self, simulator, count, url, transport):
        return await push_notes(simulator, count, url, transport)
"""


class TestWebhookSources:
    """The webhook part of the suite: the conforming toy passes, each broken one fails."""

    def run(self, pytester: pytest.Pytester, source: str) -> SuiteRun:
        pytester.makepyfile(toy_notes=TOY.read_text(encoding="utf-8"))
        pytester.makepyfile(test_hooks_conformance=HOOKS_MODULE.format(source=source))
        run = SuiteRun(pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf"))
        assert "errors" not in run.outcomes, run.output
        return run

    def test_a_conforming_webhook_source_passes(self, pytester: pytest.Pytester) -> None:
        run = self.run(pytester, "toy_note_hooks")

        assert run.failed == set(), run.output
        assert run.outcomes == {"passed": 8}, run.output

    def test_a_source_that_trusts_unsigned_deliveries(self, pytester: pytest.Pytester) -> None:
        run = self.run(pytester, "toy_note_hooks_trusting")

        assert run.failed == {"test_a_forged_delivery_is_refused"}, run.output
        assert "a delivery altered after signing got 200" in run.output

    def test_a_source_whose_event_ids_change(self, pytester: pytest.Pytester) -> None:
        run = self.run(pytester, "toy_note_hooks_unstable")

        assert run.failed == {"test_a_redelivery_is_not_read_twice"}, run.output
        assert "redeliveries were read again" in run.output


class TestIncompleteSubclass:
    """A connector test that leaves out what the suite needs is told what to add."""

    def test_missing_methods_are_named(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(toy_notes=TOY.read_text(encoding="utf-8"))
        pytester.makepyfile(
            test_incomplete="""\
from syncframe.testing import SourceConformance
from toy_notes import NotesPlugin


class TestIncomplete(SourceConformance):
    plugins = (NotesPlugin(),)
    system = "notes"
    simulator_name = "notes"
    source_type = "toy_notes"
"""
        )
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf")

        output = result.stdout.str()
        assert "TestIncomplete must define connection_settings(simulator)" in output
        assert "TestIncomplete must define bad_credentials(simulator)" in output
        assert "passed" not in result.parseoutcomes(), output


def test_importing_the_suite_needs_neither_starlette_nor_the_kit() -> None:
    code = (
        "import sys, syncframe.testing; "
        "print(sorted(m for m in ('starlette', 'syncframe_simulators') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
