"""The in-process transport: a simulator app behind httpx, failing the way a socket would.

``httpx.ASGITransport`` calls the app and waits for it as long as it takes, and passes an
exception from the app straight through. A client on a real socket sees something else: its
read timeout fires when no answer comes, and a connection the server drops is an
``httpx.RemoteProtocolError``. This transport gives in-process clients that behaviour, so a
connector's retry code is tested the same way in both set-ups.
"""

from __future__ import annotations

import httpx
from anyio import move_on_after
from starlette.types import ASGIApp

__all__ = ["SimulatedDisconnect", "SimulatorTransport"]


class SimulatedDisconnect(Exception):
    """Raised by the app to drop the connection (a ``disconnect`` fault, or a ``timeout``
    fault the client did not give up on)."""


class SimulatorTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` over a simulator app, with a socket's timeouts and drops."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        read_timeout: float | None = timeouts.get("read")
        try:
            # The whole answer is buffered in-process, so waiting for the app is waiting to
            # read: the read timeout bounds it, as it bounds a silent socket.
            with move_on_after(read_timeout):
                return await self._inner.handle_async_request(request)
        except SimulatedDisconnect:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from None
        # Only our own deadline ends the block without an answer or an exception.
        raise httpx.ReadTimeout(f"no answer within {read_timeout} s", request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()
