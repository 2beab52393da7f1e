"""The client of the RE query interface: changed constituents, code tables and the import area.

It uses the engine's HTTP client for the connection (limits, timeout, the simulator's transport
in tests) and logs in with HTTP Basic as the configured RE user on every request. Errors go
through :func:`syncframe.http.raise_for_status` (a 401 is a :class:`PermanentError` "HTTP 401",
5xx and 429 are transient); a server that cannot be reached is a :class:`TransientError` naming
the address. The password never appears in a message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import anyio
import httpx

from syncframe.components import ComponentContext, PermanentError, TransientError
from syncframe.http import raise_for_status
from syncframe_re_connector.settings import RaisersEdgeSettings

__all__ = ["API_PREFIX", "ConstituentPage", "ReClient", "re_client_of"]

#: Where the query interface's API lives under the server's address.
API_PREFIX: Final = "/re/v1"
_CHUNK: Final = 256 * 1024
#: 4xx answers about the request rather than the file: credentials, time, throttling.
_NOT_THE_FILE: Final = frozenset({401, 403, 407, 408, 425, 429})


class ConstituentPage:
    """One page of ``GET /re/v1/constituents``: the constituents and the total after the date."""

    __slots__ = ("constituents", "total")

    def __init__(self, constituents: list[dict[str, Any]], total: int) -> None:
        self.constituents = constituents
        self.total = total


class ReClient:
    """Calls the RE query interface through an engine-made :class:`httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient, settings: RaisersEdgeSettings) -> None:
        self._http = http
        self.settings = settings
        self._auth = httpx.BasicAuth(settings.user, settings.password.get_secret_value())

    def _url(self, path: str) -> str:
        return f"{self.settings.url}{API_PREFIX}{path}"

    async def _send(self, what: str, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._http.send(request, auth=self._auth)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise TransientError(
                f"{what}: the RE query interface at {self.settings.url} is not reachable: {reason}"
            ) from None
        raise_for_status(response, what)
        return response

    async def _json(self, what: str, request: httpx.Request) -> dict[str, Any]:
        response = await self._send(what, request)
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"{what}: the answer is not JSON: {response.text[:200]!r}"
            ) from None
        if not isinstance(body, dict):
            raise PermanentError(f"{what}: the answer is not a JSON object: {response.text[:200]}")
        return body

    # ---- queries -------------------------------------------------------------------------------
    async def ping(self) -> None:
        """Log in and ask for one constituent: a connection check that reads nothing much."""
        request = self._http.build_request("GET", self._url("/constituents"), params={"limit": 1})
        await self._json("checking the RE connection", request)

    async def constituents(
        self, changed_since: datetime | None, *, limit: int, offset: int
    ) -> ConstituentPage:
        """Constituents changed after ``changed_since`` (exclusive), by (date_changed,
        import_id)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if changed_since is not None:
            params["changed_since"] = changed_since.isoformat()
        request = self._http.build_request("GET", self._url("/constituents"), params=params)
        body = await self._json("reading changed RE constituents", request)
        found = body.get("constituents")
        if not isinstance(found, list):
            raise PermanentError(
                "reading changed RE constituents: the answer has no 'constituents' list"
            )
        total = body.get("total")
        return ConstituentPage(found, int(total) if isinstance(total, int) else len(found))

    async def code_table(self, table: str) -> list[dict[str, Any]]:
        """The entries of one cross-reference code table (Campaign, Fund or Appeal)."""
        what = f"reading RE's {table} code table"
        request = self._http.build_request("GET", self._url(f"/code-tables/{quote(table)}"))
        body = await self._json(what, request)
        entries = body.get("entries")
        if not isinstance(entries, list):
            raise PermanentError(f"{what}: the answer has no 'entries' list")
        return entries

    # ---- the import area -----------------------------------------------------------------------
    async def import_area(self) -> list[dict[str, Any]]:
        """The files in RE's import area (name, size, received_at, imported)."""
        request = self._http.build_request("GET", self._url("/import-area"))
        body = await self._json("listing RE's import area", request)
        files = body.get("files")
        if not isinstance(files, list):
            raise PermanentError("listing RE's import area: the answer has no 'files' list")
        return files

    async def put_file(self, name: str, path: Path) -> str | None:
        """Put the local file ``path`` into the import area as ``name`` (a file of that name is
        replaced: putting the same file twice is harmless). ``None`` when RE has it; RE's reason
        when it refuses this file (a 4xx other than 401, 403, 408 and 429)."""
        what = f"putting {name} into RE's import area"
        size = (await anyio.Path(path).stat()).st_size
        request = self._http.build_request(
            "PUT",
            self._url(f"/import-area/{quote(name)}"),
            content=_chunks(path),
            headers={"Content-Type": "text/csv; charset=utf-8", "Content-Length": str(size)},
        )
        try:
            response = await self._http.send(request, auth=self._auth)
        except httpx.TransportError as exc:
            raise TransientError(
                f"{what}: the RE query interface at {self.settings.url} is not reachable: "
                f"{str(exc) or type(exc).__name__}"
            ) from None
        if 400 <= response.status_code < 500 and response.status_code not in _NOT_THE_FILE:
            return f"{what}: HTTP {response.status_code}: {response.text[:300].strip()}"
        raise_for_status(response, what)
        return None


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes in chunks, read on a worker thread (a file may be large)."""
    async with await anyio.open_file(path, "rb") as source:
        while chunk := await source.read(_CHUNK):
            yield chunk


def re_client_of(context: ComponentContext) -> ReClient:
    """The RE client of a component on a ``raisers_edge`` connection."""
    settings = context.connection
    if not isinstance(settings, RaisersEdgeSettings):
        raise PermanentError(f"connection {context.connection_name!r} is not a raisers_edge one")
    return ReClient(context.http(), settings)
