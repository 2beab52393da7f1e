"""The engine's retry policy: which failures are worth retrying, and how long to wait.

Connectors do not write retry loops: they raise :class:`~syncframe.components.TransientError`
(or let httpx's timeout and connection errors through) and the engine retries the step with
jittered exponential backoff, honouring a server's ``Retry-After``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from syncframe.components import TransientError
from syncframe.config.models import RetryConfig

__all__ = ["MAX_RETRY_AFTER", "call_with_retries", "is_transient", "retry_after_of", "wait_for"]

T = TypeVar("T")

#: A Retry-After longer than this (seconds) is not waited out inside one run.
MAX_RETRY_AFTER = 600.0

_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


def is_transient(exc: BaseException) -> bool:
    """Whether trying again may succeed: our TransientError, httpx timeouts/network errors,
    and HTTP 408/425/429/5xx raised by ``response.raise_for_status()``."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in _TRANSIENT_STATUS
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, if it said."""
    if isinstance(exc, TransientError):
        return exc.retry_after
    if isinstance(exc, httpx.HTTPStatusError):
        header = exc.response.headers.get("Retry-After")
        if header:
            try:
                return max(0.0, float(header))
            except ValueError:
                return None
    return None


def wait_for(policy: RetryConfig, attempt: int, exc: BaseException | None) -> float:
    """Seconds to wait before try ``attempt + 1``: Retry-After if given, else exponential
    backoff capped at ``max_wait`` plus up to ``jitter`` random seconds."""
    if exc is not None and policy.respect_retry_after:
        asked = retry_after_of(exc)
        if asked is not None:
            return min(asked, MAX_RETRY_AFTER)
    backoff = min(policy.max_wait, policy.initial_wait * (2.0 ** (attempt - 1)))
    return backoff + random.uniform(0, policy.jitter)  # jitter, not crypto


async def call_with_retries(
    policy: RetryConfig,
    step: Callable[[], Awaitable[T]],
    *,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> T:
    """Run ``step`` until it succeeds, fails permanently, or ``policy.attempts`` are used up.

    The last exception is re-raised as it was. ``on_retry(attempt, exc, wait)`` is called before
    each wait (the engine logs it).
    """

    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        seconds = wait_for(policy, state.attempt_number, exc)
        # tenacity asks for the wait before it checks the stop: after the last attempt there
        # is no retry to announce.
        if on_retry is not None and exc is not None and state.attempt_number < policy.attempts:
            on_retry(state.attempt_number, exc, seconds)
        return seconds

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=_wait,
        retry=retry_if_exception(is_transient),
        reraise=True,
        sleep=sleep,
    )
    async for attempt in retrying:
        with attempt:
            return await step()
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
