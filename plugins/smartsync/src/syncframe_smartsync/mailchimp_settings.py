"""The connection settings of a Mailchimp audience (system ``mailchimp``).

Where and who (the API key, whose suffix names the data center), which audience, where the
Raiser's Edge constituent id is kept (the ``CONSID`` merge field, SmartMAILCHIMP's binding key),
how the audience's merge fields carry the common record vocabulary, the secret of the webhook
URL, and how often a SmartSYNC-style event step polls. Concurrency, rate limits, timeouts and
retries belong to the core's ``[connections.X]`` keys: Mailchimp allows 10 simultaneous
connections per API key, so ``max_concurrency`` must stay at 10 or below (the core's default
is 4).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncframe.components import ComponentContext, PermanentError
from syncframe.config.models import parse_duration

__all__ = [
    "ADDRESS_PARTS",
    "DEFAULT_MERGE_FIELDS",
    "MAX_CONNECTIONS",
    "MAX_PAGE_SIZE",
    "SYSTEM",
    "MailchimpSettings",
    "data_center_of",
    "settings_of",
]

#: The system (connection type) name.
SYSTEM: Final = "mailchimp"

#: Simultaneous connections Mailchimp allows per API key (the 11th gets 429).
MAX_CONNECTIONS: Final = 10
#: The most members one page of ``GET /lists/{list_id}/members`` may hold.
MAX_PAGE_SIZE: Final = 1000
#: Vocabulary field -> merge tag, for the plain (text/phone) merge fields of a new audience.
DEFAULT_MERGE_FIELDS: Final[dict[str, str]] = {
    "first_name": "FNAME",
    "last_name": "LNAME",
    "phone": "PHONE",
}
#: Vocabulary field -> key of the address merge value (``{addr1, addr2, city, state, zip,
#: country}``).
ADDRESS_PARTS: Final[dict[str, str]] = {
    "address1": "addr1",
    "address2": "addr2",
    "city": "city",
    "state": "state",
    "postal_code": "zip",
    "country": "country",
}

_API_KEY: Final = re.compile(r"^[0-9A-Za-z]{8,64}-(?P<dc>[a-z]{2,4}[0-9]{1,3})$")
_MERGE_TAG: Final = re.compile(r"^[A-Z0-9_]{1,10}$")
_VOCABULARY_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")


def data_center_of(api_key: str) -> str:
    """The data center (``us6``) an API key (``<key>-us6``) belongs to."""
    match = _API_KEY.match(api_key.strip())
    if match is None:
        # Never the key itself in a message.
        raise ValueError(
            "an API key looks like <32 letters or digits>-<data center>, e.g. ...-us6 "
            "(Mailchimp > Profile > Extras > API keys)"
        )
    return match.group("dc")


def _merge_tag(value: str, what: str) -> str:
    tag = value.strip().upper()
    if not _MERGE_TAG.match(tag) or tag == "EMAIL":
        raise ValueError(
            f"{what} {value!r} is not a merge tag: 1-10 of A-Z, 0-9 and _ (and not EMAIL)"
        )
    return tag


class MailchimpSettings(BaseSettings):
    """One Mailchimp audience, reached with an API key."""

    # The engine gives each connection its own environment prefix: none here.
    model_config = SettingsConfigDict(extra="forbid")

    api_key: SecretStr = Field(
        description=(
            "An API key, <key>-<data center> (Mailchimp > Profile > Extras > API keys); the "
            "data center after the dash says which server answers."
        )
    )
    list_id: str = Field(
        min_length=1,
        description="The audience's id (Audience > Settings > Audience name and defaults).",
    )
    base_url: str | None = Field(
        None,
        description=(
            "Where the API is served, without /3.0 (default: https://<dc>.api.mailchimp.com, "
            "the data center taken from the API key); for a simulator or a proxy."
        ),
    )
    constituent_id_merge_tag: str = Field(
        "CONSID",
        description="The merge field holding the Raiser's Edge constituent id (the binding key).",
    )
    address_merge_tag: str = Field(
        "ADDRESS",
        description=(
            "The address merge field that address1, address2, city, state, postal_code and "
            "country go to (empty: addresses are not synced)."
        ),
    )
    merge_fields: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "More vocabulary fields and the merge tag each goes to, e.g. {nickname = "
            "'NICKNAME'}; added to first_name = FNAME, last_name = LNAME and phone = PHONE "
            "(a tag of '' un-maps a default)."
        ),
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description=(
            "The secret carried in the webhook URL's query (Mailchimp signs nothing); needed "
            "by the mailchimp_webhook source."
        ),
    )
    webhook_url_parameter: str = Field(
        "secret",
        min_length=1,
        description="The query parameter of the webhook URL that carries webhook_secret.",
    )
    poll_every: timedelta = Field(
        timedelta(minutes=5),
        description=(
            "How often an event step polls the audience for changed members ('5m': "
            "changes are picked up within five minutes)."
        ),
    )
    page_size: int = Field(
        MAX_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Members per page of a listing (Mailchimp allows at most 1000).",
    )

    @field_validator("api_key")
    @classmethod
    def _api_key_shape(cls, value: SecretStr) -> SecretStr:
        data_center_of(value.get_secret_value())
        return SecretStr(value.get_secret_value().strip())

    @field_validator("list_id")
    @classmethod
    def _audience_id(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"[0-9A-Za-z]+", value):
            raise ValueError(
                f"{value!r} is not an audience id (letters and digits, e.g. a1b2c3d4e5)"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = value.strip().rstrip("/")
        url = url.removesuffix("/3.0")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an http(s) address such as https://us6.api.mailchimp.com"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} has a query or fragment; give the server's address only")
        return url

    @field_validator("constituent_id_merge_tag")
    @classmethod
    def _binding_tag(cls, value: str) -> str:
        return _merge_tag(value, "constituent_id_merge_tag")

    @field_validator("address_merge_tag")
    @classmethod
    def _address_tag(cls, value: str) -> str:
        return _merge_tag(value, "address_merge_tag") if value.strip() else ""

    @field_validator("merge_fields")
    @classmethod
    def _vocabulary_tags(cls, value: dict[str, str]) -> dict[str, str]:
        checked: dict[str, str] = {}
        for name, tag in value.items():
            if not _VOCABULARY_NAME.match(name):
                raise ValueError(f"{name!r} is not a field name (lower case, digits and _)")
            if name in ("email", "email_status", "tags", "remove_tags", "constituent_id"):
                raise ValueError(f"{name} is not kept in a merge field of its own")
            if name in ADDRESS_PARTS:
                raise ValueError(f"{name} goes to the address merge field (address_merge_tag)")
            checked[name] = _merge_tag(tag, f"merge_fields.{name}") if tag.strip() else ""
        return checked

    @field_validator("poll_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        every = parse_duration(value)
        if every <= timedelta(0):
            raise ValueError("poll_every must be longer than zero")
        return every

    @model_validator(mode="after")
    def _one_field_per_tag(self) -> MailchimpSettings:
        owners: dict[str, str] = {}
        for name, tag in [*self.field_tags().items(), ("address", self.address_merge_tag)]:
            if not tag:
                continue
            if tag in owners:
                raise ValueError(
                    f"merge tag {tag} is given to both {owners[tag]} and {name}; each merge "
                    "field holds one field"
                )
            owners[tag] = name
        return self

    # ---- derived ---------------------------------------------------------------------------
    @property
    def data_center(self) -> str:
        """The data center of the API key (``us6``)."""
        return data_center_of(self.api_key.get_secret_value())

    @property
    def api_root(self) -> str:
        """Where the API's paths start: ``https://<dc>.api.mailchimp.com/3.0``."""
        server = self.base_url or f"https://{self.data_center}.api.mailchimp.com"
        return f"{server}/3.0"

    def field_tags(self) -> dict[str, str]:
        """Vocabulary field -> merge tag for every mapped plain field, the constituent id
        included (the address goes through :attr:`address_merge_tag`)."""
        tags = {**DEFAULT_MERGE_FIELDS, **self.merge_fields}
        tags["constituent_id"] = self.constituent_id_merge_tag
        return {name: tag for name, tag in tags.items() if tag}


def settings_of(context: ComponentContext) -> MailchimpSettings:
    """The Mailchimp settings of a component's connection."""
    settings = context.connection
    if not isinstance(settings, MailchimpSettings):
        raise PermanentError(f"connection {context.connection_name!r} is not a Mailchimp one")
    return settings
