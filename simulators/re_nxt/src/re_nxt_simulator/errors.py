"""How the SKY API says no: three shapes, one per layer of the real service.

* The Constituent and Communication Preference APIs answer with the **classic JSON error array**:
  ``[{"message", "error_code", "raw_message", "error_name", "error_args"}]`` (:class:`SkyError`).
* The API gateway in front of them (subscription key, bearer token, rate limit, quota, unknown
  route) answers with an object ``{"statusCode": n, "message": "..."}`` (:class:`GatewayError`).
* The OAuth 2.0 token endpoint answers with RFC 6749's ``{"error", "error_description"}``
  (:class:`OAuthError`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError
from starlette.responses import Response

__all__ = [
    "GatewayError",
    "OAuthError",
    "SkyError",
    "error_array",
    "errors_from_validation",
    "json_body",
]

#: ``error_name`` values the simulator uses (the real catalogue is not public).
INVALID_REQUEST: Final = "InvalidRequest"
INVALID_FIELD: Final = "InvalidField"
NOT_FOUND: Final = "NotFound"
DUPLICATE: Final = "Duplicate"
SERVER_ERROR: Final = "ServerError"


def json_body(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer as the SKY API sends it (``application/json; charset=utf-8``)."""
    return Response(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=dict(headers or {}),
    )


def error_array(
    status: int,
    raw_message: str,
    *args: str,
    error_name: str = INVALID_REQUEST,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One-element classic error array: ``raw_message`` with ``{0}``... filled from ``args``."""
    return SkyError(status, raw_message, *args, error_name=error_name).response(headers)


class SkyError(Exception):
    """An error the imitated API answers with the classic JSON error array.

    ``raw_message`` may hold ``{0}``, ``{1}``... replaced by ``args`` in ``message``, as the real
    ``raw_message``/``error_args`` pair does. ``more`` adds further errors to the same array (one
    per field that failed validation).
    """

    def __init__(
        self,
        status: int,
        raw_message: str,
        *args: str,
        error_name: str = INVALID_REQUEST,
        more: Sequence[SkyError] = (),
    ) -> None:
        self.status = status
        self.raw_message = raw_message
        self.args_ = [str(arg) for arg in args]
        self.error_name = error_name
        self.message = raw_message.format(*self.args_)
        self.more = list(more)
        super().__init__(self.message)

    def entries(self) -> list[dict[str, Any]]:
        """The array the client receives."""
        first = {
            "message": self.message,
            "error_code": self.status,
            "raw_message": self.raw_message,
            "error_name": self.error_name,
            "error_args": self.args_,
        }
        return [first, *(entry for error in self.more for entry in error.entries())]

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return json_body(self.entries(), self.status, headers)

    @classmethod
    def not_found(cls, kind: str, record_id: str) -> SkyError:
        return cls(
            404, "The " + kind + " with ID {0} was not found.", record_id, error_name=NOT_FOUND
        )

    @classmethod
    def field(cls, field: str, raw_message: str, *args: str) -> SkyError:
        """A value the API refuses; the message starts with the field's name."""
        return cls(400, field + ": " + raw_message, *args, error_name=INVALID_FIELD)


def errors_from_validation(exc: ValidationError, prefix: str = "") -> SkyError:
    """Every problem pydantic found, one array entry each, named by the field's path."""
    found: list[SkyError] = []
    for problem in exc.errors():
        where = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a property of this record (check its spelling, or edit it elsewhere)"
        elif problem["type"] == "missing":
            message = "is required"
        # The texts go in as arguments: a value quoted in them may hold braces.
        if not where:
            # A rule across fields (``last is required for an Individual``) names its fields.
            found.append(SkyError(400, "{0}", message, error_name=INVALID_FIELD))
            continue
        found.append(SkyError(400, "{0}: {1}", prefix + where, message, error_name=INVALID_FIELD))
    first, *rest = found or [SkyError(400, "The request body is not valid.")]
    first.more = rest
    return first


class GatewayError(Exception):
    """What the API gateway answers before a request reaches the API (key, token, limits)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    def response(self) -> Response:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="api.sky.blackbaud.com"'
        return json_body({"statusCode": self.status, "message": self.message}, self.status, headers)


class OAuthError(Exception):
    """An RFC 6749 error of the token endpoint (``invalid_grant``, ``invalid_client``...)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        return json_body(
            {"error": self.error, "error_description": self.description},
            self.status,
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
