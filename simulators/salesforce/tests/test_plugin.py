"""Registration: the ``salesforce_simulator`` fixture and ``syncframe simulate salesforce``."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from salesforce_simulator import SalesforceSimulator
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.clock import ManualClock

ROOT = Path(__file__).resolve().parents[3]
ONLY_THIS_PLUGIN = "simulators,salesforce_simulator"


def test_the_fixture_is_a_fresh_simulator_on_the_test_clock(
    salesforce_simulator: SalesforceSimulator, sim_clock: ManualClock
) -> None:
    assert isinstance(salesforce_simulator, SalesforceSimulator)
    assert salesforce_simulator.clock is sim_clock
    assert salesforce_simulator.snapshot()["contacts"] == []


def test_the_factory_passes_settings_through(
    simulator_factory: Callable[..., SalesforceSimulator],
) -> None:
    sim = simulator_factory("salesforce", daily_api_requests=5, max_batch_size=10)
    assert (sim.usage.limit, sim.api.max_batch_size) == (5, 10)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="session_timeout must be more than 0"):
        SalesforceSimulator(session_timeout=0)
    with pytest.raises(ValueError, match="max_batch_size must be 1 or more"):
        SalesforceSimulator(max_batch_size=0)
    with pytest.raises(ValueError, match="daily_api_requests must be 0 or more"):
        SalesforceSimulator(daily_api_requests=-1)


def test_simulate_lists_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFRAME_PLUGINS_ALLOW", ONLY_THIS_PLUGIN)
    monkeypatch.delenv("SYNCFRAME_PLUGINS_EXTRA", raising=False)
    result = CliRunner().invoke(build_app(), ["simulate", "--list"])
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "│ salesforce " in line]
    assert "salesforce_simulator" in row


@pytest.fixture
def served() -> Iterator[str]:
    """``syncframe simulate salesforce --port 0 --manual-clock`` in a subprocess; its URL."""
    env = {**os.environ, "SYNCFRAME_PLUGINS_ALLOW": ONLY_THIS_PLUGIN}
    command = [sys.executable, "-m", "syncframe", "simulate", "salesforce", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--manual-clock"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        received = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while b"\n" not in received and time.monotonic() < deadline:
                if selector.select(timeout=0.5):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    received += chunk
        first_line = received.decode().splitlines()[0]
        assert first_line.startswith("simulator salesforce serving at http://127.0.0.1:")
        yield first_line.rsplit(" ", 1)[1]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_simulate_serves_the_api_with_its_own_url_as_instance(served: str) -> None:
    with httpx.Client(base_url=served, timeout=5) as client:
        seeded = client.post(
            "/_admin/seed",
            json={
                "users": [{"username": "api@example.org", "password": "pw"}],
                "connected_apps": [{"client_id": "app", "client_secret": "s"}],
                "contacts": [{"LastName": "Doe"}],
            },
        )
        assert seeded.status_code == 200, seeded.text
        token = client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": "app",
                "client_secret": "s",
                "username": "api@example.org",
                "password": "pw",
            },
        ).json()
        assert token["instance_url"] == served
        answer = client.get(
            f"{token['instance_url']}/services/data/v59.0/query",
            params={"q": "SELECT LastName FROM Contact"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert [r["LastName"] for r in answer.json()["records"]] == ["Doe"]
