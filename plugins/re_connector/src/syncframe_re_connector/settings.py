"""The connection settings of the RE connector's three systems.

* ``raisers_edge``: the Raiser's Edge query interface of the client's RE database (address, RE
  user and password), which the connector reads constituents and code tables from and whose
  import area it puts Luminate's files into;
* ``luminate_ftp``: the site's ``shortname_ds`` FTP account, through which the connector and
  Luminate's data sync exchange files (``/upload/`` for Luminate, ``/download/`` for RE);
* ``re_connector``: the connector machine itself, as Luminate's data sync operation knows it: the
  Operation File Name and the key Luminate sends with each call.

Timeouts, retries and concurrency are the core's ``[connections.X]`` keys; for ``luminate_ftp``
the connection's ``timeout`` is the time allowed for each FTP command.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CONNECTOR_SYSTEM",
    "FTP_SYSTEM",
    "MAX_PAGE_SIZE",
    "RE_SYSTEM",
    "LuminateFtpSettings",
    "RaisersEdgeSettings",
    "ReConnectorSettings",
]

#: The system names (connection types).
RE_SYSTEM: Final = "raisers_edge"
FTP_SYSTEM: Final = "luminate_ftp"
CONNECTOR_SYSTEM: Final = "re_connector"

#: The most constituents the RE query interface returns per page.
MAX_PAGE_SIZE: Final = 500

_HOST: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


class RaisersEdgeSettings(BaseSettings):
    """The RE query interface: where it answers and the RE user the connector logs in as."""

    # The engine gives each connection its own environment prefix: none here.
    model_config = SettingsConfigDict(extra="forbid", hide_input_in_errors=True)

    url: str = Field(
        description="Address of the RE query interface, e.g. http://re-server:8080 (the API is "
        "under <url>/re/v1/)."
    )
    user: str = Field(min_length=1, description="The RE user name (e.g. supervisor).")
    password: SecretStr = Field(description="The RE user's password.")
    page_size: int = Field(
        MAX_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Constituents asked for per page (the query interface gives at most 500).",
    )

    @field_validator("url")
    @classmethod
    def _http_address(cls, value: str) -> str:
        """An http(s) address with a host; a trailing slash is dropped."""
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) address such as http://re-server:8080")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} has a query or fragment; give the server's address only")
        return url


class LuminateFtpSettings(BaseSettings):
    """The site's ``shortname_ds`` account on Luminate's FTP server."""

    model_config = SettingsConfigDict(extra="forbid", hide_input_in_errors=True)

    host: str = Field(
        description="The FTP server's host name, e.g. customerftp.convio.net (no ftp://)."
    )
    port: int = Field(21, ge=1, le=65535, description="The FTP server's port.")
    user: str = Field(
        min_length=1, description="The data sync FTP account: the site's short name + _ds."
    )
    password: SecretStr = Field(description="The FTP account's password.")

    @field_validator("host")
    @classmethod
    def _host_name(cls, value: str) -> str:
        host = value.strip()
        if not _HOST.fullmatch(host):
            raise ValueError(
                f"{value!r} is not a host name: give only the server's name or address, e.g. "
                "customerftp.convio.net (no ftp://, no port, no folder)"
            )
        return host

    @property
    def address(self) -> str:
        """``host:port``, as messages name the server."""
        return f"{self.host}:{self.port}"

    @property
    def shortname(self) -> str | None:
        """The site's short name read from the account (``mysite_ds`` -> ``mysite``)."""
        if self.user.lower().endswith("_ds") and len(self.user) > 3:
            return self.user[:-3]
        return None


class ReConnectorSettings(BaseSettings):
    """The connector machine as Luminate's data sync operation calls it."""

    model_config = SettingsConfigDict(extra="forbid", hide_input_in_errors=True)

    operation_file_name: str = Field(
        min_length=1,
        description="Operation File Name of the site's RE connector data sync (Data Management "
        "> Import/Export > All Data Sync Operations > Edit > 3.), e.g. re_sync_v52.xml.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="The key Luminate's operation sends as 'Authorization: Bearer <key>' "
        "(SYNCFRAME_<CONNECTION>_API_KEY); not set: calls are not authenticated.",
    )
    site_shortname: str | None = Field(
        None,
        min_length=1,
        description="The site's short name, when the FTP account is not named <shortname>_ds.",
    )
