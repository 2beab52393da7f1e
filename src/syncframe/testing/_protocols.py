"""What the conformance suite needs of a simulator, as structural types.

The suite lives in the core, which does not depend on the simulator kit (nor on Starlette): any
object shaped like a kit :class:`~syncframe_simulators.Simulator` will do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from syncframe.clock import Clock

__all__ = ["FaultsLike", "JournalEntryLike", "JournalLike", "SimulatorLike"]


class JournalEntryLike(Protocol):
    """One request the simulator served (or refused, or left unanswered)."""

    @property
    def seq(self) -> int: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def operation(self) -> str | None: ...
    @property
    def status(self) -> int | None: ...
    @property
    def fault(self) -> str | None: ...


class JournalLike(Protocol):
    """The simulator's request journal, oldest first."""

    def entries(self, since: int = 0, limit: int | None = None) -> Sequence[JournalEntryLike]: ...


class FaultsLike(Protocol):
    """The simulator's fault injector."""

    def add(self, rule: Any) -> str: ...
    def clear(self) -> None: ...


class SimulatorLike(Protocol):
    """A simulated system: in-memory state, faults, a journal, and an in-process transport."""

    @property
    def clock(self) -> Clock: ...
    @property
    def base_url(self) -> str: ...
    @property
    def faults(self) -> FaultsLike: ...
    @property
    def journal(self) -> JournalLike: ...
    def transport(self) -> httpx.AsyncBaseTransport: ...
