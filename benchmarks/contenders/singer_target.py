"""A minimal singer-sdk target writing either JSONL or a SQLite table upserted by key.

Runs in benchmarks/.venvs/singer. Usage: ``tap | python singer_target.py jsonl --config t.json``
with the config ``{"path": "out.jsonl"}``, or ``tap | python singer_target.py sqlite --config
t.json`` with ``{"sqlalchemy_url": "sqlite:////abs/target.db"}``.

The JSONL sink is a BatchSink (batches of 10,000, singer-sdk's default) appending one line a
record. The SQLite sink is singer-sdk's own SQLSink/SQLConnector, with the insert statement
swapped for SQLite's ``INSERT ... ON CONFLICT (key) DO UPDATE``, since the SDK's default
SQLSink only appends.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import sqlalchemy as sa
from singer_sdk import SQLConnector, SQLSink, SQLTarget, Target
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


class JSONLSink(BatchSink):
    """Appends each batch's records to one JSONL file."""

    def process_batch(self, context: dict[str, Any]) -> None:
        """Write the batch, one JSON object a line."""
        dumps = json.dumps
        with open(self.config["path"], "a", encoding="utf-8") as out:
            out.writelines(dumps(record) + "\n" for record in context["records"])


class SQLiteConnector(SQLConnector):
    """SQLite through SQLAlchemy; the URL comes from the config."""

    allow_merge_upsert = True

    def get_sqlalchemy_url(self, config: dict[str, Any]) -> str:
        """The configured URL."""
        return str(config["sqlalchemy_url"])


class SQLiteUpsertSink(SQLSink[SQLiteConnector]):
    """SQLSink whose bulk insert upserts by the stream's key properties."""

    connector_class = SQLiteConnector

    def generate_insert_statement(self, full_table_name: Any, schema: dict[str, Any]) -> Any:
        """``INSERT ... ON CONFLICT (keys) DO UPDATE SET`` every other column."""
        names = list(self.conform_schema(schema)["properties"])
        _, schema_name, table_name = self.connector.parse_full_table_name(full_table_name)
        table = sa.Table(
            table_name,
            sa.MetaData(),
            *(sa.Column(name, sa.String) for name in names),
            schema=schema_name,
        )
        statement = sqlite_insert(table)
        keys = list(self.key_properties)
        return statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: statement.excluded[name] for name in names if name not in keys},
        )


class TargetBenchJSONL(Target):
    """Every stream to one JSONL file."""

    name = "target-bench-jsonl"
    config_jsonschema = th.PropertiesList(
        th.Property("path", th.StringType, required=True),
    ).to_dict()
    default_sink_class = JSONLSink


class TargetBenchSQLite(SQLTarget):
    """Every stream to a SQLite table of its name, upserted by key."""

    name = "target-bench-sqlite"
    config_jsonschema = th.PropertiesList(
        th.Property("sqlalchemy_url", th.StringType, required=True),
    ).to_dict()
    default_sink_class = SQLiteUpsertSink


if __name__ == "__main__":
    mode = sys.argv.pop(1)
    (TargetBenchJSONL if mode == "jsonl" else TargetBenchSQLite).cli()
