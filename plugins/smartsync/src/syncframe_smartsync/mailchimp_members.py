"""Members changed in a Mailchimp audience, polled (source ``mailchimp_members``).

The event step of Mailchimp -> Raiser's Edge flows when webhooks are not used: each run reads
the members whose ``last_changed`` moved since the last run, oldest change first, a page per
batch (:mod:`syncframe_smartsync.mailchimp_paging` says how it stays exact when many members
change in the same second). Every change carries the common vocabulary (``email``,
``email_status``, ``constituent_id``, ``first_name``...; see
:mod:`syncframe_smartsync.mailchimp_fields`), is keyed by the subscriber hash (``id``, the key
the sink and the lookup report too, so the loop guard's ledger recognises syncframe's own
writes) and the email, and happened at the member's ``last_changed``.

An archived member (deleted in Mailchimp, or by the API) is a ``delete``; a member deleted
for good is not listed by Mailchimp any more, so only the webhook source hears of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from syncframe.components import ComponentContext, JSONValue, Source, SourceBatch
from syncframe.records import Change, Operation, Origin
from syncframe_smartsync.mailchimp_client import MailchimpClient, MemberRecord, client_for
from syncframe_smartsync.mailchimp_fields import FieldMap, audience_fields, member_fields
from syncframe_smartsync.mailchimp_paging import Watermark, changed_pages
from syncframe_smartsync.mailchimp_settings import SYSTEM, settings_of

__all__ = ["ENTITY", "MemberSource", "MemberSourceOptions", "member_change"]

#: The entity of every Mailchimp change.
ENTITY = "member"


class MemberSourceOptions(BaseModel):
    """Options of the ``mailchimp_members`` source."""

    model_config = ConfigDict(extra="forbid")

    list_id: str | None = Field(
        None, description="Another audience of the account than the connection's list_id."
    )
    since: AwareDatetime | None = Field(
        None,
        description=(
            "On the first run, read members changed after this time (default: every member; "
            "SmartSYNC-style flows start from the day the audience and the list were aligned)."
        ),
    )
    include_empty: bool = Field(
        False,
        description=(
            "Carry merge fields Mailchimp holds no value for as empty fields (false: leave them "
            "out, so an empty value never blanks the other system's)."
        ),
    )

    @field_validator("list_id")
    @classmethod
    def _audience(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


def member_change(
    connection: str, fields_map: FieldMap, member: MemberRecord, *, include_empty: bool
) -> Change:
    """The change a member read from the audience makes (``delete`` for an archived one)."""
    return Change(
        system=connection,
        entity=ENTITY,
        keys={"id": member.id, "email": member.email_address},
        operation=Operation.DELETE if member.status == "archived" else Operation.UPDATE,
        fields=member_fields(fields_map, member, include_empty=include_empty),
        occurred_at=member.last_changed,
        origin=Origin(system=connection),
    )


class MemberSource(Source[MemberSourceOptions]):
    """Members of a Mailchimp audience changed since the last run, oldest change first."""

    Options = MemberSourceOptions
    system = SYSTEM
    entity = ENTITY

    def __init__(self, context: ComponentContext, options: MemberSourceOptions) -> None:
        super().__init__(context, options)
        self.settings = settings_of(context)
        self.list_id = options.list_id or self.settings.list_id
        self.fields_map = FieldMap(self.settings)
        self._client: MailchimpClient | None = None

    @property
    def client(self) -> MailchimpClient:
        """The API client (made on first use, on the engine's HTTP client)."""
        if self._client is None:
            self._client = client_for(self.context)
        return self._client

    async def check(self) -> None:
        """The key opens the account, the audience exists and has the mapped merge fields."""
        await audience_fields(self.client, self.list_id, require_mapped=True)

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        pages = changed_pages(
            self.client,
            self.list_id,
            Watermark.from_json(cursor),
            page_size=min(batch_size, self.settings.page_size),
            start=self.options.since,
        )
        connection = self.context.connection_name
        async for members, position in pages:
            changes = [
                member_change(
                    connection, self.fields_map, member, include_empty=self.options.include_empty
                )
                for member in members
            ]
            yield SourceBatch(changes, position.to_json())
