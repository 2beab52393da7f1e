"""The Legacy RaiseDonors simulator as a Starlette app: the API the sync calls and the admin
routes for what people do in the admin and donor portals.

The API (JSON, camelCase fields, PascalCase query parameters, ProblemDetails errors) is served
by one dispatcher over a route table, so routing and the operation names the journal and fault
rules use come from the same place; paths match whatever their case, as ASP.NET routes do. Every
``/api/...`` call needs ``Authorization: Bearer <token>`` from ``/oauth/authorize``, except the
public giving form. The state lives in :class:`~raisedonors_simulator.account.
RaiseDonorsAccount`; this module maps requests to its actions and its answers back to JSON.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from syncframe_simulators import FaultKind, FaultRule, Simulator, retry_after_header
from syncframe_simulators.admin import AdminInputError, json_response, read_json

from raisedonors_simulator.account import PORTAL_CHANNELS, RaiseDonorsAccount
from raisedonors_simulator.activity import Channel, activity_json
from raisedonors_simulator.auth import ApiClient
from raisedonors_simulator.donors import (
    SORT_KEYS,
    SortKey,
    donor_json,
    parse_address,
    parse_donor_fields,
    parse_phone,
    parse_phone_type,
)
from raisedonors_simulator.errors import DomainError, FieldErrors, InvalidFields
from raisedonors_simulator.giving import gift_json, parse_gift_form
from raisedonors_simulator.problems import Problem, problem_response
from syncframe.clock import Clock

__all__ = ["MAX_TAKE", "OPERATIONS", "RaiseDonorsSimulator"]

logger = logging.getLogger(__name__)

#: The most items one list call returns (donors, search, activity).
MAX_TAKE: Final = 500
_DONOR_PAGE: Final = 25
_ACTIVITY_PAGE: Final = 100
_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Handler = Callable[[Request, str | None], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Resolved:
    """Where a request goes: the operation's name and handler, the path's donor id (as sent),
    and the methods the path allows."""

    operation: str | None
    handler: Handler | None
    target: str | None
    allowed: tuple[str, ...]


#: The API's operations by (lower-cased path pattern, method); ``{id}`` is a donor id.
OPERATIONS: Final[dict[tuple[str, str], str]] = {
    ("/oauth/authorize", "GET"): "Authorize",
    ("/oauth/token", "POST"): "RefreshToken",
    ("/api/donor/list", "GET"): "ListDonors",
    ("/api/donor/search", "GET"): "SearchDonors",
    ("/api/donor", "POST"): "CreateDonor",
    ("/api/donor/{id}", "GET"): "GetDonor",
    ("/api/donor/{id}", "PATCH"): "UpdateDonor",
    ("/api/raise/give", "POST"): "Give",
    ("/api/activity/list", "GET"): "ListActivity",
    ("/api/integration/virtuous", "GET"): "GetVirtuousIntegration",
    ("/api/integration/virtuous", "PUT"): "UpdateVirtuousIntegration",
}


def _pattern(path: str) -> tuple[str, str | None]:
    """The route pattern of a path, and the donor id segment when it has one."""
    lowered = path.rstrip("/").lower() or "/"
    parts = lowered.split("/")
    if len(parts) == 4 and parts[1:3] == ["api", "donor"] and parts[3] not in ("list", "search"):
        return "/api/donor/{id}", path.rstrip("/").split("/")[3]
    return lowered, None


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


async def _json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body; a ProblemDetails 400 naming ``body`` otherwise."""
    raw = await request.body()
    try:
        data = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise InvalidFields({"body": [f"is not valid JSON: {exc}"]}) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise InvalidFields({"body": [f"must be a JSON object, not {kind}"]})
    return data


def _query_number(
    request: Request, name: str, *, minimum: int, maximum: int | None = None
) -> int | None:
    """A PascalCase query parameter as a whole number (``Take=25``), ``None`` when not sent; a
    lower-case ``take`` is not the same parameter and is ignored, as the real API ignores it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidFields({name: [f"The value {raw!r} is not valid."]}) from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
        raise InvalidFields({name: [f"must be {bounds}, not {value}"]})
    return value


def _query_int(
    request: Request, name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    value = _query_number(request, name, minimum=minimum, maximum=maximum)
    return default if value is None else value


def _query_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise InvalidFields({name: [f"The value {raw!r} is not valid: use true or false."]})


def _sort_by(request: Request) -> SortKey:
    raw = request.query_params.get("SortBy")
    if not raw:
        return "createdDateTime"
    for key in SORT_KEYS:
        if key.lower() == raw.lower():
            return key
    raise InvalidFields(
        {"SortBy": [f"{raw!r} is not a sort order (one of {', '.join(SORT_KEYS)})"]}
    )


def _donor_id(text: str | None, name: str = "id") -> int:
    try:
        value = int(text or "")
    except ValueError:
        raise InvalidFields(
            {name: [f"The value {text!r} is not valid: a donor id is a number."]}
        ) from None
    if value < 1:
        raise InvalidFields({name: [f"must be a positive donor id, not {value}"]})
    return value


# -- admin input -------------------------------------------------------------------------------


def _admin_error(error: DomainError) -> Response:
    body: dict[str, Any] = {"error": error.message}
    if isinstance(error, InvalidFields):
        body["errors"] = error.errors
    return json_response(body, status_code=error.status)


def _admin_endpoint(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A domain refusal on an admin route is the kit's ``{"error": ...}`` naming the field."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except DomainError as exc:
            return _admin_error(exc)

    return endpoint


@dataclass(frozen=True, slots=True)
class _PortalAction:
    """Who does an admin-route action, through which portal."""

    channel: Channel
    actor: str | None


def _portal(body: Mapping[str, Any], errors: FieldErrors) -> _PortalAction:
    raw = body.get("channel", "admin_portal")
    channel = PORTAL_CHANNELS.get(raw) if isinstance(raw, str) else None
    if channel is None:
        errors.add("channel", f"must be admin_portal or donor_portal, not {raw!r}")
        channel = "AdminPortal"
    actor = body.get("actor")
    if actor is not None and (not isinstance(actor, str) or not actor.strip()):
        errors.add("actor", "must be the name of who makes the change")
        actor = None
    return _PortalAction(channel, actor.strip() if isinstance(actor, str) else None)


def _only(body: Mapping[str, Any], allowed: tuple[str, ...], errors: FieldErrors) -> None:
    for key in body:
        if key not in allowed:
            errors.add(key, f"is not accepted here (accepted: {', '.join(allowed)})")


def _flag(body: Mapping[str, Any], name: str, errors: FieldErrors) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        errors.add(name, f"must be true or false, not {value!r}")
        return False
    return value


def _path_id(request: Request, name: str) -> int:
    raw = request.path_params[name]
    try:
        return int(raw)
    except ValueError:
        raise InvalidFields({name: [f"{raw!r} is not a number"]}) from None


# -- the simulator -----------------------------------------------------------------------------


class RaiseDonorsSimulator(Simulator):
    """Legacy RaiseDonors as the Virtuous CRM+ contact sync sees it."""

    name: ClassVar[str] = "raisedonors"

    def __init__(
        self, *, clock: Clock | None = None, seed: int = 0, journal_size: int = 10_000
    ) -> None:
        super().__init__(clock=clock, seed=seed, journal_size=journal_size)
        self.account = RaiseDonorsAccount(self.clock, seed=seed)
        # The API runs on the event loop; a test may read or seed from its own thread while the
        # simulator is served on a socket.
        self._lock = threading.RLock()
        self._routes: dict[tuple[str, str], Handler] = {
            ("/oauth/authorize", "GET"): self._authorize,
            ("/oauth/token", "POST"): self._refresh,
            ("/api/donor/list", "GET"): self._list_donors,
            ("/api/donor/search", "GET"): self._search_donors,
            ("/api/donor", "POST"): self._create_donor,
            ("/api/donor/{id}", "GET"): self._get_donor,
            ("/api/donor/{id}", "PATCH"): self._update_donor,
            ("/api/raise/give", "POST"): self._give,
            ("/api/activity/list", "GET"): self._list_activity,
            ("/api/integration/virtuous", "GET"): self._get_integration,
            ("/api/integration/virtuous", "PUT"): self._put_integration,
        }
        assert set(self._routes) == set(OPERATIONS)

    # -- routing ---------------------------------------------------------------------------------

    def _resolve(self, method: str, path: str) -> _Resolved:
        pattern, target = _pattern(path)
        method = "GET" if method == "HEAD" else method
        allowed = tuple(m for (p, m) in OPERATIONS if p == pattern)
        handler = self._routes.get((pattern, method))
        return _Resolved(OPERATIONS.get((pattern, method)), handler, target, allowed)

    def api_routes(self) -> list[BaseRoute]:
        return [Route("/{path:path}", self._dispatch, methods=_METHODS)]

    async def operation_of(self, request: Request) -> str | None:
        return self._resolve(request.method, request.url.path).operation

    async def _dispatch(self, request: Request) -> Response:
        resolved = self._resolve(request.method, request.url.path)
        try:
            if resolved.handler is None:
                if resolved.allowed:
                    raise Problem(
                        405,
                        f"{request.method} is not allowed on {request.url.path} "
                        f"(allowed: {', '.join(resolved.allowed)}).",
                        headers={"Allow": ", ".join(resolved.allowed)},
                    )
                raise Problem(404, f"There is no API route {request.url.path}.")
            return await resolved.handler(request, resolved.target)
        except Problem as problem:
            return problem_response(problem)
        except DomainError as error:
            return problem_response(Problem.of(error))
        except Exception:
            # What ASP.NET answers for its own failures; the traceback goes to the log.
            logger.exception("RaiseDonors simulator: unexpected error in %s", request.url.path)
            return problem_response(Problem(500, "An unexpected error occurred."))

    def _caller(self, request: Request) -> ApiClient:
        with self._lock:
            return self.account.auth.client_of(
                request.headers.get("authorization"), self.clock.now()
            )

    # -- auth ------------------------------------------------------------------------------------

    async def _authorize(self, request: Request, target: str | None) -> Response:
        query = request.query_params
        with self._lock:
            grant = self.account.auth.authorize(
                query.get("client_id"),
                query.get("grant_type"),
                request.headers.get("authorization"),
                self.clock.now(),
            )
        return _json(grant.to_json())

    async def _refresh(self, request: Request, target: str | None) -> Response:
        params = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            # OAuth clients often send these as a form; the SDK sends them in the query.
            for name, value in parse_qsl((await request.body()).decode("utf-8", "replace")):
                params.setdefault(name, value)
        with self._lock:
            grant = self.account.auth.refresh(
                params.get("client_id"),
                params.get("grant_type"),
                params.get("refresh_token"),
                self.clock.now(),
            )
        return _json(grant.to_json())

    # -- donors ----------------------------------------------------------------------------------

    async def _list_donors(self, request: Request, target: str | None) -> Response:
        self._caller(request)
        skip = _query_int(request, "Skip", 0, minimum=0)
        take = _query_int(request, "Take", _DONOR_PAGE, minimum=1, maximum=MAX_TAKE)
        sort_by = _sort_by(request)
        descending = _query_bool(request, "Descending", False)
        with self._lock:
            page = self.account.donors.page(skip, take, sort_by, descending)
            return _json(
                {"items": [donor_json(d) for d in page], "total": len(self.account.donors)}
            )

    async def _search_donors(self, request: Request, target: str | None) -> Response:
        self._caller(request)
        text = request.query_params.get("filter") or request.query_params.get("Filter")
        if not text or not text.strip():
            raise InvalidFields({"filter": ["is required: what to look for"]})
        skip = _query_int(request, "Skip", 0, minimum=0)
        take = _query_int(request, "Take", _DONOR_PAGE, minimum=1, maximum=MAX_TAKE)
        with self._lock:
            found = self.account.donors.search(text)
            return _json(
                {"items": [donor_json(d) for d in found[skip : skip + take]], "total": len(found)}
            )

    async def _get_donor(self, request: Request, target: str | None) -> Response:
        self._caller(request)
        donor_id = _donor_id(target)
        with self._lock:
            return _json(donor_json(self.account.donors.get(donor_id)))

    async def _update_donor(self, request: Request, target: str | None) -> Response:
        client = self._caller(request)
        donor_id = _donor_id(target)
        fields = parse_donor_fields(await _json_object(request))
        with self._lock:
            donor = self.account.edit_donor(donor_id, fields, channel="Api", actor=client.name)
            return _json(donor_json(donor))

    async def _create_donor(self, request: Request, target: str | None) -> Response:
        client = self._caller(request)
        fields = parse_donor_fields(await _json_object(request))
        with self._lock:
            donor = self.account.create_donor(fields, channel="Api", actor=client.name)
            return _json(donor_json(donor), 201, {"Location": f"/api/Donor/{donor.id}"})

    async def _give(self, request: Request, target: str | None) -> Response:
        # The giving form is public (a donor on the donation page has no API token); a token
        # that is sent must still be valid.
        if request.headers.get("authorization"):
            self._caller(request)
        form = parse_gift_form(await _json_object(request))
        with self._lock:
            receipt = self.account.give(form)
            return _json(
                {
                    "gift": gift_json(receipt.gift),
                    "donor": donor_json(receipt.donor),
                    "donorCreated": receipt.donor_created,
                },
                201,
            )

    async def _list_activity(self, request: Request, target: str | None) -> Response:
        self._caller(request)
        since_id = _query_int(request, "SinceId", 0, minimum=0)
        take = _query_int(request, "Take", _ACTIVITY_PAGE, minimum=1, maximum=MAX_TAKE)
        donor_id = _query_number(request, "DonorId", minimum=1)
        with self._lock:
            items, total = self.account.activity.since(since_id, take, donor_id)
            return _json({"items": [activity_json(item) for item in items], "total": total})

    # -- integration settings --------------------------------------------------------------------

    async def _get_integration(self, request: Request, target: str | None) -> Response:
        self._caller(request)
        with self._lock:
            return _json(self.account.integration.to_json())

    async def _put_integration(self, request: Request, target: str | None) -> Response:
        self._caller(request)
        body = await _json_object(request)
        with self._lock:
            self.account.integration.update(body, self.clock.now())
            return _json(self.account.integration.to_json())

    # -- injected faults, as ProblemDetails ------------------------------------------------------

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        if kind == "error":
            detail = (
                "An unexpected error occurred."
                if rule.status == 500
                else f"The service could not answer the request (status {rule.status}); "
                "try again later."
            )
            return problem_response(Problem(rule.status, detail))
        if kind == "rate_limit":
            wait = retry_after_header(rule.retry_after)
            return problem_response(
                Problem(
                    429,
                    f"Too many requests; retry after {wait} seconds.",
                    headers={"Retry-After": wait},
                )
            )
        if kind == "timeout":
            return problem_response(Problem(504, "The request timed out at the gateway."))
        if kind == "malformed":
            listing = operation in ("ListDonors", "SearchDonors", "ListActivity")
            record = b'{"id": 100001, "name": "Ada Lovel'
            return Response(
                b'{"items": [' + record if listing else record, media_type="application/json"
            )
        return super().fault_response(kind, rule, operation)

    # -- state -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.account.snapshot()

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            with self._lock:
                return self.account.seed_records(payload)
        except DomainError as exc:
            raise AdminInputError(exc.message) from None

    def reset(self) -> None:
        with self._lock:
            self.account.reset()

    # -- admin routes: what people do in the portals ---------------------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        def route(
            path: str, handler: Callable[[Request], Awaitable[Response]], *methods: str
        ) -> Route:
            return Route(f"/raisedonors{path}", _admin_endpoint(handler), methods=list(methods))

        return [
            route("/api-clients", self._admin_add_client, "POST"),
            route("/donors", self._admin_create_donor, "POST"),
            route("/donors/{donor_id}", self._admin_overview, "GET"),
            route("/donors/{donor_id}/edit", self._admin_edit_donor, "POST"),
            route("/donors/{donor_id}/addresses", self._admin_add_address, "POST"),
            route(
                "/donors/{donor_id}/addresses/{address_id}/make-primary",
                self._admin_primary_address,
                "POST",
            ),
            route("/donors/{donor_id}/phones", self._admin_add_phone, "POST"),
            route(
                "/donors/{donor_id}/phones/{phone_id}/make-primary",
                self._admin_primary_phone,
                "POST",
            ),
            route("/activity", self._admin_activity, "GET"),
            route("/integration/virtuous", self._admin_integration, "GET", "PUT"),
        ]

    async def _admin_add_client(self, request: Request) -> Response:
        body = await read_json(request)
        errors = FieldErrors()
        _only(body, ("key", "secret", "name"), errors)
        for name in ("key", "secret", "name"):
            if not isinstance(body.get(name), str):
                errors.add(name, "is required (text)")
        errors.raise_if_any()
        with self._lock:
            client = self.account.auth.add_client(body["key"], body["secret"], body["name"])
        return json_response({"key": client.key, "name": client.name}, status_code=201)

    async def _admin_create_donor(self, request: Request) -> Response:
        body = await read_json(request)
        errors = FieldErrors()
        _only(body, ("channel", "actor", "fields"), errors)
        portal = _portal(body, errors)
        raw = body.get("fields")
        if not isinstance(raw, dict):
            errors.add("fields", "is required: the donor's fields, as PATCH /api/Donor takes them")
        errors.raise_if_any()
        fields = parse_donor_fields(raw, prefix="fields.")
        with self._lock:
            donor = self.account.create_donor(
                fields, channel=portal.channel, actor=portal.actor, prefix="fields."
            )
        return json_response(donor_json(donor), status_code=201)

    async def _admin_overview(self, request: Request) -> Response:
        donor_id = _path_id(request, "donor_id")
        with self._lock:
            return json_response(self.account.overview(donor_id))

    async def _admin_edit_donor(self, request: Request) -> Response:
        donor_id = _path_id(request, "donor_id")
        body = await read_json(request)
        errors = FieldErrors()
        _only(body, ("channel", "actor", "fields"), errors)
        portal = _portal(body, errors)
        raw = body.get("fields")
        if not isinstance(raw, dict):
            errors.add(
                "fields", "is required: the fields to change, as PATCH /api/Donor takes them"
            )
        errors.raise_if_any()
        fields = parse_donor_fields(raw, prefix="fields.")
        with self._lock:
            donor = self.account.edit_donor(
                donor_id, fields, channel=portal.channel, actor=portal.actor, prefix="fields."
            )
        return json_response(donor_json(donor))

    async def _admin_add_address(self, request: Request) -> Response:
        donor_id = _path_id(request, "donor_id")
        body = await read_json(request)
        errors = FieldErrors()
        _only(body, ("channel", "actor", "address", "isPrimary"), errors)
        portal = _portal(body, errors)
        primary = _flag(body, "isPrimary", errors)
        problems = len(errors.errors)
        address = parse_address(errors, "address", body.get("address"))
        if address is None and len(errors.errors) == problems:
            errors.add("address", "is required")
        errors.raise_if_any()
        assert address is not None
        with self._lock:
            donor = self.account.add_address(
                donor_id, address, primary=primary, channel=portal.channel, actor=portal.actor
            )
        return json_response(donor_json(donor), status_code=201)

    async def _admin_add_phone(self, request: Request) -> Response:
        donor_id = _path_id(request, "donor_id")
        body = await read_json(request)
        errors = FieldErrors()
        _only(body, ("channel", "actor", "number", "type", "isPrimary"), errors)
        portal = _portal(body, errors)
        primary = _flag(body, "isPrimary", errors)
        problems = len(errors.errors)
        number = parse_phone(errors, "number", body.get("number"))
        if number is None and len(errors.errors) == problems:
            errors.add("number", "is required")
        phone_type = parse_phone_type(errors, "type", body.get("type"))
        errors.raise_if_any()
        assert number is not None
        with self._lock:
            donor = self.account.add_phone(
                donor_id,
                number,
                phone_type,
                primary=primary,
                channel=portal.channel,
                actor=portal.actor,
            )
        return json_response(donor_json(donor), status_code=201)

    async def _portal_only(self, request: Request) -> _PortalAction:
        raw = await request.body()
        body = await read_json(request) if raw.strip() else {}
        errors = FieldErrors()
        _only(body, ("channel", "actor"), errors)
        portal = _portal(body, errors)
        errors.raise_if_any()
        return portal

    async def _admin_primary_address(self, request: Request) -> Response:
        donor_id = _path_id(request, "donor_id")
        address_id = _path_id(request, "address_id")
        portal = await self._portal_only(request)
        with self._lock:
            donor = self.account.make_address_primary(
                donor_id, address_id, channel=portal.channel, actor=portal.actor
            )
        return json_response(donor_json(donor))

    async def _admin_primary_phone(self, request: Request) -> Response:
        donor_id = _path_id(request, "donor_id")
        phone_id = _path_id(request, "phone_id")
        portal = await self._portal_only(request)
        with self._lock:
            donor = self.account.make_phone_primary(
                donor_id, phone_id, channel=portal.channel, actor=portal.actor
            )
        return json_response(donor_json(donor))

    async def _admin_activity(self, request: Request) -> Response:
        raw = request.query_params.get("limit", "20")
        try:
            limit = int(raw)
        except ValueError:
            raise InvalidFields({"limit": [f"{raw!r} is not a number"]}) from None
        if not 1 <= limit <= MAX_TAKE:
            raise InvalidFields({"limit": [f"must be from 1 to {MAX_TAKE}, not {limit}"]})
        with self._lock:
            items = self.account.activity.newest(limit)
            return json_response({"items": [activity_json(item) for item in items]})

    async def _admin_integration(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await read_json(request)
            with self._lock:
                self.account.integration.update(body, self.clock.now())
        with self._lock:
            return json_response(self.account.integration.to_json())
