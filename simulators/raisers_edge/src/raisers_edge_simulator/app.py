"""The Raiser's Edge simulator: the query interface and import area the RE connector for
Luminate uses (contract section 4), and an admin API for what people do in RE itself.

Every ``/re/v1/`` request is checked in this order: the database switched off by the admin
(503, :data:`DATABASE_UNAVAILABLE`; the import area, a folder on the RE machine, still takes
files), then Basic auth of an RE user (401), then the operation. Answers are JSON
(``{"error": "..."}`` for refusals) except file bodies.

Files put in the import area change no RE data until they are imported: by the admin
(``POST /_admin/import-area/{name}/import``, what an RE user does in RE's Import), or on arrival
when the opt-in auto-import is on. See ``docs/simulators/raisers_edge.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Match, Route
from syncframe_simulators import FaultKind, FaultRule, Simulator
from syncframe_simulators.admin import describe_validation_error, json_response, read_json

from raisers_edge_simulator._bulk import paused_gc
from raisers_edge_simulator.admin import RaisersEdgeAdmin
from raisers_edge_simulator.database import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    ChangePage,
    DatabaseError,
    NotFound,
    RaisersEdgeDatabase,
)
from raisers_edge_simulator.import_area import AreaFile, ImportArea, check_file_name
from raisers_edge_simulator.imports import ImportException, ImportOutcome, import_file
from raisers_edge_simulator.inputs import (
    CodeEntryIn,
    ConstituentChange,
    ConstituentIn,
    GiftIn,
    SampleIn,
    SeedPayload,
    SettingsIn,
    UserIn,
    add_constituent,
    add_gift,
    seed_database,
)
from raisers_edge_simulator.sample import SampleDatabase, populate
from syncframe.clock import Clock

__all__ = [
    "API_PREFIX",
    "DATABASE_UNAVAILABLE",
    "DEFAULT_LIMIT",
    "LOGIN_FAILED",
    "MAX_LIMIT",
    "RaisersEdgeSimulator",
]

logger = logging.getLogger(__name__)

API_PREFIX: Final = "/re/v1"
DEFAULT_LIMIT: Final = 500
MAX_LIMIT: Final = 5000
#: What every query answers (503) while the database is switched off.
DATABASE_UNAVAILABLE: Final = (
    "The Raiser's Edge database is not available: the connection to the database server "
    "failed. Check that the database server is running and try again."
)
LOGIN_FAILED: Final = "Login failed: the RE user name or password is not valid."
_M = TypeVar("_M", bound=BaseModel)
_REALM: Final = 'Basic realm="Raiser\'s Edge", charset="UTF-8"'


class _ApiError(Exception):
    """A refusal of the query interface: status and message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        answer = json_response({"error": self.message}, self.status)
        answer.headers.update(self.headers)
        return answer


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _ApiError(400, f"{name}: {raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise _ApiError(400, f"{name}: {value} is not between {low} and {high}")
    return value


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _ApiError(
            400, f"{name}: {raw!r} is not an ISO-8601 time like 2026-01-01T09:00:00+00:00"
        ) from None
    # A time without an offset is read as UTC, the time the interface writes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    return raw if raw not in (None, "") else None


def _page_params(request: Request) -> dict[str, Any]:
    changed_since = _time_param(request, "changed_since")
    after_import_id = _text_param(request, "after_import_id")
    if after_import_id is not None and changed_since is None:
        raise _ApiError(400, "after_import_id: give it with changed_since (the key to page after)")
    return {
        "changed_since": changed_since,
        "after_import_id": after_import_id,
        "limit": _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        "offset": _int_param(request, "offset", 0, 0, 2**31 - 1),
    }


def _admin_error(status: int, message: str, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status)


def _admin_endpoint(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Bad admin input becomes ``{"error": ...}`` naming the field, never a traceback."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ValidationError as exc:
            return _admin_error(422, describe_validation_error(exc))
        except NotFound as exc:
            return _admin_error(404, str(exc))
        except ValueError as exc:  # DatabaseError, AdminInputError
            return _admin_error(400, str(exc))

    return endpoint


async def _admin_model(request: Request, model: type[_M]) -> _M:
    return model.model_validate_json(json.dumps(await read_json(request)))


_Handler = Callable[[Request], Response]


class RaisersEdgeSimulator(Simulator):
    """A Raiser's Edge 7 database behind the RE connector's query interface and import area."""

    name: ClassVar[str] = "raisers_edge"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        journal_size: int = 10_000,
        auto_import: bool = False,
    ) -> None:
        super().__init__(clock=clock, seed=seed, journal_size=journal_size)
        self.database = RaisersEdgeDatabase(self.clock)
        self.import_area = ImportArea()
        #: Every import run, oldest first.
        self.imports: list[ImportOutcome] = []
        self.auto_import = auto_import
        self.available = True
        self._initial_auto_import = auto_import
        # One lock around the database and the import area: requests run on worker threads,
        # and a test may seed or read from its own thread.
        self.lock = threading.RLock()
        self._operations = self._operation_table()

    # ---- conveniences for tests and the connector ------------------------------------------------

    @staticmethod
    def basic_auth(user: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
        """The ``Authorization`` header of an RE user."""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def api_client(
        self, user: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD, **kwargs: Any
    ) -> httpx.AsyncClient:
        """An in-process client of the query interface, logged in as ``user``."""
        headers = {**self.basic_auth(user, password), **kwargs.pop("headers", {})}
        return self.client(headers=headers, **kwargs)

    def admin(self) -> RaisersEdgeAdmin:
        """A client of the admin API, with the RE admin routes as methods."""
        return RaisersEdgeAdmin(self.client())

    def sample(self, constituents: int = 1000, gifts: int = 5000, seed: int = 0) -> SampleDatabase:
        """Add the generated sample database (``sample.py``); the same seed and clock give the
        same records."""
        with self.lock:
            return populate(self.database, constituents=constituents, gifts=gifts, seed=seed)

    # ---- the import ----------------------------------------------------------------------------

    def import_file(self, name: str) -> ImportOutcome:
        """Import the file ``name`` of the import area now (what an RE user does in Import).

        :class:`DatabaseError` when the database is switched off; a refused file comes back
        with ``refused`` set (and stays not imported)."""
        with self.lock:
            if not self.available:
                raise DatabaseError(
                    f"name: {DATABASE_UNAVAILABLE} The file {name} stays in the import area."
                )
            landed = self.import_area.get(name)
            with paused_gc():
                outcome = import_file(
                    self.database,
                    landed.path,
                    file_name=name,
                    run=len(self.imports) + 1,
                    imported_at=self.clock.now(),
                )
            self.imports.append(outcome)
            landed.outcome = outcome
            landed.imported = outcome.refused is None
            return outcome

    def exceptions(self, file: str | None = None) -> list[ImportException]:
        """The exceptions report: the exceptions of the latest import of each file (of one
        file with ``file``), in the order the files were imported."""
        with self.lock:
            latest: dict[str, ImportOutcome] = {}
            for outcome in self.imports:
                latest.pop(outcome.file, None)
                latest[outcome.file] = outcome
            return [
                entry
                for outcome in latest.values()
                if file is None or outcome.file == file
                for entry in outcome.exceptions
            ]

    def configure(self, *, auto_import: bool | None = None, available: bool | None = None) -> None:
        """Switch the auto-import or the database on or off. Whenever both end up on, every
        file that waits in the import area, never imported, is imported now, oldest first (as
        a scheduled import job would find them): files that arrived while the database was off
        or before auto-import was switched on."""
        with self.lock:
            if auto_import is not None:
                self.auto_import = auto_import
            if available is not None:
                self.available = available
            if self.auto_import and self.available:
                for waiting in self.import_area.listed():
                    if waiting.outcome is None:
                        self.import_file(waiting.name)

    def settings(self) -> dict[str, Any]:
        with self.lock:
            return {"auto_import": self.auto_import, "available": self.available}

    # ---- routes ----------------------------------------------------------------------------------

    def _operation_table(self) -> list[tuple[Route, str]]:
        """``(route, operation name)`` of every operation of the query interface."""
        p = API_PREFIX
        table: list[tuple[str, str, str, Callable[[Request], Awaitable[Response]]]] = [
            ("GET", f"{p}/constituents", "ListConstituents", self._query(self._constituents)),
            (
                "GET",
                f"{p}/code-tables/{{table}}",
                "GetCodeTable",
                self._query(self._code_table),
            ),
            ("GET", f"{p}/gifts", "ListGifts", self._query(self._gifts)),
            ("GET", f"{p}/gifts/{{import_id}}", "GetGift", self._query(self._gift)),
            ("GET", f"{p}/pledges", "ListPledges", self._query(self._pledges)),
            (
                "GET",
                f"{p}/import-area",
                "ListImportArea",
                self._query(self._list_area, database=False),
            ),
            ("PUT", f"{p}/import-area/{{name}}", "PutImportFile", self._put_file),
            ("GET", f"{p}/import-area/{{name}}", "GetImportFile", self._get_file),
        ]
        return [
            (Route(path, endpoint, methods=[method]), operation)
            for method, path, operation, endpoint in table
        ]

    def operations(self) -> list[tuple[str, str, str]]:
        """``(method, path, operation name)`` of every operation the interface serves."""
        return [
            (next(iter(route.methods - {"HEAD"} if route.methods else ())), route.path, operation)
            for route, operation in self._operations
        ]

    def api_routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [route for route, _ in self._operations]
        routes.append(
            Route(
                "/{path:path}",
                self._no_operation,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            )
        )
        return routes

    async def operation_of(self, request: Request) -> str | None:
        for route, operation in self._operations:
            match, _ = route.matches(request.scope)
            if match == Match.FULL:
                return operation
        return None

    async def _no_operation(self, request: Request) -> Response:
        return json_response(
            {"error": f"There is no {request.method} {request.url.path} in the RE interface."},
            404,
        )

    # ---- checks every request passes -------------------------------------------------------------

    def _check_login(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": _REALM}
        if scheme.lower() != "basic" or not token:
            raise _ApiError(401, f"{LOGIN_FAILED} Send an RE user with Basic auth.", challenge)
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _ApiError(401, f"{LOGIN_FAILED} The Basic credentials are not valid.") from None
        if not sep or not self.database.check_login(user, password):
            raise _ApiError(401, LOGIN_FAILED, challenge)

    def _checked(self, request: Request, *, database: bool) -> None:
        """The checks before an operation: the database switched on (for a query), a login."""
        if database and not self.available:
            raise _ApiError(503, DATABASE_UNAVAILABLE)
        self._check_login(request)

    def _query(
        self, handler: _Handler, *, database: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        """An operation run under the lock, after :meth:`_checked`. The import area is a folder
        on the RE machine: its operations (``database=False``) work while the database is off."""

        def answer(request: Request) -> Response:
            with self.lock:
                try:
                    self._checked(request, database=database)
                    return handler(request)
                except _ApiError as exc:
                    return exc.response()
                except Exception:
                    logger.exception("RE simulator: unexpected error in %s", request.url.path)
                    return _ApiError(500, "An unexpected error occurred in RE.").response()

        async def endpoint(request: Request) -> Response:
            # On a worker thread: a request waiting for the lock (held by a long import) must
            # not stop the event loop, which still answers the admin API and other files.
            return await anyio.to_thread.run_sync(answer, request)

        return endpoint

    # ---- the query interface ---------------------------------------------------------------------

    @staticmethod
    def _paged(key: str, page: ChangePage) -> Response:
        body = {key: [record.render() for record in page.records], "total": page.total}
        return json_response(body)

    def _constituents(self, request: Request) -> Response:
        page = self.database.changed_constituents(**_page_params(request))
        return self._paged("constituents", page)

    def _code_table(self, request: Request) -> Response:
        try:
            table = self.database.table_name(request.path_params["table"])
        except NotFound as exc:
            raise _ApiError(404, str(exc).removeprefix("table: ")) from None
        entries = [entry.render() for entry in self.database.code_entries(table)]
        return json_response({"table": table, "entries": entries})

    def _gifts(self, request: Request) -> Response:
        types = request.query_params.getlist("type")
        page = self.database.changed_gifts(
            **_page_params(request),
            constituent_import_id=_text_param(request, "constituent_import_id"),
            types=frozenset(types) if types else None,
        )
        return self._paged("gifts", page)

    def _gift(self, request: Request) -> Response:
        try:
            found = self.database.gift(request.path_params["import_id"])
        except NotFound as exc:
            raise _ApiError(404, str(exc).removeprefix("import_id: ")) from None
        return json_response(found.render())

    def _pledges(self, request: Request) -> Response:
        page = self.database.changed_gifts(
            **_page_params(request),
            constituent_import_id=_text_param(request, "constituent_import_id"),
            types=frozenset({"Pledge"}),
        )
        return self._paged("pledges", page)

    # ---- the import area ---------------------------------------------------------------------

    def _list_area(self, request: Request) -> Response:
        return json_response({"files": [f.render() for f in self.import_area.listed()]})

    def _incoming(self, request: Request) -> Path | Response:
        """Where an arriving file is written, or the refusal of the request."""
        with self.lock:
            try:
                self._checked(request, database=False)
                check_file_name(request.path_params["name"])
            except _ApiError as exc:
                return exc.response()
            except DatabaseError as exc:
                return _ApiError(400, str(exc)).response()
            return self.import_area.incoming_path()

    async def _put_file(self, request: Request) -> Response:
        incoming = await anyio.to_thread.run_sync(self._incoming, request)
        if isinstance(incoming, Response):
            return incoming
        # Streamed to disk: a file of half a million rows never sits in memory whole.
        try:
            async with await anyio.open_file(incoming, "wb") as target:
                async for chunk in request.stream():
                    await target.write(chunk)
            name = request.path_params["name"]
            landed = await anyio.to_thread.run_sync(self._land, name, incoming)
        finally:
            await anyio.Path(incoming).unlink(missing_ok=True)
        return json_response({"name": landed.name, "size": landed.size}, 201)

    def _land(self, name: str, incoming: Path) -> AreaFile:
        with self.lock:
            landed = self.import_area.land(name, incoming, self.clock.now())
            if self.auto_import and self.available:
                self.import_file(name)
            return landed

    def _stored(self, request: Request) -> AreaFile | Response:
        name = request.path_params["name"]
        with self.lock:
            try:
                self._checked(request, database=False)
                return self.import_area.get(name)
            except _ApiError as exc:
                return exc.response()
            except NotFound:
                return _ApiError(404, f"There is no file {name!r} in the import area.").response()

    async def _get_file(self, request: Request) -> Response:
        stored = await anyio.to_thread.run_sync(self._stored, request)
        if isinstance(stored, Response):
            return stored
        csv_file = stored.name.endswith(".csv")
        media_type = "text/csv; charset=utf-8" if csv_file else "application/octet-stream"
        return FileResponse(stored.path, media_type=media_type)

    # ---- injected faults -------------------------------------------------------------------------

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        if kind == "malformed":
            cut = (
                b'{"constituents": [{"import_id": "00001-079-0000001", "constituent_id": '
                b'"10001", "luminate_id": null, "first_name": "Ada", "last_na'
            )
            return Response(cut, media_type="application/json")
        return super().fault_response(kind, rule, operation)

    # ---- state -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            state = self.database.snapshot()
            state["import_area"] = [
                {
                    **f.render(),
                    "outcome": f.outcome.render(with_exceptions=False) if f.outcome else None,
                }
                for f in self.import_area.listed()
            ]
            state["imports"] = [outcome.render() for outcome in self.imports]
            state["settings"] = self.settings()
            return state

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        given = SeedPayload.model_validate(payload)
        with self.lock:
            return seed_database(self.database, given, sample=self._sample_json)

    def _sample_json(self, size: SampleIn) -> dict[str, Any]:
        made = self.sample(size.constituents, size.gifts, size.seed)
        return {
            key: value if isinstance(value, int) else len(value)
            for key, value in vars(made).items()
        }

    def reset(self) -> None:
        with self.lock:
            self.database.reset()
            self.import_area.clear()
            self.imports.clear()
            self.auto_import = self._initial_auto_import
            self.available = True

    # ---- admin routes: what people do in RE --------------------------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        def route(
            path: str, handler: Callable[[Request], Awaitable[Response]], method: str
        ) -> Route:
            return Route(path, _admin_endpoint(handler), methods=[method])

        n = f"/{self.name}"
        return [
            route(f"{n}/settings", self._admin_settings, "GET"),
            route(f"{n}/settings", self._admin_settings, "POST"),
            route(f"{n}/users", self._admin_user, "POST"),
            route(f"{n}/code-tables/{{table}}", self._admin_code, "POST"),
            route(f"{n}/constituents", self._admin_add_constituent, "POST"),
            route(f"{n}/constituents/{{import_id}}", self._admin_constituent, "GET"),
            route(f"{n}/constituents/{{import_id}}", self._admin_edit_constituent, "PATCH"),
            route(f"{n}/gifts", self._admin_add_gift, "POST"),
            route(f"{n}/sample", self._admin_sample, "POST"),
            route(f"{n}/imports", self._admin_imports, "GET"),
            route(f"{n}/exceptions", self._admin_exceptions, "GET"),
            route(f"{n}/import-area/{{name}}", self._admin_remove_file, "DELETE"),
            route(f"{n}/import-area/{{name}}/import", self._admin_import, "POST"),
            # The contract's path for the same action (section 4).
            route("/import-area/{name}/import", self._admin_import, "POST"),
        ]

    async def _admin_settings(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _admin_model(request, SettingsIn)
            await anyio.to_thread.run_sync(
                lambda: self.configure(auto_import=body.auto_import, available=body.available)
            )
        return json_response(self.settings())

    async def _admin_user(self, request: Request) -> Response:
        body = await _admin_model(request, UserIn)
        with self.lock:
            self.database.add_user(body.name, body.password)
        return json_response({"name": body.name}, 201)

    async def _admin_code(self, request: Request) -> Response:
        body = await _admin_model(request, CodeEntryIn)
        with self.lock:
            table = self.database.table_name(request.path_params["table"])
            entry = self.database.set_code(table, body.code, body.description, body.active)
        return json_response({"table": table, **entry.render()}, 201)

    async def _admin_add_constituent(self, request: Request) -> Response:
        body = await _admin_model(request, ConstituentIn)
        with self.lock:
            return json_response(add_constituent(self.database, body).render_full(), 201)

    async def _admin_constituent(self, request: Request) -> Response:
        with self.lock:
            found = self.database.constituent(request.path_params["import_id"])
            gifts = [
                gift.render()
                for gift in self.database.gifts.values()
                if gift.constituent_import_id == found.import_id
            ]
            return json_response({**found.render_full(), "gifts": gifts})

    async def _admin_edit_constituent(self, request: Request) -> Response:
        body = await _admin_model(request, ConstituentChange)
        with self.lock:
            found = self.database.constituent(request.path_params["import_id"])
            edited = self.database.edit_constituent(found, body.changes())
            return json_response(edited.render_full())

    async def _admin_add_gift(self, request: Request) -> Response:
        body = await _admin_model(request, GiftIn)
        with self.lock:
            return json_response(add_gift(self.database, body).render(), 201)

    async def _admin_sample(self, request: Request) -> Response:
        raw = await read_json(request, object_required=False)
        size = SampleIn.model_validate(raw or {})
        made = await anyio.to_thread.run_sync(self._sample_json, size)
        return json_response(made, 201)

    async def _admin_imports(self, request: Request) -> Response:
        with self.lock:
            runs = [outcome.render(with_exceptions=False) for outcome in self.imports]
        return json_response({"imports": runs})

    async def _admin_exceptions(self, request: Request) -> Response:
        file = request.query_params.get("file") or None
        entries = [entry.render() for entry in self.exceptions(file)]
        return json_response({"exceptions": entries})

    async def _admin_remove_file(self, request: Request) -> Response:
        with self.lock:
            removed = self.import_area.remove(request.path_params["name"])
        return json_response({"removed": removed.name})

    async def _admin_import(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            outcome = await anyio.to_thread.run_sync(self.import_file, name)
        except NotFound as exc:
            return _admin_error(404, str(exc))
        except DatabaseError as exc:
            return _admin_error(409, str(exc).removeprefix("name: "))
        if outcome.refused is not None:
            return _admin_error(422, outcome.refused, **outcome.render())
        return json_response(outcome.render())
