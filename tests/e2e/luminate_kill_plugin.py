"""The Luminate sinks, killing their own process at the worst moment: right after a batch was
written and before the engine committed it. Loaded by the kill test's subprocess runs through
``SYNCFRAME_PLUGINS_EXTRA``; ``LUMINATE_KILL_AFTER_WRITES=N`` kills after the N-th write."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

from syncframe_luminate.file_sink import LuminateFileSink
from syncframe_luminate.sql_sink import LuminateSqlSink

from syncframe import hookimpl
from syncframe.components import BatchResult, WritePlan
from syncframe.records import Change
from syncframe.registry import ComponentRegistrar

KILL_ENV = "LUMINATE_KILL_AFTER_WRITES"
_writes = 0


def _maybe_die() -> None:
    global _writes
    limit = int(os.environ.get(KILL_ENV, "0"))
    _writes += 1
    if limit and _writes >= limit:
        os.kill(os.getpid(), signal.SIGKILL)


class KillingFileSink(LuminateFileSink):
    """``luminate_files`` that dies after a write, before the engine's commit."""

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = await super().write(changes, plan)
        _maybe_die()
        return result


class KillingSqlSink(LuminateSqlSink):
    """``luminate_sql`` that dies after its transaction committed, before the engine's."""

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = await super().write(changes, plan)
        _maybe_die()
        return result


@hookimpl
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    register("killing_luminate_files", KillingFileSink)
    register("killing_luminate_sql", KillingSqlSink)
