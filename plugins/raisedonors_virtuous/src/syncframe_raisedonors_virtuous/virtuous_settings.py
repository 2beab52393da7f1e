"""The connection settings of a Virtuous CRM+ organization (system ``virtuous``).

Only *where* and *who*: the API's address, the sync user (or an API key), the secret the
webhooks are signed with, and the organization's hourly request limit. Concurrency, timeouts
and retries belong to the core's ``[connections.X]`` table.

The seed's advice is part of the model: the sync should sign in as a **dedicated** Virtuous
CRM+ user (a person changing their password must not stop the sync), one without two-factor
authentication and outside the domain configured for WorkOS SSO. An API key (Settings > API
Keys) works too; the two ways exclude each other so that it is always clear which one is used.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE_LIMIT_PER_HOUR",
    "VirtuousSettings",
]

DEFAULT_BASE_URL: Final = "https://api.virtuoussoftware.com"
#: Requests per hour per organization in Virtuous's current documentation (an older page says
#: 1,500; set ``rate_limit_per_hour = 1500`` for an organization still on that limit).
DEFAULT_RATE_LIMIT_PER_HOUR: Final = 5000


class VirtuousSettings(BaseSettings):
    """One Virtuous CRM+ organization, as the sync's user (or API key) sees it."""

    # The engine gives each connection its own environment prefix: none here.
    model_config = SettingsConfigDict(extra="forbid")

    base_url: str = Field(
        DEFAULT_BASE_URL,
        description="The API's address (one host serves production and sandbox organizations).",
    )
    username: str | None = Field(
        None,
        description=(
            "The sync user's login: a dedicated Virtuous CRM+ user without two-factor "
            "authentication and not under WorkOS SSO. Give it with password, or give api_key."
        ),
    )
    password: SecretStr | None = Field(
        None, validate_default=True, description="The sync user's password."
    )
    api_key: SecretStr | None = Field(
        None,
        validate_default=True,
        description="An API key (Settings > API Keys), instead of username and password.",
    )
    webhook_secret: SecretStr = Field(
        description=(
            "The secret of the webhook (Settings > Connectivity > Webhooks) that sends "
            "ContactCreate/ContactUpdate to syncframe: deliveries are signed with it."
        )
    )
    rate_limit_per_hour: int = Field(
        DEFAULT_RATE_LIMIT_PER_HOUR,
        ge=1,
        description=(
            "Requests per hour the organization may make (5000 in the current documentation; "
            "some organizations still have 1500). The client never sends more."
        ),
    )

    @field_validator("base_url")
    @classmethod
    def _api_address(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) address such as {DEFAULT_BASE_URL}")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} has a query or fragment; give the API's address only")
        return url

    @field_validator("username")
    @classmethod
    def _login(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("username is empty; give the sync user's login or leave it out")
        return value.strip() if value is not None else None

    @field_validator("password")
    @classmethod
    def _password_with_username(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        username = info.data.get("username")
        if username and (value is None or not value.get_secret_value()):
            raise ValueError(f"username {username!r} is given without its password")
        if value is not None and not username and "username" in info.data:
            raise ValueError("password is given without username: give both, or api_key")
        return value

    @field_validator("api_key")
    @classmethod
    def _exactly_one_way(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        with_user = bool(info.data.get("username"))
        if value is not None and not value.get_secret_value():
            raise ValueError("api_key is empty; give the key or leave it out")
        if value is not None and with_user:
            raise ValueError(
                "give either username and password or api_key, not both: one way to sign in"
            )
        # Only when username and password both validated as absent: a password without its
        # username has been reported on its own.
        unset = "username" in info.data and info.data.get("password", "given") is None
        if value is None and not with_user and unset:
            raise ValueError(
                "no credentials: give username and password (a dedicated Virtuous CRM+ user "
                "without two-factor authentication) or api_key"
            )
        return value

    @property
    def uses_api_key(self) -> bool:
        """Whether requests carry the API key rather than a token of the sync user."""
        return self.api_key is not None
