"""``syncframe luminate refunds``: the refund state the ``luminate_sql`` sink keeps, as a table.

Finance people ask "what was refunded, how, and does it add up?"; the sink answers it in the
``<prefix>refund_state`` table of its database, and this command prints that table (read only)
with filters by transaction and status. :func:`register` adds the ``luminate`` command group;
the plugin calls it from ``syncframe_register_commands``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from syncframe.cli import UserError, console, guarded
from syncframe.components import PermanentError
from syncframe_luminate.reconciler import RefundStatus

# SQLAlchemy and the sink's table definitions are imported when the command runs: the group is
# added to every `syncframe` command line, which must start quickly.

__all__ = ["build_group", "register"]

_STATUS_STYLE = {"none": "dim", "partial": "yellow", "full": "red"}


def register(app: typer.Typer) -> None:
    """Add the ``luminate`` command group to the ``syncframe`` command line."""
    app.add_typer(build_group(), name="luminate")


def build_group() -> typer.Typer:
    """The ``luminate`` command group (``refunds``)."""
    group = typer.Typer(
        help="Luminate Online: look at what the luminate sinks wrote.", no_args_is_help=True
    )

    @group.callback()
    def _group() -> None:
        """Luminate Online: look at what the luminate sinks wrote."""

    @group.command("refunds")
    @guarded
    def refunds(
        db_url: str = typer.Argument(
            ...,
            metavar="DB_URL",
            help="The luminate_sql sink's database: a SQLAlchemy URL "
            "(sqlite:///luminate.db, postgresql+psycopg://...) or a SQLite file path.",
        ),
        transaction: int | None = typer.Option(
            None, "--transaction", help="Only this transaction (TransactionId)."
        ),
        status: RefundStatus | None = typer.Option(
            None, "--status", help="Only transactions with this refund status."
        ),
        limit: int = typer.Option(100, "--limit", min=1, help="At most this many rows."),
        table_prefix: str = typer.Option(
            "luminate_", "--table-prefix", help="The sink's table_prefix option."
        ),
    ) -> None:
        """Show the refund state of transactions: original and current amounts, online and
        (inferred) offline refunds, full refunds, and warnings where numbers do not add up."""
        show_refunds(db_url, transaction, status, limit, table_prefix)

    return group


def _url(db_url: str) -> str:
    """A URL from what was typed: a URL as it is, anything else a SQLite file that must exist."""
    from sqlalchemy import exc
    from sqlalchemy.engine import make_url

    from syncframe_luminate._sql_store import redact

    if "://" not in db_url:
        path = Path(db_url).expanduser()
        if not path.is_file():
            raise UserError(f"{db_url}: no such database file")
        return f"sqlite:///{path.resolve()}"
    try:
        url = make_url(db_url)
    except exc.ArgumentError:
        raise UserError(f"{redact(db_url)} is not a database URL") from None
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not Path(database).expanduser().is_file():
            raise UserError(f"{redact(db_url)}: no such database file")
    return db_url


def show_refunds(
    db_url: str,
    transaction: int | None,
    status: RefundStatus | None,
    limit: int,
    table_prefix: str,
) -> None:
    """Print the rows of the refund state table that match."""
    import sqlalchemy as sa
    from sqlalchemy import exc

    from syncframe_luminate._sql_store import make_engine, redact, refund_state_table

    url = _url(db_url)
    where = redact(url)
    table = refund_state_table(sa.MetaData(), table_prefix)
    conditions: list[Any] = []
    if transaction is not None:
        conditions.append(table.c.transaction_id == transaction)
    if status is not None:
        conditions.append(table.c.status == status.value)
    try:
        engine = make_engine(url, writer=False)
    except PermanentError as error:
        raise UserError(str(error)) from None
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table.name):
                raise UserError(
                    f"{where} has no table {table.name}: no luminate_sql sink has written "
                    "there (or it uses another --table-prefix)"
                )
            count = sa.select(sa.func.count()).select_from(table)
            select = sa.select(table).order_by(table.c.transaction_id).limit(limit)
            for condition in conditions:
                count = count.where(condition)
                select = select.where(condition)
            total = conn.execute(count).scalar_one()
            rows = list(conn.execute(select).mappings())
    except exc.SQLAlchemyError as error:
        text = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise UserError(f"{where}: {text}") from None
    finally:
        engine.dispose()
    out = console()
    if not rows:
        out.print(Text("no transactions match" if conditions else "no refund state yet"))
        return
    out.print(_table(rows))
    shown = f"{len(rows)} of {total} transactions" if total > len(rows) else f"{total} transactions"
    out.print(Text(shown, style="dim"))


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _table(rows: list[Any]) -> Table:
    table = Table(show_lines=False)
    table.add_column("transaction", justify="right")
    table.add_column("type")
    table.add_column("original", justify="right")
    table.add_column("current", justify="right")
    table.add_column("online refunds", justify="right")
    table.add_column("offline (inferred)", justify="right")
    table.add_column("full refund", justify="right")
    table.add_column("status")
    table.add_column("warnings", overflow="fold")
    for row in rows:
        count = row["online_refund_count"]
        online = f"{count} · {_money(row['online_refunds'])}" if count else "-"
        full = "-"
        if row["full_refund_amount"] is not None:
            how = "online" if row["full_refund_online"] else "offline"
            full = f"{_money(row['full_refund_amount'])} {how}"
        offline = row["inferred_offline_refunds"]
        table.add_row(
            Text(str(row["transaction_id"])),
            Text(row["transaction_type"] or "-"),
            Text(_money(row["original_amount"])),
            Text(_money(row["current_amount"])),
            Text(online),
            Text(_money(offline) if offline else "-"),
            Text(full),
            Text(row["status"], style=_STATUS_STYLE.get(row["status"], "")),
            Text(row["warnings"] or "", style="yellow"),
        )
    return table
