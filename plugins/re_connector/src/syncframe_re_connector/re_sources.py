"""The sources that read Raiser's Edge: ``re_constituents`` and ``re_code_tables``.

``re_constituents`` reads the constituents changed in RE since its cursor, oldest change first,
and hands each on as the row of the constituents upload file (the contract's columns:
``MEMBER_ID`` = RE Constituent ID, ``EXCHANGE_ID`` = RE Import ID, ``CONS_ID`` = RE alias
"Luminate ID"...), chosen and shaped by the connector settings: which email phone type is the
primary email, an optional constituent-code filter, and whether inactive constituents are left
out. Its cursor is the ``(date_changed, import_id)`` of the last constituent it looked at, so a
run resumes right after it even when many constituents share one change date.

``re_code_tables`` reads RE's cross-reference code tables (Campaign, Fund, Appeal) and hands on
the entries Luminate has not been sent yet, or whose description changed; its cursor is what it
has sent, entry by entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncframe.components import (
    JSONValue,
    PermanentError,
    Source,
    SourceBatch,
)
from syncframe.records import Change, Operation
from syncframe_re_connector.re_client import re_client_of
from syncframe_re_connector.settings import RE_SYSTEM

__all__ = [
    "CODE_TABLE_ENTITY",
    "CONSTITUENT_ENTITY",
    "CodeTableOptions",
    "CodeTableSource",
    "ConstituentOptions",
    "ConstituentSource",
    "constituent_row",
]

CONSTITUENT_ENTITY: Final = "constituent"
CODE_TABLE_ENTITY: Final = "code_table_entry"

#: Step back from a change date to make the query interface's exclusive ``changed_since``
#: include that date (other constituents may share it).
_JUST_BEFORE: Final = timedelta(microseconds=1)

CodeTable = Literal["Campaign", "Fund", "Appeal"]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --------------------------------------------------------------------------------------------
# Constituents


class ConstituentOptions(BaseModel):
    """Options of the ``re_constituents`` source: the connector settings of the export."""

    model_config = ConfigDict(extra="forbid")

    email_phone_type: str = Field(
        "Email",
        min_length=1,
        description="The RE phone type whose number is the constituent's email address, sent as "
        "PRIMARY_EMAIL.",
    )
    home_phone_type: str = Field(
        "Home", min_length=1, description="The RE phone type sent as HOME_PHONE."
    )
    constituent_codes: list[str] = Field(
        default_factory=list,
        description="Export only constituents with at least one of these constituent codes; "
        "empty: every constituent.",
    )
    skip_inactive: bool = Field(True, description="Leave out constituents marked inactive in RE.")


def _phone(raw: Mapping[str, Any], phone_type: str) -> str:
    wanted = phone_type.casefold()
    for phone in raw.get("phones") or ():
        if isinstance(phone, Mapping) and _text(phone.get("type")).casefold() == wanted:
            return _text(phone.get("number")).strip()
    return ""


def _address(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    addresses = [a for a in raw.get("addresses") or () if isinstance(a, Mapping)]
    for address in addresses:
        if address.get("preferred"):
            return address
    return addresses[0] if addresses else {}


def constituent_row(raw: Mapping[str, Any], options: ConstituentOptions) -> dict[str, str]:
    """The constituents-file row of an RE constituent as the query interface shows it."""
    address = _address(raw)
    return {
        "MEMBER_ID": _text(raw.get("constituent_id")),
        "EXCHANGE_ID": _text(raw.get("import_id")),
        "CONS_ID": _text(raw.get("luminate_id")),
        "FIRST_NAME": _text(raw.get("first_name")),
        "MIDDLE_NAME": _text(raw.get("middle_name")),
        "LAST_NAME": _text(raw.get("last_name")),
        "PRIMARY_EMAIL": _phone(raw, options.email_phone_type),
        "HOME_STREET1": _text(address.get("street1")),
        "HOME_STREET2": _text(address.get("street2")),
        "HOME_CITY": _text(address.get("city")),
        "HOME_STATEPROV": _text(address.get("state")),
        "HOME_ZIP": _text(address.get("zip")),
        "HOME_COUNTRY": _text(address.get("country")),
        "HOME_PHONE": _phone(raw, options.home_phone_type),
    }


_Key = tuple[datetime, str]


def _parse_time(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise PermanentError(f"{what}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise PermanentError(f"{what}: {value!r} has no UTC offset")
    return moment


def _key_of(raw: Mapping[str, Any]) -> _Key:
    import_id = raw.get("import_id")
    if not isinstance(import_id, str) or not import_id:
        raise PermanentError(f"an RE constituent without an Import ID: {dict(raw)!r:.200}")
    return _parse_time(raw.get("date_changed"), f"constituent {import_id}: date_changed"), import_id


def _cursor_key(cursor: JSONValue | None) -> _Key | None:
    if cursor is None:
        return None
    try:
        return _parse_time(cursor["date_changed"], "the cursor"), str(cursor["import_id"])
    except (TypeError, KeyError):
        raise PermanentError(
            f"the cursor {cursor!r} is not one re_constituents wrote ({{date_changed, "
            "import_id}})"
        ) from None


def _cursor_of(key: _Key) -> dict[str, str]:
    return {"date_changed": key[0].isoformat(), "import_id": key[1]}


class ConstituentSource(Source[ConstituentOptions]):
    """RE constituents changed since the cursor, as rows of the constituents upload file.

    Each change has entity ``constituent``, keys ``import_id`` (the primary key) and
    ``constituent_id``, operation ``update`` (RE does not say whether Luminate has the
    constituent yet; the upload matches by CONS_ID, then MEMBER_ID, then PRIMARY_EMAIL) and the
    row's columns as fields. Constituents the settings leave out still move the cursor.
    """

    Options: ClassVar[type[BaseModel]] = ConstituentOptions
    system: ClassVar[str | None] = RE_SYSTEM
    entity: ClassVar[str] = CONSTITUENT_ENTITY

    async def check(self) -> None:
        await re_client_of(self.context).ping()

    def _left_out(self, raw: Mapping[str, Any]) -> str | None:
        if self.options.skip_inactive and raw.get("inactive"):
            return "inactive"
        wanted = self.options.constituent_codes
        if wanted and not set(wanted) & {_text(c) for c in raw.get("constituent_codes") or ()}:
            return "no matching constituent code"
        return None

    def _change(self, raw: Mapping[str, Any], key: _Key) -> Change:
        row = constituent_row(raw, self.options)
        return Change(
            self.context.connection_name,
            CONSTITUENT_ENTITY,
            {"import_id": key[1], "constituent_id": row["MEMBER_ID"]},
            Operation.UPDATE,
            row,
            occurred_at=key[0],
        )

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        client = re_client_of(self.context)
        limit = client.settings.page_size
        last = _cursor_key(cursor)
        handed_on = last
        since = None if last is None else last[0] - _JUST_BEFORE
        offset = 0
        batch: list[Change] = []
        left_out: dict[str, int] = {}
        while True:
            page = await client.constituents(since, limit=limit, offset=offset)
            fresh = 0
            for raw in page.constituents:
                key = _key_of(raw)
                if last is not None and key <= last:
                    continue  # read before: it shares its change date with the cursor
                last = key
                fresh += 1
                reason = self._left_out(raw)
                if reason is not None:
                    left_out[reason] = left_out.get(reason, 0) + 1
                    continue
                batch.append(self._change(raw, key))
                if len(batch) >= batch_size:
                    yield SourceBatch(batch, _cursor_of(key))
                    batch, handed_on = [], key
            if len(page.constituents) < limit:
                break
            if fresh:
                assert last is not None
                since, offset = last[0] - _JUST_BEFORE, 0
            else:
                offset += len(page.constituents)  # a page of one change date, all read before
        if last is not None and (batch or last != handed_on):
            # The rest, and constituents left out after the last full batch: the cursor moves
            # past them too.
            yield SourceBatch(batch, _cursor_of(last))
        if left_out:
            self.context.logger.info(
                "RE constituents not exported: %s",
                ", ".join(f"{count} {reason}" for reason, count in sorted(left_out.items())),
            )


# --------------------------------------------------------------------------------------------
# Code tables


def _all_tables() -> list[CodeTable]:
    return ["Campaign", "Fund", "Appeal"]


class CodeTableOptions(BaseModel):
    """Options of the ``re_code_tables`` source."""

    model_config = ConfigDict(extra="forbid")

    tables: list[CodeTable] = Field(
        default_factory=lambda: _all_tables(),
        min_length=1,
        description="The code tables sent (Campaign, Fund, Appeal).",
    )
    include_inactive: bool = Field(False, description="Also send entries marked inactive in RE.")


def _sent_of(cursor: JSONValue | None) -> dict[str, dict[str, str]]:
    if cursor is None:
        return {}
    if not isinstance(cursor, dict) or not all(isinstance(v, dict) for v in cursor.values()):
        raise PermanentError(
            f"the cursor {cursor!r:.200} is not one re_code_tables wrote ({{table: {{code: "
            "description}}}})"
        )
    return {str(t): {str(c): str(d) for c, d in codes.items()} for t, codes in cursor.items()}


class CodeTableSource(Source[CodeTableOptions]):
    """RE's cross-reference code tables, as rows of the code tables upload file.

    Each change has entity ``code_table_entry``, key ``entry`` (``Fund:GEN``), fields ``TABLE``,
    ``CODE`` and ``DESCRIPTION``; ``insert`` for an entry not sent before, ``update`` for one whose
    description changed. The cursor maps each table to the codes sent and their descriptions.
    """

    Options: ClassVar[type[BaseModel]] = CodeTableOptions
    system: ClassVar[str | None] = RE_SYSTEM
    entity: ClassVar[str] = CODE_TABLE_ENTITY

    async def check(self) -> None:
        await re_client_of(self.context).code_table(self.options.tables[0])

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        client = re_client_of(self.context)
        sent = _sent_of(cursor)
        now = self.context.clock.now()
        batch: list[Change] = []
        for table in dict.fromkeys(self.options.tables):
            entries = await client.code_table(table)
            for entry in sorted(entries, key=lambda e: _text(e.get("code"))):
                code = _text(entry.get("code")).strip()
                if not code or not (entry.get("active", True) or self.options.include_inactive):
                    continue
                description = _text(entry.get("description"))
                before = sent.get(table, {}).get(code)
                if before == description:
                    continue
                sent.setdefault(table, {})[code] = description
                batch.append(
                    Change(
                        self.context.connection_name,
                        CODE_TABLE_ENTITY,
                        {"entry": f"{table}:{code}"},
                        Operation.INSERT if before is None else Operation.UPDATE,
                        {"TABLE": table, "CODE": code, "DESCRIPTION": description},
                        occurred_at=now,
                    )
                )
                if len(batch) >= batch_size:
                    yield SourceBatch(batch, _copy(sent))
                    batch = []
        if batch:
            yield SourceBatch(batch, _copy(sent))


def _copy(sent: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {table: dict(codes) for table, codes in sent.items()}
