"""The floor: the same work done by the bare standard library (plus orjson), nothing else.

Usage::

    python floor.py jsonl  --csv constituents.csv --out out.jsonl [--json orjson|json]
    python floor.py sqlite --csv constituents.csv --out target.db [--batch-size 10000]

``jsonl``: ``csv.DictReader`` -> ``orjson.dumps`` (or the stdlib ``json.dumps``) -> one line a
row. ``sqlite``: ``csv.reader`` -> ``sqlite3`` ``executemany`` of ``INSERT ... ON CONFLICT(id)
DO UPDATE`` into a table with ``id`` as its primary key, committed every ``--batch-size`` rows
(the same durability unit as a batch of the other contenders).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sqlite3
from pathlib import Path

COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "street",
    "city",
    "state",
    "postal_code",
    "phone",
)


def to_jsonl(source: Path, target: Path, json_lib: str) -> int:
    """Copy every row to a JSONL file; return how many."""
    rows = 0
    with (
        source.open(newline="", encoding="utf-8") as handle,
        target.open("wb") as out,
    ):
        if json_lib == "orjson":
            import orjson

            dumps = orjson.dumps
            for row in csv.DictReader(handle):
                out.write(dumps(row) + b"\n")
                rows += 1
        else:
            import json

            encode = json.JSONEncoder().encode
            for row in csv.DictReader(handle):
                out.write((encode(row) + "\n").encode())
                rows += 1
    return rows


def to_sqlite(source: Path, target: Path, batch_size: int) -> int:
    """Upsert every row into ``constituents`` by id; return how many."""
    connection = sqlite3.connect(target, isolation_level=None)
    connection.execute(
        "CREATE TABLE constituents (id TEXT PRIMARY KEY, "
        + ", ".join(f"{c} TEXT" for c in COLUMNS[1:])
        + ")"
    )
    statement = (
        f"INSERT INTO constituents ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT(id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    )
    rows = 0
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if tuple(header) != COLUMNS:
            raise SystemExit(f"{source}: unexpected header {header}")
        while batch := list(itertools.islice(reader, batch_size)):
            connection.execute("BEGIN")
            connection.executemany(statement, batch)
            connection.execute("COMMIT")
            rows += len(batch)
    connection.close()
    return rows


def main() -> None:
    """Do one piece of work and print how many rows it wrote."""
    parser = argparse.ArgumentParser()
    parser.add_argument("work", choices=("jsonl", "sqlite"))
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--json", choices=("orjson", "json"), default="orjson")
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()
    if args.work == "jsonl":
        rows = to_jsonl(args.csv, args.out, args.json)
    else:
        rows = to_sqlite(args.csv, args.out, args.batch_size)
    print(f"rows={rows}")


if __name__ == "__main__":
    main()
