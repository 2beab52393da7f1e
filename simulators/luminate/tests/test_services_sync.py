"""StartSynchronization / EndSynchronization windows, per API user and partition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from luminate_simulator.services import (
    DEFAULT_PARTITION_ID,
    ApiUser,
    LuminateFault,
    WebServices,
)

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ALL = DEFAULT_PARTITION_ID


class TestDefaults:
    """Start defaults to the end of the last successful window, End to now."""

    def test_first_window_starts_at_the_beginning(
        self, services: WebServices, user: ApiUser
    ) -> None:
        window = services.start_synchronization(user, ALL)
        assert window.start is None
        assert window.end == START
        assert window.sync_id == 1
        assert window.partition_name == "All Constituents"
        assert window.status == "active"

    def test_next_window_starts_where_the_ended_one_ended(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        services.start_synchronization(user, ALL)
        clock.advance(minutes=5)
        ended = services.end_synchronization(user, ALL)
        assert ended.status == "ended"
        assert ended.completed == START + timedelta(minutes=5)
        clock.advance(hours=1)
        window = services.start_synchronization(user, ALL)
        assert window.start == START  # the End of the ended window, not when it was ended
        assert window.end == START + timedelta(hours=1, minutes=5)
        assert window.sync_id == 2

    def test_explicit_start_and_end(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        clock.advance(days=1)
        window = services.start_synchronization(
            user, ALL, start=START, end=START + timedelta(hours=2)
        )
        assert (window.start, window.end) == (START, START + timedelta(hours=2))
        services.end_synchronization(user, ALL)
        assert services.start_synchronization(user, ALL).start == START + timedelta(hours=2)

    def test_naive_times_are_utc(self, services: WebServices, user: ApiUser) -> None:
        window = services.start_synchronization(user, ALL, start=datetime(2025, 12, 1))
        assert window.start == datetime(2025, 12, 1, tzinfo=UTC)

    def test_end_in_the_future_or_before_start_is_invalid(
        self, services: WebServices, user: ApiUser
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.start_synchronization(user, ALL, end=START + timedelta(seconds=1))
        assert caught.value.fault_type == "InvalidMessageFault"
        assert "later than the server time" in caught.value.message
        with pytest.raises(LuminateFault) as caught:
            services.start_synchronization(user, ALL, start=START, end=START - timedelta(hours=1))
        assert "later than End" in caught.value.message
        # neither attempt left a window open
        assert services.start_synchronization(user, ALL).sync_id == 1


class TestOneActiveWindow:
    """One active window per (API user, partition), unless forced."""

    def test_second_start_is_a_synchronization_fault(
        self, services: WebServices, user: ApiUser
    ) -> None:
        services.start_synchronization(user, ALL)
        with pytest.raises(LuminateFault) as caught:
            services.start_synchronization(user, ALL)
        assert caught.value.fault_type == "SynchronizationFault"
        assert caught.value.message == (
            "An active synchronization session already exists for Partition All Constituents"
        )

    def test_other_users_and_partitions_are_independent(
        self, services: WebServices, user: ApiUser, other: ApiUser
    ) -> None:
        second = services.add_partition("California", rule=("HomeAddress.State", "CA"))
        services.start_synchronization(user, ALL)
        assert services.start_synchronization(other, ALL).sync_id == 2
        assert services.start_synchronization(user, second.partition_id).sync_id == 3

    def test_force_replaces_the_active_window_which_never_succeeds(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        services.start_synchronization(user, ALL)
        services.end_synchronization(user, ALL)  # successful: End = START
        clock.advance(hours=1)
        abandoned = services.start_synchronization(user, ALL)
        clock.advance(hours=1)
        forced = services.start_synchronization(user, ALL, force=True)
        assert abandoned.status == "superseded"
        assert forced.start == START  # the abandoned window is offered again
        assert forced.end == START + timedelta(hours=2)
        ended = services.end_synchronization(user, ALL)
        assert ended.sync_id == forced.sync_id
        assert [w.status for w in services.get_synchronization_log(user, ALL)] == [
            "ended",
            "superseded",
            "ended",
        ]

    def test_window_not_ended_is_offered_again(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        services.add_constituent({"PrimaryEmail": "ann@example.org"})
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        fields = ["ConsId", "PrimaryEmail"]
        assert (
            len(services.get_incremental(user, "inserts", ALL, "Constituent", 1, 10, fields)) == 1
        )
        clock.advance(hours=1)
        # the connector crashed before EndSynchronization: it forces a new window
        again = services.start_synchronization(user, ALL, force=True)
        assert again.start is None
        records = services.get_incremental(user, "inserts", ALL, "Constituent", 1, 10, fields)
        assert [r["PrimaryEmail"] for r in records] == ["ann@example.org"]

    def test_end_without_active_window_is_a_synchronization_fault(
        self, services: WebServices, user: ApiUser
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.end_synchronization(user, ALL)
        assert caught.value.fault_type == "SynchronizationFault"
        assert "No active synchronization session" in caught.value.message
        services.start_synchronization(user, ALL)
        services.end_synchronization(user, ALL)
        with pytest.raises(LuminateFault):
            services.end_synchronization(user, ALL)

    def test_unknown_partition_is_a_synchronization_fault(
        self, services: WebServices, user: ApiUser
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.start_synchronization(user, 4242)
        assert caught.value.fault_type == "SynchronizationFault"
        assert "Partition 4242 does not exist" in caught.value.message

    def test_download_outside_a_window_is_a_synchronization_fault(
        self, services: WebServices, user: ApiUser, other: ApiUser
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.get_incremental(user, "inserts", ALL, "Constituent", 1, 10, ["ConsId"])
        assert caught.value.fault_type == "SynchronizationFault"
        services.start_synchronization(other, ALL)  # another user's window does not count
        with pytest.raises(LuminateFault):
            services.get_incremental(user, "updates", ALL, "Donation", 1, 10, ["TransactionId"])
        services.start_synchronization(user, ALL)
        services.end_synchronization(user, ALL)
        with pytest.raises(LuminateFault):
            services.get_incremental(user, "deletes", ALL, "Constituent", 1, 10, ["ConsId"])


class TestLogs:
    """GetSynchronizationLog and GetSynchronizationRequestLog read back what happened."""

    def test_request_log_lists_each_download(
        self, services: WebServices, user: ApiUser, other: ApiUser
    ) -> None:
        window = services.start_synchronization(user, ALL)
        services.get_incremental(user, "inserts", ALL, "Constituent", 1, 100, ["ConsId"])
        services.get_incremental(user, "deletes", ALL, "Donation", 2, 50, ["TransactionId"])
        requests = services.get_synchronization_request_log(user, window.sync_id)
        assert [(r["Operation"], r["RecordType"], r["Page"], r["PageSize"]) for r in requests] == [
            ("GetIncrementalInserts", "Constituent", 1, 100),
            ("GetIncrementalDeletes", "Donation", 2, 50),
        ]
        assert all(r["SyncId"] == window.sync_id and r["RecordCount"] == 0 for r in requests)
        with pytest.raises(LuminateFault):  # another user's window is not theirs to read
            services.get_synchronization_request_log(other, window.sync_id)

    def test_sync_log_filters_by_creation_time(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        for _ in range(3):
            services.start_synchronization(user, ALL)
            services.end_synchronization(user, ALL)
            clock.advance(hours=1)
        windows = services.get_synchronization_log(
            user, ALL, start=START + timedelta(minutes=30), end=START + timedelta(hours=2)
        )
        assert [w.sync_id for w in windows] == [2, 3]
        snapshot = services.snapshot()
        assert [w["sync_id"] for w in snapshot["sync_log"]] == [1, 2, 3]
        assert snapshot["sync_log"][0]["start"] is None

    def test_windows_are_kept_for_90_days(
        self, services: WebServices, user: ApiUser, other: ApiUser, clock: ManualClock
    ) -> None:
        # Each download call adds to its window's request log: without an end the log would
        # grow for as long as the simulator runs.
        kept_open = services.start_synchronization(other, ALL)
        old = services.start_synchronization(user, ALL)
        services.get_incremental(user, "inserts", ALL, "Constituent", 1, 100, ["ConsId"])
        services.end_synchronization(user, ALL)
        clock.advance(days=90)
        services.start_synchronization(user, ALL)
        services.end_synchronization(user, ALL)
        assert len(services.get_synchronization_request_log(user, old.sync_id)) == 1
        clock.advance(seconds=1)
        recent = services.start_synchronization(user, ALL)
        with pytest.raises(LuminateFault, match=f"SyncId {old.sync_id} does not exist"):
            services.get_synchronization_request_log(user, old.sync_id)
        assert [w["sync_id"] for w in services.snapshot()["sync_log"]] == [
            kept_open.sync_id,  # still active: kept
            recent.sync_id - 1,
            recent.sync_id,
        ]
