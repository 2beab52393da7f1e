"""The connection settings of a Raiser's Edge NXT environment through the SKY API (system
``re_nxt``).

Only *where* and *who*: the OAuth and API addresses, the SKY application (client id and
secret), the refresh token a user's authorization gave it, the subscription key of the
developer account, and how often the environment is polled. Concurrency, rate limits, timeouts
and retries belong to the core's ``[connections.X]`` table (SKY allows about 10 calls a second:
``rate_limit = 10``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncframe.config.models import parse_duration

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_OAUTH_URL",
    "DEFAULT_POLL_EVERY",
    "MAX_PAGE_SIZE",
    "ReNxtSettings",
]

DEFAULT_API_URL: Final = "https://api.sky.blackbaud.com"
DEFAULT_OAUTH_URL: Final = "https://oauth2.sky.blackbaud.com"
#: Raiser's Edge changes are picked up within 30 minutes: its lists lag about that much.
DEFAULT_POLL_EVERY: Final = timedelta(minutes=30)
#: The most records one list page of the SKY API holds.
MAX_PAGE_SIZE: Final = 5000


def _http_address(value: str, example: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) address such as {example}")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} has a query or fragment; give the address only")
    return url


class ReNxtSettings(BaseSettings):
    """One Raiser's Edge NXT environment, as a SKY application authorized in it sees it."""

    # The engine gives each connection its own environment prefix: none here.
    model_config = SettingsConfigDict(extra="forbid")

    api_url: str = Field(
        DEFAULT_API_URL,
        description="The SKY API's address (the Constituent API is <api_url>/constituent/v1).",
    )
    oauth_url: str = Field(
        DEFAULT_OAUTH_URL,
        description="The SKY OAuth 2.0 server's address (tokens come from <oauth_url>/token).",
    )
    client_id: str = Field(
        min_length=1,
        description="The SKY application's ID (My applications in the SKY developer portal).",
    )
    client_secret: SecretStr = Field(description="The SKY application's secret.")
    refresh_token: SecretStr = Field(
        description=(
            "A refresh token from the application's authorization in the environment (OAuth "
            "authorization code flow); it is kept valid, not rotated, and lasts 365 days."
        )
    )
    subscription_key: SecretStr = Field(
        description="The SKY API subscription key (Bb-Api-Subscription-Key) of the developer "
        "account."
    )
    poll_every: timedelta = Field(
        DEFAULT_POLL_EVERY,
        description="How often flows poll the environment for changes, e.g. '30m' (a number of "
        "seconds or 90s, 5m, 1h, 1d).",
    )
    page_size: int = Field(
        500,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Records asked per list page at most (SKY allows up to 5000); a batch of a "
        "flow is never larger.",
    )

    @field_validator("api_url")
    @classmethod
    def _api_address(cls, value: str) -> str:
        return _http_address(value, DEFAULT_API_URL)

    @field_validator("oauth_url")
    @classmethod
    def _oauth_address(cls, value: str) -> str:
        return _http_address(value, DEFAULT_OAUTH_URL)

    @field_validator("poll_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        period = parse_duration(value)
        if period <= timedelta(0):
            raise ValueError("must be more than 0 seconds")
        return period

    @field_validator("client_secret", "refresh_token", "subscription_key")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @property
    def token_url(self) -> str:
        """Where access tokens are asked for."""
        return f"{self.oauth_url}/token"
