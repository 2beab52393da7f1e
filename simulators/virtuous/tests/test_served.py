"""On a real socket: the background deliverer sends webhooks by itself (to a receiver that is
itself on a socket), and ``syncframe simulate virtuous`` serves the simulator."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from syncframe_simulators import serve_in_thread
from typer.testing import CliRunner
from virtuous_simulator import VirtuousSimulator

from simulators.virtuous.tests.conftest import SECRET, Receiver, household
from syncframe.cli import build_app

ROOT = Path(__file__).resolve().parents[3]


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    """Poll until ``condition`` holds (the deliverer runs on the server's own thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.02)


def test_served_simulator_delivers_webhooks_in_the_background(
    virtuous_simulator: VirtuousSimulator, serve_simulator: Any
) -> None:
    receiver = Receiver(statuses=[503])
    with serve_in_thread(receiver.app()) as receiving:
        sim = virtuous_simulator  # webhook_transport None: the real network
        sim.add_user("sync@example.org", "pw")
        server = serve_simulator(sim)
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            token = client.post(
                "/Token",
                data={"grant_type": "password", "username": "sync@example.org", "password": "pw"},
            ).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            client.post(
                "/api/Webhook",
                json={
                    "url": receiving.base_url + "/webhooks/virtuous",
                    "events": ["ContactCreate"],
                    "secret": SECRET,
                },
            )
            created = client.post("/api/Contact", json=household()).json()
            # The first attempt fails (503): failed, with a retry due in a minute.
            wait_for(lambda: sim.webhooks.counts["failed"] == 1, "the first attempt")
            assert len(receiver.deliveries) == 1
            # Moving the clock brings the retry due; the deliverer notices on its own.
            client.post("/_admin/clock", json={"advance": 60})
            wait_for(lambda: sim.webhooks.counts["delivered"] == 1, "the retry")
        first, second = receiver.deliveries
        assert first.body == second.body
        assert second.signature_valid(SECRET)
        assert second.json["contact"]["id"] == created["id"]


def test_in_process_clients_start_no_background_deliverer(
    virtuous_simulator: VirtuousSimulator,
) -> None:
    import anyio

    async def call() -> None:
        async with virtuous_simulator.client() as client:
            assert (await client.get("/_admin/health")).status_code == 200

    anyio.run(call)
    assert virtuous_simulator._deliverer is None


def test_registered_for_the_cli_and_the_fixture(virtuous_simulator: VirtuousSimulator) -> None:
    assert isinstance(virtuous_simulator, VirtuousSimulator)
    result = CliRunner().invoke(build_app(), ["simulate", "--list"])
    assert result.exit_code == 0
    [row] = [line for line in result.output.splitlines() if "│ virtuous " in line]
    assert "virtuous_simulator" in row


def test_syncframe_simulate_virtuous_serves_it() -> None:
    command = [sys.executable, "-m", "syncframe", "simulate", "virtuous", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--manual-clock"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        received = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout.fileno(), selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while b"\n" not in received and time.monotonic() < deadline:
                if selector.select(timeout=0.5):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    received += chunk
        first_line = received.decode().splitlines()[0]
        assert first_line.startswith("simulator virtuous serving at http://127.0.0.1:")
        base_url = first_line.rsplit(" ", 1)[1]
        with httpx.Client(base_url=base_url, timeout=10) as client:
            assert client.get("/_admin/health").json()["simulator"] == "virtuous"
            refused = client.get("/api/Contact/1001")
            assert refused.status_code == 401
            assert refused.headers["X-RateLimit-Limit"] == "5000"
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
