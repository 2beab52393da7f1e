"""Loading a flow file (TOML or YAML) and checking every part of it against the plugins.

:func:`load_config` reports every problem of a file at once (not the first), each with the file,
the line of the offending key (else of its table), the dotted path and a message that says what
would be valid: the installed component types, the defined connections, the known converters,
the environment variable a missing secret comes from. Secret values never appear in a message.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic_settings import BaseSettings

from syncframe.components import Sink
from syncframe.config.locate import Locator, PathKey, toml_locator, yaml_locator
from syncframe.config.models import (
    ComponentConfig,
    ConnectionConfig,
    SyncframeConfig,
)
from syncframe.config.resolved import (
    ConfigError,
    ConfigProblem,
    LoadedConfig,
    ResolvedComponent,
    ResolvedConnection,
    ResolvedFlow,
)
from syncframe.flowkinds import FlowExpansion, SubPath
from syncframe.registry import ComponentType, Registry, SystemType

__all__ = ["env_prefix", "format_path", "load_config", "state_url_for"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PLAIN_STEP = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$|\s*\(at end of document\)\s*$")
_SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}

# Flow keys holding a component, and keys holding a list of them, with the kind registered.
_SINGLE_COMPONENTS = (("source", "source"), ("sink", "sink"))
_COMPONENT_LISTS = (("filters", "filter"), ("loop_guards", "loop guard"), ("matchers", "matcher"))
_ENGINE_KEYS = frozenset(
    field.alias or name for name, field in ConnectionConfig.model_fields.items()
)


def format_path(path: Sequence[PathKey]) -> str:
    """``("flows", "x", "filters", 0, "type")`` -> ``flows.x.filters[0].type``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            part = step if _PLAIN_STEP.match(step) else f'"{step}"'
            text += f".{part}" if text else part
    return text


def env_prefix(connection: str) -> str:
    """The prefix of the environment variables a connection reads: ``SYNCFRAME_CRM_``."""
    return f"SYNCFRAME_{connection.upper().replace('-', '_')}_"


def state_url_for(url: str, base_dir: Path) -> str:
    """``url`` with a relative SQLite path made absolute against ``base_dir``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    rest = url[len(prefix) :]
    path_part, sep, query = rest.partition("?")
    if not path_part or path_part == ":memory:" or path_part.startswith("/"):
        return url
    path = Path(path_part).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return f"{prefix}{path.as_posix()}{sep}{query}"


def load_config(
    path: str | Path,
    registry: Registry,
    *,
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read, validate and resolve a flow file against what the plugins registered.

    ``environ`` adds environment variables for connection settings (``SYNCFRAME_<CONNECTION>_
    <FIELD>``) on top of the process environment and the ``.env`` file next to the flow file;
    values written in the flow file come first. Raises :class:`ConfigError` listing every
    problem found.
    """
    return _Loader(Path(path), registry, environ or {}).load()


# --------------------------------------------------------------------------------------------
# Reading the file


@dataclass(slots=True)
class _Document:
    data: Any
    locator: Locator


class _Unreadable(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _read_toml(text: str) -> _Document:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        line = int(match.group(1)) if match and match.group(1) else None
        if match:
            message = message[: match.start()]
        if line is None and "end of document" in str(exc):
            line = text.count("\n") + 1
        raise _Unreadable(line, f"not valid TOML: {message}") from None
    return _Document(data, toml_locator(text))


def _read_yaml(text: str) -> tuple[_Document, list[tuple[tuple[PathKey, ...], int, int]]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # Only the description, never str(exc): that quotes the line, which may hold a secret.
        words = [part for part in (exc.context, exc.problem) if part]
        raise _Unreadable(
            mark.line + 1 if mark else None, f"not valid YAML: {', '.join(words)}"
        ) from None
    except yaml.YAMLError as exc:
        raise _Unreadable(None, f"not valid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    locator, duplicates = yaml_locator(node)
    return _Document(data, locator), [(d.path, d.line, d.first_line) for d in duplicates]


# --------------------------------------------------------------------------------------------
# Making pydantic's errors readable


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation may hold (``X | None`` -> ``[X, None]``, ``Annotated`` peeled)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    return [annotation]


def _keys_at(model: type[BaseModel], path: Sequence[PathKey]) -> list[str] | None:
    """The keys a model allows at ``path`` inside it (``None``: unknown there)."""
    candidates: list[Any] = [model]
    for step in path:
        following: list[Any] = []
        for candidate in candidates:
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                for name, info in candidate.model_fields.items():
                    if step in (name, info.alias):
                        following.extend(_unwrap(info.annotation))
            elif origin is dict and not isinstance(step, int):
                following.extend(_unwrap(typing.get_args(candidate)[1]))
            elif origin is list and isinstance(step, int):
                following.extend(_unwrap(typing.get_args(candidate)[0]))
        candidates = following
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [info.alias or name for name, info in candidate.model_fields.items()]
    return None


def _has(data: Any, step: PathKey) -> bool:
    if isinstance(data, dict):
        return step in data
    return isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data)


def _strip_tags(
    loc: Sequence[PathKey], data: Any, model: type[BaseModel], keep_last: bool
) -> tuple[PathKey, ...]:
    """``loc`` without the steps pydantic adds for union members (``str``, ``FieldRule``)."""
    steps: list[PathKey] = []
    for index, step in enumerate(loc):
        if _has(data, step):
            steps.append(step)
            data = data[step]
        elif (index == len(loc) - 1 and keep_last) or step in (_keys_at(model, steps) or ()):
            # Not in the data but a key: missing, unknown but given elsewhere, or a setting
            # given by the environment.
            steps.append(step)
            data = None
        # Anything else is a union tag, not a key.
    return tuple(steps)


def _value_at(data: Any, path: Sequence[PathKey]) -> tuple[bool, Any]:
    for step in path:
        if not _has(data, step):
            return False, None
        data = data[step]
    return True, data


def _shown(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str) and len(repr(value)) <= 60:
        return repr(value)
    return None


@dataclass(slots=True)
class _Issue:
    path: tuple[PathKey, ...]
    message: str


def _issues(
    error: ValidationError,
    data: Any,
    *,
    model: type[BaseModel],
    extra_keys: Iterable[str] = (),
    show_input: bool = True,
    scrub: Callable[[str], str] | None = None,
) -> list[_Issue]:
    """Pydantic's errors as (path relative to ``data``, readable message), union noise merged.

    ``scrub`` cleans the text pydantic and validators wrote (which may quote a value).
    """
    by_path: dict[tuple[PathKey, ...], list[tuple[str, str]]] = {}
    for err in error.errors(include_url=False):
        kind = err["type"]
        path = _strip_tags(err["loc"], data, model, kind in ("missing", "extra_forbidden"))
        found, value = _value_at(data, path)
        if kind == "missing":
            message = "missing"
        elif kind == "extra_forbidden":
            key = str(path[-1]) if path else ""
            allowed = sorted({*(_keys_at(model, path[:-1]) or []), *extra_keys})
            message = "unknown key"
            close = difflib.get_close_matches(key, allowed, n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            if allowed:
                message += f"; allowed here: {', '.join(allowed)}"
        else:
            message = scrub(err["msg"]) if scrub else err["msg"]
            for prefix in ("Value error, ", "Assertion failed, "):
                message = message.removeprefix(prefix)
            shown = _shown(value) if (found and show_input) else None
            if shown is not None and shown not in message:
                message += f" (got {shown})"
        by_path.setdefault(path, []).append((kind, message))
    issues: list[_Issue] = []
    deeper = {path[:size] for path in by_path for size in range(len(path))}
    for path, found_errors in by_path.items():
        if path in deeper and all(kind.endswith("_type") for kind, _ in found_errors):
            # A union whose table branch reported what is wrong inside the table; the other
            # branch's "should be a valid string" would only confuse.
            continue
        specific = [(k, m) for k, m in found_errors if not k.endswith("_type")]
        messages = [message for _, message in (specific or found_errors)]
        if len(messages) > 1 and all(m.startswith("Input should be ") for m in messages):
            rest = [m.removeprefix("Input should be ").split(" (got ")[0] for m in messages]
            tail = messages[0].partition(" (got ")[2]
            message = "Input should be " + ", or ".join(dict.fromkeys(rest))
            messages = [message + (f" (got {tail}" if tail else "")]
        issues.extend(_Issue(path, message) for message in dict.fromkeys(messages))
    return issues


def _connection_systems(raw: Any) -> dict[str, str | None]:
    """Connection name -> its system as written (``None``: not given or not text)."""
    if not isinstance(raw, dict):
        return {}
    return {
        str(name): values.get("system")
        if isinstance(values, dict) and isinstance(values.get("system"), str)
        else None
        for name, values in raw.items()
    }


def _scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    """Replaces each secret value, where it stands as a whole word, with ``***``."""
    words = sorted(set(secrets), key=len, reverse=True)
    if not words:
        return lambda text: text
    pattern = re.compile(
        r"(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(w) for w in words) + r")(?![A-Za-z0-9_])"
    )
    return lambda text: pattern.sub("***", text)


def _field_annotation(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _decode_env(value: str) -> Any:
    """A list or table given in an environment variable is JSON, as in pydantic-settings."""
    if value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_secret(annotation: Any) -> bool:
    return any(t in (SecretStr, SecretBytes) for t in _unwrap(annotation))


# --------------------------------------------------------------------------------------------
# The checks


class _Loader:
    def __init__(self, path: Path, registry: Registry, environ: Mapping[str, str]) -> None:
        self.path = path
        self.file = str(path)
        self.registry = registry
        self.environ = environ
        self.problems: list[ConfigProblem] = []
        self.locator = Locator()
        self.data: dict[str, Any] = {}
        self._dotenv_values: Mapping[str, str | None] | None = None
        # Flows written in a plugin's flow kind: where each generated part came from.
        self._origins: dict[str, dict[SubPath, SubPath]] = {}
        self._expansions: dict[str, tuple[str, FlowExpansion]] = {}

    # ---- problems --------------------------------------------------------------------------
    def problem(
        self,
        path: Sequence[PathKey],
        message: str,
        *,
        line: int | None = None,
        exact: bool = False,
        generated: bool = True,
    ) -> None:
        """Record a problem; ``generated=False`` when ``path`` is already in the operator's
        file (not in a flow kind's expansion)."""
        if generated:
            path = self._original(path)
        if line is None:
            line = self.locator.exact(path) if exact else self.locator.line(path)
            if line is None and exact:
                line = self.locator.line(path)
        found = ConfigProblem(self.file, line, format_path(path), message)
        if found not in self.problems:
            self.problems.append(found)

    def _original(self, path: Sequence[PathKey]) -> tuple[PathKey, ...]:
        """``path`` in the operator's file: a flow kind's generated part -> the step it came
        from (the longest origin that is a prefix of the path, the rest kept)."""
        path = tuple(path)
        if len(path) < 3 or path[0] != "flows" or not isinstance(path[1], str):
            return path
        origins = self._origins.get(path[1])
        if origins is None:
            return path
        inner = path[2:]
        for size in range(len(inner), 0, -1):
            origin = origins.get(inner[:size])
            if origin is not None:
                return (*path[:2], *origin, *inner[size:])
        return path[:2]

    def _expand_kinds(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with every flow of a plugin's kind replaced by the core flow it stands for."""
        flows = data.get("flows")
        if not isinstance(flows, dict) or not any(
            isinstance(table, dict) and "kind" in table for table in flows.values()
        ):
            return data
        expanded: dict[str, Any] = {}
        for name, table in flows.items():
            if not (isinstance(table, dict) and "kind" in table):
                expanded[name] = table
                continue
            kind_name = table["kind"]
            kind = self.registry.flow_kinds.get(kind_name) if isinstance(kind_name, str) else None
            if kind is None:
                installed = ", ".join(sorted(self.registry.flow_kinds)) or "none"
                self.problem(
                    ("flows", name, "kind"),
                    f"unknown flow kind {kind_name!r}; installed flow kinds: {installed}",
                    exact=True,
                )
                continue
            rest = {key: value for key, value in table.items() if key != "kind"}
            expansion = kind.kind.expand(str(name), rest, data)
            self._origins[str(name)] = dict(expansion.origins)
            self._expansions[str(name)] = (kind.name, expansion)
            for sub, message in expansion.problems:
                self.problem(("flows", name, *sub), message, exact=True, generated=False)
            expanded[name] = expansion.table
        return {**data, "flows": expanded}

    # ---- entry -----------------------------------------------------------------------------
    def load(self) -> LoadedConfig:
        data = self._read()
        if data is None:
            raise ConfigError(self.problems)
        if not isinstance(data, dict):
            self.problem(
                (), "a flow file must be a table (mapping) with state, connections and flows"
            )
            raise ConfigError(self.problems)
        data = self._expand_kinds(data)
        self.data = data
        config = self._structure(data)
        connections = self._connections(data.get("connections"), config)
        flows = self._flows(data.get("flows"), config, connections)
        if self.problems or config is None:
            self.problems.sort(key=lambda p: p.line or 0)
            raise ConfigError(self.problems)
        absolute = self.path.absolute()
        return LoadedConfig(
            path=absolute,
            config=config,
            connections=connections,
            flows=flows,
            state_url=state_url_for(config.state.url, absolute.parent),
        )

    def _read(self) -> Any:
        kind = _SUFFIXES.get(self.path.suffix.lower())
        if kind is None:
            suffix = self.path.suffix or "(none)"
            self.problem((), f"unsupported file type {suffix!r}: use .toml, .yaml or .yml")
            return None
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.problem((), "no such file")
            return None
        except IsADirectoryError:
            self.problem((), "is a directory, not a flow file")
            return None
        except UnicodeDecodeError as exc:
            self.problem((), f"not UTF-8 text (byte {exc.start})")
            return None
        except OSError as exc:
            self.problem((), f"cannot read: {exc.strerror or exc}")
            return None
        try:
            if kind == "toml":
                document = _read_toml(text)
            else:
                document, duplicates = _read_yaml(text)
                for path, line, first in duplicates:
                    self.problem(
                        path,
                        f"given twice (first on line {first}); only one is allowed",
                        line=line,
                    )
        except _Unreadable as exc:
            self.problem((), exc.message, line=exc.line)
            return None
        self.locator = document.locator
        return {} if document.data is None else document.data

    def _structure(self, data: dict[str, Any]) -> SyncframeConfig | None:
        try:
            return SyncframeConfig.model_validate(data)
        except ValidationError as exc:
            for issue in _issues(exc, data, model=SyncframeConfig):
                self.problem(issue.path, issue.message, exact=True)
            return None

    def _check_name(self, path: tuple[PathKey, ...], what: str, name: str) -> None:
        if not _NAME.match(name):
            self.problem(
                path,
                f"{what} name {name!r} is not valid: use letters, digits, '_' and '-', "
                "starting with a letter or '_'",
            )

    # ---- connections -----------------------------------------------------------------------
    def _connections(
        self, raw: Any, config: SyncframeConfig | None
    ) -> dict[str, ResolvedConnection]:
        resolved: dict[str, ResolvedConnection] = {}
        if not isinstance(raw, dict):
            return resolved
        for name, values in raw.items():
            path: tuple[PathKey, ...] = ("connections", name)
            self._check_name(path, "connection", str(name))
            if not isinstance(values, dict):
                continue
            system_name = values.get("system")
            if not isinstance(system_name, str):
                continue  # the structure check reported it
            system = self.registry.systems.get(system_name)
            if system is None:
                installed = ", ".join(sorted(self.registry.systems)) or "none"
                self.problem(
                    (*path, "system"),
                    f"unknown system type {system_name!r}; installed system types: {installed}",
                    exact=True,
                )
                continue
            settings = self._settings(str(name), system, values)
            connection_config = config.connections.get(name) if config else None
            if connection_config is None:
                try:
                    connection_config = ConnectionConfig.model_validate(values)
                except ValidationError:
                    connection_config = None  # reported by the structure check
            if settings is not None and connection_config is not None:
                resolved[name] = ResolvedConnection(name, system, settings, connection_config)
        return resolved

    def _settings(
        self, name: str, system: SystemType, values: dict[str, Any]
    ) -> BaseSettings | None:
        path: tuple[PathKey, ...] = ("connections", name)
        model = system.settings
        prefix = env_prefix(name)
        given = {key: value for key, value in values.items() if key not in _ENGINE_KEYS}
        from_env, variables = self._env_values(model, prefix, given)
        try:
            # Everything is passed in, in our order of precedence; pydantic-settings must not
            # read a .env of its own (the working directory's, or with its extras rules).
            return model(**given, **from_env, _env_prefix=prefix, _env_file=None)
        except ValidationError as exc:
            secrets = [
                str(value)
                for key, value in (*given.items(), *from_env.items())
                if _is_secret(_field_annotation(model, key)) and value not in (None, "")
            ]
            for issue in _issues(
                exc,
                given,
                model=model,
                extra_keys=_ENGINE_KEYS,
                show_input=False,
                scrub=_scrubber(secrets),
            ):
                message = issue.message
                field_name = str(issue.path[0]) if issue.path else ""
                if message == "missing" and len(issue.path) == 1:
                    variable = f"{prefix}{field_name.upper()}"
                    if _is_secret(_field_annotation(model, field_name)):
                        message = f"missing; set {variable} in the environment or .env"
                    else:
                        message = f"missing; give it here or set {variable} (environment or .env)"
                elif field_name in variables:
                    message += f" (the value of {variables[field_name]})"
                self.problem((*path, *issue.path), message, exact=True)
            return None

    def _env_values(
        self, model: type[BaseSettings], prefix: str, given: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Settings the file leaves out, from the environment, and the variable of each.

        First found wins: the ``environ`` given to :func:`load_config`, the process
        environment, then the ``.env`` file beside the flow file. Variable names match in any
        case; variables with the prefix that name no setting are ignored, as
        pydantic-settings does for the environment.
        """
        fields: dict[str, str] = {}
        for field_name, info in model.model_fields.items():
            for key in (field_name, info.alias):
                if key:
                    fields[key.lower()] = field_name
        dotenv = self._dotenv()
        values: dict[str, Any] = {}
        variables: dict[str, str] = {}
        sources: list[tuple[str, Mapping[str, str | None]]] = [
            ("", self.environ),
            ("", os.environ),
            (" in .env", dotenv),
        ]
        for where, source in sources:
            for key, value in source.items():
                if value is None or not key.upper().startswith(prefix):
                    continue
                target = fields.get(key[len(prefix) :].lower())
                if target is None or target in given or target in values:
                    continue
                values[target] = _decode_env(value)
                variables[target] = f"{key}{where}"
        return values, variables

    def _dotenv(self) -> Mapping[str, str | None]:
        """The variables of the ``.env`` file beside the flow file (read once)."""
        if self._dotenv_values is None:
            env_file = self.path.parent / ".env"
            self._dotenv_values = {}
            if env_file.is_file():
                try:
                    self._dotenv_values = dotenv_values(env_file, encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc
                    self.problems.append(
                        ConfigProblem(str(env_file), None, "", f"cannot read: {reason}")
                    )
        return self._dotenv_values

    # ---- flows -----------------------------------------------------------------------------
    def _flows(
        self,
        raw: Any,
        config: SyncframeConfig | None,
        connections: dict[str, ResolvedConnection],
    ) -> dict[str, ResolvedFlow]:
        resolved: dict[str, ResolvedFlow] = {}
        if not isinstance(raw, dict):
            return resolved
        raw_connections = _connection_systems(self.data.get("connections"))
        for name, flow in raw.items():
            path: tuple[PathKey, ...] = ("flows", name)
            self._check_name(path, "flow", str(name))
            if not isinstance(flow, dict):
                continue
            parts: dict[str, list[ResolvedComponent | None]] = {}
            for key, kind in _SINGLE_COMPONENTS:
                parts[key] = [
                    self._component((*path, key), kind, flow.get(key), connections, raw_connections)
                ]
            for key, kind in _COMPONENT_LISTS:
                items = flow.get(key)
                parts[key] = [
                    self._component((*path, key, index), kind, item, connections, raw_connections)
                    for index, item in enumerate(items if isinstance(items, list) else [])
                ]
            self._matchers_need_lookup(path, parts["sink"][0], parts["matchers"])
            self._converters(path, flow.get("mapping"))
            flow_config = config.flows.get(name) if config else None
            source, sink = parts["source"][0], parts["sink"][0]
            if flow_config is None or source is None or sink is None:
                continue
            lists = {key: [c for c in parts[key] if c is not None] for key, _ in _COMPONENT_LISTS}
            if any(len(lists[key]) != len(parts[key]) for key in lists):
                continue
            flow_kind = self._expansions.get(str(name))
            if flow_kind is not None:
                labels = flow_kind[1].labels
                for key, _ in _SINGLE_COMPONENTS:
                    parts[key][0].label = labels.get((key,))  # type: ignore[union-attr]
                for key in lists:
                    for index, part in enumerate(lists[key]):
                        part.label = labels.get((key, index))
            resolved[name] = ResolvedFlow(
                name=name,
                config=flow_config,
                source=source,
                sink=sink,
                filters=lists["filters"],
                loop_guards=lists["loop_guards"],
                matchers=lists["matchers"],
                kind=None if flow_kind is None else flow_kind[0],
                kind_options=None if flow_kind is None else flow_kind[1].options,
            )
        return resolved

    def _component(
        self,
        path: tuple[PathKey, ...],
        kind: str,
        raw: Any,
        connections: dict[str, ResolvedConnection],
        raw_connections: dict[str, str | None],
    ) -> ResolvedComponent | None:
        if not isinstance(raw, dict):
            return None
        try:
            config = ComponentConfig.model_validate(raw)
        except ValidationError:
            return None  # the structure check reported it
        table = self._table(kind)
        component = table.get(config.type)
        if component is None:
            plural = f"{kind} types"
            installed = ", ".join(sorted(table)) or "none"
            self.problem(
                (*path, "type"),
                f"unknown {kind} type {config.type!r}; installed {plural}: {installed}",
                exact=True,
            )
            return None
        options: BaseModel | None
        try:
            options = component.options.model_validate(config.options_values())
        except ValidationError as exc:
            options = None
            for issue in _issues(
                exc,
                config.options_values(),
                model=component.options,
                extra_keys=("type", "connection"),
            ):
                self.problem((*path, *issue.path), issue.message, exact=True)
        usable, connection = self._component_connection(
            path, kind, component, config.connection, connections, raw_connections
        )
        if options is None or not usable:
            return None
        return ResolvedComponent(
            kind=kind,
            component=component,
            options=options,
            connection=connection,
            path=format_path(self._original(path)),
        )

    def _table(self, kind: str) -> Mapping[str, ComponentType[Any]]:
        tables: dict[str, Mapping[str, ComponentType[Any]]] = {
            "source": self.registry.sources,
            "sink": self.registry.sinks,
            "matcher": self.registry.matchers,
            "loop guard": self.registry.loop_guards,
            "filter": self.registry.filters,
        }
        return tables[kind]

    def _component_connection(
        self,
        path: tuple[PathKey, ...],
        kind: str,
        component: ComponentType[Any],
        name: str | None,
        connections: dict[str, ResolvedConnection],
        raw_connections: dict[str, str | None],
    ) -> tuple[bool, ResolvedConnection | None]:
        """Whether the component's connection is usable, and which it is (``None``: none)."""
        system = component.system
        what = f"{kind} type {component.name!r}"
        if name is None:
            if system is None:
                return True, None
            same = sorted(n for n, s in raw_connections.items() if s == system)
            hint = (
                f"{system} connections: {', '.join(same)}"
                if same
                else f"no {system} connection is defined"
            )
            self.problem(path, f"{what} needs a connection of system {system!r}; {hint}")
            return False, None
        if name not in raw_connections:
            defined = ", ".join(sorted(raw_connections)) or "none"
            self.problem(
                (*path, "connection"),
                f"unknown connection {name!r}; defined connections: {defined}",
                exact=True,
            )
            return False, None
        actual = raw_connections[name]
        if actual is not None and actual not in self.registry.systems:
            return False, None  # its unknown system was reported where it is defined
        if system is not None and actual is not None and actual != system:
            same = sorted(n for n, s in raw_connections.items() if s == system)
            hint = (
                f"{system} connections: {', '.join(same)}"
                if same
                else (f"no {system} connection is defined")
            )
            self.problem(
                (*path, "connection"),
                f"connection {name!r} is a {actual} connection; {what} needs a {system} "
                f"connection ({hint})",
                exact=True,
            )
            return False, None
        resolved = connections.get(name)
        # A connection that did not validate was reported where it is defined.
        return resolved is not None, resolved

    def _matchers_need_lookup(
        self,
        path: tuple[PathKey, ...],
        sink: ResolvedComponent | None,
        matchers: list[ResolvedComponent | None],
    ) -> None:
        if sink is None:
            return
        sink_cls = sink.component.cls
        if sink_cls.lookup is not Sink.lookup:
            return
        for index, matcher in enumerate(matchers):
            if matcher is not None:
                self.problem(
                    (*path, "matchers", index),
                    f"matcher {matcher.component.name} needs a sink that can look up records; "
                    f"sink type {sink.component.name} cannot",
                )

    def _converters(self, path: tuple[PathKey, ...], mapping: Any) -> None:
        if not isinstance(mapping, dict) or not isinstance(mapping.get("fields"), dict):
            return
        available = ", ".join(sorted(self.registry.converters)) or "none"
        for target, rule in mapping["fields"].items():
            if not isinstance(rule, dict):
                continue
            convert = rule.get("convert")
            names = [convert] if isinstance(convert, str) else convert
            if not isinstance(names, list):
                continue
            for index, converter in enumerate(names):
                if isinstance(converter, str) and converter not in self.registry.converters:
                    step: tuple[PathKey, ...] = (
                        ("convert",) if isinstance(convert, str) else ("convert", index)
                    )
                    self.problem(
                        (*path, "mapping", "fields", target, *step),
                        f"unknown converter {converter!r}; available converters: {available}",
                        exact=True,
                    )
