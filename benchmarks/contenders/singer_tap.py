"""A minimal singer-sdk tap: one stream, ``constituents``, read from the benchmark CSV.

Runs in its own venv (benchmarks/.venvs/singer), never in syncframe's: singer-sdk is not a
dependency of syncframe. Usage: ``python singer_tap.py --config tap.json`` where the config is
``{"path": "constituents.csv"}``; Singer messages go to stdout.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

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


class ConstituentsStream(Stream):
    """Every row of the CSV, as strings (as the other contenders see them), keyed by id."""

    name = "constituents"
    primary_keys = ("id",)
    replication_key = None
    schema = th.PropertiesList(*(th.Property(c, th.StringType) for c in COLUMNS)).to_dict()

    def get_records(self, context: dict[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Yield the CSV's rows in file order."""
        with open(self.config["path"], newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)


class TapBenchCSV(Tap):
    """The tap: one CSV file, one stream."""

    name = "tap-bench-csv"
    config_jsonschema = th.PropertiesList(
        th.Property("path", th.StringType, required=True),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        """The one stream."""
        return [ConstituentsStream(self)]


if __name__ == "__main__":
    TapBenchCSV.cli()
