"""The HTTP client the engine gives a connection, against a real socket: it keeps cookies, and
it notices an idle connection the server closed (httpcore's question, answered from the socket
the stream keeps)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import SocketStream

from syncframe.http import LimitedTransport, connection_client, connection_transport

pytestmark = pytest.mark.anyio

Answer = Callable[[int, bytes, SocketStream], Awaitable[bool]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _request_of(stream: SocketStream) -> bytes:
    """One request's head (these tests send no bodies); b"" when the client went away."""
    head = b""
    while b"\r\n\r\n" not in head:
        try:
            head += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return b""
    return head


def _answer(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Served:
    """What the test server saw: every request's head, and each connection it closed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.requests: list[bytes] = []
        self.closed = 0
        self.changed = anyio.Event()

    async def closed_at_least(self, count: int) -> None:
        with anyio.fail_after(5):
            while self.closed < count:
                await self.changed.wait()


@asynccontextmanager
async def server(answer: Answer) -> AsyncIterator[Served]:
    """A loopback HTTP/1.1 server; ``answer(connection_no, request_head, stream)`` answers one
    request and says whether to keep the connection open."""
    connections = 0
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    served = Served(f"http://127.0.0.1:{port}")

    async def handle(stream: SocketStream) -> None:
        nonlocal connections
        connections += 1
        number = connections
        try:
            async with stream:
                while head := await _request_of(stream):
                    served.requests.append(head)
                    if not await answer(number, head, stream):
                        return
        finally:
            served.closed += 1
            served.changed.set()
            served.changed = anyio.Event()

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        yield served
        group.cancel_scope.cancel()


async def test_the_client_keeps_the_cookies_a_server_sets() -> None:
    async def answer(number: int, head: bytes, stream: SocketStream) -> bool:
        cookie = "Set-Cookie: session=s3cr3t; Path=/"
        await stream.send(_answer(b"ok", cookie) if b"/login" in head else _answer(b"ok"))
        return True

    async with server(answer) as served:
        transport = LimitedTransport(connection_transport(2), max_concurrency=2)
        async with connection_client(transport, 5) as client:
            (await client.get(f"{served.url}/login")).raise_for_status()
            (await client.get(f"{served.url}/data")).raise_for_status()
            (await client.get(f"{served.url}/more")).raise_for_status()
    requests = served.requests
    assert b"cookie: session=s3cr3t" not in requests[0].lower()
    assert b"cookie: session=s3cr3t" in requests[1].lower()
    assert b"cookie: session=s3cr3t" in requests[2].lower()


async def test_an_idle_connection_the_server_closed_is_not_used_again() -> None:
    connections: list[int] = []

    async def answer(number: int, head: bytes, stream: SocketStream) -> bool:
        connections.append(number)
        await stream.send(_answer(b"ok"))  # keep-alive by HTTP/1.1's default ...
        return False  # ... but the server closes it: an idle timeout of its own

    async with server(answer) as served:
        transport = LimitedTransport(connection_transport(1), max_concurrency=1)
        async with connection_client(transport, 5) as client:
            for done in range(1, 4):
                (await client.get(f"{served.url}/ping")).raise_for_status()
                # Closed on loopback: the client's socket is readable (end of stream) now.
                await served.closed_at_least(done)
    # Had the pool taken the closed connection for a live one, the next request would have
    # failed with "Server disconnected"; each went out on a new connection instead.
    assert connections == [1, 2, 3]
    assert len(served.requests) == 3
