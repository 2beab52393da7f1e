"""RFC 7807 ProblemDetails: how the RaiseDonors API answers every error.

The API is ASP.NET Core, so an error is ``application/problem+json`` with ``type`` (the RFC
section of the status, as ASP.NET Core writes it), ``title``, ``status``, ``detail`` and, for
bad input, ``errors``: field name -> messages. Domain refusals (:mod:`raisedonors_simulator.
errors`) become a :class:`Problem` with :meth:`Problem.of`; the app renders it with
:func:`problem_response`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

import orjson
from starlette.responses import Response

from raisedonors_simulator.errors import DomainError, EmailTaken, InvalidFields, Unauthorized

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "VALIDATION_TITLE",
    "Problem",
    "problem_body",
    "problem_response",
]

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"

# What ASP.NET Core puts in ``type`` for each status (its ClientErrorMapping defaults).
_TYPES: Final[dict[int, str]] = {
    400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    401: "https://tools.ietf.org/html/rfc7235#section-3.1",
    403: "https://tools.ietf.org/html/rfc7231#section-6.5.3",
    404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
    405: "https://tools.ietf.org/html/rfc7231#section-6.5.5",
    406: "https://tools.ietf.org/html/rfc7231#section-6.5.6",
    409: "https://tools.ietf.org/html/rfc7231#section-6.5.8",
    415: "https://tools.ietf.org/html/rfc7231#section-6.5.13",
    422: "https://tools.ietf.org/html/rfc4918#section-11.2",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc7231#section-6.6.1",
    502: "https://tools.ietf.org/html/rfc7231#section-6.6.3",
    503: "https://tools.ietf.org/html/rfc7231#section-6.6.4",
    504: "https://tools.ietf.org/html/rfc7231#section-6.6.5",
}

#: ASP.NET Core's title of a model-validation failure.
VALIDATION_TITLE: Final = "One or more validation errors occurred."


def _title(status: int) -> str:
    if status == 500:
        return "An error occurred while processing your request."
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(Exception):
    """An error answer: ``status`` with a ``detail`` saying what went wrong and, for bad input,
    ``errors`` naming each field (``{"email": ["..."]}``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title if title is not None else _title(status)
        self.errors = {name: list(messages) for name, messages in (errors or {}).items()}
        self.headers = dict(headers or {})

    @classmethod
    def of(cls, error: DomainError) -> Problem:
        """The answer to a domain refusal: its status and message; bad input and a taken email
        name their fields in ``errors``; a refused credential says how to authenticate."""
        if isinstance(error, InvalidFields):
            return cls(400, error.message, title=VALIDATION_TITLE, errors=error.errors)
        if isinstance(error, EmailTaken):
            return cls(409, error.message, errors={"email": [error.message]})
        headers = None
        if isinstance(error, Unauthorized):
            headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return cls(error.status, error.message, headers=headers)

    def __repr__(self) -> str:
        return f"Problem({self.status}, {self.detail!r})"


def problem_body(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The ProblemDetails object of an answer."""
    body: dict[str, Any] = {
        "type": _TYPES.get(status, "about:blank"),
        "title": title if title is not None else _title(status),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = {name: list(messages) for name, messages in errors.items()}
    return body


def problem_response(problem: Problem) -> Response:
    """``problem`` as an ``application/problem+json`` answer."""
    body = problem_body(
        problem.status, problem.detail, title=problem.title, errors=problem.errors or None
    )
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers or None,
    )
