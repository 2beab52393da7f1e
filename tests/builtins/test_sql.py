"""The sql_table sink: classification, one transaction with the batch token, lookups."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from syncframe.builtins.sql import SqlTableSink, redact
from syncframe.components import Outcome, PermanentError, TargetRecord, WritePlan
from syncframe.records import Change, Operation

from .conftest import Build

pytestmark = pytest.mark.anyio


def change(key: Any, op: Operation = Operation.UPDATE, **fields: Any) -> Change:
    values = {"id": key, **fields} if key is not None else dict(fields)
    return Change("shop", "customer", {"ref": f"s{key}"}, op, values)


def rows(path: Path, table: str = "people") -> dict[str, dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute(f"SELECT * FROM {table}").fetchall()
    return {row["id"]: dict(row) for row in found}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "target.db"


@pytest.fixture
def sink(build: Build) -> SqlTableSink:
    sink: SqlTableSink = build(
        SqlTableSink, flow="shop-to-db", url="sqlite:///data/target.db", table="people", key="id"
    )
    return sink


async def test_classifies_created_updated_unchanged_deleted_rejected(
    sink: SqlTableSink, db: Path
) -> None:
    await sink.open(None)
    first = await sink.write(
        [change("1", name="Ada", city="London"), change("2", name="Grace"), change("3", name="x")],
        WritePlan("shop-to-db:1"),
    )
    assert first.outcomes == [Outcome.CREATED] * 3

    second = await sink.write(
        [
            change("1", name="Ada", city="London"),  # same values
            change("2", name="Grace Hopper"),  # changed
            change("3", Operation.DELETE),
            change("9", Operation.DELETE),  # nothing to delete
            change("", name="no key"),
            change(None, name="no key field"),
            change("4", name="Alan"),
        ],
        WritePlan("shop-to-db:2"),
    )

    assert second.outcomes == [
        Outcome.UNCHANGED,
        Outcome.UPDATED,
        Outcome.DELETED,
        Outcome.UNCHANGED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.CREATED,
    ]
    assert second.reasons == {
        3: "no record with id 9 to delete",
        4: "shop.customer[ref=s] has no value for key field 'id'",
        5: "shop.customer[ref=sNone] has no value for key field 'id'",
    }
    assert second.target_keys == {0: "1", 1: "2", 2: "3", 6: "4"}
    assert rows(db) == {
        "1": {"id": "1", "name": "Ada", "city": "London"},
        "2": {"id": "2", "name": "Grace Hopper", "city": None},
        "4": {"id": "4", "name": "Alan", "city": None},
    }


async def test_partial_records_leave_other_columns_alone(sink: SqlTableSink, db: Path) -> None:
    await sink.open(None)
    await sink.write([change("1", name="Ada", city="London")], WritePlan("t:1"))
    result = await sink.write(
        [change("1", city="Paris"), change("1", city="Paris")], WritePlan("t:2")
    )

    # The second record of the batch sees what the first one wrote.
    assert result.outcomes == [Outcome.UPDATED, Outcome.UNCHANGED]
    assert rows(db)["1"] == {"id": "1", "name": "Ada", "city": "Paris"}


async def test_values_are_compared_as_text(sink: SqlTableSink, db: Path) -> None:
    await sink.open(None)
    await sink.write(
        [change(7, n=42, ok=True, d=date(2026, 1, 2), tags=["a"], none=None)], WritePlan("t:1")
    )
    again = await sink.write(
        [change("7", n="42", ok="true", d="2026-01-02", tags='["a"]', none=None)], WritePlan("t:2")
    )

    assert again.outcomes == [Outcome.UNCHANGED]
    assert rows(db)["7"] == {
        "id": "7",
        "n": "42",
        "ok": "true",
        "d": "2026-01-02",
        "tags": '["a"]',
        "none": None,
    }


async def test_batch_token_commits_with_the_data(
    sink: SqlTableSink, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sink.open(None)
    assert not await sink.was_applied("shop-to-db:1")
    await sink.write([change("1", name="Ada")], WritePlan("shop-to-db:1"))
    assert await sink.was_applied("shop-to-db:1")
    assert not await sink.was_applied("shop-to-db:2")

    # A failure in the middle of a batch rolls back its rows and its token.
    with monkeypatch.context() as patch:
        patch.setattr(sink.dialect, "record_applied", lambda: "INSERT INTO nowhere VALUES (?)")
        with pytest.raises(PermanentError, match=r"table people in .*target\.db: no such table"):
            await sink.write([change("2", name="Grace")], WritePlan("shop-to-db:2"))
    assert not await sink.was_applied("shop-to-db:2")
    assert set(rows(db)) == {"1"}

    # The table survives a restart, and the token is per flow.
    await sink.aclose()
    await sink.open({"anything": 1})
    assert await sink.was_applied("shop-to-db:1")


async def test_records_the_database_refuses_are_rejected_alone(
    sink: SqlTableSink, db: Path
) -> None:
    await sink.open(None)
    await sink.write([change("1", name="Ada")], WritePlan("t:1"))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER no_boom BEFORE INSERT ON people WHEN NEW.name = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'no boom here'); END"
        )

    result = await sink.write(
        [change("2", name="Grace"), change("3", name="boom"), change("4", name="Alan")],
        WritePlan("t:2"),
    )

    assert result.outcomes == [Outcome.CREATED, Outcome.REJECTED, Outcome.CREATED]
    assert result.reasons == {1: "shop.customer[ref=s3]: the database refused it: no boom here"}
    assert result.target_keys == {0: "2", 2: "4"}
    assert set(rows(db)) == {"1", "2", "4"}
    assert await sink.was_applied("t:2")


async def test_was_applied_is_false_for_a_fresh_database(build: Build) -> None:
    sink = build(SqlTableSink, url="sqlite:///fresh.db", table="t", key="id")
    assert not await sink.was_applied("f:1")


async def test_dry_run_classifies_without_writing(sink: SqlTableSink, db: Path) -> None:
    await sink.open(None)
    dry = await sink.write([change("1", name="Ada")], WritePlan("t:1", dry_run=True))
    assert dry.outcomes == [Outcome.CREATED]
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == []

    await sink.write([change("1", name="Ada")], WritePlan("t:2"))
    dry = await sink.write(
        [change("1", name="Ada", city="Oslo"), change("1", Operation.DELETE)],
        WritePlan("t:3", dry_run=True),
    )
    assert dry.outcomes == [Outcome.UPDATED, Outcome.DELETED]
    assert rows(db) == {"1": {"id": "1", "name": "Ada"}}
    assert not await sink.was_applied("t:3")


async def test_matcher_targets_choose_the_key(sink: SqlTableSink, db: Path) -> None:
    await sink.open(None)
    await sink.write([change("100", name="Ada")], WritePlan("t:1"))

    result = await sink.write(
        [change("s1", name="Ada L."), change("s2", name="New")],
        WritePlan("t:2", targets=["100", None]),
    )

    assert result.outcomes == [Outcome.UPDATED, Outcome.CREATED]
    assert result.target_keys == {0: "100", 1: "s2"}
    assert rows(db)["100"]["name"] == "Ada L."


async def test_generate_keys_for_records_to_create(build: Build, tmp_path: Path) -> None:
    sink = build(SqlTableSink, url="sqlite:///t.db", table="people", key="id", generate_keys=True)
    await sink.open(None)
    result = await sink.write([change(None, name="Ada")], WritePlan("t:1"))
    assert result.outcomes == [Outcome.CREATED]
    new_key = result.target_keys[0]
    assert len(new_key) == 32
    assert rows(tmp_path / "t.db") == {new_key: {"id": new_key, "name": "Ada"}}


async def test_explicit_columns_leave_other_fields_out(build: Build, tmp_path: Path) -> None:
    sink = build(SqlTableSink, url="sqlite:///t.db", table="people", key="id", columns=["name"])
    await sink.open(None)
    await sink.write([change("1", name="Ada", secret="x")], WritePlan("t:1"))
    assert rows(tmp_path / "t.db") == {"1": {"id": "1", "name": "Ada"}}


async def test_existing_table_must_be_keyed_uniquely(build: Build, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("CREATE TABLE people (id TEXT, name TEXT)")
    sink = build(SqlTableSink, url="sqlite:///t.db", table="people", key="id")
    with pytest.raises(PermanentError, match="column 'id' of table people is not unique"):
        await sink.open(None)

    missing = build(SqlTableSink, url="sqlite:///t.db", table="people", key="email")
    with pytest.raises(PermanentError, match="table people has no column 'email'"):
        await missing.open(None)

    absent = build(SqlTableSink, url="sqlite:///t.db", table="nope", key="id", create_table=False)
    with pytest.raises(PermanentError, match="table nope does not exist"):
        await absent.check()


async def test_existing_table_with_typed_columns(build: Build, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("CREATE TABLE gifts (gift_id INTEGER PRIMARY KEY, amount REAL)")
        conn.execute("INSERT INTO gifts VALUES (1, 10.5)")
    sink = build(SqlTableSink, url="sqlite:///t.db", table="gifts", key="gift_id")
    await sink.open(None)
    result = await sink.write(
        [
            Change("s", "gift", {"id": "1"}, Operation.UPDATE, {"gift_id": "1", "amount": 10.5}),
            Change("s", "gift", {"id": "2"}, Operation.UPDATE, {"gift_id": 2, "amount": "3"}),
        ],
        WritePlan("t:1"),
    )
    assert result.outcomes == [Outcome.UNCHANGED, Outcome.CREATED]


def test_only_sqlite_urls_for_now(build: Build) -> None:
    with pytest.raises(ValueError, match="only SQLite databases are supported so far") as caught:
        build(SqlTableSink, url="postgresql://u:hunter2@host/db", table="t", key="id")
    assert "hunter2" not in caught.value.errors()[0]["msg"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="names no file"):
        build(SqlTableSink, url="sqlite://host/db", table="t", key="id")
    assert redact("postgresql://sync:hunter2@db:5432/x") == "postgresql://sync:***@db:5432/x"


async def test_lookup_finds_rows_by_a_column(sink: SqlTableSink) -> None:
    lookup = sink.lookup()
    assert await lookup.find("email", ["a@x.org"]) == {}  # no table yet

    await sink.open(None)
    await sink.write(
        [
            change("1", email="a@x.org", name="Ada"),
            change("2", email="g@x.org", name="Grace"),
            change("3", email="g@x.org", name="Grace again"),
        ],
        WritePlan("t:1"),
    )

    found = await lookup.find("email", ["a@x.org", "g@x.org", "nobody@x.org"])
    assert found == {
        "a@x.org": [TargetRecord("1", {"id": "1", "email": "a@x.org", "name": "Ada"})],
        "g@x.org": [
            TargetRecord("2", {"id": "2", "email": "g@x.org", "name": "Grace"}),
            TargetRecord("3", {"id": "3", "email": "g@x.org", "name": "Grace again"}),
        ],
    }
    assert await lookup.find("phone", ["1"]) == {}  # no such column
