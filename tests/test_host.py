"""The plugin host: loading, registration rules and switches."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from syncframe import hookimpl
from syncframe.components import Sink
from syncframe.host import Host, HostSettings
from syncframe.registry import PluginError


class GoodSettings(BaseSettings):
    """Settings of a test system."""

    url: str = "http://127.0.0.1"


class Duplicate:
    __name__ = "duplicate"

    @hookimpl
    def syncframe_register_systems(self, register: Any) -> None:
        register("twice", GoodSettings)


class Duplicate2(Duplicate):
    __name__ = "duplicate2"


class NotASink:
    __name__ = "not_a_sink"

    @hookimpl
    def syncframe_register_sinks(self, register: Any) -> None:
        register("oops", BaseModel)


class Misspelt:
    __name__ = "misspelt"

    @hookimpl
    def syncframe_register_sink(self, register: Any) -> None:  # missing the final "s"
        pass


class NeedsMissingSystem:
    __name__ = "needs_missing"

    class _Sink(Sink[BaseModel]):
        system = "nowhere"

        async def write(self, changes: Any, plan: Any) -> Any:
            raise NotImplementedError

    @hookimpl
    def syncframe_register_sinks(self, register: Any) -> None:
        register("stranded", self._Sink)


class ToySimulators:
    """Registers one simulator factory and one thing that is not callable."""

    __name__ = "toy_simulators"

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    @hookimpl
    def syncframe_register_simulators(self, register: Any) -> None:
        register("toy", self.factory, description="a toy system")


class TestRegistration:
    """The engine owns names and checks what plugins register."""

    def test_builtins_are_registered_like_any_plugin(self) -> None:
        host = Host(entry_points=False)
        assert "builtins" in host.plugin_names()
        assert {"csv", "jsonl"} <= set(host.registry.sources)
        assert {"csv", "jsonl", "sql_table"} <= set(host.registry.sinks)
        assert host.registry.sinks["jsonl"].plugin == "builtins"

    def test_duplicate_names_name_both_plugins(self) -> None:
        host = Host(plugins=[Duplicate(), Duplicate2()], entry_points=False)
        with pytest.raises(PluginError, match="'duplicate' and by plugin 'duplicate2'"):
            _ = host.registry

    def test_wrong_kind_is_refused(self) -> None:
        host = Host(plugins=[NotASink()], entry_points=False)
        with pytest.raises(PluginError, match=r"not a subclass of syncframe\.components\.Sink"):
            _ = host.registry

    def test_misspelt_hook_fails_loudly(self) -> None:
        with pytest.raises(PluginError, match="syncframe_register_sink"):
            Host(plugins=[Misspelt()], entry_points=False)

    def test_component_needing_unknown_system(self) -> None:
        host = Host(plugins=[NeedsMissingSystem()], entry_points=False)
        with pytest.raises(PluginError, match="needs system 'nowhere'"):
            _ = host.registry

    def test_simulators_are_registered_by_name(self) -> None:
        def build(*, clock: Any = None, seed: int = 0) -> dict[str, Any]:
            return {"clock": clock, "seed": seed}

        host = Host(plugins=[ToySimulators(build)], entry_points=False)
        entry = host.registry.simulators["toy"]
        assert (entry.plugin, entry.description) == ("toy_simulators", "a toy system")
        assert entry.factory(seed=7) == {"clock": None, "seed": 7}
        assert host.registry.provided_by("toy_simulators") == {"simulators": ["toy"]}

    def test_a_simulator_that_is_not_callable_is_refused(self) -> None:
        host = Host(plugins=[ToySimulators("not a factory")], entry_points=False)
        with pytest.raises(PluginError, match="simulator 'toy' with 'not a factory'"):
            _ = host.registry


class TestSwitches:
    """Operators steer plugin loading through SYNCFRAME_* settings."""

    def test_extra_modules_and_block_list(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SYNCFRAME_PLUGINS_EXTRA", "tests.test_host")
        monkeypatch.setenv("SYNCFRAME_PLUGINS_BLOCK", "builtins_demo")
        settings = HostSettings()
        assert settings.plugins_extra == ["tests.test_host"]
        host = Host(settings=settings)
        assert "tests.test_host" in host.plugin_names()
        assert "builtins_demo" not in host.plugin_names()

    def test_unknown_extra_module_is_a_clear_error(self) -> None:
        with pytest.raises(PluginError, match="cannot be imported"):
            Host(settings=HostSettings(plugins_extra=["no.such.module"]))
