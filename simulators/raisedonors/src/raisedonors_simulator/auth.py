"""API clients and the legacy SDK's authentication: a daily realm token for bearer tokens.

An API client (key, secret, display name) authorizes with ``GET /oauth/authorize`` sending its
realm token, ``clientKey:`` + Base64(lower-case hex MD5 of ``"{key}:{secret}@{yyyy-MM-dd}"``)
for today's UTC date on the simulator clock, as the .NET SDK computes it. It gets an access
token valid for an hour of simulator time and a refresh token that ``POST /oauth/token``
trades, once, for a new pair.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from pydantic import SecretStr

from raisedonors_simulator.errors import InvalidFields, Unauthorized

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "ApiClient",
    "Authorizer",
    "TokenGrant",
    "realm_token",
]

ACCESS_TOKEN_LIFETIME: Final = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME: Final = timedelta(days=14)


def realm_token(client_key: str, client_secret: str, day: date) -> str:
    """The realm token of an API client on ``day`` (UTC), as the legacy .NET SDK makes it."""
    digest = hashlib.md5(  # the legacy API's scheme, not our choice of hash
        f"{client_key}:{client_secret}@{day:%Y-%m-%d}".encode(), usedforsecurity=False
    ).hexdigest()
    return f"{client_key}:{base64.b64encode(digest.lower().encode('ascii')).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class ApiClient:
    """An API client of the organization (System Settings > API): the sync signs in as one."""

    key: str
    secret: SecretStr
    name: str


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What ``/oauth/authorize`` and ``/oauth/token`` answer."""

    access_token: str
    refresh_token: str
    expires_in: int

    def to_json(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True, slots=True)
class _Issued:
    client_key: str
    expires_at: datetime


class Authorizer:
    """The API clients and the tokens given to them; tokens are drawn from a generator seeded
    with the simulator's seed, so a run replays with the same tokens."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._clients: dict[str, ApiClient] = {}
        self._access: dict[str, _Issued] = {}
        self._refresh: dict[str, _Issued] = {}
        # Access tokens by issue time (all live an hour): expired ones are dropped from the
        # front as new ones are issued, so the table does not grow with a long run.
        self._expiry: deque[tuple[datetime, str]] = deque()

    def reset(self, seed: int) -> None:
        """Forget every client and token; draw tokens from ``seed`` again."""
        self._rng.seed(seed)
        self._clients.clear()
        self._access.clear()
        self._refresh.clear()
        self._expiry.clear()

    # -- clients --

    def client_problems(self, key: str, secret: str, name: str) -> dict[str, list[str]]:
        """What is wrong with a new client's fields (empty when nothing is)."""
        problems: dict[str, list[str]] = {}
        if not key.strip() or ":" in key:
            problems["key"] = ["must be a non-empty key without ':'"]
        elif key in self._clients:
            problems["key"] = [f"an API client with key {key!r} already exists"]
        if not secret:
            problems["secret"] = ["must not be empty"]
        if not name.strip():
            problems["name"] = ["must not be empty: it names the client in recent activity"]
        return problems

    def add_client(self, key: str, secret: str | SecretStr, name: str) -> ApiClient:
        plain = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        problems = self.client_problems(key, plain, name)
        if problems:
            raise InvalidFields(problems)
        client = ApiClient(key, SecretStr(plain), name.strip())
        self._clients[key] = client
        return client

    def clients(self) -> list[ApiClient]:
        return list(self._clients.values())

    def live_tokens(self, client_key: str, now: datetime) -> int:
        return sum(
            1 for t in self._access.values() if t.client_key == client_key and t.expires_at > now
        )

    # -- tokens --

    def _token(self) -> str:
        return f"{self._rng.getrandbits(192):048x}"

    def _grant(self, client_key: str, now: datetime) -> TokenGrant:
        while self._expiry and self._expiry[0][0] <= now:
            self._access.pop(self._expiry.popleft()[1], None)
        access, refresh = self._token(), self._token()
        expires_at = now + ACCESS_TOKEN_LIFETIME
        self._access[access] = _Issued(client_key, expires_at)
        self._expiry.append((expires_at, access))
        self._refresh[refresh] = _Issued(client_key, now + REFRESH_TOKEN_LIFETIME)
        return TokenGrant(access, refresh, int(ACCESS_TOKEN_LIFETIME.total_seconds()))

    def _client(self, client_id: str | None) -> ApiClient:
        if not client_id:
            raise InvalidFields({"client_id": ["is required: the API client's key"]})
        client = self._clients.get(client_id)
        if client is None:
            raise Unauthorized(f"There is no API client with key {client_id!r}.")
        return client

    def authorize(
        self,
        client_id: str | None,
        grant_type: str | None,
        authorization: str | None,
        now: datetime,
    ) -> TokenGrant:
        """``GET /oauth/authorize``: a new token pair for a client whose realm token (the
        ``Authorization`` header) is right for today's UTC date."""
        if grant_type != "client_credentials":
            raise InvalidFields({"grant_type": [f"must be client_credentials, not {grant_type!r}"]})
        client = self._client(client_id)
        if not authorization:
            raise Unauthorized(
                "The Authorization header is missing: send the client's realm token, "
                "clientKey:Base64(md5(clientKey:clientSecret@yyyy-MM-dd UTC))."
            )
        expected = realm_token(client.key, client.secret.get_secret_value(), now.date())
        if authorization.strip() != expected:
            raise Unauthorized(
                f"The realm token for API client {client.key!r} is not valid for "
                f"{now.date():%Y-%m-%d} (UTC): it is made from the client key, the client "
                "secret and today's UTC date."
            )
        return self._grant(client.key, now)

    def refresh(
        self,
        client_id: str | None,
        grant_type: str | None,
        refresh_token: str | None,
        now: datetime,
    ) -> TokenGrant:
        """``POST /oauth/token``: trade a refresh token (once) for a new token pair."""
        if grant_type != "refresh_token":
            raise InvalidFields({"grant_type": [f"must be refresh_token, not {grant_type!r}"]})
        client = self._client(client_id)
        if not refresh_token:
            raise InvalidFields({"refresh_token": ["is required"]})
        issued = self._refresh.get(refresh_token)
        if issued is None or issued.client_key != client.key:
            raise Unauthorized(
                "The refresh token is not valid (unknown, already used or issued to another "
                "client); authorize again with the realm token."
            )
        del self._refresh[refresh_token]
        if issued.expires_at <= now:
            raise Unauthorized("The refresh token expired; authorize again with the realm token.")
        return self._grant(client.key, now)

    def client_of(self, authorization: str | None, now: datetime) -> ApiClient:
        """The API client a request's ``Authorization: Bearer <token>`` belongs to."""
        if not authorization:
            raise Unauthorized(
                "The Authorization header is missing: send Authorization: Bearer <access token> "
                "(from GET /oauth/authorize)."
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must be Bearer <access token>.")
        issued = self._access.get(token.strip())
        if issued is None:
            raise Unauthorized("The access token is not valid.")
        if issued.expires_at <= now:
            del self._access[token.strip()]
            raise Unauthorized(
                f"The access token expired at {issued.expires_at:%Y-%m-%dT%H:%M:%SZ}; refresh it "
                "(POST /oauth/token) or authorize again."
            )
        return self._clients[issued.client_key]
