"""A flow file after validation: every component resolved to its registered type and options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from syncframe.config.models import ConnectionConfig, FlowConfig, SyncframeConfig
from syncframe.registry import ComponentType, SystemType

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "LoadedConfig",
    "ResolvedComponent",
    "ResolvedConnection",
    "ResolvedFlow",
]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a flow file, located as precisely as the file allows."""

    file: str
    line: int | None
    path: str  # dotted field path, e.g. "flows.donations.sink.type"
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A flow file that cannot be used; ``problems`` lists every problem found, not just one."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(slots=True)
class ResolvedConnection:
    """A connection with its validated settings (secrets from the environment or ``.env``)."""

    name: str
    system: SystemType
    settings: BaseSettings
    config: ConnectionConfig


@dataclass(slots=True)
class ResolvedComponent:
    """A component of a flow: its registered type, validated options and connection."""

    kind: str  # source | sink | matcher | loop guard | filter
    component: ComponentType[Any]
    options: BaseModel
    connection: ResolvedConnection | None
    path: str  # where it is in the file, e.g. "flows.donations.sink"
    label: str | None = None  # its step's name in a flow kind's step log

    @property
    def step(self) -> str:
        """The name the step log gives it: the flow kind's label, else its place in the flow."""
        if self.label:
            return self.label
        return self.path.split(".", 2)[-1] if self.path.startswith("flows.") else self.path

    @property
    def connection_name(self) -> str:
        """The connection's name, or the component type's name when it needs no connection."""
        return self.connection.name if self.connection else self.component.name


@dataclass(slots=True)
class ResolvedFlow:
    """A flow whose every part exists and validated."""

    name: str
    config: FlowConfig
    source: ResolvedComponent
    sink: ResolvedComponent
    filters: list[ResolvedComponent] = field(default_factory=list)
    loop_guards: list[ResolvedComponent] = field(default_factory=list)
    matchers: list[ResolvedComponent] = field(default_factory=list)
    kind: str | None = None  # the plugin flow kind it was written in (``kind = "..."``), if any
    kind_options: BaseModel | None = None  # that kind's own options (a flow id, say)


@dataclass(slots=True)
class LoadedConfig:
    """A validated flow file."""

    path: Path
    config: SyncframeConfig
    connections: dict[str, ResolvedConnection]
    flows: dict[str, ResolvedFlow]
    state_url: str  # with a relative SQLite path made absolute against the file's folder

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the file are read against."""
        return self.path.parent
