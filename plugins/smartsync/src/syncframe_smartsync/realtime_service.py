"""The real-time API inside ``syncframe serve``: Flow IDs to flows, runs, and their step logs.

:func:`serve_routes` is registered with ``syncframe_register_serve_routes``: serve mounts
``/apis/execute.php`` (:mod:`syncframe_smartsync.realtime_api`) on its own app, answered by
:class:`ServiceRunner` through the serve process's :class:`~syncframe.serve.FlowService`, so a
flow never runs twice at once whether a schedule, a webhook or the API started it.

A flow whose event step is the API (``trigger = "api"``) gets the request's data as one event in
its inbox, with the request's checksum as the event id: an exact replay of a request is answered
from the first one and never applied twice. Any other flow is simply run now ("check now for a
change"). The answer carries each record's step log from run history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.routing import BaseRoute

from syncframe.serve import REFUSED, FlowService
from syncframe.state.base import OutcomeRow
from syncframe_smartsync.account import SYSTEM as ACCOUNT_SYSTEM
from syncframe_smartsync.account import AccountSettings
from syncframe_smartsync.api_event import ApiEventSource, api_delivery
from syncframe_smartsync.realtime_api import (
    FlowRunner,
    RealtimeRefused,
    RealtimeResult,
    realtime_routes,
)
from syncframe_smartsync.steps import KIND, SmartsyncFlowOptions

__all__ = ["MAX_RESULTS", "ServiceRunner", "serve_routes"]

#: Records a run's answer lists at most (a poll that found many changes).
MAX_RESULTS: Final = 1000


def _result(row: OutcomeRow) -> dict[str, Any]:
    return {
        "record": row.record,
        "outcome": row.outcome,
        "reason": row.reason,
        "target": row.target_key,
        "steps": row.steps or [],
    }


class ServiceRunner(FlowRunner):
    """Runs the flows of the serve process for the real-time API."""

    def __init__(self, service: FlowService) -> None:
        self.service = service

    @property
    def _flows(self) -> dict[int, str]:
        found: dict[int, str] = {}
        for name, flow in self.service.engine.config.flows.items():
            options = flow.kind_options
            if (
                flow.kind == KIND
                and isinstance(options, SmartsyncFlowOptions)
                and options.flow_id is not None
                and flow.config.enabled
            ):
                found[options.flow_id] = name
        return found

    def account(self) -> AccountSettings | None:
        """The settings of the file's ``smartsync_account`` connection, if it has one."""
        for connection in self.service.engine.config.connections.values():
            if connection.system.name == ACCOUNT_SYSTEM and isinstance(
                connection.settings, AccountSettings
            ):
                return connection.settings
        return None

    def flow_name(self, flow_id: int) -> str | None:
        return self._flows.get(flow_id)

    def takes_data(self, flow: str) -> bool:
        source = self.service.engine.config.flows[flow].source.component.cls
        return issubclass(source, ApiEventSource)

    async def run(
        self, flow: str, data: Mapping[str, str] | None, request_id: str
    ) -> RealtimeResult:
        service = self.service
        state = service.engine.state
        if data is None:
            report = await service.run(flow)
            rows = state.run_outcomes(report.run_id)
            listed = [_result(row) for row, _ in zip(rows, range(MAX_RESULTS), strict=False)]
            summary = report.summary
            return RealtimeResult(
                report.run_id, summary.status, dict(summary.counts), listed, summary.error
            )
        key = service.engine.config.flows[flow].source.options.key  # type: ignore[attr-defined]
        record = str(data.get(key, ""))
        earlier = state.inbox_get(flow, [request_id]).get(request_id)
        if earlier is not None and earlier.outcome is not None and earlier.outcome not in REFUSED:
            # An exact replay of a request already applied: what became of it, not a new run.
            replayed: dict[str, Any] = {
                "record": record,
                "outcome": earlier.outcome,
                "reason": earlier.reason,
                "target": None,
                "steps": [],
                "replayed": True,
            }
            return RealtimeResult("", "succeeded", {earlier.outcome: 1}, [replayed])
        status, body = await service.deliver(flow, api_delivery(flow, request_id, data))
        if status in (400, 401, 404):
            # The event step refused the data (no key field, say): the caller's mistake.
            raise RealtimeRefused(400 if status == 400 else 500, str(body.get("error")))
        runs = state.list_runs(flow, limit=1)
        run_id = runs[0].run_id if runs else ""
        results: list[dict[str, Any]] = []
        if run_id:
            results = [_result(r) for r in state.run_outcomes(run_id) if r.record == record]
        counts: dict[str, int] = {}
        for result in results:
            counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
        if status == 503:
            return RealtimeResult(run_id, "failed", counts, results, str(body.get("error")))
        return RealtimeResult(run_id, "succeeded", counts, results)


def serve_routes(service: FlowService) -> list[BaseRoute]:
    """``/apis/execute.php``: the real-time API (answers 403 until the account enables it)."""
    runner = ServiceRunner(service)
    # Mounted even without a smartsync_account connection: a caller then gets the 403 that says
    # how to set the API up (docs/smartsync/realtime-api.md), not a bare 404.
    return list(realtime_routes(runner.account, runner, service.engine.clock))
