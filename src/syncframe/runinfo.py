"""What observers are told about a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["RunInfo", "RunSummary"]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run of one flow, as observers see it."""

    run_id: str
    flow: str
    dry_run: bool
    started_at: datetime
    kind: str = "run"  # run | retry


@dataclass(slots=True)
class RunSummary:
    """How a run ended."""

    status: str  # succeeded | failed | interrupted
    counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    error: str | None = None
    recovered_batch: bool = False  # a batch applied before a crash was committed at start

    @property
    def total(self) -> int:
        """How many changes the run handled."""
        return sum(self.counts.values())
