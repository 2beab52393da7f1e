"""The state store protocol: what the engine keeps between runs.

SQLite (:mod:`syncframe.state.sqlite`) is the default; another backend (PostgreSQL) implements the
same protocol. Everything a batch changes is written by :meth:`StateStore.commit_batch` in one
transaction, so a crash leaves either all of it or none of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "BatchCommit",
    "Checkpoint",
    "FailedRecord",
    "InboxEvent",
    "Inflight",
    "LedgerEntry",
    "Link",
    "OutcomeRow",
    "RunRecord",
    "StateStore",
]


@dataclass(slots=True)
class Checkpoint:
    """Where a flow resumes: the source cursor and the sink position committed with it."""

    flow: str
    cursor: Any
    sink_position: Any
    batch_seq: int
    updated_at: datetime


@dataclass(slots=True)
class Inflight:
    """A batch handed to the sink but not yet committed; found after a crash."""

    flow: str
    batch_seq: int
    token: str
    cursor_after: Any
    run_id: str
    started_at: datetime


@dataclass(slots=True)
class OutcomeRow:
    """One record's outcome in one run (run history)."""

    record: str  # the record's primary key value, e.g. "42"
    outcome: str
    reason: str | None = None
    target_key: str | None = None
    change_id: str | None = None
    # The record's way through the flow (``step_log = true``): one entry per step it reached,
    # ``{"step": name, "outcome": what happened there, "detail": why or what}``.
    steps: list[dict[str, str | None]] | None = None


@dataclass(slots=True)
class LedgerEntry:
    """What syncframe last wrote to one record: read by loop guards.

    ``values`` are the fields as written (target-side names); ``source_changed_at`` is when the
    change that caused the write happened in the source system (window guards count from it).
    """

    system: str
    entity: str
    key: str
    values: dict[str, Any]
    source_system: str
    source_key: str
    flow: str
    run_id: str
    source_changed_at: datetime
    written_at: datetime


@dataclass(slots=True)
class Link:
    """Identity map entry: record ``key_a`` in ``system_a`` is record ``key_b`` in ``system_b``."""

    system_a: str
    entity_a: str
    key_a: str
    system_b: str
    entity_b: str
    key_b: str
    flow: str


@dataclass(slots=True)
class FailedRecord:
    """A change that failed permanently, kept with its reason until retried successfully."""

    flow: str
    change_id: str
    change: dict[str, Any]  # Change.to_dict()
    reason: str
    run_id: str
    id: int | None = None
    attempts: int = 1
    status: str = "open"  # open | resolved
    first_failed_at: datetime | None = None
    last_failed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One event a webhook delivered to a flow, kept until its flow has read it.

    ``seq`` orders the events of every flow (a flow's source cursor is the last ``seq`` it read);
    ``event_id`` is the sender's id, unique per flow, so a redelivery is recognised;
    ``outcome``/``reason`` are what became of it, once its flow ran (``None`` before).
    """

    seq: int
    flow: str
    event_id: str
    payload: Any
    received_at: datetime
    outcome: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class RunRecord:
    """One run of one flow."""

    run_id: str
    flow: str
    config_path: str
    started_at: datetime
    dry_run: bool = False
    kind: str = "run"  # run | retry | demo
    finished_at: datetime | None = None
    status: str = "running"  # running | succeeded | failed | interrupted
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(slots=True)
class BatchCommit:
    """Everything one acknowledged batch changes in the state store, committed atomically.

    ``cursor`` is ``None`` for batches that do not move the source (failed-record retries).
    ``resolved_failed`` lists change ids of failed records this batch delivered.
    """

    flow: str
    run_id: str
    batch_seq: int
    cursor: Any
    sink_position: Any
    outcomes: list[OutcomeRow]
    move_cursor: bool = True
    ledger: list[LedgerEntry] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)
    resolved_failed: list[str] = field(default_factory=list)


class StateStore(Protocol):
    """Persistent engine state. Methods are synchronous and quick; one store per process."""

    def close(self) -> None:
        """Flush and release the store."""
        ...

    # ---- checkpoints ---------------------------------------------------------------------
    def get_checkpoint(self, flow: str) -> Checkpoint | None:
        """The last committed checkpoint of ``flow``, or ``None`` before its first batch."""
        ...

    def begin_batch(self, inflight: Inflight) -> None:
        """Record that a batch goes to the sink now (replaces any earlier in-flight marker)."""
        ...

    def get_inflight(self, flow: str) -> Inflight | None:
        """The batch that was handed to the sink and never committed, if any."""
        ...

    def clear_inflight(self, flow: str) -> None:
        """Forget the in-flight marker (the batch will be read again)."""
        ...

    def commit_batch(self, commit: BatchCommit) -> None:
        """In one transaction: move the checkpoint (if ``move_cursor``), clear the in-flight
        marker, append the run's outcomes, write ledger entries and links, add failed records
        (incrementing ``attempts`` of one already open) and resolve delivered ones."""
        ...

    def reset_flow(self, flow: str) -> None:
        """Forget the checkpoint and in-flight marker of ``flow`` (next run starts over)."""
        ...

    # ---- identity map --------------------------------------------------------------------
    def find_links(
        self, system: str, entity: str, keys: Sequence[str], other_system: str
    ) -> dict[str, str]:
        """For each key of ``system``/``entity`` that is linked to a record in ``other_system``,
        that record's key. Links are symmetric."""
        ...

    # ---- loop-guard ledger ---------------------------------------------------------------
    def ledger_get(self, system: str, entity: str, keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """The latest ledger entry of each key that has one."""
        ...

    def ledger_latest(self, system: str, source_system: str) -> LedgerEntry | None:
        """The most recent write into ``system`` caused by a change in ``source_system``."""
        ...

    # ---- runs ----------------------------------------------------------------------------
    def start_run(self, run: RunRecord) -> None:
        """Record a run as started."""
        ...

    def finish_run(
        self, run_id: str, status: str, counts: dict[str, int], error: str | None
    ) -> None:
        """Record how a run ended."""
        ...

    def list_runs(self, flow: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Most recent runs first."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run, by its id or a unique prefix of it."""
        ...

    def run_outcomes(self, run_id: str) -> Iterator[OutcomeRow]:
        """The per-record outcomes of a run, in the order they were committed (streamed)."""
        ...

    # ---- failed records ------------------------------------------------------------------
    def list_failed(self, flow: str | None = None, status: str = "open") -> list[FailedRecord]:
        """Failed records, oldest first."""
        ...

    def get_failed(self, ids: Sequence[int]) -> list[FailedRecord]:
        """Failed records by id."""
        ...

    # ---- webhook inbox -------------------------------------------------------------------
    def inbox_add(self, flow: str, events: Sequence[tuple[str, Any]]) -> list[InboxEvent]:
        """Store ``(event_id, payload)`` events delivered to ``flow`` in one transaction; an
        event id the flow already has is not stored again. Returns each event as stored (the
        earlier copy, with its outcome, for a redelivery), in the order given."""
        ...

    def inbox_read(self, flow: str, after: int, limit: int) -> list[InboxEvent]:
        """Up to ``limit`` events of ``flow`` with ``seq > after``, oldest first."""
        ...

    def inbox_get(self, flow: str, event_ids: Sequence[str]) -> dict[str, InboxEvent]:
        """The stored events of ``flow`` with these ids."""
        ...

    def inbox_settle(self, flow: str, outcomes: Mapping[str, tuple[str, str | None]]) -> None:
        """Record what became of events: ``{event_id: (outcome, reason)}``."""
        ...

    def inbox_prune(self, flow: str, before: datetime, upto_seq: int) -> int:
        """Forget events of ``flow`` received before ``before`` with ``seq <= upto_seq`` (read
        by the flow); returns how many. Their ids are no longer recognised as redeliveries."""
        ...
