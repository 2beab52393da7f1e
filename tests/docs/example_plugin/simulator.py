"""PledgeBox as a simulator of the syncframe simulator kit: its data, its API, its faults.

Tests serve it in-process through ``simulator.transport()`` (no socket) and inspect
``simulator.pledges`` to see what landed; ``syncframe simulate pledgebox`` serves it on a port.
The kit adds the admin API (``/_admin/seed``, ``/_admin/state``, ``/_admin/faults``...), the
request journal and fault injection; this module is only PledgeBox itself. Its API in brief (all
under ``/v1``, all with ``Authorization: Bearer <key>``):

- ``GET /ping``
- ``GET /pledges?updated_since=&after_id=&limit=``: pledges changed after (updated_since,
  after_id), ordered by (updated_at, id); ``{"data": [...], "has_more": bool}``
- ``POST /pledges/search`` ``{"field": "external_ref" | "donor_email", "values": [...]}``
- ``PUT /pledges/by-ref/{external_ref}``: create or update by external reference
- ``PATCH /pledges/{id}``: update; ``DELETE /pledges/{id}``

Writes answer ``{"data": pledge, "created": bool, "modified": bool}``; invalid data 422
``{"error": "..."}``; a wrong key 401. When busy, PledgeBox answers ``{"error": "PledgeBox is
busy"}`` with the status and a ``Retry-After`` header.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from syncframe_simulators import FaultKind, FaultRule, Simulator

WRITABLE = ("external_ref", "donor_email", "donor_name", "amount_cents", "currency", "status")
SEARCHABLE = ("external_ref", "donor_email")
STATUSES = ("active", "fulfilled", "cancelled")
MAX_LIMIT = 500


class PledgeBoxSimulator(Simulator):
    """The simulated PledgeBox service: pledges in memory, keyed by id."""

    name = "pledgebox"

    def __init__(self, *, api_key: str = "pb-test-key", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.pledges: dict[str, dict[str, Any]] = {}
        self._next_id = 1

    # ---- what the kit asks of a simulator ------------------------------------------------------
    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/ping", self._ping, methods=["GET"]),
            Route("/v1/pledges", self._list, methods=["GET"]),
            Route("/v1/pledges/search", self._search, methods=["POST"]),
            Route("/v1/pledges/by-ref/{ref}", self._upsert, methods=["PUT"]),
            Route("/v1/pledges/{id}", self._update_or_delete, methods=["PATCH", "DELETE"]),
        ]

    def snapshot(self) -> dict[str, Any]:
        return {"pledges": list(self.pledges.values())}

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"pledges": [{fields}, ...]}``: pledges entered by people, in order."""
        made = []
        for n, fields in enumerate(payload.get("pledges", [])):
            problem = _invalid(fields, creating=True)
            if problem:
                raise ValueError(f"pledges[{n}]: {problem}")
            made.append(self._create(fields))
        return {"pledges": made}

    def reset(self) -> None:
        self.pledges.clear()
        self._next_id = 1

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        if kind in ("error", "rate_limit"):
            # PledgeBox says when to come back, whether overloaded (503) or throttling (429).
            status = rule.status if kind == "error" else 429
            headers = {"Retry-After": f"{rule.retry_after:g}"}
            return JSONResponse({"error": "PledgeBox is busy"}, status, headers=headers)
        return super().fault_response(kind, rule, operation)

    # ---- knobs for tests ---------------------------------------------------------------------
    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: float = 0,
        method: str | None = None,
        after: int = 0,
    ) -> str:
        """Answer ``times`` requests with ``status`` and a Retry-After header: the next ones,
        or those of ``method``, after letting ``after`` of them through. A kit fault rule."""
        return self.faults.add(
            FaultRule(
                kind="error",
                status=status,
                times=times,
                retry_after=retry_after,
                method=method,
                after=after,
            )
        )

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

    @property
    def log(self) -> list[tuple[str, str, int | None]]:
        """(method, path, status) of every request the API got, from the kit's journal."""
        return [(e.method, e.path, e.status) for e in self.journal.entries()]

    def statuses(self) -> list[int | None]:
        """The status of every request served, in order."""
        return [status for _, _, status in self.log]

    # ---- plumbing ------------------------------------------------------------------------------
    def _now(self) -> str:
        return self.clock.now().isoformat()

    def _refused(self, request: Request) -> Response | None:
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
        return self._refused(request) or JSONResponse({"ok": True})

    async def _list(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
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
        refused = self._refused(request)
        if refused:
            return refused
        body = await request.json()
        field, values = body.get("field"), body.get("values")
        if field not in SEARCHABLE or not isinstance(values, list):
            return JSONResponse({"error": f"cannot search by {field!r}"}, 400)
        wanted = set(values)
        found = [p for p in self.pledges.values() if p.get(field) in wanted]
        return JSONResponse({"data": found, "has_more": False})

    async def _upsert(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
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
        refused = self._refused(request)
        if refused:
            return refused
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
