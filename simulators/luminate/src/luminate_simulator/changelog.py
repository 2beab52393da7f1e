"""The change log behind Luminate's incremental downloads (GetIncrementalInserts/Updates/Deletes).

Every write to a simulated record (a SOAP Create/Update/Delete, a constituent upload row, an
admin-API action) appends one entry: when (simulator clock), which record, what kind of change
and who made it. The web services read a sync window back with :meth:`ChangeLog.between`.

Storage is columnar (packed arrays plus two lists of shared objects), not one object per entry:
an upload of a million rows against a million constituents writes two million entries, and at
about 30 bytes an entry that stays small where a NamedTuple per entry would cost ~150.
"""

from __future__ import annotations

import bisect
import sys
from array import array
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

__all__ = ["ChangeEntry", "ChangeKind", "ChangeLog"]

ChangeKind = Literal["insert", "update", "delete"]

_KINDS: tuple[ChangeKind, ...] = ("insert", "update", "delete")
_KIND_CODES: dict[str, int] = {kind: code for code, kind in enumerate(_KINDS)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class ChangeEntry(NamedTuple):
    """One change: ``seq`` is the order in which changes were recorded (1, 2, ...)."""

    at: datetime
    seq: int
    record_id: int | str
    kind: ChangeKind
    actor: str


def _micros(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError(f"change time {at.isoformat()} has no timezone")
    return (at - _EPOCH) // _MICROSECOND


class ChangeLog:
    """Append-only, time-ordered log of changes to one simulated store."""

    __slots__ = ("_actors", "_at", "_kinds", "_last_at", "_last_micros", "_record_ids", "_seqs")

    def __init__(self) -> None:
        self._at = array("q")  # microseconds since the epoch, non-decreasing
        self._seqs = array("q")
        self._kinds = bytearray()
        self._record_ids: list[int | str] = []
        self._actors: list[str] = []
        # The clock hands out the same datetime object until it moves: skip the conversion then.
        self._last_at: datetime | None = None
        self._last_micros = 0

    def record(self, at: datetime, record_id: int | str, kind: ChangeKind, actor: str) -> None:
        """Append a change made at ``at`` (timezone-aware) to ``record_id`` by ``actor``."""
        if at is self._last_at:
            micros = self._last_micros
        else:
            micros = _micros(at)
            self._last_at = at
            self._last_micros = micros
        code = _KIND_CODES.get(kind)
        if code is None:
            raise ValueError(f"unknown change kind {kind!r}")
        seq = len(self._seqs) + 1
        actor = sys.intern(actor)  # one string object per actor, however many entries
        times = self._at
        if not times or times[-1] <= micros:
            times.append(micros)
            self._seqs.append(seq)
            self._kinds.append(code)
            self._record_ids.append(record_id)
            self._actors.append(actor)
            return
        # An earlier time than the last entry (e.g. seeded history): keep the log time-ordered.
        index = bisect.bisect_right(times, micros)
        times.insert(index, micros)
        self._seqs.insert(index, seq)
        self._kinds.insert(index, code)
        self._record_ids.insert(index, record_id)
        self._actors.insert(index, actor)

    def extend(
        self,
        at: datetime,
        record_ids: Sequence[int | str],
        kinds: Sequence[ChangeKind],
        actor: str,
    ) -> None:
        """Append several changes made at one time by one actor (a batch of upload rows)."""
        if len(record_ids) != len(kinds):
            raise ValueError("extend needs one kind per record id")
        count = len(record_ids)
        if not count:
            return
        try:
            codes = bytes(map(_KIND_CODES.__getitem__, kinds))
        except KeyError as error:
            raise ValueError(f"unknown change kind {error.args[0]!r}") from None
        micros = _micros(at)
        times = self._at
        if times and times[-1] > micros:
            for record_id, kind in zip(record_ids, kinds, strict=True):
                self.record(at, record_id, kind, actor)
            return
        first_seq = len(self._seqs) + 1
        times.extend(array("q", [micros]) * count)
        self._seqs.extend(array("q", range(first_seq, first_seq + count)))
        self._kinds.extend(codes)
        self._record_ids.extend(record_ids)
        self._actors.extend([sys.intern(actor)] * count)

    def between(self, start: datetime, end: datetime) -> Iterator[ChangeEntry]:
        """Changes with ``start <= at < end``, in time order (ties in recording order)."""
        low = bisect.bisect_left(self._at, _micros(start))
        high = bisect.bisect_left(self._at, _micros(end))
        return self._entries(low, high)

    def __len__(self) -> int:
        return len(self._at)

    def __iter__(self) -> Iterator[ChangeEntry]:
        return self._entries(0, len(self._at))

    def clear(self) -> None:
        """Forget every entry (the simulator's reset)."""
        self._at = array("q")
        self._seqs = array("q")
        self._kinds = bytearray()
        self._record_ids = []
        self._actors = []
        self._last_at = None

    def _entries(self, low: int, high: int) -> Iterator[ChangeEntry]:
        times, seqs, kinds = self._at, self._seqs, self._kinds
        record_ids, actors = self._record_ids, self._actors
        previous_micros = -1
        at = _EPOCH
        for index in range(low, min(high, len(times))):
            micros = times[index]
            if micros != previous_micros:
                at = _EPOCH + timedelta(microseconds=micros)
                previous_micros = micros
            kind = _KINDS[kinds[index]]
            yield ChangeEntry(at, seqs[index], record_ids[index], kind, actors[index])
