"""The Raiser's Edge NXT simulator: the SKY API (Constituent and Communication Preference APIs)
with its OAuth 2.0 server, its gateway checks and limits, and an admin API for what people do in
the RE web view.

One base URL serves what the real service spreads over two hosts: the OAuth endpoints of
``oauth2.sky.blackbaud.com`` (``GET /authorization``, ``POST /token``) and the API of
``api.sky.blackbaud.com`` (``/constituent/v1/...``, ``/commpref/v1/...``). Every API request goes
through the gateway's checks in this order: subscription key (401), daily quota (403), rate limit
(429), bearer token (401); then the operation, whose refusals are the classic JSON error array.
See ``docs/simulators/re_nxt.md``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route
from syncframe_simulators import FaultKind, FaultRule, Simulator
from syncframe_simulators.admin import describe_validation_error, json_response, read_json
from syncframe_simulators.middleware import retry_after_header

from re_nxt_simulator.auth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SUBSCRIPTION_KEY,
    AccessToken,
    SkyAuth,
    TokenGrant,
)
from re_nxt_simulator.errors import (
    SERVER_ERROR,
    GatewayError,
    OAuthError,
    SkyError,
    errors_from_validation,
    json_body,
)
from re_nxt_simulator.inputs import (
    AddressAdd,
    AddressEdit,
    ConsentAdd,
    ConstituentAdd,
    ConstituentEdit,
    EmailAddressAdd,
    EmailAddressEdit,
    PhoneAdd,
    PhoneEdit,
    SolicitCodeAdd,
    SolicitCodeEdit,
    parse_sky_datetime,
)
from re_nxt_simulator.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    SORTABLE,
    ListFilters,
    Page,
    PageRequest,
    SortToken,
    TokenField,
)
from re_nxt_simulator.records import iso
from re_nxt_simulator.seeding import seed
from re_nxt_simulator.store import API_USER, RE_USER, RecordStore
from re_nxt_simulator.throttle import Throttle
from syncframe.clock import Clock

__all__ = ["ReNxtSimulator"]

logger = logging.getLogger(__name__)

_Model = TypeVar("_Model", bound=BaseModel)

CONSTITUENT: Final = "/constituent/v1"
COMMPREF: Final = "/commpref/v1"
#: The header and the query parameter a subscription key may come in.
KEY_HEADER: Final = "Bb-Api-Subscription-Key"
KEY_PARAM: Final = "subscription-key"


# ---- one API call ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Call:
    """An API request that passed the gateway: its query, path parameters and body."""

    request: Request
    body: bytes
    token: AccessToken

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def model(self, model: type[_Model]) -> _Model:
        """The body as ``model``; the error array names every field that does not fit."""
        if not self.body.strip():
            raise SkyError(400, "The request body is empty; send a JSON object.")
        try:
            return model.model_validate_json(self.body)
        except ValidationError as exc:
            raise errors_from_validation(exc) from None

    def text(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value if value not in (None, "") else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SkyError.field(name, "{0} is not a whole number.", raw) from None
        if not low <= value <= high:
            raise SkyError.field(name, "{0} is not between {1} and {2}.", raw, str(low), str(high))
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise SkyError.field(name, "{0} is not true or false.", raw)
        return raw.lower() == "true"

    def moment(self, name: str) -> Any:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return parse_sky_datetime(raw)
        except ValueError as exc:
            raise SkyError.field(name, "{0}", str(exc)) from None

    def many(self, name: str) -> list[str]:
        """A repeated parameter (``constituent_id=1&constituent_id=2``), commas also splitting."""
        values: list[str] = []
        for raw in self.request.query_params.getlist(name):
            values.extend(part.strip() for part in raw.split(",") if part.strip())
        return values


def _collection(items: Sequence[Any]) -> Response:
    """An unpaged collection (a constituent's records, a code table)."""
    return json_body({"count": len(items), "value": list(items)})


def _page_response(call: _Call, page: Page, *, fields: Sequence[str] | None = None) -> Response:
    values = []
    for row in page.records:
        rendered = row.render()
        if fields is not None:
            wanted = {"id", *fields}
            rendered = {key: value for key, value in rendered.items() if key in wanted}
        values.append(rendered)
    body: dict[str, Any] = {"count": page.count, "value": values}
    if page.next_token is not None or page.next_offset is not None:
        kept = [
            (key, value)
            for key, value in call.request.query_params.multi_items()
            if key not in ("offset", "sort_token")
        ]
        if page.next_token is not None:
            kept.append(("sort_token", page.next_token.encode()))
        else:
            kept.append(("offset", str(page.next_offset)))
        body["next_link"] = str(call.request.url.replace(query=urlencode(kept)))
    return json_body(body)


def _paging(call: _Call, list_name: str, *, token_fields: Sequence[str]) -> PageRequest:
    """The paging of a list request: a sort token in ``next_link`` when ordered by a date the
    list may be stably sorted by (``token_fields``), offsets otherwise."""
    limit = call.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = call.integer("offset", 0, 0, 2**31 - 1)
    raw_token, raw_sort = call.text("sort_token"), call.text("sort")
    if raw_token is not None and raw_sort is not None:
        raise SkyError(400, "sort and sort_token cannot be used together.")
    order: tuple[tuple[str, bool], ...] = ()
    if raw_sort is not None:
        pairs = []
        for part in (p.strip() for p in raw_sort.split(",") if p.strip()):
            descending = part.startswith("-")
            name = part.lstrip("-+")
            if name not in SORTABLE:
                raise SkyError.field(
                    "sort", "{0} is not a field to sort by (use {1}).", name, ", ".join(SORTABLE)
                )
            pairs.append((name, descending))
        order = tuple(pairs)
    token = SortToken.decode(raw_token, list_name) if raw_token is not None else None
    token_field: TokenField | None = None
    if token is not None:
        token_field = token.field
    elif order:
        if len(order) == 1 and not order[0][1] and order[0][0] in ("date_modified", "date_added"):
            token_field = "date_modified" if order[0][0] == "date_modified" else "date_added"
    elif call.text("last_modified") is not None and "last_modified" in token_fields:
        token_field = "date_modified"
    elif call.text("date_added") is not None and "date_added" in token_fields:
        token_field = "date_added"
    if not order:
        order = (("name", False),) if list_name == "constituents" else (("date_added", False),)
    return PageRequest(list_name, limit, offset, token_field, token, order)


# ---- admin input -----------------------------------------------------------------------------


class _AdminBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Settings(_AdminBody):
    list_latency: float | None = Field(None, ge=0)
    rate_limit_per_second: int | None = Field(None, ge=1)
    daily_quota: int | None = Field(None, ge=1)
    access_token_lifetime: int | None = Field(None, ge=1)


class _ApplicationIn(_AdminBody):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    redirect_uris: list[str] = Field(default_factory=list)
    name: str = ""


class _KeyIn(_AdminBody):
    key: str = Field(min_length=1)


class _TokensIn(_AdminBody):
    client_id: str = DEFAULT_CLIENT_ID


class _ListIn(_AdminBody):
    name: str = Field(min_length=1)
    constituent_ids: list[str] = Field(default_factory=list)


class _MembersIn(_AdminBody):
    constituent_ids: list[str]


def _admin_error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _admin_endpoint(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Bad admin input becomes ``{"error": ...}`` naming the field, never a traceback."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ValidationError as exc:
            return _admin_error(422, describe_validation_error(exc))
        except SkyError as exc:
            message = "; ".join(entry["message"] for entry in exc.entries())
            return _admin_error(404 if exc.status == 404 else 400, message)
        except ValueError as exc:
            return _admin_error(400, str(exc))

    return endpoint


# ---- the simulator ---------------------------------------------------------------------------

_Handler = Callable[[_Call], Response]


class ReNxtSimulator(Simulator):
    """Raiser's Edge NXT behind the SKY API: constituents, email addresses, addresses, phones,
    consents and solicit codes; OAuth 2.0; rate limit and daily quota; list latency."""

    name: ClassVar[str] = "re_nxt"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        journal_size: int = 10_000,
        list_latency: float = 0.0,
        rate_limit_per_second: int | None = None,
        daily_quota: int | None = None,
        access_token_lifetime: int = 3600,
    ) -> None:
        super().__init__(clock=clock, seed=seed, journal_size=journal_size)
        self._settings = _Settings(
            list_latency=list_latency,
            rate_limit_per_second=rate_limit_per_second,
            daily_quota=daily_quota,
            access_token_lifetime=access_token_lifetime,
        )
        self.store = RecordStore(self.clock, list_latency=list_latency, seed=seed)
        self.auth = SkyAuth(self.clock, seed=seed, access_token_lifetime=access_token_lifetime)
        self.throttle = Throttle(
            self.clock, rate_limit_per_second=rate_limit_per_second, daily_quota=daily_quota
        )
        # One lock around the database: a served simulator answers on the server's thread while
        # a test reads or seeds from its own.
        self.lock = threading.RLock()
        self._install_defaults()
        self._operations = self._operation_table()

    def _install_defaults(self) -> None:
        self.auth.add_application(
            DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, (DEFAULT_REDIRECT_URI,), "Syncframe"
        )
        self.auth.add_subscription_key(DEFAULT_SUBSCRIPTION_KEY)

    # ---- conveniences for tests and plugins ----------------------------------------------------

    def issue_tokens(self, client_id: str = DEFAULT_CLIENT_ID) -> TokenGrant:
        """Tokens for an application, as if a user had just authorized it."""
        with self.lock:
            return self.auth.issue(client_id)

    def api_headers(self, grant: TokenGrant | None = None) -> dict[str, str]:
        """The headers an API call needs: a bearer token (fresh unless ``grant`` is given) and
        the default subscription key."""
        token = (grant or self.issue_tokens()).access_token
        return {"Authorization": f"Bearer {token}", KEY_HEADER: DEFAULT_SUBSCRIPTION_KEY}

    def api_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An in-process client of the API, authorized (see :meth:`api_headers`)."""
        headers = {**self.api_headers(), **kwargs.pop("headers", {})}
        return self.client(headers=headers, **kwargs)

    # ---- routes ----------------------------------------------------------------------------------

    def _operation_table(self) -> list[tuple[Route, str, _Handler | None]]:
        """``(route, operation name, handler)``; OAuth routes have no API handler."""
        c, p = CONSTITUENT, COMMPREF
        table: list[tuple[str, str, str, _Handler | None]] = [
            ("GET", "/authorization", "Authorize", None),
            ("POST", "/token", "Token", None),
            ("GET", f"{c}/constituents", "ListConstituents", self._list_constituents),
            ("POST", f"{c}/constituents", "CreateConstituent", self._create_constituent),
            ("GET", f"{c}/constituents/search", "SearchConstituent", self._search),
            (
                "GET",
                f"{c}/constituents/{{constituent_id}}",
                "GetConstituent",
                self._get_constituent,
            ),
            (
                "PATCH",
                f"{c}/constituents/{{constituent_id}}",
                "EditConstituent",
                self._edit_constituent,
            ),
            (
                "GET",
                f"{c}/constituents/{{constituent_id}}/emailaddresses",
                "ListConstituentEmailAddressesSingleConstituent",
                self._emails_of,
            ),
            (
                "GET",
                f"{c}/constituents/{{constituent_id}}/addresses",
                "ListConstituentAddressesSingleConstituent",
                self._addresses_of,
            ),
            (
                "GET",
                f"{c}/constituents/{{constituent_id}}/phones",
                "ListConstituentPhonesSingleConstituent",
                self._phones_of,
            ),
            (
                "GET",
                f"{c}/emailaddresses",
                "ListConstituentEmailAddressesAllConstituents",
                self._child_list("emailaddresses"),
            ),
            ("POST", f"{c}/emailaddresses", "CreateConstituentEmailAddress", self._add_email),
            (
                "PATCH",
                f"{c}/emailaddresses/{{email_address_id}}",
                "EditConstituentEmailAddress",
                self._edit_email,
            ),
            (
                "DELETE",
                f"{c}/emailaddresses/{{email_address_id}}",
                "DeleteConstituentEmailAddress",
                self._delete_email,
            ),
            (
                "GET",
                f"{c}/addresses",
                "ListConstituentAddressesAllConstituents",
                self._child_list("addresses"),
            ),
            ("POST", f"{c}/addresses", "CreateConstituentAddress", self._add_address),
            (
                "PATCH",
                f"{c}/addresses/{{address_id}}",
                "EditConstituentAddress",
                self._edit_address,
            ),
            (
                "DELETE",
                f"{c}/addresses/{{address_id}}",
                "DeleteConstituentAddress",
                self._delete_address,
            ),
            (
                "GET",
                f"{c}/phones",
                "ListConstituentPhonesAllConstituents",
                self._child_list("phones"),
            ),
            ("POST", f"{c}/phones", "CreateConstituentPhone", self._add_phone),
            ("PATCH", f"{c}/phones/{{phone_id}}", "EditConstituentPhone", self._edit_phone),
            ("DELETE", f"{c}/phones/{{phone_id}}", "DeleteConstituentPhone", self._delete_phone),
            ("GET", f"{c}/emailaddresstypes", "ListEmailAddressTypes", self._table("email_types")),
            ("GET", f"{c}/addresstypes", "ListAddressTypes", self._table("address_types")),
            ("GET", f"{c}/phonetypes", "ListPhoneTypes", self._table("phone_types")),
            ("GET", f"{c}/genders", "ListGenders", self._table("genders")),
            (
                "GET",
                f"{p}/constituents/{{constituent_id}}/consents",
                "ListConstituentConsents",
                self._consents_of,
            ),
            ("POST", f"{p}/consent/consents", "CreateConstituentConsent", self._add_consent),
            (
                "DELETE",
                f"{p}/consents/{{consent_id}}",
                "DeleteConstituentConsent",
                self._delete_consent,
            ),
            (
                "GET",
                f"{p}/consent/channels",
                "ListConsentChannels",
                self._described("consent_channels"),
            ),
            (
                "GET",
                f"{p}/consent/categories",
                "ListConsentCategories",
                self._described("consent_categories", sequenced=True),
            ),
            (
                "GET",
                f"{p}/consent/sources",
                "ListConsentSources",
                self._described("consent_sources"),
            ),
            ("GET", f"{p}/solicitcodes", "ListSolicitCodes", self._described("solicit_codes")),
            (
                "GET",
                f"{p}/constituents/{{constituent_id}}/constituentsolicitcodes",
                "ListConstituentSolicitCodesSingleConstituent",
                self._solicit_codes_of,
            ),
            (
                "POST",
                f"{p}/constituentsolicitcodes",
                "CreateConstituentSolicitCode",
                self._add_solicit_code,
            ),
            (
                "PATCH",
                f"{p}/constituentsolicitcodes/{{solicit_code_id}}",
                "EditConstituentSolicitCode",
                self._edit_solicit_code,
            ),
            (
                "DELETE",
                f"{p}/constituentsolicitcodes/{{solicit_code_id}}",
                "DeleteConstituentSolicitCode",
                self._delete_solicit_code,
            ),
        ]
        built = []
        for method, path, operation, handler in table:
            if operation == "Authorize":
                endpoint: Callable[[Request], Awaitable[Response]] = self._authorize
            elif operation == "Token":
                endpoint = self._token
            else:
                assert handler is not None
                endpoint = self._api_endpoint(handler)
            built.append((Route(path, endpoint, methods=[method]), operation, handler))
        return built

    def operations(self) -> list[tuple[str, str, str]]:
        """``(method, path, operation name)`` of every route the imitated API serves."""
        return [
            (next(iter(route.methods or ())), route.path, operation)
            for route, operation, _ in self._operations
        ]

    def api_routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [route for route, _, _ in self._operations]
        # What the gateway answers for a path or method no operation has.
        routes.append(
            Route(
                "/{path:path}",
                self._no_operation,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            )
        )
        return routes

    async def operation_of(self, request: Request) -> str | None:
        for route, operation, _ in self._operations:
            match, _ = route.matches(request.scope)
            if match == Match.FULL:
                return operation
        return None

    async def _no_operation(self, request: Request) -> Response:
        return json_body({"statusCode": 404, "message": "Resource not found"}, 404)

    # ---- the gateway -----------------------------------------------------------------------------

    def _api_endpoint(self, handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                try:
                    key = request.headers.get(KEY_HEADER) or request.query_params.get(KEY_PARAM)
                    key = self.auth.check_subscription_key(key)
                    self.throttle.admit(key)
                    token = self.auth.check_bearer(request.headers.get("authorization"))
                    return handler(_Call(request, body, token))
                except GatewayError as exc:
                    return exc.response()
                except SkyError as exc:
                    return exc.response()
                except Exception:
                    logger.exception("RE NXT simulator: unexpected error in %s", request.url.path)
                    return SkyError(
                        500, "An unexpected error occurred.", error_name=SERVER_ERROR
                    ).response()

        return endpoint

    # ---- OAuth -----------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params
        try:
            if params.get("response_type", "code") != "code":
                raise OAuthError("unsupported_response_type", "response_type must be code")
            with self.lock:
                target = self.auth.authorize(
                    params.get("client_id", ""), params.get("redirect_uri"), params.get("state")
                )
        except OAuthError as exc:
            return exc.response()
        return RedirectResponse(target, status_code=302)

    async def _token(self, request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            return OAuthError(
                "invalid_request",
                f"the body must be application/x-www-form-urlencoded, not {kind or 'missing'}",
            ).response()
        try:
            text = (await request.body()).decode()
        except UnicodeDecodeError:
            return OAuthError("invalid_request", "the form is not UTF-8 text").response()
        # RFC 6749 forms are url-encoded only, so the standard library reads them.
        fields = dict(parse_qsl(text, keep_blank_values=True))
        try:
            with self.lock:
                grant = self.auth.token(fields, request.headers.get("authorization"))
        except OAuthError as exc:
            return exc.response()
        return json_body(
            grant.to_json(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
        )

    # ---- constituents ----------------------------------------------------------------------------

    def _list_constituents(self, call: _Call) -> Response:
        request = _paging(call, "constituents", token_fields=("last_modified", "date_added"))
        list_id = call.text("list_id")
        filters = ListFilters(
            last_modified=call.moment("last_modified"),
            date_added=call.moment("date_added"),
            include_inactive=call.flag("include_inactive", False),
            include_deceased=call.flag("include_deceased", False),
            constituent_ids=frozenset(call.many("constituent_id")) or None,
            postal_codes=tuple(call.many("postal_code")),
            members=self.store.list_members(list_id) if list_id is not None else None,
        )
        if list_id is not None and request.token is None:
            # The other filters are ignored with list_id, the date order with them.
            request = PageRequest(
                request.list_name, request.limit, request.offset, order=(("name", False),)
            )
        fields = call.many("fields") or None
        return _page_response(
            call, self.store.list_records("constituents", filters, request), fields=fields
        )

    def _create_constituent(self, call: _Call) -> Response:
        constituent = self.store.create_constituent(call.model(ConstituentAdd))
        return json_body({"id": constituent.id})

    def _get_constituent(self, call: _Call) -> Response:
        constituent = self.store.constituent(call.path("constituent_id"))
        return json_body(self.store.render_constituent(constituent))

    def _edit_constituent(self, call: _Call) -> Response:
        self.store.edit_constituent(call.path("constituent_id"), _edit_body(call, ConstituentEdit))
        return Response(status_code=200)

    def _search(self, call: _Call) -> Response:
        found = self.store.search(
            call.text("search_text") or "",
            search_field=call.text("search_field"),
            strict=call.flag("strict_search", False),
            include_inactive=call.flag("include_inactive", False),
        )
        limit = call.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = call.integer("offset", 0, 0, 2**31 - 1)
        chunk = found[offset : offset + limit]
        body: dict[str, Any] = {
            "count": len(found),
            "value": [self.store.render_search_result(c) for c in chunk],
        }
        if offset + limit < len(found):
            kept = [(k, v) for k, v in call.request.query_params.multi_items() if k != "offset"]
            kept.append(("offset", str(offset + limit)))
            body["next_link"] = str(call.request.url.replace(query=urlencode(kept)))
        return json_body(body)

    # ---- email addresses, addresses, phones -------------------------------------------------

    def _emails_of(self, call: _Call) -> Response:
        include = call.flag("include_inactive", False)
        emails = self.store.emails_of(call.path("constituent_id"), include_inactive=include)
        return _collection([email.render() for email in emails])

    def _addresses_of(self, call: _Call) -> Response:
        include = call.flag("include_inactive", False)
        found = self.store.addresses_of(call.path("constituent_id"), include_inactive=include)
        now = self.clock.now()
        return _collection([address.render(now) for address in found])

    def _phones_of(self, call: _Call) -> Response:
        include = call.flag("include_inactive", False)
        phones = self.store.phones_of(call.path("constituent_id"), include_inactive=include)
        return _collection([phone.render() for phone in phones])

    def _child_list(self, kind: str) -> _Handler:
        def handler(call: _Call) -> Response:
            request = _paging(call, kind, token_fields=("last_modified",))
            filters = ListFilters(
                last_modified=call.moment("last_modified"),
                date_added=call.moment("date_added"),
                include_inactive=call.flag("include_inactive", False),
                constituent_ids=frozenset(call.many("constituent_id")) or None,
            )
            return _page_response(call, self.store.list_records(kind, filters, request))

        return handler

    def _add_email(self, call: _Call) -> Response:
        body = call.model(EmailAddressAdd)
        return json_body({"id": self.store.add_email(body.constituent_id, body).id})

    def _edit_email(self, call: _Call) -> Response:
        self.store.edit_email(call.path("email_address_id"), _edit_body(call, EmailAddressEdit))
        return Response(status_code=200)

    def _delete_email(self, call: _Call) -> Response:
        self.store.delete_email(call.path("email_address_id"))
        return Response(status_code=200)

    def _add_address(self, call: _Call) -> Response:
        return json_body({"id": self.store.add_address(call.model(AddressAdd)).id})

    def _edit_address(self, call: _Call) -> Response:
        self.store.edit_address(call.path("address_id"), _edit_body(call, AddressEdit))
        return Response(status_code=200)

    def _delete_address(self, call: _Call) -> Response:
        self.store.delete_address(call.path("address_id"))
        return Response(status_code=200)

    def _add_phone(self, call: _Call) -> Response:
        body = call.model(PhoneAdd)
        return json_body({"id": self.store.add_phone(body.constituent_id, body).id})

    def _edit_phone(self, call: _Call) -> Response:
        self.store.edit_phone(call.path("phone_id"), _edit_body(call, PhoneEdit))
        return Response(status_code=200)

    def _delete_phone(self, call: _Call) -> Response:
        self.store.delete_phone(call.path("phone_id"))
        return Response(status_code=200)

    def _table(self, table: str) -> _Handler:
        def handler(call: _Call) -> Response:
            return _collection(list(self.store.code_tables.tables[table]))

        return handler

    def _described(self, table: str, *, sequenced: bool = False) -> _Handler:
        def handler(call: _Call) -> Response:
            entries = self.store.code_tables.tables[table]
            if sequenced:
                values = [
                    {"description": entry, "inactive": False, "sequence": index}
                    for index, entry in enumerate(entries, 1)
                ]
            else:
                values = [{"description": entry} for entry in entries]
            return _collection(values)

        return handler

    # ---- consents and solicit codes ------------------------------------------------------------

    def _consents_of(self, call: _Call) -> Response:
        found = self.store.consents_of(
            call.path("constituent_id"), most_recent_only=call.flag("most_recent_only", False)
        )
        return _collection([consent.render() for consent in found])

    def _add_consent(self, call: _Call) -> Response:
        return json_body({"id": self.store.add_consent(call.model(ConsentAdd), actor=API_USER).id})

    def _delete_consent(self, call: _Call) -> Response:
        self.store.delete_consent(call.path("consent_id"))
        return Response(status_code=200)

    def _solicit_codes_of(self, call: _Call) -> Response:
        found = self.store.solicit_codes_of(call.path("constituent_id"))
        return _collection([assignment.render() for assignment in found])

    def _add_solicit_code(self, call: _Call) -> Response:
        return json_body({"id": self.store.add_solicit_code(call.model(SolicitCodeAdd)).id})

    def _edit_solicit_code(self, call: _Call) -> Response:
        self.store.edit_solicit_code(
            call.path("solicit_code_id"), _edit_body(call, SolicitCodeEdit)
        )
        return Response(status_code=200)

    def _delete_solicit_code(self, call: _Call) -> Response:
        self.store.delete_solicit_code(call.path("solicit_code_id"))
        return Response(status_code=200)

    # ---- injected faults, as SKY answers --------------------------------------------------------

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        if kind == "error":
            message = (
                "An unexpected error occurred. Please try again later."
                if rule.status >= 500
                else "The request could not be processed."
            )
            name = SERVER_ERROR if rule.status >= 500 else "InvalidRequest"
            return SkyError(rule.status, message, error_name=name).response()
        if kind == "rate_limit":
            wait = max(1, math.ceil(rule.retry_after))
            return json_body(
                {
                    "statusCode": 429,
                    "message": f"Rate limit is exceeded. Try again in {wait} seconds.",
                },
                429,
                {"Retry-After": retry_after_header(rule.retry_after)},
            )
        if kind == "timeout":
            return json_body({"statusCode": 504, "message": "Gateway Timeout"}, 504)
        if kind == "malformed":
            cut = b'{"count":3,"value":[{"id":"1001","lookup_id":"100001","name":"Ada Lov'
            return Response(cut, media_type="application/json; charset=utf-8")
        return super().fault_response(kind, rule, operation)

    # ---- state -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            state = self.store.snapshot()
            state["settings"] = self.settings()
            state["auth"] = self.auth.snapshot()
            state["throttle"] = self.throttle.snapshot()
            state["now"] = iso(self.clock.now())
            return state

    def settings(self) -> dict[str, Any]:
        return {
            "list_latency": self.store.list_latency,
            "rate_limit_per_second": self.throttle.rate_limit_per_second,
            "daily_quota": self.throttle.daily_quota,
            "access_token_lifetime": self.auth.access_token_lifetime,
        }

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings (``list_latency``, ``rate_limit_per_second``, ``daily_quota``,
        ``access_token_lifetime``); ``None`` switches a limit off. Returns all settings."""
        given = _Settings.model_validate(changes)
        with self.lock:
            sent = given.model_fields_set
            if "list_latency" in sent:
                self.store.list_latency = given.list_latency or 0.0
            if "rate_limit_per_second" in sent:
                self.throttle.rate_limit_per_second = given.rate_limit_per_second
            if "daily_quota" in sent:
                self.throttle.daily_quota = given.daily_quota
            if "access_token_lifetime" in sent:
                if given.access_token_lifetime is None:
                    raise ValueError("access_token_lifetime: give a number of seconds")
                self.auth.access_token_lifetime = given.access_token_lifetime
            return self.settings()

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return seed(self.store, payload)

    def reset(self) -> None:
        with self.lock:
            self.store.reset()
            self.auth.reset()
            self.throttle.reset()
            self._install_defaults()
            initial = self._settings
            self.store.list_latency = initial.list_latency or 0.0
            self.throttle.rate_limit_per_second = initial.rate_limit_per_second
            self.throttle.daily_quota = initial.daily_quota
            self.auth.access_token_lifetime = initial.access_token_lifetime or 3600

    # ---- admin routes: what people do in the RE web view -----------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        def route(
            path: str, handler: Callable[[Request], Awaitable[Response]], method: str
        ) -> Route:
            return Route(f"/re_nxt{path}", _admin_endpoint(handler), methods=[method])

        return [
            route("/settings", self._admin_settings, "GET"),
            route("/settings", self._admin_settings, "POST"),
            route("/applications", self._admin_application, "POST"),
            route("/applications/{client_id}/revoke", self._admin_revoke, "POST"),
            route("/subscription-keys", self._admin_key, "POST"),
            route("/tokens", self._admin_tokens, "POST"),
            route("/constituents", self._admin_create, "POST"),
            route("/constituents/{constituent_id}", self._admin_get, "GET"),
            route("/constituents/{constituent_id}", self._admin_edit, "PATCH"),
            route("/constituents/{constituent_id}", self._admin_delete, "DELETE"),
            route("/constituents/{constituent_id}/emailaddresses", self._admin_add_email, "POST"),
            route("/constituents/{constituent_id}/addresses", self._admin_add_address, "POST"),
            route("/constituents/{constituent_id}/phones", self._admin_add_phone, "POST"),
            route("/constituents/{constituent_id}/consents", self._admin_add_consent, "POST"),
            route("/constituents/{constituent_id}/solicitcodes", self._admin_add_code, "POST"),
            route("/emailaddresses/{record_id}", self._admin_edit_email, "PATCH"),
            route("/emailaddresses/{record_id}", self._admin_delete_email, "DELETE"),
            route("/addresses/{record_id}", self._admin_edit_address, "PATCH"),
            route("/addresses/{record_id}", self._admin_delete_address, "DELETE"),
            route("/phones/{record_id}", self._admin_edit_phone, "PATCH"),
            route("/phones/{record_id}", self._admin_delete_phone, "DELETE"),
            route("/solicitcodes/{record_id}", self._admin_edit_code, "PATCH"),
            route("/solicitcodes/{record_id}", self._admin_delete_code, "DELETE"),
            route("/consents/{record_id}", self._admin_delete_consent, "DELETE"),
            route("/lists", self._admin_add_list, "POST"),
            route("/lists/{list_id}", self._admin_set_list, "PUT"),
        ]

    async def _admin_settings(self, request: Request) -> Response:
        if request.method == "GET":
            with self.lock:
                return json_response(self.settings())
        return json_response(self.configure(**(await read_json(request))))

    async def _admin_application(self, request: Request) -> Response:
        body = _ApplicationIn.model_validate(await read_json(request))
        with self.lock:
            app = self.auth.add_application(
                body.client_id, body.client_secret, tuple(body.redirect_uris), body.name
            )
        return json_response(
            {
                "client_id": app.client_id,
                "name": app.name,
                "redirect_uris": list(app.redirect_uris),
            },
            201,
        )

    async def _admin_revoke(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]
        with self.lock:
            if client_id not in self.auth.applications:
                return _admin_error(404, f"client_id: {client_id!r} is not an application")
            return json_response({"revoked": self.auth.revoke(client_id)})

    async def _admin_key(self, request: Request) -> Response:
        body = _KeyIn.model_validate(await read_json(request))
        with self.lock:
            self.auth.add_subscription_key(body.key)
        return json_response({"added": True}, 201)

    async def _admin_tokens(self, request: Request) -> Response:
        raw = await read_json(request, object_required=False)
        body = _TokensIn.model_validate(raw or {})
        with self.lock:
            if body.client_id not in self.auth.applications:
                return _admin_error(404, f"client_id: {body.client_id!r} is not an application")
            return json_response(self.auth.issue(body.client_id).to_json(), 201)

    async def _admin_create(self, request: Request) -> Response:
        body = await _admin_model(request, ConstituentAdd)
        with self.lock:
            made = self.store.create_constituent(body)
            return json_response(self.store.render_constituent(made), 201)

    async def _admin_get(self, request: Request) -> Response:
        with self.lock:
            found = self.store.constituent(request.path_params["constituent_id"])
            return json_response(self._full_record(found.id))

    def _full_record(self, constituent_id: str) -> dict[str, Any]:
        for record in self.store.snapshot()["constituents"]:
            if record["id"] == constituent_id:
                return dict(record)
        raise SkyError.not_found("constituent", constituent_id)

    async def _admin_edit(self, request: Request) -> Response:
        body = await _admin_model(request, ConstituentEdit)
        with self.lock:
            edited = self.store.edit_constituent(request.path_params["constituent_id"], body)
            return json_response(self.store.render_constituent(edited))

    async def _admin_delete(self, request: Request) -> Response:
        constituent_id = request.path_params["constituent_id"]
        with self.lock:
            self.store.delete_constituent(constituent_id)
        return json_response({"id": constituent_id, "deleted": True})

    async def _admin_add_email(self, request: Request) -> Response:
        body = await _admin_model(request, EmailAddressAdd, with_constituent=True)
        with self.lock:
            return json_response(self.store.add_email(body.constituent_id, body).render(), 201)

    async def _admin_add_address(self, request: Request) -> Response:
        body = await _admin_model(request, AddressAdd, with_constituent=True)
        with self.lock:
            return json_response(self.store.add_address(body).render(self.clock.now()), 201)

    async def _admin_add_phone(self, request: Request) -> Response:
        body = await _admin_model(request, PhoneAdd, with_constituent=True)
        with self.lock:
            return json_response(self.store.add_phone(body.constituent_id, body).render(), 201)

    async def _admin_add_consent(self, request: Request) -> Response:
        body = await _admin_model(request, ConsentAdd, with_constituent=True)
        with self.lock:
            return json_response(self.store.add_consent(body, actor=RE_USER).render(), 201)

    async def _admin_add_code(self, request: Request) -> Response:
        body = await _admin_model(request, SolicitCodeAdd, with_constituent=True)
        with self.lock:
            return json_response(self.store.add_solicit_code(body).render(), 201)

    async def _admin_edit_email(self, request: Request) -> Response:
        body = await _admin_model(request, EmailAddressEdit)
        with self.lock:
            return json_response(
                self.store.edit_email(request.path_params["record_id"], body).render()
            )

    async def _admin_delete_email(self, request: Request) -> Response:
        with self.lock:
            self.store.delete_email(request.path_params["record_id"])
        return json_response({"deleted": True})

    async def _admin_edit_address(self, request: Request) -> Response:
        body = await _admin_model(request, AddressEdit)
        with self.lock:
            edited = self.store.edit_address(request.path_params["record_id"], body)
            return json_response(edited.render(self.clock.now()))

    async def _admin_delete_address(self, request: Request) -> Response:
        with self.lock:
            self.store.delete_address(request.path_params["record_id"])
        return json_response({"deleted": True})

    async def _admin_edit_phone(self, request: Request) -> Response:
        body = await _admin_model(request, PhoneEdit)
        with self.lock:
            return json_response(
                self.store.edit_phone(request.path_params["record_id"], body).render()
            )

    async def _admin_delete_phone(self, request: Request) -> Response:
        with self.lock:
            self.store.delete_phone(request.path_params["record_id"])
        return json_response({"deleted": True})

    async def _admin_edit_code(self, request: Request) -> Response:
        body = await _admin_model(request, SolicitCodeEdit)
        with self.lock:
            edited = self.store.edit_solicit_code(request.path_params["record_id"], body)
            return json_response(edited.render())

    async def _admin_delete_code(self, request: Request) -> Response:
        with self.lock:
            self.store.delete_solicit_code(request.path_params["record_id"])
        return json_response({"deleted": True})

    async def _admin_delete_consent(self, request: Request) -> Response:
        with self.lock:
            self.store.delete_consent(request.path_params["record_id"])
        return json_response({"deleted": True})

    async def _admin_add_list(self, request: Request) -> Response:
        body = _ListIn.model_validate(await read_json(request))
        with self.lock:
            made = self.store.add_list(body.name, body.constituent_ids)
        return json_response(
            {"id": made.id, "name": made.name, "constituent_ids": made.constituent_ids}, 201
        )

    async def _admin_set_list(self, request: Request) -> Response:
        body = _MembersIn.model_validate(await read_json(request))
        with self.lock:
            found = self.store.set_list_members(
                request.path_params["list_id"], body.constituent_ids
            )
        return json_response(
            {"id": found.id, "name": found.name, "constituent_ids": found.constituent_ids}
        )


def _edit_body(call: _Call, model: type[_Model]) -> _Model:
    """A PATCH body; an empty one is an empty edit (nothing changes, nothing is stamped)."""
    if not call.body.strip():
        return model()
    return call.model(model)


async def _admin_model(
    request: Request, model: type[_Model], *, with_constituent: bool = False
) -> _Model:
    """An admin body as the API model checks it; child records take the constituent from the
    path."""
    data = await read_json(request)
    if with_constituent:
        data["constituent_id"] = request.path_params["constituent_id"]
    # A field that does not fit is the admin API's 422, named by its path.
    return model.model_validate_json(json.dumps(data))
