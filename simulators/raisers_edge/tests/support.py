"""Helpers of the Raiser's Edge simulator tests: Luminate's files as bytes, landing and
importing them, and a small seeded database."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import httpx
from raisers_edge_simulator import (
    CONSTITUENT_COLUMNS,
    SEGMENT_COLUMNS,
    TRANSACTION_COLUMNS,
    RaisersEdgeAdmin,
)

API = "/re/v1"


def csv_bytes(columns: Sequence[str], rows: Sequence[dict[str, str] | Sequence[str]]) -> bytes:
    """A Luminate file: header and rows, ``\\r\\n`` line ends, UTF-8. A row given as a dict
    fills the columns it names and leaves the rest blank."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        if isinstance(row, dict):
            unknown = set(row) - set(columns)
            assert not unknown, f"not columns of this file: {unknown}"
            writer.writerow([row.get(column, "") for column in columns])
        else:
            writer.writerow(row)
    return text.getvalue().encode()


def constituents_file(*rows: dict[str, str]) -> bytes:
    return csv_bytes(CONSTITUENT_COLUMNS, rows)


def transactions_file(*rows: dict[str, str]) -> bytes:
    return csv_bytes(TRANSACTION_COLUMNS, rows)


def segments_file(*rows: dict[str, str]) -> bytes:
    return csv_bytes(SEGMENT_COLUMNS, rows)


async def put(api: httpx.AsyncClient, name: str, body: bytes) -> dict[str, Any]:
    answer = await api.put(f"{API}/import-area/{name}", content=body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def land_and_import(
    api: httpx.AsyncClient, admin: RaisersEdgeAdmin, name: str, body: bytes
) -> dict[str, Any]:
    """Put a file in the import area and import it, as the client does in RE."""
    await put(api, name, body)
    return await admin.import_file(name)


CODE_TABLES: dict[str, list[dict[str, Any]]] = {
    "Campaign": [
        {"code": "ANNUAL26", "description": "Annual Fund 2026"},
        {"code": "OLDCAMP", "description": "Old campaign", "active": False},
    ],
    "Fund": [
        {"code": "GENERAL", "description": "General Operating"},
        {"code": "SCHOLAR", "description": "Scholarship Fund"},
        {"code": "OLDFUND", "description": "Retired fund", "active": False},
    ],
    "Appeal": [{"code": "WEB", "description": "Online Giving"}],
}


async def seed_people(admin: RaisersEdgeAdmin) -> dict[str, Any]:
    """Code tables and three constituents: Ada (alias Luminate ID 1001001, an open pledge of
    500.00), Ben (no alias), Cy (a TeamRaiser solicitor)."""
    return await admin.seed(
        {
            "code_tables": CODE_TABLES,
            "constituents": [
                {
                    "import_id": "00001-079-0000001",
                    "constituent_id": "10001",
                    "luminate_id": "1001001",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "addresses": [{"type": "Home", "street1": "1 Main St", "city": "Boston"}],
                    "phones": [{"type": "Email", "number": "ada@example.org"}],
                },
                {
                    "import_id": "00001-079-0000002",
                    "constituent_id": "10002",
                    "first_name": "Ben",
                    "last_name": "Baker",
                },
                {
                    "import_id": "00001-079-0000003",
                    "constituent_id": "10003",
                    "luminate_id": "1001003",
                    "first_name": "Cy",
                    "last_name": "Solis",
                    "is_solicitor": True,
                },
            ],
            "pledges": [
                {
                    "import_id": "00001-145-0000001",
                    "constituent_import_id": "00001-079-0000001",
                    "amount": "500.00",
                    "date": "2025-06-01",
                    "fund": "GENERAL",
                }
            ],
        }
    )
