"""Constituent360: the simulated Luminate Online constituent store.

One :class:`Constituent` per contact record, kept by a :class:`ConstituentDirectory` with the
indexes the matching rules need (CONS_ID, MEMBER_ID, PRIMARY_EMAIL case-insensitively, USER_NAME)
and a :class:`~luminate_simulator.changelog.ChangeLog` the web services read for
``GetIncremental*``. A Removed record stays in the directory and in its indexes: the upload and
the web services still find it, to reject it with Luminate's message.

Field dictionaries passed to :meth:`ConstituentDirectory.create` and
:meth:`ConstituentDirectory.update` are keyed by the **upload column names** of the standard
constituent import (:data:`UPLOAD_COLUMNS`); :data:`SOAP_FIELDS` maps each one to the element path
of the web services' ``Constituent`` type (``schema.RECORD_TYPES["Constituent"]``), whose
``max_length`` values are the field limits here too. One more column, ``EXCHANGE_ID``
(:data:`DATA_SYNC_COLUMNS`: RE's Import ID, written by the Raiser's Edge connector's upload), is
kept on the record and taken by the upload but has no web-services element.

Sized for a million constituents: slotted records, absent values stored as ``None`` (one shared
object), and indexes that map a key to the record itself, or to a short list only when several
records share the key. The directory is not thread-safe: callers run it on one thread (the
simulator's event loop) or serialise access themselves.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final, Literal

from luminate_simulator.changelog import ChangeLog
from luminate_simulator.schema import RECORD_TYPES
from syncframe.clock import Clock, ManualClock

__all__ = [
    "ACCEPTS_EMAIL_VALUES",
    "COLUMN_ATTRIBUTES",
    "COLUMN_MAX_LENGTHS",
    "DATA_SYNC_COLUMNS",
    "EMAIL_PATTERN",
    "EXCHANGE_ID_MAX_LENGTH",
    "FIELD_MAX_LENGTHS",
    "FIRST_CONS_ID",
    "IMPORT_COLUMNS",
    "KEY_COLUMNS",
    "NAME_COLUMNS",
    "SHARED_VALUE_COLUMNS",
    "SOAP_FIELDS",
    "UPLOAD_COLUMNS",
    "Constituent",
    "ConstituentDirectory",
    "ConstituentFieldError",
    "ConstituentStatus",
    "FieldValue",
    "email_key",
    "is_valid_email",
    "normalise_fields",
    "parse_accepts_email",
    "parse_cons_id",
]

ConstituentStatus = Literal["Active", "Removed"]
FieldValue = str | int | bool | None

# The columns of the standard constituent import this simulator understands, in the order a
# Luminate export writes them. They are the core profile fields of Luminate's import template
# (the ids, user name, email, name, home address and phone, email opt-in). Titles, suffixes,
# business addresses, custom fields and group/interest columns are not simulated: a header
# naming one of them is an invalid header, as a misspelt one is.
UPLOAD_COLUMNS: Final[tuple[str, ...]] = (
    "CONS_ID",
    "MEMBER_ID",
    "USER_NAME",
    "PRIMARY_EMAIL",
    "FIRST_NAME",
    "MIDDLE_NAME",
    "LAST_NAME",
    "HOME_STREET1",
    "HOME_STREET2",
    "HOME_CITY",
    "HOME_STATEPROV",
    "HOME_ZIP",
    "HOME_COUNTRY",
    "HOME_PHONE",
    "ACCEPTS_EMAIL",
)

# Columns the upload also takes that the web services' Constituent type does not carry: the
# EXCHANGE_ID the Raiser's Edge connector fills with RE's Import ID (KB 65821). The public
# Constituent field list has no such element, so SOAP clients neither see nor set it.
DATA_SYNC_COLUMNS: Final[tuple[str, ...]] = ("EXCHANGE_ID",)
# Every column an upload header may name.
IMPORT_COLUMNS: Final[tuple[str, ...]] = UPLOAD_COLUMNS + DATA_SYNC_COLUMNS

# Upload column -> element path of the web services' Constituent record (schema.py wins on names).
SOAP_FIELDS: Final[dict[str, str]] = {
    "CONS_ID": "ConsId",
    "MEMBER_ID": "MemberId",
    "USER_NAME": "UserName",
    "PRIMARY_EMAIL": "PrimaryEmail",
    "FIRST_NAME": "ConsName.FirstName",
    "MIDDLE_NAME": "ConsName.MiddleName",
    "LAST_NAME": "ConsName.LastName",
    "HOME_STREET1": "HomeAddress.Street1",
    "HOME_STREET2": "HomeAddress.Street2",
    "HOME_CITY": "HomeAddress.City",
    "HOME_STATEPROV": "HomeAddress.State",
    "HOME_ZIP": "HomeAddress.Zip",
    "HOME_COUNTRY": "HomeAddress.Country",
    "HOME_PHONE": "HomePhone",
    "ACCEPTS_EMAIL": "AcceptsEmail",
}

# Upload column -> Constituent attribute.
COLUMN_ATTRIBUTES: Final[dict[str, str]] = {
    "CONS_ID": "cons_id",
    "MEMBER_ID": "member_id",
    "USER_NAME": "user_name",
    "PRIMARY_EMAIL": "primary_email",
    "FIRST_NAME": "first_name",
    "MIDDLE_NAME": "middle_name",
    "LAST_NAME": "last_name",
    "HOME_STREET1": "street1",
    "HOME_STREET2": "street2",
    "HOME_CITY": "city",
    "HOME_STATEPROV": "state",
    "HOME_ZIP": "zip",
    "HOME_COUNTRY": "country",
    "HOME_PHONE": "home_phone",
    "ACCEPTS_EMAIL": "accepts_email",
    "EXCHANGE_ID": "exchange_id",
}

# The columns that identify a record for matching, in the order the cascade tries them.
KEY_COLUMNS: Final[tuple[str, ...]] = ("CONS_ID", "MEMBER_ID", "PRIMARY_EMAIL")
# A record with no key can still be created when it carries one of these (seed 004).
NAME_COLUMNS: Final[tuple[str, ...]] = ("FIRST_NAME", "LAST_NAME")
# Columns whose values repeat across many records (a few hundred cities, states, countries):
# stored as one shared string per distinct value, which saves ~150 bytes a record at a million.
SHARED_VALUE_COLUMNS: Final[frozenset[str]] = frozenset(
    {"HOME_CITY", "HOME_STATEPROV", "HOME_COUNTRY"}
)


def _max_lengths() -> dict[str, int]:
    constituent = RECORD_TYPES["Constituent"]
    limits: dict[str, int] = {}
    for column, path in SOAP_FIELDS.items():
        definition = constituent.field(path)
        if definition is None:
            raise RuntimeError(f"schema.py has no Constituent field {path} for {column}")
        if definition.max_length is not None:
            limits[column] = definition.max_length
    return limits


# Longest value each text column accepts (from the WSDL schema, so both doors agree).
FIELD_MAX_LENGTHS: Final[dict[str, int]] = _max_lengths()
# RE's Import ID is at most 20 characters in RE 7; 50 leaves room for other RE editions.
EXCHANGE_ID_MAX_LENGTH: Final = 50
# The limits of every column an upload may name (the WSDL's, plus the data sync's own).
COLUMN_MAX_LENGTHS: Final[dict[str, int]] = {
    **FIELD_MAX_LENGTHS,
    "EXCHANGE_ID": EXCHANGE_ID_MAX_LENGTH,
}

# Spellings of ACCEPTS_EMAIL an upload may use (compared case-insensitively).
ACCEPTS_EMAIL_VALUES: Final[dict[str, bool]] = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
}

# Deliberately loose (one @, no spaces, a dot in the domain): Luminate refuses obvious garbage,
# not every address RFC 5322 would.
EMAIL_PATTERN: Final = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def is_valid_email(value: str) -> bool:
    """Whether ``value`` looks like an email address Luminate would store."""
    return EMAIL_PATTERN.fullmatch(value) is not None


class ConstituentFieldError(ValueError):
    """A field value Luminate would refuse; ``column`` names the upload column."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


class Constituent:
    """One Constituent360 contact record. Text fields are ``None`` when absent."""

    __slots__ = (
        "accepts_email",
        "city",
        "cons_id",
        "country",
        "created_at",
        "created_seq",
        "exchange_id",
        "first_name",
        "home_phone",
        "last_name",
        "member_id",
        "middle_name",
        "modified_at",
        "primary_email",
        "state",
        "status",
        "street1",
        "street2",
        "user_name",
        "zip",
    )

    def __init__(self, cons_id: int, created_seq: int, created_at: datetime) -> None:
        self.cons_id = cons_id
        self.member_id: str | None = None
        self.exchange_id: str | None = None  # RE's Import ID, set by the RE connector's upload
        self.user_name: str | None = None
        self.primary_email: str | None = None
        self.first_name: str | None = None
        self.middle_name: str | None = None
        self.last_name: str | None = None
        self.street1: str | None = None
        self.street2: str | None = None
        self.city: str | None = None
        self.state: str | None = None
        self.zip: str | None = None
        self.country: str | None = None
        self.home_phone: str | None = None
        self.accepts_email = False
        self.status: ConstituentStatus = "Active"
        self.created_seq = created_seq
        self.created_at = created_at
        self.modified_at = created_at

    @property
    def active(self) -> bool:
        return self.status == "Active"

    def value(self, column: str) -> FieldValue:
        """The value of an upload column (``"FIRST_NAME"``...)."""
        attribute = COLUMN_ATTRIBUTES.get(column)
        if attribute is None:
            raise KeyError(f"unknown constituent field {column!r}")
        value: FieldValue = getattr(self, attribute)
        return value

    def __repr__(self) -> str:
        return (
            f"Constituent(cons_id={self.cons_id}, member_id={self.member_id!r}, "
            f"primary_email={self.primary_email!r}, status={self.status!r})"
        )


# -- field validation ---------------------------------------------------------------------------


def _text(column: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConstituentFieldError(column, f"{column} must be text, not {type(value).__name__}")
    limit = COLUMN_MAX_LENGTHS.get(column)
    if limit is not None and len(value) > limit:
        raise ConstituentFieldError(
            column, f"{column} is longer than {limit} characters ({len(value)})."
        )
    return value


def parse_cons_id(value: object) -> int:
    """A CONS_ID as an int; :class:`ConstituentFieldError` when it is not a positive number."""
    if isinstance(value, bool):
        raise ConstituentFieldError("CONS_ID", f"CONS_ID {value!r} is not a constituent ID.")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text.isdigit() or not text.isascii():
            raise ConstituentFieldError("CONS_ID", f"CONS_ID '{value}' is not a constituent ID.")
        number = int(text)
    if number <= 0:
        raise ConstituentFieldError("CONS_ID", f"CONS_ID '{value}' is not a constituent ID.")
    return number


def parse_accepts_email(value: object) -> bool:
    if isinstance(value, bool):
        return value
    flag = ACCEPTS_EMAIL_VALUES.get(str(value).strip().lower())
    if flag is None:
        raise ConstituentFieldError(
            "ACCEPTS_EMAIL", f"ACCEPTS_EMAIL '{value}' is not TRUE or FALSE."
        )
    return flag


def normalise_fields(fields: Mapping[str, object]) -> dict[str, FieldValue]:
    """Check and normalise a field dictionary keyed by upload column names.

    Returns only the fields that change something: an empty string means "unchanged" and is
    dropped, ``None`` means "clear" and is kept. The id columns and PRIMARY_EMAIL are trimmed;
    PRIMARY_EMAIL must look like an address; ACCEPTS_EMAIL takes TRUE/FALSE (and Y/N, YES/NO,
    1/0); text longer than the WSDL's ``max_length`` is refused. Raises
    :class:`ConstituentFieldError` naming the column.
    """
    clean: dict[str, FieldValue] = {}
    for column, raw in fields.items():
        if column not in COLUMN_ATTRIBUTES:
            raise ConstituentFieldError(column, f"{column} is not a Luminate constituent field.")
        if raw is None:
            if column == "CONS_ID":
                raise ConstituentFieldError(column, "CONS_ID cannot be cleared.")
            clean[column] = None
            continue
        if isinstance(raw, str) and column in KEY_COLUMNS:
            raw = raw.strip()
        if raw == "":
            continue
        if column == "CONS_ID":
            clean[column] = parse_cons_id(raw)
        elif column == "ACCEPTS_EMAIL":
            clean[column] = parse_accepts_email(raw)
        else:
            text = _text(column, raw)
            if column == "PRIMARY_EMAIL" and not is_valid_email(text):
                raise ConstituentFieldError(
                    column, f"PRIMARY_EMAIL '{text}' is not a valid email address."
                )
            clean[column] = text
    return clean


# -- indexes ------------------------------------------------------------------------------------

# key -> the one record with that key, or a list (creation order) when several share it.
_Index = dict[str, "Constituent | list[Constituent]"]


def _index_get(index: _Index, key: str) -> list[Constituent]:
    found = index.get(key)
    if found is None:
        return []
    if isinstance(found, list):
        return list(found)
    return [found]


def _index_add(index: _Index, key: str, cons: Constituent) -> None:
    found = index.get(key)
    if found is None:
        index[key] = cons
        return
    group = found if isinstance(found, list) else [found]
    if group[-1].created_seq < cons.created_seq:
        group.append(cons)  # the usual case: the newest record joins at the end
    else:
        position = 0
        while position < len(group) and group[position].created_seq < cons.created_seq:
            position += 1
        group.insert(position, cons)
    index[key] = group


def _index_discard(index: _Index, key: str, cons: Constituent) -> None:
    found = index.get(key)
    if found is None:
        return
    if not isinstance(found, list):
        if found is cons:
            del index[key]
        return
    remaining = [c for c in found if c is not cons]
    if len(remaining) == len(found):
        return
    index[key] = remaining[0] if len(remaining) == 1 else remaining


def email_key(email: str) -> str:
    """The index key of an email: lowercased, reusing the string when it already is."""
    key = email.lower()
    return email if key == email else key


# -- the directory ------------------------------------------------------------------------------

FIRST_CONS_ID: Final = 1001001


class ConstituentDirectory:
    """Every constituent of the simulated site, with its matching indexes and change log."""

    __slots__ = (
        "_by_email",
        "_by_id",
        "_by_member",
        "_by_user_name",
        "_first_id",
        "_in_order",
        "_next_id",
        "_next_seq",
        "clock",
        "log",
    )

    def __init__(self, clock: Clock | None = None, *, first_cons_id: int = FIRST_CONS_ID) -> None:
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.log = ChangeLog()
        self._first_id = first_cons_id
        self._by_id: dict[int, Constituent] = {}
        self._by_member: _Index = {}
        self._by_email: _Index = {}
        self._by_user_name: dict[str, Constituent] = {}
        self._next_id = first_cons_id
        self._next_seq = 1
        # True while _by_id's insertion order is creation order (only seeding with an explicit
        # CREATED_SEQ can break it), so iteration needs no sort.
        self._in_order = True

    # -- reading --------------------------------------------------------------------------------

    def get(self, cons_id: int) -> Constituent | None:
        return self._by_id.get(cons_id)

    def by_member_id(self, member_id: str) -> list[Constituent]:
        """Records with this MEMBER_ID (exact match), in creation order, Removed ones included."""
        return _index_get(self._by_member, member_id)

    def by_email(self, email: str) -> list[Constituent]:
        """Records with this PRIMARY_EMAIL (any case), in creation order, Removed ones included."""
        return _index_get(self._by_email, email.lower())

    def by_user_name(self, user_name: str) -> Constituent | None:
        """The record with this USER_NAME (any case): user names are unique on a site."""
        return self._by_user_name.get(user_name.lower())

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Constituent]:
        """Every record in creation order."""
        if self._in_order:
            return iter(list(self._by_id.values()))
        return iter(sorted(self._by_id.values(), key=_created_seq))

    def __contains__(self, cons_id: object) -> bool:
        return cons_id in self._by_id

    # -- writing --------------------------------------------------------------------------------

    def create(self, fields: Mapping[str, object], actor: str) -> Constituent:
        """Add an Active record. CONS_ID is assigned unless ``fields`` gives one (seeding).

        Raises :class:`ConstituentFieldError` for a bad value, a CONS_ID already in use or a
        USER_NAME another record has.
        """
        clean = normalise_fields(fields)
        explicit_id = clean.pop("CONS_ID", None)
        if explicit_id is not None:
            assert isinstance(explicit_id, int)
            if explicit_id in self._by_id:
                raise ConstituentFieldError(
                    "CONS_ID", f"CONS_ID {explicit_id} is already used by another constituent."
                )
        self._check_user_name(clean, None)
        now = self.clock.now()
        cons = self._new(explicit_id, now)
        self._assign(cons, clean)
        self._add(cons)
        self.log.record(now, cons.cons_id, "insert", actor)
        return cons

    def update(self, cons: Constituent, fields: Mapping[str, object], actor: str) -> None:
        """Change the given fields of an Active record (empty string = unchanged, None = clear).

        MEMBER_ID, PRIMARY_EMAIL and USER_NAME changes move the record in the indexes.
        """
        self._check_present(cons)
        if cons.status != "Active":
            raise ValueError(f"constituent {cons.cons_id} is Removed and cannot be updated")
        clean = normalise_fields(fields)
        new_id = clean.pop("CONS_ID", None)
        if new_id is not None and new_id != cons.cons_id:
            raise ConstituentFieldError("CONS_ID", "CONS_ID cannot be changed.")
        self._check_user_name(clean, cons)
        self._reindex(cons, clean)
        self._assign(cons, clean)
        now = self.clock.now()
        cons.modified_at = now
        self.log.record(now, cons.cons_id, "update", actor)

    def remove(self, cons: Constituent, actor: str) -> None:
        """Mark a record Removed. It stays findable, so later matches on it are rejected."""
        self._check_present(cons)
        if cons.status == "Removed":
            return
        now = self.clock.now()
        cons.status = "Removed"
        cons.modified_at = now
        self.log.record(now, cons.cons_id, "delete", actor)

    def clear(self) -> None:
        """Forget every record and change (the simulator's reset); ids start over."""
        self.log.clear()
        self._by_id.clear()
        self._by_member.clear()
        self._by_email.clear()
        self._by_user_name.clear()
        self._next_id = self._first_id
        self._next_seq = 1
        self._in_order = True

    # -- JSON (admin API: seed and state) -------------------------------------------------------

    @staticmethod
    def to_json(cons: Constituent) -> dict[str, Any]:
        """A record as JSON, keyed by upload column names plus STATUS and the timestamps."""
        data: dict[str, Any] = {column: cons.value(column) for column in IMPORT_COLUMNS}
        data["STATUS"] = cons.status
        data["CREATED_SEQ"] = cons.created_seq
        data["CREATED_AT"] = cons.created_at.isoformat()
        data["MODIFIED_AT"] = cons.modified_at.isoformat()
        return data

    def from_json(self, data: Mapping[str, Any], actor: str = "admin") -> Constituent:
        """Add a record from :meth:`to_json`'s shape (seeding).

        Every key is optional except that unknown keys are refused: CONS_ID (assigned when
        absent), STATUS (``Active``/``Removed``), CREATED_AT / MODIFIED_AT (ISO times, default
        now). The change log gets an insert at CREATED_AT and, for a Removed record, a delete at
        MODIFIED_AT. Raises :class:`ConstituentFieldError` naming the bad key.
        """
        extra = (
            set(data)
            - set(IMPORT_COLUMNS)
            - {
                "STATUS",
                "CREATED_SEQ",
                "CREATED_AT",
                "MODIFIED_AT",
            }
        )
        if extra:
            name = sorted(extra)[0]
            raise ConstituentFieldError(name, f"{name} is not a Luminate constituent field.")
        status = data.get("STATUS", "Active")
        if status not in ("Active", "Removed"):
            raise ConstituentFieldError("STATUS", f"STATUS {status!r} is not Active or Removed.")
        now = self.clock.now()
        created_at = _parse_time("CREATED_AT", data.get("CREATED_AT"), now)
        modified_at = _parse_time("MODIFIED_AT", data.get("MODIFIED_AT"), created_at)
        fields = {c: data[c] for c in IMPORT_COLUMNS if c in data}
        clean = normalise_fields(fields)
        explicit_id = clean.pop("CONS_ID", None)
        if explicit_id is not None and explicit_id in self._by_id:
            raise ConstituentFieldError(
                "CONS_ID", f"CONS_ID {explicit_id} is already used by another constituent."
            )
        self._check_user_name(clean, None)
        seq = data.get("CREATED_SEQ")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq <= 0):
            raise ConstituentFieldError("CREATED_SEQ", f"CREATED_SEQ {seq!r} is not a number.")
        assert explicit_id is None or isinstance(explicit_id, int)
        cons = self._new(explicit_id, created_at, seq)
        self._assign(cons, clean)
        cons.modified_at = modified_at
        self._add(cons)
        self.log.record(created_at, cons.cons_id, "insert", actor)
        if status == "Removed":
            cons.status = "Removed"
            self.log.record(modified_at, cons.cons_id, "delete", actor)
        return cons

    # -- internals shared with constituent_import -----------------------------------------------

    def _new(self, cons_id: int | None, at: datetime, seq: int | None = None) -> Constituent:
        if cons_id is None:
            cons_id = self._next_id
            while cons_id in self._by_id:
                cons_id += 1
        if cons_id >= self._next_id:
            self._next_id = cons_id + 1
        if seq is None:
            seq = self._next_seq
        if seq >= self._next_seq:
            self._next_seq = seq + 1
        else:
            self._in_order = False
        return Constituent(cons_id, seq, at)

    def _add(self, cons: Constituent) -> None:
        self._by_id[cons.cons_id] = cons
        if cons.member_id:
            _index_add(self._by_member, cons.member_id, cons)
        if cons.primary_email:
            _index_add(self._by_email, email_key(cons.primary_email), cons)
        if cons.user_name:
            self._by_user_name[cons.user_name.lower()] = cons

    def _reindex(self, cons: Constituent, clean: Mapping[str, FieldValue]) -> None:
        """Move ``cons`` in the indexes for the MEMBER_ID/PRIMARY_EMAIL/USER_NAME in ``clean``."""
        if "MEMBER_ID" in clean and clean["MEMBER_ID"] != cons.member_id:
            if cons.member_id:
                _index_discard(self._by_member, cons.member_id, cons)
            member_id = clean["MEMBER_ID"]
            if isinstance(member_id, str):
                _index_add(self._by_member, member_id, cons)
        if "PRIMARY_EMAIL" in clean:
            email = clean["PRIMARY_EMAIL"]
            old_key = cons.primary_email.lower() if cons.primary_email else None
            new_key = email_key(email) if isinstance(email, str) else None
            if old_key != new_key:
                if old_key:
                    _index_discard(self._by_email, old_key, cons)
                if new_key:
                    _index_add(self._by_email, new_key, cons)
        if "USER_NAME" in clean:
            if cons.user_name:
                self._by_user_name.pop(cons.user_name.lower(), None)
            user_name = clean["USER_NAME"]
            if isinstance(user_name, str):
                self._by_user_name[user_name.lower()] = cons

    def _check_user_name(self, clean: Mapping[str, FieldValue], cons: Constituent | None) -> None:
        user_name = clean.get("USER_NAME")
        if isinstance(user_name, str):
            holder = self._by_user_name.get(user_name.lower())
            if holder is not None and holder is not cons:
                raise ConstituentFieldError(
                    "USER_NAME",
                    f"USER_NAME '{user_name}' is already used by constituent {holder.cons_id}.",
                )

    def _check_present(self, cons: Constituent) -> None:
        if self._by_id.get(cons.cons_id) is not cons:
            raise KeyError(f"constituent {cons.cons_id} is not in this directory")

    @staticmethod
    def _assign(cons: Constituent, clean: Mapping[str, FieldValue]) -> None:
        for column, value in clean.items():
            if column in SHARED_VALUE_COLUMNS and isinstance(value, str):
                value = sys.intern(value)
            setattr(cons, COLUMN_ATTRIBUTES[column], value)
        if "ACCEPTS_EMAIL" in clean and clean["ACCEPTS_EMAIL"] is None:
            cons.accepts_email = False  # cleared opt-in means opted out


def _created_seq(cons: Constituent) -> int:
    return cons.created_seq


def _parse_time(key: str, value: object, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise ConstituentFieldError(key, f"{key} {value!r} is not an ISO date-time.") from None
    if when.tzinfo is None:
        raise ConstituentFieldError(key, f"{key} {value!r} has no timezone.")
    return when
