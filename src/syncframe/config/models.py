"""The flow file's shape: connections, flows and the state store.

These models validate the file's structure. A component's own options (the keys of a
``[flows.X.source]`` table besides ``type`` and ``connection``) are validated afterwards against
the options model of the component the ``type`` names (see :mod:`syncframe.config.loader`), and a
connection's values against its system's settings model.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ComponentConfig",
    "ConnectionConfig",
    "FieldRule",
    "FlowConfig",
    "MappingConfig",
    "RetryConfig",
    "StateConfig",
    "SyncframeConfig",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"1d"`` or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    raise ValueError(
        f"{value!r} is not a duration: use a number of seconds or e.g. '90s', '5m', '1h', '1d'"
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetryConfig(_Strict):
    """Retry policy for transient failures (5xx, 429, timeouts, lost connections)."""

    attempts: int = Field(5, ge=1, le=100, description="Tries in all, the first included.")
    initial_wait: float = Field(0.5, ge=0, description="Seconds before the first retry.")
    max_wait: float = Field(30.0, ge=0, description="Cap on one wait, in seconds.")
    jitter: float = Field(0.5, ge=0, description="Random seconds added to each wait.")
    respect_retry_after: bool = Field(True, description="Wait as long as a 429 says.")


class ConnectionConfig(BaseModel):
    """A connection: a system type plus its settings (validated by the system's model)."""

    model_config = ConfigDict(extra="allow")

    system: str = Field(description="The registered system type, e.g. 'luminate'.")
    max_concurrency: int = Field(4, ge=1, le=256, description="Requests in flight at once.")
    rate_limit: float | None = Field(
        None, gt=0, description="Requests per second at most (None: no limit)."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds before a request times out.")
    retry: RetryConfig = Field(default_factory=RetryConfig)

    def settings_values(self) -> dict[str, Any]:
        """The system-specific values (everything but the engine's own keys)."""
        return dict(self.model_extra or {})


class ComponentConfig(BaseModel):
    """A source, sink, matcher, loop guard or filter: its type, connection and options."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="The registered component type.")
    connection: str | None = Field(
        None, description="The connection it uses (components of a system need one)."
    )

    def options_values(self) -> dict[str, Any]:
        """The component's own options."""
        return dict(self.model_extra or {})


class FieldRule(_Strict):
    """How one target field gets its value: copied, constant or templated, then converted."""

    from_: str | None = Field(None, alias="from", description="Source field to copy.")
    value: Any = Field(None, description="A constant value.")
    template: str | None = Field(
        None, description="A str.format template over source fields: '{first} {last}'."
    )
    convert: list[str] = Field(
        default_factory=list, description="Converters applied in order, e.g. ['strip', 'lower']."
    )
    default: Any = Field(None, description="Used when the source field is missing or empty.")
    required: bool = Field(False, description="Reject the change when the result is empty.")

    @field_validator("convert", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        given = [
            name
            for name, v in (
                ("from", self.from_),
                ("value", self.value),
                ("template", self.template),
            )
            if v is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give only one of from / value / template, not {' and '.join(given)}")
        return self


class MappingConfig(_Strict):
    """Field mapping of a flow: target field -> source field name or rule."""

    fields: dict[str, str | FieldRule] = Field(default_factory=dict)
    unmapped: Literal["drop", "keep"] = Field(
        "drop", description="What happens to source fields the mapping does not name."
    )


class ScheduleConfig(_Strict):
    """When the flow runs by itself under ``syncframe run --schedule``."""

    every: timedelta = Field(description="Interval between runs, e.g. '5m'.")

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class FlowConfig(_Strict):
    """One direction of data movement: source, filters, guards, mapping, matchers, sink."""

    description: str = ""
    enabled: bool = True
    source: ComponentConfig
    filters: list[ComponentConfig] = Field(default_factory=list)
    loop_guards: list[ComponentConfig] = Field(default_factory=list)
    mapping: MappingConfig | None = None
    matchers: list[ComponentConfig] = Field(default_factory=list)
    sink: ComponentConfig
    schedule: ScheduleConfig | None = None
    batch_size: int = Field(1000, ge=1, le=100_000, description="Changes per batch.")
    step_log: bool = Field(
        False,
        description="Keep each record's way through the flow (every step's outcome: read, "
        "filters, loop guards, matchers, write) in run history; `syncframe runs show RUN "
        "--steps` prints it.",
    )
    history: Literal["full", "exceptions"] = Field(
        "full",
        description="Keep every record's outcome in run history, or only those not written.",
    )
    max_failed_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Stop the run when more than this share of a batch fails permanently.",
    )


class StateConfig(_Strict):
    """Where the engine keeps cursors, identity map, ledger, run history and failed records."""

    url: str = Field(
        "sqlite:///syncframe-state.db",
        description="sqlite:///relative/or/absolute/path.db (relative to the flow file).",
    )


class SyncframeConfig(_Strict):
    """A flow file."""

    state: StateConfig = Field(default_factory=StateConfig)
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)
    flows: dict[str, FlowConfig] = Field(default_factory=dict)
