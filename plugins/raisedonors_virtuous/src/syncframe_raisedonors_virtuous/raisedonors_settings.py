"""The connection settings of a Legacy RaiseDonors account (system ``raisedonors``).

Only *where* and *who*: the API's address and the API client the sync signs in as (its client
key and secret, from Legacy RaiseDonors' API clients). Concurrency, rate limits, timeouts and
retries belong to the core's ``[connections.X]`` table, which shapes the HTTP client the
components get.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_BASE_URL", "MAX_PAGE_SIZE", "RaiseDonorsSettings"]

#: The legacy API's address (the .NET SDK's default).
DEFAULT_BASE_URL: Final = "https://api.raisedonors.com"
#: The most records one list call is asked for (the activity feed's documented Take=500).
MAX_PAGE_SIZE: Final = 500


class RaiseDonorsSettings(BaseSettings):
    """One Legacy RaiseDonors organization, as one of its API clients sees it."""

    # The engine gives each connection its own environment prefix: none here.
    model_config = SettingsConfigDict(extra="forbid")

    base_url: str = Field(
        DEFAULT_BASE_URL,
        description="The API's address, without /api (e.g. https://api.raisedonors.com).",
    )
    client_key: str = Field(
        min_length=1,
        description="The API client's key (System Settings > API clients); it is sent as the "
        "OAuth client_id, so it is not secret.",
    )
    client_secret: SecretStr = Field(
        description="The API client's secret: only its daily MD5 realm token is ever sent."
    )
    page_size: int = Field(
        MAX_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Records asked for per list call (activity feed, donor list); at most 500.",
    )

    @field_validator("base_url")
    @classmethod
    def _api_address(cls, value: str) -> str:
        """An http(s) address with a host; a trailing slash is dropped (paths are appended)."""
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) address such as {DEFAULT_BASE_URL}")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} has a query or fragment; give the API's address only")
        return url
