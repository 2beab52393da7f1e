"""Salesforce's error list: every REST error is a JSON array of ``{message, errorCode, fields}``.

``fields`` is present when the error is about fields of a record (a missing required field, a
value too long); other errors carry only ``message`` and ``errorCode``, as the real API does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "READ_ONLY_HINT",
    "ErrorItem",
    "SalesforceError",
    "entity_is_deleted",
    "invalid_session",
    "not_found",
]

#: What Salesforce adds after the names of fields a request may not write.
READ_ONLY_HINT: Final = (
    "Please check the security settings of this field and verify that it is read/write for "
    "your profile or permission set."
)


@dataclass(frozen=True, slots=True)
class ErrorItem:
    """One entry of an error list."""

    message: str
    error_code: str
    fields: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return item


class SalesforceError(Exception):
    """An API call refused: the HTTP status and the error list the body carries."""

    def __init__(self, status: int, errors: Sequence[ErrorItem]) -> None:
        if not errors:
            raise ValueError("a Salesforce error needs at least one error item")
        super().__init__("; ".join(f"{e.error_code}: {e.message}" for e in errors))
        self.status = status
        self.errors = tuple(errors)

    @classmethod
    def one(
        cls, status: int, error_code: str, message: str, fields: Sequence[str] | None = None
    ) -> SalesforceError:
        """An error of one item."""
        return cls(status, [ErrorItem(message, error_code, tuple(fields) if fields else None)])

    @property
    def error_code(self) -> str:
        """The code of the first item (what clients usually branch on)."""
        return self.errors[0].error_code

    def to_json(self) -> list[dict[str, Any]]:
        return [item.to_json() for item in self.errors]


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    """404 ``NOT_FOUND``: an unknown resource, object, record or external id field."""
    return SalesforceError.one(404, "NOT_FOUND", message)


def entity_is_deleted() -> SalesforceError:
    """404 ``ENTITY_IS_DELETED``: the record is in the recycle bin."""
    return SalesforceError.one(404, "ENTITY_IS_DELETED", "entity is deleted", [])


def invalid_session() -> SalesforceError:
    """401 ``INVALID_SESSION_ID``: no token, an unknown one, or one that expired."""
    return SalesforceError.one(401, "INVALID_SESSION_ID", "Session expired or invalid")
