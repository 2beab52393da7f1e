"""The admin API every simulator serves under ``/_admin/``, and the client that calls it.

The admin API is how tests (and people, with ``syncframe simulate``) seed records, read back
everything a simulator holds, move its clock, switch faults on and read the request journal.
It is never faulted and never journaled. Bad input is answered with 400 (422 for a field that
fails validation) and ``{"error": "..."}`` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from syncframe.clock import ManualClock
from syncframe_simulators.faults import FaultRule
from syncframe_simulators.journal import JournalEntry

if TYPE_CHECKING:
    from syncframe_simulators.simulator import Simulator

__all__ = [
    "AdminInputError",
    "ClockReading",
    "SimulatorAdmin",
    "SimulatorAdminError",
    "build_admin_app",
    "describe_validation_error",
    "json_response",
    "read_json",
]


class AdminInputError(ValueError):
    """Bad input to an admin route: answered with 400 and the message."""


class SimulatorAdminError(Exception):
    """The admin API refused a call: ``status`` and the API's ``error`` message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"admin API answered {status}: {message}")
        self.status = status
        self.message = message


# ---- JSON ----------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def json_response(data: Any, status_code: int = 200) -> Response:
    """A JSON answer that also takes datetimes (ISO), decimals (as text) and pydantic models."""
    body = json.dumps(data, default=_json_default, ensure_ascii=False)
    return Response(body, status_code=status_code, media_type="application/json")


def describe_validation_error(exc: ValidationError) -> str:
    """``field.path: message; ...`` for every problem pydantic found."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


async def read_json(request: Request, *, object_required: bool = True) -> Any:
    """The request's JSON body; :class:`AdminInputError` when it is not JSON (or, with
    ``object_required``, not a JSON object)."""
    raw = await request.body()
    if not raw.strip():
        if object_required:
            raise AdminInputError("the request body must be a JSON object; it is empty")
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise AdminInputError(f"the request body is not valid JSON: {exc}") from None
    if object_required and not isinstance(data, dict):
        raise AdminInputError(f"the request body must be a JSON object, not {type(data).__name__}")
    return data


# ---- the routes ----------------------------------------------------------------------------


class _ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance: float | None = Field(None, ge=0)
    set: datetime | None = None

    @model_validator(mode="after")
    def _one_change(self) -> Self:
        if (self.advance is None) == (self.set is None):
            raise ValueError('give exactly one of "advance" (seconds) or "set" (ISO time)')
        if self.set is not None and self.set.tzinfo is None:
            raise ValueError('"set" needs a timezone, e.g. 2026-01-01T09:00:00Z')
        return self


class _FaultSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int


_RULES = TypeAdapter(list[FaultRule])


def _query_int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AdminInputError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise AdminInputError(f"{name} must be 0 or more, not {value}")
    return value


def _clock_json(sim: Simulator) -> dict[str, Any]:
    return {"now": sim.clock.now(), "manual": isinstance(sim.clock, ManualClock)}


def _routes(sim: Simulator) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return json_response({"status": "ok", "simulator": sim.name, "seed": sim.seed})

    async def state(request: Request) -> Response:
        return json_response(sim.snapshot())

    async def seed(request: Request) -> Response:
        return json_response(sim.seed_records(await read_json(request)))

    async def reset(request: Request) -> Response:
        sim.reset_all()
        return json_response({"reset": True})

    async def clock(request: Request) -> Response:
        if request.method == "GET":
            return json_response(_clock_json(sim))
        change = _ClockChange.model_validate(await read_json(request))
        manual = sim.clock
        if not isinstance(manual, ManualClock):
            return json_response(
                {
                    "error": f"the clock of simulator {sim.name!r} follows the system clock and "
                    "cannot be moved; serve it with a manual clock (syncframe simulate "
                    "--manual-clock) to move time"
                },
                409,
            )
        try:
            if change.advance is not None:
                manual.advance(timedelta(seconds=change.advance))
            elif change.set is not None:
                manual.set(change.set)
        except ValueError as exc:
            raise AdminInputError(
                f"set: {exc} (the simulator's time is {manual.now().isoformat()})"
            ) from None
        return json_response(_clock_json(sim))

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return json_response(
                {
                    "seed": sim.faults.seed,
                    "faults": [item.to_json() for item in sim.faults.status()],
                }
            )
        if request.method == "DELETE":
            removed = len(sim.faults.rules())
            sim.faults.clear()
            return json_response({"removed": removed})
        body = await read_json(request, object_required=False)
        if isinstance(body, list):
            # Validate them all before installing any: a bad list changes nothing.
            ids = [sim.faults.add(rule) for rule in _RULES.validate_python(body)]
            return json_response({"ids": ids}, 201)
        if not isinstance(body, dict):
            raise AdminInputError("the request body must be a fault rule object or a list of them")
        return json_response({"id": sim.faults.add(FaultRule.model_validate(body))}, 201)

    async def fault(request: Request) -> Response:
        rule_id = request.path_params["fault_id"]
        try:
            sim.faults.remove(rule_id)
        except KeyError:
            return json_response({"error": f"no fault rule {rule_id!r}"}, 404)
        return json_response({"removed": 1})

    async def fault_seed(request: Request) -> Response:
        value = _FaultSeed.model_validate(await read_json(request)).seed
        sim.faults.reseed(value)
        return json_response({"seed": value})

    async def journal(request: Request) -> Response:
        if request.method == "DELETE":
            removed = len(sim.journal)
            sim.journal.clear()
            return json_response({"removed": removed})
        since = _query_int(request, "since", 0) or 0
        limit = _query_int(request, "limit", None)
        return json_response(
            {
                "entries": sim.journal.entries(since=since, limit=limit),
                "last_seq": sim.journal.last_seq,
                "maxlen": sim.journal.maxlen,
            }
        )

    return [
        Route("/health", health, methods=["GET"]),
        Route("/state", state, methods=["GET"]),
        Route("/seed", seed, methods=["POST"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/clock", clock, methods=["GET", "POST"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/faults/seed", fault_seed, methods=["POST"]),
        Route("/faults/{fault_id}", fault, methods=["DELETE"]),
        Route("/journal", journal, methods=["GET", "DELETE"]),
    ]


async def _bad_input(request: Request, exc: Exception) -> Response:
    return json_response({"error": str(exc)}, 400)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return json_response({"error": describe_validation_error(exc)}, 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_response({"error": exc.detail}, exc.status_code)


def build_admin_app(sim: Simulator, prefix: str) -> Starlette:
    """The admin app: the common routes and ``sim.admin_routes()``, all under ``prefix``."""
    return Starlette(
        routes=[Mount(prefix, routes=[*_routes(sim), *sim.admin_routes()])],
        exception_handlers={
            # ValidationError is a ValueError: the more specific handler is found first.
            ValidationError: _invalid,
            ValueError: _bad_input,
            HTTPException: _http_error,
        },
    )


# ---- the client ----------------------------------------------------------------------------


class ClockReading(BaseModel):
    """``GET /_admin/clock``: the simulator's time and whether it can be moved."""

    now: datetime
    manual: bool


class SimulatorAdmin:
    """An async client for a simulator's admin API, in-process or over a socket.

    ``Simulator.admin()`` builds one wired in-process; :meth:`for_url` one for a served
    simulator. Every method raises :class:`SimulatorAdminError` when the API refuses.
    """

    def __init__(self, client: httpx.AsyncClient, prefix: str = "/_admin") -> None:
        self.client = client
        self.prefix = prefix.rstrip("/")

    @classmethod
    def for_url(cls, base_url: str, **kwargs: Any) -> SimulatorAdmin:
        """A client for the simulator served at ``base_url`` (``http://127.0.0.1:8000``)."""
        return cls(httpx.AsyncClient(base_url=base_url, **kwargs))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call ``/_admin/<path>`` (a simulator's own admin routes too); raises on 4xx/5xx."""
        response = await self.client.request(method, f"{self.prefix}/{path.lstrip('/')}", **kwargs)
        if response.status_code >= 400:
            try:
                message = str(response.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise SimulatorAdminError(response.status_code, message)
        return response

    async def get(self, path: str, **params: Any) -> Any:
        """``GET /_admin/<path>`` with query ``params``; the decoded JSON."""
        return (await self.request("GET", path, params=params)).json()

    async def post(self, path: str, payload: Any = None) -> Any:
        """``POST /_admin/<path>`` with a JSON ``payload``; the decoded JSON."""
        return (await self.request("POST", path, json=payload)).json()

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("health")
        return result

    async def state(self) -> dict[str, Any]:
        """Everything the simulator holds (its ``snapshot()``)."""
        result: dict[str, Any] = await self.get("state")
        return result

    async def seed(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Load records (the payload the simulator's ``seed_records`` takes)."""
        result: dict[str, Any] = await self.post("seed", dict(payload))
        return result

    async def reset(self) -> None:
        """Forget records, faults and journal (the clock stays)."""
        await self.post("reset")

    async def clock(self) -> ClockReading:
        return ClockReading.model_validate(await self.get("clock"))

    async def now(self) -> datetime:
        """The simulator's time."""
        return (await self.clock()).now

    async def advance(self, seconds: float | timedelta) -> datetime:
        """Move the simulator's manual clock forward; returns the new time."""
        step = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
        return ClockReading.model_validate(await self.post("clock", {"advance": step})).now

    async def set_clock(self, when: datetime) -> datetime:
        """Move the simulator's manual clock to ``when`` (not earlier than now)."""
        return ClockReading.model_validate(await self.post("clock", {"set": when.isoformat()})).now

    async def add_fault(self, rule: FaultRule | None = None, /, **fields: Any) -> str:
        """Install a fault rule (a :class:`FaultRule` or its fields); returns its id."""
        if rule is not None and fields:
            raise TypeError("give a FaultRule or its fields, not both")
        payload = rule.model_dump(mode="json") if rule is not None else fields
        result: dict[str, Any] = await self.post("faults", payload)
        return str(result["id"])

    async def faults(self) -> list[dict[str, Any]]:
        """The installed rules with ``id``, ``seen``, ``fired`` and ``spent``."""
        result: list[dict[str, Any]] = (await self.get("faults"))["faults"]
        return result

    async def remove_fault(self, rule_id: str) -> None:
        await self.request("DELETE", f"faults/{rule_id}")

    async def clear_faults(self) -> None:
        await self.request("DELETE", "faults")

    async def seed_faults(self, seed: int) -> None:
        """Restart the fault generator from ``seed``."""
        await self.post("faults/seed", {"seed": seed})

    async def journal(self, since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        """Journal entries with ``seq > since``, oldest first."""
        params: dict[str, Any] = {"since": since}
        if limit is not None:
            params["limit"] = limit
        data = await self.get("journal", **params)
        return [JournalEntry.model_validate(entry) for entry in data["entries"]]

    async def clear_journal(self) -> None:
        await self.request("DELETE", "journal")
