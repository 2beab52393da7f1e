"""Constituent360: the directory, its indexes, its field rules and its change log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from luminate_simulator.constituents import (
    FIELD_MAX_LENGTHS,
    SOAP_FIELDS,
    UPLOAD_COLUMNS,
    Constituent,
    ConstituentDirectory,
    ConstituentFieldError,
    is_valid_email,
    normalise_fields,
)
from luminate_simulator.schema import RECORD_TYPES, field_paths

from syncframe.clock import ManualClock

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def directory(clock: ManualClock) -> ConstituentDirectory:
    return ConstituentDirectory(clock)


def log_of(directory: ConstituentDirectory) -> list[tuple[int | str, str, str]]:
    return [(e.record_id, e.kind, e.actor) for e in directory.log]


class TestColumns:
    """The upload columns and their SOAP element paths agree with the WSDL schema."""

    def test_every_upload_column_has_a_soap_path_in_the_constituent_type(self) -> None:
        assert tuple(SOAP_FIELDS) == UPLOAD_COLUMNS
        paths = field_paths("Constituent")
        for column, path in SOAP_FIELDS.items():
            assert path in paths, column

    def test_soap_paths_follow_wsdl_order(self) -> None:
        order = field_paths("Constituent")
        positions = [order.index(path) for path in SOAP_FIELDS.values()]
        assert positions == sorted(positions)

    def test_limits_come_from_the_schema(self) -> None:
        constituent = RECORD_TYPES["Constituent"]
        assert FIELD_MAX_LENGTHS["LAST_NAME"] == 50
        assert FIELD_MAX_LENGTHS["PRIMARY_EMAIL"] == 255
        for column, limit in FIELD_MAX_LENGTHS.items():
            definition = constituent.field(SOAP_FIELDS[column])
            assert definition is not None
            assert definition.max_length == limit

    def test_records_are_slotted(self) -> None:
        cons = Constituent(1, 1, T0)
        assert not hasattr(cons, "__dict__")


class TestCreate:
    """New records: ids, values, indexes, the change log."""

    def test_ids_are_assigned_in_sequence_from_the_first_id(
        self, directory: ConstituentDirectory
    ) -> None:
        first = directory.create({"LAST_NAME": "Ada"}, "admin")
        second = directory.create({"LAST_NAME": "Bo"}, "admin")
        assert (first.cons_id, second.cons_id) == (1001001, 1001002)
        assert (first.created_seq, second.created_seq) == (1, 2)
        assert first.status == "Active"
        assert first.active

    def test_values_are_stored_and_absent_ones_are_none(
        self, directory: ConstituentDirectory, clock: ManualClock
    ) -> None:
        clock.advance(minutes=5)
        cons = directory.create(
            {
                "MEMBER_ID": " RE-1 ",
                "PRIMARY_EMAIL": "Ann@Example.org",
                "FIRST_NAME": "Ann",
                "HOME_CITY": "Boston",
                "ACCEPTS_EMAIL": "TRUE",
                "MIDDLE_NAME": "",
            },
            "sync-api",
        )
        assert cons.member_id == "RE-1"  # id columns are trimmed
        assert cons.primary_email == "Ann@Example.org"
        assert cons.first_name == "Ann"
        assert cons.city == "Boston"
        assert cons.accepts_email is True
        assert cons.middle_name is None
        assert cons.last_name is None
        assert cons.created_at == cons.modified_at == T0 + timedelta(minutes=5)
        assert log_of(directory) == [(cons.cons_id, "insert", "sync-api")]
        assert [e.at for e in directory.log] == [T0 + timedelta(minutes=5)]

    def test_an_explicit_cons_id_is_kept_and_later_ids_skip_past_it(
        self, directory: ConstituentDirectory
    ) -> None:
        seeded = directory.create({"CONS_ID": "1001002", "LAST_NAME": "Seeded"}, "admin")
        assert seeded.cons_id == 1001002
        assert directory.create({"LAST_NAME": "Next"}, "admin").cons_id == 1001003
        low = directory.create({"CONS_ID": 5, "LAST_NAME": "Low"}, "admin")
        assert low.cons_id == 5
        assert directory.create({"LAST_NAME": "After"}, "admin").cons_id == 1001004

    def test_a_cons_id_in_use_is_refused(self, directory: ConstituentDirectory) -> None:
        directory.create({"CONS_ID": 7, "LAST_NAME": "A"}, "admin")
        with pytest.raises(ConstituentFieldError, match="CONS_ID 7 is already used") as caught:
            directory.create({"CONS_ID": 7, "LAST_NAME": "B"}, "admin")
        assert caught.value.column == "CONS_ID"
        assert len(directory) == 1

    def test_a_user_name_in_use_is_refused_whatever_its_case(
        self, directory: ConstituentDirectory
    ) -> None:
        holder = directory.create({"USER_NAME": "ann", "LAST_NAME": "A"}, "admin")
        with pytest.raises(ConstituentFieldError, match=f"constituent {holder.cons_id}"):
            directory.create({"USER_NAME": "ANN", "LAST_NAME": "B"}, "admin")
        assert directory.by_user_name("Ann") is holder


class TestLookups:
    """Finding records by id, MEMBER_ID and PRIMARY_EMAIL."""

    def test_get_by_cons_id(self, directory: ConstituentDirectory) -> None:
        cons = directory.create({"LAST_NAME": "A"}, "admin")
        assert directory.get(cons.cons_id) is cons
        assert directory.get(42) is None
        assert cons.cons_id in directory

    def test_by_email_ignores_case_and_keeps_creation_order(
        self, directory: ConstituentDirectory
    ) -> None:
        first = directory.create({"PRIMARY_EMAIL": "Pat@Example.org"}, "admin")
        second = directory.create({"PRIMARY_EMAIL": "pat@example.ORG"}, "admin")
        directory.create({"PRIMARY_EMAIL": "other@example.org"}, "admin")
        assert directory.by_email("PAT@EXAMPLE.ORG") == [first, second]
        assert directory.by_email("nobody@example.org") == []

    def test_by_member_id_is_exact_and_lists_every_holder(
        self, directory: ConstituentDirectory
    ) -> None:
        one = directory.create({"MEMBER_ID": "RE-1", "LAST_NAME": "A"}, "admin")
        two = directory.create({"MEMBER_ID": "RE-1", "LAST_NAME": "B"}, "admin")
        assert directory.by_member_id("RE-1") == [one, two]
        assert directory.by_member_id("re-1") == []

    def test_removed_records_stay_findable(self, directory: ConstituentDirectory) -> None:
        cons = directory.create({"MEMBER_ID": "RE-1", "PRIMARY_EMAIL": "a@b.org"}, "admin")
        directory.remove(cons, "admin")
        assert directory.get(cons.cons_id) is cons
        assert directory.by_member_id("RE-1") == [cons]
        assert directory.by_email("a@b.org") == [cons]

    def test_iteration_is_creation_order(self, directory: ConstituentDirectory) -> None:
        made = [directory.create({"LAST_NAME": name}, "admin") for name in "ABC"]
        assert list(directory) == made
        assert len(directory) == 3


class TestUpdate:
    """Changing records: blank means unchanged, None clears, indexes follow."""

    def test_empty_strings_leave_values_and_none_clears(
        self, directory: ConstituentDirectory, clock: ManualClock
    ) -> None:
        cons = directory.create(
            {"FIRST_NAME": "Ann", "LAST_NAME": "Lee", "HOME_CITY": "Boston"}, "admin"
        )
        clock.advance(seconds=30)
        directory.update(cons, {"FIRST_NAME": "", "LAST_NAME": "Li", "HOME_CITY": None}, "api")
        assert (cons.first_name, cons.last_name, cons.city) == ("Ann", "Li", None)
        assert cons.modified_at == T0 + timedelta(seconds=30)
        assert cons.created_at == T0
        assert log_of(directory)[-1] == (cons.cons_id, "update", "api")

    def test_email_change_moves_the_record_in_the_email_index(
        self, directory: ConstituentDirectory
    ) -> None:
        first = directory.create({"PRIMARY_EMAIL": "x@example.org"}, "admin")
        moved = directory.create({"PRIMARY_EMAIL": "old@example.org"}, "admin")
        directory.update(moved, {"PRIMARY_EMAIL": "X@example.org"}, "admin")
        assert directory.by_email("old@example.org") == []
        assert directory.by_email("x@example.org") == [first, moved]
        directory.update(first, {"PRIMARY_EMAIL": None}, "admin")
        assert directory.by_email("x@example.org") == [moved]
        assert first.primary_email is None

    def test_an_older_record_joining_an_email_goes_first(
        self, directory: ConstituentDirectory
    ) -> None:
        older = directory.create({"PRIMARY_EMAIL": "a@example.org"}, "admin")
        newer = directory.create({"PRIMARY_EMAIL": "b@example.org"}, "admin")
        directory.update(older, {"PRIMARY_EMAIL": "b@example.org"}, "admin")
        assert directory.by_email("b@example.org") == [older, newer]

    def test_member_id_and_user_name_changes_move_the_record(
        self, directory: ConstituentDirectory
    ) -> None:
        cons = directory.create({"MEMBER_ID": "RE-1", "USER_NAME": "ann", "LAST_NAME": "A"}, "x")
        directory.update(cons, {"MEMBER_ID": "RE-2", "USER_NAME": "annie"}, "x")
        assert directory.by_member_id("RE-1") == []
        assert directory.by_member_id("RE-2") == [cons]
        assert directory.by_user_name("ann") is None
        assert directory.by_user_name("ANNIE") is cons

    def test_cons_id_cannot_change(self, directory: ConstituentDirectory) -> None:
        cons = directory.create({"LAST_NAME": "A"}, "admin")
        directory.update(cons, {"CONS_ID": cons.cons_id, "LAST_NAME": "B"}, "admin")
        with pytest.raises(ConstituentFieldError, match="CONS_ID cannot be changed"):
            directory.update(cons, {"CONS_ID": 99}, "admin")
        assert cons.last_name == "B"

    def test_a_removed_record_cannot_be_updated(self, directory: ConstituentDirectory) -> None:
        cons = directory.create({"LAST_NAME": "A"}, "admin")
        directory.remove(cons, "admin")
        with pytest.raises(ValueError, match="Removed"):
            directory.update(cons, {"LAST_NAME": "B"}, "admin")
        assert cons.last_name == "A"

    def test_a_record_of_another_directory_is_refused(self, clock: ManualClock) -> None:
        stranger = ConstituentDirectory(clock).create({"LAST_NAME": "A"}, "admin")
        with pytest.raises(KeyError, match="not in this directory"):
            ConstituentDirectory(clock).update(stranger, {"LAST_NAME": "B"}, "admin")

    def test_a_bad_value_changes_nothing(self, directory: ConstituentDirectory) -> None:
        cons = directory.create({"PRIMARY_EMAIL": "a@example.org", "LAST_NAME": "A"}, "admin")
        with pytest.raises(ConstituentFieldError):
            directory.update(cons, {"LAST_NAME": "B", "PRIMARY_EMAIL": "not-an-address"}, "x")
        assert (cons.last_name, cons.primary_email) == ("A", "a@example.org")
        assert len(directory.log) == 1


class TestRemove:
    """Removing marks the record Removed and logs a delete once."""

    def test_remove_sets_status_and_logs_a_delete(
        self, directory: ConstituentDirectory, clock: ManualClock
    ) -> None:
        cons = directory.create({"LAST_NAME": "A"}, "admin")
        clock.advance(seconds=1)
        directory.remove(cons, "site-admin")
        directory.remove(cons, "site-admin")
        assert cons.status == "Removed"
        assert not cons.active
        assert cons.modified_at == T0 + timedelta(seconds=1)
        assert log_of(directory) == [
            (cons.cons_id, "insert", "admin"),
            (cons.cons_id, "delete", "site-admin"),
        ]


class TestFieldRules:
    """What normalise_fields accepts and refuses, naming the column."""

    @pytest.mark.parametrize(
        ("fields", "column", "message"),
        [
            ({"FRIST_NAME": "A"}, "FRIST_NAME", "FRIST_NAME is not a Luminate constituent field"),
            ({"LAST_NAME": "x" * 51}, "LAST_NAME", "LAST_NAME is longer than 50 characters (51)"),
            ({"PRIMARY_EMAIL": "a@b"}, "PRIMARY_EMAIL", "PRIMARY_EMAIL 'a@b' is not a valid"),
            ({"ACCEPTS_EMAIL": "maybe"}, "ACCEPTS_EMAIL", "ACCEPTS_EMAIL 'maybe' is not TRUE"),
            ({"CONS_ID": "12a"}, "CONS_ID", "CONS_ID '12a' is not a constituent ID"),
            ({"CONS_ID": "0"}, "CONS_ID", "CONS_ID '0' is not a constituent ID"),
            ({"CONS_ID": True}, "CONS_ID", "CONS_ID True is not a constituent ID"),
            ({"CONS_ID": None}, "CONS_ID", "CONS_ID cannot be cleared"),
            ({"FIRST_NAME": 5}, "FIRST_NAME", "FIRST_NAME must be text, not int"),
        ],
    )
    def test_refused(self, fields: dict[str, object], column: str, message: str) -> None:
        with pytest.raises(ConstituentFieldError, match=re.escape(message)) as caught:
            normalise_fields(fields)
        assert caught.value.column == column

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("TRUE", True), ("false", False), ("Y", True), ("no", False), ("1", True), (" 0 ", False)],
    )
    def test_accepts_email_spellings(self, value: str, expected: bool) -> None:
        assert normalise_fields({"ACCEPTS_EMAIL": value}) == {"ACCEPTS_EMAIL": expected}

    def test_blank_dropped_none_kept_ids_trimmed(self) -> None:
        assert normalise_fields(
            {"FIRST_NAME": "", "LAST_NAME": None, "CONS_ID": " 12 ", "PRIMARY_EMAIL": " a@b.co "}
        ) == {"LAST_NAME": None, "CONS_ID": 12, "PRIMARY_EMAIL": "a@b.co"}

    @pytest.mark.parametrize(
        ("email", "valid"),
        [
            ("ann@example.org", True),
            ("ann.lee+news@mail.example.co.uk", True),
            ("ann@example", False),
            ("ann example@x.org", False),
            ("@example.org", False),
            ("ann@@example.org", False),
            ("ann@example..org", False),
        ],
    )
    def test_email_syntax(self, email: str, valid: bool) -> None:
        assert is_valid_email(email) is valid


class TestJson:
    """The admin API's shape: to_json and from_json round-trip, seeding logs the history."""

    def test_round_trip(self, directory: ConstituentDirectory, clock: ManualClock) -> None:
        cons = directory.create(
            {"MEMBER_ID": "RE-1", "PRIMARY_EMAIL": "a@example.org", "FIRST_NAME": "Ann"}, "x"
        )
        data = directory.to_json(cons)
        assert data["CONS_ID"] == cons.cons_id
        assert data["FIRST_NAME"] == "Ann"
        assert data["LAST_NAME"] is None
        assert data["ACCEPTS_EMAIL"] is False
        assert data["STATUS"] == "Active"
        assert data["CREATED_AT"] == "2026-01-01T09:00:00+00:00"
        copy = ConstituentDirectory(clock)
        restored = copy.from_json(data)
        assert copy.to_json(restored) == data
        assert copy.by_member_id("RE-1") == [restored]

    def test_from_json_seeds_a_removed_record_with_its_history(
        self, directory: ConstituentDirectory
    ) -> None:
        cons = directory.from_json(
            {
                "CONS_ID": 2000,
                "LAST_NAME": "Gone",
                "STATUS": "Removed",
                "CREATED_AT": "2025-06-01T00:00:00+00:00",
                "MODIFIED_AT": "2025-07-01T00:00:00Z",
            },
            "admin",
        )
        assert cons.status == "Removed"
        assert [(e.kind, e.at.month) for e in directory.log] == [("insert", 6), ("delete", 7)]
        assert directory.create({"LAST_NAME": "New"}, "admin").cons_id == 1001001

    def test_from_json_with_earlier_created_seq_keeps_creation_order(
        self, directory: ConstituentDirectory
    ) -> None:
        late = directory.from_json({"LAST_NAME": "Late", "CREATED_SEQ": 5})
        early = directory.from_json({"LAST_NAME": "Early", "CREATED_SEQ": 2})
        assert list(directory) == [early, late]

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"NICKNAME": "x"}, "NICKNAME is not a Luminate constituent field"),
            ({"STATUS": "Deleted"}, "STATUS 'Deleted' is not Active or Removed"),
            ({"CREATED_AT": "yesterday"}, "CREATED_AT 'yesterday' is not an ISO date-time"),
            ({"CREATED_AT": "2026-01-01T00:00:00"}, "has no timezone"),
            ({"CREATED_SEQ": "3"}, "CREATED_SEQ '3' is not a number"),
        ],
    )
    def test_from_json_refuses_bad_input(
        self, directory: ConstituentDirectory, data: dict[str, object], message: str
    ) -> None:
        with pytest.raises(ConstituentFieldError, match=message):
            directory.from_json(data)
        assert len(directory) == 0

    def test_clear_starts_over(self, directory: ConstituentDirectory) -> None:
        directory.create({"MEMBER_ID": "RE-1", "LAST_NAME": "A"}, "admin")
        directory.clear()
        assert len(directory) == 0
        assert len(directory.log) == 0
        assert directory.by_member_id("RE-1") == []
        assert directory.create({"LAST_NAME": "B"}, "admin").cons_id == 1001001
