"""The luminate_sql sink on PostgreSQL: the same code as on SQLite, through a
``postgresql+psycopg://`` URL, against a real PostgreSQL server (pgserver: PostgreSQL in a
wheel, started on a Unix socket in a temporary folder, no network)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from syncframe_luminate.sql_sink import LuminateSqlOptions, LuminateSqlSink

from plugins.luminate.tests.sink_helpers import T0, campaign, context, donation, later, refund
from syncframe.clock import ManualClock
from syncframe.components import Outcome, WritePlan
from syncframe.records import Operation
from syncframe.state import open_state

pytestmark = pytest.mark.anyio

UPDATE, DELETE = Operation.UPDATE, Operation.DELETE


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL server for this module; its SQLAlchemy URL."""
    pgserver = pytest.importorskip("pgserver")
    folder = tmp_path_factory.mktemp("pg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR not set
        server = pgserver.get_server(folder, cleanup_mode="stop")
    socket_dir = server.get_uri().split("host=", 1)[1]
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    finally:
        server.cleanup()


def sink_on(url: str, tmp_path: Path, clock: ManualClock) -> tuple[LuminateSqlSink, Any]:
    state = open_state("sqlite://:memory:", clock=clock)
    sink = LuminateSqlSink(
        context(tmp_path, clock, state), LuminateSqlOptions.model_validate({"url": url})
    )
    return sink, state


def refund_state(url: str, transaction_id: int) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            row = (
                conn.execute(
                    sa.text("SELECT * FROM luminate_refund_state WHERE transaction_id = :t"),
                    {"t": transaction_id},
                )
                .mappings()
                .one()
            )
            return dict(row)
    finally:
        engine.dispose()


async def test_refunds_reconcile_on_postgresql_as_on_sqlite(
    postgres_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    sink, state = sink_on(postgres_url, tmp_path, clock)
    try:
        await sink.open(None)
        a, b = 2001001, 2001002
        first = await sink.write(
            [campaign(101, "Spring"), donation(a, "100.00"), donation(b, "100.00")],
            WritePlan("pg:run:1"),
        )
        assert first.outcomes == [Outcome.CREATED] * 3
        second = await sink.write(
            [
                donation(a, "70.00", "100.00", operation=UPDATE, when=later(5)),
                refund(3001, a, "30.00", before="100.00", when=later(5)),
                donation(b, "60.00", "100.00", operation=DELETE, when=later(9)),
                refund(3001, a, "30.00", before="100.00", when=later(5)),  # seen twice
            ],
            WritePlan("pg:run:2"),
        )
        assert second.outcomes == [
            Outcome.UPDATED,
            Outcome.CREATED,
            Outcome.DELETED,
            Outcome.UNCHANGED,
        ]
        assert await sink.was_applied("pg:run:2")
        assert not await sink.was_applied("pg:run:3")
    finally:
        await sink.aclose()
        state.close()

    partial = refund_state(postgres_url, a)
    assert partial["status"] == "partial"
    assert partial["online_refund_count"] == 1
    assert D(partial["online_refunds"]) == D("30.00")
    assert D(partial["inferred_offline_refunds"]) == 0
    full = refund_state(postgres_url, b)
    assert full["status"] == "full"
    assert D(full["full_refund_amount"]) == D("60.00")
    assert D(full["inferred_offline_refunds"]) == D("40.00")  # offline partial, no Refund

    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            kind = conn.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'luminate_donation' AND column_name = 'Payment_Amount'"
                )
            ).scalar_one()
            gift = (
                conn.execute(
                    sa.text('SELECT * FROM luminate_donation WHERE "TransactionId" = :t'), {"t": b}
                )
                .mappings()
                .one()
            )
    finally:
        engine.dispose()
    assert kind == "numeric"  # exact money on PostgreSQL
    assert gift["luminate_deleted"] is True
