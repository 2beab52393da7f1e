"""The org's Contacts: records, the recycle bin, the delete log and the external id index.

Every write stamps ``LastModifiedDate`` and ``SystemModstamp`` (and ``LastModifiedById``) from
the simulator clock, in whole seconds as Salesforce stores them. A delete moves the record to
the recycle bin (``IsDeleted = true``, still visible to ``queryAll``) and writes it to the
delete log ``sobjects/Contact/deleted`` reads; after :data:`RECYCLE_BIN_DAYS` days both are
purged and the record is gone for good. Not thread-safe: the simulator holds its lock around
every call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from salesforce_simulator.errors import (
    ErrorItem,
    SalesforceError,
    entity_is_deleted,
    not_found,
)
from salesforce_simulator.ids import IdMinter
from salesforce_simulator.schema import CONTACT, CONTACT_KEY_PREFIX, FieldDef, render_value
from syncframe.clock import Clock

__all__ = ["RECYCLE_BIN_DAYS", "ContactStore", "MultipleMatches", "UpsertOutcome"]

#: How long a deleted record stays in the recycle bin (and the delete log).
RECYCLE_BIN_DAYS: Final = 15
#: Where the Contact id sequence starts (so ids carry letters, as real ones do).
_FIRST_CONTACT: Final = 62**5


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    """What an upsert did: the record's id and whether it was created."""

    record_id: str
    created: bool


def _key(value: Any) -> str:
    """How external id values are compared: text, case-insensitively (the default of a
    text External ID field)."""
    return str(value).casefold()


class ContactStore:
    """Contacts in creation order, with the recycle bin and the delete log."""

    sobject = CONTACT

    def __init__(self, clock: Clock, *, unique_external_id: bool = True) -> None:
        self.clock = clock
        #: Whether the external id fields refuse a value another record has (``DUPLICATE_VALUE``).
        #: With ``False`` several records may share one, and upserts on it answer 300.
        self.unique_external_id = unique_external_id
        self.records: dict[str, dict[str, Any]] = {}
        self.minter = IdMinter(CONTACT_KEY_PREFIX, start=_FIRST_CONTACT)
        #: Record id -> deletion time, oldest first (what ``deleted/`` reads).
        self.delete_log: dict[str, datetime] = {}
        #: The deletion time of the newest entry purged from the delete log, if any.
        self.purged_through: datetime | None = None
        self._external: dict[str, dict[str, list[str]]] = {
            field.name: {} for field in CONTACT.external_id_fields
        }
        #: While a transaction is open: each touched record as it was before (``None``: it did
        #: not exist) and its delete log entry.
        self._undo: dict[str, tuple[dict[str, Any] | None, datetime | None]] | None = None

    def now(self) -> datetime:
        """The simulator's time in whole seconds, as Salesforce stamps records."""
        return self.clock.now().replace(microsecond=0)

    def clear(self) -> None:
        self.records.clear()
        self.delete_log.clear()
        self.purged_through = None
        self.minter.restart(_FIRST_CONTACT)
        for index in self._external.values():
            index.clear()

    # -- transactions (sObject Collections with allOrNone) ----------------------------------

    def begin(self) -> None:
        """Start remembering what writes change, so :meth:`rollback` can undo them."""
        self._undo = {}

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo every write since :meth:`begin` (ids handed out are not reused)."""
        undo, self._undo = self._undo or {}, None
        for record_id, (before, logged) in undo.items():
            current = self.records.pop(record_id, None)
            if current is not None:
                self._unindex(current)
            self.delete_log.pop(record_id, None)
            if before is not None:
                self.records[record_id] = before
                self._index(before)
            if logged is not None:
                self.delete_log[record_id] = logged
        self.delete_log = dict(sorted(self.delete_log.items(), key=lambda item: item[1]))

    def _touch(self, record_id: str) -> None:
        if self._undo is not None and record_id not in self._undo:
            record = self.records.get(record_id)
            self._undo[record_id] = (
                dict(record) if record is not None else None,
                self.delete_log.get(record_id),
            )

    # -- reads -------------------------------------------------------------------------------

    def get(self, record_id: str) -> dict[str, Any]:
        """A record that is not deleted; 404 ``NOT_FOUND`` / ``ENTITY_IS_DELETED`` otherwise."""
        record = self.records.get(record_id)
        if record is None:
            raise not_found()
        if record["IsDeleted"]:
            raise entity_is_deleted()
        return record

    def rows(self, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record in creation order (recycle bin too with ``include_deleted``)."""
        for record in self.records.values():
            if include_deleted or not record["IsDeleted"]:
                yield record

    def by_external_id(self, field: FieldDef, value: str) -> list[dict[str, Any]]:
        """The records (not deleted) whose external id field ``field`` holds ``value``."""
        ids = self._external[field.name].get(_key(value), [])
        return [self.records[record_id] for record_id in ids]

    def render(
        self, record: Mapping[str, Any], fields: tuple[FieldDef, ...], version: str
    ) -> dict[str, Any]:
        """A record as the API shows it: ``attributes`` first, then ``fields`` in order."""
        out: dict[str, Any] = {
            "attributes": {
                "type": CONTACT.name,
                "url": f"/services/data/v{version}/sobjects/{CONTACT.name}/{record['Id']}",
            }
        }
        for field in fields:
            out[field.name] = render_value(record[field.name])
        return out

    # -- writes ------------------------------------------------------------------------------

    def create(
        self, values: Mapping[str, Any], actor: str, *, audit: Mapping[str, datetime] | None = None
    ) -> str:
        """Add a record from coerced ``values`` (see ``SObjectDef.writable_values``), made by
        the user ``actor``; returns its id. ``audit`` may backdate CreatedDate and
        LastModifiedDate (a data load with "Set Audit Fields")."""
        now = self.now()
        record: dict[str, Any] = dict.fromkeys(field.name for field in CONTACT.fields)
        record.update(
            IsDeleted=False,
            HasOptedOutOfEmail=False,
            CreatedDate=now,
            CreatedById=actor,
            LastModifiedDate=now,
            LastModifiedById=actor,
            SystemModstamp=now,
            OwnerId=actor,
        )
        record.update(values)
        if audit:
            record.update(audit)
        self._check(record, None)
        record["Id"] = self.minter.mint()
        record["Name"] = _full_name(record)
        self._touch(record["Id"])
        self.records[record["Id"]] = record
        self._index(record)
        return str(record["Id"])

    def update(self, record_id: str, values: Mapping[str, Any], actor: str) -> None:
        """Change a record; an update that changes nothing still stamps it, as Salesforce does."""
        record = self.get(record_id)
        changed = {**record, **values}
        self._check(changed, record_id)
        self._touch(record_id)
        self._unindex(record)
        record.update(values)
        record["Name"] = _full_name(record)
        self._stamp(record, actor)
        self._index(record)

    def delete(self, record_id: str, actor: str) -> None:
        """Move a record to the recycle bin and log the deletion."""
        record = self.get(record_id)
        self._touch(record_id)
        self._unindex(record)
        record["IsDeleted"] = True
        self._stamp(record, actor)
        self.delete_log[record_id] = record["SystemModstamp"]

    def undelete(self, record_id: str, actor: str) -> None:
        """Restore a record from the recycle bin (it is no longer reported as deleted)."""
        record = self.records.get(record_id)
        if record is None:
            raise not_found()
        if not record["IsDeleted"]:
            raise SalesforceError.one(
                400, "UNDELETE_FAILED", f"Entity is not in the recycle bin: {record_id}"
            )
        self._check({**record, "IsDeleted": False}, record_id)
        self._touch(record_id)
        record["IsDeleted"] = False
        self._stamp(record, actor)
        self._index(record)
        del self.delete_log[record_id]

    def upsert(
        self,
        field: FieldDef,
        value: str,
        values: Mapping[str, Any],
        actor: str,
        *,
        update_only: bool = False,
        version: str,
    ) -> UpsertOutcome:
        """Create or update the record whose external id ``field`` is ``value``.

        No match: a record is created with ``field = value`` (404 with ``update_only``); one
        match: it is updated; several: 300 with their URLs, nothing written.
        """
        given = values.get(field.name)
        if field.name in values and (given is None or _key(given) != _key(value)):
            raise SalesforceError.one(
                400,
                "INVALID_FIELD",
                f"{field.name}: the value in the request body ({given}) does not match the "
                f"external id in the URL ({value})",
                [field.name],
            )
        matches = self.by_external_id(field, value)
        if len(matches) > 1:
            raise MultipleMatches(
                [
                    f"/services/data/v{version}/sobjects/{CONTACT.name}/{match['Id']}"
                    for match in matches
                ]
            )
        if matches:
            self.update(matches[0]["Id"], values, actor)
            return UpsertOutcome(matches[0]["Id"], created=False)
        if update_only:
            raise not_found()
        return UpsertOutcome(self.create({**values, field.name: value}, actor), created=True)

    # -- polling -----------------------------------------------------------------------------

    def updated_ids(self, start: datetime, end: datetime) -> list[str]:
        """Ids of records (not deleted) whose ``SystemModstamp`` is in ``[start, end)``, oldest
        change first."""
        changed = [
            record
            for record in self.records.values()
            if not record["IsDeleted"] and start <= record["SystemModstamp"] < end
        ]
        changed.sort(key=lambda record: record["SystemModstamp"])
        return [record["Id"] for record in changed]

    def deleted_in(self, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
        """``(id, deletedDate)`` of the delete log entries in ``[start, end)``."""
        return [
            (record_id, deleted_at)
            for record_id, deleted_at in self.delete_log.items()
            if start <= deleted_at < end
        ]

    def purge(self) -> int:
        """Empty the recycle bin of records deleted more than :data:`RECYCLE_BIN_DAYS` ago;
        returns how many were purged."""
        horizon = self.now() - timedelta(days=RECYCLE_BIN_DAYS)
        purged = 0
        for record_id, deleted_at in list(self.delete_log.items()):
            if deleted_at >= horizon:
                break  # the log is in deletion order
            del self.delete_log[record_id]
            del self.records[record_id]
            self.purged_through = deleted_at
            purged += 1
        return purged

    # -- helpers -----------------------------------------------------------------------------

    def _stamp(self, record: dict[str, Any], actor: str) -> None:
        now = self.now()
        record["LastModifiedDate"] = now
        record["SystemModstamp"] = now
        record["LastModifiedById"] = actor

    def _check(self, record: Mapping[str, Any], record_id: str | None) -> None:
        """Refuse a record Salesforce would not save: a missing required field, or an
        external id another live record has (when they are unique)."""
        problems: list[ErrorItem] = []
        missing = [
            field.name
            for field in CONTACT.fields
            if not field.nillable
            and field.createable
            and record.get(field.name) is None
            and field.type != "boolean"
        ]
        if missing:
            problems.append(
                ErrorItem(
                    f"Required fields are missing: [{', '.join(missing)}]",
                    "REQUIRED_FIELD_MISSING",
                    tuple(missing),
                )
            )
        if self.unique_external_id:
            for field in CONTACT.external_id_fields:
                value = record.get(field.name)
                if not field.unique or value is None:
                    continue
                holders = [
                    other
                    for other in self._external[field.name].get(_key(value), [])
                    if other != record_id
                ]
                if holders:
                    problems.append(
                        ErrorItem(
                            f"duplicate value found: {field.name} duplicates value on record "
                            f"with id: {holders[0]}",
                            "DUPLICATE_VALUE",
                            (),
                        )
                    )
        if problems:
            raise SalesforceError(400, problems)

    def _index(self, record: Mapping[str, Any]) -> None:
        for name, index in self._external.items():
            value = record[name]
            if value is not None and not record["IsDeleted"]:
                index.setdefault(_key(value), []).append(record["Id"])

    def _unindex(self, record: Mapping[str, Any]) -> None:
        for name, index in self._external.items():
            value = record[name]
            if value is None:
                continue
            holders = index.get(_key(value), [])
            if record["Id"] in holders:
                holders.remove(record["Id"])
                if not holders:
                    del index[_key(value)]


class MultipleMatches(Exception):
    """An external id matched several records: 300 with their URLs."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(f"{len(urls)} records match")
        self.urls = urls


def _full_name(record: Mapping[str, Any]) -> str:
    return " ".join(part for part in (record["FirstName"], record["LastName"]) if part)
