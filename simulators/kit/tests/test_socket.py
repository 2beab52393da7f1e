"""A simulator on a real socket (uvicorn on a thread): the faults a client sees over TCP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from syncframe_simulators import FaultRule, JournalEntry, RunningServer, serve_in_thread

from simulators.kit.tests.ledger import TOKEN, LedgerSimulator

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(ledger: LedgerSimulator) -> Iterator[RunningServer]:
    with serve_in_thread(ledger) as server:
        yield server


def wait_for_entry(sim: LedgerSimulator, count: int) -> list[JournalEntry]:
    """The server journals a dropped request when it notices; give it a moment."""
    deadline = time.monotonic() + 5
    while len(sim.journal) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return sim.journal.entries()


async def test_serves_the_api_and_admin_on_a_free_port(
    served: RunningServer, ledger: LedgerSimulator
) -> None:
    assert served.base_url.startswith("http://127.0.0.1:")
    assert served.admin_url == served.base_url + "/_admin"
    async with served.client(headers=AUTH) as client:
        assert (await client.get("/accounts/1")).json()["name"] == "Ada"
        refused = await client.get("/accounts/1", headers={"Authorization": "x"})
        assert (refused.status_code, refused.text) == (401, "invalid token")
    async with served.admin() as admin:
        await admin.seed({"accounts": [{"name": "Mo"}]})
        assert (await admin.health())["simulator"] == "ledger"
    assert ledger.accounts[3]["name"] == "Mo"


async def test_timeout_fires_the_clients_read_timeout(
    served: RunningServer, ledger: LedgerSimulator
) -> None:
    ledger.faults.add(FaultRule(kind="timeout", hang=30, times=1))
    started = time.perf_counter()
    async with served.client(headers=AUTH, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/accounts")
        # The server noticed the client leave: it stopped hanging and answers again.
        assert (await client.get("/accounts")).status_code == 200
    assert time.perf_counter() - started < 5
    entries = wait_for_entry(ledger, 2)
    assert [(e.status, e.fault) for e in entries] == [(None, "timeout"), (200, None)]


async def test_disconnect_drops_the_connection_mid_answer(
    served: RunningServer, ledger: LedgerSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.faults.add(FaultRule(kind="disconnect", times=1))
    async with served.client(headers=AUTH) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
            await client.post("/accounts/1/entries", json={"amount": "3"})
        assert (await client.get("/accounts")).status_code == 200
    assert ledger.entries == []
    entries = wait_for_entry(ledger, 2)
    assert [(e.status, e.fault) for e in entries] == [(None, "disconnect"), (200, None)]
    # uvicorn's report of the drop is one line, not an error traceback.
    dropped = [r for r in caplog.records if "connection dropped on purpose" in r.getMessage()]
    assert all(r.levelname == "INFO" and r.exc_info is None for r in dropped)


async def test_rate_limit_sends_retry_after(served: RunningServer, ledger: LedgerSimulator) -> None:
    async with served.admin() as admin:
        await admin.add_fault(kind="rate_limit", retry_after=4, path="/accounts")
    async with served.client(headers=AUTH) as client:
        limited = await client.get("/accounts")
        other = await client.get("/accounts/1")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "4")
    assert other.status_code == 200
    # The journal is written once the answer has gone out, so over a socket it can lag.
    entries = wait_for_entry(ledger, 2)
    assert [(e.status, e.fault) for e in entries] == [(429, "rate_limit"), (200, None)]


def test_stop_is_prompt_even_with_a_request_hanging(ledger: LedgerSimulator) -> None:
    ledger.faults.add(FaultRule(kind="timeout", hang=60))
    server = serve_in_thread(ledger)
    outcome: list[object] = []
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as client:

        def call() -> None:
            try:
                outcome.append(client.get("/accounts").status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        wait_for_seen(ledger)
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 4
        caller.join(5)
    assert not server.thread.is_alive()
    # The hanging request was cut short by the stop: an error answer or a dropped connection.
    assert len(outcome) == 1
    assert outcome[0] == 500 or isinstance(outcome[0], httpx.HTTPError)
    server.stop()  # stopping twice is harmless


def wait_for_seen(sim: LedgerSimulator) -> None:
    deadline = time.monotonic() + 5
    while sim.faults.status()[0].seen == 0 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_taken_port_is_a_clear_error(served: RunningServer, ledger: LedgerSimulator) -> None:
    port = int(served.base_url.rsplit(":", 1)[1])
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
        serve_in_thread(ledger, port=port)


def test_connections_answer_without_nagle_delays() -> None:
    """The listening socket has TCP_NODELAY, which accepted connections inherit: uvicorn writes
    a response's headers and body separately, and with Nagle's algorithm every answer would wait
    for the client's delayed ACK (40 ms on Linux)."""
    import socket

    from syncframe_simulators.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        sock.listen()
        client = socket.create_connection(sock.getsockname()[:2])
        accepted, _ = sock.accept()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            accepted.close()
            client.close()
    finally:
        sock.close()
