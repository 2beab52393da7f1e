"""The connector machine's HTTP API, mounted by ``syncframe serve`` under ``/re-connector``.

Luminate's data sync operation calls, with ``Authorization: Bearer <key>`` when the operation
has a connector key:

* ``POST /re-connector/upload`` ``{"result_id": 17, "operation_file_name": "re_sync_v52.xml"}``
  -> ``200 {"files": ["re_17_constituents.csv", "re_17_codetables.csv"], "problems": []}``;
* ``POST /re-connector/download`` ``{"result_id": 17}``
  -> ``200 {"collected": ["luminate_17_transactions.csv"], "problems": []}``.

The flows run through the serve process's :class:`~syncframe.serve.FlowService`, so a call never
runs a flow at the same time as its schedule. A failure of the connector's own (RE unreachable,
the FTP login refused, a bug) is answered ``200`` with no files and the problem in words, never
a traceback and never a secret. A key that does not match the connector's ``api_key`` gets
``401 {"error": ...}``; a body that is not what the contract says gets ``400 {"error": ...}``.
"""

from __future__ import annotations

import hmac
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncframe.serve import FlowService
from syncframe_re_connector.cycles import ConnectorCycles, CycleAnswer
from syncframe_re_connector.setup import ConnectorSetup

__all__ = ["PREFIX", "connector_routes", "serve_routes"]

#: Where the API is mounted in ``syncframe serve``.
PREFIX: Final = "/re-connector"
#: The largest body read: a call carries two small values.
MAX_BODY_BYTES: Final = 64 * 1024

log = logging.getLogger("syncframe.re_connector")


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def serve_routes(service: FlowService) -> list[BaseRoute]:
    """The connector's routes for ``syncframe serve`` (registered by the plugin)."""
    engine = service.engine
    setup = ConnectorSetup.of(engine.config)
    if setup.connection is None:
        return []  # a flow file without the connector: nothing of ours to serve
    return connector_routes(ConnectorCycles(setup, engine.state, service.run, engine.clock))


def connector_routes(cycles: ConnectorCycles) -> list[BaseRoute]:
    """``/re-connector/upload`` and ``/re-connector/download`` answered by ``cycles``."""

    async def upload(request: Request) -> Response:
        async def call(body: dict[str, Any]) -> dict[str, Any]:
            result_id = _result_id(body)
            name = body.get("operation_file_name")
            if name is not None and not isinstance(name, str):
                raise _Refused(400, "operation_file_name: give the Operation File Name as text")
            answer = await cycles.upload(result_id, name)
            return {"files": answer.files, "problems": answer.problems}

        return await _answer(cycles, request, "upload", call)

    async def download(request: Request) -> Response:
        async def call(body: dict[str, Any]) -> dict[str, Any]:
            answer = await cycles.download(_result_id(body))
            return {"collected": answer.files, "problems": answer.problems}

        return await _answer(cycles, request, "download", call)

    return [
        Route(f"{PREFIX}/upload", upload, methods=["POST"], name="re_connector_upload"),
        Route(f"{PREFIX}/download", download, methods=["POST"], name="re_connector_download"),
    ]


def _result_id(body: dict[str, Any]) -> int:
    value = body.get("result_id")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Refused(
            400, f"result_id: give Luminate's result id as a whole number, not {value!r}"
        )
    return value


def _authorize(cycles: ConnectorCycles, request: Request) -> None:
    settings = cycles.setup.settings
    if settings is None or settings.api_key is None:
        return
    expected = f"Bearer {settings.api_key.get_secret_value()}".encode()
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        where = f"connections.{cycles.setup.connection}.api_key"
        raise _Refused(
            401,
            "the connector key is missing or wrong: Luminate's data sync operation must send "
            f"'Authorization: Bearer <key>' with the key set as {where}",
        )


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _Refused(400, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise _Refused(400, 'the body is not JSON: send {"result_id": <number>, ...}') from None
    if not isinstance(body, dict):
        raise _Refused(400, 'the body must be a JSON object: {"result_id": <number>, ...}')
    return body


async def _answer(
    cycles: ConnectorCycles,
    request: Request,
    kind: str,
    call: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
) -> Response:
    setup = cycles.setup
    if setup.settings is None and not setup.uploads and not setup.downloads:
        return JSONResponse(
            {
                "error": f"{setup.config.path.name} configures no RE connector (no connection "
                "of system re_connector, no connector flow); see docs/re-connector.md"
            },
            404,
        )
    try:
        _authorize(cycles, request)
        body = await _body(request)
        return JSONResponse(await call(body))
    except _Refused as refused:
        log.warning("RE connector %s call refused (%d): %s", kind, refused.status, refused.message)
        return JSONResponse({"error": refused.message}, refused.status)
    except Exception as exc:
        # The connector's own failure is a problem in the answer; the traceback goes to the log.
        log.error(
            "RE connector %s call failed\n%s",
            kind,
            cycles.scrub("".join(traceback.format_exception(exc))),
        )
        problem = cycles.scrub(f"the connector failed: {type(exc).__name__}: {exc}")
        empty = CycleAnswer([], [problem])
        key = "files" if kind == "upload" else "collected"
        return JSONResponse({key: empty.files, "problems": empty.problems})
