"""Base classes for what plugins provide: sources, sinks, matchers, loop guards and filters.

Methods under "engine-owned" banners are called by the engine and marked ``@final``; authors
override the ones under "override" banners. Every component gets a :class:`ComponentContext` and
its validated options model when the engine builds it for a flow.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from syncframe.records import Change

if TYPE_CHECKING:
    from syncframe.clock import Clock
    from syncframe.state.base import StateStore

__all__ = [
    "BatchResult",
    "ComponentContext",
    "Filter",
    "GuardVerdict",
    "JSONValue",
    "LoopGuard",
    "MatchAction",
    "MatchDecision",
    "Matcher",
    "NoOptions",
    "Outcome",
    "PermanentError",
    "Sink",
    "Source",
    "SourceBatch",
    "TargetLookup",
    "TargetRecord",
    "TransientError",
    "WritePlan",
]

JSONValue = Any
"""A value that survives a round trip through JSON: what cursors and sink positions must be."""


class NoOptions(BaseModel):
    """The options model of a component that takes none; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=BaseModel)


class Outcome(StrEnum):
    """What became of one change in one run."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # the sink chose not to write it (e.g. nothing it handles)
    REJECTED = "rejected"  # the matcher or the sink refused it, with a reason
    FILTERED = "filtered"  # a filter of the flow dropped it
    BLOCKED = "blocked"  # a loop guard stopped it
    FAILED = "failed"  # an error that retries did not cure; kept in failed records

    @property
    def wrote(self) -> bool:
        """Whether this outcome changed the target system."""
        return self in (Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED)


class TransientError(Exception):
    """A failure that may pass if tried again (5xx, 429, timeout, lost connection).

    ``retry_after`` (seconds) is honoured by the engine's retry policy when the system said when.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A failure that will not pass by retrying (bad data, 4xx other than 429, auth)."""


# --------------------------------------------------------------------------------------------
# Context the engine hands to every component.


@dataclass(slots=True)
class ComponentContext:
    """What a component may use. Built by the engine; plugins never build their own client.

    ``connection`` is the validated settings model of the connection the component reads or
    writes (``None`` for components that need none, like local files); ``http`` returns the
    engine's shared :class:`httpx.AsyncClient` for that connection, with its limits applied;
    ``clock`` is the engine's clock (a controllable one in tests).
    """

    flow: str
    connection_name: str
    connection: BaseModel | None
    clock: Clock
    state: StateStore
    logger: logging.Logger
    http_factory: Callable[[], httpx.AsyncClient] | None = None
    run_id: str | None = None
    config_dir: str = "."

    def http(self) -> httpx.AsyncClient:
        """The HTTP client for this component's connection."""
        if self.http_factory is None:
            raise RuntimeError(f"connection {self.connection_name!r} has no HTTP client")
        return self.http_factory()


class _Component(ABC, Generic[OptionsT]):
    """What every component shares: an options model, a context, a check and a close."""

    #: Pydantic model of the component's options in the flow file.
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: The system type (registered connection type) it needs, or ``None`` for none.
    system: ClassVar[str | None] = None

    def __init__(self, context: ComponentContext, options: OptionsT) -> None:
        self.context = context
        self.options = options

    # ---- override --------------------------------------------------------------------------
    async def check(self) -> None:
        """Connection check: raise :class:`PermanentError` with a clear message if unusable."""

    async def aclose(self) -> None:
        """Release what the component holds (files, sessions)."""


# --------------------------------------------------------------------------------------------
# Sources


@dataclass(slots=True)
class SourceBatch:
    """A batch of changes and the cursor to resume *after* it once the batch is acknowledged.

    ``segment`` names the part of the source's data the batch belongs to when the source reads
    in segments a sink may want to keep apart (a Luminate sync window, say); the engine hands it
    to the sink as :attr:`WritePlan.segment`. ``None``: the source has no segments.
    """

    changes: list[Change]
    cursor: JSONValue
    segment: str | None = None


class Source(_Component[OptionsT]):
    """Reads changes of one entity since a cursor, in batches, oldest first."""

    #: The entity the source emits (a source may override per instance through options).
    entity: ClassVar[str] = "record"

    # ---- override --------------------------------------------------------------------------
    @abstractmethod
    def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        """Yield batches of at most ``batch_size`` changes after ``cursor`` (``None``: start).

        Each batch's ``cursor`` must let a later ``read`` resume right after that batch. The
        engine stops iterating when asked to; reading must hold at most a batch or two in memory.
        """

    async def acknowledged(self, cursor: JSONValue) -> None:
        """Called after the engine durably committed ``cursor`` (e.g. to end a sync window)."""


# --------------------------------------------------------------------------------------------
# Sinks


@dataclass(slots=True)
class TargetRecord:
    """A record as found in the target system by a lookup."""

    key: str
    fields: dict[str, Any]


@dataclass(slots=True)
class WritePlan:
    """How the engine wants a batch written.

    ``token`` names the batch uniquely (``flow:run_id:seq``); a transactional sink
    stores it atomically with the data so :meth:`Sink.was_applied` can answer after a crash.
    ``targets[i]`` is the key of the target record the matcher chose for change ``i`` (``None``:
    create); the whole list is ``None`` when the flow has no matcher and the sink keys by itself.
    ``segment`` is the :attr:`SourceBatch.segment` the batch was read in (``None`` for sources
    without segments and for failed-record retries), for sinks that write one file per segment.
    """

    token: str
    targets: list[str | None] | None = None
    dry_run: bool = False
    segment: str | None = None


@dataclass(slots=True)
class BatchResult:
    """The sink's acknowledgement: one outcome per change, in order.

    ``reasons`` and ``target_keys`` are sparse (index -> value). ``target_keys`` gives the key of
    the record written in the target (required for created records when the flow keeps an
    identity map). ``position`` is the sink's own resume point (e.g. a file offset), stored by the
    engine with the source cursor in one transaction and handed back to :meth:`Sink.open`.
    """

    outcomes: list[Outcome]
    reasons: dict[int, str] = field(default_factory=dict)
    target_keys: dict[int, str] = field(default_factory=dict)
    position: JSONValue = None

    @classmethod
    def uniform(cls, outcome: Outcome, count: int, position: JSONValue = None) -> BatchResult:
        """Every change of the batch had the same outcome."""
        return cls([outcome] * count, position=position)

    def counts(self) -> dict[str, int]:
        """Outcome name -> how many."""
        totals: dict[str, int] = {}
        for outcome in self.outcomes:
            totals[outcome.value] = totals.get(outcome.value, 0) + 1
        return totals


class TargetLookup(ABC):
    """Finding records in the target, which a matcher needs. Sinks that can look up implement it."""

    @abstractmethod
    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        """For each value, the target records whose ``field`` equals it (missing: no record)."""

    async def prepare(self, fields: Sequence[str]) -> None:  # noqa: B027 (optional)
        """Called once a run, beside the source's first read, with every field the flow's
        matchers will find by; load what finding by them needs (an index, a directory) now, so
        the first batch does not wait for it. A failure is logged and left to ``find``."""


class Sink(_Component[OptionsT]):
    """Applies batches of changes to a target and reports an outcome per change.

    Exactly-once contract: the engine resumes from the last cursor it committed. A sink must
    therefore either be transactional (store ``plan.token`` with the data and answer
    :meth:`was_applied`), or restore itself to the committed ``position`` in :meth:`open`
    (files: truncate), or be idempotent by key (re-applying a batch changes nothing: upserts,
    and a matcher that finds the record created before the crash).
    """

    # ---- override --------------------------------------------------------------------------
    async def open(self, position: JSONValue) -> None:
        """Called once before the first write with the last committed position (or ``None``)."""

    async def was_applied(self, token: str) -> bool:
        """Whether the batch ``token`` was durably applied (transactional sinks only)."""
        return False

    @abstractmethod
    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        """Apply the batch (or, with ``plan.dry_run``, only say what would be done).

        Return one outcome per change. Bad records are ``REJECTED`` with a reason in
        ``reasons``, never raised; raise :class:`TransientError` for a failure worth retrying the
        whole batch and :class:`PermanentError` for one that fails it.
        """

    def lookup(self) -> TargetLookup | None:
        """A lookup into the target for matchers, or ``None`` if the sink cannot look up."""
        return None


# --------------------------------------------------------------------------------------------
# Matchers


class MatchAction(StrEnum):
    """What a matcher decided for an incoming change."""

    MATCH = "match"
    CREATE = "create"
    REJECT = "reject"
    SKIP = "skip"  # leave the change alone, with the reason (an update-only flow, say)


@dataclass(frozen=True, slots=True)
class MatchDecision:
    """A matcher's decision and its explanation (shown in dry runs and run history)."""

    action: MatchAction
    explanation: str
    target_key: str | None = None


class Matcher(_Component[OptionsT]):
    """Decides, per incoming change, which target record it is: match, create or reject."""

    # ---- override --------------------------------------------------------------------------
    @abstractmethod
    async def decide(
        self, changes: Sequence[Change], target: TargetLookup | None
    ) -> list[MatchDecision | None]:
        """One decision per change; ``None`` leaves the change to the next matcher of the flow."""

    def lookup_fields(self) -> Sequence[str]:
        """The target fields :meth:`decide` finds records by (for ``TargetLookup.prepare``)."""
        return ()


# --------------------------------------------------------------------------------------------
# Loop guards


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """Why a loop guard stopped a change, and from when it would be allowed (if ever)."""

    reason: str
    allowed_after: Any = None  # datetime, or None for "not by waiting"


class LoopGuard(_Component[OptionsT]):
    """Stops a change from bouncing back between two systems. Any guard of a flow may veto."""

    # ---- override --------------------------------------------------------------------------
    @abstractmethod
    async def screen(self, changes: Sequence[Change]) -> list[GuardVerdict | None]:
        """One verdict per change (source-side names, before mapping); ``None`` lets it flow."""

    async def learn(self, changes: Sequence[Change], result: BatchResult) -> None:
        """Called after the sink acknowledged a batch (target-side names): what was written."""


# --------------------------------------------------------------------------------------------
# Filters


class Filter(_Component[OptionsT]):
    """Keeps or drops changes before matching; a dropped change is ``FILTERED`` with a reason."""

    # ---- override --------------------------------------------------------------------------
    @abstractmethod
    def reason_to_drop(self, change: Change) -> str | None:
        """``None`` keeps the change; a string drops it and says why."""
