"""PledgeBox as a tiny in-process REST API: its data, a clock, fault knobs and a request log.

Tests serve it through ``httpx.ASGITransport(api.app)`` (no socket) and inspect ``api.pledges``
to see what landed. The API in brief (all under ``/v1``, all with ``Authorization: Bearer <key>``):

- ``GET /ping``
- ``GET /pledges?updated_since=&after_id=&limit=``: pledges changed after (updated_since,
  after_id), ordered by (updated_at, id); ``{"data": [...], "has_more": bool}``
- ``POST /pledges/search`` ``{"field": "external_ref" | "donor_email", "values": [...]}``
- ``PUT /pledges/by-ref/{external_ref}``: create or update by external reference
- ``PATCH /pledges/{id}``: update; ``DELETE /pledges/{id}``

Writes answer ``{"data": pledge, "created": bool, "modified": bool}``; invalid data 422
``{"error": "..."}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncframe.clock import Clock, ManualClock

WRITABLE = ("external_ref", "donor_email", "donor_name", "amount_cents", "currency", "status")
SEARCHABLE = ("external_ref", "donor_email")
STATUSES = ("active", "fulfilled", "cancelled")
MAX_LIMIT = 500

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(slots=True)
class Fault:
    """An error the API answers instead of serving a request."""

    status: int
    retry_after: float | None
    method: str | None  # only requests of this method (None: any)
    after: int  # requests of that method to let through first


class PledgeBoxAPI:
    """The fake PledgeBox service; ``app`` is its ASGI application."""

    def __init__(self, *, api_key: str = "pb-test-key", clock: Clock | None = None) -> None:
        self.api_key = api_key
        self.clock = clock or ManualClock()
        self.pledges: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self._faults: list[Fault] = []
        self._next_id = 1
        self.app = Starlette(
            routes=[
                Route("/v1/ping", self._endpoint(self._ping), methods=["GET"]),
                Route("/v1/pledges", self._endpoint(self._list), methods=["GET"]),
                Route("/v1/pledges/search", self._endpoint(self._search), methods=["POST"]),
                Route("/v1/pledges/by-ref/{ref}", self._endpoint(self._upsert), methods=["PUT"]),
                Route(
                    "/v1/pledges/{id}",
                    self._endpoint(self._update_or_delete),
                    methods=["PATCH", "DELETE"],
                ),
            ]
        )

    # ---- knobs for tests ---------------------------------------------------------------------
    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: float | None = 0,
        method: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer ``times`` requests with ``status`` (and a Retry-After header): the next ones,
        or those of ``method``, after letting ``after`` of them through."""
        self._faults.extend(Fault(status, retry_after, method, after) for _ in range(times))

    def add(self, **fields: Any) -> dict[str, Any]:
        """A pledge entered in PledgeBox by a person (not through the API)."""
        problem = _invalid(fields, creating=True)
        if problem:
            raise ValueError(problem)
        return self._create(fields)

    def edit(self, pledge_id: str, **fields: Any) -> dict[str, Any]:
        """A person changes a pledge in PledgeBox; its ``updated_at`` becomes now."""
        pledge = self.pledges[pledge_id]
        pledge.update(fields)
        pledge["updated_at"] = self._now()
        return pledge

    def by_ref(self, external_ref: str) -> dict[str, Any] | None:
        """The pledge with this external reference, if any."""
        return next((p for p in self.pledges.values() if p["external_ref"] == external_ref), None)

    def statuses(self) -> list[int]:
        """The status of every request served, in order."""
        return [status for _, _, status in self.log]

    # ---- plumbing ------------------------------------------------------------------------------
    def _now(self) -> str:
        return self.clock.now().isoformat()

    def _endpoint(self, handler: Handler) -> Handler:
        async def serve(request: Request) -> Response:
            response = await self._gate(request) or await handler(request)
            self.log.append((request.method, request.url.path, response.status_code))
            return response

        return serve

    async def _gate(self, request: Request) -> Response | None:
        fault = self._faults[0] if self._faults else None
        if fault is not None and fault.method in (None, request.method):
            if fault.after > 0:
                fault.after -= 1
            else:
                self._faults.pop(0)
                headers = (
                    {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                )
                return JSONResponse({"error": "PledgeBox is busy"}, fault.status, headers=headers)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "invalid API key"}, 401)
        return None

    def _create(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        pledge = {
            "id": f"pb_{self._next_id:05d}",
            "external_ref": None,
            "donor_name": "",
            "currency": "USD",
            "status": "active",
            **fields,
            "created_at": now,
            "updated_at": now,
        }
        self._next_id += 1
        self.pledges[pledge["id"]] = pledge
        return pledge

    def _modify(self, pledge: dict[str, Any], fields: dict[str, Any]) -> bool:
        changed = {k: v for k, v in fields.items() if pledge.get(k) != v}
        if changed:
            pledge.update(changed)
            pledge["updated_at"] = self._now()
        return bool(changed)

    # ---- endpoints -----------------------------------------------------------------------------
    async def _ping(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def _list(self, request: Request) -> Response:
        since = request.query_params.get("updated_since")
        after_id = request.query_params.get("after_id") or ""
        limit = min(int(request.query_params.get("limit", "100")), MAX_LIMIT)
        ordered = sorted(self.pledges.values(), key=_changed)
        if since:
            try:
                after = (datetime.fromisoformat(since), after_id)
            except ValueError:
                return JSONResponse({"error": f"updated_since {since!r} is not a time"}, 400)
            ordered = [p for p in ordered if _changed(p) > after]
        return JSONResponse({"data": ordered[:limit], "has_more": len(ordered) > limit})

    async def _search(self, request: Request) -> Response:
        body = await request.json()
        field, values = body.get("field"), body.get("values")
        if field not in SEARCHABLE or not isinstance(values, list):
            return JSONResponse({"error": f"cannot search by {field!r}"}, 400)
        wanted = set(values)
        found = [p for p in self.pledges.values() if p.get(field) in wanted]
        return JSONResponse({"data": found, "has_more": False})

    async def _upsert(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        fields = {**(await request.json()), "external_ref": ref}
        existing = self.by_ref(ref)
        problem = _invalid(fields, creating=existing is None)
        if problem:
            return JSONResponse({"error": problem}, 422)
        if existing is None:
            return JSONResponse({"data": self._create(fields), "created": True}, 201)
        modified = self._modify(existing, fields)
        return JSONResponse({"data": existing, "modified": modified})

    async def _update_or_delete(self, request: Request) -> Response:
        pledge = self.pledges.get(request.path_params["id"])
        if pledge is None:
            return JSONResponse({"error": "no such pledge"}, 404)
        if request.method == "DELETE":
            del self.pledges[pledge["id"]]
            return Response(status_code=204)
        fields = await request.json()
        problem = _invalid(fields, creating=False)
        if problem:
            return JSONResponse({"error": problem}, 422)
        modified = self._modify(pledge, fields)
        return JSONResponse({"data": pledge, "modified": modified})


def _changed(pledge: dict[str, Any]) -> tuple[datetime, str]:
    """The order pledges are listed in: by when they changed, then by id."""
    return datetime.fromisoformat(pledge["updated_at"]), pledge["id"]


def _invalid(fields: dict[str, Any], *, creating: bool) -> str | None:
    """What is wrong with a pledge's fields, as PledgeBox words it, or None."""
    unknown = sorted(set(fields) - set(WRITABLE))
    if unknown:
        return f"unknown fields: {', '.join(unknown)}"
    if creating:
        missing = [name for name in ("donor_email", "amount_cents") if name not in fields]
        if missing:
            return f"missing fields: {', '.join(missing)}"
    if "donor_email" in fields and "@" not in str(fields["donor_email"]):
        return f"donor_email {fields['donor_email']!r} is not an email address"
    amount = fields.get("amount_cents", 0)
    if not isinstance(amount, int) or amount < 0:
        return f"amount_cents must be a whole number of cents, not negative: {amount!r}"
    if "status" in fields and fields["status"] not in STATUSES:
        return f"status must be one of {', '.join(STATUSES)}"
    return None
