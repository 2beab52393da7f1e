"""Fault rules and the seeded injector that decides which request a rule hits.

A rule names a kind of fault and which requests it may hit (path glob, method, the system's
operation name); ``after``, ``times`` and ``probability`` say which of those it actually hits.
The injector draws from its own ``random.Random(seed)``, so the same seed and the same request
sequence give the same faults: a failing test can be replayed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["FaultInjector", "FaultKind", "FaultRule", "FaultStatus"]

#: What a fault does to a request (see ``docs/simulators.md`` for what a client sees).
FaultKind = Literal["latency", "error", "rate_limit", "timeout", "disconnect", "malformed"]


class FaultRule(BaseModel):
    """One fault: its kind, which requests it may hit and how often."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    #: ``fnmatch`` glob on the request path (``*`` matches ``/`` too).
    path: str = "*"
    #: HTTP method (any case); ``None``: every method.
    method: str | None = None
    #: The system's operation name (``Simulator.operation_of``), a glob; ``None``: any.
    operation: str | None = None
    #: Share of the matching requests hit, drawn from the injector's seeded generator.
    probability: float = Field(1.0, ge=0.0, le=1.0)
    #: Fire at most this many times, then the rule is spent; ``None``: no limit.
    times: int | None = Field(None, ge=1)
    #: Let this many matching requests through before the rule may fire.
    after: int = Field(0, ge=0)
    #: Status of an ``error`` fault.
    status: int = Field(503, ge=400, le=599)
    #: Seconds a ``rate_limit`` answer asks the client to wait (``Retry-After``).
    retry_after: float = Field(1.0, ge=0.0)
    #: Seconds a ``latency`` fault adds before the real answer.
    latency: float = Field(0.0, ge=0.0)
    #: Seconds a ``timeout`` fault keeps the request without an answer.
    hang: float = Field(30.0, gt=0.0)

    @field_validator("method")
    @classmethod
    def _upper_method(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @model_validator(mode="after")
    def _kind_needs_its_knob(self) -> Self:
        if self.kind == "latency" and self.latency <= 0:
            raise ValueError("a latency fault needs latency > 0 (seconds)")
        return self

    def matches(self, method: str, path: str, operation: str | None) -> bool:
        """Whether a request is one this rule may hit (before ``after``/``times``/odds)."""
        if self.method is not None and method.upper() != self.method:
            return False
        if not fnmatchcase(path, self.path):
            return False
        if self.operation is not None:
            return operation is not None and fnmatchcase(operation, self.operation)
        return True


@dataclass(frozen=True, slots=True)
class FaultStatus:
    """A rule as installed: its id, how many requests it saw and how often it fired."""

    id: str
    rule: FaultRule
    seen: int
    fired: int

    @property
    def spent(self) -> bool:
        """Whether the rule fired its ``times`` and will not fire again."""
        return self.rule.times is not None and self.fired >= self.rule.times

    def to_json(self) -> dict[str, Any]:
        """The form the admin API shows."""
        return {
            "id": self.id,
            **self.rule.model_dump(mode="json"),
            "seen": self.seen,
            "fired": self.fired,
            "spent": self.spent,
        }


class _Installed:
    __slots__ = ("fired", "id", "rule", "seen")

    def __init__(self, rule_id: str, rule: FaultRule) -> None:
        self.id = rule_id
        self.rule = rule
        self.seen = 0
        self.fired = 0


class FaultInjector:
    """The fault rules of one simulator and the seeded generator that decides.

    Rules are tried in the order they were added; the first that fires wins and the rules after
    it do not see the request. Thread-safe: a served simulator decides on the server's thread
    while a test adds rules on its own.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self._rules: dict[str, _Installed] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    @property
    def seed(self) -> int:
        """The seed the generator was last (re)started with."""
        return self._seed

    def add(self, rule: FaultRule) -> str:
        """Install a rule; returns its id (``f1``, ``f2``... in the order added)."""
        with self._lock:
            rule_id = f"f{self._next_id}"
            self._next_id += 1
            self._rules[rule_id] = _Installed(rule_id, rule)
            return rule_id

    def remove(self, rule_id: str) -> None:
        """Remove one rule; ``KeyError`` naming the id when there is none."""
        with self._lock:
            if rule_id not in self._rules:
                raise KeyError(f"no fault rule {rule_id!r}")
            del self._rules[rule_id]

    def clear(self) -> None:
        """Remove every rule (ids keep counting up, so an old id never means a new rule)."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> dict[str, FaultRule]:
        """The installed rules by id, in the order they are tried."""
        with self._lock:
            return {rule_id: item.rule for rule_id, item in self._rules.items()}

    def status(self) -> list[FaultStatus]:
        """The installed rules with their counters, in the order they are tried."""
        with self._lock:
            return [
                FaultStatus(item.id, item.rule, item.seen, item.fired)
                for item in self._rules.values()
            ]

    def reseed(self, seed: int) -> None:
        """Restart the generator from ``seed`` (rules and their counters stay)."""
        with self._lock:
            self._seed = seed
            self._random = random.Random(seed)

    def decide(
        self, method: str, path: str, operation: str | None = None
    ) -> tuple[str, FaultRule] | None:
        """The rule (id and rule) that hits this request, or ``None`` to answer normally.

        Counts the request against every rule tried; draws from the generator only for rules
        with a probability below 1, so adding a certain rule does not shift the others' draws.
        """
        with self._lock:
            for item in self._rules.values():
                rule = item.rule
                if rule.times is not None and item.fired >= rule.times:
                    continue
                if not rule.matches(method, path, operation):
                    continue
                item.seen += 1
                if item.seen <= rule.after:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                item.fired += 1
                return item.id, rule
            return None
