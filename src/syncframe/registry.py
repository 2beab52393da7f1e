"""What plugins registered: systems, components, converters and demo steps, by name.

The engine owns the names: a duplicate is an error that names both plugins, and a registered
class is checked to be of the right kind, so a plugin mistake fails when plugins load, not in the
middle of a sync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from syncframe.components import Filter, LoopGuard, Matcher, Sink, Source

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from syncframe.demo import DemoContext
    from syncframe.flowkinds import FlowKind
    from syncframe.serve import FlowService

__all__ = [
    "ComponentRegistrar",
    "ComponentType",
    "ConverterRegistrar",
    "ConverterType",
    "DemoRegistrar",
    "DemoStep",
    "FlowKindRegistrar",
    "FlowKindType",
    "PluginError",
    "Registry",
    "ServeRouteRegistrar",
    "ServeRoutes",
    "ServeRoutesFactory",
    "SimulatorEntry",
    "SimulatorFactory",
    "SimulatorRegistrar",
    "SystemRegistrar",
    "SystemType",
]


class PluginError(Exception):
    """A plugin registered something the engine cannot accept."""


@dataclass(frozen=True, slots=True)
class SystemType:
    """A connection type: its name and the settings model a connection of it validates with."""

    name: str
    settings: type[BaseSettings]
    description: str
    plugin: str


C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class ComponentType(Generic[C]):
    """A registered source, sink, matcher, loop guard or filter class."""

    kind: str
    name: str
    cls: type[C]
    description: str
    plugin: str

    @property
    def options(self) -> type[BaseModel]:
        """The model of the component's options in a flow file."""
        options: type[BaseModel] = self.cls.Options  # type: ignore[attr-defined]
        return options

    @property
    def system(self) -> str | None:
        """The connection type the component needs, if any."""
        system: str | None = self.cls.system  # type: ignore[attr-defined]
        return system


@dataclass(frozen=True, slots=True)
class ConverterType:
    """A value converter usable in field mappings."""

    name: str
    function: Callable[[Any], Any]
    description: str
    plugin: str


DemoStep = Callable[["DemoContext"], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class DemoEntry:
    """A step of ``syncframe demo``."""

    name: str
    step: DemoStep
    description: str
    plugin: str


SimulatorFactory = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class SimulatorEntry:
    """A registered simulator: ``factory(clock=..., seed=...)`` builds a fresh one."""

    name: str
    factory: SimulatorFactory
    description: str
    plugin: str


@dataclass(frozen=True, slots=True)
class FlowKindType:
    """A registered flow kind: ``kind = NAME`` in a flow table is expanded by ``kind``."""

    name: str
    kind: FlowKind
    description: str
    plugin: str


ServeRoutesFactory = Callable[["FlowService"], "list[BaseRoute]"]


@dataclass(frozen=True, slots=True)
class ServeRoutes:
    """HTTP routes a plugin adds to ``syncframe serve``: ``factory(service)`` builds them."""

    name: str
    factory: ServeRoutesFactory
    description: str
    plugin: str


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


@dataclass
class Registry:
    """Everything the loaded plugins registered."""

    systems: dict[str, SystemType] = field(default_factory=dict)
    sources: dict[str, ComponentType[Source[Any]]] = field(default_factory=dict)
    sinks: dict[str, ComponentType[Sink[Any]]] = field(default_factory=dict)
    matchers: dict[str, ComponentType[Matcher[Any]]] = field(default_factory=dict)
    loop_guards: dict[str, ComponentType[LoopGuard[Any]]] = field(default_factory=dict)
    filters: dict[str, ComponentType[Filter[Any]]] = field(default_factory=dict)
    converters: dict[str, ConverterType] = field(default_factory=dict)
    demos: dict[str, DemoEntry] = field(default_factory=dict)
    simulators: dict[str, SimulatorEntry] = field(default_factory=dict)
    flow_kinds: dict[str, FlowKindType] = field(default_factory=dict)
    serve_routes: dict[str, ServeRoutes] = field(default_factory=dict)

    def provided_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, by kind (for ``syncframe plugins``)."""
        kinds: dict[str, list[str]] = {}
        for kind, table in self.tables().items():
            names = [name for name, item in table.items() if item.plugin == plugin]
            if names:
                kinds[kind] = sorted(names)
        return kinds

    def tables(self) -> dict[str, dict[str, Any]]:
        """Kind name -> its registrations."""
        return {
            "systems": self.systems,
            "sources": self.sources,
            "sinks": self.sinks,
            "matchers": self.matchers,
            "loop_guards": self.loop_guards,
            "filters": self.filters,
            "converters": self.converters,
            "demos": self.demos,
            "simulators": self.simulators,
            "flow_kinds": self.flow_kinds,
            "serve_routes": self.serve_routes,
        }


def _check_name(kind: str, name: str, table: dict[str, Any], plugin: str) -> None:
    if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise PluginError(f"plugin {plugin!r} registered {kind} with an invalid name {name!r}")
    if name in table:
        raise PluginError(
            f"{kind} {name!r} is registered twice: by plugin {table[name].plugin!r} "
            f"and by plugin {plugin!r}"
        )


class SystemRegistrar:
    """Passed to ``syncframe_register_systems``: call it to register a connection type."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(
        self, name: str, settings: type[BaseSettings], *, description: str | None = None
    ) -> None:
        if not (isinstance(settings, type) and issubclass(settings, BaseSettings)):
            raise PluginError(
                f"plugin {self._plugin!r} registered system {name!r} with {settings!r}, "
                "which is not a pydantic-settings BaseSettings subclass"
            )
        _check_name("system", name, self._registry.systems, self._plugin)
        self._registry.systems[name] = SystemType(
            name, settings, description or _first_line(settings.__doc__), self._plugin
        )


class ComponentRegistrar:
    """Passed to the component registration hooks: call it to register a class by name."""

    def __init__(
        self, registry: Registry, kind: str, base: type[Any], table: dict[str, Any], plugin: str
    ) -> None:
        self._registry = registry
        self._kind = kind
        self._base = base
        self._table = table
        self._plugin = plugin

    def __call__(self, name: str, cls: type[Any], *, description: str | None = None) -> None:
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            raise PluginError(
                f"plugin {self._plugin!r} registered {self._kind} {name!r} with {cls!r}, "
                f"which is not a subclass of syncframe.components.{self._base.__name__}"
            )
        options = getattr(cls, "Options", None)
        if not (isinstance(options, type) and issubclass(options, BaseModel)):
            raise PluginError(
                f"{self._kind} {name!r} of plugin {self._plugin!r}: Options must be a "
                "pydantic BaseModel subclass"
            )
        _check_name(self._kind, name, self._table, self._plugin)
        self._table[name] = ComponentType(
            self._kind, name, cls, description or _first_line(cls.__doc__), self._plugin
        )


class ConverterRegistrar:
    """Passed to ``syncframe_register_converters``."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(
        self, name: str, function: Callable[[Any], Any], *, description: str | None = None
    ) -> None:
        if not callable(function):
            raise PluginError(f"converter {name!r} of plugin {self._plugin!r} is not callable")
        _check_name("converter", name, self._registry.converters, self._plugin)
        self._registry.converters[name] = ConverterType(
            name, function, description or _first_line(function.__doc__), self._plugin
        )


class DemoRegistrar:
    """Passed to ``syncframe_register_demos``."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(self, name: str, step: DemoStep, *, description: str | None = None) -> None:
        _check_name("demo", name, self._registry.demos, self._plugin)
        self._registry.demos[name] = DemoEntry(
            name, step, description or _first_line(step.__doc__), self._plugin
        )


class SimulatorRegistrar:
    """Passed to ``syncframe_register_simulators``."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(
        self, name: str, factory: SimulatorFactory, *, description: str | None = None
    ) -> None:
        if not callable(factory):
            raise PluginError(
                f"plugin {self._plugin!r} registered simulator {name!r} with {factory!r}, "
                "which is not callable"
            )
        _check_name("simulator", name, self._registry.simulators, self._plugin)
        self._registry.simulators[name] = SimulatorEntry(
            name, factory, description or _first_line(factory.__doc__), self._plugin
        )


class FlowKindRegistrar:
    """Passed to ``syncframe_register_flow_kinds``."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(self, name: str, kind: FlowKind, *, description: str | None = None) -> None:
        from syncframe.flowkinds import FlowKind

        if not isinstance(kind, FlowKind):
            raise PluginError(
                f"plugin {self._plugin!r} registered flow kind {name!r} with {kind!r}, which is "
                "not a syncframe.flowkinds.FlowKind instance"
            )
        _check_name("flow kind", name, self._registry.flow_kinds, self._plugin)
        self._registry.flow_kinds[name] = FlowKindType(
            name, kind, description or _first_line(type(kind).__doc__), self._plugin
        )


class ServeRouteRegistrar:
    """Passed to ``syncframe_register_serve_routes``."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(
        self, name: str, factory: ServeRoutesFactory, *, description: str | None = None
    ) -> None:
        if not callable(factory):
            raise PluginError(
                f"plugin {self._plugin!r} registered serve routes {name!r} with {factory!r}, "
                "which is not callable"
            )
        _check_name("serve routes", name, self._registry.serve_routes, self._plugin)
        self._registry.serve_routes[name] = ServeRoutes(
            name, factory, description or _first_line(factory.__doc__), self._plugin
        )
