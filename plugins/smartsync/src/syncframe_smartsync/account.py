"""The account settings of the SmartSYNC-style plugin (system ``smartsync_account``): SmartSYNC's
"Admin > Account" page.

A connection of this system is not a system to sync with; it holds the account's **real-time
API** settings (see ``realtime_api.py`` and ``docs/smartsync/realtime-api.md``):

* ``api_enabled``: the "API Access > Enable?" tick; off until an operator turns it on;
* ``api_key`` and ``api_secret``: the account's API Key (sent by callers) and API Secret (only
  ever used to compute checksums), from ``SYNCFRAME_<CONNECTION>_API_KEY`` and
  ``SYNCFRAME_<CONNECTION>_API_SECRET`` in the environment or the ``.env`` beside the flow file,
  like every connection's secrets;
* ``timestamp_window``: how far a request's ``ts`` may be from the server's time (300 s).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncframe.config.models import parse_duration

if TYPE_CHECKING:
    from syncframe.registry import SystemRegistrar

__all__ = [
    "DEFAULT_TIMESTAMP_WINDOW",
    "SYSTEM",
    "AccountSettings",
    "register_systems",
]

#: The system (connection type) name.
SYSTEM: Final = "smartsync_account"
#: How far ``ts`` may be from the server's time, either way, unless the account says otherwise.
DEFAULT_TIMESTAMP_WINDOW: Final = timedelta(seconds=300)
#: A window longer than this would let a captured request be replayed for too long.
_LONGEST_WINDOW: Final = timedelta(hours=1)
#: The shortest API Key or Secret taken: a short secret is guessed, a short key collides.
_SHORTEST_CREDENTIAL: Final = 8
#: What the environment prefix reads like in a message when the model is built without one.
_ANY_PREFIX: Final = "SYNCFRAME_<CONNECTION>_"

# The loader builds each connection's settings with ``_env_prefix=SYNCFRAME_<NAME>_``; the
# validator reads it from here to name the exact variables an operator has to set.
_env_prefix: ContextVar[str] = ContextVar("smartsync_account_env_prefix", default=_ANY_PREFIX)


class AccountSettings(BaseSettings):
    """The account of the SmartSYNC-style plugin: its real-time API access ("Admin > Account")."""

    # The engine gives each connection its own environment prefix: none here. An error never
    # repeats the input: it holds the key and the secret.
    model_config = SettingsConfigDict(extra="forbid", hide_input_in_errors=True)

    api_enabled: bool = Field(
        False,
        description=(
            "Whether the real-time API (/apis/execute.php) runs flows: 'API Access > Enable?'. "
            "Off until set to true; needs api_key and api_secret."
        ),
    )
    api_key: SecretStr | None = Field(
        None,
        description=(
            "The account's API Key, sent by callers as the key parameter "
            "(SYNCFRAME_<CONNECTION>_API_KEY)."
        ),
    )
    api_secret: SecretStr | None = Field(
        None,
        description=(
            "The account's API Secret, which signs each request's checksum and is never sent "
            "(SYNCFRAME_<CONNECTION>_API_SECRET)."
        ),
    )
    timestamp_window: timedelta = Field(
        DEFAULT_TIMESTAMP_WINDOW,
        description=(
            "How far a request's ts may be from the server's time, either way, e.g. '300s' or "
            "'5m' (at most 1h): older requests are refused as stale, so a captured one cannot "
            "be replayed later."
        ),
    )

    def __init__(self, **values: Any) -> None:
        token = _env_prefix.set(values.get("_env_prefix") or _ANY_PREFIX)
        try:
            super().__init__(**values)
        finally:
            _env_prefix.reset(token)

    @field_validator("api_key", "api_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        # A value pasted into .env often carries a stray space or newline: callers would sign
        # with the value they were given, without it.
        text = value.get_secret_value().strip()
        if len(text) < _SHORTEST_CREDENTIAL:
            raise ValueError(
                f"must be at least {_SHORTEST_CREDENTIAL} characters; generate one with "
                "python -c 'import secrets; print(secrets.token_hex(16))'"
            )
        return SecretStr(text)

    @field_validator("timestamp_window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        window = parse_duration(value)
        if window <= timedelta(0):
            raise ValueError("must be more than 0 seconds")
        if window > _LONGEST_WINDOW:
            raise ValueError("must be 1h or less: a longer window lets old requests be replayed")
        return window

    @model_validator(mode="after")
    def _credentials_when_enabled(self) -> AccountSettings:
        if not self.api_enabled:
            return self
        prefix = _env_prefix.get()
        missing = [
            f"{prefix}{name.upper()}"
            for name in ("api_key", "api_secret")
            if getattr(self, name) is None
        ]
        if missing:
            raise ValueError(
                f"api_enabled is true but the account has no {' and no '.join(_names(missing))}: "
                f"set {' and '.join(missing)} in the environment or .env "
                "(or set api_enabled = false)"
            )
        return self


def _names(variables: list[str]) -> list[str]:
    """``SYNCFRAME_X_API_KEY`` -> ``API Key``: the names the Admin > Account page uses."""
    return ["API Key" if v.endswith("_API_KEY") else "API Secret" for v in variables]


def register_systems(register: SystemRegistrar) -> None:
    """``smartsync_account``: the account's real-time API access (Admin > Account)."""
    register(
        SYSTEM,
        AccountSettings,
        description="The SmartSYNC-style account: real-time API access (enable, API Key and "
        "Secret, timestamp window)",
    )
