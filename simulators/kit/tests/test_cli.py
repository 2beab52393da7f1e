"""``syncframe simulate``: listing, clear errors, and serving a simulator in a subprocess."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from syncframe.cli import build_app

ROOT = Path(__file__).resolve().parents[3]
LEDGER_PLUGIN = "simulators.kit.tests.ledger"


@pytest.fixture
def only_the_kit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the kit's entry point and the built-ins only, whatever else is installed."""
    monkeypatch.setenv("SYNCFRAME_PLUGINS_ALLOW", "simulators")
    monkeypatch.delenv("SYNCFRAME_PLUGINS_EXTRA", raising=False)


@pytest.fixture
def with_ledger(only_the_kit: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """... plus the ledger test simulator, registered by its own plugin module."""
    monkeypatch.setenv("SYNCFRAME_PLUGINS_EXTRA", LEDGER_PLUGIN)


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(build_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.usefixtures("with_ledger")
class TestListAndErrors:
    """What the command says before it serves anything."""

    def test_list_shows_each_simulator_with_its_plugin(self) -> None:
        result = invoke("simulate", "--list")
        assert result.exit_code == 0
        [row] = [line for line in result.output.splitlines() if "│ ledger " in line]
        assert LEDGER_PLUGIN in row
        assert "A JSON ledger with bearer-token auth" in row

    def test_unknown_name_lists_the_known_ones(self) -> None:
        result = invoke("simulate", "nope")
        assert result.exit_code == 2
        assert result.output.strip() == "error: unknown simulator 'nope'; known simulators: ledger"

    def test_no_name(self) -> None:
        result = invoke("simulate")
        assert result.exit_code == 2
        assert "error: name the simulator to serve; known simulators: ledger" in result.output

    def test_a_taken_port(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = invoke("simulate", "ledger", "--port", str(port))
        assert result.exit_code == 2
        assert result.output.startswith(f"error: cannot listen on 127.0.0.1:{port}")
        assert "Traceback" not in result.output

    def test_the_command_is_in_the_help(self) -> None:
        help_text = invoke("--help").output
        assert any("│ simulate " in line for line in help_text.splitlines())


@pytest.mark.usefixtures("only_the_kit")
def test_list_with_no_simulator_installed() -> None:
    result = invoke("simulate", "--list")
    assert result.exit_code == 0
    assert "no simulators are installed" in result.output


@pytest.fixture
def served_ledger() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``syncframe simulate ledger --port 0 --manual-clock --seed 5`` in a subprocess."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "SYNCFRAME_PLUGINS_ALLOW": "simulators",
        "SYNCFRAME_PLUGINS_EXTRA": LEDGER_PLUGIN,
    }
    command = [sys.executable, "-m", "syncframe", "simulate", "ledger", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--manual-clock", "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        # Read the raw pipe: a buffered readline would hide lines from the selector.
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
        lines = received.decode().splitlines()
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serves_until_stopped(served_ledger: tuple[subprocess.Popen[str], list[str]]) -> None:
    proc, lines = served_ledger
    assert len(lines) == 3, f"no URLs printed: {lines}"
    assert lines[0].startswith("simulator ledger serving at http://127.0.0.1:")
    base_url = lines[0].rsplit(" ", 1)[1]
    assert lines[1] == f"admin API at {base_url}/_admin/"
    assert lines[2] == "clock: manual (POST /_admin/clock moves it); fault seed 5; Ctrl-C stops"
    with httpx.Client(base_url=base_url, timeout=5) as client:
        assert client.get("/_admin/health").json() == {
            "status": "ok",
            "simulator": "ledger",
            "seed": 5,
        }
        moved = client.post("/_admin/clock", json={"advance": 3600}).json()
        assert moved == {"now": "2026-01-01T10:00:00+00:00", "manual": True}
        assert client.get("/accounts").status_code == 401
    # Ctrl-C: uvicorn shuts down cleanly, then the CLI reports the interrupt (exit code 130).
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
    assert proc.stderr is not None
    errors = proc.stderr.read()
    assert "Finished server process" in errors
    assert "Traceback" not in errors
