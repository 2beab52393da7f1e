"""The connection settings of a Salesforce org (system ``salesforce``).

A SmartSYNC "app connection" to Salesforce needs a connected app (its consumer key and secret)
and one of two OAuth 2.0 flows at the org's token endpoint:

* ``client_credentials`` (the default): the connected app's key and secret alone; the session
  runs as the app's "Run As" user (Setup > App Manager > the app > Client Credentials Flow);
* ``password``: the key and secret plus an integration user's username and password, followed
  by the user's security token when the org asks for one (a login from outside its trusted IP
  ranges).

Every secret is a ``SecretStr``. Where the API is (``instance_url``) comes from the token
endpoint's answer, never from these settings; the API version is a setting. Concurrency, rate
limits, timeouts and retries belong to the core's ``[connections.X]`` table.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncframe.config.models import parse_duration

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_EXTERNAL_ID_FIELD",
    "DEFAULT_POLL_EVERY",
    "MIN_API_VERSION",
    "SalesforceSettings",
]

#: The API version used unless the connection names another (simple-salesforce's default).
DEFAULT_API_VERSION: Final = "59.0"
#: The oldest version the connector works with: sObject Collections upsert and the ``created``
#: flag of upsert results arrived in 46.0 (Summer '19).
MIN_API_VERSION: Final = 46
#: The custom field holding the Raiser's Edge Constituent ID (External ID, Unique).
DEFAULT_EXTERNAL_ID_FIELD: Final = "RE_Constituent_ID__c"
#: How often SmartSYNC-style flows poll Salesforce: changes are picked up within 5 minutes.
DEFAULT_POLL_EVERY: Final = timedelta(minutes=5)

_VERSION: Final = re.compile(r"v?(\d{2,3})\.0")
_CUSTOM_FIELD: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*__c")


class SalesforceSettings(BaseSettings):
    """One Salesforce org, as a connected app (and optionally an integration user) sees it."""

    # The engine gives each connection its own environment prefix: none here.
    model_config = SettingsConfigDict(extra="forbid")

    login_url: str = Field(
        "https://login.salesforce.com",
        description=(
            "Where the OAuth token endpoint is: https://login.salesforce.com, "
            "https://test.salesforce.com for a sandbox, or the org's My Domain address "
            "(the token endpoint is <login_url>/services/oauth2/token)."
        ),
    )
    grant: Literal["client_credentials", "password"] = Field(
        "client_credentials",
        description=(
            "The OAuth flow: client_credentials (the connected app runs as its Run As user) "
            "or password (username, password and security token of an integration user)."
        ),
    )
    client_id: str = Field(
        min_length=1, description="The connected app's consumer key (Setup > App Manager)."
    )
    client_secret: SecretStr = Field(description="The connected app's consumer secret.")
    username: str | None = Field(
        None,
        validate_default=True,
        description="The integration user's username (password grant only).",
    )
    password: SecretStr | None = Field(
        None,
        validate_default=True,
        description="The integration user's password (password grant only).",
    )
    security_token: SecretStr | None = Field(
        None,
        description=(
            "The integration user's security token, sent after the password (password grant, "
            "when the org requires it for logins from outside its trusted IP ranges)."
        ),
    )
    api_version: str = Field(
        DEFAULT_API_VERSION,
        description=(
            f"The REST API version, e.g. '{DEFAULT_API_VERSION}' ({MIN_API_VERSION}.0 or later)."
        ),
    )
    external_id_field: str = Field(
        DEFAULT_EXTERNAL_ID_FIELD,
        description=(
            "The Contact's custom External ID field that holds the Raiser's Edge Constituent "
            "ID (the binding key of constituent_id)."
        ),
    )
    poll_every: timedelta = Field(
        DEFAULT_POLL_EVERY,
        description="How often a polling flow of this connection runs ('5m', '90s', seconds).",
    )

    @field_validator("login_url")
    @classmethod
    def _token_endpoint_host(cls, value: str) -> str:
        """An http(s) address with a host; a trailing slash is dropped."""
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an http(s) address such as https://login.salesforce.com"
            )
        if parts.query or parts.fragment or parts.path:
            raise ValueError(
                f"{value!r}: give the login host only (e.g. https://login.salesforce.com), "
                "without a path"
            )
        return url

    @field_validator("username")
    @classmethod
    def _username_for_password_grant(cls, value: str | None, info: ValidationInfo) -> str | None:
        grant = info.data.get("grant")
        if grant == "password" and not (value and value.strip()):
            raise ValueError("the password grant needs the integration user's username")
        if grant == "client_credentials" and value is not None:
            raise ValueError(
                "the client_credentials grant runs as the connected app's Run As user; "
                "set grant = 'password' to log in as this username"
            )
        return value.strip() if value is not None else None

    @field_validator("password")
    @classmethod
    def _password_for_password_grant(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        grant = info.data.get("grant")
        if grant == "password" and (value is None or not value.get_secret_value()):
            raise ValueError("the password grant needs the integration user's password")
        if grant == "client_credentials" and value is not None:
            raise ValueError("the client_credentials grant takes no password")
        return value

    @field_validator("api_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        """``59.0`` (or ``v59.0``, ``59``) -> ``59.0``; 46.0 or later."""
        text = value.strip()
        if text.isdigit():
            text += ".0"
        match = _VERSION.fullmatch(text)
        if match is None:
            raise ValueError(f"{value!r} is not an API version such as '{DEFAULT_API_VERSION}'")
        if int(match.group(1)) < MIN_API_VERSION:
            raise ValueError(
                f"API version {value} is too old: the connector needs {MIN_API_VERSION}.0 or "
                "later (sObject Collections upsert)"
            )
        return f"{int(match.group(1))}.0"

    @field_validator("external_id_field")
    @classmethod
    def _custom_field_name(cls, value: str) -> str:
        if not _CUSTOM_FIELD.fullmatch(value.strip()):
            raise ValueError(
                f"{value!r} is not a custom field's API name (such as {DEFAULT_EXTERNAL_ID_FIELD})"
            )
        return value.strip()

    @field_validator("poll_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        every = parse_duration(value)
        if every <= timedelta(0):
            raise ValueError(f"{value!r}: the polling period must be more than 0")
        return every

    @property
    def token_url(self) -> str:
        """The OAuth 2.0 token endpoint."""
        return f"{self.login_url}/services/oauth2/token"

    def login_form(self) -> dict[str, str]:
        """The token request's form, secrets included (sent in the body, never logged)."""
        form = {
            "grant_type": self.grant,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        if self.grant == "password":
            secret = self.password.get_secret_value() if self.password is not None else ""
            if self.security_token is not None:
                secret += self.security_token.get_secret_value()
            form["username"] = self.username or ""
            form["password"] = secret
        return form

    def login_name(self) -> str:
        """Who logs in, for messages: the username, or the connected app (never a secret)."""
        if self.grant == "password":
            return f"user {self.username!r}"
        return f"connected app {self.client_id!r}"
