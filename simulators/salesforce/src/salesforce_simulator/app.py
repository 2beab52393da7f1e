"""The Salesforce simulator: one org's REST API (Contacts), its OAuth token endpoint, the SOAP
``login`` call, and the admin API that does what people do in Setup and the Salesforce UI.

Every request to ``/services/...`` is matched to a resource (``routing``), authenticated (a
bearer token from the token endpoint, the SOAP login or the admin API), counted against the
org's daily API request limit, and answered by :class:`~salesforce_simulator.rest.RestApi`
under one lock. Answers carry ``Sforce-Limit-Info``; refusals are Salesforce's error list.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from syncframe_simulators import (
    FaultKind,
    FaultRule,
    Simulator,
    json_response,
    read_json,
    retry_after_header,
)

from salesforce_simulator.auth import DEFAULT_SESSION_TIMEOUT, ConnectedApp, Identity, User
from salesforce_simulator.errors import SalesforceError, invalid_session, not_found
from salesforce_simulator.ids import IdMinter, normalize_id
from salesforce_simulator.limits import DEFAULT_DAILY_API_REQUESTS, ApiUsage
from salesforce_simulator.rest import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_REPLICATION_ID_LIMIT,
    JSON_TYPE,
    Call,
    RestApi,
    error_response,
    json_answer,
)
from salesforce_simulator.routing import match_path
from salesforce_simulator.schema import CONTACT, format_datetime
from salesforce_simulator.store import ContactStore
from syncframe.clock import Clock

__all__ = ["DEFAULT_API_VERSION", "SalesforceSimulator"]

logger = logging.getLogger(__name__)

#: The API version simple-salesforce 1.12 uses, and the one the admin API renders records in.
DEFAULT_API_VERSION: Final = "59.0"
_METHODS: Final = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]
_CUT_QUERY_RESULT: Final = (
    b'{"totalSize":3,"done":true,"records":[{"attributes":{"type":"Contact","url":'
    b'"/services/data/v59.0/sobjects/Contact/003Rs0001'
)


def _bearer(headers: Mapping[str, str]) -> str:
    """The token of ``Authorization: Bearer <token>`` (or the older ``OAuth <token>``)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token.strip():
        raise invalid_session()
    return token.strip()


def _unexpected() -> SalesforceError:
    return SalesforceError.one(
        500,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1931201407-8501 (-1527584478)",
    )


# -- admin input -------------------------------------------------------------------------------


class _AdminBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _UserIn(_AdminBody):
    username: str
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    name: str | None = None


class _ConnectedAppIn(_AdminBody):
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    name: str | None = None
    run_as: str | None = None


class _SessionIn(_AdminBody):
    username: str


class _AuthorizationIn(_AdminBody):
    client_id: str
    username: str


class _LimitsIn(_AdminBody):
    daily_api_requests: int | None = Field(None, ge=0)
    used: int | None = Field(None, ge=0)


class _SeedIn(_AdminBody):
    users: list[_UserIn] = []
    connected_apps: list[_ConnectedAppIn] = []
    contacts: list[dict[str, Any]] = []


class AdminNotFound(LookupError):
    """An admin route named something that does not exist: 404."""


def _described(error: SalesforceError) -> str:
    """An error list as one line naming the fields: ``LastName: Required fields are...``."""
    parts = []
    for item in error.errors:
        where = f"{', '.join(item.fields)}: " if item.fields else ""
        parts.append(f"{where}{item.message} ({item.error_code})")
    return "; ".join(parts)


def _admin_endpoint(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Salesforce refusals and unknown records become the admin API's ``{"error": ...}``;
    ``ValueError`` and validation errors are answered by the kit (400 / 422)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except AdminNotFound as missing:
            return json_response({"error": str(missing.args[0])}, 404)
        except SalesforceError as refused:
            status = 404 if refused.status == 404 else 400
            return json_response(
                {"error": _described(refused), "errors": refused.to_json()}, status
            )

    return endpoint


# -- the simulator -----------------------------------------------------------------------------


class SalesforceSimulator(Simulator):
    """One Salesforce org: Contacts over the REST API, OAuth, limits and an admin API."""

    name: ClassVar[str] = "salesforce"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        journal_size: int = 10_000,
        daily_api_requests: int = DEFAULT_DAILY_API_REQUESTS,
        max_batch_size: int = DEFAULT_BATCH_SIZE,
        session_timeout: float | timedelta = DEFAULT_SESSION_TIMEOUT,
        unique_external_id: bool = True,
        replication_id_limit: int = DEFAULT_REPLICATION_ID_LIMIT,
    ) -> None:
        """``daily_api_requests``: the org's rolling 24-hour API allocation.
        ``max_batch_size``: most records per query page (Salesforce: 2000; tests use a few to
        see ``nextRecordsUrl`` without thousands of records). ``session_timeout``: seconds (or
        a timedelta) a session lives without a call. ``unique_external_id``: whether
        ``RE_Constituent_ID__c`` is Unique (``False`` lets records share a value, and upserts on
        it answer 300). ``replication_id_limit``: most ids ``updated/``/``deleted/`` return."""
        super().__init__(clock=clock, seed=seed, journal_size=journal_size)
        timeout = (
            session_timeout
            if isinstance(session_timeout, timedelta)
            else timedelta(seconds=session_timeout)
        )
        if timeout <= timedelta(0):
            raise ValueError(f"session_timeout must be more than 0, not {session_timeout}")
        # One lock around the org: the server answers on its thread while a test seeds or
        # reads the state on its own.
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.org_id = IdMinter("00D", start=62**6 + seed).mint()
        self.org_created: datetime = self.clock.now()
        self.store = ContactStore(self.clock, unique_external_id=unique_external_id)
        self.identity = Identity(self.clock, self._rng, self.org_id, timeout)
        self.usage = ApiUsage(self.clock, daily_api_requests)
        self.api = RestApi(
            self.store,
            self.identity,
            self.usage,
            org_created=lambda: self.org_created,
            max_batch_size=max_batch_size,
            replication_id_limit=replication_id_limit,
            rng=self._rng,
        )

    # -- the imitated API --------------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        return [Route("/{path:path}", self._serve, methods=_METHODS)]

    async def operation_of(self, request: Request) -> str | None:
        match = match_path(_raw_path(request))
        return match.operation(request.method) if match is not None else None

    async def _serve(self, request: Request) -> Response:
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        pretty = headers.get("x-prettyprint") == "1"
        match = match_path(_raw_path(request))
        if match is None:
            return error_response(not_found(), pretty=pretty)
        operation = match.operation(request.method)
        if operation is None:
            allowed = match.resource.allowed
            return error_response(
                SalesforceError.one(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
                ),
                pretty=pretty,
            )
        call = Call(
            method=request.method,
            match=match,
            query=dict(request.query_params),
            headers=headers,
            body=body,
            base_url=str(request.base_url).rstrip("/"),
        )
        with self._lock:
            return self._answer(operation, call)

    def _answer(self, operation: str, call: Call) -> Response:
        try:
            if call.match.resource.versioned:
                self.store.purge()
                call.session = self.identity.authenticate(_bearer(call.headers))
                if not self.usage.try_count():
                    raise SalesforceError.one(
                        403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
                    )
            response = self.api.handler(operation)(call)
        except SalesforceError as refused:
            response = error_response(refused, pretty=call.pretty)
        except Exception:
            # What Salesforce answers for its own failures; the traceback goes to the log.
            logger.exception("Salesforce simulator: unexpected error in %s", operation)
            response = error_response(_unexpected(), pretty=call.pretty)
        if call.session is not None:
            response.headers["Sforce-Limit-Info"] = self.usage.header()
        return response

    # -- injected faults, in Salesforce's style ------------------------------------------------

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        """``error`` and the late ``timeout`` answer are Salesforce's error list (the OAuth
        endpoint's ``{"error", "error_description"}``); ``rate_limit`` is the 403
        ``REQUEST_LIMIT_EXCEEDED`` of the concurrent-request limit, with ``Retry-After``;
        ``malformed`` is a query result cut off mid-record."""
        if kind == "malformed":
            return Response(_CUT_QUERY_RESULT, media_type=JSON_TYPE)
        if kind == "rate_limit":
            error = SalesforceError.one(
                403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."
            )
            response = error_response(error)
            response.headers["Retry-After"] = retry_after_header(rule.retry_after)
            return response
        status = rule.status if kind == "error" else 504
        if operation in ("OAuthToken", "OAuthRevoke"):
            return json_answer(
                {"error": "unknown_error", "error_description": "retry your request"}, status
            )
        return error_response(_fault_error(status))

    # -- state -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self.store.purge()
            return {
                "org_id": self.org_id,
                "org_created": format_datetime(self.org_created),
                "users": [user.to_json() for user in self.identity.users.values()],
                "connected_apps": [app.to_json() for app in self.identity.apps.values()],
                "sessions": [
                    session.to_json(self.identity.session_timeout)
                    for session in self.identity.sessions.values()
                ],
                "contacts": [
                    self.store.render(record, CONTACT.fields, DEFAULT_API_VERSION)
                    for record in self.store.rows(include_deleted=True)
                ],
                "delete_log": [
                    {"id": record_id, "deletedDate": format_datetime(deleted_at)}
                    for record_id, deleted_at in self.store.delete_log.items()
                ],
                "api_usage": {
                    "daily_api_requests": self.usage.limit,
                    "used": self.usage.used,
                },
                "query_cursors": [
                    {
                        "locator": cursor.locator,
                        "user_id": cursor.user_id,
                        "rows": len(cursor.rows),
                        "batch_size": cursor.batch_size,
                    }
                    for cursor in self.api.cursors.values()
                ],
            }

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Load ``{"users": [...], "connected_apps": [...], "contacts": [...]}``; all or
        nothing. Contacts are created by the admin user and may carry ``CreatedDate`` and
        ``LastModifiedDate`` (a data load with "Set Audit Fields")."""
        seed = _SeedIn.model_validate(payload)
        with self._lock:
            added_users: list[str] = []
            added_apps: list[str] = []
            self.store.begin()
            try:
                for index, user in enumerate(seed.users):
                    added_users.append(self._add_user(user, f"users.{index}.").id)
                for index, app in enumerate(seed.connected_apps):
                    added_apps.append(self._add_app(app, f"connected_apps.{index}.").client_id)
                contact_ids = [
                    self._add_contact(contact, f"contacts.{index}: ", audit=True)
                    for index, contact in enumerate(seed.contacts)
                ]
            except Exception:
                self.store.rollback()
                for client_id in added_apps:
                    del self.identity.apps[client_id]
                for user_id in added_users:
                    self.identity.forget_user(user_id)
                raise
            self.store.commit()
        return {"users": added_users, "connected_apps": added_apps, "contacts": contact_ids}

    def reset(self) -> None:
        with self._lock:
            self.store.clear()
            self.identity.clear()
            self.usage.set_used(0)
            self.api.cursors.clear()
            self._rng.seed(self.seed)
            self.org_created = self.clock.now()

    # -- admin actions (also used by the sample generator) -----------------------------------

    def _add_user(self, body: _UserIn, where: str = "") -> User:
        try:
            return self.identity.add_user(
                body.username, body.password, security_token=body.security_token, name=body.name
            )
        except ValueError as bad:
            raise ValueError(f"{where}{bad}") from None

    def _add_app(self, body: _ConnectedAppIn, where: str = "") -> ConnectedApp:
        try:
            return self.identity.add_app(
                body.client_id, body.client_secret, name=body.name, run_as=body.run_as
            )
        except ValueError as bad:
            raise ValueError(f"{where}{bad}") from None

    def _add_contact(self, fields: dict[str, Any], where: str = "", *, audit: bool = False) -> str:
        try:
            values = CONTACT.writable_values(fields, audit_fields=audit)
            dated: dict[str, datetime] = {
                name: values.pop(name)
                for name in ("CreatedDate", "LastModifiedDate")
                if name in values
            }
            return self.store.create(values, self.identity.admin.id, audit=dated)
        except SalesforceError as refused:
            if where:
                raise ValueError(f"{where}{_described(refused)}") from None
            raise

    def add_user(
        self,
        username: str,
        password: str | None = None,
        *,
        security_token: str | None = None,
        name: str | None = None,
    ) -> User:
        """Add a user (Setup > Users); ``ValueError`` for a bad or taken username."""
        body = _UserIn(
            username=username,
            password=SecretStr(password) if password is not None else None,
            security_token=SecretStr(security_token) if security_token is not None else None,
            name=name,
        )
        with self._lock:
            return self._add_user(body)

    def add_connected_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        name: str | None = None,
        run_as: str | None = None,
    ) -> ConnectedApp:
        """Add a connected app (Setup > App Manager); ``run_as`` is the username of its client
        credentials flow."""
        body = _ConnectedAppIn(
            client_id=client_id, client_secret=SecretStr(client_secret), name=name, run_as=run_as
        )
        with self._lock:
            return self._add_app(body)

    def add_contact(self, fields: dict[str, Any]) -> str:
        """Create a Contact as the admin user in the Salesforce UI would; returns its id."""
        with self._lock:
            return self._add_contact(fields)

    def edit_contact(self, record_id: str, fields: dict[str, Any]) -> None:
        """Change a Contact as the admin user in the Salesforce UI would."""
        with self._lock:
            values = CONTACT.writable_values(fields)
            self.store.update(self._contact_id(record_id), values, self.identity.admin.id)

    def delete_contact(self, record_id: str) -> None:
        """Delete a Contact from the UI: it goes to the recycle bin."""
        with self._lock:
            self.store.delete(self._contact_id(record_id), self.identity.admin.id)

    def undelete_contact(self, record_id: str) -> None:
        """Restore a Contact from the recycle bin."""
        with self._lock:
            self.store.undelete(self._contact_id(record_id), self.identity.admin.id)

    def _contact_id(self, raw: str) -> str:
        record_id = normalize_id(raw)
        if record_id is None or record_id not in self.store.records:
            raise AdminNotFound(f"id: there is no Contact {raw!r}")
        return record_id

    # -- admin routes ------------------------------------------------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        def route(
            path: str, handler: Callable[[Request], Awaitable[Response]], method: str
        ) -> Route:
            return Route(f"/salesforce{path}", _admin_endpoint(handler), methods=[method])

        return [
            route("/users", self._admin_add_user, "POST"),
            route("/connected-apps", self._admin_add_app, "POST"),
            route("/sessions", self._admin_open_session, "POST"),
            route("/sessions", self._admin_end_sessions, "DELETE"),
            route("/authorizations", self._admin_authorize, "POST"),
            route("/contacts", self._admin_add_contact, "POST"),
            route("/contacts/{record_id}", self._admin_contact, "GET"),
            route("/contacts/{record_id}", self._admin_edit_contact, "PATCH"),
            route("/contacts/{record_id}", self._admin_delete_contact, "DELETE"),
            route("/contacts/{record_id}/undelete", self._admin_undelete_contact, "POST"),
            route("/limits", self._admin_limits, "GET"),
            route("/limits", self._admin_set_limits, "PUT"),
        ]

    async def _admin_add_user(self, request: Request) -> Response:
        body = _UserIn.model_validate(await read_json(request))
        with self._lock:
            user = self._add_user(body)
        return json_response(user.to_json(), 201)

    async def _admin_add_app(self, request: Request) -> Response:
        body = _ConnectedAppIn.model_validate(await read_json(request))
        with self._lock:
            app = self._add_app(body)
        return json_response(app.to_json(), 201)

    async def _admin_open_session(self, request: Request) -> Response:
        body = _SessionIn.model_validate(await read_json(request))
        base_url = str(request.base_url).rstrip("/")
        with self._lock:
            user = self.identity.user_named(body.username)
            if user is None:
                raise AdminNotFound(f"username: there is no user {body.username!r}")
            session = self.identity.new_session(user, None, "admin")
        return json_response(
            {
                "access_token": session.access_token,
                "instance_url": base_url,
                "id": f"{base_url}/id/{self.org_id}/{user.id}",
                "user_id": user.id,
            },
            201,
        )

    async def _admin_end_sessions(self, request: Request) -> Response:
        with self._lock:
            return json_response({"revoked": self.identity.revoke_all()})

    async def _admin_authorize(self, request: Request) -> Response:
        body = _AuthorizationIn.model_validate(await read_json(request))
        with self._lock:
            code = self.identity.authorize(body.client_id, body.username)
        return json_response({"code": code.code, "expires_at": code.expires}, 201)

    async def _admin_add_contact(self, request: Request) -> Response:
        fields = await read_json(request)
        record_id = self.add_contact(fields)
        return json_response({"id": record_id}, 201)

    async def _admin_contact(self, request: Request) -> Response:
        with self._lock:
            record = self.store.records[self._contact_id(request.path_params["record_id"])]
            return json_response(self.store.render(record, CONTACT.fields, DEFAULT_API_VERSION))

    async def _admin_edit_contact(self, request: Request) -> Response:
        fields = await read_json(request)
        self.edit_contact(request.path_params["record_id"], fields)
        return await self._admin_contact(request)

    async def _admin_delete_contact(self, request: Request) -> Response:
        self.delete_contact(request.path_params["record_id"])
        return await self._admin_contact(request)

    async def _admin_undelete_contact(self, request: Request) -> Response:
        self.undelete_contact(request.path_params["record_id"])
        return await self._admin_contact(request)

    def _limits_json(self) -> dict[str, int]:
        used = self.usage.used
        return {
            "daily_api_requests": self.usage.limit,
            "used": used,
            "remaining": max(0, self.usage.limit - used),
        }

    async def _admin_limits(self, request: Request) -> Response:
        with self._lock:
            return json_response(self._limits_json())

    async def _admin_set_limits(self, request: Request) -> Response:
        body = _LimitsIn.model_validate(await read_json(request))
        with self._lock:
            if body.daily_api_requests is not None:
                self.usage.limit = body.daily_api_requests
            if body.used is not None:
                self.usage.set_used(body.used)
            return json_response(self._limits_json())


def _raw_path(request: Request) -> str:
    raw: bytes | None = request.scope.get("raw_path")
    if raw is None:
        return request.url.path
    return raw.decode("latin-1").split("?", 1)[0]


_FAULT_ERRORS: Final = {
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    404: ("NOT_FOUND", "The requested resource does not exist"),
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1931201407-8501 (-1527584478)",
    ),
    502: ("SERVER_UNAVAILABLE", "The server is temporarily unable to service your request."),
    503: ("SERVER_UNAVAILABLE", "The server is temporarily unable to service your request."),
    504: (
        "REQUEST_RUNNING_TOO_LONG",
        "Your request was running for too long, and has been stopped.",
    ),
}


def _fault_error(status: int) -> SalesforceError:
    code, message = _FAULT_ERRORS.get(status, ("UNKNOWN_EXCEPTION", HTTPStatus(status).phrase))
    return SalesforceError.one(status, code, message)
