"""An async client of the Virtuous CRM+ API, on the engine's HTTP client.

**Signing in.** With ``api_key`` every request carries the key as a bearer token. With a user,
``POST /Token`` (``grant_type=password``) gives an access token for 15 days and a refresh token;
the client refreshes shortly before the access token expires (``grant_type=refresh_token``), and
signs in again if the refresh token is refused or a request answers 401 (a revoked token). Two
users the sync cannot sign in as are told apart, with the seed's advice, as a
:class:`LoginRefused` (a :class:`PermanentError`): a user with two-factor authentication (Virtuous
answers 202 and asks for the one-time code) and a user under WorkOS single sign-on.

**The hourly limit.** Virtuous allows an organization a number of requests an hour (5,000 in the
current documentation, 1,500 on an older page: ``rate_limit_per_hour``) and reports what is left
in ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` on every answer. :class:`RequestPacer`
keeps the client under it: it never sends more than the limit within an hour itself, and when
the organization's remaining requests run low (other integrations share them) it spreads what is
left over the time until the reset, waiting until the reset once nothing is left. A 429 still
gets through (another client spent the budget): it becomes a :class:`TransientError` with the
``Retry-After`` Virtuous sent, which the engine's retry policy waits out.

**Errors.** Virtuous answers errors as ``{"message": "..."}``. 5xx (and 408/425) become
:class:`TransientError`; a 400 about a record becomes :class:`RecordRefused` (a
:class:`PermanentError` the sink turns into a rejection of that record); other 4xx a
:class:`PermanentError` naming what was being done. No retry loops here besides the one
re-sign-in a token protocol needs: the engine retries.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import anyio
import httpx
import orjson
from pydantic import ValidationError

from syncframe.clock import Clock
from syncframe.components import ComponentContext, PermanentError, TransientError
from syncframe_raisedonors_virtuous.virtuous_models import Tokens
from syncframe_raisedonors_virtuous.virtuous_settings import VirtuousSettings

__all__ = [
    "LoginRefused",
    "RecordRefused",
    "RequestPacer",
    "VirtuousClient",
    "message_of",
    "virtuous_client_for",
]

log = logging.getLogger("syncframe.virtuous")

HOUR: Final = timedelta(hours=1)
#: Refresh the access token this long before Virtuous says it expires.
REFRESH_MARGIN: Final = timedelta(minutes=5)
#: Below this share of the hourly limit left, requests are spread over the rest of the hour.
LOW_WATER_SHARE: Final = 0.1
_TRANSIENT_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504, 520})

TWO_FACTOR_ADVICE: Final = (
    "Create a dedicated Virtuous CRM+ user without two-factor authentication for the sync "
    "(not a person's own account, so that the sync is not interrupted when someone changes "
    "their password) and give its username and password."
)
SSO_ADVICE: Final = (
    "Create a new Virtuous CRM+ user for the sync with an email address in a domain other than "
    "the one configured for WorkOS SSO, so that the user is not set up to use SSO (and without "
    "two-factor authentication), and give its username and password."
)
_SSO_WORDS: Final = ("single sign-on", "single sign on", "sso", "workos")


class LoginRefused(PermanentError):
    """Virtuous would not let the sync sign in (a wrong password, a 2FA or SSO user, a revoked
    API key). The message names the user and says what to do; it never holds a secret."""


class RecordRefused(PermanentError):
    """Virtuous refused one record's data (HTTP 400): a problem of that record only."""


def message_of(response: httpx.Response) -> str:
    """What Virtuous said: ``message`` (or OAuth's ``error_description``), else the text."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:300].strip()
    if isinstance(body, dict):
        for key in ("message", "Message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return response.text[:300].strip()


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class RequestPacer:
    """Keeps one client under the organization's hourly request limit.

    Two budgets: the client's own (never more than ``limit`` requests in any hour, counted
    here) and the organization's (what ``X-RateLimit-Remaining`` says is left until
    ``X-RateLimit-Reset``, shared with every other client of the organization). When the
    organization's remaining requests fall under a tenth of the limit, each request waits the
    time left until the reset divided by the requests left, so the budget lasts the hour;
    with none left it waits for the reset. Waiting uses ``sleep``; times come from ``clock``.
    """

    def __init__(
        self,
        limit: int,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("the hourly limit must be at least 1")
        self.limit = limit
        self.clock = clock
        self._sleep = sleep
        self._sent: deque[datetime] = deque()
        self.remaining: int | None = None
        self.reset_at: datetime | None = None
        self._lock = anyio.Lock()
        #: Seconds waited so far, in order (for diagnostics and tests).
        self.waits: list[float] = []

    def wait_needed(self) -> float:
        """Seconds the next request must wait (0: it may go now)."""
        now = self.clock.now()
        while self._sent and self._sent[0] <= now - HOUR:
            self._sent.popleft()
        wait = 0.0
        if len(self._sent) >= self.limit:
            wait = (self._sent[len(self._sent) - self.limit] + HOUR - now).total_seconds()
        if self.remaining is not None and self.reset_at is not None and now < self.reset_at:
            until_reset = (self.reset_at - now).total_seconds()
            if self.remaining <= 0:
                wait = max(wait, until_reset)
            elif self.remaining < max(1, self.limit * LOW_WATER_SHARE):
                wait = max(wait, until_reset / (self.remaining + 1))
        return max(0.0, wait)

    async def before_request(self) -> None:
        """Wait until a request may go, and count it."""
        async with self._lock:
            wait = self.wait_needed()
            if wait > 0:
                log.info("Virtuous CRM+ hourly request limit: waiting %.1f s", wait)
                self.waits.append(wait)
                await self._sleep(wait)
            self._sent.append(self.clock.now())
            if self.remaining is not None:
                self.remaining -= 1  # until the answer says what is really left

    def observe(self, response: httpx.Response) -> None:
        """Learn the organization's budget from an answer's X-RateLimit-* headers.

        A 429 is not learnt from: its Retry-After is the engine's to wait out, and by the time
        the request is tried again the next answer tells the truth.
        """
        if response.status_code == 429:
            return
        limit = _header_int(response, "X-RateLimit-Limit")
        remaining = _header_int(response, "X-RateLimit-Remaining")
        reset = _header_int(response, "X-RateLimit-Reset")
        if limit is not None and limit >= 1:
            self.limit = min(self.limit, limit)
        if remaining is not None:
            self.remaining = max(0, remaining)
        if reset is not None:
            self.reset_at = datetime.fromtimestamp(reset, UTC)


class VirtuousClient:
    """The calls the sync makes to Virtuous CRM+, signed in as its user (or with its API key)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: VirtuousSettings,
        clock: Clock,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._http = http
        self.settings = settings
        self.clock = clock
        self.base_url = settings.base_url
        self.pacer = RequestPacer(settings.rate_limit_per_hour, clock, sleep)
        self._access_token: str | None = None
        self._refresh_token: str | None = None
        self._expires_at: datetime | None = None
        self._login_lock = anyio.Lock()

    # ---- signing in --------------------------------------------------------------------------
    @property
    def who(self) -> str:
        """How the client signs in, for messages: the user's name or "the API key"."""
        if self.settings.username is not None:
            return f"user {self.settings.username!r}"
        return "the API key"

    async def login(self) -> None:
        """Sign in as the sync user (``POST /Token``, password grant); nothing with an API key.

        Raises :class:`LoginRefused` for a wrong password, a user with two-factor
        authentication or a user under WorkOS SSO, each with what to do about it.
        """
        if self.settings.uses_api_key:
            return
        password, username = self.settings.password, self.settings.username
        # The settings allow a user only with its password.
        assert password is not None
        assert username is not None
        response = await self._token(
            {
                "grant_type": "password",
                "username": username,
                "password": password.get_secret_value(),
            },
            "signing in to Virtuous CRM+",
        )
        self._take_tokens(self._read_tokens(response, "signing in to Virtuous CRM+"))

    async def _refresh(self) -> None:
        """A new access token from the refresh token; signs in again if it is refused."""
        if self._refresh_token is None:
            await self.login()
            return
        response = await self._token(
            {"grant_type": "refresh_token", "refresh_token": self._refresh_token},
            "refreshing the Virtuous CRM+ access token",
            refusing=False,
        )
        if response.status_code in (400, 401):
            log.info("Virtuous CRM+ refused the refresh token of %s: signing in again", self.who)
            await self.login()
            return
        self._take_tokens(self._read_tokens(response, "refreshing the access token"))

    async def _token(
        self, form: Mapping[str, str], what: str, *, refusing: bool = True
    ) -> httpx.Response:
        await self.pacer.before_request()
        response = await self._http.post(f"{self.base_url}/Token", data=dict(form))
        self.pacer.observe(response)
        if response.status_code == 202:
            raise LoginRefused(
                f"Virtuous CRM+ asks {self.who} for a two-factor code (OTP): the sync cannot "
                f"sign in as a user with two-factor authentication. {TWO_FACTOR_ADVICE}"
            )
        if response.status_code in (400, 401) and refusing:
            said = message_of(response)
            if any(word in said.lower() for word in _SSO_WORDS):
                raise LoginRefused(
                    f"Virtuous CRM+ says {self.who} signs in with single sign-on (WorkOS SSO): "
                    f"the sync cannot sign in as an SSO user ({said}). {SSO_ADVICE}"
                )
            raise LoginRefused(
                f"Virtuous CRM+ refused the login of {self.who}: {said}. Check username and "
                "password (use a dedicated sync user, so that nobody's password change stops "
                "the sync)."
            )
        if response.status_code not in (400, 401):
            self._raise_for(response, what)
        return response

    def _read_tokens(self, response: httpx.Response, what: str) -> Tokens:
        try:
            return Tokens.model_validate_json(response.content)
        except ValidationError as exc:
            if response.content.strip().startswith(b"{") and not _complete_json(response):
                raise TransientError(f"{what}: the answer was cut off") from None
            # Named by field only: the answer may hold a token, which must not reach a message.
            problems = "; ".join(
                f"{'.'.join(str(step) for step in error['loc']) or 'body'}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)
            )
            raise PermanentError(f"{what}: unexpected answer ({problems})") from None

    def _take_tokens(self, tokens: Tokens) -> None:
        if tokens.token_type.lower() != "bearer":
            raise PermanentError(
                f"Virtuous CRM+ gave a {tokens.token_type!r} token; the sync needs a bearer one"
            )
        self._access_token = tokens.access_token
        self._refresh_token = tokens.refresh_token or self._refresh_token
        self._expires_at = self.clock.now() + timedelta(seconds=tokens.expires_in)

    async def _bearer(self) -> str:
        """The token for the next request, signing in or refreshing first when needed."""
        if self.settings.api_key is not None:
            return self.settings.api_key.get_secret_value()
        async with self._login_lock:
            if self._access_token is None:
                await self.login()
            elif self._expires_at is not None and (
                self.clock.now() >= self._expires_at - REFRESH_MARGIN
            ):
                await self._refresh()
            assert self._access_token is not None
            return self._access_token

    async def _signed_in_again(self, stale: str) -> None:
        """After a 401: a new token, unless another request already got one."""
        async with self._login_lock:
            if self._access_token == stale:
                self._access_token = None
                await self.login()

    # ---- requests ----------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        """Send a request signed in (paced under the hourly limit) and return the answer, or
        raise the error it means. ``what`` says what was being done, for messages."""
        for attempt in (1, 2):
            token = await self._bearer()
            await self.pacer.before_request()
            response = await self._http.request(
                method,
                f"{self.base_url}{path}",
                json=json,
                params=dict(params) if params else None,
                headers={"Authorization": f"Bearer {token}"},
            )
            self.pacer.observe(response)
            if response.status_code == 401 and attempt == 1 and not self.settings.uses_api_key:
                # A revoked or expired token: sign in once more and try again.
                await self._signed_in_again(token)
                continue
            self._raise_for(response, what)
            return response
        raise AssertionError("unreachable: the second try returns or raises")  # pragma: no cover

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if response.is_success:
            return
        said = message_of(response)
        message = f"{what}: HTTP {status}" + (f": {said}" if said else "")
        if status == 429:
            raise TransientError(
                f"{what}: Virtuous CRM+'s hourly request limit is used up (HTTP 429)"
                + (f": {said}" if said else ""),
                retry_after=_retry_after(response),
            )
        if status in _TRANSIENT_STATUS or status >= 500:
            raise TransientError(message, retry_after=_retry_after(response))
        if status == 400:
            raise RecordRefused(message)
        if status == 401:
            if self.settings.uses_api_key:
                raise LoginRefused(
                    f"{what}: Virtuous CRM+ refused the API key (HTTP 401): {said}. Create a new "
                    "key under Settings > API Keys, or use a dedicated sync user."
                )
            raise LoginRefused(f"{what}: Virtuous CRM+ refused {self.who}'s token twice: {said}")
        if status == 403:
            raise PermanentError(
                f"{message}. The sync's Virtuous CRM+ user lacks the permission for this."
            )
        raise PermanentError(message)

    # ---- calls -------------------------------------------------------------------------------
    async def check(self) -> None:
        """Sign in and make one authenticated call (the webhook list): the address and the
        credentials work."""
        await self.login()
        await self.webhooks()

    async def webhooks(self) -> list[dict[str, Any]]:
        """The organization's webhooks (Settings > Connectivity > Webhooks)."""
        response = await self.request("GET", "/api/Webhook", "listing Virtuous CRM+ webhooks")
        body = _json(response, "listing Virtuous CRM+ webhooks")
        items = body.get("list", body.get("items")) if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise PermanentError(f"listing Virtuous CRM+ webhooks: unexpected answer {body!r}")
        return [item for item in items if isinstance(item, dict)]

    async def create_webhook(self, url: str, events: Sequence[str], secret: str) -> dict[str, Any]:
        """Register a webhook (Settings > Connectivity > Webhooks) signed with ``secret``."""
        what = f"registering the Virtuous CRM+ webhook for {url}"
        body = {"url": url, "events": list(events), "secret": secret, "name": "syncframe"}
        answer = _json(await self.request("POST", "/api/Webhook", what, json=body), what)
        if not isinstance(answer, dict):
            raise PermanentError(f"{what}: unexpected answer {answer!r}")
        return answer

    async def contact_transaction(self, transaction: Mapping[str, Any], what: str) -> None:
        """Send a contact to the import tool (``POST /api/Contact/Transaction``): it waits in
        holding until the nightly bundle is imported by a user."""
        await self.request("POST", "/api/Contact/Transaction", what, json=dict(transaction))

    async def gift_transaction(self, transaction: Mapping[str, Any], what: str) -> None:
        """Send a gift with its contact to the import tool (``POST /api/v2/Gift/Transaction``)."""
        await self.request("POST", "/api/v2/Gift/Transaction", what, json=dict(transaction))


def virtuous_client_for(context: ComponentContext) -> VirtuousClient:
    """A Virtuous CRM+ client on the engine's HTTP client for the component's connection."""
    settings = context.connection
    if not isinstance(settings, VirtuousSettings):
        raise PermanentError(f"connection {context.connection_name!r} is not a Virtuous CRM+ one")
    return VirtuousClient(context.http(), settings, context.clock)


def _complete_json(response: httpx.Response) -> bool:
    try:
        orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    return True


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        # A body cut off in the middle (a dropped connection, a proxy): worth another try.
        raise TransientError(f"{what}: the answer was not complete JSON") from None
