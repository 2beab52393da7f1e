"""EXCHANGE_ID (RE's Import ID) on the constituent record: the upload stores it with the usual
rules, the admin's JSON shows it, the web services' Constituent type does not carry it."""

from __future__ import annotations

import io
from pathlib import Path

from luminate_simulator.constituent_import import TOO_LONG, ConstituentImport
from luminate_simulator.constituents import (
    COLUMN_MAX_LENGTHS,
    EXCHANGE_ID_MAX_LENGTH,
    ConstituentDirectory,
)
from luminate_simulator.services import constituent_record

from syncframe.clock import ManualClock


def upload(directory: ConstituentDirectory, text: str, tmp_path: Path) -> list[str]:
    """Run an upload of ``text``; the errors.csv lines (none: empty)."""
    errors = tmp_path / "errors.csv"
    ConstituentImport(directory, actor="re_connector").run(io.StringIO(text, newline=""), errors)
    return errors.read_text().splitlines() if errors.exists() else []


class TestExchangeId:
    """The upload reads EXCHANGE_ID like any plain column."""

    def test_created_updated_and_blank_is_unchanged(self, tmp_path: Path) -> None:
        directory = ConstituentDirectory(ManualClock())
        assert (
            upload(
                directory,
                "MEMBER_ID,EXCHANGE_ID,LAST_NAME,PRIMARY_EMAIL\r\n7,RE-7,Lee,ann@example.org\r\n",
                tmp_path,
            )
            == []
        )
        (ann,) = directory
        assert (ann.member_id, ann.exchange_id) == ("7", "RE-7")
        upload(directory, f"CONS_ID,EXCHANGE_ID,HOME_CITY\r\n{ann.cons_id},,Austin\r\n", tmp_path)
        assert (ann.exchange_id, ann.city) == ("RE-7", "Austin")
        upload(directory, f"CONS_ID,EXCHANGE_ID\r\n{ann.cons_id},RE-70\r\n", tmp_path)
        assert ann.exchange_id == "RE-70"
        assert directory.to_json(ann)["EXCHANGE_ID"] == "RE-70"
        assert "ExchangeId" not in str(constituent_record(ann))
        assert [e.actor for e in directory.log] == ["re_connector"] * 3

    def test_too_long_is_rejected_naming_the_column(self, tmp_path: Path) -> None:
        directory = ConstituentDirectory(ManualClock())
        long_id = "X" * (EXCHANGE_ID_MAX_LENGTH + 1)
        errors = upload(
            directory, f"PRIMARY_EMAIL,EXCHANGE_ID\r\nann@example.org,{long_id}\r\n", tmp_path
        )
        message = TOO_LONG.format(column="EXCHANGE_ID", limit=50, length=51)
        assert errors[1].startswith(f"2,{message},")
        assert len(directory) == 0
        assert COLUMN_MAX_LENGTHS["EXCHANGE_ID"] == 50

    def test_seeded_through_the_admin_json(self) -> None:
        directory = ConstituentDirectory(ManualClock())
        cons = directory.from_json({"PRIMARY_EMAIL": "bo@example.org", "EXCHANGE_ID": "RE-9"})
        assert cons.exchange_id == "RE-9"
