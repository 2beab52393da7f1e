"""syncframe: keep nonprofit fundraising systems in sync.

The public API for plugin authors and embedders; implementation lives in the submodules.
"""

from syncframe.clock import Clock, ManualClock, SystemClock
from syncframe.components import (
    BatchResult,
    ComponentContext,
    Filter,
    GuardVerdict,
    LoopGuard,
    MatchAction,
    MatchDecision,
    Matcher,
    NoOptions,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    TargetLookup,
    TargetRecord,
    TransientError,
    WritePlan,
)
from syncframe.hookspecs import hookimpl
from syncframe.records import Change, Operation, Origin

__all__ = [
    "BatchResult",
    "Change",
    "Clock",
    "ComponentContext",
    "Filter",
    "GuardVerdict",
    "LoopGuard",
    "ManualClock",
    "MatchAction",
    "MatchDecision",
    "Matcher",
    "NoOptions",
    "Operation",
    "Origin",
    "Outcome",
    "PermanentError",
    "Sink",
    "Source",
    "SourceBatch",
    "SystemClock",
    "TargetLookup",
    "TargetRecord",
    "TransientError",
    "WritePlan",
    "hookimpl",
]
