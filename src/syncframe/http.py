"""HTTP plumbing the engine gives connectors: per-connection concurrency and rate limits."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any, Final

import anyio
import httpcore
import httpx
from httpcore._utils import is_socket_readable

from syncframe.components import PermanentError, TransientError
from syncframe.retry import is_transient, retry_after_of

__all__ = [
    "NO_DELAY",
    "LimitedTransport",
    "RateLimiter",
    "connection_client",
    "connection_transport",
    "raise_for_status",
]

#: Socket options of every connection the engine opens: TCP_NODELAY. A request with a body goes
#: out in two writes (headers, then body); with Nagle's algorithm the body waits for the ACK of
#: the headers, which the peer's delayed ACK holds back up to 40 ms — on every POST.
NO_DELAY: Final = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._updated = time.monotonic()
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may go."""
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await anyio.sleep((1 - self._tokens) / self.rate)


class LimitedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport so one connection never exceeds its concurrency and rate limits,
    however many components and flows share it."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        max_concurrency: int,
        rate_limit: float | None = None,
    ) -> None:
        self._inner = inner
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self.rate = RateLimiter(rate_limit) if rate_limit else None
        self.in_flight = 0
        self.peak_in_flight = 0  # observed, for tests and diagnostics

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.limiter:
            if self.rate is not None:
                await self.rate.acquire()
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                return await self._inner.handle_async_request(request)
            finally:
                self.in_flight -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


class _SocketStream(httpcore.AsyncNetworkStream):
    """httpcore's stream, answering "is this idle connection readable?" (a server that closed
    it) from the socket it keeps. httpcore asks that of every idle connection of the pool each
    time a request starts or ends, and its anyio stream rebuilds its whole table of attributes
    to find the socket every time: about a tenth of a connector's CPU per request."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    # httpcore's interface takes the timeouts as arguments.
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return _SocketStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _SocketBackend(httpcore.AsyncNetworkBackend):
    """The pool's own network backend, handing out :class:`_SocketStream` s."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _SocketStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _SocketStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def connection_transport(max_connections: int) -> httpx.AsyncHTTPTransport:
    """The HTTP transport the engine opens for a connection: at most ``max_connections``
    sockets, TCP_NODELAY, and the socket-keeping streams of :class:`_SocketStream`."""
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=max_connections), socket_options=NO_DELAY
    )
    pool = transport._pool  # httpx offers no other way to give its pool a network backend
    pool._network_backend = _SocketBackend(pool._network_backend)
    return transport


class _SetCookies(httpx.Cookies):
    """Cookies that look for ``Set-Cookie`` before building the standard library's request and
    response wrappers that reading them needs (httpx builds them for every response)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def connection_client(
    transport: httpx.AsyncBaseTransport, timeout: float | httpx.Timeout
) -> httpx.AsyncClient:
    """The HTTP client a component gets for its connection (see ``ComponentContext.http``).
    It keeps cookies as any httpx client does."""
    client = httpx.AsyncClient(transport=transport, timeout=timeout)
    client._cookies = _SetCookies()  # the ``cookies`` setter would copy into a plain jar
    return client


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Turn an error response into the engine's error types.

    408/425/429/5xx become :class:`TransientError` (with Retry-After), other 4xx
    :class:`PermanentError`; the message names ``what`` was being done and the status, never
    the request's headers (they may hold credentials).
    """
    if response.is_success:
        return
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        detail = response.text[:300].strip()
        message = f"{what}: HTTP {response.status_code}" + (f": {detail}" if detail else "")
        if is_transient(exc):
            raise TransientError(message, retry_after=retry_after_of(exc)) from None
        raise PermanentError(message) from None
