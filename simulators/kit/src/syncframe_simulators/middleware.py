"""The fault and journal middleware around a simulator's imitated API.

Every request to the imitated API is read whole (the operation name may be in the body, as in
SOAP), asked for its operation, offered to the fault injector, answered (or not) and journaled.
Admin requests never come through here.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncframe_simulators.faults import FaultKind, FaultRule
from syncframe_simulators.transport import SimulatedDisconnect

if TYPE_CHECKING:
    from syncframe_simulators.simulator import Simulator

__all__ = ["FaultJournalMiddleware", "retry_after_header"]

log = logging.getLogger("syncframe.simulators")

#: What a dropped connection claims it was about to send: a body the client never gets whole.
_PROMISED_BYTES = b"1024"


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in seconds: whole seconds as real servers send them; a fraction is kept
    (``0.05``) so tests need not wait a whole second."""
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client went away while sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the body already read, then defers to the real one."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _client_left_within(seconds: float, receive: Receive) -> bool:
    """Wait up to ``seconds`` for the client to disconnect; whether it did."""
    with anyio.move_on_after(seconds):
        while (await receive())["type"] != "http.disconnect":
            pass
        return True
    return False


async def _operation(sim: Simulator, request: Request) -> str | None:
    try:
        return await sim.operation_of(request)
    except Exception:
        # A body the simulator cannot make sense of is the imitated API's to refuse, in the
        # system's own words; the journal just goes without an operation name.
        log.debug("%s: operation_of failed; journaled without an operation", sim, exc_info=True)
        return None


class FaultJournalMiddleware:
    """Wraps the imitated API: injects the simulator's faults and journals every request."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sim = self.simulator
        started = time.perf_counter()
        arrived = sim.clock.now()
        method: str = scope["method"]
        path: str = scope["path"]
        status: int | None = None
        sent_bytes = 0
        operation: str | None = None
        fault: FaultKind | None = None
        fault_id: str | None = None
        body = b""

        async def counting_send(message: Message) -> None:
            nonlocal status, sent_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        try:
            body, gone = await _read_body(receive)
            if gone:
                return
            operation = await _operation(sim, Request(scope, _replay(body, receive)))
            decision = sim.faults.decide(method, path, operation)
            if decision is None:
                await self.app(scope, _replay(body, receive), counting_send)
                return
            fault_id, rule = decision
            fault = rule.kind
            if rule.kind == "latency":
                await anyio.sleep(rule.latency)
                await self.app(scope, _replay(body, receive), counting_send)
            elif rule.kind == "timeout":
                if not await _client_left_within(rule.hang, receive):
                    # Nobody gave up waiting: answer as a gateway that gave up itself would.
                    await self._fault_answer(rule, operation, scope, receive, counting_send)
            elif rule.kind == "disconnect":
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-length", _PROMISED_BYTES)],
                    }
                )
                # On a socket the server closes the connection mid-answer; in-process the
                # SimulatorTransport turns this into httpx.RemoteProtocolError.
                raise SimulatedDisconnect(f"fault {fault_id} dropped {method} {path}")
            else:
                await self._fault_answer(rule, operation, scope, receive, counting_send)
        finally:
            sim.journal.record(
                at=arrived,
                method=method,
                path=path,
                operation=operation,
                status=status,
                fault=fault,
                fault_id=fault_id,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_bytes=len(body),
                response_bytes=sent_bytes,
            )

    async def _fault_answer(
        self, rule: FaultRule, operation: str | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = self.simulator.fault_response(rule.kind, rule, operation)
        if rule.kind == "rate_limit" and "retry-after" not in response.headers:
            # The kit promises Retry-After on every rate-limit answer, whoever renders it.
            response.headers["Retry-After"] = retry_after_header(rule.retry_after)
        await response(scope, receive, send)
