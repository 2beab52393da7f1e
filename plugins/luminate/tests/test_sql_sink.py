"""The luminate_sql sink: typed tables, upserts, delete marking, refund state, exactly-once."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from syncframe_luminate.sql_sink import LuminateSqlOptions, LuminateSqlSink

from plugins.luminate.tests.sink_helpers import (
    SYSTEM,
    T0,
    campaign,
    context,
    donation,
    later,
    memory_state,
    refund,
)
from syncframe.clock import ManualClock
from syncframe.components import Outcome, PermanentError, WritePlan
from syncframe.records import Change, Operation
from syncframe.state import StateStore

pytestmark = pytest.mark.anyio

INSERT, UPDATE, DELETE = Operation.INSERT, Operation.UPDATE, Operation.DELETE


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def state(clock: ManualClock) -> Iterator[StateStore]:
    yield from memory_state(clock)


Build = Callable[..., LuminateSqlSink]


@pytest.fixture
async def build(tmp_path: Path, clock: ManualClock, state: StateStore) -> Any:
    built: list[LuminateSqlSink] = []

    def _build(**options: Any) -> LuminateSqlSink:
        sink = LuminateSqlSink(
            context(tmp_path, clock, state), LuminateSqlOptions.model_validate(options)
        )
        built.append(sink)
        return sink

    yield _build
    for sink in built:
        await sink.aclose()


class Writer:
    """Writes batches with tokens flow:run:seq, as the engine would."""

    def __init__(self, sink: LuminateSqlSink) -> None:
        self.sink = sink
        self.seq = 0

    async def __call__(self, *changes: Change, dry_run: bool = False) -> list[Outcome]:
        self.seq += 1
        result = await self.sink.write(
            list(changes), WritePlan(f"lo-to-db:run-1:{self.seq}", dry_run=dry_run)
        )
        assert len(result.outcomes) == len(changes)
        return result.outcomes


def db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "luminate.db")
    conn.row_factory = sqlite3.Row
    return conn


def state_row(tmp_path: Path, transaction_id: int) -> dict[str, Any]:
    with db(tmp_path) as conn:
        row = conn.execute(
            "SELECT * FROM luminate_refund_state WHERE transaction_id = ?", (transaction_id,)
        ).fetchone()
    assert row is not None, f"no refund state for {transaction_id}"
    return dict(row)


def money(row: dict[str, Any], *names: str) -> tuple[D | None, ...]:
    return tuple(None if row[n] is None else D(row[n]) for n in names)


# --------------------------------------------------------------------------------------------
# Seed 003: every refund combination, batch by batch, asserted on luminate_refund_state.


async def test_refund_combinations_through_the_sink(build: Build, tmp_path: Path) -> None:
    write = Writer(build())
    a, b, c, d, e = 2001001, 2001002, 2001003, 2001004, 2001005
    # Batch 1: five donations of 100 inserted (a campaign record ahead of them, as the source
    # sends associated records).
    outcomes = await write(
        campaign(101, "Spring"), *(donation(t, "100.00") for t in (a, b, c, d, e))
    )
    assert outcomes == [Outcome.CREATED] * 6
    for t in (a, b, c, d, e):
        row = state_row(tmp_path, t)
        assert row["status"] == "none"
        assert money(row, "original_amount", "current_amount") == (D(100), D(100))
        assert row["transaction_type"] == "Donation"

    # Batch 2: partial refunds arrive as updates with OriginalAmount: a online 30, b offline 25,
    # c online 10 + offline 15 + online 5; and their Refund records (online ones only).
    outcomes = await write(
        donation(a, "70.00", "100.00", operation=UPDATE, when=later(10)),
        donation(b, "75.00", "100.00", operation=UPDATE, when=later(10)),
        donation(c, "70.00", "100.00", operation=UPDATE, when=later(12)),
        refund(3001, a, "30.00", before="100.00", when=later(10)),
        refund(3002, c, "10.00", before="100.00", when=later(11)),
        refund(3003, c, "5.00", before="75.00", when=later(12)),
    )
    assert outcomes == [Outcome.UPDATED] * 3 + [Outcome.CREATED] * 3
    row = state_row(tmp_path, a)
    assert row["status"] == "partial"
    assert money(row, "original_amount", "current_amount") == (D(100), D(70))
    assert (row["online_refund_count"], D(row["online_refunds"])) == (1, D(30))
    assert D(row["inferred_offline_refunds"]) == 0
    row = state_row(tmp_path, b)
    assert row["status"] == "partial"
    assert row["online_refund_count"] == 0
    assert D(row["inferred_offline_refunds"]) == D(25)
    row = state_row(tmp_path, c)
    assert (row["online_refund_count"], D(row["online_refunds"])) == (2, D(15))
    assert D(row["inferred_offline_refunds"]) == D(15)
    assert row["warnings"] is None

    # Batch 3: the same Refund again (read once more through the per-transaction Query).
    outcomes = await write(refund(3001, a, "30.00", before="100.00", when=later(10)))
    assert outcomes == [Outcome.UNCHANGED]
    row = state_row(tmp_path, a)
    assert (row["online_refund_count"], D(row["online_refunds"])) == (1, D(30))
    assert D(row["inferred_offline_refunds"]) == 0
    assert row["warnings"] is None

    # Batch 4: full refunds as DELETEs (Amount = what the full refund returned): a's remaining
    # 70 online, c's remaining 70 offline, d's whole 100 online, e's whole 100 offline.
    outcomes = await write(
        donation(a, "70.00", "100.00", operation=DELETE, when=later(30)),
        donation(c, "70.00", "100.00", operation=DELETE, when=later(30)),
        donation(d, "100.00", operation=DELETE, when=later(30)),
        donation(e, "100.00", operation=DELETE, when=later(30)),
        refund(3004, a, "70.00", before="70.00", full=True, when=later(30)),
        refund(3005, d, "100.00", before="100.00", full=True, when=later(30)),
    )
    assert outcomes == [Outcome.DELETED] * 4 + [Outcome.CREATED] * 2
    row = state_row(tmp_path, a)  # partial online 30, then full online 70
    assert row["status"] == "full"
    assert money(row, "original_amount", "current_amount", "full_refund_amount") == (
        D(100), D(0), D(70),
    )  # fmt: skip
    assert row["full_refund_online"] == 1
    assert (row["online_refund_count"], D(row["online_refunds"])) == (2, D(100))
    assert D(row["inferred_offline_refunds"]) == 0
    row = state_row(tmp_path, c)  # online 10 + 5, offline 15, then full offline 70
    assert row["status"] == "full"
    assert money(row, "full_refund_amount", "inferred_offline_refunds") == (D(70), D(15))
    assert row["full_refund_online"] == 0
    assert row["online_refund_count"] == 2
    row = state_row(tmp_path, d)  # full online, no partials
    assert money(row, "original_amount", "full_refund_amount") == (D(100), D(100))
    assert (row["full_refund_online"], row["online_refund_count"]) == (1, 1)
    row = state_row(tmp_path, e)  # full offline, no partials
    assert money(row, "original_amount", "full_refund_amount") == (D(100), D(100))
    assert (row["full_refund_online"], row["online_refund_count"]) == (0, 0)
    row = state_row(tmp_path, b)  # untouched: still partial
    assert row["status"] == "partial"
    for t in (a, b, c, d, e):
        assert state_row(tmp_path, t)["warnings"] is None

    # The gifts are still in the finance table, marked.
    with db(tmp_path) as conn:
        rows = {
            r["TransactionId"]: dict(r)
            for r in conn.execute("SELECT * FROM luminate_donation ORDER BY TransactionId")
        }
    assert len(rows) == 5
    assert rows[a]["luminate_deleted"] == 1
    assert rows[a]["luminate_deleted_at"] == "2025-03-01 12:30:00.000000"
    assert D(rows[a]["full_refund_amount"]) == D(70)
    assert rows[b]["luminate_deleted"] == 0
    assert rows[b]["full_refund_amount"] is None
    assert D(rows[b]["Payment_Amount"]) == D(75)

    # Batch 5: the same delete read again changes nothing.
    outcomes = await write(donation(d, "100.00", operation=DELETE, when=later(30)))
    assert outcomes == [Outcome.UNCHANGED]


async def test_refund_before_its_transaction(build: Build, tmp_path: Path) -> None:
    write = Writer(build())
    await write(refund(3001, 2001009, "5.00", before="20.00"))
    row = state_row(tmp_path, 2001009)
    assert row["status"] == "partial"
    assert row["original_amount"] is None
    assert row["transaction_type"] == "Donation"
    assert "not known" in row["warnings"]
    # The transaction arrives: recomputed with both.
    await write(donation(2001009, "15.00", "20.00", operation=UPDATE))
    row = state_row(tmp_path, 2001009)
    assert money(row, "original_amount", "current_amount", "online_refunds") == (
        D(20), D(15), D(5),
    )  # fmt: skip
    assert row["warnings"] is None


async def test_other_transaction_types_share_the_state(build: Build, tmp_path: Path) -> None:
    write = Writer(build())
    await write(
        donation(2001001, "40.00", entity="TicketPurchase"),
        donation(2001002, "60.00", entity="ProductOrder"),
    )
    await write(refund(3001, 2001001, "40.00", before="40.00", full=True, transaction_type=""))
    row = state_row(tmp_path, 2001001)
    assert row["transaction_type"] == "TicketPurchase"
    assert row["status"] == "full"  # the Refund says so, though the DELETE did not come yet
    assert "not deleted" in row["warnings"]
    await write(donation(2001001, "40.00", operation=DELETE, entity="TicketPurchase"))
    row = state_row(tmp_path, 2001001)
    assert row["warnings"] is None
    assert row["full_refund_online"] == 1
    with db(tmp_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"luminate_ticketpurchase", "luminate_productorder", "luminate_refund"} <= tables


async def test_on_delete_delete_removes_the_row_but_keeps_the_state(
    build: Build, tmp_path: Path
) -> None:
    write = Writer(build(on_delete="delete"))
    await write(donation(2001001, "80.00", "100.00"))
    assert await write(donation(2001001, "80.00", "100.00", operation=DELETE)) == [Outcome.DELETED]
    with db(tmp_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM luminate_donation").fetchone()[0] == 0
    row = state_row(tmp_path, 2001001)
    assert row["status"] == "full"
    assert money(row, "original_amount", "full_refund_amount", "inferred_offline_refunds") == (
        D(100), D(80), D(20),
    )  # fmt: skip
    # A Refund of it read later still finds what the state remembers.
    await write(refund(3001, 2001001, "80.00", before="80.00", full=True))
    row = state_row(tmp_path, 2001001)
    assert (row["status"], row["full_refund_online"]) == ("full", 1)
    assert D(row["inferred_offline_refunds"]) == D(20)
    assert row["warnings"] is None
    assert await write(donation(2001002, "1.00", operation=DELETE)) == [Outcome.UNCHANGED]


# --------------------------------------------------------------------------------------------
# Tables, columns, values


async def test_typed_columns(build: Build, tmp_path: Path) -> None:
    write = Writer(build())
    await write(donation(2001001, "12.30"), refund(3001, 2001001, "2.30", before="12.30"))
    with db(tmp_path) as conn:
        types = {r["name"]: r["type"] for r in conn.execute("PRAGMA table_info(luminate_donation)")}
        row = dict(conn.execute("SELECT * FROM luminate_donation").fetchone())
        refund_types = {
            r["name"]: r["type"] for r in conn.execute("PRAGMA table_info(luminate_refund)")
        }
    assert types["TransactionId"] == "BIGINT"
    assert types["Payment_Amount"] == "TEXT"  # exact decimal text in SQLite
    assert types["Payment_ModifyDate"] == "DATETIME"
    assert types["Payment_CreationMethod"] == "BIGINT"
    assert types["Donor_ConsName_FirstName"] == "TEXT"
    assert types["luminate_deleted"] == "BOOLEAN"
    assert "Donor_ConsName_MiddleName" not in types  # only None so far: no column yet
    assert refund_types["Online"] == "BOOLEAN"
    assert row["Payment_Amount"] == "12.30"  # the trailing zero kept: exact
    assert row["Payment_ModifyDate"] == "2025-03-01 12:00:00.000000"

    # Read back through the sink's table definitions, the values are typed again.
    sink = build()
    with sink.engine.connect() as conn:
        table = sink.store._entity_table(conn, "Donation", "TransactionId").table()
        typed = conn.execute(sa.select(table)).mappings().one()
    assert typed["Payment_Amount"] == D("12.30")
    assert typed["Payment_ModifyDate"] == T0
    assert typed["Payment_CreationMethod"] == 1
    assert typed["luminate_deleted"] is False


async def test_new_fields_add_columns(build: Build, tmp_path: Path) -> None:
    write = Writer(build())
    await write(donation(2001001, "10.00"))
    change = donation(2001002, "20.00")
    change.fields["Donor.ConsName.MiddleName"] = "Q"
    change.fields["CustomField.Note"] = "first gift"
    assert await write(change) == [Outcome.CREATED]
    with db(tmp_path) as conn:
        rows = conn.execute(
            "SELECT TransactionId, Donor_ConsName_MiddleName, CustomField_Note "
            "FROM luminate_donation ORDER BY TransactionId"
        ).fetchall()
    assert [tuple(r) for r in rows] == [(2001001, None, None), (2001002, "Q", "first gift")]
    # A new sink (a new run) reads the catalogue and knows the kinds again.
    write2 = Writer(build())
    assert await write2(donation(2001001, "10.00")) == [Outcome.UNCHANGED]
    assert await write2(donation(2001001, "10.5")) == [Outcome.UPDATED]


async def test_outcomes(build: Build) -> None:
    write = Writer(build())
    assert await write(donation(2001001, "10.00")) == [Outcome.CREATED]
    assert await write(donation(2001001, "10.0")) == [Outcome.UNCHANGED]  # same amount
    assert await write(donation(2001001, "10.00", operation=UPDATE)) == [Outcome.UNCHANGED]
    assert await write(donation(2001001, "9.00", "10.00", operation=UPDATE)) == [Outcome.UPDATED]
    # Twice in one batch: applied in order, one row.
    assert await write(
        donation(2001002, "5.00"), donation(2001002, "4.00", "5.00", operation=UPDATE)
    ) == [Outcome.CREATED, Outcome.UPDATED]


async def test_bad_records_are_rejected_with_the_field(build: Build, tmp_path: Path) -> None:
    write = Writer(build())
    await write(donation(2001001, "10.00"))
    bad_amount = donation(2001002, "1.00")
    bad_amount.fields["Payment.Amount"] = "ten dollars"
    no_id = Change(SYSTEM, "Donation", {}, INSERT, {"Payment.Amount": D(1)})
    orphan = refund(3009, 1, "1.00", before="2.00")
    orphan.fields["OriginalTransactionId"] = None
    clash = donation(2001003, "1.00")
    clash.fields["Payment_Amount"] = D(2)
    outcomes = await write(bad_amount, no_id, orphan, clash, donation(2001004, "3.00"))
    sink = write.sink
    result = await sink.write([bad_amount, no_id, orphan, clash], WritePlan("lo-to-db:run-1:99"))
    assert outcomes[:4] == [Outcome.REJECTED] * 4
    assert outcomes[4] == Outcome.CREATED
    assert result.reasons[0] == (
        "lo.Donation[TransactionId=2001002]: field 'Payment.Amount' 'ten dollars' is not an "
        "amount (decimal)"
    )
    assert result.reasons[1] == "lo.Donation[] has no value for TransactionId"
    assert "has no OriginalTransactionId" in result.reasons[2]
    assert "field 'Payment_Amount' would be column 'Payment_Amount'" in result.reasons[3]
    with db(tmp_path) as conn:
        ids = [r[0] for r in conn.execute("SELECT TransactionId FROM luminate_donation")]
    assert sorted(ids) == [2001001, 2001004]


async def test_text_values_are_parsed_into_typed_columns(build: Build) -> None:
    write = Writer(build())
    await write(donation(2001001, "10.00"))
    change = donation(2001001, "10.00")
    change.fields["Payment.Amount"] = "10.00"
    change.fields["Payment.ModifyDate"] = "2025-03-01T12:00:00Z"
    change.fields["Payment.CreationMethod"] = "1"
    assert await write(change) == [Outcome.UNCHANGED]


async def test_dry_run_writes_nothing(build: Build, tmp_path: Path) -> None:
    write = Writer(build())
    assert await write(donation(2001001, "1.00"), dry_run=True) == [Outcome.CREATED]
    assert not (tmp_path / "luminate.db").exists() or not _tables(tmp_path)
    await write(donation(2001001, "1.00"))
    assert await write(donation(2001001, "2.00"), campaign(7, "x"), dry_run=True) == [
        Outcome.UPDATED,
        Outcome.CREATED,
    ]
    assert "luminate_donationcampaign" not in _tables(tmp_path)
    assert await write.sink.was_applied("lo-to-db:run-1:2")
    assert not await write.sink.was_applied("lo-to-db:run-1:3")


def _tables(tmp_path: Path) -> set[str]:
    with db(tmp_path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_foreign_table_is_refused(build: Build, tmp_path: Path) -> None:
    with db(tmp_path) as conn:
        conn.execute("CREATE TABLE luminate_donation (x TEXT)")
    with pytest.raises(PermanentError, match="was not created by the luminate_sql sink"):
        await Writer(build())(donation(2001001, "1.00"))


async def test_table_prefix_and_relative_url(build: Build, tmp_path: Path) -> None:
    write = Writer(build(url="sqlite:///data/lo.db", table_prefix="lo_"))
    await write(donation(2001001, "1.00"))
    with sqlite3.connect(tmp_path / "data" / "lo.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"lo_donation", "lo_refund_state", "_syncframe_applied"} <= tables


def test_options_are_validated() -> None:
    with pytest.raises(ValidationError, match=r"mysql:// is not supported"):
        LuminateSqlOptions(url="mysql://u:secret@h/db")
    with pytest.raises(ValidationError) as info:
        LuminateSqlOptions(url="oracle://scott:tiger@h/db")
    assert "tiger" not in info.value.errors()[0]["msg"]
    with pytest.raises(ValidationError, match="names no file"):
        LuminateSqlOptions(url="sqlite://")
    with pytest.raises(ValidationError):
        LuminateSqlOptions(on_delete="drop")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        LuminateSqlOptions(table_prefix="bad-prefix")
    # PostgreSQL is accepted (the same code runs on it through SQLAlchemy).
    assert LuminateSqlOptions(url="postgresql+psycopg://u:p@h/db").url.startswith("postgresql")


async def test_memory_database(build: Build) -> None:
    sink = build(url="sqlite:///:memory:")
    write = Writer(sink)
    assert await write(donation(2001001, "1.00")) == [Outcome.CREATED]
    assert await write(donation(2001001, "1.00")) == [Outcome.UNCHANGED]
    assert await sink.was_applied("lo-to-db:run-1:2")


# --------------------------------------------------------------------------------------------
# Exactly-once


async def test_token_commits_with_the_batch(build: Build, tmp_path: Path) -> None:
    sink = build()
    write = Writer(sink)
    await write(donation(2001001, "1.00"))
    assert await sink.was_applied("lo-to-db:run-1:1")
    assert not await sink.was_applied("lo-to-db:run-1:2")
    # Another flow's token is its own.
    other = LuminateSqlSink(
        context(tmp_path, sink.context.clock, sink.context.state, flow="other"),  # type: ignore[arg-type]
        LuminateSqlOptions(),
    )
    assert not await other.was_applied("lo-to-db:run-1:1")
    await other.aclose()


async def test_crash_after_write_before_engine_commit(build: Build, tmp_path: Path) -> None:
    """The batch was written (the process died before the engine committed its cursor): the
    new run asks was_applied, which says yes, so the batch is not written again."""
    sink = build()
    await sink.write([donation(2001001, "1.00")], WritePlan("lo-to-db:run-1:1"))
    await sink.aclose()
    restarted = build()
    await restarted.open(None)
    assert await restarted.was_applied("lo-to-db:run-1:1")


async def test_a_failing_batch_leaves_nothing(
    build: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = build()
    write = Writer(sink)
    await write(donation(2001001, "1.00"))

    def boom(*args: Any) -> None:
        raise RuntimeError("died while recomputing")

    monkeypatch.setattr(sink.store, "_recompute_refund_state", boom)
    change = donation(2001002, "2.00")
    change.fields["NewField"] = "x"  # a new column: its ALTER must roll back too
    with pytest.raises(RuntimeError):
        await write(change)
    assert not await sink.was_applied("lo-to-db:run-1:2")
    with db(tmp_path) as conn:
        ids = [r[0] for r in conn.execute("SELECT TransactionId FROM luminate_donation")]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(luminate_donation)")]
    assert ids == [2001001]
    assert "NewField" not in columns
    monkeypatch.undo()
    assert await write(change) == [Outcome.CREATED]  # the schema is read again


async def test_locked_database_is_transient(build: Build, tmp_path: Path) -> None:
    from syncframe.components import TransientError

    sink = build()
    await Writer(sink)(donation(2001001, "1.00"))
    blocker = sqlite3.connect(tmp_path / "luminate.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        sink.engine.dispose()
        # Shorten the busy timeout for this test.
        sa.event.listen(
            sink.engine,
            "connect",
            lambda dbapi, _r: dbapi.execute("PRAGMA busy_timeout = 50"),
        )
        with pytest.raises(TransientError, match="locked"):
            await sink.write([donation(2001002, "1.00")], WritePlan("t:1:2"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


async def test_datetimes_are_utc(build: Build) -> None:
    sink = build()
    change = donation(2001001, "1.00")
    change.fields["Payment.ModifyDate"] = datetime(2025, 3, 1, 13, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Paris")
    )
    await Writer(sink)(change)
    with sink.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT Payment_ModifyDate FROM luminate_donation")).scalar()
    assert stored == "2025-03-01 13:00:00.000000"


# --------------------------------------------------------------------------------------------
# The SQLite fast path: stored-form comparison, skipped look-ups, refusals.


async def test_same_amount_written_differently_is_unchanged(build: Build, tmp_path: Path) -> None:
    """12.3 and 12.30 are the same amount: stored texts differ, the values do not."""
    write = Writer(build())
    assert await write(donation(2001001, "12.3")) == [Outcome.CREATED]
    assert await write(donation(2001001, "12.30")) == [Outcome.UNCHANGED]
    with db(tmp_path) as conn:
        stored = conn.execute("SELECT Payment_Amount FROM luminate_donation").fetchone()[0]
    assert stored == "12.3"  # nothing was written


async def test_ids_below_above_and_inside_the_stored_range(build: Build, tmp_path: Path) -> None:
    """Ids outside the stored range are not looked up; every id is still classified right."""
    write = Writer(build())
    await write(donation(2001005, "5.00"), donation(2001010, "10.00"))
    outcomes = await write(
        donation(2001001, "1.00"),  # below the stored range
        donation(2001005, "5.00"),  # stored, same
        donation(2001007, "7.00"),  # inside the range, new
        donation(2001010, "11.00", "12.00"),  # stored, changed
        donation(2001020, "20.00"),  # above the range
    )
    assert outcomes == [
        Outcome.CREATED,
        Outcome.UNCHANGED,
        Outcome.CREATED,
        Outcome.UPDATED,
        Outcome.CREATED,
    ]
    with db(tmp_path) as conn:
        rows = conn.execute(
            "SELECT TransactionId, Payment_Amount FROM luminate_donation ORDER BY 1"
        ).fetchall()
    assert [tuple(r) for r in rows] == [
        (2001001, "1.00"),
        (2001005, "5.00"),
        (2001007, "7.00"),
        (2001010, "11.00"),
        (2001020, "20.00"),
    ]
    assert money(state_row(tmp_path, 2001010), "original_amount", "inferred_offline_refunds") == (
        D("12.00"),
        D("1.00"),
    )


async def test_a_row_the_database_refuses_is_rejected_alone(build: Build, tmp_path: Path) -> None:
    sink = build()
    write = Writer(sink)
    await write(donation(2001001, "1.00"))
    with db(tmp_path) as conn:
        conn.execute(
            "CREATE TRIGGER no_666 BEFORE UPDATE ON luminate_donation "
            "WHEN NEW.Payment_Amount = '666.00' BEGIN SELECT RAISE(ABORT, 'no 666'); END"
        )
    # The refund makes 2001001's state be recomputed in the same batch: from the stored row.
    result = await sink.write(
        [
            donation(2001001, "666.00"),
            donation(2001002, "2.00"),
            refund(900, 2001001, "0.50", before="1.00"),
        ],
        WritePlan("lo-to-db:run-1:2"),
    )
    assert result.outcomes == [Outcome.REJECTED, Outcome.CREATED, Outcome.CREATED]
    assert "the database refused it: no 666" in result.reasons[0]
    with db(tmp_path) as conn:
        rows = conn.execute(
            "SELECT TransactionId, Payment_Amount FROM luminate_donation ORDER BY 1"
        ).fetchall()
    assert [tuple(r) for r in rows] == [(2001001, "1.00"), (2001002, "2.00")]
    assert state_row(tmp_path, 2001001)["current_amount"] == "1.00"  # as stored, not 666
    assert state_row(tmp_path, 2001002)["current_amount"] == "2.00"


async def test_refunds_are_indexed_by_their_transaction(build: Build, tmp_path: Path) -> None:
    """Each batch finds the refunds of the gifts it touched: by an index, not a scan."""
    write = Writer(build())
    await write(donation(2001001, "50.00"), refund(3001, 2001001, "5.00", before="50.00"))
    with db(tmp_path) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM luminate_refund WHERE OriginalTransactionId = 1"
        ).fetchall()
    assert any("ix_luminate_refund_original_transaction" in str(tuple(row)) for row in plan), plan
