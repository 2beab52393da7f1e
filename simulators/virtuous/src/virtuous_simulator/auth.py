"""Who may call the API: users and ``POST /Token`` (with two-factor and SSO users), API keys,
token expiry on the simulator clock, and the organization's hourly rate limit."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from syncframe.clock import Clock
from virtuous_simulator._common import BadRequest, VirtuousError, iso

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "DEFAULT_RATE_LIMIT_PER_HOUR",
    "OTP_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "ApiKey",
    "Auth",
    "Grant",
    "RateLimiter",
    "Unauthorized",
    "User",
    "UserIn",
]

ACCESS_TOKEN_LIFETIME: Final = timedelta(days=15)
REFRESH_TOKEN_LIFETIME: Final = timedelta(days=365)
#: How long a two-factor code sent to the user stays good (choice: the docs do not say).
OTP_LIFETIME: Final = timedelta(minutes=10)
#: The current documented limit; the older figure, 1,500, is still quoted in the same docs.
DEFAULT_RATE_LIMIT_PER_HOUR: Final = 5000
#: What ASP.NET Web API answers to a missing, unknown or expired bearer token.
DENIED: Final = "Authorization has been denied for this request."
_BAD_PASSWORD: Final = "The user name or password is incorrect."


class Unauthorized(VirtuousError):
    status = 401


class UserIn(BaseModel):
    """A Virtuous user as the admin seeds one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    username: str = Field(min_length=1)
    password: SecretStr
    name: str | None = None
    two_factor_enabled: bool = False
    sso: bool = False


@dataclass(slots=True, eq=False)
class User:
    username: str
    password: SecretStr
    name: str
    two_factor_enabled: bool
    sso: bool
    #: The two-factor code last sent, and until when it is good.
    otp: str | None = None
    otp_expires: datetime | None = None

    def json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "name": self.name,
            "twoFactorEnabled": self.two_factor_enabled,
            "sso": self.sso,
        }


@dataclass(slots=True, eq=False)
class ApiKey:
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """Whom a bearer token speaks for: ``actor`` names them on the audit log."""

    kind: Literal["token", "api_key"]
    actor: str
    username: str | None
    expires: datetime | None


@dataclass(slots=True)
class _Refresh:
    username: str
    expires: datetime


def _http_date(moment: datetime) -> str:
    # OWIN writes ".issued"/".expires" as RFC 1123 dates.
    return format_datetime(moment.astimezone(UTC), usegmt=True)


class Auth:
    """Users, their tokens and the organization's API keys."""

    def __init__(self, clock: Clock, rng: random.Random) -> None:
        self.clock = clock
        self.rng = rng
        self.users: dict[str, User] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, _Refresh] = {}

    def _secret(self, size: int = 48) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(size)).decode().rstrip("=")

    # -- set-up --------------------------------------------------------------------------------

    def add_user(self, spec: UserIn) -> User:
        key = spec.username.casefold()
        if key in self.users:
            raise BadRequest(f"username: a user {spec.username!r} already exists")
        user = User(
            spec.username,
            spec.password,
            spec.name or spec.username,
            spec.two_factor_enabled,
            spec.sso,
        )
        self.users[key] = user
        return user

    def user(self, username: str) -> User | None:
        return self.users.get(username.casefold())

    def add_api_key(self, name: str, key: str | None = None) -> str:
        """A key (given, or made up now) that works as a bearer token; shown only here."""
        if not name.strip():
            raise BadRequest("name: an API key needs a name")
        key = key or self._secret(32)
        if key in self.api_keys:
            raise BadRequest("key: this API key already exists")
        self.api_keys[key] = ApiKey(name.strip(), self.clock.now())
        return key

    def current_otp(self, username: str) -> str:
        """The two-factor code last sent to the user (what they would read in their email)."""
        user = self.user(username)
        if user is None:
            raise BadRequest(f"username: there is no user {username!r}")
        if user.otp is None or user.otp_expires is None or user.otp_expires <= self.clock.now():
            raise BadRequest(
                f"username: no verification code is waiting for {username!r} (ask POST /Token "
                "for one first)"
            )
        return user.otp

    # -- POST /Token ---------------------------------------------------------------------------

    def token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """The answer to ``POST /Token``: (status, JSON)."""
        grant_type = form.get("grant_type", "")
        if grant_type == "password":
            return self._password_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""))
        return 400, {"error": "unsupported_grant_type"}

    def _password_grant(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        username = form.get("username", "")
        user = self.user(username)
        if user is not None and user.sso:
            # Checked first: an SSO user has no Virtuous password to compare.
            return 400, _invalid_grant(
                f"The user {user.username} signs in with single sign-on (WorkOS) and cannot "
                "get a token with a password. Use a Virtuous user whose email domain is not set "
                "up for single sign-on."
            )
        password = form.get("password", "")
        if user is None or password != user.password.get_secret_value():
            return 400, _invalid_grant(_BAD_PASSWORD)
        if user.two_factor_enabled:
            otp = form.get("OTP") or form.get("otp")
            now = self.clock.now()
            if not otp:
                user.otp = f"{self.rng.randrange(1_000_000):06d}"
                user.otp_expires = now + OTP_LIFETIME
                return 202, {
                    "twoFactorEnabled": True,
                    "userName": user.username,
                    "message": "Two-factor authentication is enabled for this user. A "
                    "verification code was sent; repeat the request with it as OTP.",
                }
            if otp != user.otp or user.otp_expires is None or user.otp_expires <= now:
                return 400, _invalid_grant("The verification code is incorrect or has expired.")
            user.otp = None
            user.otp_expires = None
        return 200, self._issue(user)

    def _refresh_grant(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        held = self._refresh.pop(refresh_token, None)
        now = self.clock.now()
        if held is None or held.expires <= now:
            return 400, _invalid_grant("The refresh token is invalid or has expired.")
        user = self.user(held.username)
        if user is None:
            return 400, _invalid_grant("The user of this refresh token no longer exists.")
        return 200, self._issue(user)

    def _issue(self, user: User) -> dict[str, Any]:
        issued = self.clock.now()
        expires = issued + ACCESS_TOKEN_LIFETIME
        access = self._secret()
        refresh = self._secret(24)
        self._access[access] = Grant("token", user.name, user.username, expires)
        self._refresh[refresh] = _Refresh(user.username, issued + REFRESH_TOKEN_LIFETIME)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "refresh_token": refresh,
            "userName": user.username,
            "twoFactorEnabled": False,
            ".issued": _http_date(issued),
            ".expires": _http_date(expires),
        }

    # -- bearer tokens -------------------------------------------------------------------------

    def authorize(self, header: str | None) -> Grant:
        """The grant of an ``Authorization: Bearer ...`` header; :class:`Unauthorized` for a
        missing, unknown or expired token."""
        if not header:
            raise Unauthorized(DENIED)
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.casefold() != "bearer" or not credential:
            raise Unauthorized(DENIED)
        grant = self._access.get(credential)
        if grant is not None:
            if grant.expires is not None and grant.expires <= self.clock.now():
                del self._access[credential]
                raise Unauthorized(DENIED)
            if grant.username is not None and self.user(grant.username) is None:
                raise Unauthorized(DENIED)
            return grant
        key = self.api_keys.get(credential)
        if key is not None:
            return Grant("api_key", key.name, None, None)
        raise Unauthorized(DENIED)

    def revoke_tokens(self, username: str | None = None) -> int:
        """Sign a user (or, without one, everybody) out everywhere: their access and refresh
        tokens stop working; API keys stay. Returns how many access tokens were revoked."""
        key = username.casefold() if username is not None else None

        def mine(name: str | None) -> bool:
            return key is None or (name is not None and name.casefold() == key)

        revoked = [token for token, grant in self._access.items() if mine(grant.username)]
        for token in revoked:
            del self._access[token]
        for token in [t for t, held in self._refresh.items() if mine(held.username)]:
            del self._refresh[token]
        return len(revoked)

    def snapshot(self) -> dict[str, Any]:
        return {
            "users": [user.json() for user in self.users.values()],
            "apiKeys": [
                {"name": key.name, "createdAt": iso(key.created_at)}
                for key in self.api_keys.values()
            ],
            "activeTokens": sum(
                1
                for grant in self._access.values()
                if grant.expires is None or grant.expires > self.clock.now()
            ),
        }

    def clear(self) -> None:
        self.users.clear()
        self.api_keys.clear()
        self._access.clear()
        self._refresh.clear()


def _invalid_grant(description: str) -> dict[str, Any]:
    return {"error": "invalid_grant", "error_description": description}


# ---- rate limit ------------------------------------------------------------------------------


class RateLimiter:
    """The organization's request budget: ``per_hour`` requests per clock hour (UTC), shared
    by every user and key. Only authenticated API requests count."""

    def __init__(self, clock: Clock, per_hour: int = DEFAULT_RATE_LIMIT_PER_HOUR) -> None:
        if per_hour < 1:
            raise ValueError(f"rate_limit_per_hour must be 1 or more, not {per_hour}")
        self.clock = clock
        self.per_hour = per_hour
        self.used = 0
        self._window = self._hour(clock.now())

    @staticmethod
    def _hour(moment: datetime) -> datetime:
        return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    def _roll(self) -> datetime:
        now = self.clock.now()
        hour = self._hour(now)
        if hour != self._window:
            self._window = hour
            self.used = 0
        return now

    @property
    def reset_at(self) -> datetime:
        return self._window + timedelta(hours=1)

    def take(self) -> int | None:
        """Count one request; ``None`` when it may go on, else the seconds until the window
        resets (the request is refused with 429 and that ``Retry-After``)."""
        now = self._roll()
        if self.used >= self.per_hour:
            return max(1, math.ceil((self.reset_at - now).total_seconds()))
        self.used += 1
        return None

    def headers(self) -> dict[str, str]:
        self._roll()
        return {
            "X-RateLimit-Limit": str(self.per_hour),
            "X-RateLimit-Remaining": str(max(0, self.per_hour - self.used)),
            "X-RateLimit-Reset": str(int(self.reset_at.timestamp())),
        }

    def state(self) -> dict[str, Any]:
        self._roll()
        return {
            "perHour": self.per_hour,
            "used": self.used,
            "remaining": max(0, self.per_hour - self.used),
            "resetAt": iso(self.reset_at),
        }

    def set_limit(self, per_hour: int) -> None:
        """A new hourly budget; requests already made this hour still count."""
        if per_hour < 1:
            raise BadRequest(f"perHour: must be 1 or more, not {per_hour}")
        self.per_hour = per_hour
