"""The Virtuous CRM+ simulator: the REST API, the webhooks page and the admin routes.

The imitated API answers JSON as Virtuous does (``{"message": ...}`` for errors), behind bearer
tokens (``POST /Token`` or an API key) and the organization's hourly rate limit. The admin
routes under ``/_admin/virtuous/`` are what people do in the Virtuous web app (edit a contact,
run an import, retry a webhook event) and how tests read state back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import parse_qsl

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from syncframe_simulators import FaultKind, FaultRule, Simulator, SimulatorTransport
from syncframe_simulators.admin import describe_validation_error

from syncframe.clock import Clock
from virtuous_simulator._common import EDIT_SOURCES, BadRequest, VirtuousError, dumps
from virtuous_simulator.auth import (
    DEFAULT_RATE_LIMIT_PER_HOUR,
    Auth,
    Grant,
    RateLimiter,
    User,
    UserIn,
)
from virtuous_simulator.contacts import (
    AddressIn,
    AddressValues,
    Contact,
    ContactEdit,
    ContactIn,
    ContactMethodIn,
    ContactStore,
    FieldChange,
    address_values,
    audit_json,
    contact_json,
)
from virtuous_simulator.imports import (
    ContactTransactionIn,
    GiftTransactionIn,
    Import,
    ImportTool,
    gift_json,
)
from virtuous_simulator.page import PAGE_PATH, render_webhooks_page
from virtuous_simulator.query import MAX_TAKE, PARAMETERS, SORTS, ContactQuery, QueryBody
from virtuous_simulator.webhooks import (
    AttemptOutcome,
    DeliveryReport,
    Subscription,
    WebhookHub,
    WebhookIn,
    parse_status,
)

__all__ = ["DEFAULT_USERS", "VirtuousSimulator"]

logger = logging.getLogger(__name__)

#: Who an edit is by when the admin route names nobody, per edit source (choice).
DEFAULT_USERS: Final = {
    "admin": "Administrator",
    "donor_portal": "Donor Portal",
    "api": "API",
    "ncoa": "NCOA",
    "query_update": "Query Update",
    "import": "Import",
}
#: How often a background deliverer looks for events that came due without a wake-up (a
#: moved clock brings automatic retries due).
BACKGROUND_POLL_SECONDS: Final = 0.5
_RETRY_PATH: Final = "/_admin/virtuous/webhooks/events/{event_id}/retry"
_SERVER_ERROR: Final = "An error has occurred."
_CUT_JSON: Final = b'{"list":[{"id":1001,"contactType":"Household","name":"Ann Bak'


class InvalidInput(BadRequest):
    """A body that fails validation: 400 on the API (as Virtuous), 422 on the admin API."""


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message = describe_validation_error(exc)
        if prefix:
            message = "; ".join(f"{prefix}{part}" for part in message.split("; "))
        raise InvalidInput(message) from None


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json", headers=headers)


def _message(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json({"message": message}, status, headers)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None


def _query_params(request: Request) -> dict[str, str]:
    # ASP.NET binds query parameters without regard to case.
    return {key.casefold(): value for key, value in request.query_params.items()}


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name.casefold())
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name}: {raw!r} is not a whole number") from None


# ---- admin input -----------------------------------------------------------------------------


class _AdminIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class _ApiKeyIn(_AdminIn):
    name: str = Field(min_length=1)
    key: SecretStr | None = None


class _RateLimitIn(_AdminIn):
    per_hour: int = Field(ge=1)


class _EditIn(_AdminIn):
    source: str
    user: str | None = None
    fields: dict[str, Any]


class _AddressAddIn(_AdminIn):
    source: str = "admin"
    user: str | None = None
    address: AddressIn


class _MethodAddIn(_AdminIn):
    source: str = "admin"
    user: str | None = None
    individual_id: int | None = None
    type: str
    value: str = Field(min_length=1)
    is_primary: bool = False
    is_opted_in: bool = False


class _QueryUpdateIn(_AdminIn):
    query: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, Any]
    user: str | None = None


class _RunIn(_AdminIn):
    user: str = Field(min_length=1)


class _SeedIn(_AdminIn):
    users: list[UserIn] = Field(default_factory=list)
    api_keys: list[_ApiKeyIn] = Field(default_factory=list)
    contacts: list[ContactIn] = Field(default_factory=list)
    webhooks: list[WebhookIn] = Field(default_factory=list)
    rate_limit_per_hour: int | None = Field(None, ge=1)


class _ContactMethodApiIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    contact_individual_id: int
    type: str
    value: str = Field(min_length=1)
    is_primary: bool = False
    is_opted_in: bool = False


class _ContactMethodUpdateIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    value: str | None = Field(None, min_length=1)
    is_primary: bool | None = None
    is_opted_in: bool | None = None


class _GiftBatchIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    transaction_source: str | None = None
    transactions: list[dict[str, Any]] = Field(min_length=1)


_UPDATABLE: Final = frozenset(
    ContactEdit.model_fields[name].alias or name for name in ContactEdit.model_fields
)


# ---- ASGI layers -----------------------------------------------------------------------------


class _Tick:
    """Before every request (API and admin): bundle the imports whose midnight has passed."""

    def __init__(self, app: ASGIApp, simulator: VirtuousSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.simulator.tick()
        await self.app(scope, receive, send)


class _Served:
    """The app a server runs: also keeps a background webhook deliverer on its event loop."""

    def __init__(self, app: ASGIApp, simulator: VirtuousSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.simulator.start_background_delivery()
        await self.app(scope, receive, send)


class _RateLimitHeaders:
    """Adds the organization's ``X-RateLimit-*`` headers to every answer of the API."""

    def __init__(self, app: ASGIApp, simulator: VirtuousSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.simulator.lock:
                    extra = self.simulator.rate_limit.headers()
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if not name.lower().startswith(b"x-ratelimit-")
                ]
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# ---- the simulator ---------------------------------------------------------------------------

_Handler = Callable[[Request, Grant], Awaitable[Response]]
_AdminHandler = Callable[[Request], Awaitable[Response]]


class VirtuousSimulator(Simulator):
    """Virtuous CRM+: contacts, users and tokens, the rate limit, the Gift and Contact Import
    Tool and webhooks. Registered as ``virtuous``."""

    name: ClassVar[str] = "virtuous"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        journal_size: int = 10_000,
        rate_limit_per_hour: int = DEFAULT_RATE_LIMIT_PER_HOUR,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        webhook_concurrency: int = 4,
        webhook_timeout: float = 10.0,
        organization: str = "Syncframe Demo Organization",
    ) -> None:
        super().__init__(clock=clock, seed=seed, journal_size=journal_size)
        #: One lock around the whole organization: a served simulator is read from test
        #: threads, and webhook deliveries release it while on the wire.
        self.lock = threading.RLock()
        self.organization = organization
        self.rng = random.Random(seed)
        self.contacts = ContactStore(self.clock)
        self.queries = ContactQuery(self.contacts)
        self.auth = Auth(self.clock, self.rng)
        self._default_rate_limit = rate_limit_per_hour
        self.rate_limit = RateLimiter(self.clock, rate_limit_per_hour)
        self.imports = ImportTool(self.contacts)
        self.webhooks = WebhookHub(
            self.clock, self.lock, concurrency=webhook_concurrency, timeout=webhook_timeout
        )
        self.contacts.listeners.append(self.webhooks.on_contact_event)
        self.imports.listeners.append(self.webhooks.on_gift_event)
        self.webhooks.on_due = self._wake_deliverer
        #: Where webhook deliveries go: an httpx transport (an ``httpx.ASGITransport`` of a
        #: receiver in tests), or None for the real network.
        self.webhook_transport: httpx.AsyncBaseTransport | None = webhook_transport
        self._routes: list[Route] | None = None
        self._ticking: ASGIApp | None = None
        self._served: ASGIApp | None = None
        self._deliverer: tuple[asyncio.AbstractEventLoop, asyncio.Task[None]] | None = None
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._wake_pending = False

    # -- apps and transports -------------------------------------------------------------------

    def _ticking_app(self) -> ASGIApp:
        if self._ticking is None:
            self._ticking = _Tick(super().app, self)
        return self._ticking

    @property
    def app(self) -> ASGIApp:
        """The app a server runs (``serve_in_thread``, ``syncframe simulate``): with the first
        request it receives, a background task on the server's loop starts delivering webhooks."""
        if self._served is None:
            self._served = _Served(self._ticking_app(), self)
        return self._served

    def transport(self) -> SimulatorTransport:
        """In-process transport (no background deliverer: call :meth:`deliver_webhooks`)."""
        return SimulatorTransport(self._ticking_app())

    def api_app(self) -> ASGIApp:
        async def not_found(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if exc.status_code == 405:
                return _message(
                    405, f"The requested resource does not support http method '{request.method}'."
                )
            if exc.status_code == 404:
                return _message(
                    404, f"No HTTP resource was found that matches the request URI '{request.url}'."
                )
            return _message(exc.status_code, str(exc.detail))

        app = Starlette(routes=self.api_routes(), exception_handlers={HTTPException: not_found})
        return _RateLimitHeaders(app, self)

    # -- clock-driven work ---------------------------------------------------------------------

    def tick(self) -> list[Import]:
        """Bundle held transactions whose midnight has passed (called before every request;
        call it yourself after moving the clock when you use the Python API directly)."""
        with self.lock:
            return self.imports.bundle_due()

    async def deliver_webhooks(self) -> DeliveryReport:
        """Send every webhook event due now through :attr:`webhook_transport`."""
        self.tick()
        return await self.webhooks.deliver(self.webhook_transport)

    async def retry_webhook_event(self, event_id: str) -> AttemptOutcome:
        """Send a failed event again now (same event id and body), as the Retry button does."""
        return await self.webhooks.retry(event_id, self.webhook_transport)

    def start_background_delivery(self) -> None:
        """Keep a task delivering webhooks on the running event loop (started by the served
        app with its first request; stops with the loop)."""
        loop = asyncio.get_running_loop()
        current = self._deliverer
        if current is not None and current[0] is loop and not current[1].done():
            return
        event = asyncio.Event()
        self._wake = (loop, event)
        self._wake_pending = False
        task = loop.create_task(self._deliver_in_background(event), name="virtuous webhooks")
        self._deliverer = (loop, task)

    async def _deliver_in_background(self, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            try:
                due = self.webhooks.next_due_at()
                if due is not None and due <= self.clock.now().timestamp():
                    await self.deliver_webhooks()
            except Exception:  # one bad round must not end delivery for good
                logger.exception("Virtuous simulator: webhook delivery failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), BACKGROUND_POLL_SECONDS)

    def _wake_deliverer(self) -> None:
        wake = self._wake
        if wake is None or self._wake_pending:
            return
        loop, event = wake
        self._wake_pending = True

        def set_event() -> None:
            self._wake_pending = False
            event.set()

        try:
            loop.call_soon_threadsafe(set_event)
        except RuntimeError:  # the server's loop has ended
            self._wake = None
            self._wake_pending = False

    # -- Python API (what the admin routes call) ------------------------------------------------

    def actor(self, user: str | None, source: str) -> str:
        """The name the audit log shows: a user's display name when ``user`` is a username,
        ``user`` itself otherwise, or the source's default (:data:`DEFAULT_USERS`)."""
        if source not in EDIT_SOURCES:
            raise BadRequest(
                f"source: {source!r} is not an edit source ({', '.join(EDIT_SOURCES)})"
            )
        if user is None or not user.strip():
            return DEFAULT_USERS[source]
        known = self.auth.user(user.strip())
        return known.name if known is not None else user.strip()

    def add_user(
        self,
        username: str,
        password: str,
        *,
        name: str | None = None,
        two_factor_enabled: bool = False,
        sso: bool = False,
    ) -> User:
        spec = UserIn(
            username=username,
            password=SecretStr(password),
            name=name,
            two_factor_enabled=two_factor_enabled,
            sso=sso,
        )
        with self.lock:
            return self.auth.add_user(spec)

    def add_api_key(self, name: str, key: str | None = None) -> str:
        with self.lock:
            return self.auth.add_api_key(name, key)

    def set_rate_limit(self, per_hour: int) -> None:
        with self.lock:
            self.rate_limit.set_limit(per_hour)

    def create_contact(
        self, data: Mapping[str, Any], *, source: str = "admin", user: str | None = None
    ) -> Contact:
        """A contact from its JSON (``POST /api/Contact``'s body) made through ``source``."""
        spec = _validate(ContactIn, dict(data))
        with self.lock:
            return self.contacts.create(spec, source=source, user=self.actor(user, source))

    def edit_contact(
        self,
        contact_id: int,
        fields: Mapping[str, Any],
        *,
        source: str,
        user: str | None = None,
    ) -> list[FieldChange]:
        """Edit a contact as a person or process does (see :class:`ContactEdit`)."""
        edit = _validate(ContactEdit, dict(fields), "fields.")
        with self.lock:
            return self.contacts.edit(
                contact_id, edit, source=source, user=self.actor(user, source)
            )

    def ncoa(
        self,
        updates: Iterable[tuple[int, AddressIn | Mapping[str, Any]]],
        *,
        user: str | None = None,
    ) -> dict[str, Any]:
        """Apply NCOA moves (contact id, new address); each moved contact fires ContactUpdate
        with source ``ncoa``. Every update is checked before any lands; unknown contact ids
        are reported, not fatal (an NCOA file may name contacts merged away since)."""
        actor = self.actor(user, "ncoa")
        checked: list[tuple[int, AddressValues]] = []
        for n, (contact_id, address) in enumerate(updates):
            if isinstance(contact_id, bool) or not isinstance(contact_id, int):
                raise InvalidInput(f"updates.{n}.contactId: {contact_id!r} is not a contact id")
            values = (
                address.values()
                if isinstance(address, AddressIn)
                else address_values(address, f"updates.{n}.address")
            )
            checked.append((contact_id, values))
        moved = unchanged = 0
        not_found: list[int] = []
        with self.lock:
            for contact_id, values in checked:
                if contact_id not in self.contacts.contacts:
                    not_found.append(contact_id)
                    continue
                if self.contacts.move(contact_id, values, source="ncoa", user=actor):
                    moved += 1
                else:
                    unchanged += 1
        return {"updated": moved, "unchanged": unchanged, "notFound": not_found}

    def query_update(
        self, query: Mapping[str, Any], fields: Mapping[str, Any], *, user: str | None = None
    ) -> dict[str, Any]:
        """A Query Update: ``fields`` set on every contact the query matches."""
        body = _validate(QueryBody, dict(query), "query.")
        edit = _validate(ContactEdit, dict(fields), "fields.")
        actor = self.actor(user, "query_update")
        with self.lock:
            ids = list(self.queries.matching_ids(body))
            updated = 0
            for contact_id in ids:
                if self.contacts.edit(contact_id, edit, source="query_update", user=actor):
                    updated += 1
        return {"matched": len(ids), "updated": updated}

    def run_import(self, import_id: int, user: str) -> Import:
        """Run a bundled import as ``user`` (a username or a person's name)."""
        with self.lock:
            self.imports.bundle_due()
            return self.imports.run(import_id, self.actor(user, "import"))

    def subscribe_webhook(
        self, url: str, events: Iterable[str], *, secret: str | None = None
    ) -> Subscription:
        spec = _validate(WebhookIn, {"url": url, "events": list(events), "secret": secret})
        with self.lock:
            return self.webhooks.subscribe(spec, secret=self._new_secret())

    def _new_secret(self) -> str:
        return "".join(self.rng.choice("abcdefghijkmnopqrstuvwxyz23456789") for _ in range(32))

    # -- the imitated API ----------------------------------------------------------------------

    def _route_table(self) -> list[Route]:
        if self._routes is None:
            api = self._api
            self._routes = [
                Route("/Token", self._open(self._token), methods=["POST"], name="Token"),
                Route("/api/Contact/Find", api(self._find), methods=["GET"], name="FindContact"),
                Route(
                    "/api/Contact/Query", api(self._query), methods=["POST"], name="QueryContacts"
                ),
                Route(
                    "/api/Contact/QueryOptions",
                    api(self._query_options),
                    methods=["GET"],
                    name="QueryOptions",
                ),
                Route(
                    "/api/Contact/Transaction",
                    api(self._contact_transaction),
                    methods=["POST"],
                    name="CreateContactTransaction",
                ),
                Route(
                    "/api/Contact/{contact_id:int}",
                    api(self._get_contact),
                    methods=["GET"],
                    name="GetContact",
                ),
                Route(
                    "/api/Contact/{contact_id:int}",
                    api(self._update_contact),
                    methods=["PUT"],
                    name="UpdateContact",
                ),
                Route(
                    "/api/Contact",
                    api(self._create_contact),
                    methods=["POST"],
                    name="CreateContact",
                ),
                Route(
                    "/api/Contact/{reference_source}/{reference_id}",
                    api(self._by_reference),
                    methods=["GET"],
                    name="GetContactByReference",
                ),
                Route(
                    "/api/ContactIndividual/{individual_id:int}",
                    api(self._get_individual),
                    methods=["GET"],
                    name="GetContactIndividual",
                ),
                Route(
                    "/api/ContactIndividual/{individual_id:int}",
                    api(self._update_individual),
                    methods=["PUT"],
                    name="UpdateContactIndividual",
                ),
                Route(
                    "/api/ContactMethod",
                    api(self._create_method),
                    methods=["POST"],
                    name="CreateContactMethod",
                ),
                Route(
                    "/api/ContactMethod/{method_id:int}",
                    api(self._update_method),
                    methods=["PUT"],
                    name="UpdateContactMethod",
                ),
                Route(
                    "/api/v2/Gift/Transaction",
                    api(self._gift_transaction),
                    methods=["POST"],
                    name="CreateGiftTransaction",
                ),
                Route(
                    "/api/v2/Gift/Transactions",
                    api(self._gift_transactions),
                    methods=["POST"],
                    name="CreateGiftTransactions",
                ),
                Route(
                    "/api/Gift/ByContact/{contact_id:int}",
                    api(self._gifts_by_contact),
                    methods=["GET"],
                    name="GetGiftsByContact",
                ),
                Route(
                    "/api/Gift/{gift_id:int}", api(self._get_gift), methods=["GET"], name="GetGift"
                ),
                Route(
                    "/api/Webhook",
                    api(self._create_webhook),
                    methods=["POST"],
                    name="CreateWebhook",
                ),
                Route(
                    "/api/Webhook", api(self._list_webhooks), methods=["GET"], name="ListWebhooks"
                ),
                Route(
                    "/api/Webhook/{webhook_id:int}",
                    api(self._delete_webhook),
                    methods=["DELETE"],
                    name="DeleteWebhook",
                ),
                Route(
                    PAGE_PATH, self._open(self._page), methods=["GET"], name="WebhookSettingsPage"
                ),
            ]
        return self._routes

    def api_routes(self) -> list[BaseRoute]:
        return list(self._route_table())

    async def operation_of(self, request: Request) -> str | None:
        for route in self._route_table():
            match, _ = route.matches(request.scope)
            if match == Match.FULL:
                return route.name
        return None

    def _guarded(self, call: Callable[[Request], Awaitable[Response]]) -> _AdminHandler:
        async def endpoint(request: Request) -> Response:
            try:
                return await call(request)
            except ValidationError as exc:
                return _message(400, describe_validation_error(exc))
            except VirtuousError as exc:
                return _message(exc.status, exc.message)
            except Exception:
                # What the real API answers for its own failures; the traceback goes to the log.
                logger.exception("Virtuous simulator: unexpected error in %s", request.url.path)
                return _message(500, _SERVER_ERROR)

        return endpoint

    def _open(self, handler: _AdminHandler) -> _AdminHandler:
        """An endpoint without a bearer token (``/Token``, the web page)."""
        return self._guarded(handler)

    def _api(self, handler: _Handler) -> _AdminHandler:
        """An endpoint behind a bearer token and the rate limit."""

        async def call(request: Request) -> Response:
            with self.lock:
                grant = self.auth.authorize(request.headers.get("authorization"))
                retry_after = self.rate_limit.take()
            if retry_after is not None:
                return _message(
                    429,
                    f"API rate limit exceeded: {self.rate_limit.per_hour} requests per hour. "
                    f"Try again in {retry_after} seconds.",
                    {"Retry-After": str(retry_after)},
                )
            return await handler(request, grant)

        return self._guarded(call)

    # -- auth ----------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        with self.lock:
            status, body = self.auth.token(form)
        return _json(body, status)

    # -- contacts ------------------------------------------------------------------------------

    async def _get_contact(self, request: Request, grant: Grant) -> Response:
        with self.lock:
            return _json(contact_json(self.contacts.get(request.path_params["contact_id"])))

    async def _find(self, request: Request, grant: Grant) -> Response:
        params = _query_params(request)
        source = params.get("referencesource")
        reference = params.get("referenceid")
        email = params.get("email")
        with self.lock:
            if source and reference:
                found = self.contacts.find_by_reference(source, reference)
            elif email:
                by_email = self.contacts.find_by_email(email)
                found = by_email[0] if by_email else None
            else:
                raise BadRequest("Give an email, or a referenceSource and a referenceId.")
            if found is None:
                raise VirtuousError("Contact not found.", 404)
            return _json(contact_json(found))

    async def _by_reference(self, request: Request, grant: Grant) -> Response:
        source = request.path_params["reference_source"]
        reference = request.path_params["reference_id"]
        with self.lock:
            found = self.contacts.find_by_reference(source, reference)
            if found is None:
                raise VirtuousError(
                    f"No contact has the reference {reference!r} from {source!r}.", 404
                )
            return _json(contact_json(found))

    async def _create_contact(self, request: Request, grant: Grant) -> Response:
        spec = _validate(ContactIn, await _body(request) or {})
        with self.lock:
            contact = self.contacts.create(spec, source="api", user=grant.actor)
            return _json(contact_json(contact))

    async def _update_contact(self, request: Request, grant: Grant) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a contact object.")
        # A client may PUT back a whole contact: only the updatable fields count.
        edit = _validate(ContactEdit, {k: v for k, v in body.items() if k in _UPDATABLE})
        contact_id = request.path_params["contact_id"]
        with self.lock:
            self.contacts.edit(contact_id, edit, source="api", user=grant.actor)
            return _json(contact_json(self.contacts.get(contact_id)))

    async def _get_individual(self, request: Request, grant: Grant) -> Response:
        with self.lock:
            contact, individual = self.contacts.individual(request.path_params["individual_id"])
            data = contact_json(contact)
            return _json(next(i for i in data["contactIndividuals"] if i["id"] == individual.id))

    async def _update_individual(self, request: Request, grant: Grant) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be an individual object.")
        names = {k: v for k, v in body.items() if k in ("firstName", "lastName")}
        edit = _validate(ContactEdit, names)
        individual_id = request.path_params["individual_id"]
        with self.lock:
            self.contacts.update_individual(individual_id, edit, source="api", user=grant.actor)
        return await self._get_individual(request, grant)

    async def _create_method(self, request: Request, grant: Grant) -> Response:
        spec = _validate(_ContactMethodApiIn, await _body(request) or {})
        with self.lock:
            contact, _ = self.contacts.individual(spec.contact_individual_id)
            method, _ = self.contacts.add_method(
                contact.id,
                spec.contact_individual_id,
                ContactMethodIn(
                    type=spec.type,
                    value=spec.value,
                    is_primary=spec.is_primary,
                    is_opted_in=spec.is_opted_in,
                ),
                source="api",
                user=grant.actor,
            )
            return _json(_method_json(method.id, self.contacts))

    async def _update_method(self, request: Request, grant: Grant) -> Response:
        spec = _validate(_ContactMethodUpdateIn, await _body(request) or {})
        method_id = request.path_params["method_id"]
        with self.lock:
            self.contacts.update_method(
                method_id,
                value=spec.value,
                is_primary=spec.is_primary,
                is_opted_in=spec.is_opted_in,
                source="api",
                user=grant.actor,
            )
            return _json(_method_json(method_id, self.contacts))

    async def _query(self, request: Request, grant: Grant) -> Response:
        params = _query_params(request)
        skip = _int_param(params, "skip", 0)
        take = _int_param(params, "take", 10)
        if skip < 0:
            raise BadRequest(f"skip: must be 0 or more, not {skip}")
        if not 1 <= take <= MAX_TAKE:
            raise BadRequest(f"take: must be between 1 and {MAX_TAKE}, not {take}")
        body = _validate(QueryBody, await _body(request) or {})
        with self.lock:
            contacts, total = self.queries.page(body, skip, take)
            return _json({"list": [contact_json(c) for c in contacts], "total": total})

    async def _query_options(self, request: Request, grant: Grant) -> Response:
        return _json(
            {
                "parameters": [
                    {"parameter": name, "operators": list(operators)}
                    for name, operators in PARAMETERS.items()
                ],
                "sortBy": list(SORTS),
                "maxTake": MAX_TAKE,
            }
        )

    # -- the import tool -----------------------------------------------------------------------

    async def _contact_transaction(self, request: Request, grant: Grant) -> Response:
        spec = _validate(ContactTransactionIn, await _body(request) or {})
        with self.lock:
            held = self.imports.hold_contact(spec)
        return _json(_queued(held.source))

    async def _gift_transaction(self, request: Request, grant: Grant) -> Response:
        spec = _validate(GiftTransactionIn, await _body(request) or {})
        with self.lock:
            held = self.imports.hold_gift(spec)
        return _json(_queued(held.source))

    async def _gift_transactions(self, request: Request, grant: Grant) -> Response:
        batch = _validate(_GiftBatchIn, await _body(request) or {})
        specs: list[GiftTransactionIn] = []
        for n, data in enumerate(batch.transactions):
            if batch.transaction_source and not data.get("transactionSource"):
                data = {**data, "transactionSource": batch.transaction_source}
            specs.append(_validate(GiftTransactionIn, data, f"transactions.{n}."))
        with self.lock:
            # All checked before any is held: a bad transaction holds none of the batch.
            for n, spec in enumerate(specs):
                try:
                    _check_gift(spec)
                except BadRequest as exc:
                    raise BadRequest(f"transactions.{n}.{exc.message}") from None
            for spec in specs:
                self.imports.hold_gift(spec)
        return _json({**_queued(specs[0].transaction_source or ""), "count": len(specs)})

    async def _gifts_by_contact(self, request: Request, grant: Grant) -> Response:
        params = _query_params(request)
        skip = max(0, _int_param(params, "skip", 0))
        take = _int_param(params, "take", 10)
        if not 1 <= take <= MAX_TAKE:
            raise BadRequest(f"take: must be between 1 and {MAX_TAKE}, not {take}")
        with self.lock:
            contact = self.contacts.get(request.path_params["contact_id"])
            gifts = sorted(
                self.imports.gifts_of(contact.id),
                key=lambda g: (g.gift_date, g.id),
                reverse=params.get("descending", "").casefold() == "true",
            )
            return _json(
                {"list": [gift_json(g) for g in gifts[skip : skip + take]], "total": len(gifts)}
            )

    async def _get_gift(self, request: Request, grant: Grant) -> Response:
        gift_id = request.path_params["gift_id"]
        with self.lock:
            gift = self.imports.gifts.get(gift_id)
            if gift is None:
                raise VirtuousError(f"Gift {gift_id} was not found.", 404)
            return _json(gift_json(gift))

    # -- webhooks ------------------------------------------------------------------------------

    async def _create_webhook(self, request: Request, grant: Grant) -> Response:
        spec = _validate(WebhookIn, await _body(request) or {})
        with self.lock:
            subscription = self.webhooks.subscribe(spec, secret=self._new_secret())
            return _json(subscription.json(with_secret=True))

    async def _list_webhooks(self, request: Request, grant: Grant) -> Response:
        with self.lock:
            return _json([s.json() for s in self.webhooks.subscriptions.values()])

    async def _delete_webhook(self, request: Request, grant: Grant) -> Response:
        webhook_id = request.path_params["webhook_id"]
        with self.lock:
            self.webhooks.unsubscribe(webhook_id)
        return _json({"id": webhook_id, "deleted": True})

    async def _page(self, request: Request) -> Response:
        tab = request.query_params.get("tab", "all")
        if tab not in ("all", "failures"):
            raise BadRequest(f"tab: {tab!r} is not all or failures")
        page = _int_param(_query_params(request), "page", 1)
        if page < 1:
            raise BadRequest(f"page: must be 1 or more, not {page}")
        with self.lock:
            html = render_webhooks_page(
                self.webhooks,
                "failures" if tab == "failures" else "all",
                page,
                _RETRY_PATH,
            )
        return HTMLResponse(html)

    # -- faults in Virtuous's words ------------------------------------------------------------

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        if kind == "error":
            return _message(rule.status, _fault_text(rule.status))
        if kind == "rate_limit":
            return _message(
                429,
                "API rate limit exceeded.",
                {"Retry-After": str(max(1, round(rule.retry_after)))}
                if rule.retry_after >= 1
                else {"Retry-After": f"{rule.retry_after:g}"},
            )
        if kind == "malformed":
            return Response(_CUT_JSON, status_code=200, media_type="application/json")
        if kind == "timeout":
            return _message(504, "The gateway did not receive a timely answer.")
        return super().fault_response(kind, rule, operation)

    # -- state ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            self.imports.bundle_due()
            return {
                "organization": self.organization,
                **self.auth.snapshot(),
                "rateLimit": self.rate_limit.state(),
                "contacts": [contact_json(c) for c in self.contacts.contacts.values()],
                "audit": {
                    str(c.id): [audit_json(entry) for entry in c.audit]
                    for c in self.contacts.contacts.values()
                },
                **self.imports.snapshot(),
                **self.webhooks.snapshot(),
            }

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"users": [...], "apiKeys": [{"name", "key"?}], "contacts": [contact JSON, may
        give "id" and the times], "webhooks": [{"url", "events", "secret"?}],
        "rateLimitPerHour": n}``. Seeding is set-up: it fires no webhook."""
        seed = _SeedIn.model_validate(payload)  # the kit answers a ValidationError with 422
        contacts = seed.contacts
        made: dict[str, Any] = {"users": [], "apiKeys": [], "contacts": [], "webhooks": []}
        with self.lock:
            # Duplicates are checked before anything is added.
            names = [u.username.casefold() for u in seed.users]
            for n, user in enumerate(seed.users):
                if names[n] in self.auth.users or names.index(names[n]) != n:
                    raise BadRequest(f"users.{n}.username: a user {user.username!r} already exists")
            keys = [k.key.get_secret_value() for k in seed.api_keys if k.key is not None]
            for n, key in enumerate(seed.api_keys):
                given = key.key.get_secret_value() if key.key is not None else None
                if given is not None and (given in self.auth.api_keys or keys.count(given) > 1):
                    raise BadRequest(f"apiKeys.{n}.key: this API key is already in use")
            seen_ids: set[int] = set()
            for n, contact in enumerate(contacts):
                if contact.id is not None:
                    if contact.id in seen_ids:
                        raise BadRequest(f"contacts.{n}.id: contact {contact.id} is given twice")
                    seen_ids.add(contact.id)
                try:
                    self.contacts.check(contact)
                except BadRequest as exc:
                    raise BadRequest(f"contacts.{n}.{exc.message}") from None
            for user in seed.users:
                made["users"].append(self.auth.add_user(user).username)
            for key in seed.api_keys:
                given = key.key.get_secret_value() if key.key is not None else None
                made["apiKeys"].append(
                    {"name": key.name, "key": self.auth.add_api_key(key.name, given)}
                )
            for contact in contacts:
                created = self.contacts.create(contact, source="admin", user="Seed", notify=False)
                made["contacts"].append(created.id)
            for hook in seed.webhooks:
                subscription = self.webhooks.subscribe(hook, secret=self._new_secret())
                made["webhooks"].append(subscription.json(with_secret=True))
            if seed.rate_limit_per_hour is not None:
                self.rate_limit.set_limit(seed.rate_limit_per_hour)
        return made

    def reset(self) -> None:
        with self.lock:
            self.contacts.clear()
            self.queries.clear()
            self.auth.clear()
            self.imports.clear()
            self.webhooks.clear()
            self.rate_limit = RateLimiter(self.clock, self._default_rate_limit)
            self.rng = random.Random(self.seed)
            self.auth.rng = self.rng

    # -- admin routes --------------------------------------------------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        def route(path: str, handler: _AdminHandler, method: str) -> Route:
            return Route(f"/virtuous{path}", self._admin(handler), methods=[method])

        return [
            route("/users", self._admin_add_user, "POST"),
            route("/users/{username}/otp", self._admin_otp, "GET"),
            route("/api-keys", self._admin_add_api_key, "POST"),
            route("/rate-limit", self._admin_rate_limit, "GET"),
            route("/rate-limit", self._admin_rate_limit, "PUT"),
            route("/contacts", self._admin_create_contact, "POST"),
            route("/contacts/{contact_id:int}", self._admin_contact, "GET"),
            route("/contacts/{contact_id:int}/audit", self._admin_audit, "GET"),
            route("/contacts/{contact_id:int}/edit", self._admin_edit, "POST"),
            route("/contacts/{contact_id:int}/addresses", self._admin_add_address, "POST"),
            route("/contacts/{contact_id:int}/contact-methods", self._admin_add_method, "POST"),
            route("/ncoa", self._admin_ncoa, "POST"),
            route("/query-update", self._admin_query_update, "POST"),
            route("/holding", self._admin_holding, "GET"),
            route("/imports", self._admin_imports, "GET"),
            route("/imports/{import_id:int}", self._admin_import, "GET"),
            route("/imports/{import_id:int}/run", self._admin_run_import, "POST"),
            route("/webhooks", self._admin_webhooks, "GET"),
            route("/webhooks/deliver", self._admin_deliver, "POST"),
            route("/webhooks/events", self._admin_events, "GET"),
            route("/webhooks/events/{event_id}", self._admin_event, "GET"),
            route("/webhooks/events/{event_id}/retry", self._admin_retry, "POST"),
        ]

    def _admin(self, handler: _AdminHandler) -> _AdminHandler:
        """Admin answers: ``{"error": ...}`` naming the field, never a traceback."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except InvalidInput as exc:
                return _json({"error": exc.message}, 422)
            except ValidationError as exc:
                return _json({"error": describe_validation_error(exc)}, 422)
            except VirtuousError as exc:
                return _json({"error": exc.message}, exc.status)
            except ValueError as exc:  # AdminInputError: a body that is not JSON
                return _json({"error": str(exc)}, 400)

        return endpoint

    async def _admin_body(self, request: Request) -> dict[str, Any]:
        body = await _body(request)
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    async def _admin_add_user(self, request: Request) -> Response:
        spec = _validate(UserIn, await self._admin_body(request))
        with self.lock:
            return _json(self.auth.add_user(spec).json(), 201)

    async def _admin_otp(self, request: Request) -> Response:
        username = request.path_params["username"]
        with self.lock:
            return _json({"username": username, "otp": self.auth.current_otp(username)})

    async def _admin_add_api_key(self, request: Request) -> Response:
        spec = _validate(_ApiKeyIn, await self._admin_body(request))
        given = spec.key.get_secret_value() if spec.key is not None else None
        key = self.add_api_key(spec.name, given)
        return _json({"name": spec.name, "key": key}, 201)

    async def _admin_rate_limit(self, request: Request) -> Response:
        if request.method == "PUT":
            spec = _validate(_RateLimitIn, await self._admin_body(request))
            self.set_rate_limit(spec.per_hour)
        with self.lock:
            return _json(self.rate_limit.state())

    async def _admin_create_contact(self, request: Request) -> Response:
        body = await self._admin_body(request)
        source = str(body.pop("source", "admin"))
        user = body.pop("user", None)
        contact = self.create_contact(body, source=source, user=user)
        with self.lock:
            return _json(contact_json(contact), 201)

    async def _admin_contact(self, request: Request) -> Response:
        with self.lock:
            return _json(contact_json(self.contacts.get(request.path_params["contact_id"])))

    async def _admin_audit(self, request: Request) -> Response:
        contact_id = request.path_params["contact_id"]
        with self.lock:
            contact = self.contacts.get(contact_id)
            return _json(
                {"contactId": contact.id, "entries": [audit_json(e) for e in contact.audit]}
            )

    async def _admin_edit(self, request: Request) -> Response:
        spec = _validate(_EditIn, await self._admin_body(request))
        contact_id = request.path_params["contact_id"]
        changes = self.edit_contact(contact_id, spec.fields, source=spec.source, user=spec.user)
        with self.lock:
            return _json(
                {
                    "changes": [c._asdict() for c in changes],
                    "contact": contact_json(self.contacts.get(contact_id)),
                }
            )

    async def _admin_add_address(self, request: Request) -> Response:
        spec = _validate(_AddressAddIn, await self._admin_body(request))
        contact_id = request.path_params["contact_id"]
        with self.lock:
            actor = self.actor(spec.user, spec.source)
            changes = self.contacts.add_address(
                contact_id, spec.address, source=spec.source, user=actor
            )
            return _json(
                {
                    "changes": [c._asdict() for c in changes],
                    "contact": contact_json(self.contacts.get(contact_id)),
                },
                201,
            )

    async def _admin_add_method(self, request: Request) -> Response:
        spec = _validate(_MethodAddIn, await self._admin_body(request))
        contact_id = request.path_params["contact_id"]
        with self.lock:
            actor = self.actor(spec.user, spec.source)
            _, changes = self.contacts.add_method(
                contact_id,
                spec.individual_id,
                ContactMethodIn(
                    type=spec.type,
                    value=spec.value,
                    is_primary=spec.is_primary,
                    is_opted_in=spec.is_opted_in,
                ),
                source=spec.source,
                user=actor,
            )
            return _json(
                {
                    "changes": [c._asdict() for c in changes],
                    "contact": contact_json(self.contacts.get(contact_id)),
                },
                201,
            )

    async def _admin_ncoa(self, request: Request) -> Response:
        # Checked by hand, not by pydantic: a file of 100,000 moves must be quick.
        body = await self._admin_body(request)
        unknown = sorted(set(body) - {"updates", "user"})
        if unknown:
            raise InvalidInput(f"{unknown[0]}: not a field of an NCOA run (updates, user)")
        updates = body.get("updates")
        user = body.get("user")
        if not isinstance(updates, list):
            raise InvalidInput("updates: give a list of {contactId, address}")
        if user is not None and not isinstance(user, str):
            raise InvalidInput("user: must be text")
        pairs: list[tuple[Any, Any]] = []
        for n, update in enumerate(updates):
            if not isinstance(update, dict):
                raise InvalidInput(f"updates.{n}: must be an object with contactId and address")
            pairs.append((update.get("contactId"), update.get("address")))
        return _json(self.ncoa(pairs, user=user))

    async def _admin_query_update(self, request: Request) -> Response:
        spec = _validate(_QueryUpdateIn, await self._admin_body(request))
        return _json(self.query_update(spec.query, spec.fields, user=spec.user))

    async def _admin_holding(self, request: Request) -> Response:
        with self.lock:
            return _json({"holding": [held.json() for held in self.imports.held]})

    async def _admin_imports(self, request: Request) -> Response:
        rows = request.query_params.get("rows", "true").casefold() != "false"
        with self.lock:
            return _json(
                {
                    "imports": [
                        self.imports.import_json(imp, rows=rows)
                        for imp in self.imports.imports.values()
                    ]
                }
            )

    async def _admin_import(self, request: Request) -> Response:
        with self.lock:
            imp = self.imports.get(request.path_params["import_id"])
            return _json(self.imports.import_json(imp))

    async def _admin_run_import(self, request: Request) -> Response:
        spec = _validate(_RunIn, await self._admin_body(request))
        imp = self.run_import(request.path_params["import_id"], spec.user)
        with self.lock:
            return _json(self.imports.import_json(imp))

    async def _admin_webhooks(self, request: Request) -> Response:
        with self.lock:
            return _json(
                {
                    "webhooks": [
                        s.json(with_secret=True) for s in self.webhooks.subscriptions.values()
                    ]
                }
            )

    async def _admin_deliver(self, request: Request) -> Response:
        report = await self.deliver_webhooks()
        return _json(report.json())

    async def _admin_events(self, request: Request) -> Response:
        params = _query_params(request)
        status = parse_status(params.get("status"))
        offset = _int_param(params, "offset", 0)
        limit = _int_param(params, "limit", 1000)
        if offset < 0 or limit < 0:
            raise BadRequest("offset and limit must be 0 or more")
        newest_first = params.get("order", "asc").casefold() == "desc"
        with self.lock:
            events: list[dict[str, Any]] = []
            for index, row in enumerate(self.webhooks.select(status, newest_first=newest_first)):
                if index < offset:
                    continue
                if len(events) == limit:
                    break
                events.append(self.webhooks.row_json(row))
            total = (
                self.webhooks.counts[status]
                if status is not None
                else sum(self.webhooks.counts.values())
            )
            return _json({"events": events, "total": total, "counts": dict(self.webhooks.counts)})

    async def _admin_event(self, request: Request) -> Response:
        with self.lock:
            row = self.webhooks.row(request.path_params["event_id"])
            return _json(self.webhooks.row_json(row, with_body=True))

    async def _admin_retry(self, request: Request) -> Response:
        event_id = request.path_params["event_id"]
        form_post = request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        )
        next_page = f"{PAGE_PATH}?tab=failures"
        if form_post:
            # The Retry button of the web page: back to the page it was pressed on.
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            given = form.get("next", "")
            if given.startswith(PAGE_PATH):
                next_page = given
        outcome = await self.retry_webhook_event(event_id)
        if form_post:
            return RedirectResponse(next_page, status_code=303)
        with self.lock:
            row = self.webhooks.row(event_id)
            data = self.webhooks.row_json(row)
        return _json({**data, "retried": outcome.status})


def _queued(source: str) -> dict[str, Any]:
    return {
        "message": "The transaction was received and is waiting in the holding state; it is "
        "bundled into the import for its source at midnight.",
        "source": source,
    }


def _check_gift(spec: GiftTransactionIn) -> None:
    if not spec.transaction_source:
        raise BadRequest("transactionSource: a gift transaction needs a transactionSource")
    if not spec.transaction_id:
        raise BadRequest("transactionId: a gift transaction needs a transactionId")


def _method_json(method_id: int, store: ContactStore) -> dict[str, Any]:
    _, individual, method = store.method(method_id)
    return {
        "id": method.id,
        "contactIndividualId": individual.id,
        "type": method.type,
        "value": method.value,
        "isPrimary": method.is_primary,
        "isOptedIn": method.is_opted_in,
    }


def _fault_text(status: int) -> str:
    if status == 500:
        return _SERVER_ERROR
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
