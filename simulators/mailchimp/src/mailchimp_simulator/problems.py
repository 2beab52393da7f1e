"""Mailchimp's errors: ``application/problem+json`` bodies and the exception that carries them.

Every refusal of the imitated API is a :class:`MailchimpError` raised by the domain or the
request parsing and rendered once, by :func:`problem_response`, as the real API renders it:
``{"type", "title", "status", "detail", "instance"}`` plus ``errors: [{field, message}]`` for
validation failures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

from starlette.responses import Response

__all__ = [
    "ERROR_DOC_URL",
    "PROBLEM_CONTENT_TYPE",
    "FieldProblem",
    "MailchimpError",
    "problem_body",
    "problem_response",
]

#: The ``type`` of every problem: Mailchimp points them all at one documentation page.
ERROR_DOC_URL: Final = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_CONTENT_TYPE: Final = "application/problem+json; charset=utf-8"

_VALIDATION_DETAIL: Final = (
    "The resource submitted could not be validated. For field-specific details, see the "
    "'errors' array."
)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One entry of a validation error's ``errors`` array."""

    field: str
    message: str


class MailchimpError(Exception):
    """A refusal of the imitated API, rendered as problem+json (see :func:`problem_response`)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = headers or {}

    # -- the refusals the API gives, named as Mailchimp titles them ------------------------------

    @classmethod
    def invalid(cls, *errors: FieldProblem, detail: str = _VALIDATION_DETAIL) -> MailchimpError:
        """400 "Invalid Resource" naming each field that failed."""
        return cls(400, "Invalid Resource", detail, errors)

    @classmethod
    def invalid_field(cls, field: str, message: str) -> MailchimpError:
        return cls.invalid(FieldProblem(field, message))

    @classmethod
    def not_found(
        cls, detail: str = "The requested resource could not be found."
    ) -> MailchimpError:
        return cls(404, "Resource Not Found", detail)

    @classmethod
    def json_parse(cls, reason: str) -> MailchimpError:
        return cls(
            400,
            "JSON Parse Exception",
            f"We encountered an unspecified JSON parsing error: {reason}",
        )

    @classmethod
    def member_exists(cls, email: str) -> MailchimpError:
        return cls(
            400,
            "Member Exists",
            f"{email} is already a list member. Use PUT to insert or update list members.",
        )

    @classmethod
    def compliance_state(cls, email: str) -> MailchimpError:
        return cls(
            400,
            "Member In Compliance State",
            f"{email} is already a list member in compliance state due to unsubscribe, bounce, "
            "or compliance review and cannot be subscribed.",
        )

    @classmethod
    def forgotten(cls, email: str) -> MailchimpError:
        return cls(
            400,
            "Forgotten Email Not Subscribed",
            f"{email} was permanently deleted and cannot be re-imported. The contact must "
            "re-subscribe to get back on the list.",
        )

    @classmethod
    def too_many_connections(cls, limit: int) -> MailchimpError:
        return cls(
            429,
            "Too Many Requests",
            f"You have exceeded the limit of {limit} simultaneous connections.",
        )

    @classmethod
    def internal(cls) -> MailchimpError:
        return cls(
            500,
            "Internal Server Error",
            "A deep, internal error has occurred during the processing of your request. "
            "Please contact support with the instance ID.",
        )


def _title_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    title: str | None,
    detail: str,
    instance: str,
    errors: Sequence[FieldProblem] = (),
) -> bytes:
    """A problem+json document; ``title`` defaults to the status's reason phrase."""
    document: dict[str, object] = {
        "type": ERROR_DOC_URL,
        "title": title or _title_of(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        document["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return json.dumps(document).encode()


def problem_response(error: MailchimpError, instance: str) -> Response:
    """The answer the real API gives for ``error``; ``instance`` is the request's id."""
    return Response(
        problem_body(error.status, error.title, error.detail, instance, error.errors),
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=error.headers,
    )
