"""GetIncrementalInserts / Updates / Deletes: classification, self-changes, paging, fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from luminate_simulator.changelog import ChangeLog
from luminate_simulator.services import (
    DEFAULT_PARTITION_ID,
    ApiUser,
    IncrementalKind,
    LuminateFault,
    WebServices,
)

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ALL = DEFAULT_PARTITION_ID
IDS = ["ConsId", "PrimaryEmail"]


def emails(
    services: WebServices,
    user: ApiUser,
    which: IncrementalKind,
    record_type: str = "Constituent",
    partition: int = ALL,
) -> list[str]:
    records = services.get_incremental(user, which, partition, record_type, 1, 200, IDS)
    return [r["PrimaryEmail"] for r in records]


def add(services: WebServices, email: str, **extra: Any) -> int:
    return services.add_constituent({"PrimaryEmail": email, **extra})


class TestClassification:
    """Inserts = added in the window, Updates = older and changed, Deletes = removed."""

    def test_inserts_updates_deletes(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        old_changed = add(services, "old-changed@example.org")
        old_removed = add(services, "old-removed@example.org")
        add(services, "old-untouched@example.org")
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        services.end_synchronization(user, ALL)
        clock.advance(minutes=1)
        services.modify_constituent(old_changed, {"ConsName": {"FirstName": "Ann"}})
        services.remove_constituent(old_removed)
        new_changed = add(services, "new-changed@example.org")
        services.modify_constituent(new_changed, {"HomePhone": "555-0100"})
        new_removed = add(services, "new-removed@example.org")
        services.remove_constituent(new_removed)
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        assert emails(services, user, "inserts") == ["new-changed@example.org"]
        assert emails(services, user, "updates") == ["old-changed@example.org"]
        # removed records are deletes only, even when also added in the window
        assert sorted(emails(services, user, "deletes")) == [
            "new-removed@example.org",
            "old-removed@example.org",
        ]

    def test_window_end_is_exclusive_and_later_changes_wait(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        services.start_synchronization(user, ALL)
        add(services, "at-window-end@example.org")  # at End: not in this window
        assert emails(services, user, "inserts") == []
        clock.advance(minutes=1)
        add(services, "later@example.org")
        assert emails(services, user, "inserts") == []
        services.end_synchronization(user, ALL)
        clock.advance(seconds=1)
        services.start_synchronization(user, ALL)
        assert emails(services, user, "inserts") == [
            "at-window-end@example.org",
            "later@example.org",
        ]

    def test_own_changes_are_left_out_for_that_user_only(
        self, services: WebServices, user: ApiUser, other: ApiUser, clock: ManualClock
    ) -> None:
        services.create(user, "Constituent", [{"PrimaryEmail": "mine@example.org"}])
        changed_by_me = add(services, "admin-made@example.org")
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        services.end_synchronization(user, ALL)
        clock.advance(minutes=1)
        services.update(user, "Constituent", [{"ConsId": changed_by_me, "HomePhone": "555-0101"}])
        services.create(user, "Constituent", [{"PrimaryEmail": "mine-too@example.org"}])
        services.delete(user, "Constituent", [{"PrimaryEmail": "mine@example.org"}])
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        assert emails(services, user, "inserts") == []
        assert emails(services, user, "updates") == []
        assert emails(services, user, "deletes") == []
        services.start_synchronization(other, ALL)
        assert emails(services, other, "inserts") == [
            "admin-made@example.org",
            "mine-too@example.org",
        ]
        assert emails(services, other, "deletes") == ["mine@example.org"]

    def test_a_change_by_someone_else_brings_the_record_back(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        cons_id = add(services, "shared@example.org")
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        services.end_synchronization(user, ALL)
        clock.advance(minutes=1)
        services.update(user, "Constituent", [{"ConsId": cons_id, "HomePhone": "1"}])
        services.modify_constituent(cons_id, {"HomePhone": "2"})
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        records = services.get_incremental(
            user, "updates", ALL, "Constituent", 1, 10, ["ConsId", "HomePhone"]
        )
        assert records == [{"ConsId": cons_id, "HomePhone": "2"}]

    def test_partition_rule_filters_constituents_and_their_transactions(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        california = services.add_partition("California", rule=("HomeAddress.State", "CA"))
        in_ca = add(services, "ca@example.org", HomeAddress={"State": "ca"})
        in_ny = add(services, "ny@example.org", HomeAddress={"State": "NY"})
        services.add_transaction(
            "Donation", {"Donor": {"ConsId": in_ca}, "Payment": {"Amount": "5"}}
        )
        services.add_transaction(
            "Donation", {"Donor": {"ConsId": in_ny}, "Payment": {"Amount": "7"}}
        )
        clock.advance(minutes=1)
        services.start_synchronization(user, california.partition_id)
        assert emails(services, user, "inserts", partition=california.partition_id) == [
            "ca@example.org"
        ]
        gifts = services.get_incremental(
            user, "inserts", california.partition_id, "Donation", 1, 10, ["Donor.ConsId"]
        )
        assert gifts == [{"Donor": {"ConsId": in_ca}}]
        assert services.partitions()[1].record()["Name"] == "California"

    def test_partition_rule_reaches_refunds_and_booleans(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        opted_in = services.add_partition("Opted in", rule=("AcceptsEmail", "true"))
        yes = add(services, "yes@example.org", AcceptsEmail=True)
        no = add(services, "no@example.org")
        gifts = [
            services.add_transaction(
                "Donation", {"Donor": {"ConsId": c}, "Payment": {"Amount": "9"}}
            )
            for c in (yes, no)
        ]
        for transaction_id in gifts:
            services.refund(transaction_id, "1.00", online=True)
        clock.advance(minutes=1)
        services.start_synchronization(user, opted_in.partition_id)
        assert emails(services, user, "inserts", partition=opted_in.partition_id) == [
            "yes@example.org"
        ]
        refunds = services.get_incremental(
            user, "inserts", opted_in.partition_id, "Refund", 1, 10, ["OriginalTransactionId"]
        )
        assert refunds == [{"OriginalTransactionId": gifts[0]}]

    def test_upload_changes_are_seen_by_every_api_user(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        services.directory.create({"PRIMARY_EMAIL": "uploaded@example.org"}, "import")
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        assert emails(services, user, "inserts") == ["uploaded@example.org"]


class TestRequests:
    """Paging limits, field lists and record types are checked before anything is read."""

    @pytest.fixture(autouse=True)
    def window(self, services: WebServices, user: ApiUser) -> None:
        services.start_synchronization(user, ALL)

    @pytest.mark.parametrize(
        ("page", "page_size", "message"),
        [
            (0, 10, "Page must be 1 or more (got 0)"),
            (1, 0, "PageSize must be between 1 and 200 (got 0)"),
            (1, 201, "PageSize must be between 1 and 200 (got 201)"),
        ],
    )
    def test_bad_paging_is_an_invalid_message(
        self, services: WebServices, user: ApiUser, page: int, page_size: int, message: str
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.get_incremental(user, "inserts", ALL, "Constituent", page, page_size, IDS)
        assert caught.value.fault_type == "InvalidMessageFault"
        assert caught.value.message == message + "."

    def test_page_size_200_is_allowed(self, services: WebServices, user: ApiUser) -> None:
        assert services.get_incremental(user, "inserts", ALL, "Constituent", 1, 200, IDS) == []

    @pytest.mark.parametrize(
        ("fields", "needle"),
        [
            (["ConsId", "Nickname"], "Invalid field 'Nickname' for record type Constituent"),
            (["PrimaryEmail", "ConsId"], "Field 'ConsId' is out of order"),
            (["ConsId", "ConsId"], "Field 'ConsId' is out of order"),
            (["ConsName.LastName", "ConsName.FirstName"], "'ConsName.FirstName' comes before"),
            (["ConsName.Nick"], "Invalid field 'ConsName.Nick'"),
            ([], "At least one Field is required"),
        ],
    )
    def test_bad_fields_are_an_invalid_message(
        self, services: WebServices, user: ApiUser, fields: list[str], needle: str
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.get_incremental(user, "inserts", ALL, "Constituent", 1, 10, fields)
        assert caught.value.fault_type == "InvalidMessageFault"
        assert needle in caught.value.message

    def test_unknown_record_type_is_an_invalid_message(
        self, services: WebServices, user: ApiUser
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.get_incremental(user, "inserts", ALL, "Pledge", 1, 10, ["Id"])
        assert caught.value.fault_type == "InvalidMessageFault"
        assert caught.value.message == "Invalid record type 'Pledge'."

    @pytest.mark.parametrize(
        ("which", "record_type"),
        [
            ("updates", "Refund"),
            ("deletes", "Refund"),
            ("updates", "ActionAlertResponse"),
            ("deletes", "ActionAlertResponse"),
            ("inserts", "DonationCampaign"),
            ("inserts", "Partition"),
        ],
    )
    def test_unsupported_downloads(
        self, services: WebServices, user: ApiUser, which: IncrementalKind, record_type: str
    ) -> None:
        fields = [services.describe_record_type(record_type).fields[0].name]
        with pytest.raises(LuminateFault) as caught:
            services.get_incremental(user, which, ALL, record_type, 1, 10, fields)
        assert caught.value.fault_type == "UnsupportedOperationFault"
        assert record_type in caught.value.message

    def test_only_requested_fields_nested_by_dot_notation(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        services.end_synchronization(user, ALL)
        add(
            services,
            "ann@example.org",
            MemberId="M-1",
            ConsName={"FirstName": "Ann", "LastName": "Lee"},
            HomeAddress={"City": "Reno", "State": "NV"},
        )
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        [record] = services.get_incremental(
            user,
            "inserts",
            ALL,
            "Constituent",
            1,
            10,
            ["MemberId", "ConsName.LastName", "HomeAddress", "AcceptsEmail"],
        )
        assert record == {
            "MemberId": "M-1",
            "ConsName": {"LastName": "Lee"},
            "HomeAddress": {
                "Street1": None,
                "Street2": None,
                "City": "Reno",
                "State": "NV",
                "Zip": None,
                "Country": None,
            },
            "AcceptsEmail": False,
        }
        assert list(record) == ["MemberId", "ConsName", "HomeAddress", "AcceptsEmail"]


class TestPaging:
    """Pages cut one stable ordering of the window; later changes do not shift them."""

    def test_pages_cover_every_record_once(
        self, services: WebServices, user: ApiUser, clock: ManualClock
    ) -> None:
        for number in range(450):
            add(services, f"c{number}@example.org")
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        seen: list[str] = []
        page = 1
        while True:
            records = services.get_incremental(user, "inserts", ALL, "Constituent", page, 200, IDS)
            seen.extend(r["PrimaryEmail"] for r in records)
            if len(records) < 200:
                break
            page += 1
        assert page == 3
        assert seen == [f"c{number}@example.org" for number in range(450)]

    def test_pages_stay_stable_while_the_site_changes(
        self, services: WebServices, user: ApiUser, other: ApiUser, clock: ManualClock
    ) -> None:
        ids = [add(services, f"c{number}@example.org") for number in range(30)]
        clock.advance(minutes=1)
        services.start_synchronization(user, ALL)
        first = emails_page(services, user, 1)
        # while paging: records change, are removed, new ones appear (all after the window End)
        services.remove_constituent(ids[0])
        services.modify_constituent(ids[15], {"PrimaryEmail": "renamed@example.org"})
        add(services, "newcomer@example.org")
        second = emails_page(services, user, 2)
        third = emails_page(services, user, 3)
        assert first == [f"c{n}@example.org" for n in range(10)]
        assert second == [f"c{n}@example.org" for n in range(10, 15)] + [
            "renamed@example.org"  # the current state of record 15, in its place
        ] + [f"c{n}@example.org" for n in range(16, 20)]
        assert third == [f"c{n}@example.org" for n in range(20, 30)]
        assert emails_page(services, user, 4) == []

    def test_window_changes_are_read_once_per_window_and_type(
        self,
        services: WebServices,
        user: ApiUser,
        clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Paging reads the change log once per window, never a scan per page."""
        for number in range(25):
            add(services, f"c{number}@example.org")
        clock.advance(minutes=1)
        calls: list[tuple[datetime, datetime]] = []
        original = ChangeLog.between

        def counting(log: ChangeLog, start: datetime, end: datetime) -> Any:
            calls.append((start, end))
            return original(log, start, end)

        monkeypatch.setattr(ChangeLog, "between", counting)
        services.start_synchronization(user, ALL)
        for page in range(1, 5):
            for which in ("inserts", "updates", "deletes"):
                services.get_incremental(user, which, ALL, "Constituent", page, 10, IDS)  # type: ignore[arg-type]
        assert len(calls) == 1
        services.end_synchronization(user, ALL)
        services.start_synchronization(user, ALL)
        services.get_incremental(user, "inserts", ALL, "Constituent", 1, 10, IDS)
        assert len(calls) == 2  # a new window reads its own slice


def emails_page(services: WebServices, user: ApiUser, page: int) -> list[str]:
    records = services.get_incremental(user, "inserts", ALL, "Constituent", page, 10, IDS)
    return [r["PrimaryEmail"] for r in records]
