"""How fast the luminate_sql sink writes a 100k-record batch (measured and reported, not asserted).

Run on demand (not part of the test suite)::

    python3 -m uv run pytest -q -s -p no:cacheprovider benchmarks/luminate/bench_sql_sink.py

It prints: created (insert + refund state for every transaction),
unchanged (the same batch again: read and compared, nothing written) and updated.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from syncframe_luminate.sql_sink import LuminateSqlOptions, LuminateSqlSink

from plugins.luminate.tests.sink_helpers import T0, context, donation, memory_state
from syncframe.clock import ManualClock
from syncframe.components import Outcome, WritePlan
from syncframe.records import Operation
from syncframe.state import StateStore

pytestmark = pytest.mark.anyio

ROWS = 100_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def state() -> Iterator[StateStore]:
    yield from memory_state(ManualClock(T0))


async def test_100k_row_batch(tmp_path: Path, state: StateStore) -> None:
    sink = LuminateSqlSink(context(tmp_path, ManualClock(T0), state), LuminateSqlOptions())
    base = 2_000_000
    changes = [donation(base + n, f"{10 + n % 500}.{n % 100:02d}") for n in range(ROWS)]
    figures: list[str] = []

    async def timed(label: str, batch: list, token: str, expected: Outcome) -> None:  # type: ignore[type-arg]
        start = time.perf_counter()
        result = await sink.write(batch, WritePlan(token))
        seconds = time.perf_counter() - start
        assert set(result.outcomes) == {expected}
        figures.append(f"{label}: {ROWS} rows in {seconds:.2f} s = {ROWS / seconds:,.0f} rows/s")

    await timed("created", changes, "b:1:1", Outcome.CREATED)
    await timed("unchanged", changes, "b:1:2", Outcome.UNCHANGED)
    updates = [
        donation(base + n, "5.00", f"{10 + n % 500}.{n % 100:02d}", operation=Operation.UPDATE)
        for n in range(ROWS)
    ]
    await timed("updated", updates, "b:1:3", Outcome.UPDATED)
    await sink.aclose()
    with sqlite3.connect(tmp_path / "luminate.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM luminate_donation").fetchone()[0] == ROWS
        partial = conn.execute(
            "SELECT COUNT(*) FROM luminate_refund_state WHERE status = 'partial'"
        ).fetchone()[0]
        assert partial == ROWS
        row = conn.execute(
            "SELECT original_amount, inferred_offline_refunds FROM luminate_refund_state "
            "WHERE transaction_id = ?",
            (base + 7,),
        ).fetchone()
    assert (Decimal(row[0]), Decimal(row[1])) == (Decimal("17.07"), Decimal("12.07"))
    print("\nluminate_sql, one batch, SQLite file (WAL): " + "; ".join(figures))
