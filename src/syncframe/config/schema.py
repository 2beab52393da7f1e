"""The JSON Schema of flow files, with the options of every installed plugin.

Editors (Taplo for TOML, yaml-language-server for YAML) use it for completion and checking
while a flow file is written. Components are ``oneOf`` their registered types, each branch the
component's options plus a constant ``type``; connections are ``oneOf`` the registered systems.
The loader stays the authority: the schema cannot say, for instance, which connection names
exist, and does not require settings that may come from the environment.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from syncframe.config.models import _DURATION, SyncframeConfig
from syncframe.registry import ComponentType, Registry

__all__ = ["JSON_SCHEMA_DIALECT", "config_json_schema"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"

# Flow key -> (definition name of the union, kind as registered, prefix of the branches'
# definitions, whether the key holds a list).
_COMPONENT_KEYS = {
    "source": ("Source", "source", "source", False),
    "sink": ("Sink", "sink", "sink", False),
    "filters": ("Filter", "filter", "filter", True),
    "loop_guards": ("LoopGuard", "loop guard", "loop_guard", True),
    "matchers": ("Matcher", "matcher", "matcher", True),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _add_model(defs: dict[str, Any], model: type[BaseModel], prefix: str) -> dict[str, Any]:
    """``model``'s schema with its ``$defs`` moved into ``defs`` under ``prefix``.

    Every plugin model gets its own prefix (``sink.csv.``), so two plugins that both define a
    model called ``Options`` or ``Auth`` cannot overwrite each other's definitions.
    """
    schema = model.model_json_schema(ref_template=f"#/$defs/{prefix}{{model}}")
    for name, definition in schema.pop("$defs", {}).items():
        defs[f"{prefix}{name}"] = definition
    ref = schema.get("$ref")
    if isinstance(ref, str) and "properties" not in schema:
        # A recursive model is given as a reference to its own definition.
        schema = copy.deepcopy(defs[ref.removeprefix("#/$defs/")])
    return dict(schema)


def _union(branches: list[str], what: str) -> dict[str, Any]:
    if not branches:
        return {"not": {}, "description": f"no {what} are installed"}
    return {"oneOf": [_ref(name) for name in branches]}


def _component_branch(
    defs: dict[str, Any], prefix: str, component: ComponentType[Any]
) -> dict[str, Any]:
    schema = _add_model(defs, component.options, prefix=f"{prefix}.{component.name}.")
    properties: dict[str, Any] = {
        "type": {"const": component.name, "description": component.description},
        "connection": {
            "type": "string",
            "description": (
                f"A connection of system {component.system!r}."
                if component.system
                else "This component needs no connection."
            ),
        },
    }
    properties.update(schema.get("properties") or {})
    required = ["type", *(["connection"] if component.system else [])]
    required += [name for name in schema.get("required", []) if name not in required]
    schema.update(
        type="object",
        title=f"{component.kind} {component.name}",
        description=component.description or schema.get("description", ""),
        properties=properties,
        required=required,
    )
    return schema


def _connection_branches(
    defs: dict[str, Any], registry: Registry, engine: Mapping[str, Any]
) -> list[str]:
    names: list[str] = []
    for name, system in sorted(registry.systems.items()):
        schema = _add_model(defs, system.settings, prefix=f"system.{name}.")
        properties: dict[str, Any] = {
            "system": {"const": name, "description": system.description},
        }
        properties.update({k: v for k, v in engine.items() if k != "system"})
        properties.update(schema.get("properties") or {})
        # Settings may come from SYNCFRAME_<CONNECTION>_<FIELD> in the environment or .env, so
        # the file need not give them.
        schema.pop("required", None)
        schema.update(
            type="object",
            title=f"{name} connection",
            description=system.description or schema.get("description", ""),
            properties=properties,
            required=["system"],
        )
        defs[f"system.{name}"] = schema
        names.append(f"system.{name}")
    return names


def _durations_take_numbers(node: Any) -> None:
    """Let every timedelta take a number of seconds too, as pydantic (and the loader) do.

    Pydantic describes a timedelta as an ISO 8601 string only; the text forms syncframe's
    options accept (``"15m"``) pass as strings either way.
    """
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "duration":
            del node["type"], node["format"]
            node["anyOf"] = [{"type": "number"}, {"type": "string"}]
        for value in node.values():
            _durations_take_numbers(value)
    elif isinstance(node, list):
        for item in node:
            _durations_take_numbers(item)


def config_json_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a flow file with the plugins of ``registry``."""
    defs: dict[str, Any] = {}
    root = _add_model(defs, SyncframeConfig, prefix="")

    flow = defs["FlowConfig"]
    tables: dict[str, Mapping[str, ComponentType[Any]]] = {
        "source": registry.sources,
        "sink": registry.sinks,
        "filter": registry.filters,
        "loop guard": registry.loop_guards,
        "matcher": registry.matchers,
    }
    for key, (union_name, kind, prefix, many) in _COMPONENT_KEYS.items():
        branches = []
        for name, component in sorted(tables[kind].items()):
            defs[f"{prefix}.{name}"] = _component_branch(defs, prefix, component)
            branches.append(f"{prefix}.{name}")
        defs[union_name] = _union(branches, f"{kind} types")
        if many:
            flow["properties"][key]["items"] = _ref(union_name)
        else:
            flow["properties"][key] = _ref(union_name)
    del defs["ComponentConfig"]

    engine = defs.pop("ConnectionConfig")["properties"]
    defs["Connection"] = _union(_connection_branches(defs, registry, engine), "system types")
    root["properties"]["connections"]["additionalProperties"] = _ref("Connection")
    for key in ("connections", "flows"):
        root["properties"][key]["propertyNames"] = {"pattern": _NAME_PATTERN}

    # What the models accept beyond what pydantic can describe.
    for definition in defs.values():
        _durations_take_numbers(definition)
    every = defs["ScheduleConfig"]["properties"]["every"]
    every["anyOf"] = [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": _DURATION.pattern},
    ]
    convert = defs["FieldRule"]["properties"]["convert"]
    items = convert.pop("items")
    convert.pop("type")
    convert["anyOf"] = [items, {"type": "array", "items": items}]

    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "syncframe flow file",
        "description": (
            "Connections, flows and the state store of syncframe (TOML or YAML); "
            "see docs/config.md."
        ),
        **{k: v for k, v in root.items() if k not in ("title", "description")},
        "$defs": dict(sorted(defs.items())),
    }
