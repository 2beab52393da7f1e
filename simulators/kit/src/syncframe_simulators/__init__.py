"""The syncframe simulator kit: Starlette simulators of external systems for tests and demos.

A simulator subclasses :class:`Simulator`; the kit gives it an admin API (seed, state, reset,
clock, faults, journal), fault injection that is repeatable under a seed, a bounded request
journal, in-process httpx clients that time out and drop connections as a socket would,
:func:`serve_in_thread` for real-socket tests, a pytest plugin and ``syncframe simulate``.
See ``docs/simulators.md``.
"""

from syncframe_simulators.admin import (
    AdminInputError,
    ClockReading,
    SimulatorAdmin,
    SimulatorAdminError,
    describe_validation_error,
    json_response,
    read_json,
)
from syncframe_simulators.faults import FaultInjector, FaultKind, FaultRule, FaultStatus
from syncframe_simulators.journal import JournalEntry, RequestJournal
from syncframe_simulators.middleware import retry_after_header
from syncframe_simulators.server import RunningServer, serve_in_thread
from syncframe_simulators.simulator import ADMIN_PREFIX, Simulator
from syncframe_simulators.transport import SimulatedDisconnect, SimulatorTransport

__all__ = [
    "ADMIN_PREFIX",
    "AdminInputError",
    "ClockReading",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "FaultStatus",
    "JournalEntry",
    "RequestJournal",
    "RunningServer",
    "SimulatedDisconnect",
    "Simulator",
    "SimulatorAdmin",
    "SimulatorAdminError",
    "SimulatorTransport",
    "describe_validation_error",
    "json_response",
    "read_json",
    "retry_after_header",
    "serve_in_thread",
]
