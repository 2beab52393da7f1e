"""The web services' faults and the admin side's errors (re-exported by ``services``)."""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["FAULT_CODES", "AdminError", "AdminNotFound", "FaultType", "LuminateFault"]

FaultType = Literal[
    "SessionFault",
    "LoginFault",
    "SynchronizationFault",
    "InvalidMessageFault",
    "MalformedMessageFault",
    "UnsupportedOperationFault",
    "ServerFault",
]

# Only MALFORMED_MESSAGE is documented as a faultcode; the others follow its pattern (our choice).
FAULT_CODES: Final[dict[str, str]] = {
    "SessionFault": "INVALID_SESSION",
    "LoginFault": "LOGIN_FAILED",
    "SynchronizationFault": "SYNCHRONIZATION_ERROR",
    "InvalidMessageFault": "INVALID_MESSAGE",
    "MalformedMessageFault": "MALFORMED_MESSAGE",
    "UnsupportedOperationFault": "UNSUPPORTED_OPERATION",
    "ServerFault": "SERVER_ERROR",
}


class LuminateFault(Exception):
    """A SOAP fault the web services answer with.

    ``message`` is the faultstring; ``line``/``column`` fill the fault detail (0 when no position
    in the request is known, which a client such as Omatic then shows as ``Line 0: ...``).
    """

    def __init__(
        self,
        fault_type: FaultType,
        message: str,
        *,
        faultcode: str | None = None,
        line: int = 0,
        column: int = 0,
    ) -> None:
        super().__init__(message)
        self.fault_type: FaultType = fault_type
        self.faultcode = faultcode if faultcode is not None else FAULT_CODES[fault_type]
        self.message = message
        self.line = line
        self.column = column

    @classmethod
    def for_type(
        cls, fault_type: FaultType, message: str, *, line: int = 0, column: int = 0
    ) -> LuminateFault:
        """A fault with the default faultcode of its type."""
        return cls(fault_type, message, line=line, column=column)

    def __repr__(self) -> str:
        return f"LuminateFault({self.fault_type}, {self.message!r})"


class AdminError(ValueError):
    """Bad input to an admin-side action; the message names the field or record."""


class AdminNotFound(AdminError):
    """An admin-side action named a record that does not exist."""
