"""pytest plugin (entry point ``pytest11``): every registered simulator as a fixture.

Fixtures:

* ``sim_clock``: a :class:`~syncframe.clock.ManualClock` at 2026-01-01T09:00Z, one per test;
  give it to the engine too, so both tell the same time.
* ``simulator_factory(name, **kwargs)``: a fresh registered simulator on ``sim_clock`` with the
  ``--sim-seed`` seed (default 0); ``kwargs`` go to its factory.
* ``{name}_simulator`` for each registered simulator (``luminate_simulator``...): a fresh one,
  built by ``simulator_factory``. Clients made with its ``.client()`` / ``.admin()`` are closed
  at teardown.
* ``serve_simulator(sim) -> RunningServer``: ``sim`` on a real socket (uvicorn on a thread,
  127.0.0.1, a free port), stopped at teardown.
* ``simulator_registry``: the registered simulators by name; override it in a ``conftest.py``
  to add test simulators to ``simulator_factory``.

Simulators are found through a plugin host built as the command line builds it (installed
plugins plus ``SYNCFRAME_PLUGINS_*``). When the plugins cannot be loaded, pytest still starts;
tests that ask for a simulator fail with the reason.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from syncframe.clock import ManualClock
from syncframe.registry import SimulatorEntry
from syncframe_simulators.server import RunningServer, serve_in_thread
from syncframe_simulators.simulator import Simulator

__all__ = [
    "fixture_name",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_header",
    "pytest_runtest_setup",
    "serve_simulator",
    "sim_clock",
    "simulator_factory",
    "simulator_registry",
]

SimulatorFactory = Callable[..., Simulator]
ServeSimulator = Callable[..., RunningServer]


@dataclass
class _Loaded:
    simulators: dict[str, SimulatorEntry] = field(default_factory=dict)
    error: str | None = None


_LOADED = pytest.StashKey[_Loaded]()


def fixture_name(simulator: str) -> str:
    """The fixture of a simulator: ``luminate`` -> ``luminate_simulator`` (``-`` and ``.``
    become ``_``)."""
    return simulator.replace("-", "_").replace(".", "_") + "_simulator"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("syncframe-simulators", "syncframe simulators")
    group.addoption(
        "--sim-seed",
        type=int,
        default=0,
        metavar="SEED",
        help="Seed of the simulators' fault injection (replay a failing run with its seed).",
    )


def _load() -> _Loaded:
    from syncframe.host import Host

    try:
        return _Loaded(simulators=dict(Host().registry.simulators))
    except Exception as exc:  # a broken plugin must not stop unrelated tests from running
        return _Loaded(error=f"{type(exc).__name__}: {exc}")


def _named_fixture(name: str) -> Any:
    @pytest.fixture(name=fixture_name(name))
    def simulator(simulator_factory: SimulatorFactory) -> Simulator:
        return simulator_factory(name)

    simulator.__doc__ = f"A fresh {name!r} simulator on sim_clock (see simulator_factory)."
    return simulator


def pytest_configure(config: pytest.Config) -> None:
    loaded = _load()
    config.stash[_LOADED] = loaded
    generated = types.ModuleType("syncframe_simulators.generated_fixtures")
    for name in loaded.simulators:
        setattr(generated, fixture_name(name), _named_fixture(name))
    config.pluginmanager.register(generated, "syncframe_simulators.generated_fixtures")


def pytest_report_header(config: pytest.Config) -> str:
    loaded = config.stash[_LOADED]
    if loaded.error is not None:
        return f"syncframe simulators: none, the plugins failed to load: {loaded.error}"
    names = ", ".join(sorted(loaded.simulators)) or "none registered"
    return f"syncframe simulators: {names} (--sim-seed {config.getoption('--sim-seed')})"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Say why a ``*_simulator`` fixture is missing when the plugins did not load."""
    loaded = item.config.stash[_LOADED]
    if loaded.error is None:
        return
    known = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    missing = [
        name
        for name in getattr(item, "fixturenames", ())
        if name.endswith("_simulator") and name not in known
    ]
    if missing:
        pytest.fail(
            f"fixture {missing[0]!r} is not available: the syncframe plugins that register "
            f"simulators failed to load: {loaded.error}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def simulator_registry(pytestconfig: pytest.Config) -> dict[str, SimulatorEntry]:
    """The registered simulators by name (override to add test simulators)."""
    loaded = pytestconfig.stash[_LOADED]
    if loaded.error is not None:
        pytest.fail(
            f"no simulator is available: the syncframe plugins failed to load: {loaded.error}",
            pytrace=False,
        )
    return loaded.simulators


@pytest.fixture
def sim_clock() -> ManualClock:
    """A manual clock at 2026-01-01T09:00Z shared by the simulators of a test."""
    return ManualClock()


@pytest.fixture
def simulator_factory(
    simulator_registry: dict[str, SimulatorEntry],
    sim_clock: ManualClock,
    pytestconfig: pytest.Config,
) -> Iterator[SimulatorFactory]:
    """``make(name, **kwargs)``: a fresh registered simulator on ``sim_clock`` seeded with
    ``--sim-seed``; its clients are closed at teardown."""
    built: list[Simulator] = []
    seed: int = pytestconfig.getoption("--sim-seed")

    def make(name: str, **kwargs: Any) -> Simulator:
        entry = simulator_registry.get(name)
        if entry is None:
            known = ", ".join(sorted(simulator_registry)) or "none"
            pytest.fail(f"no simulator {name!r} is registered (known: {known})", pytrace=False)
        kwargs.setdefault("clock", sim_clock)
        kwargs.setdefault("seed", seed)
        simulator = entry.factory(**kwargs)
        if not isinstance(simulator, Simulator):
            pytest.fail(
                f"simulator {name!r} of plugin {entry.plugin!r} is not a "
                f"syncframe_simulators.Simulator but {type(simulator).__name__}",
                pytrace=False,
            )
        built.append(simulator)
        return simulator

    yield make
    for simulator in built:
        if simulator.has_open_clients() and not _loop_running():
            anyio.run(simulator.aclose)


def _loop_running() -> bool:
    # Teardown of a sync fixture may run inside a loop (other async plugins); its in-process
    # clients hold no sockets, so leaving them to the garbage collector is harmless there.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def serve_simulator() -> Iterator[ServeSimulator]:
    """``serve(sim, host="127.0.0.1", port=0) -> RunningServer``: ``sim`` on a real socket,
    stopped at teardown."""
    servers: list[RunningServer] = []

    def serve(simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
        server = serve_in_thread(simulator, host, port)
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()
