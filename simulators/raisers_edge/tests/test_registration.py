"""The simulator as a plugin: ``raisers_edge`` in the registry, the kit's fixture building it,
``syncframe simulate raisers_edge`` serving it, and a connector-like client on a real socket."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from raisers_edge_simulator import RaisersEdgeSimulator
from typer.testing import CliRunner

from simulators.raisers_edge.tests.support import API, constituents_file
from syncframe.cli import build_app
from syncframe.registry import SimulatorEntry

ROOT = Path(__file__).resolve().parents[3]
ONLY_OURS = "simulators,raisers_edge_simulator"


def test_raisers_edge_is_registered_by_its_plugin(
    simulator_registry: dict[str, SimulatorEntry], raisers_edge_simulator: Any
) -> None:
    entry = simulator_registry["raisers_edge"]
    assert entry.plugin == "raisers_edge_simulator"
    assert "import area" in entry.description
    assert isinstance(raisers_edge_simulator, RaisersEdgeSimulator)
    assert raisers_edge_simulator.auto_import is False


def test_simulate_lists_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFRAME_PLUGINS_ALLOW", ONLY_OURS)
    monkeypatch.delenv("SYNCFRAME_PLUGINS_EXTRA", raising=False)
    result = CliRunner().invoke(build_app(), ["simulate", "--list"])
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "│ raisers_edge " in line]
    assert "raisers_edge_simulator" in row


def test_a_client_on_a_real_socket(
    raisers_edge_simulator: RaisersEdgeSimulator,
    serve_simulator: Callable[[RaisersEdgeSimulator], Any],
) -> None:
    sim = raisers_edge_simulator
    sim.sample(constituents=40, gifts=0, seed=1)
    server = serve_simulator(sim)
    auth = ("supervisor", "admin")
    with httpx.Client(base_url=server.base_url, timeout=5, auth=auth) as client:
        seen: list[str] = []
        while True:
            page = client.get(
                f"{API}/constituents", params={"limit": 15, "offset": len(seen)}
            ).json()
            seen += [c["import_id"] for c in page["constituents"]]
            if len(seen) >= page["total"]:
                break
        body = constituents_file({"CONS_ID": "2002002", "FIRST_NAME": "Sock", "LAST_NAME": "Et"})
        put = client.put(f"{API}/import-area/luminate_1_constituents.csv", content=body)
        assert put.status_code == 201, put.text
        imported = client.post("/_admin/import-area/luminate_1_constituents.csv/import")
        assert imported.json()["created"] == 1
    assert sorted(seen) == sorted(sim.database.constituents)[:40]
    with sim.lock:
        assert sim.database.by_luminate_id["2002002"].last_name == "Et"


@pytest.fixture
def served() -> Iterator[str]:
    """``syncframe simulate raisers_edge --port 0 --manual-clock`` in a subprocess; its URL."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "SYNCFRAME_PLUGINS_ALLOW": ONLY_OURS,
    }
    env.pop("SYNCFRAME_PLUGINS_EXTRA", None)
    command = [sys.executable, "-m", "syncframe", "simulate", "raisers_edge", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--manual-clock"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
        first = received.decode().splitlines()[0] if received else ""
        assert first.startswith("simulator raisers_edge serving at http://127.0.0.1:"), first
        yield first.rsplit(" ", 1)[1]
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


def test_syncframe_simulate_raisers_edge_serves_the_interface(served: str) -> None:
    with httpx.Client(base_url=served, timeout=5) as client:
        assert client.get("/_admin/health").json()["simulator"] == "raisers_edge"
        client.post(
            "/_admin/seed", json={"constituents": [{"last_name": "Served"}]}
        ).raise_for_status()
        answer = client.get(f"{API}/constituents", auth=("supervisor", "admin"))
        assert [c["last_name"] for c in answer.json()["constituents"]] == ["Served"]
        assert client.get(f"{API}/constituents").status_code == 401
