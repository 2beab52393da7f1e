"""The change log the incremental downloads read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from luminate_simulator.changelog import ChangeEntry, ChangeLog

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class TestChangeLog:
    """Recording and reading back changes by time window."""

    def test_entries_come_back_with_time_seq_id_kind_and_actor(self) -> None:
        log = ChangeLog()
        log.record(at(0), 1001001, "insert", "import")
        log.record(at(1.5), "T-9", "update", "sync-api")
        assert list(log) == [
            ChangeEntry(at(0), 1, 1001001, "insert", "import"),
            ChangeEntry(at(1.5), 2, "T-9", "update", "sync-api"),
        ]
        assert len(log) == 2

    def test_between_includes_start_and_excludes_end(self) -> None:
        log = ChangeLog()
        for second in range(5):
            log.record(at(second), second, "update", "admin")
        assert [e.record_id for e in log.between(at(1), at(3))] == [1, 2]
        assert [e.record_id for e in log.between(at(3), at(100))] == [3, 4]
        assert list(log.between(at(10), at(20))) == []
        assert list(log.between(at(2), at(2))) == []

    def test_microseconds_survive_the_round_trip(self) -> None:
        log = ChangeLog()
        when = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
        log.record(when, 7, "delete", "admin")
        (entry,) = log.between(when, when + timedelta(microseconds=1))
        assert entry.at == when

    def test_an_earlier_time_is_inserted_in_time_order(self) -> None:
        log = ChangeLog()
        log.record(at(10), "late", "insert", "admin")
        log.record(at(5), "early", "insert", "admin")
        assert [(e.record_id, e.seq) for e in log] == [("early", 2), ("late", 1)]
        assert [e.record_id for e in log.between(at(0), at(6))] == ["early"]

    def test_ties_keep_recording_order(self) -> None:
        log = ChangeLog()
        for record_id in (3, 1, 2):
            log.record(at(1), record_id, "update", "a")
        assert [e.record_id for e in log] == [3, 1, 2]

    def test_extend_appends_a_batch_with_one_time_and_actor(self) -> None:
        log = ChangeLog()
        log.record(at(0), 1, "insert", "admin")
        log.extend(at(2), [2, 3, 1], ["insert", "insert", "update"], "import")
        assert list(log)[1:] == [
            ChangeEntry(at(2), 2, 2, "insert", "import"),
            ChangeEntry(at(2), 3, 3, "insert", "import"),
            ChangeEntry(at(2), 4, 1, "update", "import"),
        ]
        log.extend(at(3), [], [], "import")
        assert len(log) == 4

    def test_extend_at_an_earlier_time_still_keeps_time_order(self) -> None:
        log = ChangeLog()
        log.record(at(10), 1, "insert", "admin")
        log.extend(at(5), [2, 3], ["insert", "update"], "import")
        assert [e.record_id for e in log] == [2, 3, 1]

    def test_extend_refuses_mismatched_lists(self) -> None:
        with pytest.raises(ValueError, match="one kind per record id"):
            ChangeLog().extend(at(0), [1, 2], ["insert"], "import")

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no timezone"):
            ChangeLog().record(datetime(2026, 1, 1), 1, "insert", "admin")  # the point of the test

    def test_an_unknown_kind_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown change kind 'upsert'"):
            ChangeLog().record(at(0), 1, "upsert", "admin")  # type: ignore[arg-type]  # on purpose

    def test_clear_forgets_everything(self) -> None:
        log = ChangeLog()
        log.record(at(0), 1, "insert", "admin")
        log.clear()
        assert list(log) == []
        log.record(at(0), 2, "insert", "admin")
        assert [e.seq for e in log] == [1]
