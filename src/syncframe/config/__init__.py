"""Flow files: their models, loading and validation, and their JSON Schema."""

from syncframe.config.loader import load_config
from syncframe.config.models import SyncframeConfig, parse_duration
from syncframe.config.resolved import (
    ConfigError,
    ConfigProblem,
    LoadedConfig,
    ResolvedComponent,
    ResolvedConnection,
    ResolvedFlow,
)
from syncframe.config.schema import config_json_schema

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "LoadedConfig",
    "ResolvedComponent",
    "ResolvedConnection",
    "ResolvedFlow",
    "SyncframeConfig",
    "config_json_schema",
    "load_config",
    "parse_duration",
]
