"""The connection settings of a Luminate Online site's web services (system ``luminate``).

Only *where* and *who*: the site's web-services address and the API user. What to sync (record
types, partition, windows) belongs to the components' options, and concurrency, rate limits,
timeouts and retries to the core's ``[connections.X]`` table, which shapes the HTTP client the
components get.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncframe_luminate.types import MAX_DOWNLOAD_PAGE_SIZE, MAX_QUERY_PAGE_SIZE

__all__ = ["LuminateSettings"]


class LuminateSettings(BaseSettings):
    """One Luminate Online site, as its web services see an API user."""

    # The engine gives each connection its own environment prefix: none here.
    model_config = SettingsConfigDict(extra="forbid")

    url: str = Field(
        description=(
            "Web-services address of the site, e.g. "
            "https://webservices.cluster2.convio.net/1.0/mysite (the WSDL is <url>/wsdl)."
        )
    )
    api_login: str = Field(
        min_length=1,
        description="The API user's name (Setup > Site Options > Web services).",
    )
    api_password: SecretStr = Field(description="The API user's password.")
    page_size: int = Field(
        MAX_DOWNLOAD_PAGE_SIZE,
        ge=1,
        le=MAX_DOWNLOAD_PAGE_SIZE,
        description="Records per GetIncremental* page (the service allows at most 200).",
    )
    query_page_size: int = Field(
        MAX_QUERY_PAGE_SIZE,
        ge=1,
        le=MAX_QUERY_PAGE_SIZE,
        description="Records per Query / Find page (the service allows at most 1000).",
    )

    @field_validator("url")
    @classmethod
    def _web_services_address(cls, value: str) -> str:
        """An http(s) address with a host; a trailing slash is dropped (the WSDL and the
        endpoint are built from it as ``<url>/wsdl`` and ``<url>/``)."""
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an http(s) address such as "
                "https://webservices.cluster2.convio.net/1.0/mysite"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} has a query or fragment; give the site's address only")
        return url

    @property
    def wsdl_url(self) -> str:
        """Where the site's WSDL is served."""
        return f"{self.url}/wsdl"

    @property
    def endpoint(self) -> str:
        """Where SOAP requests are posted."""
        return f"{self.url}/"
