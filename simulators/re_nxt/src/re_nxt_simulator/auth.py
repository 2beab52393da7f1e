"""SKY API authorization: OAuth 2.0 applications and tokens, and subscription keys.

Imitates ``https://oauth2.sky.blackbaud.com``: ``GET /authorization`` (the consent page; here the
user always consents at once and is redirected back with a code) and ``POST /token`` with
``grant_type=authorization_code`` or ``refresh_token``, the client identified by
``client_id``/``client_secret`` form fields or HTTP Basic. Access tokens last
``access_token_lifetime`` seconds (60 minutes by default), refresh tokens 365 days; a refresh
gives a new refresh token and retires the old one unless ``preserve_refresh_token=true``.

Every API call needs a valid subscription key (``Bb-Api-Subscription-Key`` header, or the
``subscription-key`` query parameter) and ``Authorization: Bearer <access token>``. Tokens here
are opaque random strings (the real ones are JWTs a client should not read either), drawn from
the simulator's seed so a run is repeatable. Times come from the simulator clock.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from pydantic import SecretStr

from re_nxt_simulator.errors import GatewayError, OAuthError
from re_nxt_simulator.records import iso
from syncframe.clock import Clock

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URI",
    "DEFAULT_SUBSCRIPTION_KEY",
    "ENVIRONMENT_ID",
    "AccessToken",
    "Application",
    "SkyAuth",
    "TokenGrant",
]

#: The application and subscription key a fresh simulator knows.
DEFAULT_CLIENT_ID: Final = "syncframe-app"
DEFAULT_CLIENT_SECRET: Final = "syncframe-app-secret"
DEFAULT_REDIRECT_URI: Final = "http://localhost:5000/auth/callback"
DEFAULT_SUBSCRIPTION_KEY: Final = "syncframe-subscription-key"
#: The one environment (database) the simulator has, and who authorizes applications.
ENVIRONMENT_ID: Final = "p-SyncframeSimulatedEnv01"
ENVIRONMENT_NAME: Final = "Syncframe Simulated Environment"
LEGAL_ENTITY_ID: Final = "p-SyncframeLegalEntity001"
LEGAL_ENTITY_NAME: Final = "Syncframe Charity"
USER: Final = {
    "user_id": "5a1c1f5e-6c3b-4d7e-9f10-2b3c4d5e6f70",
    "email": "api.user@example.org",
    "given_name": "Api",
    "family_name": "User",
}

REFRESH_TOKEN_LIFETIME: Final = timedelta(days=365)
AUTHORIZATION_CODE_LIFETIME: Final = timedelta(minutes=5)

_MISSING_KEY: Final = (
    "Access denied due to missing subscription key. Make sure to include subscription key when "
    "making requests to an API."
)
_INVALID_KEY: Final = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an "
    "active subscription."
)
_BAD_TOKEN: Final = "Unauthorized. Access token is missing or invalid."


@dataclass(slots=True)
class Application:
    """A SKY application registered for the environment."""

    client_id: str
    client_secret: SecretStr
    redirect_uris: tuple[str, ...]
    name: str


@dataclass(slots=True)
class AccessToken:
    token: str
    client_id: str
    expires_at: datetime


@dataclass(slots=True)
class _Issued:
    """An authorization code or a refresh token: who it is for and until when."""

    client_id: str
    expires_at: datetime
    redirect_uri: str | None = None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What ``POST /token`` answers."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_token_expires_in: int

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_in": self.refresh_token_expires_in,
            "environment_id": ENVIRONMENT_ID,
            "environment_name": ENVIRONMENT_NAME,
            "legal_entity_id": LEGAL_ENTITY_ID,
            "legal_entity_name": LEGAL_ENTITY_NAME,
            **USER,
            "mode": "Full",
        }


class SkyAuth:
    """The applications, subscription keys and tokens of one simulator."""

    def __init__(self, clock: Clock, *, seed: int = 0, access_token_lifetime: int = 3600) -> None:
        self.clock = clock
        self._seed = seed
        self.access_token_lifetime = access_token_lifetime
        self.reset()

    def reset(self) -> None:
        """Forget every application, key and token, and restart the token generator."""
        self._rng = random.Random(f"sky-auth-{self._seed}")
        self.applications: dict[str, Application] = {}
        self.subscription_keys: set[str] = set()
        self._codes: dict[str, _Issued] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, _Issued] = {}

    @property
    def access_token_lifetime(self) -> int:
        """Seconds an access token is good for."""
        return self._lifetime

    @access_token_lifetime.setter
    def access_token_lifetime(self, seconds: int) -> None:
        if seconds < 1:
            raise ValueError(f"access_token_lifetime must be at least 1 second, not {seconds}")
        self._lifetime = seconds

    def _random(self, bits: int = 256) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    # ---- registration (admin) -----------------------------------------------------------------

    def add_application(
        self, client_id: str, client_secret: str, redirect_uris: tuple[str, ...], name: str = ""
    ) -> Application:
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret must not be empty")
        app = Application(client_id, SecretStr(client_secret), redirect_uris, name or client_id)
        self.applications[client_id] = app
        return app

    def add_subscription_key(self, key: str) -> None:
        if not key:
            raise ValueError("a subscription key must not be empty")
        self.subscription_keys.add(key)

    # ---- the OAuth server -----------------------------------------------------------------------

    def authorize(self, client_id: str, redirect_uri: str | None, state: str | None) -> str:
        """The user consented for ``client_id``: the URL the browser is sent back to, with a
        single-use authorization code."""
        app = self.applications.get(client_id)
        if app is None:
            raise OAuthError("invalid_request", f"client_id {client_id!r} is not an application")
        target = redirect_uri or (app.redirect_uris[0] if app.redirect_uris else None)
        if target is None or target not in app.redirect_uris:
            raise OAuthError(
                "invalid_request",
                f"redirect_uri {redirect_uri!r} is not one of application {client_id!r}'s "
                f"redirect URIs ({', '.join(app.redirect_uris) or 'none'})",
            )
        code = self._random(128)
        self._codes[code] = _Issued(
            client_id, self.clock.now() + AUTHORIZATION_CODE_LIFETIME, redirect_uri=target
        )
        query = {"code": code, **({"state": state} if state is not None else {})}
        return f"{target}{'&' if '?' in target else '?'}{urlencode(query)}"

    def _client(self, form: Mapping[str, str], authorization: str | None) -> Application:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(
                    "invalid_client", "the Basic credentials are not base64", 401
                ) from None
            client_id, _, secret = decoded.partition(":")
        if not client_id:
            raise OAuthError("invalid_client", "client_id is missing", 401)
        app = self.applications.get(client_id)
        if app is None or secret != app.client_secret.get_secret_value():
            raise OAuthError("invalid_client", "unknown client_id or wrong client_secret", 401)
        return app

    def token(self, form: Mapping[str, str], authorization: str | None = None) -> TokenGrant:
        """``POST /token``: an authorization code or a refresh token exchanged for tokens."""
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(
                "unsupported_grant_type",
                f"grant_type {grant_type!r} is not authorization_code or refresh_token",
            )
        app = self._client(form, authorization)
        now = self.clock.now()
        if grant_type == "authorization_code":
            code = form.get("code", "")
            issued = self._codes.pop(code, None)
            if issued is None or issued.expires_at <= now or issued.client_id != app.client_id:
                raise OAuthError("invalid_grant", "the authorization code is invalid or expired")
            if form.get("redirect_uri") not in (None, issued.redirect_uri):
                raise OAuthError("invalid_grant", "redirect_uri differs from the authorization's")
            return self.issue(app.client_id)
        token = form.get("refresh_token", "")
        held = self._refresh.get(token)
        if held is None or held.expires_at <= now or held.client_id != app.client_id:
            raise OAuthError("invalid_grant", "the refresh token is invalid, expired or revoked")
        if form.get("preserve_refresh_token", "").lower() == "true":
            return self._grant(app.client_id, token, held)
        del self._refresh[token]
        return self.issue(app.client_id)

    def issue(self, client_id: str) -> TokenGrant:
        """Fresh tokens for an application, as if the user had just authorized it."""
        if client_id not in self.applications:
            raise ValueError(f"client_id {client_id!r} is not an application")
        refresh = self._random()
        held = _Issued(client_id, self.clock.now() + REFRESH_TOKEN_LIFETIME)
        self._refresh[refresh] = held
        return self._grant(client_id, refresh, held)

    def _grant(self, client_id: str, refresh: str, held: _Issued) -> TokenGrant:
        now = self.clock.now()
        access = self._random()
        self._access[access] = AccessToken(
            access, client_id, now + timedelta(seconds=self._lifetime)
        )
        # Expired access tokens are dropped as new ones are issued, so a long run stays small.
        for stale in [t for t, a in self._access.items() if a.expires_at <= now]:
            del self._access[stale]
        return TokenGrant(
            access_token=access,
            refresh_token=refresh,
            expires_in=self._lifetime,
            refresh_token_expires_in=int((held.expires_at - now).total_seconds()),
        )

    def revoke(self, client_id: str) -> int:
        """The application was disconnected from the environment: every token of it stops
        working. Returns how many were revoked."""
        access = [t for t, a in self._access.items() if a.client_id == client_id]
        refresh = [t for t, r in self._refresh.items() if r.client_id == client_id]
        for token in access:
            del self._access[token]
        for token in refresh:
            del self._refresh[token]
        return len(access) + len(refresh)

    # ---- the gateway's checks -------------------------------------------------------------------

    def check_subscription_key(self, key: str | None) -> str:
        if not key:
            raise GatewayError(401, _MISSING_KEY)
        if key not in self.subscription_keys:
            raise GatewayError(401, _INVALID_KEY)
        return key

    def check_bearer(self, authorization: str | None) -> AccessToken:
        scheme, _, token = (authorization or "").partition(" ")
        held = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if held is None or held.expires_at <= self.clock.now():
            raise GatewayError(401, _BAD_TOKEN)
        return held

    def snapshot(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "applications": [
                {"client_id": a.client_id, "name": a.name, "redirect_uris": list(a.redirect_uris)}
                for a in self.applications.values()
            ],
            "subscription_keys": len(self.subscription_keys),
            "access_tokens": [
                {"client_id": a.client_id, "expires_at": iso(a.expires_at)}
                for a in self._access.values()
                if a.expires_at > now
            ],
            "refresh_tokens": len(self._refresh),
        }
