"""The base class of every simulator: state, clock, faults, journal, admin API and clients."""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from http import HTTPStatus
from typing import Any, ClassVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from syncframe.clock import Clock, ManualClock
from syncframe_simulators.admin import SimulatorAdmin, build_admin_app
from syncframe_simulators.faults import FaultInjector, FaultKind, FaultRule
from syncframe_simulators.journal import RequestJournal
from syncframe_simulators.middleware import FaultJournalMiddleware, retry_after_header
from syncframe_simulators.transport import SimulatorTransport

__all__ = ["ADMIN_PREFIX", "Simulator"]

#: Where every simulator's admin API lives; never faulted, never journaled.
ADMIN_PREFIX = "/_admin"

#: What a ``malformed`` fault sends by default: JSON cut off mid-record.
_CUT_JSON = b'{"data": [{"id": 1, "name": "Ada Lovel'


class _Dispatch:
    """Sends ``/_admin/...`` to the admin app and everything else through the faults."""

    def __init__(self, admin: ASGIApp, api: ASGIApp) -> None:
        self.admin = admin
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
                await self.admin(scope, receive, send)
                return
        await self.api(scope, receive, send)


class Simulator(ABC):
    """One simulated system with its in-memory state.

    Subclasses set :attr:`name` and implement the methods under "subclasses implement"; the
    kit provides the ASGI :attr:`app` (admin API plus the imitated API behind the fault and
    journal middleware), in-process clients and the admin client.
    """

    #: The simulator's name, e.g. ``"luminate"``; also the host of :attr:`base_url`.
    name: ClassVar[str]

    def __init__(
        self, *, clock: Clock | None = None, seed: int = 0, journal_size: int = 10_000
    ) -> None:
        if not getattr(type(self), "name", None):
            raise TypeError(f"{type(self).__name__} must set the class attribute `name`")
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.seed = seed
        self.faults = FaultInjector(seed)
        self.journal = RequestJournal(journal_size)
        self.base_url = f"http://{self.name}.simulator"
        self._app: ASGIApp | None = None
        self._clients: weakref.WeakSet[httpx.AsyncClient] = weakref.WeakSet()

    # ---- subclasses implement ------------------------------------------------------------------

    @abstractmethod
    def api_routes(self) -> list[BaseRoute]:
        """The imitated API's routes (called once, when :attr:`app` is first built)."""

    def api_app(self) -> ASGIApp:
        """The imitated API as an app: a Starlette app of :meth:`api_routes`. Override to add
        exception handlers or middleware of the system's own; the kit wraps the result in its
        fault and journal middleware."""
        return Starlette(routes=self.api_routes())

    def admin_routes(self) -> list[BaseRoute]:
        """Extra admin routes, mounted under ``/_admin/`` (name them ``/<name>/...``)."""
        return []

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Everything the simulator holds, JSON-able (``GET /_admin/state``)."""

    @abstractmethod
    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Load records from an admin payload (``POST /_admin/seed``); returns what was made.

        Raise ``ValueError`` (or a pydantic ``ValidationError``) naming the field for bad input:
        the admin API answers it with 400 (422) and the message.
        """

    @abstractmethod
    def reset(self) -> None:
        """Forget every record: back to the state of a freshly built simulator."""

    async def operation_of(self, request: Request) -> str | None:
        """The system's name for the operation a request calls (for the journal and fault
        matching); ``None`` when the system has no such notion or the request names none. May
        read the body. An exception here is logged (debug) and counts as ``None``: a body the
        simulator cannot parse is for the imitated API to refuse in the system's own way."""
        return None

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        """How this system answers an injected fault of ``kind``.

        Called for ``error`` (status ``rule.status``), ``rate_limit`` (429; the kit adds
        ``Retry-After`` if missing), ``malformed`` (200 with a broken body) and ``timeout``
        (the answer a client that waited ``rule.hang`` seconds finally gets: 504). Override to
        answer in the system's own format and call ``super()`` for the kinds left alone.
        """
        if kind == "error":
            return JSONResponse({"error": HTTPStatus(rule.status).phrase}, status_code=rule.status)
        if kind == "rate_limit":
            return JSONResponse(
                {"error": "Too Many Requests"},
                status_code=429,
                headers={"Retry-After": retry_after_header(rule.retry_after)},
            )
        if kind == "malformed":
            return Response(_CUT_JSON, status_code=200, media_type="application/json")
        if kind == "timeout":
            return JSONResponse({"error": "Gateway Timeout"}, status_code=504)
        raise ValueError(f"a {kind} fault has no answer of its own")

    # ---- provided ------------------------------------------------------------------------------

    @property
    def app(self) -> ASGIApp:
        """The ASGI app: ``/_admin/*`` plus the imitated API behind faults and the journal."""
        if self._app is None:
            api = FaultJournalMiddleware(self.api_app(), self)
            self._app = _Dispatch(build_admin_app(self, ADMIN_PREFIX), api)
        return self._app

    def transport(self) -> SimulatorTransport:
        """An in-process httpx transport to :attr:`app` that times out and drops connections
        as a socket would."""
        return SimulatorTransport(self.app)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An async client wired to this simulator (``base_url`` and transport set; other
        ``httpx.AsyncClient`` arguments pass through). Closed by :meth:`aclose`."""
        kwargs.setdefault("base_url", self.base_url)
        kwargs.setdefault("transport", self.transport())
        client = httpx.AsyncClient(**kwargs)
        self._clients.add(client)
        return client

    def admin(self) -> SimulatorAdmin:
        """A client for the admin API (seed, state, reset, clock, faults, journal)."""
        return SimulatorAdmin(self.client())

    def reset_all(self) -> None:
        """``POST /_admin/reset``: :meth:`reset` the records, remove every fault rule, restart
        the fault generator from :attr:`seed` and clear the journal. The clock is left alone:
        it is shared with whoever else tells time by it."""
        self.reset()
        self.faults.clear()
        self.faults.reseed(self.seed)
        self.journal.clear()

    def has_open_clients(self) -> bool:
        """Whether a client made by :meth:`client` or :meth:`admin` is still open."""
        return any(not client.is_closed for client in self._clients)

    async def aclose(self) -> None:
        """Close every client made by :meth:`client` and :meth:`admin` that is still open."""
        for client in list(self._clients):
            await client.aclose()
        self._clients = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} seed={self.seed}>"
