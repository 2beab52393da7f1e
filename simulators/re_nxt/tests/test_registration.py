"""The simulator as a plugin: ``re_nxt`` in the registry, ``syncframe simulate re_nxt`` serving it,
and the whole OAuth and polling conversation over a real socket."""

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
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from re_nxt_simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SUBSCRIPTION_KEY,
    ReNxtSimulator,
)
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.registry import SimulatorEntry

ROOT = Path(__file__).resolve().parents[3]
ONLY_OURS = "simulators,re_nxt_simulator"


def test_re_nxt_is_registered_by_its_plugin(
    simulator_registry: dict[str, SimulatorEntry], re_nxt_simulator: Any
) -> None:
    entry = simulator_registry["re_nxt"]
    assert entry.plugin == "re_nxt_simulator"
    assert "SKY API" in entry.description
    assert isinstance(re_nxt_simulator, ReNxtSimulator)


def test_simulate_lists_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFRAME_PLUGINS_ALLOW", ONLY_OURS)
    monkeypatch.delenv("SYNCFRAME_PLUGINS_EXTRA", raising=False)
    result = CliRunner().invoke(build_app(), ["simulate", "--list"])
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "│ re_nxt " in line]
    assert "re_nxt_simulator" in row


def oauth_dance(client: httpx.Client) -> dict[str, str]:
    """What a connector does once: the user consents, the code is exchanged for tokens."""
    consent = client.get(
        "/authorization",
        params={"client_id": DEFAULT_CLIENT_ID, "redirect_uri": DEFAULT_REDIRECT_URI, "state": "s"},
    )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    answer = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": DEFAULT_REDIRECT_URI,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    answer.raise_for_status()
    return {
        "Authorization": f"Bearer {answer.json()['access_token']}",
        "Bb-Api-Subscription-Key": DEFAULT_SUBSCRIPTION_KEY,
    }


def test_a_client_on_a_real_socket(
    re_nxt_simulator: ReNxtSimulator, serve_simulator: Callable[[ReNxtSimulator], Any]
) -> None:
    server = serve_simulator(re_nxt_simulator)
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        headers = oauth_dance(client)
        made = client.post(
            "/constituent/v1/constituents",
            json={"type": "Individual", "first": "Sock", "last": "Et"},
            headers=headers,
        )
        assert made.status_code == 200, made.text
        listed = client.get(
            "/constituent/v1/constituents",
            params={"last_modified": "2026-01-01T00:00:00+00:00"},
            headers=headers,
        ).json()
    assert [item["name"] for item in listed["value"]] == ["Sock Et"]
    with re_nxt_simulator.lock:
        assert [c.lookup_id for c in re_nxt_simulator.store.constituents.values()] == ["100001"]


@pytest.fixture
def served() -> Iterator[str]:
    """``syncframe simulate re_nxt --port 0 --manual-clock`` in a subprocess; its base URL."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "SYNCFRAME_PLUGINS_ALLOW": ONLY_OURS,
    }
    env.pop("SYNCFRAME_PLUGINS_EXTRA", None)
    command = [sys.executable, "-m", "syncframe", "simulate", "re_nxt", "--port", "0"]
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
        assert first.startswith("simulator re_nxt serving at http://127.0.0.1:"), first
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


def test_syncframe_simulate_re_nxt_serves_the_api(served: str) -> None:
    with httpx.Client(base_url=served, timeout=5) as client:
        assert client.get("/_admin/health").json()["simulator"] == "re_nxt"
        headers = oauth_dance(client)
        assert client.get("/constituent/v1/constituents", headers=headers).json() == {
            "count": 0,
            "value": [],
        }
        client.post("/_admin/clock", json={"advance": 3600}).raise_for_status()
        assert client.get("/constituent/v1/constituents", headers=headers).status_code == 401
