"""The plugin host: one per engine (never a global), with one typed method per hook."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import pluggy
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from syncframe import hookspecs
from syncframe.components import BatchResult, Filter, LoopGuard, Matcher, Sink, Source
from syncframe.records import Change
from syncframe.registry import (
    ComponentRegistrar,
    ConverterRegistrar,
    DemoRegistrar,
    FlowKindRegistrar,
    PluginError,
    Registry,
    ServeRouteRegistrar,
    SimulatorRegistrar,
    SystemRegistrar,
)
from syncframe.runinfo import RunInfo, RunSummary

if TYPE_CHECKING:
    import typer

__all__ = ["Host", "HostSettings"]

log = logging.getLogger("syncframe.plugins")


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class HostSettings(BaseSettings):
    """Operator switches for plugin loading, read from ``SYNCFRAME_*`` variables or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="SYNCFRAME_", env_file=".env", extra="ignore")

    #: Only these entry-point plugins are loaded (comma-separated); empty: all.
    plugins_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: These entry-point plugins are never loaded (comma-separated).
    plugins_block: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Extra plugin modules to import and register by dotted name (comma-separated), for
    #: plugins that are not installed as distributions (tests, local customisations).
    plugins_extra: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Log every hook call and result at DEBUG on the ``syncframe.hooks`` logger.
    trace_hooks: bool = False
    #: Set to false to load no entry-point plugins at all (tests, locked-down installs).
    load_entrypoints: bool = True

    @field_validator("plugins_allow", "plugins_block", "plugins_extra", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split(value)


class Host:
    """Loads plugins (entry points plus any given objects) and calls their hooks."""

    def __init__(
        self,
        plugins: Sequence[object] = (),
        *,
        settings: HostSettings | None = None,
        entry_points: bool | None = None,
    ) -> None:
        self.settings = settings or HostSettings()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._origins: dict[str, str] = {}
        load = self.settings.load_entrypoints if entry_points is None else entry_points
        if load:
            self._load_entrypoints()
        else:
            # The built-ins are a plugin like any other, but always there.
            from syncframe import builtins

            self.pm.register(builtins, name="builtins")
        for module_name in self.settings.plugins_extra:
            if self.pm.get_plugin(module_name) is None:
                try:
                    module = importlib.import_module(module_name)
                except ImportError as exc:
                    raise PluginError(
                        f"plugin module {module_name!r} (SYNCFRAME_PLUGINS_EXTRA) "
                        f"cannot be imported: {exc}"
                    ) from exc
                self.pm.register(module, name=module_name)
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            self.pm.register(plugin, name=name)
        # A misspelt hook name (syncframe_register_sink) fails here, loudly.
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from exc
        if self.settings.trace_hooks:
            trace = logging.getLogger("syncframe.hooks")
            self.pm.trace.root.setwriter(lambda message: trace.debug(message.rstrip()))
            self.pm.enable_tracing()
        self._registry: Registry | None = None

    def _load_entrypoints(self) -> None:
        from importlib.metadata import entry_points

        allow, block = set(self.settings.plugins_allow), set(self.settings.plugins_block)
        for ep in entry_points(group=hookspecs.PROJECT_NAME):
            if ep.name in block or (allow and ep.name not in allow and ep.name != "builtins"):
                log.debug("plugin %s not loaded (allow/block list)", ep.name)
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            self.pm.register(plugin, name=ep.name)
            if ep.dist is not None:
                self._origins[ep.name] = f"{ep.dist.name} {ep.dist.version}"

    def plugin_names(self) -> list[str]:
        """Names of the loaded plugins, in load order."""
        return [name for name, _ in self.pm.list_name_plugin()]

    def plugin_origin(self, name: str) -> str:
        """Where a plugin comes from: its distribution and version, or its module."""
        if name in self._origins:
            return self._origins[name]
        plugin = self.pm.get_plugin(name)
        return getattr(plugin, "__name__", type(plugin).__name__)

    # ---- registration ----------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """What the plugins registered (built on first use)."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _each_impl(self, hook_name: str, make_arg: Callable[[str], dict[str, Any]]) -> None:
        caller = getattr(self.pm.hook, hook_name)
        # get_hookimpls() lists plugins in registration order: names then follow load order.
        for impl in caller.get_hookimpls():
            kwargs = make_arg(impl.plugin_name)
            # Like pluggy: an implementation may take fewer arguments than the spec offers.
            impl.function(*[kwargs[name] for name in impl.argnames])

    def _build_registry(self) -> Registry:
        reg = Registry()
        self._each_impl(
            "syncframe_register_systems", lambda p: {"register": SystemRegistrar(reg, p)}
        )
        kinds: list[tuple[str, str, type[Any], dict[str, Any]]] = [
            ("syncframe_register_sources", "source", Source, reg.sources),
            ("syncframe_register_sinks", "sink", Sink, reg.sinks),
            ("syncframe_register_matchers", "matcher", Matcher, reg.matchers),
            ("syncframe_register_loop_guards", "loop guard", LoopGuard, reg.loop_guards),
            ("syncframe_register_filters", "filter", Filter, reg.filters),
        ]
        for hook, kind, base, table in kinds:
            self._each_impl(
                hook,
                lambda p, kind=kind, base=base, table=table: {  # type: ignore[misc]
                    "register": ComponentRegistrar(reg, kind, base, table, p)
                },
            )
        self._each_impl(
            "syncframe_register_converters", lambda p: {"register": ConverterRegistrar(reg, p)}
        )
        self._each_impl("syncframe_register_demos", lambda p: {"register": DemoRegistrar(reg, p)})
        self._each_impl(
            "syncframe_register_simulators", lambda p: {"register": SimulatorRegistrar(reg, p)}
        )
        self._each_impl(
            "syncframe_register_flow_kinds", lambda p: {"register": FlowKindRegistrar(reg, p)}
        )
        self._each_impl(
            "syncframe_register_serve_routes", lambda p: {"register": ServeRouteRegistrar(reg, p)}
        )
        for kind, table in reg.tables().items():
            for name, item in table.items():
                system = getattr(item, "system", None) if kind not in ("systems",) else None
                if isinstance(system, str) and system not in reg.systems:
                    raise PluginError(
                        f"{kind[:-1]} {name!r} of plugin {item.plugin!r} needs system "
                        f"{system!r}, which no plugin registers"
                    )
        return reg

    def add_commands(self, app: typer.Typer) -> None:
        """Let plugins add CLI commands."""
        self.pm.hook.syncframe_register_commands(app=app, host=self)

    # ---- observers -------------------------------------------------------------------------
    def _observe(self, hook_name: str, **kwargs: Any) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception:  # an observer must not break a sync
                log.exception("observer %s of plugin %s failed", hook_name, impl.plugin_name)

    def run_started(self, run: RunInfo) -> None:
        """Tell observers a run started."""
        self._observe("syncframe_run_started", run=run)

    def batch_committed(self, run: RunInfo, changes: Sequence[Change], result: BatchResult) -> None:
        """Tell observers what became of a batch."""
        if self.pm.hook.syncframe_batch_committed.get_hookimpls():
            self._observe("syncframe_batch_committed", run=run, changes=changes, result=result)

    def run_finished(self, run: RunInfo, summary: RunSummary) -> None:
        """Tell observers a run ended."""
        self._observe("syncframe_run_finished", run=run, summary=summary)
