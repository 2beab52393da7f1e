"""The standard constituent upload: every branch of the seed 004 match cascade, and the rest."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from luminate_simulator.constituent_import import (
    CONS_ID_NOT_FOUND,
    ERRORS_HEADER,
    MEMBER_ID_AMBIGUOUS,
    NOT_RECOGNISED,
    NOTHING_TO_CREATE,
    REMOVED_MESSAGE,
    ConstituentImport,
    ImportReport,
    InvalidHeader,
    parse_header,
)
from luminate_simulator.constituents import Constituent, ConstituentDirectory

from syncframe.clock import ManualClock

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
REMOVED = (
    "This record only matched records in Luminate Online that had been removed. Record rejected."
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def directory(clock: ManualClock) -> ConstituentDirectory:
    return ConstituentDirectory(clock)


class Upload:
    """Runs uploads into one directory and reads back errors.csv."""

    def __init__(self, directory: ConstituentDirectory, folder: Path) -> None:
        self.directory = directory
        self.folder = folder
        self.errors_path = folder / "errors.csv"

    def __call__(self, *lines: str, actor: str = "import") -> ImportReport:
        path = self.folder / "upload.csv"
        path.write_bytes(("\n".join(lines) + "\n").encode())
        return ConstituentImport(self.directory, actor=actor).run(path, self.errors_path)

    def errors(self) -> list[list[str]]:
        """errors.csv without its header row (which is checked to be the expected one)."""
        with self.errors_path.open(encoding="utf-8", newline="") as stream:
            rows = list(csv.reader(stream))
        assert tuple(rows[0][:2]) == ERRORS_HEADER
        return rows[1:]

    def messages(self) -> list[tuple[int, str]]:
        return [(int(row[0]), row[1]) for row in self.errors()]


@pytest.fixture
def upload(directory: ConstituentDirectory, tmp_path: Path) -> Upload:
    return Upload(directory, tmp_path)


def make(directory: ConstituentDirectory, removed: bool = False, **fields: str) -> Constituent:
    cons = directory.create({k.upper(): v for k, v in fields.items()}, "seed")
    if removed:
        directory.remove(cons, "seed")
    return cons


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.rows, report.created, report.updated, report.rejected


# -- 1. CONS_ID -----------------------------------------------------------------------------


class TestConsId:
    """A row with a CONS_ID matches on it and on nothing else."""

    def test_an_active_record_is_updated_and_blank_cells_leave_values(
        self, directory: ConstituentDirectory, upload: Upload, clock: ManualClock
    ) -> None:
        cons = make(directory, first_name="Ann", last_name="Lee", home_city="Boston")
        clock.advance(minutes=1)
        report = upload(
            "CONS_ID,FIRST_NAME,LAST_NAME,HOME_CITY",
            f"{cons.cons_id},Anne,,Cambridge",
        )
        assert counts(report) == (1, 0, 1, 0)
        assert (cons.first_name, cons.last_name, cons.city) == ("Anne", "Lee", "Cambridge")
        assert cons.modified_at == T0 + timedelta(minutes=1)
        assert report.errors_path is None
        assert not upload.errors_path.exists()

    def test_a_removed_record_is_rejected_with_luminates_message(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, removed=True, first_name="Ann")
        report = upload("CONS_ID,FIRST_NAME", f"{cons.cons_id},Changed")
        assert counts(report) == (1, 0, 0, 1)
        assert REMOVED_MESSAGE == REMOVED
        assert upload.errors() == [["2", REMOVED, str(cons.cons_id), "Changed"]]
        assert cons.first_name == "Ann"

    def test_no_match_is_rejected(self, directory: ConstituentDirectory, upload: Upload) -> None:
        make(directory, primary_email="pat@example.org")
        report = upload("CONS_ID,PRIMARY_EMAIL,LAST_NAME", "999,pat@example.org,Pat")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, CONS_ID_NOT_FOUND.format(cons_id="999"))]
        assert len(directory) == 1  # no fall-through to the email, no new record

    def test_an_id_that_is_not_a_number_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("CONS_ID,LAST_NAME", "12x,Pat")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, "CONS_ID '12x' is not a constituent ID. Record rejected.")]

    def test_the_other_ids_on_the_row_are_written_and_reindexed(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, member_id="RE-1", primary_email="old@example.org")
        upload(
            "CONS_ID,MEMBER_ID,PRIMARY_EMAIL",
            f" {cons.cons_id} , RE-2 ,New@Example.org",
        )
        assert (cons.member_id, cons.primary_email) == ("RE-2", "New@Example.org")
        assert directory.by_member_id("RE-1") == []
        assert directory.by_member_id("RE-2") == [cons]
        assert directory.by_email("old@example.org") == []
        assert directory.by_email("new@example.org") == [cons]


# -- 2. MEMBER_ID ---------------------------------------------------------------------------


class TestMemberId:
    """A row with a MEMBER_ID and no CONS_ID."""

    def test_one_active_record_is_updated(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, member_id="RE-1", last_name="Lee")
        other = make(directory, primary_email="lee@example.org", last_name="Other")
        report = upload("MEMBER_ID,PRIMARY_EMAIL,LAST_NAME", "RE-1,lee@example.org,Li")
        assert counts(report) == (1, 0, 1, 0)
        assert (cons.last_name, cons.primary_email) == ("Li", "lee@example.org")
        assert other.last_name == "Other"

    def test_one_removed_record_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, removed=True, member_id="RE-1", last_name="Lee")
        report = upload("MEMBER_ID,LAST_NAME", "RE-1,Li")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, REMOVED)]
        assert cons.last_name == "Lee"

    def test_several_records_are_rejected_even_if_one_is_removed(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        first = make(directory, member_id="RE-1", last_name="A")
        make(directory, removed=True, member_id="RE-1", last_name="B")
        report = upload("MEMBER_ID,LAST_NAME", "RE-1,Changed")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, MEMBER_ID_AMBIGUOUS.format(member_id="RE-1"))]
        assert "matched more than one record" in upload.messages()[0][1]
        assert first.last_name == "A"

    def test_no_match_updates_a_blank_member_id_record_with_the_email(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, primary_email="pat@example.org", last_name="Pat")
        report = upload("MEMBER_ID,PRIMARY_EMAIL,FIRST_NAME", "RE-9,PAT@example.org,Patricia")
        assert counts(report) == (1, 0, 1, 0)
        assert (cons.member_id, cons.first_name) == ("RE-9", "Patricia")
        assert directory.by_member_id("RE-9") == [cons]

    def test_no_match_and_the_blank_member_id_record_is_removed_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, removed=True, primary_email="pat@example.org", last_name="Pat")
        report = upload("MEMBER_ID,PRIMARY_EMAIL,FIRST_NAME", "RE-9,pat@example.org,Patricia")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, REMOVED)]
        assert cons.member_id is None
        assert len(directory) == 1

    def test_several_blank_member_id_records_the_first_active_one_is_updated(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        make(directory, removed=True, primary_email="pat@example.org", last_name="Gone")
        target = make(directory, primary_email="pat@example.org", last_name="Second")
        later = make(directory, primary_email="pat@example.org", last_name="Third")
        report = upload("MEMBER_ID,PRIMARY_EMAIL,FIRST_NAME", "RE-9,pat@example.org,Pat")
        assert counts(report) == (1, 0, 1, 0)
        assert (target.member_id, target.first_name) == ("RE-9", "Pat")
        assert later.member_id is None

    def test_an_email_match_that_has_another_member_id_is_not_used(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        other = make(directory, member_id="RE-1", primary_email="pat@example.org")
        report = upload("MEMBER_ID,PRIMARY_EMAIL,FIRST_NAME", "RE-9,pat@example.org,Pat")
        assert counts(report) == (1, 1, 0, 0)
        (created,) = directory.by_member_id("RE-9")
        assert created is not other
        assert created.primary_email == "pat@example.org"
        assert directory.by_email("pat@example.org") == [other, created]

    def test_no_match_at_all_creates_a_record(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("MEMBER_ID,PRIMARY_EMAIL", "RE-9,new@example.org")
        assert counts(report) == (1, 1, 0, 0)
        (created,) = directory.by_member_id("RE-9")
        assert created.primary_email == "new@example.org"
        assert created.cons_id == 1001001

    def test_no_match_without_email_creates_with_a_name(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("MEMBER_ID,PRIMARY_EMAIL,LAST_NAME", "RE-9,,Okafor")
        assert counts(report) == (1, 1, 0, 0)
        (created,) = directory.by_member_id("RE-9")
        assert created.last_name == "Okafor"

    def test_no_match_without_email_or_name_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("MEMBER_ID,PRIMARY_EMAIL,HOME_CITY", "RE-9,,Boston")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, NOTHING_TO_CREATE.format(member_id="RE-9"))]
        assert len(directory) == 0


# -- 3. PRIMARY_EMAIL -----------------------------------------------------------------------


class TestPrimaryEmail:
    """A row with only a PRIMARY_EMAIL among the ids."""

    def test_one_active_record_is_updated_whatever_the_case(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, member_id="RE-1", primary_email="pat@example.org", last_name="A")
        report = upload("PRIMARY_EMAIL,LAST_NAME,MEMBER_ID", "Pat@Example.ORG,B,")
        assert counts(report) == (1, 0, 1, 0)
        assert (cons.primary_email, cons.last_name, cons.member_id) == (
            "Pat@Example.ORG",
            "B",
            "RE-1",
        )
        assert directory.by_email("pat@example.org") == [cons]

    def test_one_removed_record_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, removed=True, primary_email="pat@example.org", last_name="A")
        report = upload("PRIMARY_EMAIL,LAST_NAME", "pat@example.org,B")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, REMOVED)]
        assert cons.last_name == "A"
        assert len(directory) == 1

    def test_several_records_the_one_created_first_is_updated(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        first = make(directory, primary_email="pat@example.org", last_name="First")
        second = make(directory, primary_email="PAT@example.org", last_name="Second")
        report = upload("PRIMARY_EMAIL,FIRST_NAME", "pat@example.org,Pat")
        assert counts(report) == (1, 0, 1, 0)
        assert (first.first_name, second.first_name) == ("Pat", None)

    def test_several_records_a_removed_first_one_is_skipped(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        gone = make(directory, removed=True, primary_email="pat@example.org")
        second = make(directory, primary_email="pat@example.org")
        upload("PRIMARY_EMAIL,FIRST_NAME", "pat@example.org,Pat")
        assert (gone.first_name, second.first_name) == (None, "Pat")

    def test_several_records_all_removed_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        make(directory, removed=True, primary_email="pat@example.org")
        make(directory, removed=True, primary_email="pat@example.org")
        report = upload("PRIMARY_EMAIL,FIRST_NAME", "pat@example.org,Pat")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, REMOVED)]

    def test_no_match_creates_a_record_even_without_a_name(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("PRIMARY_EMAIL,ACCEPTS_EMAIL", "new@example.org,TRUE")
        assert counts(report) == (1, 1, 0, 0)
        (created,) = directory.by_email("new@example.org")
        assert created.accepts_email is True


# -- 4. no id -------------------------------------------------------------------------------


class TestNoId:
    """A row with no CONS_ID, MEMBER_ID or PRIMARY_EMAIL value."""

    def test_a_name_creates_a_record_with_the_next_id(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        existing = make(directory, last_name="Existing")
        report = upload("PRIMARY_EMAIL,FIRST_NAME,LAST_NAME,HOME_CITY", ",Ann,,Boston", ",,Lee,")
        assert counts(report) == (2, 2, 0, 0)
        ann, lee = list(directory)[1:]
        assert (ann.cons_id, ann.first_name, ann.city) == (existing.cons_id + 1, "Ann", "Boston")
        assert (lee.cons_id, lee.last_name) == (existing.cons_id + 2, "Lee")
        assert ann.accepts_email is False
        assert ann.created_seq < lee.created_seq

    def test_a_row_without_a_name_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("PRIMARY_EMAIL,MIDDLE_NAME,HOME_CITY", ",J,Boston")
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, NOT_RECOGNISED)]
        assert len(directory) == 0


# -- rows -----------------------------------------------------------------------------------


class TestRows:
    """Row-level rules: file order, values, shapes, line numbers, nothing half-applied."""

    def test_a_later_row_matches_a_record_an_earlier_row_created(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload(
            "MEMBER_ID,PRIMARY_EMAIL,FIRST_NAME,LAST_NAME",
            ",pat@example.org,Pat,",
            ",PAT@example.org,,Lee",
            "RE-5,pat@example.org,,",
            "RE-5,,Patricia,",
        )
        assert counts(report) == (4, 1, 3, 0)
        (cons,) = list(directory)
        assert (cons.member_id, cons.first_name, cons.last_name) == ("RE-5", "Patricia", "Lee")
        assert cons.primary_email == "pat@example.org"

    def test_blank_lines_and_rows_of_empty_cells_are_skipped(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("PRIMARY_EMAIL,LAST_NAME", "", ",", "a@example.org,A", "", ",")
        assert counts(report) == (1, 1, 0, 0)
        assert report.errors_path is None

    @pytest.mark.parametrize("row", ["a@example.org", "a@example.org,A,extra"])
    def test_a_row_with_the_wrong_number_of_cells_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload, row: str
    ) -> None:
        report = upload("PRIMARY_EMAIL,LAST_NAME", row)
        assert counts(report) == (1, 0, 0, 1)
        cells = len(row.split(","))
        expected = f"The row has {cells} fields but the header has 2. Record rejected."
        assert upload.errors() == [["2", expected, *row.split(",")]]
        assert len(directory) == 0

    @pytest.mark.parametrize(
        ("header", "row", "message"),
        [
            (
                "PRIMARY_EMAIL,LAST_NAME",
                "not-an-address,A",
                "PRIMARY_EMAIL 'not-an-address' is not a valid email address. Record rejected.",
            ),
            (
                "PRIMARY_EMAIL,ACCEPTS_EMAIL",
                "a@example.org,maybe",
                "ACCEPTS_EMAIL 'maybe' is not TRUE or FALSE. Record rejected.",
            ),
            (
                "PRIMARY_EMAIL,HOME_ZIP",
                "a@example.org," + "1" * 41,
                "HOME_ZIP is longer than 40 characters (41). Record rejected.",
            ),
            (
                "PRIMARY_EMAIL,LAST_NAME",
                "a@example.org," + "x" * 51,
                "LAST_NAME is longer than 50 characters (51). Record rejected.",
            ),
        ],
    )
    def test_a_bad_value_rejects_the_row_and_names_the_field(
        self, directory: ConstituentDirectory, upload: Upload, header: str, row: str, message: str
    ) -> None:
        report = upload(header, row)
        assert counts(report) == (1, 0, 0, 1)
        assert upload.messages() == [(2, message)]
        assert len(directory) == 0

    def test_a_bad_value_on_a_matched_row_changes_nothing(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        cons = make(directory, primary_email="a@example.org", last_name="A")
        report = upload(
            "CONS_ID,LAST_NAME,PRIMARY_EMAIL", f"{cons.cons_id},B,broken", f"{cons.cons_id},C,"
        )
        assert counts(report) == (2, 0, 1, 1)
        assert (cons.last_name, cons.primary_email) == ("C", "a@example.org")
        assert [e.kind for e in directory.log] == ["insert", "update"]

    @pytest.mark.parametrize(
        ("value", "expected"), [("TRUE", True), ("false", False), ("Y", True), ("0", False)]
    )
    def test_accepts_email_values(
        self, directory: ConstituentDirectory, upload: Upload, value: str, expected: bool
    ) -> None:
        cons = make(
            directory,
            primary_email="a@example.org",
            accepts_email="TRUE" if not expected else "FALSE",
        )
        upload("PRIMARY_EMAIL,ACCEPTS_EMAIL", f"a@example.org,{value}")
        assert cons.accepts_email is expected

    def test_a_user_name_held_by_another_record_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        holder = make(directory, user_name="pat", last_name="Holder")
        cons = make(directory, primary_email="a@example.org", user_name="ann")
        report = upload(
            "PRIMARY_EMAIL,USER_NAME,LAST_NAME",
            "a@example.org,PAT,Taken",
            "a@example.org,ann,Own",
            "a@example.org,annie,Renamed",
            "b@example.org,pat,New",
        )
        assert counts(report) == (4, 0, 2, 2)
        taken = "USER_NAME '{}' is already used by constituent {}. Record rejected."
        assert upload.messages() == [
            (2, taken.format("PAT", holder.cons_id)),
            (5, taken.format("pat", holder.cons_id)),
        ]
        assert (cons.user_name, cons.last_name) == ("annie", "Renamed")
        assert directory.by_user_name("ann") is None
        assert directory.by_user_name("annie") is cons
        assert len(directory) == 2

    def test_line_numbers_count_quoted_line_breaks(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload(
            "PRIMARY_EMAIL,HOME_STREET1,LAST_NAME",
            'a@example.org,"1 Main St\nApt 2",A',
            "",
            'bad,"2 Main St\r\nBack door",B',
            "c@example.org,3 Main St,C",
            "bad2,,D",
        )
        assert counts(report) == (4, 2, 0, 2)
        assert [line for line, _ in upload.messages()] == [5, 8]
        assert upload.errors()[0][3] == "2 Main St\r\nBack door"
        assert directory.by_email("a@example.org")[0].street1 == "1 Main St\nApt 2"

    def test_an_unreadable_row_is_rejected_and_the_upload_goes_on(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        huge = "x" * (csv.field_size_limit() + 1)
        report = upload(
            "PRIMARY_EMAIL,LAST_NAME",
            "a@example.org,A",
            f"b@example.org,{huge}",
            "c@example.org,C",
        )
        assert counts(report) == (3, 2, 0, 1)
        ((line, message),) = upload.messages()
        assert line == 3
        assert message.startswith("The row is not valid CSV (field larger than field limit")
        assert message.endswith("Record rejected.")
        assert [c.primary_email for c in directory] == ["a@example.org", "c@example.org"]


# -- the change log -------------------------------------------------------------------------


class TestChangeLog:
    """Applied rows are logged, by the import's actor, at the simulator clock's time."""

    def test_creates_and_updates_are_logged_and_rejects_are_not(
        self, directory: ConstituentDirectory, upload: Upload, clock: ManualClock
    ) -> None:
        cons = make(directory, primary_email="a@example.org")
        gone = make(directory, removed=True, primary_email="gone@example.org")
        clock.advance(hours=1)
        upload(
            "PRIMARY_EMAIL,LAST_NAME",
            "gone@example.org,X",
            "new@example.org,New",
            "a@example.org,A",
            actor="re-connector",
        )
        (created,) = directory.by_email("new@example.org")
        entries = list(directory.log.between(T0 + timedelta(hours=1), T0 + timedelta(hours=2)))
        assert [(e.record_id, e.kind, e.actor) for e in entries] == [
            (created.cons_id, "insert", "re-connector"),
            (cons.cons_id, "update", "re-connector"),
        ]
        assert [e.record_id for e in directory.log.between(T0, T0 + timedelta(hours=1))] == [
            cons.cons_id,
            gone.cons_id,
            gone.cons_id,
        ]

    def test_a_large_upload_logs_every_applied_row_in_file_order(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        rows = [f"p{n}@example.org,N{n}" for n in range(700)]
        rows[300] = "broken,X"
        report = upload("PRIMARY_EMAIL,LAST_NAME", *rows, *rows[:10])
        assert counts(report) == (710, 699, 10, 1)
        entries = list(directory.log)
        assert len(entries) == 709
        assert [e.seq for e in entries] == list(range(1, 710))
        assert [e.kind for e in entries[-10:]] == ["update"] * 10
        assert entries[-1].record_id == entries[9].record_id
        assert all(e.actor == "import" for e in entries)


# -- header ---------------------------------------------------------------------------------


class TestHeader:
    """An invalid header aborts the upload before any row is applied."""

    @pytest.mark.parametrize(
        ("header", "message"),
        [
            (
                "PRIMARY_EMAIL,FRIST_NAME,LAST_NAME",
                "Invalid header 'FRIST_NAME' in column 2: it is not a Luminate constituent field. "
                "Did you mean FIRST_NAME? Nothing was imported.",
            ),
            (
                "PRIMARY_EMAIL,SHOE_SIZE",
                "Invalid header 'SHOE_SIZE' in column 2: it is not a Luminate constituent field. "
                "Nothing was imported.",
            ),
            (
                "PRIMARY_EMAIL,LAST_NAME,last_name",
                "Invalid header 'last_name' in column 3: the field is already in column 2. "
                "Nothing was imported.",
            ),
            (
                "PRIMARY_EMAIL,,LAST_NAME",
                "Invalid header: column 2 has no field name. Nothing was imported.",
            ),
            (
                "FIRST_NAME,LAST_NAME",
                "Invalid header: the upload needs at least one of CONS_ID, MEMBER_ID or "
                "PRIMARY_EMAIL to match records on. Nothing was imported.",
            ),
        ],
    )
    def test_invalid_header_aborts_and_leaves_the_directory_untouched(
        self, directory: ConstituentDirectory, upload: Upload, header: str, message: str
    ) -> None:
        cons = make(directory, primary_email="a@example.org", last_name="A")
        before = (len(directory), len(directory.log), directory.to_json(cons))
        upload.errors_path.write_text("stale\n")
        report = upload(header, "a@example.org,Changed,Changed", "b@example.org,New,New")
        assert report == ImportReport(0, 0, 0, 0, None, message)
        assert (len(directory), len(directory.log), directory.to_json(cons)) == before
        assert not upload.errors_path.exists()  # nor is a stale one left to mislead

    def test_an_empty_file_aborts(self, directory: ConstituentDirectory, tmp_path: Path) -> None:
        path = tmp_path / "empty.csv"
        path.write_bytes(b"")
        report = ConstituentImport(directory).run(path, tmp_path / "errors.csv")
        assert report.aborted is not None
        assert report.aborted.startswith("The upload file has no header row")

    def test_an_unreadable_header_aborts(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        report = upload("PRIMARY_EMAIL," + "X" * (csv.field_size_limit() + 1), "a@example.org,A")
        assert report.aborted is not None
        assert report.aborted.startswith("The header row is not valid CSV (field larger than")
        assert report.aborted.endswith("Nothing was imported.")
        assert len(directory) == 0

    def test_header_names_ignore_case_spaces_and_a_byte_order_mark(
        self, directory: ConstituentDirectory, tmp_path: Path
    ) -> None:
        path = tmp_path / "excel.csv"
        path.write_bytes(b"\xef\xbb\xbfprimary_email , Last_Name\r\na@example.org,A\r\n")
        report = ConstituentImport(directory).run(path, tmp_path / "errors.csv")
        assert counts(report) == (1, 1, 0, 0)
        assert directory.by_email("a@example.org")[0].last_name == "A"

    def test_parse_header_raises_invalid_header_with_the_column(self) -> None:
        with pytest.raises(InvalidHeader) as caught:
            parse_header(["CONS_ID", "FIRST_NAME", "NICK"])
        assert (caught.value.column, caught.value.name) == (3, "NICK")
        assert parse_header(["cons_id", " first_name"]) == ["CONS_ID", "FIRST_NAME"]


# -- files ----------------------------------------------------------------------------------


class TestFiles:
    """The upload file itself, and errors.csv's layout."""

    def test_errors_csv_layout_is_line_message_then_the_uploads_own_columns(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        make(directory, removed=True, member_id="RE-1")
        upload(
            "MEMBER_ID,last_name,PRIMARY_EMAIL",
            "RE-1,Lee,lee@example.org",
            'RE-2,"Smith, Jr",',
        )
        with upload.errors_path.open(encoding="utf-8", newline="") as stream:
            rows = list(csv.reader(stream))
        assert rows == [
            ["LINE_NUMBER", "ERROR_MESSAGE", "MEMBER_ID", "last_name", "PRIMARY_EMAIL"],
            ["2", REMOVED, "RE-1", "Lee", "lee@example.org"],
        ]
        assert len(directory.by_member_id("RE-2")) == 1

    def test_a_stale_errors_file_is_removed_when_nothing_is_rejected(
        self, directory: ConstituentDirectory, upload: Upload
    ) -> None:
        upload.errors_path.write_text("from another upload\n")
        report = upload("PRIMARY_EMAIL", "a@example.org")
        assert report.errors_path is None
        assert not upload.errors_path.exists()

    def test_a_file_that_is_not_utf8_aborts_before_any_row(
        self, directory: ConstituentDirectory, tmp_path: Path
    ) -> None:
        path = tmp_path / "latin1.csv"
        path.write_bytes(b"PRIMARY_EMAIL,LAST_NAME\na@example.org,A\nb@example.org,M\xfcller\n")
        report = ConstituentImport(directory).run(path, tmp_path / "errors.csv")
        assert report.aborted == (
            "The upload file latin1.csv is not UTF-8 text: line 3 is not UTF-8 text (byte 0xFC). "
            "Save it as UTF-8 CSV and upload it again. Nothing was imported."
        )
        assert len(directory) == 0

    def test_a_missing_file_aborts_naming_it(
        self, directory: ConstituentDirectory, tmp_path: Path
    ) -> None:
        report = ConstituentImport(directory).run(tmp_path / "nope.csv", tmp_path / "errors.csv")
        assert report.aborted is not None
        assert "nope.csv" in report.aborted
        assert "No such file" in report.aborted

    def test_a_text_stream_is_accepted(
        self, directory: ConstituentDirectory, tmp_path: Path
    ) -> None:
        stream = io.StringIO("PRIMARY_EMAIL,LAST_NAME\r\na@example.org,A\r\nbad,B\r\n", newline="")
        report = ConstituentImport(directory).run(stream, tmp_path / "errors.csv")
        assert counts(report) == (2, 1, 0, 1)
        assert report.errors_path == tmp_path / "errors.csv"
