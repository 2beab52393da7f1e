"""HTTP plumbing the engine gives connectors: per-connection concurrency and rate limits."""

from __future__ import annotations

import socket
import time
from typing import Final

import anyio
import httpx

from syncframe.components import PermanentError, TransientError
from syncframe.retry import is_transient, retry_after_of

__all__ = ["NO_DELAY", "LimitedTransport", "RateLimiter", "raise_for_status"]

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
