"""Retry policy and the HTTP limits the engine gives connections."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from syncframe.components import PermanentError, TransientError
from syncframe.config.models import RetryConfig
from syncframe.http import LimitedTransport, raise_for_status
from syncframe.retry import MAX_RETRY_AFTER, call_with_retries, is_transient, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def status_error(code: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/")
    response = httpx.Response(code, headers=headers, request=request)
    return httpx.HTTPStatusError("x", request=request, response=response)


class TestClassification:
    """Which failures are worth retrying."""

    def test_transient_ones(self) -> None:
        assert is_transient(TransientError("x"))
        assert is_transient(status_error(503))
        assert is_transient(status_error(429))
        assert is_transient(httpx.ConnectTimeout("t"))

    def test_permanent_ones(self) -> None:
        assert not is_transient(PermanentError("x"))
        assert not is_transient(status_error(400))
        assert not is_transient(ValueError("x"))


class TestWaits:
    """Backoff grows, is capped, gets jitter, and Retry-After wins."""

    def test_exponential_with_cap(self) -> None:
        policy = RetryConfig(initial_wait=1, max_wait=5, jitter=0)
        assert [wait_for(policy, n, None) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]

    def test_jitter_is_bounded(self) -> None:
        policy = RetryConfig(initial_wait=1, max_wait=5, jitter=0.5)
        waits = {wait_for(policy, 1, None) for _ in range(50)}
        assert all(1 <= w <= 1.5 for w in waits)
        assert len(waits) > 1

    def test_retry_after(self) -> None:
        policy = RetryConfig(initial_wait=1, jitter=0)
        assert wait_for(policy, 1, status_error(429, {"Retry-After": "12"})) == 12
        assert wait_for(policy, 1, TransientError("x", retry_after=99999)) == MAX_RETRY_AFTER
        ignoring = RetryConfig(initial_wait=1, jitter=0, respect_retry_after=False)
        assert wait_for(ignoring, 1, TransientError("x", retry_after=30)) == 1


class TestCallWithRetries:
    """The loop stops on success, on a permanent error and after the last attempt."""

    async def test_succeeds_after_transient_failures(self) -> None:
        calls: list[int] = []
        slept: list[float] = []

        async def step() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise TransientError("busy")
            return "ok"

        async def sleep(s: float) -> None:
            slept.append(s)

        policy = RetryConfig(attempts=5, initial_wait=0.1, jitter=0)
        assert await call_with_retries(policy, step, sleep=sleep) == "ok"
        assert len(calls) == 3
        assert slept == [0.1, 0.2]

    async def test_permanent_is_not_retried(self) -> None:
        calls: list[int] = []

        async def step() -> None:
            calls.append(1)
            raise PermanentError("no")

        with pytest.raises(PermanentError):
            await call_with_retries(RetryConfig(), step)
        assert len(calls) == 1

    async def test_gives_up_after_attempts(self) -> None:
        calls: list[int] = []

        async def step() -> None:
            calls.append(1)
            raise TransientError("down")

        async def sleep(s: float) -> None:
            pass

        with pytest.raises(TransientError):
            await call_with_retries(RetryConfig(attempts=3), step, sleep=sleep)
        assert len(calls) == 3


class TestLimitedTransport:
    """A connection's concurrency and rate limits hold however many callers share it."""

    async def test_concurrency_limit(self) -> None:
        async def handler(request: httpx.Request) -> httpx.Response:
            await anyio.sleep(0.01)
            return httpx.Response(200)

        transport = LimitedTransport(httpx.MockTransport(handler), max_concurrency=3)
        async with (
            httpx.AsyncClient(transport=transport) as client,
            anyio.create_task_group() as tg,
        ):
            for _ in range(12):
                tg.start_soon(client.get, "http://127.0.0.1/")
        assert transport.peak_in_flight == 3

    async def test_rate_limit(self) -> None:
        transport = LimitedTransport(
            httpx.MockTransport(lambda r: httpx.Response(200)), max_concurrency=8, rate_limit=50
        )
        started = time.monotonic()
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(11):
                await client.get("http://127.0.0.1/")
        assert time.monotonic() - started >= 0.18  # 10 waits of 1/50 s after the first


class TestRaiseForStatus:
    """Error responses become the engine's error types, with a clear message."""

    def test_mapping(self) -> None:
        request = httpx.Request("GET", "http://127.0.0.1/")
        raise_for_status(httpx.Response(200, request=request), "reading")
        with pytest.raises(TransientError) as busy:
            raise_for_status(
                httpx.Response(429, headers={"Retry-After": "3"}, request=request), "reading"
            )
        assert busy.value.retry_after == 3
        with pytest.raises(PermanentError, match="reading: HTTP 404: gone"):
            raise_for_status(httpx.Response(404, text="gone", request=request), "reading")


@pytest.mark.anyio
async def test_each_retry_is_announced_and_none_after_the_last_try() -> None:
    announced: list[int] = []

    async def always_busy() -> None:
        raise TransientError("503 busy")

    async def no_sleep(seconds: float) -> None:
        pass

    policy = RetryConfig(attempts=3, initial_wait=0, max_wait=0, jitter=0)
    with pytest.raises(TransientError):
        await call_with_retries(
            policy,
            always_busy,
            on_retry=lambda attempt, exc, wait: announced.append(attempt),
            sleep=no_sleep,
        )

    assert announced == [1, 2]  # waits before tries 2 and 3; nothing after the third
