"""An async client of the Legacy RaiseDonors API, on the engine's HTTP client.

Authentication is the legacy SDK's: the API client's key and a *realm token* (the key, a colon
and Base64 of the lower-case hex MD5 of ``"{key}:{secret}@{yyyy-MM-dd}"``, the date in UTC)
open ``GET /oauth/authorize``, which answers a bearer token and a refresh token. The secret
itself is never sent, and neither it, the realm token nor a bearer token ever appears in a
message. A 401 from the API refreshes the token (or, if the refresh is refused, authorizes
again) and repeats the call once; a second 401 is :class:`AuthenticationRefused`.

Errors are RFC 7807 ProblemDetails. They become the engine's error kinds, carrying the
problem's detail (which names the donor or the field): 429, 408, 425 and 5xx are
:class:`~syncframe.components.TransientError` with the Retry-After the server sent; other 4xx are
:class:`RaiseDonorsProblem` (a :class:`~syncframe.components.PermanentError`), with subclasses
for what a caller handles (:class:`NotFound`, :class:`DuplicateEmail`). An answer that is not
valid JSON (cut off mid-way) is transient. No retry loops here: the engine retries.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from syncframe.clock import Clock
from syncframe.components import ComponentContext, PermanentError, TransientError
from syncframe_raisedonors_virtuous.raisedonors_models import (
    ActivityPage,
    Donor,
    DonorPage,
    IntegrationSettings,
    Tokens,
)
from syncframe_raisedonors_virtuous.raisedonors_settings import RaiseDonorsSettings

__all__ = [
    "AuthenticationRefused",
    "DuplicateEmail",
    "NotFound",
    "RaiseDonorsClient",
    "RaiseDonorsProblem",
    "client_for",
    "realm_token",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

_TRANSIENT: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
#: A token this close to its end is renewed before use rather than after a 401.
_EARLY_RENEWAL: Final = timedelta(seconds=60)


class RaiseDonorsProblem(PermanentError):
    """RaiseDonors refused a request (a 4xx ProblemDetails); the message says what was being
    done and RaiseDonors' detail, which names the donor or field."""

    def __init__(
        self,
        what: str,
        status: int,
        title: str | None,
        detail: str | None,
        errors: Mapping[str, Any] | None = None,
    ) -> None:
        self.what = what
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = dict(errors or {})
        super().__init__(f"{what}: {self.problem}")

    @property
    def problem(self) -> str:
        """RaiseDonors' own words: the detail (or title), each field error, and the status."""
        text = self.detail or self.title or "no detail given"
        for field, messages in self.errors.items():
            shown = messages if isinstance(messages, str) else "; ".join(map(str, messages))
            if shown not in text:  # ASP.NET often repeats the field errors in the detail
                text += f"; {field}: {shown}"
        return f"{text} (HTTP {self.status})"


class AuthenticationRefused(RaiseDonorsProblem):
    """The API client's key and secret were refused (or a renewed token was refused again)."""


class NotFound(RaiseDonorsProblem):
    """404: no such donor (or route)."""


class DuplicateEmail(RaiseDonorsProblem):
    """409: the email belongs to another donor (emails are unique in RaiseDonors)."""


def realm_token(client_key: str, client_secret: str, day: datetime) -> str:
    """The legacy SDK's realm token for ``day`` (its UTC date counts)."""
    stamp = day.astimezone(UTC).strftime("%Y-%m-%d")
    # MD5 is the legacy SDK's scheme, not our choice (usedforsecurity: it only derives a token).
    seed = f"{client_key}:{client_secret}@{stamp}".encode()
    digest = hashlib.md5(seed, usedforsecurity=False).hexdigest().lower()
    return f"{client_key}:" + base64.b64encode(digest.encode("ascii")).decode("ascii")


def _problem_of(response: httpx.Response) -> tuple[str | None, str | None, dict[str, Any]]:
    """Title, detail and field errors of a ProblemDetails answer (or of whatever came)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:300]
        return None, text or None, {}
    if not isinstance(body, dict):
        return None, str(body)[:300], {}
    errors = body.get("errors")
    title, detail = body.get("title"), body.get("detail")
    return (
        str(title) if title is not None else None,
        str(detail) if detail is not None else (str(body["error"]) if "error" in body else None),
        errors if isinstance(errors, dict) else {},
    )


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Seconds the server asked us to wait: Retry-After in seconds or as an HTTP date."""
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


class RaiseDonorsClient:
    """The calls the sync makes to Legacy RaiseDonors, signed in as one API client."""

    def __init__(self, http: httpx.AsyncClient, settings: RaiseDonorsSettings, clock: Clock):
        self._http = http
        self._settings = settings
        self._clock = clock
        self._base = settings.base_url.rstrip("/")
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at: datetime | None = None
        self._lock = anyio.Lock()

    @property
    def page_size(self) -> int:
        """Records asked for per list call."""
        return self._settings.page_size

    # ---- the calls -----------------------------------------------------------------------------
    async def authorize(self) -> None:
        """Sign in (again) as the API client: a fresh bearer token."""
        async with self._lock:
            await self._authorize()

    async def integration_settings(self) -> IntegrationSettings:
        """System Settings > Integrations > Virtuous CRM+ Sync."""
        what = "reading the Virtuous CRM+ Sync integration settings"
        response = await self._call("GET", "/api/Integration/Virtuous", what)
        return self._read(response, IntegrationSettings, what)

    async def update_integration_settings(self, **values: Any) -> IntegrationSettings:
        """Change System Settings > Integrations > Virtuous CRM+ Sync ("Update Settings"):
        ``authorizedUser``, ``syncProjects``, ``syncContacts``; others keep their value."""
        what = "updating the Virtuous CRM+ Sync integration settings"
        response = await self._call("PUT", "/api/Integration/Virtuous", what, json=values)
        return self._read(response, IntegrationSettings, what)

    async def activity(self, since_id: int, take: int) -> ActivityPage:
        """Recent activity after ``since_id``, oldest first, at most ``take`` items."""
        what = f"reading recent activity after id {since_id}"
        response = await self._call(
            "GET", "/api/Activity/list", what, params={"SinceId": since_id, "Take": take}
        )
        return self._read(response, ActivityPage, what)

    async def donor_activity(self, donor_id: int, take: int = 500) -> ActivityPage:
        """The oldest ``take`` activity items of one donor (the donor overview's history)."""
        what = f"reading the recent activity of donor {donor_id}"
        response = await self._call(
            "GET",
            "/api/Activity/list",
            what,
            params={"SinceId": 0, "Take": take, "DonorId": donor_id},
        )
        return self._read(response, ActivityPage, what)

    async def donor(self, donor_id: int) -> Donor | None:
        """Donor ``donor_id``, or ``None`` if there is none."""
        what = f"reading donor {donor_id}"
        try:
            response = await self._call("GET", f"/api/Donor/{donor_id}", what)
        except NotFound:
            return None
        return self._read(response, Donor, what)

    async def search_donors(self, text: str) -> list[Donor]:
        """Donors whose id, names, email, phone or postal code match ``text``."""
        what = f"searching donors for {text!r}"
        response = await self._call("GET", "/api/Donor/search", what, params={"filter": text})
        return self._read(response, DonorPage, what).items

    async def list_donors(self, skip: int, take: int) -> DonorPage:
        """A page of every donor, oldest first."""
        what = f"listing donors from {skip}"
        params = {"Skip": skip, "Take": take, "SortBy": "createdDateTime", "Descending": "false"}
        response = await self._call("GET", "/api/Donor/list", what, params=params)
        return self._read(response, DonorPage, what)

    async def update_donor(self, donor_id: int, body: Mapping[str, Any]) -> Donor:
        """PATCH the given fields of donor ``donor_id``; the donor as it is now."""
        what = f"updating donor {donor_id}"
        response = await self._call("PATCH", f"/api/Donor/{donor_id}", what, json=dict(body))
        return self._read(response, Donor, what)

    async def create_donor(self, body: Mapping[str, Any]) -> Donor:
        """Create a donor (``email`` required); :class:`DuplicateEmail` if the email is taken."""
        what = f"creating a donor with email {body.get('email')!r}"
        response = await self._call("POST", "/api/Donor", what, json=dict(body))
        return self._read(response, Donor, what)

    # ---- plumbing ------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        token = await self._token()
        response = await self._send(method, path, token, params, json)
        if response.status_code == 401:
            # Expired or revoked: renew once (refresh, else authorize again) and repeat.
            token = await self._renew(token)
            response = await self._send(method, path, token, params, json)
            if response.status_code == 401:
                title, detail, errors = _problem_of(response)
                raise AuthenticationRefused(what, 401, title, detail, errors)
        self._check(response, what)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, Any] | None,
        body: Any,
    ) -> httpx.Response:
        return await self._http.request(
            method,
            self._base + path,
            params=dict(params) if params else None,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def _check(self, response: httpx.Response, what: str) -> None:
        """Raise the error kind an unsuccessful answer stands for."""
        status = response.status_code
        if response.is_success:
            return
        title, detail, errors = _problem_of(response)
        if status in _TRANSIENT or status >= 500:
            raise TransientError(
                f"{what}: HTTP {status}" + (f": {detail or title}" if detail or title else ""),
                retry_after=_retry_after(response, self._clock.now()),
            )
        kind: type[RaiseDonorsProblem] = {
            401: AuthenticationRefused,
            403: AuthenticationRefused,
            404: NotFound,
            409: DuplicateEmail,
        }.get(status, RaiseDonorsProblem)
        raise kind(what, status, title, detail, errors)

    def _read(self, response: httpx.Response, model: type[ModelT], what: str) -> ModelT:
        """The answer's JSON as ``model``: cut-off JSON is transient, a wrong shape is not."""
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            errors = exc.errors()
            if any(e["type"] == "json_invalid" for e in errors):
                raise TransientError(
                    f"{what}: RaiseDonors answered HTTP {response.status_code} with a body that "
                    f"is not valid JSON ({len(response.content)} bytes; cut off?)"
                ) from None
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in errors[:5]
            )
            raise PermanentError(
                f"{what}: RaiseDonors' answer is not a {model.__name__}: {problems}"
            ) from None

    # ---- tokens --------------------------------------------------------------------------------
    async def _token(self) -> str:
        async with self._lock:
            if self._access is None:
                await self._authorize()
            elif self._expires_at is not None and self._clock.now() >= self._expires_at:
                await self._refresh_or_authorize()
            assert self._access is not None
            return self._access

    async def _renew(self, refused: str) -> str:
        async with self._lock:
            if self._access == refused:  # nobody renewed it meanwhile
                await self._refresh_or_authorize()
            assert self._access is not None
            return self._access

    async def _refresh_or_authorize(self) -> None:
        if self._refresh is not None:
            try:
                await self._refresh_token(self._refresh)
                return
            except AuthenticationRefused:
                pass  # the refresh token is spent or revoked: sign in again
        await self._authorize()

    async def _authorize(self) -> None:
        settings = self._settings
        key = settings.client_key
        realm = realm_token(key, settings.client_secret.get_secret_value(), self._clock.now())
        what = f"authorizing API client {key!r}"
        response = await self._http.get(
            self._base + "/oauth/authorize",
            params={"client_id": key, "grant_type": "client_credentials"},
            headers={"Authorization": realm, "Accept": "application/json"},
        )
        self._take_tokens(response, what, sign_in=True)

    async def _refresh_token(self, refresh: str) -> None:
        what = f"refreshing the token of API client {self._settings.client_key!r}"
        response = await self._http.post(
            self._base + "/oauth/token",
            params={
                "client_id": self._settings.client_key,
                "grant_type": "refresh_token",
                "refresh_token": refresh,
            },
            headers={"Accept": "application/json"},
        )
        self._take_tokens(response, what, sign_in=False)

    def _take_tokens(self, response: httpx.Response, what: str, *, sign_in: bool) -> None:
        """Keep the tokens of an authorize or refresh answer (or raise what it stands for)."""
        status = response.status_code
        if status in (400, 401, 403):
            title, detail, errors = _problem_of(response)
            if sign_in:
                what = (
                    f"RaiseDonors refused API client {self._settings.client_key!r} ({what}); "
                    "check client_key and client_secret, and that the API client is active"
                )
            raise AuthenticationRefused(what, status, title, detail, errors)
        self._check(response, what)
        tokens = self._read(response, Tokens, what)
        self._access = tokens.access_token
        self._refresh = tokens.refresh_token
        lifetime = timedelta(seconds=tokens.expires_in)
        # Renewed a little early, so a call is not refused mid-way (never earlier than halfway).
        self._expires_at = self._clock.now() + lifetime - min(_EARLY_RENEWAL, lifetime / 2)


def client_for(context: ComponentContext) -> RaiseDonorsClient:
    """A RaiseDonors client on the engine's HTTP client and clock for the component's connection."""
    settings = context.connection
    if not isinstance(settings, RaiseDonorsSettings):
        raise PermanentError(
            f"connection {context.connection_name!r} is not a Legacy RaiseDonors one "
            "(system raisedonors)"
        )
    return RaiseDonorsClient(context.http(), settings, context.clock)
