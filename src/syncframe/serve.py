"""``syncframe serve``: the long-running process of a flow file.

It does two things for one engine (one flow file, one state store):

- receives **webhooks** at ``POST /webhooks/<flow>`` for every flow whose source is a
  :class:`~syncframe.webhooks.WebhookSource`, stores the accepted events in the inbox, runs the
  flow at once and answers with what became of each event;
- runs the flows that have a ``schedule`` every ``schedule.every`` (a daily batch, a poll).

One flow never runs twice at the same time (a lock per flow); different flows run side by side.

Answer to a delivery: ``{"flow", "events": [{"event_id", "outcome", "reason"}]}`` with

- **200** when each event was written, unchanged, skipped, filtered or blocked by a loop guard,
  or was a redelivery of one already settled that way (it is not applied again);
- **422** when an event was rejected or failed: it is in the failed-records store with its
  reason (``syncframe failed``), and a redelivery of it retries it, as ``syncframe retry`` does;
- **503** with ``Retry-After`` when the flow could not finish (say the target system is down
  after every retry): the event stays in the inbox and the next delivery, scheduled run or retry
  picks it up;
- **401/400** when the source refused the delivery (bad signature, unreadable body), **404** for
  an unknown flow or one that does not take webhooks. A GET of a webhook URL answers 200 (senders
  such as Mailchimp check a URL that way before saving it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncframe.components import Outcome
from syncframe.engine import Engine, RunReport
from syncframe.webhooks import WebhookDelivery, WebhookRefused, WebhookSource, event_of

__all__ = ["FlowService", "service_app"]

log = logging.getLogger("syncframe.serve")

#: Outcomes that leave the event in the failed-records store.
REFUSED = frozenset({Outcome.REJECTED, Outcome.FAILED})

#: When the flow could not finish: how long the sender should wait before delivering again.
RETRY_AFTER_SECONDS = 60

#: Events a flow has read are forgotten after this long (their ids no longer deduplicate).
DEFAULT_INBOX_RETENTION = timedelta(days=30)


@dataclass(slots=True)
class FlowService:
    """Runs the flows of one engine on demand (webhooks) and on their schedules."""

    engine: Engine
    inbox_retention: timedelta = DEFAULT_INBOX_RETENTION
    _locks: dict[str, anyio.Lock] = field(default_factory=dict)
    _sources: dict[str, WebhookSource[Any]] = field(default_factory=dict)
    # Holds the webhook sources built so far; closed when the service stops (an app served
    # in-process without lifespan events simply never closes it).
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    _pruned_at: dict[str, Any] = field(default_factory=dict)

    # ---- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> FlowService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        self._stack = AsyncExitStack()
        self._sources.clear()

    # ---- flows -------------------------------------------------------------------------------
    def webhook_flows(self) -> list[str]:
        """The flows whose source takes webhooks, in file order."""
        return [
            name
            for name, flow in self.engine.config.flows.items()
            if issubclass(flow.source.component.cls, WebhookSource)
        ]

    def scheduled_flows(self) -> list[tuple[str, timedelta]]:
        """The enabled flows with a schedule, and how often each runs."""
        return [
            (name, flow.config.schedule.every)
            for name, flow in self.engine.config.flows.items()
            if flow.config.enabled and flow.config.schedule is not None
        ]

    def _lock(self, flow: str) -> anyio.Lock:
        return self._locks.setdefault(flow, anyio.Lock())

    async def run(self, flow: str) -> RunReport:
        """Run ``flow`` now (after a run of it already going), and settle its inbox events."""
        async with self._lock(flow):
            report = await self.engine.run_flow(flow)
            self._settled(flow, report)
        return report

    async def retry(self, flow: str, failed_ids: Sequence[int]) -> list[RunReport]:
        """Send failed records of ``flow`` again, and settle the inbox events they came from."""
        async with self._lock(flow):
            reports = await self.engine.retry_failed(flow=flow, ids=list(failed_ids))
            for report in reports:
                self._settled(flow, report)
        return reports

    def _settled(self, flow: str, report: RunReport) -> None:
        """After a run: the engine recorded its events' outcomes; forget old ones now and then."""
        if report.summary.status == "succeeded" and flow in self.webhook_flows():
            self._prune(flow)

    def _prune(self, flow: str) -> None:
        """Forget events read long ago, at most once an hour per flow."""
        now = self.engine.clock.now()
        last = self._pruned_at.get(flow)
        if last is not None and now - last < timedelta(hours=1):
            return
        self._pruned_at[flow] = now
        checkpoint = self.engine.state.get_checkpoint(flow)
        if checkpoint is not None and isinstance(checkpoint.cursor, int):
            gone = self.engine.state.inbox_prune(
                flow, now - self.inbox_retention, checkpoint.cursor
            )
            if gone:
                log.info("flow %s: forgot %d webhook events older than %s", flow, gone, now)

    # ---- webhooks ----------------------------------------------------------------------------
    async def source_of(self, flow: str) -> WebhookSource[Any] | None:
        """The flow's webhook source (built once), or ``None`` if it takes no webhooks."""
        if flow not in self.engine.config.flows or flow not in self.webhook_flows():
            return None
        source = self._sources.get(flow)
        if source is None:
            built = self.engine.build_source(flow, self._stack)
            assert isinstance(built, WebhookSource)
            source = self._sources[flow] = built
        return source

    async def deliver(self, flow: str, delivery: WebhookDelivery) -> tuple[int, dict[str, Any]]:
        """Handle one delivery to ``flow``'s endpoint: the HTTP status and the JSON answer."""
        source = await self.source_of(flow)
        if source is None:
            known = ", ".join(self.webhook_flows()) or "none"
            return 404, {"error": f"no flow {flow!r} takes webhooks here; flows that do: {known}"}
        try:
            events = source.accept(delivery)
        except WebhookRefused as exc:
            log.warning("flow %s: delivery refused (%d): %s", flow, exc.status, exc.message)
            return exc.status, {"error": exc.message}
        if not events:
            return 200, {"flow": flow, "events": []}
        state = self.engine.state
        ids = list(dict.fromkeys(event_id for event_id, _ in events))
        stored = state.inbox_add(flow, events)
        # A redelivery of an event that was refused: retry it, as `syncframe retry` would.
        refused = {e.event_id for e in stored if e.outcome in REFUSED}
        if refused:
            failed = [
                record.id
                for record in state.list_failed(flow=flow)
                if record.id is not None and event_of(record.change_id) in refused
            ]
            if failed:
                await self.retry(flow, failed)
        error: str | None = None
        async with self._lock(flow):
            # Deliveries that waited for a run of the flow often find their events read by it:
            # many deliveries at once make few runs.
            if any(e.outcome is None for e in state.inbox_get(flow, ids).values()):
                report = await self.engine.run_flow(flow)
                self._settled(flow, report)
                if report.summary.status != "succeeded":
                    error = report.summary.error or report.summary.status
                else:
                    self._settle_read(flow, source, ids)
        now = state.inbox_get(flow, ids)
        answer = [
            {"event_id": i, "outcome": now[i].outcome or "pending", "reason": now[i].reason}
            for i in ids
        ]
        body: dict[str, Any] = {"flow": flow, "events": answer}
        outcomes = {a["outcome"] for a in answer}
        if "pending" in outcomes:
            body["error"] = error or "the flow has not read this event yet"
            return 503, body
        if outcomes & {o.value for o in REFUSED}:
            return 422, body
        return 200, body

    def _settle_read(self, flow: str, source: WebhookSource[Any], ids: Iterable[str]) -> None:
        """Settle events the flow has read but that got no outcome: those no change came of,
        and those of a batch a run applied and then stopped (killed) before recording it."""
        state = self.engine.state
        checkpoint = state.get_checkpoint(flow)
        upto = checkpoint.cursor if checkpoint is not None else 0
        unsettled = [
            e
            for e in state.inbox_get(flow, list(ids)).values()
            if e.outcome is None and isinstance(upto, int) and e.seq <= upto
        ]
        if not unsettled:
            return
        failed = {
            event_of(r.change_id): r.reason
            for r in state.list_failed(flow=flow)
            if event_of(r.change_id) in {e.event_id for e in unsettled}
        }
        settled: dict[str, tuple[str, str | None]] = {}
        for event in unsettled:
            if event.event_id in failed:
                settled[event.event_id] = (Outcome.FAILED.value, failed[event.event_id])
            elif not source.changes_of(event):
                settled[event.event_id] = (Outcome.SKIPPED.value, "the event carries no change")
            else:
                settled[event.event_id] = (
                    "applied",
                    "applied by a run that stopped before it recorded the outcome",
                )
        state.inbox_settle(flow, settled)

    # ---- schedules ---------------------------------------------------------------------------
    async def run_schedules(self) -> None:
        """Run each scheduled flow now and then every ``schedule.every``, until cancelled."""
        async with anyio.create_task_group() as tg:
            for name, every in self.scheduled_flows():
                tg.start_soon(self._every, name, every)

    async def _every(self, flow: str, every: timedelta) -> None:
        while True:
            try:
                report = await self.run(flow)
                log.info("flow %s: %s %s", flow, report.summary.status, report.summary.counts)
            except Exception:  # a scheduled flow must not stop the others
                log.exception("flow %s: scheduled run failed", flow)
            await anyio.sleep(every.total_seconds())


def service_app(engine: Engine, *, schedules: bool = False) -> Starlette:
    """The ASGI app of ``syncframe serve`` for ``engine``: webhook endpoints, ``GET /health``,
    and (with ``schedules``) the scheduled flows running in the background while it is up."""
    service = FlowService(engine)

    async def webhook(request: Request) -> Response:
        flow = request.path_params["flow"]
        if request.method in ("GET", "HEAD"):
            # Senders check a URL before saving it as a webhook (Mailchimp sends a GET).
            if flow in service.webhook_flows():
                return JSONResponse({"flow": flow, "accepts": "POST"})
            return JSONResponse({"error": f"no flow {flow!r} takes webhooks here"}, 404)
        delivery = WebhookDelivery(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        status, body = await service.deliver(flow, delivery)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
        return JSONResponse(body, status_code=status, headers=headers)

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "config": str(engine.config.path),
                "webhook_flows": service.webhook_flows(),
                "scheduled_flows": [
                    {"flow": n, "every_seconds": e.total_seconds()}
                    for n, e in service.scheduled_flows()
                ],
            }
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with service, anyio.create_task_group() as tg:
            if schedules:
                tg.start_soon(service.run_schedules)
            yield
            tg.cancel_scope.cancel()

    # Plugins' own endpoints (an inbound API that runs flows, say) share the service.
    extra: list[BaseRoute] = []
    for routes in engine.host.registry.serve_routes.values():
        extra.extend(routes.factory(service))
    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/webhooks/{flow}", webhook, methods=["GET", "HEAD", "POST"]),
            *extra,
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    # What the plugins mounted for this flow file: serve has something to do even without
    # webhook or scheduled flows when a plugin's inbound API is here.
    app.state.plugin_paths = [getattr(route, "path", "") for route in extra]
    return app
