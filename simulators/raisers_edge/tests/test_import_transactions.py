"""Importing Luminate's transactions and segments files: what each transaction type lands as,
pledge payments and recurring gifts, idempotence, and each exception."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from raisers_edge_simulator import RaisersEdgeAdmin

from simulators.raisers_edge.tests.support import (
    API,
    land_and_import,
    put,
    seed_people,
    segments_file,
    transactions_file,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

ADA = "00001-079-0000001"
BEN = "00001-079-0000002"
CY = "00001-079-0000003"
PLEDGE = "00001-145-0000001"
FILE = "luminate_17_transactions.csv"


def tx(transaction_id: str, transaction_type: str = "Donation", **cells: str) -> dict[str, str]:
    base = {
        "TRANSACTION_ID": transaction_id,
        "TRANSACTION_TYPE": transaction_type,
        "DONOR_CONS_ID": "1001001",
        "DONOR_EXCHANGE_ID": ADA,
        "AMOUNT": "25.00",
        "DATE": "2026-01-02",
        "RE_FUND": "GENERAL",
    }
    return {**base, **cells}


async def gifts(api: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    body = (await api.get(f"{API}/gifts", params={**params, "limit": 5000})).json()
    result: list[dict[str, Any]] = body["gifts"]
    return result


def by_luminate_id(listed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        g["attributes"]["Luminate Online Gift ID"]: g
        for g in listed
        if "Luminate Online Gift ID" in g["attributes"]
    }


class TestTransactionTypes:
    async def test_each_type_lands_as_its_gift(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        rows = [
            tx("1", "Donation", RE_CAMPAIGN="ANNUAL26", RE_APPEAL="WEB"),
            tx("2", "PledgePayment", PLEDGE_IMPORT_ID=PLEDGE, AMOUNT="100.00"),
            tx("3", "RecurringGift", AMOUNT="10.00"),
            tx("4", "TicketPurchase", AMOUNT="60.00"),
            tx("5", "ECommercePurchase", AMOUNT="19.99"),
            tx("6", "TeamRaiserRegistration", SOLICITOR_EXCHANGE_ID=CY, AMOUNT="35"),
            tx("7", "TributeDonation", TRIBUTE_NAME="In memory of Walter"),
        ]
        outcome = await land_and_import(api, admin, FILE, transactions_file(*rows))
        assert (outcome["created"], outcome["exceptions"]) == (7, [])
        landed = by_luminate_id(await gifts(api))
        kinds = {key: (g["type"], g["subtype"], g["amount"]) for key, g in landed.items()}
        assert kinds == {
            "1": ("Cash", None, "25.00"),
            "2": ("Pay-Cash", None, "100.00"),
            "3": ("Recurring Gift Pay-Cash", None, "10.00"),
            "4": ("Cash", "Ticket Purchase", "60.00"),
            "5": ("Cash", "eCommerce Purchase", "19.99"),
            "6": ("Cash", "TeamRaiser Registration", "35.00"),
            "7": ("Cash", "Tribute Donation", "25.00"),
        }
        donation = landed["1"]
        assert (donation["campaign"], donation["fund"], donation["appeal"]) == (
            "ANNUAL26",
            "GENERAL",
            "WEB",
        )
        assert (donation["constituent_import_id"], donation["date"]) == (ADA, "2026-01-02")
        assert landed["6"]["solicitor_import_id"] == CY
        assert landed["7"]["tribute_name"] == "In memory of Walter"
        assert landed["2"]["pledge_import_id"] == PLEDGE

    async def test_a_pledge_payment_reduces_the_pledge_balance(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        clock.advance(minutes=3)
        rows = [
            tx("1", "PledgePayment", PLEDGE_IMPORT_ID=PLEDGE, AMOUNT="100.00"),
            tx("2", "PledgePayment", PLEDGE_IMPORT_ID=PLEDGE, AMOUNT="150.50"),
        ]
        await land_and_import(api, admin, FILE, transactions_file(*rows))
        [pledge] = (await api.get(f"{API}/pledges")).json()["pledges"]
        assert (pledge["amount"], pledge["balance"]) == ("500.00", "249.50")
        assert pledge["date_changed"] == "2026-01-01T09:03:00+00:00"

    async def test_recurring_payments_belong_to_one_recurring_gift(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        rows = [tx("1", "RecurringGift", AMOUNT="10.00"), tx("2", "RecurringGift", AMOUNT="10.00")]
        await land_and_import(api, admin, FILE, transactions_file(*rows))
        [recurring] = await gifts(api, type="Recurring Gift")
        assert (recurring["constituent_import_id"], recurring["amount"]) == (ADA, "10.00")
        assert recurring["attributes"] == {}
        payments = await gifts(api, type="Recurring Gift Pay-Cash")
        assert [p["pledge_import_id"] for p in payments] == [recurring["import_id"]] * 2
        named = tx("3", "RecurringGift", PLEDGE_IMPORT_ID=recurring["import_id"])
        outcome = await land_and_import(api, admin, "next.csv", transactions_file(named))
        assert outcome["created"] == 1
        assert len(await gifts(api, type="Recurring Gift")) == 1

    async def test_the_donor_is_found_by_alias_when_there_is_no_exchange_id(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        row = tx("9", DONOR_EXCHANGE_ID="", DONOR_CONS_ID="1001003")
        await land_and_import(api, admin, FILE, transactions_file(row))
        assert by_luminate_id(await gifts(api))["9"]["constituent_import_id"] == CY


class TestIdempotence:
    async def test_importing_the_same_transactions_again_changes_nothing(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        body = transactions_file(
            tx("1"),
            tx("2", "PledgePayment", PLEDGE_IMPORT_ID=PLEDGE, AMOUNT="100.00"),
            tx("3", "RecurringGift"),
        )
        first = await land_and_import(api, admin, FILE, body)
        assert first["created"] == 3
        after_first = await admin.state()
        clock.advance(hours=1)
        await put(api, FILE, body)
        second = await admin.import_file(FILE)
        assert (second["created"], second["unchanged"], second["exceptions"]) == (0, 3, [])
        assert (await admin.state())["gifts"] == after_first["gifts"]


class TestExceptions:
    async def test_each_bad_row_is_reported_by_field_and_the_rest_imports(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin
    ) -> None:
        await seed_people(admin)
        await admin.add_gift(
            import_id="00001-145-0000002",
            type="Pledge",
            constituent_import_id=BEN,
            amount="50.00",
            date="2025-01-01",
            fund="GENERAL",
        )
        rows = [
            tx("1"),  # line 2: fine
            tx("", "Donation"),  # 3
            tx("3", "Refund"),  # 4
            tx("4", RE_FUND="NOPE"),  # 5
            tx("5", RE_FUND="OLDFUND"),  # 6
            tx("6", RE_FUND=""),  # 7
            tx("7", AMOUNT="25,00"),  # 8
            tx("8", AMOUNT="0.00"),  # 9
            tx("9", DATE="01/02/2026"),  # 10
            tx("10", DONOR_EXCHANGE_ID="00001-079-0009999"),  # 11
            tx("11", DONOR_EXCHANGE_ID="", DONOR_CONS_ID="4242"),  # 12
            tx("12", SOLICITOR_EXCHANGE_ID="00001-079-0008888"),  # 13
            tx("13", "PledgePayment"),  # 14
            tx("14", "PledgePayment", PLEDGE_IMPORT_ID="00001-145-0009999"),  # 15
            tx("15", "PledgePayment", PLEDGE_IMPORT_ID="00001-145-0000002"),  # 16: Ben's
            tx("16", "PledgePayment", PLEDGE_IMPORT_ID=PLEDGE, AMOUNT="500.01"),  # 17
            tx("17", PLEDGE_IMPORT_ID=PLEDGE),  # 18
            tx("18", RE_CAMPAIGN="OLDCAMP"),  # 19
            tx("19", RE_APPEAL="GALA"),  # 20
            tx("20", DONOR_EXCHANGE_ID="", DONOR_CONS_ID=""),  # 21
        ]
        outcome = await land_and_import(api, admin, FILE, transactions_file(*rows))
        assert (outcome["rows"], outcome["created"]) == (20, 1)
        got = [(e["line"], e["field"], e["reason"]) for e in outcome["exceptions"]]
        assert got == [
            (3, "TRANSACTION_ID", "The row has no TRANSACTION_ID."),
            (
                4,
                "TRANSACTION_TYPE",
                "TRANSACTION_TYPE 'Refund' is not one of Donation, PledgePayment, RecurringGift, "
                "TicketPurchase, ECommercePurchase, TeamRaiserRegistration, TributeDonation.",
            ),
            (5, "RE_FUND", "RE_FUND 'NOPE' is not a code of the Fund table."),
            (6, "RE_FUND", "RE_FUND 'OLDFUND' is inactive in the Fund table."),
            (7, "RE_FUND", "The row has no RE_FUND: a gift needs a fund."),
            (8, "AMOUNT", "AMOUNT '25,00' is not an amount like 25.00."),
            (9, "AMOUNT", "AMOUNT '0.00' must be more than 0."),
            (10, "DATE", "DATE '01/02/2026' is not a date like 2026-01-31."),
            (
                11,
                "DONOR_EXCHANGE_ID",
                "No constituent has the Import ID '00001-079-0009999' (DONOR_EXCHANGE_ID).",
            ),
            (
                12,
                "DONOR_CONS_ID",
                "No constituent has the Luminate ID '4242' (DONOR_CONS_ID), and the row has no "
                "DONOR_EXCHANGE_ID.",
            ),
            (
                13,
                "SOLICITOR_EXCHANGE_ID",
                "No constituent has the Import ID '00001-079-0008888' (SOLICITOR_EXCHANGE_ID).",
            ),
            (
                14,
                "PLEDGE_IMPORT_ID",
                "A PledgePayment row needs the PLEDGE_IMPORT_ID of the pledge it pays.",
            ),
            (15, "PLEDGE_IMPORT_ID", "Pledge '00001-145-0009999' was not found in RE."),
            (
                16,
                "PLEDGE_IMPORT_ID",
                "Pledge '00001-145-0000002' belongs to constituent 00001-079-0000002, not to the "
                "donor 00001-079-0000001.",
            ),
            (
                17,
                "AMOUNT",
                "The payment of 500.01 is more than the balance 500.00 of pledge "
                "'00001-145-0000001'.",
            ),
            (
                18,
                "PLEDGE_IMPORT_ID",
                "Only PledgePayment and RecurringGift rows name a gift they pay; this row is a "
                "Donation.",
            ),
            (19, "RE_CAMPAIGN", "RE_CAMPAIGN 'OLDCAMP' is inactive in the Campaign table."),
            (20, "RE_APPEAL", "RE_APPEAL 'GALA' is not a code of the Appeal table."),
            (21, "DONOR_EXCHANGE_ID", "The row has no DONOR_EXCHANGE_ID or DONOR_CONS_ID."),
        ]
        landed = by_luminate_id(await gifts(api))
        assert list(landed) == ["1"]
        [pledge, bens] = (await api.get(f"{API}/pledges")).json()["pledges"]
        assert (Decimal(pledge["balance"]), Decimal(bens["balance"])) == (500, 50)


async def test_a_row_the_csv_reader_cannot_read_is_reported_and_the_next_imports(
    api: httpx.AsyncClient, admin: RaisersEdgeAdmin
) -> None:
    await seed_people(admin)
    huge = tx("1", TRIBUTE_NAME="x" * 140_000)  # past the csv module's field size limit
    outcome = await land_and_import(api, admin, FILE, transactions_file(huge, tx("2")))
    assert (outcome["rows"], outcome["created"]) == (2, 1)
    assert [(e["line"], e["field"], e["reason"]) for e in outcome["exceptions"]] == [
        (2, None, "The row is not valid CSV (field larger than field limit (131072)).")
    ]
    assert list(by_luminate_id(await gifts(api))) == ["2"]


class TestSegments:
    async def test_a_segment_becomes_a_constituent_code_once(
        self, api: httpx.AsyncClient, admin: RaisersEdgeAdmin, clock: ManualClock
    ) -> None:
        await seed_people(admin)
        clock.advance(minutes=1)
        body = segments_file(
            {"CONS_ID": "1001001", "EXCHANGE_ID": ADA, "SEGMENT": "Walkers 2026"},
            {"CONS_ID": "1001003", "SEGMENT": "Walkers 2026"},
            {"CONS_ID": "1001003", "SEGMENT": "Walkers 2026"},
            {"CONS_ID": "5555", "SEGMENT": "Walkers 2026"},
            {"EXCHANGE_ID": BEN, "SEGMENT": ""},
        )
        outcome = await land_and_import(api, admin, "luminate_17_segments.csv", body)
        assert (outcome["updated"], outcome["unchanged"]) == (2, 1)
        assert [(e["line"], e["field"], e["reason"]) for e in outcome["exceptions"]] == [
            (
                5,
                "CONS_ID",
                "No constituent has the Luminate ID '5555' (CONS_ID), and the row has no "
                "EXCHANGE_ID.",
            ),
            (6, "SEGMENT", "The row has no SEGMENT."),
        ]
        ada = await admin.constituent(ADA)
        assert (ada["constituent_codes"], ada["date_changed"]) == (
            ["Walkers 2026"],
            "2026-01-01T09:01:00+00:00",
        )
        clock.advance(minutes=1)
        await put(api, "luminate_17_segments.csv", body)
        again = await admin.import_file("luminate_17_segments.csv")
        assert (again["updated"], again["unchanged"]) == (0, 3)
        assert (await admin.constituent(ADA))["date_changed"] == "2026-01-01T09:01:00+00:00"
