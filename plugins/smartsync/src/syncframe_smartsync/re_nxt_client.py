"""An async client of the SKY API (Raiser's Edge NXT), on the engine's HTTP client.

**Authorization.** Every call carries ``Authorization: Bearer <access token>`` and the
subscription key (``Bb-Api-Subscription-Key``). The client gets its access token from the SKY
OAuth server with the connection's refresh token (``grant_type=refresh_token``, the application
as ``client_id``/``client_secret``) the first time it needs one, again when the token's
``expires_in`` has run out on the engine's clock (a minute early), and again, once, when the API
answers 401 to a token it believed good (revoked, or the server's clock ahead of ours). It asks
``preserve_refresh_token=true``: SKY would otherwise retire the refresh token on every use, and
the one in the connection's settings would stop working after the first run.

**Errors**, as the engine wants them: 429, 5xx, 408 and the daily quota's 403 with
``Retry-After`` are :class:`TransientError` carrying the wait; a body cut off mid-way too. A
refused refresh token, application or subscription key is :class:`CredentialsRefused`. Any
other 4xx is :class:`SkyRefused` with the API's messages (its classic error array or the
gateway's message), 404 :class:`SkyNotFound`; both are :class:`PermanentError`, so a sink turns
them into a rejected record and the engine fails anything else. httpx's own errors pass through
(the engine retries them). No retry loops here, except the one token renewal after a 401.
Messages never hold the secrets: they go in headers and form fields only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from syncframe.clock import Clock
from syncframe.components import PermanentError, TransientError
from syncframe.http import raise_for_status
from syncframe_smartsync.re_nxt_models import (
    ConsentList,
    ConsentRead,
    ConstituentPage,
    ConstituentRead,
    CreatedAnswer,
    EmailAddressList,
    EmailAddressRead,
    IdPage,
    PhoneList,
    PhoneRead,
    SearchPage,
    SearchResult,
    SolicitCodeList,
    SolicitCodeRead,
    TokenAnswer,
)
from syncframe_smartsync.re_nxt_settings import MAX_PAGE_SIZE, ReNxtSettings

__all__ = [
    "COMMPREF_API",
    "CONSTITUENT_API",
    "CredentialsRefused",
    "ReNxtClient",
    "SkyNotFound",
    "SkyRefused",
    "first_error",
]

CONSTITUENT_API: Final = "/constituent/v1"
COMMPREF_API: Final = "/commpref/v1"
KEY_HEADER: Final = "Bb-Api-Subscription-Key"
#: An access token is renewed this long before SKY says it expires.
TOKEN_MARGIN: Final = timedelta(seconds=60)
#: Search fields of ``GET /constituents/search``.
SEARCH_FIELDS: Final = ("lookup_id", "email_address")
_TRANSIENT: Final = frozenset({408, 425, 429, 500, 502, 503, 504})

_Model = TypeVar("_Model", bound=BaseModel)
#: Query parameters of a call.
Params = Mapping[str, str | int] | None


class CredentialsRefused(PermanentError):
    """SKY refused the application, its refresh token or the subscription key; the message says
    which, and what to do, never the secret itself."""


class SkyRefused(PermanentError):
    """The API refused a request (4xx): ``messages`` are what it said, one per problem."""

    def __init__(self, what: str, status: int, messages: Sequence[str]) -> None:
        self.status = status
        self.messages = list(messages)
        self.detail = "; ".join(self.messages) or f"HTTP {status}"
        super().__init__(f"RE NXT: {what}: HTTP {status}: {self.detail}")


class SkyNotFound(SkyRefused):
    """The API answered 404: the record (or route) does not exist."""


@dataclass(slots=True)
class _AccessToken:
    value: str
    expires_at: datetime
    generation: int


def _messages(response: httpx.Response) -> list[str]:
    """What an error answer says: the classic array's messages, the gateway's message, or
    OAuth's error and description."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:300]
        return [text] if text else []
    if isinstance(body, list):
        return [str(entry.get("message", entry)) for entry in body if isinstance(entry, dict)]
    if isinstance(body, dict):
        if "message" in body:
            return [str(body["message"])]
        if "error" in body:
            description = body.get("error_description")
            return [f"{body['error']}: {description}" if description else str(body["error"])]
    return [str(body)[:300]]


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a task group's failure, so the engine sees a TransientError as one
    (a group is neither transient nor permanent to it)."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    if not leaves or any(not isinstance(leaf, Exception) for leaf in leaves):
        return group  # an interrupt or a cancellation travels as it came
    return leaves[0]


def _when(moment: datetime) -> str:
    return moment.isoformat()


class ReNxtClient:
    """The calls the RE NXT components make, on ``http`` (the engine's client for the
    connection), telling token expiry by ``clock`` (the engine's)."""

    def __init__(self, http: httpx.AsyncClient, settings: ReNxtSettings, clock: Clock) -> None:
        self._http = http
        self.settings = settings
        self._clock = clock
        self._token: _AccessToken | None = None
        self._generation = 0
        self._token_lock = anyio.Lock()
        origin = urlsplit(settings.api_url)
        self._origin = (origin.scheme, origin.netloc)
        #: Access tokens asked for so far (tests and diagnostics).
        self.tokens_issued = 0

    # ---- authorization ---------------------------------------------------------------------
    async def _access_token(self, stale: _AccessToken | None = None) -> _AccessToken:
        """A token good now; ``stale``: the one the API just refused, to be replaced."""
        async with self._token_lock:
            held = self._token
            fresh = (
                held is not None
                and held.expires_at > self._clock.now()
                and (stale is None or held.generation != stale.generation)
            )
            if held is not None and fresh:
                return held
            self._token = await self._refresh()
            return self._token

    async def _refresh(self) -> _AccessToken:
        settings = self.settings
        form = {
            "grant_type": "refresh_token",
            "refresh_token": settings.refresh_token.get_secret_value(),
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
            # Keep the configured refresh token valid: SKY retires it on use otherwise.
            "preserve_refresh_token": "true",
        }
        response = await self._http.post(
            settings.token_url, data=form, headers={"Accept": "application/json"}
        )
        if response.status_code in (400, 401) and not response.is_success:
            raise self._token_refused(response)
        raise_for_status(response, "RE NXT: asking the SKY OAuth server for an access token")
        try:
            answer = TokenAnswer.model_validate_json(response.content)
        except ValidationError:
            raise TransientError(
                "RE NXT: the SKY OAuth server's token answer could not be read "
                f"(HTTP {response.status_code}, {len(response.content)} bytes)"
            ) from None
        self._generation += 1
        self.tokens_issued += 1
        lifetime = timedelta(seconds=answer.expires_in)
        expires_at = self._clock.now() + max(lifetime - TOKEN_MARGIN, lifetime / 2)
        return _AccessToken(answer.access_token, expires_at, self._generation)

    def _token_refused(self, response: httpx.Response) -> CredentialsRefused:
        said = "; ".join(_messages(response)) or f"HTTP {response.status_code}"
        if response.status_code == 401 or said.startswith("invalid_client"):
            return CredentialsRefused(
                f"RE NXT: the SKY OAuth server refused the application ({said}): check "
                f"client_id {self.settings.client_id!r} and client_secret"
            )
        return CredentialsRefused(
            f"RE NXT: the SKY OAuth server refused the refresh token ({said}): authorize the "
            "application in the environment again and set refresh_token to the new one"
        )

    # ---- one API call ----------------------------------------------------------------------
    def url(self, path: str) -> str:
        """The API address of ``path`` (``/constituent/v1/...``)."""
        return self.settings.api_url + path

    async def call(
        self,
        method: str,
        url: str,
        what: str,
        *,
        params: Params = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one API request (renewing the access token once on a 401) and map its errors."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            # A next_link elsewhere would carry the bearer token and key to another host.
            raise PermanentError(
                f"RE NXT: {what}: the API sent a link to {parts.scheme}://{parts.netloc}, not to "
                f"api_url {self.settings.api_url}; refusing to send credentials there"
            )
        token = await self._access_token()
        response = await self._send(method, url, token, params, json)
        if response.status_code == 401 and not self._key_refused(response):
            token = await self._access_token(stale=token)
            response = await self._send(method, url, token, params, json)
        self._check(response, what)
        return response

    async def _send(
        self,
        method: str,
        url: str,
        token: _AccessToken,
        params: Params,
        json: Any,
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token.value}",
            KEY_HEADER: self.settings.subscription_key.get_secret_value(),
            "Accept": "application/json",
        }
        return await self._http.request(method, url, params=params, json=json, headers=headers)

    @staticmethod
    def _key_refused(response: httpx.Response) -> bool:
        return any("subscription key" in message for message in _messages(response))

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if response.is_success:
            return
        said = "; ".join(_messages(response)) or f"HTTP {status}"
        wait = _retry_after(response)
        if status in _TRANSIENT or (status == 403 and wait is not None):
            # 403 with Retry-After is the daily quota: it comes back at the next UTC midnight.
            raise TransientError(f"RE NXT: {what}: HTTP {status}: {said}", retry_after=wait)
        if status == 401:
            if self._key_refused(response):
                raise CredentialsRefused(
                    f"RE NXT: {what}: the SKY API refused the subscription key ({said}): check "
                    "subscription_key"
                )
            raise CredentialsRefused(
                f"RE NXT: {what}: the SKY API refused a fresh access token ({said}): check that "
                "the application is still connected to the environment"
            )
        if status == 404:
            raise SkyNotFound(what, status, _messages(response))
        raise SkyRefused(what, status, _messages(response))

    async def _read(self, model: type[_Model], response: httpx.Response, what: str) -> _Model:
        try:
            body = response.json()
        except ValueError:
            # A body cut off on the way (or a proxy's page) is worth reading again.
            raise TransientError(
                f"RE NXT: {what}: the answer could not be read: not JSON "
                f"({len(response.content)} bytes)"
            ) from None
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise PermanentError(
                f"RE NXT: {what}: the answer is not what the SKY API documents "
                f"({exc.error_count()} problems, e.g. {where}: {problem['msg']})"
            ) from None

    async def _get(
        self,
        model: type[_Model],
        url: str,
        what: str,
        params: Params = None,
    ) -> _Model:
        return await self._read(model, await self.call("GET", url, what, params=params), what)

    async def _create(self, path: str, body: Mapping[str, Any], what: str) -> str:
        response = await self.call("POST", self.url(path), what, json=dict(body))
        return (await self._read(CreatedAnswer, response, what)).id

    async def _patch(self, path: str, body: Mapping[str, Any], what: str) -> None:
        await self.call("PATCH", self.url(path), what, json=dict(body))

    # ---- constituents ----------------------------------------------------------------------
    async def check(self) -> None:
        """One cheap authorized call: the token, the key and the API all work."""
        await self._get(
            IdPage,
            self.url(f"{CONSTITUENT_API}/constituents"),
            "checking the connection (listing one constituent)",
            {"limit": 1, "fields": "id"},
        )

    async def changed_constituents(
        self,
        since: datetime,
        limit: int,
        *,
        include_inactive: bool,
        include_deceased: bool,
    ) -> ConstituentPage:
        """The first page of constituents changed on or after ``since``, oldest change first
        (its ``next_link`` carries a sort token for the next page)."""
        params: dict[str, str | int] = {
            "last_modified": _when(since),
            "limit": min(limit, MAX_PAGE_SIZE),
            "include_inactive": str(include_inactive).lower(),
            "include_deceased": str(include_deceased).lower(),
        }
        return await self._get(
            ConstituentPage,
            self.url(f"{CONSTITUENT_API}/constituents"),
            f"listing constituents changed since {_when(since)}",
            params,
        )

    async def next_constituents(self, next_link: str) -> ConstituentPage:
        """The page a ``next_link`` points at."""
        return await self._get(ConstituentPage, next_link, "listing the next constituent page")

    async def list_member_ids(self, list_id: str) -> frozenset[str]:
        """The system record ids of every constituent of a constituent list."""
        what = f"reading the members of constituent list {list_id}"
        page = await self._get(
            IdPage,
            self.url(f"{CONSTITUENT_API}/constituents"),
            what,
            {"list_id": list_id, "fields": "id", "limit": MAX_PAGE_SIZE},
        )
        members = {row.id for row in page.value}
        while page.next_link:
            page = await self._get(IdPage, page.next_link, what)
            members.update(row.id for row in page.value)
        return frozenset(members)

    async def search(self, field: str, text: str) -> list[SearchResult]:
        """Constituents whose ``field`` (``lookup_id`` or ``email_address``) equals ``text``
        (case ignored; active constituents only, as the API searches by default)."""
        if field not in SEARCH_FIELDS:
            raise ValueError(f"search_field {field!r} is not one of {SEARCH_FIELDS}")
        what = f"searching constituents by {field} {text!r}"
        page = await self._get(
            SearchPage,
            self.url(f"{CONSTITUENT_API}/constituents/search"),
            what,
            {"search_text": text, "search_field": field, "strict_search": "true"},
        )
        found = list(page.value)
        while page.next_link:
            page = await self._get(SearchPage, page.next_link, what)
            found.extend(page.value)
        return found

    async def constituent(self, constituent_id: str) -> ConstituentRead:
        """One constituent with its primary email and phone and preferred address."""
        return await self._get(
            ConstituentRead,
            self.url(f"{CONSTITUENT_API}/constituents/{constituent_id}"),
            f"reading constituent {constituent_id}",
        )

    async def create_constituent(self, body: Mapping[str, Any], what: str) -> str:
        """``POST /constituents``; the new constituent's id."""
        return await self._create(f"{CONSTITUENT_API}/constituents", body, what)

    async def edit_constituent(
        self, constituent_id: str, body: Mapping[str, Any], what: str
    ) -> None:
        await self._patch(f"{CONSTITUENT_API}/constituents/{constituent_id}", body, what)

    # ---- email addresses, phones, addresses ------------------------------------------------
    async def email_addresses(self, constituent_id: str) -> list[EmailAddressRead]:
        """Every email address of a constituent, inactive ones included."""
        page = await self._get(
            EmailAddressList,
            self.url(f"{CONSTITUENT_API}/constituents/{constituent_id}/emailaddresses"),
            f"reading the email addresses of constituent {constituent_id}",
            {"include_inactive": "true"},
        )
        return page.value

    async def add_email_address(self, body: Mapping[str, Any], what: str) -> str:
        return await self._create(f"{CONSTITUENT_API}/emailaddresses", body, what)

    async def edit_email_address(self, email_id: str, body: Mapping[str, Any], what: str) -> None:
        await self._patch(f"{CONSTITUENT_API}/emailaddresses/{email_id}", body, what)

    async def phones(self, constituent_id: str) -> list[PhoneRead]:
        """Every phone of a constituent, inactive ones included."""
        page = await self._get(
            PhoneList,
            self.url(f"{CONSTITUENT_API}/constituents/{constituent_id}/phones"),
            f"reading the phones of constituent {constituent_id}",
            {"include_inactive": "true"},
        )
        return page.value

    async def add_phone(self, body: Mapping[str, Any], what: str) -> str:
        return await self._create(f"{CONSTITUENT_API}/phones", body, what)

    async def edit_phone(self, phone_id: str, body: Mapping[str, Any], what: str) -> None:
        await self._patch(f"{CONSTITUENT_API}/phones/{phone_id}", body, what)

    async def add_address(self, body: Mapping[str, Any], what: str) -> str:
        return await self._create(f"{CONSTITUENT_API}/addresses", body, what)

    # ---- consents and solicit codes ----------------------------------------------------------
    async def consents(self, constituent_id: str) -> list[ConsentRead]:
        """The newest consent response per channel and category of a constituent."""
        page = await self._get(
            ConsentList,
            self.url(f"{COMMPREF_API}/constituents/{constituent_id}/consents"),
            f"reading the consents of constituent {constituent_id}",
            {"most_recent_only": "true"},
        )
        return page.value

    async def add_consent(self, body: Mapping[str, Any], what: str) -> str:
        return await self._create(f"{COMMPREF_API}/consent/consents", body, what)

    async def solicit_codes(self, constituent_id: str) -> list[SolicitCodeRead]:
        """The solicit codes of a constituent (past, current and future ones)."""
        page = await self._get(
            SolicitCodeList,
            self.url(f"{COMMPREF_API}/constituents/{constituent_id}/constituentsolicitcodes"),
            f"reading the solicit codes of constituent {constituent_id}",
        )
        return page.value

    async def add_solicit_code(self, body: Mapping[str, Any], what: str) -> str:
        return await self._create(f"{COMMPREF_API}/constituentsolicitcodes", body, what)

    async def edit_solicit_code(self, code_id: str, body: Mapping[str, Any], what: str) -> None:
        await self._patch(f"{COMMPREF_API}/constituentsolicitcodes/{code_id}", body, what)

    # ---- code tables -----------------------------------------------------------------------
    async def code_table(self, path: str) -> list[str]:
        """The entries of a code table (``/constituent/v1/emailaddresstypes``,
        ``/commpref/v1/solicitcodes``...), plain or ``{"description"}`` entries alike."""
        response = await self.call("GET", self.url(path), f"reading the code table {path}")
        try:
            body = response.json()
            values = body["value"]
        except (ValueError, KeyError, TypeError):
            raise TransientError(f"RE NXT: reading the code table {path}: unreadable") from None
        return [
            str(entry["description"]) if isinstance(entry, dict) else str(entry)
            for entry in values
            if entry is not None and (not isinstance(entry, dict) or "description" in entry)
        ]
