"""Contacts changed in Salesforce since the last run (source ``salesforce_contacts``): the event
step of a SmartSYNC-style flow out of Salesforce.

One SOQL query per run, ordered by ``SystemModstamp`` (the time of any change, including
system-driven ones, which ``LastModifiedDate`` misses), read page by page through
``nextRecordsUrl``:

    SELECT <fields> FROM Contact WHERE SystemModstamp >= <watermark> [AND (<where>)]
      ORDER BY SystemModstamp, Id

**Exact across same-second changes.** ``SystemModstamp`` has whole seconds, so many records
can share one. The cursor is the watermark (the newest ``SystemModstamp`` handed on) and, for
each record handed on at exactly that second, a short fingerprint of what was read. The next
query starts *at* the watermark (``>=``, not ``>``): a record changed later in that same second
comes back and, its fingerprint being new, is read again; one already read is skipped. So a
change is neither lost nor read twice, wherever a batch or a page boundary falls.

**Deletes through ``queryAll`` and ``IsDeleted``**, not the ``deleted/`` resource: deleted
Contacts stay in the recycle bin for 15 days with ``IsDeleted = true`` and the
``SystemModstamp`` of their deletion, so the same query over ``queryAll`` hands them on in
order with everything else, under the same watermark, with their last values (the constituent
id and email a flow needs to find the counterpart). ``deleted/`` would need a second cursor,
works in whole minutes (a window must end at least a minute after it starts, and only covers
completed minutes) and gives ids alone.

Every change carries ``Origin(system=<connection>)`` and ``occurred_at`` = ``SystemModstamp``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from syncframe.components import ComponentContext, JSONValue, PermanentError, Source, SourceBatch
from syncframe.records import Change, Operation, Origin
from syncframe_smartsync.salesforce_client import (
    QueryLocatorExpired,
    SalesforceApiError,
    SalesforceClient,
    check_contact_access,
    client_for,
)
from syncframe_smartsync.salesforce_contacts import (
    contact_fields,
    fingerprint,
    modstamp,
    select_fields,
)
from syncframe_smartsync.salesforce_models import QueryPage, parse_datetime
from syncframe_smartsync.salesforce_soql import soql_condition, soql_datetime, soql_text

__all__ = [
    "ENTITY",
    "SalesforceContactSource",
    "SalesforceContactSourceOptions",
    "SalesforceCursor",
]

#: The entity of the changes (and of the ledger entries of the contacts sink).
ENTITY = "contact"


class SalesforceContactSourceOptions(BaseModel):
    """Options of the ``salesforce_contacts`` source."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(
        None,
        description=(
            "On the first run, read Contacts changed at or after this time (default: every "
            "Contact). Set it to when the initial alignment was done."
        ),
    )
    include_deletes: bool = Field(
        True,
        description=(
            "Also hand on Contacts deleted (in the recycle bin, read through queryAll) as "
            "delete changes."
        ),
    )
    where: str | None = Field(
        None,
        description=(
            "A SOQL condition the Contacts must also meet, e.g. \"MailingCountry = 'United "
            "Kingdom'\" (checked by `syncframe check`)."
        ),
    )
    skip_own_changes: bool = Field(
        False,
        description=(
            "Leave out changes made last by the connection's own user (LastModifiedById), "
            "i.e. what syncframe itself wrote into Salesforce."
        ),
    )

    @field_validator("where")
    @classmethod
    def _a_condition(cls, value: str | None) -> str | None:
        return soql_condition(value)


class SalesforceCursor(BaseModel):
    """Where reading resumes: the newest ``SystemModstamp`` handed on, and the fingerprint of
    every record handed on at exactly that second (id -> fingerprint)."""

    watermark: AwareDatetime | None = None
    seen: dict[str, str] = Field(default_factory=dict)

    def already_read(self, record_id: str, stamp: datetime, print_: str) -> bool:
        """Whether this very version of the record was handed on before."""
        return stamp == self.watermark and self.seen.get(record_id) == print_

    def hand_on(self, record_id: str, stamp: datetime, print_: str) -> None:
        """Note that the record ``record_id`` read at ``stamp`` was handed on (in place: the
        batches get a copy, :meth:`as_json`)."""
        if self.watermark is None or stamp > self.watermark:
            self.watermark = stamp
            self.seen = {}
        self.seen[record_id] = print_

    def as_json(self) -> JSONValue:
        return self.model_dump(mode="json")


class SalesforceContactSource(Source[SalesforceContactSourceOptions]):
    """Contacts changed in Salesforce since the last run, oldest change first (deletes too)."""

    Options: ClassVar[type[BaseModel]] = SalesforceContactSourceOptions
    system: ClassVar[str | None] = "salesforce"
    entity: ClassVar[str] = ENTITY

    def __init__(self, context: ComponentContext, options: SalesforceContactSourceOptions) -> None:
        super().__init__(context, options)
        self.client: SalesforceClient = client_for(context)
        self._fields = select_fields(self.client.settings.external_id_field)

    async def check(self) -> None:
        """Log in, find the External ID field, and run the query once (LIMIT 1): the
        credentials, the field and the ``where`` condition work."""
        await check_contact_access(self.client)
        conditions = await self._conditions(None)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        try:
            await self.client.query(f"SELECT Id FROM Contact{where} LIMIT 1")
        except SalesforceApiError as exc:
            raise PermanentError(f"the source's query is refused: {exc}") from None

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        position = (
            SalesforceCursor.model_validate(cursor)
            if cursor is not None
            else SalesforceCursor(watermark=self.options.since)
        )
        pending: list[Change] = []
        page = await self._query(position, batch_size)
        while True:
            for record in page.records:
                record_id = str(record.get("Id"))
                stamp = modstamp(record)
                print_ = fingerprint(record)
                if position.already_read(record_id, stamp, print_):
                    continue
                position.hand_on(record_id, stamp, print_)
                pending.append(self._change(record, stamp))
                if len(pending) == batch_size:
                    yield SourceBatch(pending, position.as_json())
                    pending = []
            if page.done or page.next_records_url is None:
                break
            try:
                page = await self.client.query_more(page.next_records_url, page_size=batch_size)
            except QueryLocatorExpired:
                # The query's cursor expired (15 minutes unused, e.g. behind a slow sink): run
                # the query again from what was handed on; the fingerprints skip the rest.
                self.context.logger.info(
                    "flow %s: Salesforce query locator expired; querying again from %s",
                    self.context.flow,
                    position.watermark,
                )
                page = await self._query(position, batch_size)
        if pending:
            yield SourceBatch(pending, position.as_json())

    # ---- the query ---------------------------------------------------------------------------
    async def _conditions(self, watermark: datetime | None) -> list[str]:
        conditions: list[str] = []
        if watermark is not None:
            conditions.append(f"SystemModstamp >= {soql_datetime(watermark)}")
        if self.options.where is not None:
            conditions.append(f"({self.options.where})")
        if self.options.skip_own_changes:
            user_id = await self.client.user_id()
            if user_id is None:
                raise PermanentError(
                    "skip_own_changes needs the session user's id, and the token answer did "
                    "not carry an identity URL"
                )
            conditions.append(f"LastModifiedById != {soql_text(user_id)}")
        return conditions

    async def _query(self, position: SalesforceCursor, batch_size: int) -> QueryPage:
        conditions = await self._conditions(position.watermark)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        soql = (
            f"SELECT {', '.join(self._fields)} FROM Contact{where} "
            "ORDER BY SystemModstamp ASC, Id ASC"
        )
        return await self.client.query(
            soql, include_deleted=self.options.include_deletes, page_size=batch_size
        )

    def _change(self, record: Mapping[str, Any], stamp: datetime) -> Change:
        if record.get("IsDeleted") is True:
            operation = Operation.DELETE
        elif parse_datetime(record.get("CreatedDate")) == stamp:
            operation = Operation.INSERT
        else:
            operation = Operation.UPDATE
        connection = self.context.connection_name
        return Change(
            # The connection's name: the ledger and identity links of writes into this org
            # are recorded under it, so loop guards recognise them when read back.
            system=connection,
            entity=ENTITY,
            keys={"id": str(record["Id"])},
            operation=operation,
            fields=contact_fields(record, self.client.settings.external_id_field),
            occurred_at=stamp,
            origin=Origin(system=connection),
        )
