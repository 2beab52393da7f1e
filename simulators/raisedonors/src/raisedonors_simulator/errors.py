"""The domain's refusals, independent of how they are rendered.

The API renders them as ProblemDetails (:mod:`raisedonors_simulator.problems`), the admin routes
as the kit's ``{"error": ...}``; both read the same message, which names the field or record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "DomainError",
    "DonorNotFound",
    "EmailTaken",
    "FieldErrors",
    "InvalidFields",
    "RecordNotFound",
    "Unauthorized",
]


class DomainError(Exception):
    """Something RaiseDonors refuses; ``message`` says what and names the field or record."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidFields(DomainError):
    """Bad input: ``errors`` maps each field (``primaryAddress.postalCode``) to its problems."""

    status = 400

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors = {name: list(messages) for name, messages in errors.items()}
        super().__init__(
            "; ".join(
                f"{name}: {message}" for name, items in self.errors.items() for message in items
            )
        )

    def prefixed(self, prefix: str) -> InvalidFields:
        """The same problems with every field name under ``prefix`` (``fields.email``)."""
        return InvalidFields({f"{prefix}{name}": items for name, items in self.errors.items()})


class RecordNotFound(DomainError):
    """A request named a record that does not exist."""

    status = 404


class DonorNotFound(RecordNotFound):
    """No donor has this id."""

    def __init__(self, donor_id: int) -> None:
        super().__init__(f"There is no donor with id {donor_id}.")
        self.donor_id = donor_id


class EmailTaken(DomainError):
    """Another donor already has this email (emails are unique, whatever their case)."""

    status = 409

    def __init__(self, email: str, donor_id: int) -> None:
        super().__init__(
            f"The email {email} already belongs to donor {donor_id}; an email address identifies "
            "one donor only."
        )
        self.email = email
        self.donor_id = donor_id


class Unauthorized(DomainError):
    """The request's credentials (realm token, access token) are missing or not valid."""

    status = 401


class FieldErrors:
    """Collects the field problems of one input, so that all are reported at once."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(f"{self.prefix}{name}", []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        """Raise :class:`InvalidFields` when a problem was added."""
        if self.errors:
            raise InvalidFields(self.errors)
