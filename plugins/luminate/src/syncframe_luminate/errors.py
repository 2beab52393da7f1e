"""The SOAP faults of the Luminate Online web services as typed exceptions.

Every fault keeps what the service said (fault type such as ``SynchronizationFault``, faultcode
such as ``SYNCHRONIZATION_ERROR``, the faultstring) and names the operation it answered. Each
class is also one of the engine's error kinds, so the engine's retry policy does the right thing
without the connector writing retry loops: a refused login, a refused window, a request the
service calls invalid or unsupported will not pass by retrying (:class:`PermanentError`); the
service's own failure (``ServerFault``) may (:class:`TransientError`).
"""

from __future__ import annotations

from typing import Final

from syncframe.components import PermanentError, TransientError

__all__ = [
    "FAULT_CLASSES",
    "InvalidRecord",
    "InvalidRequest",
    "LoginRefused",
    "LuminateFault",
    "LuminateServerFault",
    "SessionRefused",
    "SynchronizationRefused",
    "UnsupportedOperation",
    "fault_for",
]


class LuminateFault(Exception):
    """A SOAP fault of the web services (base of the typed faults below).

    ``fault_type`` is the detail element's name (``InvalidMessageFault``...), ``code`` the
    faultcode, ``fault_message`` the faultstring as the service wrote it, ``operation`` what was
    being done ("GetIncrementalInserts Donation page 3").
    """

    def __init__(self, operation: str, fault_type: str, code: str, fault_message: str) -> None:
        super().__init__(f"{operation}: {fault_message} ({fault_type} {code})")
        self.operation = operation
        self.fault_type = fault_type
        self.code = code
        self.fault_message = fault_message


class LoginRefused(LuminateFault, PermanentError):
    """``LoginFault``: the API user's name or password was refused (or the user may not use the
    APIs). The message names the API user, never the password."""

    def __init__(
        self, operation: str, fault_type: str, code: str, fault_message: str, *, api_login: str
    ) -> None:
        super().__init__(operation, fault_type, code, fault_message)
        self.api_login = api_login
        self.args = (
            f"Luminate Online refused the login of API user {api_login!r}: {fault_message} "
            f"({fault_type} {code}). Check api_login and api_password, and that the user is in "
            "a group allowed to use the Luminate Online APIs.",
        )


class SynchronizationRefused(LuminateFault, PermanentError):
    """``SynchronizationFault``: no active window, one already active, an unknown partition."""


class InvalidRequest(LuminateFault, PermanentError):
    """``InvalidMessageFault`` / ``MalformedMessageFault``: the service refused the request
    itself (an unknown record type or field, fields out of WSDL order, a Query syntax error)."""


class UnsupportedOperation(LuminateFault, PermanentError):
    """``UnsupportedOperationFault``: the record type does not support the operation (e.g. a
    transaction sent to Create)."""


class InvalidRecord(PermanentError):
    """A record the client cannot send (found before any request): a path the record type does
    not have, or a value of the wrong type. The message names the record and the field."""


class LuminateServerFault(LuminateFault, TransientError):
    """``ServerFault`` (faultcode ``SERVER_ERROR``): the service failed; worth trying again."""


class SessionRefused(LuminateFault, TransientError):
    """``SessionFault`` that logging in again did not cure (the client re-logs in once on its
    own); the session store of the service is having trouble, so it is worth trying later."""


#: Fault type (detail element) -> exception class. A fault of another type is judged by its
#: faultcode: ``SERVER_ERROR`` is transient, anything else permanent (InvalidRequest).
FAULT_CLASSES: Final[dict[str, type[LuminateFault]]] = {
    "LoginFault": LoginRefused,
    "SessionFault": SessionRefused,
    "SynchronizationFault": SynchronizationRefused,
    "InvalidMessageFault": InvalidRequest,
    "MalformedMessageFault": InvalidRequest,
    "UnsupportedOperationFault": UnsupportedOperation,
    "ServerFault": LuminateServerFault,
}


def fault_for(
    operation: str, fault_type: str, code: str, fault_message: str, *, api_login: str
) -> LuminateFault:
    """The typed exception for a fault the service answered ``operation`` with."""
    cls = FAULT_CLASSES.get(fault_type)
    if cls is None:
        cls = LuminateServerFault if code == "SERVER_ERROR" else InvalidRequest
    if cls is LoginRefused:
        return LoginRefused(operation, fault_type, code, fault_message, api_login=api_login)
    return cls(operation, fault_type, code, fault_message)
