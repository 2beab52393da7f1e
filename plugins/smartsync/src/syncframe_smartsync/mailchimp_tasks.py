"""Running a batch's Mailchimp calls side by side, with the engine's error kinds kept whole.

anyio wraps what its tasks raise in an exception group; the engine must see the error itself
(a :class:`TransientError` to retry the batch, a :class:`PermanentError` to fail it), so the
first failure cancels the others and is raised as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio

from syncframe.components import TransientError

__all__ = ["run_concurrently"]


async def run_concurrently(calls: Iterable[Callable[[], Awaitable[None]]]) -> None:
    """Await every call at once; on the first failure cancel the rest and raise it (a
    permanent failure before a transient one, when several failed)."""
    errors: list[Exception] = []

    async with anyio.create_task_group() as group:

        async def guarded(call: Callable[[], Awaitable[None]]) -> None:
            try:
                await call()
            except Exception as exc:  # handed to the caller below, unwrapped
                errors.append(exc)
                group.cancel_scope.cancel()

        for call in calls:
            group.start_soon(guarded, call)
    if errors:
        lasting = [e for e in errors if not isinstance(e, TransientError)]
        raise (lasting or errors)[0]
