"""The request journal: what reached a simulator's imitated API, and what it answered.

Bounded: only the newest ``maxlen`` entries are kept, so a long run or a benchmark does not grow
memory. Sequence numbers keep counting, so ``entries(since=seq)`` pages on even after old
entries have fallen off.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime
from itertools import islice

from pydantic import BaseModel, ConfigDict

from syncframe_simulators.faults import FaultKind

__all__ = ["JournalEntry", "RequestJournal"]


class JournalEntry(BaseModel):
    """One request to the imitated API (admin requests are not journaled)."""

    model_config = ConfigDict(frozen=True)

    #: 1, 2, 3... in arrival order, never reused.
    seq: int
    #: Simulator clock time when the request arrived.
    at: datetime
    method: str
    path: str
    #: The system's operation name, when the simulator knows it (a SOAP operation).
    operation: str | None
    #: Status sent; ``None`` when the client got no answer (timeout, dropped connection).
    status: int | None
    #: The kind of fault injected, ``None`` for a normal answer.
    fault: FaultKind | None = None
    #: Id of the fault rule that fired.
    fault_id: str | None = None
    #: Wall-clock time the simulator spent on the request.
    duration_ms: float
    request_bytes: int
    response_bytes: int


class RequestJournal:
    """A bounded, thread-safe log of :class:`JournalEntry`, oldest first."""

    def __init__(self, maxlen: int = 10_000) -> None:
        if maxlen < 1:
            raise ValueError(f"a journal keeps at least one entry (maxlen={maxlen})")
        self.maxlen = maxlen
        self._entries: deque[JournalEntry] = deque(maxlen=maxlen)
        self._last_seq = 0
        self._lock = threading.Lock()

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest entry ever recorded (0 before the first)."""
        with self._lock:
            return self._last_seq

    def record(
        self,
        *,
        at: datetime,
        method: str,
        path: str,
        operation: str | None,
        status: int | None,
        fault: FaultKind | None,
        fault_id: str | None,
        duration_ms: float,
        request_bytes: int,
        response_bytes: int,
    ) -> JournalEntry:
        """Append an entry (the oldest falls off when full) and return it."""
        with self._lock:
            self._last_seq += 1
            entry = JournalEntry(
                seq=self._last_seq,
                at=at,
                method=method,
                path=path,
                operation=operation,
                status=status,
                fault=fault,
                fault_id=fault_id,
                duration_ms=duration_ms,
                request_bytes=request_bytes,
                response_bytes=response_bytes,
            )
            self._entries.append(entry)
            return entry

    def entries(self, since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        """Entries with ``seq > since``, oldest first, at most ``limit`` of them."""
        if since < 0:
            raise ValueError(f"since must be 0 or more, not {since}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        with self._lock:
            # Entries are in seq order: skip from the left without scanning what is wanted.
            first = self._entries[0].seq if self._entries else 0
            start = max(0, since - first + 1) if self._entries else 0
            stop = None if limit is None else start + limit
            return list(islice(self._entries, start, stop))

    def clear(self) -> None:
        """Forget every entry (sequence numbers keep counting)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
