"""The pytest plugin, run with pytester in a subprocess (it is loaded through its entry point,
as it is for any project that installs the kit)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]

CONFTEST = """
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"
"""

USES_THE_FIXTURES = """
import pytest
from syncframe.clock import ManualClock
from syncframe_simulators import FaultRule, Simulator

AUTH = {"Authorization": "Bearer ledger-token"}
MADE = []


@pytest.mark.anyio
async def test_named_fixture_is_a_fresh_wired_simulator(ledger_simulator, sim_clock, pytestconfig):
    assert isinstance(ledger_simulator, Simulator)
    assert ledger_simulator.clock is sim_clock
    assert isinstance(sim_clock, ManualClock)
    assert sim_clock.now().isoformat() == "2026-01-01T09:00:00+00:00"
    assert ledger_simulator.seed == pytestconfig.getoption("--sim-seed") == 3
    client = ledger_simulator.client(headers=AUTH)
    admin = ledger_simulator.admin()
    MADE.extend([client, admin.client])
    await admin.seed({"accounts": [{"name": "Ada"}]})
    assert (await client.get("/accounts/1")).json()["name"] == "Ada"


def test_clients_made_through_the_fixture_were_closed():
    assert len(MADE) == 2
    assert all(client.is_closed for client in MADE)


def test_each_test_gets_its_own(ledger_simulator):
    assert ledger_simulator.accounts == {}


def test_factory_passes_arguments(simulator_factory, sim_clock):
    sim = simulator_factory("ledger", seed=42)
    assert (sim.seed, sim.clock) == (42, sim_clock)


def test_factory_names_the_known_ones(simulator_factory):
    simulator_factory("nope")


@pytest.mark.anyio
async def test_serve_simulator_on_a_socket(ledger_simulator, serve_simulator):
    server = serve_simulator(ledger_simulator)
    ledger_simulator.faults.add(FaultRule(kind="rate_limit", retry_after=2))
    async with server.client(headers=AUTH) as client:
        response = await client.get("/accounts")
    assert (response.status_code, response.headers["retry-after"]) == (429, "2")
    SERVERS.append(server)


SERVERS = []


def test_served_simulator_was_stopped():
    assert len(SERVERS) == 1
    assert not SERVERS[0].thread.is_alive()
"""


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Only the kit's entry point, the built-ins, and what a test adds as an extra plugin."""
    monkeypatch.setenv("SYNCFRAME_PLUGINS_ALLOW", "simulators")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return monkeypatch


def test_fixtures_for_every_registered_simulator(
    pytester: pytest.Pytester, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("SYNCFRAME_PLUGINS_EXTRA", "simulators.kit.tests.ledger")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_uses=USES_THE_FIXTURES)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error", "--sim-seed", "3"
    )
    result.stdout.fnmatch_lines(["syncframe simulators: ledger (--sim-seed 3)"])
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_factory_names_the_known_ones*",
            "*no simulator 'nope' is registered (known: ledger)",
        ]
    )


FAILS_TO_LOAD = """
def test_unrelated():
    assert 1 + 1 == 2


def test_needs_a_simulator(ledger_simulator):
    pass


def test_needs_the_factory(simulator_factory):
    pass
"""


def test_a_broken_plugin_fails_only_the_tests_that_need_simulators(
    pytester: pytest.Pytester, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("SYNCFRAME_PLUGINS_EXTRA", "no_such_simulator_plugin")
    pytester.makepyfile(test_broken=FAILS_TO_LOAD)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1, errors=2)
    reason = (
        "*the syncframe plugins*failed to load: PluginError: plugin module "
        "'no_such_simulator_plugin' (SYNCFRAME_PLUGINS_EXTRA) cannot be imported*"
    )
    result.stdout.fnmatch_lines(
        [
            "syncframe simulators: none, the plugins failed to load: PluginError:*",
            f"*fixture 'ledger_simulator' is not available: {reason}",
            f"*no simulator is available: {reason}",
        ],
        consecutive=False,
    )
    assert "Traceback" not in result.stdout.str()


def test_no_simulators_registered(
    pytester: pytest.Pytester, environment: pytest.MonkeyPatch
) -> None:
    environment.delenv("SYNCFRAME_PLUGINS_EXTRA", raising=False)
    pytester.makepyfile(
        test_none="def test_factory(simulator_factory):\n    simulator_factory('x')\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["syncframe simulators: none registered*", "*no simulator 'x' is registered (known: none)"]
    )
    result.assert_outcomes(failed=1)
