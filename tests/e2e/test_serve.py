"""``syncframe serve`` as a process: webhooks over a real socket, and kill -9 in the middle of
applying a delivery, then the sender's redelivery applied exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import REPO
from tests.e2e.memory_plugin import KILL_ENV, MemoryStore
from tests.hook_plugin import delivery_body, sign
from tests.test_serve import FLOWS, SECRET, TOKEN

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_serve(folder: Path, port: int, kill_at: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCFRAME_", "MEMORY_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["SYNCFRAME_PLUGINS_EXTRA"] = "tests.hook_plugin,tests.e2e.memory_plugin"
    env["SYNCFRAME_HOOKS_SECRET"] = SECRET
    env["SYNCFRAME_WAREHOUSE_API_TOKEN"] = TOKEN
    if kill_at:
        env[KILL_ENV] = kill_at
    process = subprocess.Popen(
        [sys.executable, "-m", "syncframe", "serve", "flows.toml", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve ended early: {process.communicate()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("serve did not answer /health within 60 s")


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def post(port: int, body: bytes) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/webhooks/contacts",
        content=body,
        headers={"X-Signature": sign(SECRET, body)},
        timeout=30,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "flows.toml").write_text(FLOWS)
    MemoryStore(tmp_path / "warehouse.db").set_meta("api_token", TOKEN)
    return tmp_path


def test_serve_applies_a_webhook_over_a_socket_and_says_what_it_serves(folder: Path) -> None:
    port = free_port()
    process = start_serve(folder, port)
    try:
        body = delivery_body({"id": "e1", "type": "updated", "key": "7", "fields": {"n": "Ada"}})
        answer = post(port, body)
    finally:
        out, err = stop(process)

    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == [{"event_id": "e1", "outcome": "created", "reason": None}]
    assert MemoryStore(folder / "warehouse.db").records("person") == {"7": {"n": "Ada"}}
    assert f"POST http://127.0.0.1:{port}/webhooks/contacts" in out
    assert SECRET not in out + err
    assert TOKEN not in out + err


def test_a_delivery_cut_off_by_kill_9_is_applied_once_when_the_sender_delivers_again(
    folder: Path,
) -> None:
    body = delivery_body(
        {"id": "e1", "type": "updated", "key": "7", "fields": {"n": "Ada"}},
        {"id": "e2", "type": "updated", "key": "8", "fields": {"n": "Grace"}},
    )
    port = free_port()
    # The sink commits its write, and the process dies before the engine records it.
    process = start_serve(folder, port, kill_at="sink_committed:1")
    with pytest.raises(httpx.TransportError):
        post(port, body)
    process.communicate(timeout=30)
    assert process.returncode == -9

    port = free_port()
    process = start_serve(folder, port)
    try:
        again = post(port, body)
        twice = post(port, body)
    finally:
        stop(process)

    assert again.status_code == 200, again.text
    assert {e["event_id"]: e["outcome"] for e in again.json()["events"]} == {
        "e1": "applied",
        "e2": "applied",
    }
    assert twice.status_code == 200
    store = MemoryStore(folder / "warehouse.db")
    assert store.records("person") == {"7": {"n": "Ada"}, "8": {"n": "Grace"}}
    assert sorted(e.change_id for e in store.journal()) == ["e1", "e2"]
