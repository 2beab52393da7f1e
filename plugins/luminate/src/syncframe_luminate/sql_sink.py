"""The ``luminate_sql`` sink: Luminate records in typed SQL tables, the refund state beside them.

This module is what the plugin registers: the options and a thin sink that hands every call to
:class:`~syncframe_luminate._sql_store.LuminateSqlStore` (the tables, the upserts, the refund
state, exactly-once), built on first use. SQLAlchemy is imported then, not when the plugin
loads: every ``syncframe`` command loads the plugins, most never write to a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncframe.components import BatchResult, ComponentContext, JSONValue, Sink, WritePlan
from syncframe.records import Change

if TYPE_CHECKING:
    from syncframe_luminate._sql_store import LuminateSqlStore

__all__ = ["LuminateSqlOptions", "LuminateSqlSink"]


class LuminateSqlOptions(BaseModel):
    """Options of the ``luminate_sql`` sink."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "sqlite:///luminate.db",
        description="The database (SQLAlchemy URL); a relative SQLite path is read against the "
        "flow file's folder. PostgreSQL: postgresql+psycopg://user:password@host/database "
        "(install syncframe-luminate[postgres]).",
    )
    table_prefix: str = Field(
        "luminate_",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Prefix of the table names: <prefix><type in lower case>, "
        "<prefix>refund_state.",
    )
    on_delete: Literal["mark", "delete"] = Field(
        "mark",
        description="What a DELETE does: 'mark' keeps the row and sets luminate_deleted, "
        "luminate_deleted_at and (transactions) full_refund_amount — a fully refunded gift "
        "stays in the finance table; 'delete' removes the row.",
    )
    fsync: bool = Field(
        False,
        description="SQLite: force every batch to disk before acknowledging it (synchronous "
        "FULL; power-loss safe, slower). Off, a committed batch survives a crash of syncframe.",
    )

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        from syncframe_luminate._sql_store import check_url

        return check_url(value)


class LuminateSqlSink(Sink[LuminateSqlOptions]):
    """Writes Luminate records to one typed table per record type and keeps the refund state
    of every gift beside them (see :mod:`syncframe_luminate._sql_store`)."""

    Options: ClassVar[type[BaseModel]] = LuminateSqlOptions

    def __init__(self, context: ComponentContext, options: LuminateSqlOptions) -> None:
        super().__init__(context, options)
        self._store: LuminateSqlStore | None = None

    @property
    def store(self) -> LuminateSqlStore:
        """The sink's database side, built on first use."""
        if self._store is None:
            from syncframe_luminate._sql_store import LuminateSqlStore

            self._store = LuminateSqlStore(self.context, self.options)
        return self._store

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine of the sink's database."""
        return self.store.engine

    async def check(self) -> None:
        await self.store.check()

    async def open(self, position: JSONValue) -> None:
        await self.store.open(position)

    async def was_applied(self, token: str) -> bool:
        return await self.store.was_applied(token)

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        return await self.store.write(changes, plan)

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.aclose()
