"""The Luminate Online web services without SOAP: every operation's rules, on the simulator clock.

``soap.py``/``app.py`` parse a request, call one :class:`WebServices` method and render what it
returns (records as nested dicts keyed by WSDL element names, in schema order) or the
:class:`LuminateFault` it raises. The admin side (seeding, refunds, site-admin edits, snapshot)
is here too, so both doors change the same state and the same change logs.

Where the public documentation is silent the choices are listed in ``docs/simulators.md``
("Luminate web services: choices where the documentation is silent").
"""

from __future__ import annotations

import functools
import hashlib
import random
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Concatenate, Final, Literal, ParamSpec, TypeVar

from pydantic import SecretStr

from luminate_simulator._faults import (
    FAULT_CODES,
    AdminError,
    AdminNotFound,
    FaultType,
    LuminateFault,
)
from luminate_simulator._fields import (
    Record,
    Selection,
    coerce_value,
    parse_selection,
    project,
    render_json,
    value_at,
)
from luminate_simulator._query import parse_query
from luminate_simulator._stores import (
    CONSTITUENT_ELEMENT,
    AssociatedStore,
    RefundOutcome,
    TransactionStore,
)
from luminate_simulator.changelog import ChangeLog
from luminate_simulator.constituents import (
    SOAP_FIELDS,
    Constituent,
    ConstituentDirectory,
    ConstituentFieldError,
)
from luminate_simulator.schema import (
    FIND,
    GET_DELETES,
    GET_INSERTS,
    GET_UPDATES,
    QUERY,
    RECORD_TYPES,
    RecordType,
)
from syncframe.clock import Clock

__all__ = [
    "DEFAULT_PARTITION_ID",
    "DEFAULT_PARTITION_NAME",
    "FAULT_CODES",
    "MAX_DOWNLOAD_PAGE_SIZE",
    "MAX_QUERY_PAGE_SIZE",
    "MAX_UPLOAD_RECORDS",
    "RESULT_CODES",
    "SESSION_IDLE_TIMEOUT",
    "SYNC_LOG_RETENTION",
    "AdminError",
    "AdminNotFound",
    "ApiUser",
    "FaultType",
    "IncrementalKind",
    "LuminateFault",
    "Partition",
    "Record",
    "RecordResult",
    "RefundOutcome",
    "SyncWindow",
    "WebServices",
    "constituent_record",
]

IncrementalKind = Literal["inserts", "updates", "deletes"]

SESSION_IDLE_TIMEOUT: Final = timedelta(minutes=30)
# The real service keeps a SyncId auditable for 90 days; older windows (and the request log each
# holds, one entry per download call) are dropped so a long-running simulator does not grow.
SYNC_LOG_RETENTION: Final = timedelta(days=90)
MAX_DOWNLOAD_PAGE_SIZE: Final = 200
MAX_QUERY_PAGE_SIZE: Final = 1000
MAX_UPLOAD_RECORDS: Final = 50
DEFAULT_PARTITION_ID: Final = 1001
DEFAULT_PARTITION_NAME: Final = "All Constituents"
ADMIN: Final = "admin"
# Change-log actors that are not API users: the admin console and the constituent upload.
RESERVED_ACTORS: Final = frozenset({ADMIN, "import"})
# A window's Start when there was no successful sync before: the beginning of time.
BEGINNING: Final = datetime(1, 1, 1, tzinfo=UTC)

# Per-record result codes (documented numbers; 15/16 inferred from the REST API's codes).
RESULT_CODES: Final[dict[str, int]] = {
    "OK": 0,
    "SERVER_ERROR": 1,
    "TOO_MANY_RECORDS": 5,
    "REQUIRED_FIELDS_MISSING": 10,
    "MATCH_EXISTING": 11,
    "DUPLICATE_USER_NAME": 12,
    "DUPLICATE_EMAIL": 13,
    "UPDATE_MATCH_AMBIGUOUS": 15,
    "RECORD_NOT_FOUND": 16,
}

_OPERATIONS: Final[dict[str, str]] = {
    "inserts": GET_INSERTS,
    "updates": GET_UPDATES,
    "deletes": GET_DELETES,
}
_CONSTITUENT: Final = RECORD_TYPES["Constituent"]
_COLUMN_OF_PATH: Final[dict[str, str]] = {path: column for column, path in SOAP_FIELDS.items()}
# Classification flags of a record within a window.
_INSERTED, _DELETED, _FOREIGN = 1, 2, 4

P = ParamSpec("P")
R = TypeVar("R")


def _locked(
    method: Callable[Concatenate[WebServices, P], R],
) -> Callable[Concatenate[WebServices, P], R]:
    """Serialise calls: Starlette may run the SOAP and admin handlers on worker threads."""

    def wrapper(self: WebServices, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


# -- value types -------------------------------------------------------------------------------


@dataclass(slots=True)
class ApiUser:
    """An administrator allowed to use the web services (seeded through the admin API)."""

    name: str
    password: SecretStr
    created_at: datetime


@dataclass(slots=True)
class _Session:
    session_id: str
    user: str
    created_at: datetime
    last_used: datetime


@dataclass(frozen=True, slots=True)
class Partition:
    """A data-sync partition. ``rule`` = (Constituent field path, value) or None for everyone."""

    partition_id: int
    name: str
    description: str
    rule: tuple[str, str] | None

    def record(self) -> Record:
        return {
            "PartitionId": self.partition_id,
            "Name": self.name,
            "Description": self.description,
        }

    def admits(self, cons: Constituent | None) -> bool:
        if self.rule is None:
            return True
        if cons is None:
            return False
        path, expected = self.rule
        column = _COLUMN_OF_PATH.get(path)
        # Read the one attribute when it has an upload column: partitions are judged per record.
        actual = cons.value(column) if column else value_at(constituent_record(cons), path)
        return actual is not None and str(actual).lower() == expected.lower()


@dataclass(slots=True)
class SyncWindow:
    """One StartSynchronization..EndSynchronization session. ``start`` None = beginning of time."""

    sync_id: int
    user: str
    partition_id: int
    partition_name: str
    start: datetime | None
    end: datetime
    created: datetime
    completed: datetime | None = None
    status: Literal["active", "ended", "superseded"] = "active"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "sync_id": self.sync_id,
            "user": self.user,
            "partition_id": self.partition_id,
            "partition_name": self.partition_name,
            "start": render_json(self.start),
            "end": render_json(self.end),
            "created": render_json(self.created),
            "completed": render_json(self.completed),
            "status": self.status,
            "requests": render_json(self.requests),
        }


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The per-record answer of Create/Update/Delete."""

    code: str
    number: int
    message: str
    record: dict[str, Any] | None

    @classmethod
    def of(cls, code: str, message: str, record: dict[str, Any] | None) -> RecordResult:
        return cls(code, RESULT_CODES[code], message, record)


def constituent_record(cons: Constituent) -> Record:
    """A constituent as the web services' Constituent record (every field, schema order)."""
    return {
        "ConsId": cons.cons_id,
        "MemberId": cons.member_id,
        "UserName": cons.user_name,
        "PrimaryEmail": cons.primary_email,
        "ConsName": {
            "FirstName": cons.first_name,
            "MiddleName": cons.middle_name,
            "LastName": cons.last_name,
        },
        "HomeAddress": {
            "Street1": cons.street1,
            "Street2": cons.street2,
            "City": cons.city,
            "State": cons.state,
            "Zip": cons.zip,
            "Country": cons.country,
        },
        "HomePhone": cons.home_phone,
        "AcceptsEmail": cons.accepts_email,
        "CreationDate": cons.created_at,
        "ModifyDate": cons.modified_at,
    }


def _ids_of(cons: Constituent) -> dict[str, Any]:
    return {"ConsId": cons.cons_id, "MemberId": cons.member_id, "PrimaryEmail": cons.primary_email}


class _ShapeError(ValueError):
    """A Constituent record whose elements are not the schema's."""


def _constituent_columns(record: Mapping[str, Any], where: str) -> dict[str, object]:
    """A SOAP-shaped Constituent record as upload-column fields (C's directory speaks those).

    Read-only elements (CreationDate, ModifyDate) are ignored; an explicit None on a complex
    element clears all of its parts.
    """
    columns: dict[str, object] = {}
    for name, value in record.items():
        definition = _CONSTITUENT.field(name)
        if definition is None or "." in name:
            raise _ShapeError(f"{where}: unknown Constituent element '{name}'")
        if definition.children is None:
            column = _COLUMN_OF_PATH.get(name)
            if column is not None:
                columns[column] = value
            continue
        if value is None:
            for child in definition.children:
                columns[_COLUMN_OF_PATH[f"{name}.{child.name}"]] = None
            continue
        if not isinstance(value, Mapping):
            raise _ShapeError(f"{where}: element '{name}' must have sub-elements")
        for child_name, child_value in value.items():
            column = _COLUMN_OF_PATH.get(f"{name}.{child_name}")
            if column is None:
                raise _ShapeError(f"{where}: unknown Constituent element '{name}.{child_name}'")
            columns[column] = child_value
    return columns


def _soap_message(error: ConstituentFieldError) -> str:
    """C's message names upload columns; a SOAP client sent element paths."""
    message = error.message
    for column, path in SOAP_FIELDS.items():
        message = message.replace(column, path)
    return message


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _echo_ids(columns: Mapping[str, object]) -> dict[str, Any]:
    cons_id: int | None = None
    raw = _text(columns.get("CONS_ID"))
    if raw is not None and raw.isdigit():
        cons_id = int(raw)
    return {
        "ConsId": cons_id,
        "MemberId": _text(columns.get("MEMBER_ID")),
        "PrimaryEmail": _text(columns.get("PRIMARY_EMAIL")),
    }


def _as_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)  # xsd:dateTime without offset: the service runs on UTC
    return when.astimezone(UTC)


# -- the services ------------------------------------------------------------------------------


class WebServices:
    """Every web-service operation and admin action of one simulated Luminate Online site."""

    def __init__(self, clock: Clock, directory: ConstituentDirectory, *, seed: int = 0) -> None:
        self.clock = clock
        self.directory = directory
        self.transactions = TransactionStore()
        self.associated = AssociatedStore()
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._users: dict[str, ApiUser] = {}
        self._sessions: dict[str, _Session] = {}
        self._partitions: dict[int, Partition] = {}
        self._active: dict[tuple[str, int], SyncWindow] = {}
        self._last_success_end: dict[tuple[str, int], datetime] = {}
        self._sync_log: list[SyncWindow] = []
        self._next_sync_id = 1
        # (sync_id, record type) -> record ids per kind, in change order: built on the first page
        # request of a window and kept until it ends, so every page of the window is stable.
        self._classified: dict[tuple[int, str], dict[IncrementalKind, list[int | str]]] = {}
        self._add_default_partition()

    @property
    def lock(self) -> threading.RLock:
        """The one lock around the site's state; hold it to change or read several things at
        once from another thread (the constituent upload does)."""
        return self._lock

    def _add_default_partition(self) -> None:
        self._partitions[DEFAULT_PARTITION_ID] = Partition(
            DEFAULT_PARTITION_ID, DEFAULT_PARTITION_NAME, "Every constituent of the site", None
        )

    # -- Login and sessions ----------------------------------------------------------------

    @_locked
    def login(self, user_name: str, password: str) -> str:
        """A new session id for valid credentials; ``LoginFault`` otherwise."""
        user = self._users.get(user_name)
        if user is None or not secrets.compare_digest(
            password.encode(), user.password.get_secret_value().encode()
        ):
            raise LuminateFault("LoginFault", "Login failed: invalid user name or password.")
        now = self.clock.now()
        self._purge_sessions(now)
        digest = hashlib.sha1(self._rng.randbytes(20)).hexdigest()  # an id, not a password hash
        jsession = self._rng.randbytes(16).hex().upper()
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        session_id = f"{digest}:JSESSIONID={jsession}:10000100:{stamp}"
        self._sessions[session_id] = _Session(session_id, user.name, now, now)
        return session_id

    @_locked
    def session_user(self, session_id: str | None) -> ApiUser:
        """The API user of a live session (and restart its idle timer); ``SessionFault`` else."""
        if not session_id:
            raise LuminateFault("SessionFault", "Session header is missing or has no SessionId.")
        session = self._sessions.get(session_id)
        now = self.clock.now()
        if session is None:
            raise LuminateFault("SessionFault", "Invalid session ID: log in again.")
        if now - session.last_used > SESSION_IDLE_TIMEOUT:
            del self._sessions[session_id]
            raise LuminateFault(
                "SessionFault", "Session expired after 30 minutes of inactivity: log in again."
            )
        user = self._users.get(session.user)
        if user is None:  # the user was removed by a reset
            del self._sessions[session_id]
            raise LuminateFault("SessionFault", "Invalid session ID: log in again.")
        session.last_used = now
        return user

    def _purge_sessions(self, now: datetime) -> None:
        expired = [s for s, v in self._sessions.items() if now - v.last_used > SESSION_IDLE_TIMEOUT]
        for session_id in expired:
            del self._sessions[session_id]

    def get_server_time(self) -> datetime:
        return self.clock.now()

    # -- synchronization windows -----------------------------------------------------------

    def _sync_partition(self, partition_id: int) -> Partition:
        partition = self._partitions.get(partition_id)
        if partition is None:
            raise LuminateFault("SynchronizationFault", f"Partition {partition_id} does not exist.")
        return partition

    @_locked
    def start_synchronization(
        self,
        user: ApiUser,
        partition_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
        force: bool = False,
    ) -> SyncWindow:
        """Open a window for (user, partition).

        Start defaults to the End of the user's last successfully ended window on the partition
        (the beginning of time before the first), End to now. ``force`` replaces an active window,
        which then never counts as successful, so its changes are offered again.
        """
        partition = self._sync_partition(partition_id)
        key = (user.name, partition_id)
        active = self._active.get(key)
        if active is not None and not force:
            raise LuminateFault(
                "SynchronizationFault",
                f"An active synchronization session already exists for Partition {partition.name}",
            )
        now = self.clock.now()
        window_end = _as_utc(end) if end is not None else now
        window_start = _as_utc(start) if start is not None else self._last_success_end.get(key)
        if window_end > now:
            raise LuminateFault(
                "InvalidMessageFault",
                f"End {render_json(window_end)} is later than the server time {render_json(now)}.",
            )
        if window_start is not None and window_start > window_end:
            raise LuminateFault(
                "InvalidMessageFault",
                f"Start {render_json(window_start)} is later than End {render_json(window_end)}.",
            )
        if active is not None:
            active.status = "superseded"
            self._forget_window(active)
        self._prune_sync_log(now)
        window = SyncWindow(
            self._next_sync_id,
            user.name,
            partition_id,
            partition.name,
            window_start,
            window_end,
            now,
        )
        self._next_sync_id += 1
        self._active[key] = window
        self._sync_log.append(window)
        return window

    @_locked
    def end_synchronization(self, user: ApiUser, partition_id: int) -> SyncWindow:
        """Close the active window; the next default Start is its End."""
        partition = self._sync_partition(partition_id)
        key = (user.name, partition_id)
        window = self._active.pop(key, None)
        if window is None:
            raise LuminateFault(
                "SynchronizationFault",
                f"No active synchronization session exists for Partition {partition.name}",
            )
        window.status = "ended"
        window.completed = self.clock.now()
        self._last_success_end[key] = window.end
        self._forget_window(window)
        return window

    def _prune_sync_log(self, now: datetime) -> None:
        horizon = now - SYNC_LOG_RETENTION
        if self._sync_log and self._sync_log[0].created < horizon:
            self._sync_log = [
                w for w in self._sync_log if w.status == "active" or w.created >= horizon
            ]

    def _forget_window(self, window: SyncWindow) -> None:
        for key in [k for k in self._classified if k[0] == window.sync_id]:
            del self._classified[key]

    @_locked
    def get_synchronization_log(
        self,
        user: ApiUser,
        partition_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[SyncWindow]:
        """The user's windows on a partition created between ``start`` and ``end``."""
        self._sync_partition(partition_id)
        low = _as_utc(start) if start is not None else BEGINNING
        high = _as_utc(end) if end is not None else None
        return [
            w
            for w in self._sync_log
            if w.user == user.name
            and w.partition_id == partition_id
            and w.created >= low
            and (high is None or w.created <= high)
        ]

    @_locked
    def get_synchronization_request_log(self, user: ApiUser, sync_id: int) -> list[dict[str, Any]]:
        """The download requests made in one of the user's windows."""
        for window in self._sync_log:
            if window.sync_id == sync_id and window.user == user.name:
                return [dict(r) for r in window.requests]
        raise LuminateFault("SynchronizationFault", f"SyncId {sync_id} does not exist.")

    # -- incremental downloads -------------------------------------------------------------

    @_locked
    def get_incremental(
        self,
        user: ApiUser,
        which: IncrementalKind,
        partition_id: int,
        record_type: str,
        page: int,
        page_size: int,
        fields: Sequence[str],
    ) -> list[Record]:
        """One page of the records inserted/updated/deleted in the active window."""
        operation = _OPERATIONS[which]
        definition = self._record_type(record_type)
        if not definition.supports(operation):
            raise LuminateFault(
                "UnsupportedOperationFault",
                f"{operation} is not supported for record type {definition.name}.",
            )
        _check_paging(page, page_size, MAX_DOWNLOAD_PAGE_SIZE)
        selection = parse_selection(definition, fields, ordered=True)
        partition = self._sync_partition(partition_id)
        window = self._active.get((user.name, partition_id))
        if window is None:
            raise LuminateFault(
                "SynchronizationFault",
                f"No active synchronization session exists for Partition {partition.name}",
            )
        ids = self._classify(window, definition.name, partition)[which]
        chunk = ids[(page - 1) * page_size : page * page_size]
        records = [self._page_record(definition, record_id, selection) for record_id in chunk]
        window.requests.append(
            {
                "Operation": operation,
                "RecordType": definition.name,
                "RecordCount": len(records),
                "RequestTime": self.clock.now(),
                "SyncId": window.sync_id,
                "Page": page,
                "PageSize": page_size,
            }
        )
        return records

    def _log_of(self, record_type: str) -> ChangeLog:
        if record_type == "Constituent":
            return self.directory.log
        return self.transactions.logs[record_type]

    def _classify(
        self, window: SyncWindow, record_type: str, partition: Partition
    ) -> dict[IncrementalKind, list[int | str]]:
        """Sort the window's changes into inserts / updates / deletes for the window's user.

        One pass over the window's change-log entries (a bisected slice, never the whole store):
        a record first seen with an insert was added in the window; one whose last change is a
        delete was removed (deletes only, even when also added in the window); the rest existed
        before and changed (updates). A record all of whose changes in the window were made by
        the API user itself is left out. Partition membership is judged on the current state.
        """
        key = (window.sync_id, record_type)
        cached = self._classified.get(key)
        if cached is not None:
            return cached
        flags: dict[int | str, int] = {}
        start = window.start if window.start is not None else BEGINNING
        user = window.user
        for entry in self._log_of(record_type).between(start, window.end):
            seen = flags.get(entry.record_id)
            foreign = _FOREIGN if entry.actor != user else 0
            if seen is None:
                flags[entry.record_id] = (
                    (_INSERTED if entry.kind == "insert" else 0)
                    | (_DELETED if entry.kind == "delete" else 0)
                    | foreign
                )
            else:
                deleted = _DELETED if entry.kind == "delete" else 0
                flags[entry.record_id] = (seen & ~_DELETED) | deleted | foreign
        result: dict[IncrementalKind, list[int | str]] = {
            "inserts": [],
            "updates": [],
            "deletes": [],
        }
        admits = self._member_test(record_type, partition)
        for record_id, flag in flags.items():
            if not flag & _FOREIGN or (admits is not None and not admits(record_id)):
                continue
            if flag & _DELETED:
                result["deletes"].append(record_id)
            elif flag & _INSERTED:
                result["inserts"].append(record_id)
            else:
                result["updates"].append(record_id)
        self._classified[key] = result
        return result

    def _member_test(
        self, record_type: str, partition: Partition
    ) -> Callable[[int | str], bool] | None:
        if partition.rule is None:
            return None  # everyone: no lookups at all

        def constituent_of(record_id: int | str) -> Constituent | None:
            if record_type == "Constituent":
                return self.directory.get(int(record_id))
            if record_type == "Refund":
                refund = self.transactions.refunds.get(int(record_id))
                if refund is None:
                    return None
                record_id = refund.original_transaction_id
            transaction = self.transactions.get(int(record_id))
            return None if transaction is None else self.directory.get(transaction.cons_id)

        return lambda record_id: partition.admits(constituent_of(record_id))

    def _full_record(self, record_type: str, record_id: int | str) -> Record | None:
        if record_type == "Constituent":
            cons = self.directory.get(int(record_id))
            return None if cons is None else constituent_record(cons)
        if record_type == "Refund":
            refund = self.transactions.refunds.get(int(record_id))
            return None if refund is None else refund.record()
        transaction = self.transactions.get(int(record_id))
        if transaction is None:
            return None
        return transaction.record(self.directory.get(transaction.cons_id))

    def _page_record(
        self, definition: RecordType, record_id: int | str, selection: Selection
    ) -> Record:
        record = self._full_record(definition.name, record_id)
        if record is None:  # cannot happen: nothing is ever dropped from the stores
            raise LuminateFault(
                "ServerFault", f"{definition.name} {record_id} vanished during the window."
            )
        return project(definition.fields, record, selection)

    # -- Query, Find, DescribeRecordType ---------------------------------------------------

    def _record_type(self, name: str) -> RecordType:
        definition = RECORD_TYPES.get(name)
        if definition is None:
            raise LuminateFault("InvalidMessageFault", f"Invalid record type '{name}'.")
        return definition

    def describe_record_type(self, record_type: str) -> RecordType:
        return self._record_type(record_type)

    @_locked
    def query(
        self, user: ApiUser, query_string: str, page: int, page_size: int
    ) -> tuple[str, list[Record]]:
        """Run a ``select ... from Type [where ...]`` query; returns the type name and a page."""
        parsed = parse_query(query_string)
        definition = self._record_type(parsed.record_type)
        if not definition.supports(QUERY):
            raise LuminateFault(
                "UnsupportedOperationFault",
                f"Query is not supported for record type {definition.name}.",
            )
        _check_paging(page, page_size, MAX_QUERY_PAGE_SIZE)
        selection = parse_selection(definition, parsed.fields, ordered=False, wildcard=True)
        criteria = self._criteria(definition, [(c.path, str(c.value)) for c in parsed.conditions])
        if definition.name == "Constituent" and [c[0] for c in criteria] != ["ConsId"]:
            raise LuminateFault(
                "UnsupportedOperationFault",
                "Query on Constituent is supported only as "
                "'select ... from Constituent where ConsId = <id>'.",
            )
        matches = self._lookup(definition, criteria)
        chunk = matches[(page - 1) * page_size : page * page_size]
        return definition.name, [project(definition.fields, r, selection) for r in chunk]

    @_locked
    def find(
        self,
        user: ApiUser,
        record_type: str,
        criteria: Sequence[tuple[str, str]],
        fields: Sequence[str],
        page: int,
        page_size: int,
    ) -> list[Record]:
        """Records of a lookup type whose fields equal every (field, value) criterion."""
        definition = self._record_type(record_type)
        if not definition.supports(FIND):
            raise LuminateFault(
                "UnsupportedOperationFault",
                f"Find is not supported for record type {definition.name}.",
            )
        _check_paging(page, page_size, MAX_QUERY_PAGE_SIZE)
        selection = parse_selection(definition, fields, ordered=True)
        checked = self._criteria(definition, criteria)
        if definition.name == "Constituent":
            keys = {path for path, _, _ in checked}
            if not keys or not keys <= {"ConsId", "MemberId", "PrimaryEmail"}:
                raise LuminateFault(
                    "UnsupportedOperationFault",
                    "Find on Constituent needs criteria on ConsId, MemberId or PrimaryEmail only.",
                )
        matches = self._lookup(definition, checked)
        chunk = matches[(page - 1) * page_size : page * page_size]
        return [project(definition.fields, r, selection) for r in chunk]

    def _criteria(
        self, definition: RecordType, criteria: Sequence[tuple[str, str]]
    ) -> list[tuple[str, Any, str]]:
        """(path, typed value, xsd type) per criterion; InvalidMessageFault naming a bad one."""
        checked: list[tuple[str, Any, str]] = []
        for path, raw in criteria:
            target = definition.field(path)
            if target is None:
                raise LuminateFault(
                    "InvalidMessageFault",
                    f"Invalid field '{path}' for record type {definition.name}.",
                )
            if target.children is not None:
                raise LuminateFault(
                    "InvalidMessageFault",
                    f"Field '{path}' of {definition.name} has sub-elements and cannot be compared "
                    "with a value; name one of them.",
                )
            try:
                value = coerce_value(target, raw, f"The value compared with {path}")
            except ValueError as exc:
                raise LuminateFault("InvalidMessageFault", f"{exc}.") from None
            checked.append((path, value, target.xsd_type))
        return checked

    def _lookup(self, definition: RecordType, criteria: list[tuple[str, Any, str]]) -> list[Record]:
        """Every record of the type matching all criteria, in id order (indexed where it can)."""
        candidates: Iterable[Record]
        name = definition.name
        if name == "Constituent":
            candidates = self._constituent_candidates(criteria)
        elif name == "Refund":
            by_transaction = [c for c in criteria if c[0] == "OriginalTransactionId"]
            refunds = (
                self.transactions.refunds_of(by_transaction[0][1])
                if by_transaction
                else iter(self.transactions.refunds.values())
            )
            candidates = [r.record() for r in refunds]
        elif name == "Partition":
            candidates = [p.record() for p in self._partitions.values()]
        else:
            candidates = list(self.associated.records[name].values())
        found = [r for r in candidates if all(_equal(value_at(r, p), v, t) for p, v, t in criteria)]
        found.sort(key=lambda r: r[definition.id_field])
        return found

    def _constituent_candidates(self, criteria: list[tuple[str, Any, str]]) -> list[Record]:
        keys = {path: value for path, value, _ in criteria}
        if "ConsId" in keys:
            cons = self.directory.get(keys["ConsId"])
            found = [] if cons is None else [cons]
        elif "MemberId" in keys:
            found = self.directory.by_member_id(keys["MemberId"])
        else:
            found = self.directory.by_email(keys["PrimaryEmail"])
        return [constituent_record(c) for c in found if c.active]

    # -- Create / Update / Delete ----------------------------------------------------------

    def _writable_type(self, operation: str, record_type: str) -> None:
        definition = self._record_type(record_type)
        if definition.supports(operation):
            return
        if definition.kind == "transaction":
            raise LuminateFault(
                "UnsupportedOperationFault",
                f"{operation} is not supported for record type {definition.name}: transaction "
                "data is download only.",
            )
        raise LuminateFault(
            "UnsupportedOperationFault",
            f"{operation} is not supported for record type {definition.name}.",
        )

    def _batch(
        self,
        operation: str,
        record_type: str,
        records: Sequence[Mapping[str, Any]],
        one: Callable[[ApiUser, dict[str, object]], RecordResult],
        user: ApiUser,
    ) -> list[RecordResult]:
        self._writable_type(operation, record_type)
        if not records:
            raise LuminateFault("InvalidMessageFault", f"{operation} needs at least one Record.")
        batch: list[dict[str, object]] = []
        for index, record in enumerate(records, start=1):
            try:
                batch.append(_constituent_columns(record, f"Record {index}"))
            except _ShapeError as exc:
                raise LuminateFault("InvalidMessageFault", f"{exc}.") from None
        if len(batch) > MAX_UPLOAD_RECORDS:
            message = (
                f"At most {MAX_UPLOAD_RECORDS} records may be sent in one {operation} request "
                f"({len(batch)} were sent); none was processed."
            )
            return [RecordResult.of("TOO_MANY_RECORDS", message, _echo_ids(c)) for c in batch]
        return [one(user, columns) for columns in batch]

    @_locked
    def create(
        self, user: ApiUser, record_type: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        return self._batch("Create", record_type, records, self._create_one, user)

    @_locked
    def update(
        self, user: ApiUser, record_type: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        return self._batch("Update", record_type, records, self._update_one, user)

    @_locked
    def delete(
        self, user: ApiUser, record_type: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        return self._batch("Delete", record_type, records, self._delete_one, user)

    def _create_one(self, user: ApiUser, columns: dict[str, object]) -> RecordResult:
        echo = _echo_ids(columns)
        columns.pop("CONS_ID", None)  # Luminate assigns the id of a new record
        email = _text(columns.get("PRIMARY_EMAIL"))
        member_id = _text(columns.get("MEMBER_ID"))
        if email is None and not (_text(columns.get("LAST_NAME")) and member_id):
            return RecordResult.of(
                "REQUIRED_FIELDS_MISSING",
                "A new constituent needs PrimaryEmail, or ConsName.LastName and MemberId.",
                echo,
            )
        refused = self._refuse_identity(columns, None, echo)
        if refused is not None:
            return refused
        try:
            cons = self.directory.create(columns, user.name)
        except ConstituentFieldError as exc:
            return RecordResult.of("SERVER_ERROR", _soap_message(exc), echo)
        return RecordResult.of("OK", "", _ids_of(cons))

    def _refuse_identity(
        self, columns: Mapping[str, object], cons: Constituent | None, echo: dict[str, Any]
    ) -> RecordResult | None:
        """MATCH_EXISTING / DUPLICATE_EMAIL / DUPLICATE_USER_NAME for ids another record holds.

        On Update (``cons`` given) only an id the record changes is checked: a connector that
        sends every field back, its own PrimaryEmail included, must not be refused because an
        upload or an admin made another constituent with that email.
        """
        member_id = _text(columns.get("MEMBER_ID"))
        if cons is not None and member_id == cons.member_id:
            member_id = None
        if member_id is not None:
            holders = [c for c in self.directory.by_member_id(member_id) if c is not cons]
            if holders:
                return RecordResult.of(
                    "MATCH_EXISTING",
                    f"MemberId '{member_id}' already belongs to constituent {holders[0].cons_id}.",
                    _ids_of(holders[0]),
                )
        email = _text(columns.get("PRIMARY_EMAIL"))
        if cons is not None and email is not None and email.lower() == _lower(cons.primary_email):
            email = None
        if email is not None:
            holders = [c for c in self.directory.by_email(email) if c is not cons and c.active]
            if holders:
                return RecordResult.of(
                    "DUPLICATE_EMAIL",
                    f"PrimaryEmail '{email}' is already used by constituent {holders[0].cons_id}.",
                    echo,
                )
        user_name = _text(columns.get("USER_NAME"))
        if (
            cons is not None
            and user_name is not None
            and user_name.lower() == _lower(cons.user_name)
        ):
            user_name = None
        if user_name is not None:
            holder = self.directory.by_user_name(user_name)
            if holder is not None and holder is not cons:
                return RecordResult.of(
                    "DUPLICATE_USER_NAME",
                    f"UserName '{user_name}' is already used by constituent {holder.cons_id}.",
                    echo,
                )
        return None

    def _match(
        self, columns: Mapping[str, object], echo: dict[str, Any]
    ) -> Constituent | RecordResult:
        """The record an Update/Delete names: ConsId, else MemberId, else PrimaryEmail."""
        cons_id = _text(columns.get("CONS_ID"))
        if cons_id is not None:
            cons = self.directory.get(int(cons_id)) if cons_id.isdigit() else None
            if cons is None or not cons.active:
                return RecordResult.of(
                    "RECORD_NOT_FOUND", f"No constituent has ConsId {cons_id}.", echo
                )
            return cons
        for column, element, lookup in (
            ("MEMBER_ID", "MemberId", self.directory.by_member_id),
            ("PRIMARY_EMAIL", "PrimaryEmail", self.directory.by_email),
        ):
            key = _text(columns.get(column))
            if key is None:
                continue
            found = [c for c in lookup(key) if c.active]
            if not found:
                return RecordResult.of(
                    "RECORD_NOT_FOUND", f"No constituent has {element} '{key}'.", echo
                )
            if len(found) > 1:
                return RecordResult.of(
                    "UPDATE_MATCH_AMBIGUOUS",
                    f"{element} '{key}' matches {len(found)} constituents "
                    f"({', '.join(str(c.cons_id) for c in found[:5])}).",
                    echo,
                )
            return found[0]
        return RecordResult.of(
            "REQUIRED_FIELDS_MISSING",
            "The record has no ConsId, MemberId or PrimaryEmail to find the constituent by.",
            echo,
        )

    def _update_one(self, user: ApiUser, columns: dict[str, object]) -> RecordResult:
        echo = _echo_ids(columns)
        matched = self._match(columns, echo)
        if isinstance(matched, RecordResult):
            return matched
        columns.pop("CONS_ID", None)
        refused = self._refuse_identity(columns, matched, echo)
        if refused is not None:
            return refused
        try:
            self.directory.update(matched, columns, user.name)
        except ConstituentFieldError as exc:
            return RecordResult.of("SERVER_ERROR", _soap_message(exc), echo)
        return RecordResult.of("OK", "User updated.", _ids_of(matched))

    def _delete_one(self, user: ApiUser, columns: dict[str, object]) -> RecordResult:
        echo = _echo_ids(columns)
        matched = self._match(columns, echo)
        if isinstance(matched, RecordResult):
            return matched
        self.directory.remove(matched, user.name)
        return RecordResult.of("OK", "User deleted.", _ids_of(matched))

    # -- admin side ------------------------------------------------------------------------

    @_locked
    def add_api_user(self, name: str, password: SecretStr | str) -> ApiUser:
        if not isinstance(name, str) or not name.strip():
            raise AdminError("name: an API user needs a name")
        secret = password if isinstance(password, SecretStr) else SecretStr(password)
        if not secret.get_secret_value():
            raise AdminError(f"password: API user {name!r} needs a password")
        if name in self._users:
            raise AdminError(f"name: API user {name!r} exists already")
        if name in RESERVED_ACTORS:
            # The change log tells writers apart by name: an API user called "admin" would
            # take the admin console's changes for its own and never download them.
            raise AdminError(
                f"name: {name!r} is reserved for changes made by the site admin and the upload"
            )
        user = ApiUser(name, secret, self.clock.now())
        self._users[name] = user
        return user

    def api_users(self) -> list[ApiUser]:
        return list(self._users.values())

    @_locked
    def add_partition(
        self,
        name: str,
        *,
        rule: tuple[str, str] | Sequence[str] | None = None,
        description: str = "",
        partition_id: int | None = None,
    ) -> Partition:
        if not isinstance(name, str) or not name.strip():
            raise AdminError("name: a partition needs a name")
        if any(p.name == name for p in self._partitions.values()):
            raise AdminError(f"name: partition {name!r} exists already")
        checked_rule: tuple[str, str] | None = None
        if rule is not None:
            if len(rule) != 2 or not all(isinstance(part, str) for part in rule):
                raise AdminError("rule: give [Constituent field path, value]")
            path, value = rule[0], rule[1]
            target = _CONSTITUENT.field(path)
            if target is None or target.children is not None:
                raise AdminError(f"rule: '{path}' is not a single Constituent field")
            checked_rule = (path, value)
        if partition_id is None:
            partition_id = max(self._partitions) + 1
        elif (
            isinstance(partition_id, bool) or not isinstance(partition_id, int) or partition_id <= 0
        ):
            raise AdminError(f"partition_id: {partition_id!r} is not a positive number")
        elif partition_id in self._partitions:
            raise AdminError(f"partition_id: {partition_id} exists already")
        partition = Partition(partition_id, name, description, checked_rule)
        self._partitions[partition_id] = partition
        return partition

    def partitions(self) -> list[Partition]:
        return list(self._partitions.values())

    @_locked
    def add_constituent(self, record: Mapping[str, Any]) -> int:
        """Add a constituent as a site admin: a SOAP-shaped record, or the directory's JSON shape
        (upload column names, STATUS, CREATED_AT...). Admins may create duplicate emails."""
        if not isinstance(record, Mapping):
            raise AdminError("constituent: expected an object")
        try:
            if record and all(key.isupper() for key in record):
                cons = self.directory.from_json(record, ADMIN)
            else:
                columns = _constituent_columns(record, "constituent")
                cons = self.directory.create(columns, ADMIN)
        except _ShapeError as exc:
            raise AdminError(str(exc)) from None
        except ConstituentFieldError as exc:
            raise AdminError(f"constituent: {exc.message}") from None
        return cons.cons_id

    def _admin_constituent(self, cons_id: int) -> Constituent:
        cons = self.directory.get(cons_id)
        if cons is None:
            raise AdminNotFound(f"cons_id: no constituent {cons_id}")
        return cons

    @_locked
    def modify_constituent(self, cons_id: int, record: Mapping[str, Any]) -> None:
        """Change a constituent as a site admin (actor ``admin``); SOAP-shaped record."""
        cons = self._admin_constituent(cons_id)
        if not cons.active:
            raise AdminError(f"cons_id: constituent {cons_id} is Removed")
        try:
            columns = _constituent_columns(record, f"constituent {cons_id}")
            columns.pop("CONS_ID", None)
            self.directory.update(cons, columns, ADMIN)
        except _ShapeError as exc:
            raise AdminError(str(exc)) from None
        except ConstituentFieldError as exc:
            raise AdminError(f"constituent {cons_id}: {exc.message}") from None

    @_locked
    def remove_constituent(self, cons_id: int) -> None:
        cons = self._admin_constituent(cons_id)
        if not cons.active:
            raise AdminError(f"cons_id: constituent {cons_id} is Removed already")
        self.directory.remove(cons, ADMIN)

    @_locked
    def add_transaction(self, record_type: str, record: Mapping[str, Any]) -> int:
        """Add a transaction (created now); returns its TransactionId (ResponseId)."""
        if not isinstance(record, Mapping):
            raise AdminError(f"{record_type}: expected an object")
        transaction = self.transactions.add(record_type, record, self.clock.now(), self.directory)
        return transaction.transaction_id

    @_locked
    def add_associated(self, record_type: str, record: Mapping[str, Any]) -> int:
        if not isinstance(record, Mapping):
            raise AdminError(f"{record_type}: expected an object")
        return self.associated.add(record_type, record)

    @_locked
    def refund(
        self, transaction_id: int, amount: Decimal | str | None = None, *, online: bool
    ) -> RefundOutcome:
        """Refund part (``amount``) or all (None) of what remains of a transaction."""
        value: Decimal | None = None
        if amount is not None:
            if isinstance(amount, float | bool):
                raise AdminError('amount: give a decimal as text (e.g. "10.00")')
            try:
                value = Decimal(str(amount))
            except InvalidOperation:
                raise AdminError(f"amount: {amount!r} is not a decimal number") from None
            if not value.is_finite():
                raise AdminError(f"amount: {amount!r} is not a decimal number")
        if not isinstance(online, bool):
            raise AdminError("online: true or false")
        return self.transactions.refund(transaction_id, value, online, self.clock.now())

    @_locked
    def seed(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Seed from one JSON payload (see services-api docs); returns the ids assigned."""
        known = {"api_users", "partitions", "constituents", "associated", "transactions", "refunds"}
        unknown = set(payload) - known
        if unknown:
            raise AdminError(f"seed: unknown key {sorted(unknown)[0]!r} (expected {sorted(known)})")
        result: dict[str, Any] = {}
        for index, user in enumerate(_list(payload, "api_users")):
            where = f"api_users[{index}]"
            if not isinstance(user, Mapping) or set(user) - {"name", "password"}:
                raise AdminError(f'{where}: expected {{"name", "password"}}')
            self.add_api_user(str(user.get("name", "")), str(user.get("password", "")))
            result.setdefault("api_users", []).append(user.get("name"))
        for index, partition in enumerate(_list(payload, "partitions")):
            where = f"partitions[{index}]"
            if not isinstance(partition, Mapping) or set(partition) - {
                "name",
                "rule",
                "description",
                "partition_id",
            }:
                raise AdminError(f"{where}: expected name, rule, description, partition_id")
            added = self.add_partition(
                str(partition.get("name", "")),
                rule=partition.get("rule"),
                description=str(partition.get("description", "")),
                partition_id=partition.get("partition_id"),
            )
            result.setdefault("partitions", []).append(added.partition_id)
        for index, cons in enumerate(_list(payload, "constituents")):
            try:
                result.setdefault("constituents", []).append(self.add_constituent(cons))
            except AdminError as exc:
                raise AdminError(f"constituents[{index}]: {exc}") from None
        for type_name, records in _groups(payload, "associated"):
            for index, record in enumerate(records):
                try:
                    assigned = self.add_associated(type_name, record)
                except AdminError as exc:
                    raise AdminError(f"associated.{type_name}[{index}]: {exc}") from None
                result.setdefault("associated", {}).setdefault(type_name, []).append(assigned)
        for type_name, records in _groups(payload, "transactions"):
            for index, record in enumerate(records):
                try:
                    assigned = self.add_transaction(type_name, record)
                except AdminError as exc:
                    raise AdminError(f"transactions.{type_name}[{index}]: {exc}") from None
                result.setdefault("transactions", {}).setdefault(type_name, []).append(assigned)
        for index, refund in enumerate(_list(payload, "refunds")):
            if (
                not isinstance(refund, Mapping)
                or "transaction_id" not in refund
                or "online" not in refund
            ):
                raise AdminError(f"refunds[{index}]: needs transaction_id and online")
            try:
                outcome = self.refund(
                    int(refund["transaction_id"]), refund.get("amount"), online=refund["online"]
                )
            except (AdminError, ValueError, TypeError) as exc:
                raise AdminError(f"refunds[{index}]: {exc}") from None
            result.setdefault("refunds", []).append(render_json(_outcome_json(outcome)))
        return result

    @_locked
    def snapshot(self) -> dict[str, Any]:
        """Everything the site holds, JSON-able; no passwords, session ids shortened."""
        now = self.clock.now()
        transactions: dict[str, list[Record]] = {name: [] for name in CONSTITUENT_ELEMENT}
        for transaction in self.transactions.live.values():
            transactions[transaction.record_type].append(
                transaction.record(self.directory.get(transaction.cons_id))
            )
        audit = [
            {
                "record_type": t.record_type,
                "deleted_at": t.deleted_at,
                "record": t.record(self.directory.get(t.cons_id)),
            }
            for t in self.transactions.audit.values()
        ]
        state: dict[str, Any] = render_json(
            {
                "server_time": now,
                "api_users": [
                    {"name": u.name, "created_at": u.created_at} for u in self._users.values()
                ],
                "sessions": [
                    {
                        "session": s.session_id[:8] + "…",
                        "user": s.user,
                        "created_at": s.created_at,
                        "last_used": s.last_used,
                        "expires_at": s.last_used + SESSION_IDLE_TIMEOUT,
                        "expired": now - s.last_used > SESSION_IDLE_TIMEOUT,
                    }
                    for s in self._sessions.values()
                ],
                "partitions": [
                    {**p.record(), "Rule": list(p.rule) if p.rule else None}
                    for p in self._partitions.values()
                ],
                "constituents": [self.directory.to_json(c) for c in self.directory],
                "transactions": transactions,
                "deleted_transactions": audit,
                "refunds": [r.record() for r in self.transactions.refunds.values()],
                "associated": {
                    name: list(records.values())
                    for name, records in self.associated.records.items()
                },
                "sync_log": [w.to_json() for w in self._sync_log],
                "active_syncs": [w.sync_id for w in self._active.values()],
            }
        )
        return state

    @_locked
    def reset(self) -> None:
        """Back to an empty site: no users, sessions, records or sync history."""
        self.directory.clear()
        self.transactions.clear()
        self.associated.clear()
        # The session-id generator is not rewound: an id handed out before the reset must not
        # come back for a new login.
        self._users.clear()
        self._sessions.clear()
        self._partitions.clear()
        self._add_default_partition()
        self._active.clear()
        self._last_success_end.clear()
        self._sync_log.clear()
        self._classified.clear()
        self._next_sync_id = 1


# -- helpers -----------------------------------------------------------------------------------


def _check_paging(page: int, page_size: int, limit: int) -> None:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise LuminateFault("InvalidMessageFault", f"Page must be 1 or more (got {page}).")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= limit:
        raise LuminateFault(
            "InvalidMessageFault", f"PageSize must be between 1 and {limit} (got {page_size})."
        )


def _equal(actual: Any, expected: Any, xsd_type: str) -> bool:
    if actual is None:
        return False
    if xsd_type == "string":
        return str(actual).lower() == str(expected).lower()
    return bool(actual == expected)


def _list(payload: Mapping[str, Any], key: str) -> list[Any]:
    value = payload.get(key, [])
    if not isinstance(value, list):
        raise AdminError(f"seed: {key} must be a list")
    return value


def _groups(payload: Mapping[str, Any], key: str) -> list[tuple[str, list[Any]]]:
    value = payload.get(key, {})
    if not isinstance(value, Mapping):
        raise AdminError(f"seed: {key} must be an object of record type -> list of records")
    groups: list[tuple[str, list[Any]]] = []
    for type_name, records in value.items():
        if not isinstance(records, list):
            raise AdminError(f"seed: {key}.{type_name} must be a list")
        groups.append((str(type_name), records))
    return groups


def _outcome_json(outcome: RefundOutcome) -> dict[str, Any]:
    return {
        "transaction_id": outcome.transaction_id,
        "full": outcome.full,
        "online": outcome.online,
        "amount": outcome.amount,
        "remaining": outcome.remaining,
        "refund_id": outcome.refund_id,
    }
