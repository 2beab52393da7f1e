"""Registration: the ``raisedonors_simulator`` fixture, ``syncframe simulate --list`` and
``syncframe simulate raisedonors`` serving the API on a socket."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from raisedonors_simulator import RaiseDonorsSimulator, realm_token
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.host import Host

ROOT = Path(__file__).resolve().parents[3]


def test_the_fixture_is_a_fresh_simulator_on_the_shared_clock(
    raisedonors_simulator: Any, sim_clock: Any
) -> None:
    assert isinstance(raisedonors_simulator, RaiseDonorsSimulator)
    assert raisedonors_simulator.clock is sim_clock
    assert raisedonors_simulator.snapshot()["donors"] == []


def test_the_registered_factory() -> None:
    entry = Host().registry.simulators["raisedonors"]
    assert entry.plugin == "raisedonors_simulator"
    built = entry.factory(clock=None, seed=4)
    assert isinstance(built, RaiseDonorsSimulator)
    assert built.seed == 4


def test_simulate_list_shows_it() -> None:
    result = CliRunner().invoke(build_app(), ["simulate", "--list"])
    assert result.exit_code == 0
    [row] = [line for line in result.output.splitlines() if "│ raisedonors " in line]
    assert "raisedonors_simulator" in row
    assert "Legacy RaiseDonors" in row


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``syncframe simulate raisedonors --port 0 --manual-clock`` in a subprocess."""
    command = [sys.executable, "-m", "syncframe", "simulate", "raisedonors"]
    proc = subprocess.Popen(
        [*command, "--port", "0", "--manual-clock"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        received = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while received.count(b"\n") < 3 and time.monotonic() < deadline:
                if selector.select(timeout=0.5):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    received += chunk
        yield proc, received.decode().splitlines()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_simulate_serves_the_api(served: tuple[subprocess.Popen[str], list[str]]) -> None:
    proc, lines = served
    assert lines, "the command printed nothing"
    assert lines[0].startswith("simulator raisedonors serving at http://127.0.0.1:")
    base_url = lines[0].rsplit(" ", 1)[1]
    with httpx.Client(base_url=base_url, timeout=5) as client:
        client.post(
            "/_admin/seed",
            json={
                "api_clients": [{"key": "k", "secret": "s", "name": "Sync"}],
                "donors": [{"lastName": "Lee", "email": "lee@example.org"}],
            },
        ).raise_for_status()
        grant = client.get(
            "/oauth/authorize",
            params={"client_id": "k", "grant_type": "client_credentials"},
            headers={"Authorization": realm_token("k", "s", date(2026, 1, 1))},
        ).json()
        bearer = {"Authorization": f"Bearer {grant['access_token']}"}
        patched = client.patch("/api/Donor/100001", json={"firstName": "Ann"}, headers=bearer)
        assert patched.json()["name"] == "Ann Lee"
        feed = client.get("/api/Activity/list", params={"SinceId": 0}, headers=bearer).json()
        assert [(i["channel"], i["actor"]) for i in feed["items"]] == [("Api", "Sync")]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
