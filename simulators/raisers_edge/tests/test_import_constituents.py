"""Importing Luminate's constituents file: the match cascade (Import ID, then alias "Luminate
ID", else a new constituent), blank cells, idempotence, each exception, and refused headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from raisers_edge_simulator import CONSTITUENT_COLUMNS, RaisersEdgeAdmin
from syncframe_simulators import SimulatorAdminError

from simulators.raisers_edge.tests.support import (
    constituents_file,
    land_and_import,
    put,
    seed_people,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

ADA = "00001-079-0000001"
BEN = "00001-079-0000002"
FILE = "luminate_17_constituents.csv"


def row(**cells: str) -> dict[str, str]:
    """A row with the always-filled columns of a known constituent, and ``cells``."""
    base = {
        "CONS_ID": "1001001",
        "MEMBER_ID": "10001",
        "EXCHANGE_ID": ADA,
        "FIRST_NAME": "Ada",
        "LAST_NAME": "Lovelace",
        "PRIMARY_EMAIL": "ada@example.org",
        "REASON": "profile_modified",
    }
    return {**base, **cells}


async def record(admin: RaisersEdgeAdmin, import_id: str) -> dict[str, Any]:
    return await admin.constituent(import_id)


class TestMatching:
    async def test_exchange_id_matches_and_only_filled_cells_change(
        self,
        api: httpx.AsyncClient,
        admin: RaisersEdgeAdmin,
        clock: ManualClock,
    ) -> None:
        await seed_people(admin)
        clock.advance(minutes=10)
        changed = row(
            FIRST_NAME="Augusta",
            HOME_CITY="London",
            HOME_COUNTRY="United Kingdom",
            HOME_PHONE="+44 20 7946 0000",
            ACCEPTS_EMAIL="FALSE",
        )
        outcome = await land_and_import(api, admin, FILE, constituents_file(changed))
        assert (outcome["updated"], outcome["exceptions"]) == (1, [])
        ada = await record(admin, ADA)
        assert ada["first_name"] == "Augusta"
        assert ada["last_name"] == "Lovelace"
        # The Home address keeps its street (a blank cell) and takes the new city and country.
        [home] = ada["addresses"]
        assert (home["street1"], home["city"], home["country"]) == (
            "1 Main St",
            "London",
            "United Kingdom",
        )
        assert ada["phones"] == [
            {"type": "Email", "number": "ada@example.org"},
            {"type": "Home", "number": "+44 20 7946 0000"},
        ]
        assert ada["requests_no_email"] is True
        assert ada["date_changed"] == "2026-01-01T09:10:00+00:00"

    async def test_cons_id_matches_the_alias_when_there_is_no_exchange_id(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        outcome = await land_and_import(
            api, admin, FILE, constituents_file(row(EXCHANGE_ID="", PRIMARY_EMAIL="a@l.org"))
        )
        assert outcome["updated"] == 1
        ada = await record(admin, ADA)
        assert ada["phones"] == [{"type": "Email", "number": "a@l.org"}]

    async def test_an_unmatched_cons_id_creates_a_constituent_with_new_ids_and_the_alias(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        new = {
            "CONS_ID": "1001077",
            "FIRST_NAME": "Grace",
            "LAST_NAME": "Hopper",
            "PRIMARY_EMAIL": "grace@example.org",
            "HOME_STREET1": "9 Navy Way",
            "HOME_ZIP": "20001",
            "ACCEPTS_EMAIL": "TRUE",
            "REASON": "new_registration",
        }
        outcome = await land_and_import(api, admin, FILE, constituents_file(new))
        assert outcome["created"] == 1
        state = await admin.state()
        [grace] = [c for c in state["constituents"] if c["luminate_id"] == "1001077"]
        # Next of each sequence: past the seeded 00001-079-0000003 and 10003.
        assert (grace["import_id"], grace["constituent_id"]) == ("00001-079-0000004", "10004")
        assert grace["addresses"] == [
            {
                "type": "Home",
                "street1": "9 Navy Way",
                "street2": None,
                "city": None,
                "state": None,
                "zip": "20001",
                "country": None,
                "preferred": True,
            }
        ]
        assert grace["phones"] == [{"type": "Email", "number": "grace@example.org"}]
        assert grace["requests_no_email"] is False

    async def test_exchange_id_match_sets_a_missing_alias(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        ben = row(CONS_ID="1001002", EXCHANGE_ID=BEN, FIRST_NAME="Ben", LAST_NAME="Baker")
        outcome = await land_and_import(api, admin, FILE, constituents_file(ben))
        assert outcome["updated"] == 1
        assert (await record(admin, BEN))["luminate_id"] == "1001002"

    async def test_a_later_row_sees_what_an_earlier_row_created(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        rows = [
            {"CONS_ID": "7", "FIRST_NAME": "Kit", "LAST_NAME": "Ng", "PRIMARY_EMAIL": "k@x.org"},
            {"CONS_ID": "7", "FIRST_NAME": "Kitty", "LAST_NAME": "Ng", "PRIMARY_EMAIL": "k@x.org"},
        ]
        outcome = await land_and_import(api, admin, FILE, constituents_file(*rows))
        assert (outcome["created"], outcome["updated"]) == (1, 1)
        [kit] = (await admin.state())["constituents"]
        assert kit["first_name"] == "Kitty"


class TestIdempotence:
    async def test_importing_the_same_file_again_changes_nothing(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        body = constituents_file(
            row(HOME_CITY="Paris", PRIMARY_EMAIL="ADA@example.org"),
            {"CONS_ID": "1001077", "FIRST_NAME": "Grace", "LAST_NAME": "Hopper"},
        )
        first = await land_and_import(api, admin, FILE, body)
        assert (first["created"], first["updated"]) == (1, 1)
        after_first = await admin.state()
        clock.advance(hours=1)
        await put(api, FILE, body)
        second = await admin.import_file(FILE)
        assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 2)
        after_second = await admin.state()
        assert after_second["constituents"] == after_first["constituents"]


class TestExceptions:
    async def test_each_bad_row_is_reported_and_the_rest_imports(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        rows = [
            row(FIRST_NAME="Augusta"),  # line 2: fine
            row(EXCHANGE_ID="00001-079-0009999"),  # 3
            row(EXCHANGE_ID=BEN),  # 4: CONS_ID is Ada's alias
            row(EXCHANGE_ID="", CONS_ID=""),  # 5
            {"CONS_ID": "1001078", "FIRST_NAME": "Nolast"},  # 6
            row(PRIMARY_EMAIL="not-an-address"),  # 7
            row(ACCEPTS_EMAIL="maybe"),  # 8
            row(HOME_ZIP="1234567890123"),  # 9
            row(REASON="curiosity"),  # 10
            row(EXCHANGE_ID="00001-079-0000003", CONS_ID="1001999"),  # 11: Cy has 1001003
        ]
        body = constituents_file(*rows) + b"1,2,3\r\n"  # 12: the wrong width
        outcome = await land_and_import(api, admin, FILE, body)
        assert (outcome["rows"], outcome["updated"]) == (11, 1)
        got = [(e["line"], e["field"], e["reason"]) for e in outcome["exceptions"]]
        assert got == [
            (
                3,
                "EXCHANGE_ID",
                "No constituent has the Import ID '00001-079-0009999' (EXCHANGE_ID).",
            ),
            (
                4,
                "CONS_ID",
                "CONS_ID '1001001' is the Luminate ID of constituent 00001-079-0000001, not of "
                "00001-079-0000002 (EXCHANGE_ID).",
            ),
            (
                5,
                "EXCHANGE_ID",
                "The row has neither an EXCHANGE_ID nor a CONS_ID, so it matches no constituent.",
            ),
            (
                6,
                "LAST_NAME",
                "CONS_ID '1001078' matches no constituent, and a new constituent needs a "
                "LAST_NAME.",
            ),
            (7, "PRIMARY_EMAIL", "PRIMARY_EMAIL 'not-an-address' is not an email address."),
            (8, "ACCEPTS_EMAIL", "ACCEPTS_EMAIL 'maybe' is not TRUE or FALSE."),
            (9, "HOME_ZIP", "HOME_ZIP is longer than 12 characters (13)."),
            (
                10,
                "REASON",
                "REASON 'curiosity' is not one of profile_viewed, profile_modified, "
                "new_registration, group_segment.",
            ),
            (
                11,
                "CONS_ID",
                "Constituent 00001-079-0000003 has the Luminate ID '1001003', not '1001999'.",
            ),
            (12, None, "The row has 3 fields but the header has 16."),
        ]
        assert all(e["file"] == FILE for e in outcome["exceptions"])
        assert await admin.exceptions() == outcome["exceptions"]
        # Nothing of a bad row was applied; the good row was.
        assert (await record(admin, ADA))["first_name"] == "Augusta"
        assert (await record(admin, BEN))["luminate_id"] is None
        assert len((await admin.state())["constituents"]) == 3

    async def test_line_numbers_count_lines_inside_quoted_cells_and_skip_blank_lines(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        header = ",".join(CONSTITUENT_COLUMNS).encode()
        body = (
            header + b"\r\n"
            b'1001001,,,Ada,,Lovelace,ada@example.org,"Flat 2\r\nRear",,,,,,,,\r\n'
            b"\r\n"
            b",,00001-079-0009999,X,,Y,,,,,,,,,,\r\n"
        )
        outcome = await land_and_import(api, admin, FILE, body)
        assert outcome["rows"] == 2
        assert [(e["line"], e["field"]) for e in outcome["exceptions"]] == [(5, "EXCHANGE_ID")]
        [home] = (await record(admin, ADA))["addresses"]
        assert home["street1"] == "Flat 2\r\nRear"


class TestRefusedFiles:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (
                b"CONS_ID,MEMBER_ID,FRIST_NAME\r\n1,2,3\r\n",
                "Unknown column 'FRIST_NAME' in column 3 of the header of bad.csv: it is not a "
                "column of a Luminate constituents, transactions or segments file. Nothing was "
                "imported.",
            ),
            (
                b"CONS_ID,EXCHANGE_ID\r\n1,2\r\n",
                "The header of bad.csv lacks the column SEGMENT of a Luminate segments file. "
                "Nothing was imported.",
            ),
            (
                b"CONS_ID,EXCHANGE_ID,SEGMENT,CONS_ID\r\n",
                "The column 'CONS_ID' is in the header of bad.csv twice (columns 1 and 4). "
                "Nothing was imported.",
            ),
            (
                b"CONS_ID,EXCHANGE_ID,SEGMENT,AMOUNT\r\n",
                "The column 'AMOUNT' in the header of bad.csv does not belong in a Luminate "
                "segments file (its columns are CONS_ID,EXCHANGE_ID,SEGMENT). Nothing was "
                "imported.",
            ),
            (b"", "The file bad.csv is empty: it has no header row. Nothing was imported."),
            (
                b"CONS_ID,EXCHANGE_ID,SEGMENT\r\n1,,M\xfcnchen\r\n",
                "The file bad.csv is not UTF-8 text: line 2 has the byte 0xFC. Save it as UTF-8 "
                "CSV. Nothing was imported.",
            ),
        ],
    )
    async def test_a_bad_header_or_encoding_refuses_the_whole_file(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, body: bytes, message: str
    ) -> None:
        await seed_people(admin)
        before = await admin.state()
        await put(api, "bad.csv", body)
        with pytest.raises(SimulatorAdminError) as refused:
            await admin.import_file("bad.csv")
        assert (refused.value.status, refused.value.message) == (422, message)
        after = await admin.state()
        assert after["constituents"] == before["constituents"]
        [entry] = await admin.exceptions("bad.csv")
        assert (entry["line"], entry["reason"]) == (message.count("line 2") + 1, message)
        assert after["import_area"][0]["imported"] is False

    async def test_a_byte_order_mark_and_any_column_order_are_accepted(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        body = "\ufeffsegment, Exchange_ID ,CONS_ID\r\nBoard,00001-079-0000002,\r\n".encode()
        outcome = await land_and_import(api, admin, "s.csv", body)
        assert (outcome["kind"], outcome["updated"]) == ("segments", 1)
        assert (await record(admin, BEN))["constituent_codes"] == ["Board"]
