"""The change envelope: the one record shape every source, filter, guard, matcher and sink sees."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

__all__ = ["Change", "Operation", "Origin", "compute_change_id"]


class Operation(StrEnum):
    """What happened to the record in its system."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who wrote the change: a person/other process in ``system``, or syncframe itself.

    ``flow`` and ``run_id`` are set when syncframe wrote the value being read back; loop guards use
    them to recognise their own writes.
    """

    system: str
    flow: str | None = None
    run_id: str | None = None
    channel: str | None = None  # e.g. "admin_portal", "api", "import": how the edit was made


def compute_change_id(
    system: str,
    entity: str,
    keys: Mapping[str, Any],
    operation: Operation,
    fields: Mapping[str, Any],
    occurred_at: datetime | None,
) -> str:
    """A deterministic id for a change: the same change read twice gets the same id.

    Field order does not matter (keys are sorted); the id is 32 hex characters of BLAKE2b.
    """
    payload = orjson.dumps(
        [system, entity, keys, operation.value, fields, occurred_at],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
        default=_datetime_or_text,
    )
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def _datetime_or_text(value: Any) -> Any:
    # Decimal, date and other values sources may emit: hash them by their text.
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class Change:
    """One change of one record in one system.

    ``keys`` holds the record's identifiers, primary key first (``{"id": "42", "email": ...}``);
    ``fields`` the values as the system names them (a sink sees them after field mapping, named as
    the target names them). ``change_id`` is computed lazily from the rest, so sources that never
    need it do not pay for it; a source that has a native change id passes it instead.
    """

    __slots__ = (
        "_change_id",
        "entity",
        "fields",
        "keys",
        "occurred_at",
        "operation",
        "origin",
        "system",
    )

    def __init__(
        self,
        system: str,
        entity: str,
        keys: dict[str, Any],
        operation: Operation,
        fields: dict[str, Any],
        occurred_at: datetime | None = None,
        origin: Origin | None = None,
        change_id: str | None = None,
    ) -> None:
        self.system = system
        self.entity = entity
        self.keys = keys
        self.operation = operation
        self.fields = fields
        self.occurred_at = occurred_at
        self.origin = origin
        self._change_id = change_id

    @property
    def change_id(self) -> str:
        """The deterministic id: native if the source gave one, else a hash of the change."""
        if self._change_id is None:
            self._change_id = compute_change_id(
                self.system, self.entity, self.keys, self.operation, self.fields, self.occurred_at
            )
        return self._change_id

    @property
    def key(self) -> str:
        """The primary key's value as text (the first entry of ``keys``)."""
        for value in self.keys.values():
            return value if type(value) is str else str(value)
        raise ValueError(f"change of {self.system}.{self.entity} has no key")

    def replace(self, **changes: Any) -> Change:
        """A copy with some attributes replaced; the change id is kept unless given."""
        values: dict[str, Any] = {
            "system": self.system,
            "entity": self.entity,
            "keys": self.keys,
            "operation": self.operation,
            "fields": self.fields,
            "occurred_at": self.occurred_at,
            "origin": self.origin,
            "change_id": self.change_id,
        }
        values.update(changes)
        return Change(**values)

    def describe(self) -> str:
        """A short human name for messages: ``crm.contact[id=42]``."""
        keys = ", ".join(f"{k}={v}" for k, v in self.keys.items())
        return f"{self.system}.{self.entity}[{keys}]"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, as stored in failed records and run history."""
        return {
            "change_id": self.change_id,
            "system": self.system,
            "entity": self.entity,
            "keys": self.keys,
            "operation": self.operation.value,
            "fields": self.fields,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "origin": None
            if self.origin is None
            else {
                "system": self.origin.system,
                "flow": self.origin.flow,
                "run_id": self.origin.run_id,
                "channel": self.origin.channel,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """The inverse of :meth:`to_dict`."""
        origin = data.get("origin")
        occurred = data.get("occurred_at")
        return cls(
            system=data["system"],
            entity=data["entity"],
            keys=dict(data["keys"]),
            operation=Operation(data["operation"]),
            fields=dict(data["fields"]),
            occurred_at=datetime.fromisoformat(occurred) if occurred else None,
            origin=Origin(**origin) if origin else None,
            change_id=data.get("change_id"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable fields: not hashable

    def __repr__(self) -> str:
        return f"Change({self.describe()}, {self.operation.value}, {self.fields!r})"
