"""The real-time API: ``/apis/execute.php`` runs a flow at once and answers with its result.

SmartSYNC's documented part (reference ``smartsync.md`` §2): the account enables "API Access"
(``smartsync_account`` connection, ``api_enabled = true``); a caller sends ``flow`` (the Flow
ID), ``key`` (the API Key), ``ts`` (Unix time in seconds) and ``check``: the lowercase hex MD5
of the values of every other parameter sorted by name, joined with ``|``, then ``|`` and the
API Secret. A GET carries them in the query and runs a flow without input (a polling flow:
"check now for a change").

Assumed (§3, and choices written down in ``docs/smartsync/realtime-api.md``):

- a POST also carries data fields, form-encoded or as a JSON object, and the checksum covers
  every parameter (query and body) except ``check``; data goes only to a flow whose event step
  is the real-time API itself, where it becomes the run's one change;
- ``ts`` must be within ``timestamp_window`` (300 s) of the server's clock either way, and
  ``check`` is accepted in any letter case;
- answers are JSON: ``{"success": true, "flow", "run_id", "status", "counts", "results"}`` or
  ``{"success": false, "error"}`` with 400, 401, 403, 404, 405, 413, 415 or 500.

The module knows nothing of the engine: :func:`realtime_routes` takes the account settings, a
:class:`FlowRunner` (the serve process implements it) and the clock the timestamps are checked
against. ``request_id`` handed to the runner is the request's ``check`` in lower case: an exact
replay of a request within the window carries the same id, so the runner recognises it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from syncframe.clock import Clock
from syncframe_smartsync.account import SYSTEM as ACCOUNT_SYSTEM
from syncframe_smartsync.account import AccountSettings

__all__ = [
    "EXECUTE_PATH",
    "MAX_BODY_BYTES",
    "REQUEST_PARAMETERS",
    "FlowRunner",
    "RealtimeRefused",
    "RealtimeResult",
    "checksum",
    "realtime_routes",
    "sign",
]

log = logging.getLogger(__name__)

#: Where the API is served (the path SmartSYNC uses).
EXECUTE_PATH: Final = "/apis/execute.php"
#: The parameters of every request; any other parameter is a data field for the flow.
REQUEST_PARAMETERS: Final = ("flow", "key", "ts", "check")
#: The largest POST body read: one record's fields are far smaller.
MAX_BODY_BYTES: Final = 1024 * 1024

_FLOW: Final = re.compile(r"[0-9]{1,18}")
_TS: Final = re.compile(r"[0-9]{1,12}")
_CHECK: Final = re.compile(r"[0-9A-Fa-f]{32}")
_FORM: Final = "application/x-www-form-urlencoded"
_ALLOWED_METHODS: Final = ("GET", "POST")


# --------------------------------------------------------------------------------------------
# The checksum


def checksum(params: Mapping[str, str], secret: str) -> str:
    """The ``check`` of a request: the lowercase hex MD5 of the values of every parameter but
    ``check``, in the order of their names, joined with ``|``, then ``|`` and ``secret``.

    >>> checksum({"flow": "69", "key": "sdfjh435hh345454", "ts": "9348579834"}, "dfhfdjsghs")
    '03d0065b2655eed0f4612cc7277c5e60'
    """
    values = [value for name, value in sorted(params.items()) if name != "check"]
    text = "|".join([*values, secret])
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def sign(
    params: Mapping[str, str | int], key: str, secret: str, ts: int | datetime
) -> dict[str, str]:
    """``params`` (``flow`` and any data fields) with ``key``, ``ts`` and their ``check`` added:
    what a client sends. ``ts`` is Unix time in seconds, or a moment (whole seconds taken)."""
    when = ts if isinstance(ts, int) else math.floor(ts.timestamp())
    signed = {name: str(value) for name, value in params.items() if name != "check"}
    signed["key"] = key
    signed["ts"] = str(when)
    signed["check"] = checksum(signed, secret)
    return signed


# --------------------------------------------------------------------------------------------
# What the serve process provides


@dataclass(frozen=True, slots=True)
class RealtimeResult:
    """How a run the real-time API asked for ended.

    ``status`` is the run's (``succeeded``, ``failed``, ``interrupted``...): anything but
    ``succeeded`` is answered with 500 and ``error``. ``results`` holds one entry per record,
    each with its steps' outcomes, as the caller gets them.
    """

    run_id: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the run finished (its records' own outcomes are in ``results``)."""
        return self.status == "succeeded"


class FlowRunner(Protocol):
    """Runs flows for the real-time API (implemented by the serve process)."""

    def flow_name(self, flow_id: int) -> str | None:
        """The name of the enabled flow with Flow ID ``flow_id``; ``None`` when no flow has it
        or that flow is disabled."""
        ...

    def takes_data(self, flow: str) -> bool:
        """Whether ``flow``'s event step is the real-time API itself, so the data of a request
        becomes the run's one change (a polling flow takes none)."""
        ...

    async def run(
        self, flow: str, data: Mapping[str, str] | None, request_id: str
    ) -> RealtimeResult:
        """Run ``flow`` now (after a run of it already going) and say how it ended.

        ``data``: the request's data fields (``None`` for a flow that takes none).
        ``request_id``: the request's ``check``, lower case; the same for an exact replay, which
        must not be applied twice. Raise :class:`RealtimeRefused` to refuse the request.
        """
        ...


# --------------------------------------------------------------------------------------------
# The endpoint


@dataclass(frozen=True, slots=True)
class _Account:
    """The enabled account's credentials, as the endpoint uses them."""

    key: str
    secret: str
    window: timedelta

    @property
    def secrets(self) -> list[str]:
        """What never goes into an answer or a log line; the longer first, so that a key inside
        the secret leaves no piece of it."""
        return sorted((self.secret, self.key), key=len, reverse=True)


class RealtimeRefused(Exception):
    """A request answered with an error: ``{"success": false, "error": message}`` and
    ``status`` (400-599).

    The API raises it for what it checks itself; a :class:`FlowRunner` raises it to refuse the
    request with a status of its choosing (400 when the data lacks the field that identifies
    the record, say) instead of the 500 any other exception gets.
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"a refusal has an error status (400-599), not {status}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def realtime_routes(
    account: Callable[[], AccountSettings | None], runner: FlowRunner, clock: Clock
) -> list[Route]:
    """The route of ``/apis/execute.php`` (GET and POST; other methods get 405).

    ``account`` is asked on every request (``None``: no ``smartsync_account`` connection), so a
    reloaded configuration takes effect at once. ``clock`` is the only source of the time
    ``ts`` is checked against.
    """
    # An ASGI app rather than a function: the route then takes every method, and the API
    # answers the ones it refuses itself, in JSON.
    return [
        Route(EXECUTE_PATH, _RealtimeApi(account, runner, clock), name="smartsync_realtime_api")
    ]


@dataclass(frozen=True, slots=True)
class _RealtimeApi:
    account: Callable[[], AccountSettings | None]
    runner: FlowRunner
    clock: Clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.execute(Request(scope, receive))
        await response(scope, receive, send)

    async def execute(self, request: Request) -> Response:
        account: _Account | None = None
        try:
            account = self._enabled_account()
            if request.method not in _ALLOWED_METHODS:
                # HEAD too: a GET runs a flow, so a HEAD must not.
                raise RealtimeRefused(
                    405,
                    f"{request.method} is not accepted: call the real-time API with GET (no "
                    "data) or POST (data fields, form-encoded or JSON)",
                    {"Allow": ", ".join(_ALLOWED_METHODS)},
                )
            return await self._run(request, account)
        except RealtimeRefused as refused:
            # A run's error may quote anything: the message is scrubbed before it is logged.
            message = _scrubbed(refused.message, account.secrets if account else [])
            log.warning("real-time API: refused with %d: %s", refused.status, message)
            body = {"success": False, "error": refused.message}
            return _answer(refused.status, body, account, refused.headers)

    def _enabled_account(self) -> _Account:
        settings = self.account()
        if settings is None:
            raise RealtimeRefused(
                403,
                "the real-time API is not set up: add a connection with system = "
                f'"{ACCOUNT_SYSTEM}" and api_enabled = true, its API Key and API Secret in '
                "SYNCFRAME_<CONNECTION>_API_KEY and SYNCFRAME_<CONNECTION>_API_SECRET",
            )
        if not (settings.api_enabled and settings.api_key and settings.api_secret):
            raise RealtimeRefused(
                403,
                "the real-time API is disabled for this account: set api_enabled = true on "
                f"its {ACCOUNT_SYSTEM} connection (Admin > Account > API Access > Enable?)",
            )
        return _Account(
            settings.api_key.get_secret_value(),
            settings.api_secret.get_secret_value(),
            settings.timestamp_window,
        )

    async def _run(self, request: Request, account: _Account) -> Response:
        params = await _parameters(request)
        flow_id, key, ts, check = _request_parameters(params)
        self._authenticate(params, key, check, account)
        self._check_time(ts, account)

        flow = self.runner.flow_name(flow_id)
        if flow is None:
            raise RealtimeRefused(
                404,
                f"no enabled flow has Flow ID {flow_id}: check the Flow ID, and that the flow "
                "is enabled",
            )
        data = {name: value for name, value in params.items() if name not in REQUEST_PARAMETERS}
        takes_data = self.runner.takes_data(flow)
        if data and not takes_data:
            raise RealtimeRefused(
                400,
                f"flow {flow_id} ({flow}) takes no data: its event step is not the real-time "
                f"API, so the fields {_listed(sorted(data))} cannot be given to it; call it "
                "with flow, key, ts and check only",
            )
        if takes_data and not data:
            raise RealtimeRefused(
                400,
                f"flow {flow_id} ({flow}) runs on the record it is given (its event step is the "
                "real-time API): POST the record's fields, e.g. email and first_name, with flow, "
                "key, ts and check",
            )

        request_id = check.lower()
        try:
            result = await self.runner.run(flow, data if takes_data else None, request_id)
        except RealtimeRefused:
            raise
        except Exception as exc:
            # The caller gets what went wrong; the log keeps the traceback.
            trace = "".join(traceback.format_exception(exc))
            log.error(
                "real-time API: flow %d (%s) could not run\n%s",
                flow_id,
                flow,
                _scrubbed(trace, account.secrets),
            )
            raise RealtimeRefused(
                500, f"flow {flow_id} ({flow}) could not run: {type(exc).__name__}: {exc}"
            ) from exc

        body: dict[str, Any] = {
            "success": result.succeeded,
            "flow": flow_id,
            "run_id": result.run_id,
            "status": result.status,
            "counts": result.counts,
            "results": result.results,
        }
        if result.succeeded:
            log.info(
                "real-time API: flow %d (%s) run %s succeeded %s",
                flow_id,
                flow,
                result.run_id,
                result.counts,
            )
            return _answer(200, body, account)
        reason = result.error or "no error was recorded"
        body["error"] = f"flow {flow_id} ({flow}) run {result.run_id} {result.status}: {reason}"
        log.warning("real-time API: %s", _scrubbed(body["error"], account.secrets))
        return _answer(500, body, account)

    def _authenticate(
        self, params: Mapping[str, str], key: str, check: str, account: _Account
    ) -> None:
        if not hmac.compare_digest(key.encode("utf-8"), account.key.encode("utf-8")):
            raise RealtimeRefused(
                401,
                "unknown API key: send the account's API Key as key (the api_key of its "
                f"{ACCOUNT_SYSTEM} connection)",
            )
        expected = checksum(params, account.secret)
        if not hmac.compare_digest(expected, check.lower()):
            signed = sorted(name for name in params if name != "check")
            raise RealtimeRefused(
                401,
                "check does not match this request: it must be the lowercase hex MD5 of the "
                f"values of {_listed(signed)} (every parameter but check, query and body, in "
                "the order of their names) joined with '|', followed by '|' and the API "
                "Secret; sign exactly the parameters sent, with the values sent",
            )

    def _check_time(self, ts: int, account: _Account) -> None:
        now = math.floor(self.clock.now().timestamp())
        window = account.window.total_seconds()
        skew = ts - now
        if abs(skew) <= window:
            return
        server_time = f"{now} ({datetime.fromtimestamp(now, UTC).isoformat()})"
        if skew < 0:
            raise RealtimeRefused(
                401,
                f"ts {ts} is stale: {-skew} seconds before the server's time {server_time}, "
                f"and requests are accepted within {window:g} seconds of it; sign the request "
                "again with the current Unix time",
            )
        raise RealtimeRefused(
            401,
            f"ts {ts} is in the future: {skew} seconds after the server's time {server_time}, "
            f"and requests are accepted within {window:g} seconds of it; check the caller's "
            "clock",
        )


# --------------------------------------------------------------------------------------------
# Reading a request


async def _parameters(request: Request) -> dict[str, str]:
    """Every parameter of the request, the query's and (for a POST) the body's; each name once."""
    given: list[tuple[str, str, str]] = [
        ("the query", name, value) for name, value in request.query_params.multi_items()
    ]
    if request.method == "POST":
        body = await _body(request)
        if body.strip():
            given += [("the body", name, value) for name, value in _body_fields(request, body)]
    params: dict[str, str] = {}
    where: dict[str, str] = {}
    for origin, name, value in given:
        if not name:
            raise RealtimeRefused(
                400, f"{origin} has a field without a name (=value): name every field"
            )
        if name in params:
            places = where[name] if where[name] == origin else f"{where[name]} and {origin}"
            raise RealtimeRefused(
                400,
                f"parameter {name} is given more than once (in {places}): give each parameter "
                "once, so that what is signed is what is used",
            )
        params[name] = value
        where[name] = origin
    return params


async def _body(request: Request) -> bytes:
    too_large = RealtimeRefused(
        413, f"the body is larger than {MAX_BODY_BYTES} bytes: send one record's fields"
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return body


def _body_fields(request: Request, body: bytes) -> list[tuple[str, str]]:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RealtimeRefused(400, "the body is not UTF-8 text") from None
    if media_type == _FORM:
        try:
            return parse_qsl(text.strip(), keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise RealtimeRefused(
                400, f"the body is not form-encoded ({_FORM}): send name=value&name=value"
            ) from None
    if media_type == "application/json" or media_type.endswith("+json"):
        return _json_fields(text)
    raise RealtimeRefused(
        415,
        f"a body of type {media_type or 'unknown'} cannot be read: send the data fields "
        f"form-encoded ({_FORM}) or as a JSON object (application/json)",
    )


def _json_fields(text: str) -> list[tuple[str, str]]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise RealtimeRefused(400, f"the body is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise RealtimeRefused(
            400,
            f"the JSON body is {_json_kind(document)}: send an object of fields, "
            '{"email": "ann@example.org", ...}',
        )
    fields: list[tuple[str, str]] = []
    for name, value in document.items():
        if isinstance(value, str):
            fields.append((name, value))
        elif isinstance(value, int) and not isinstance(value, bool):
            fields.append((name, str(value)))
        else:
            # Only text signs the same on both sides: 1.0, true or null have several spellings.
            raise RealtimeRefused(
                400,
                f"JSON field {name!r} is {_json_kind(value)}: give every field as a string "
                "(or a whole number), the text that was signed",
            )
    return fields


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float):
        return "a decimal number"
    return "a " + type(value).__name__


def _request_parameters(params: Mapping[str, str]) -> tuple[int, str, int, str]:
    """``flow``, ``key``, ``ts`` and ``check``, each checked; every problem named at once."""
    problems: list[str] = []

    def value(name: str, pattern: re.Pattern[str] | None, what: str, echo: bool) -> str:
        given = params.get(name)
        if given is None or not given.strip():
            problems.append(f"missing parameter {name}: give {what}")
            return ""
        if pattern is not None and not pattern.fullmatch(given):
            shown = f" (got {_shown(given)})" if echo else ""
            problems.append(f"parameter {name} must be {what}{shown}")
            return ""
        return given

    flow = value("flow", _FLOW, "the Flow ID, a whole number such as 69", echo=True)
    key = value("key", None, "the account's API Key", echo=False)
    ts = value("ts", _TS, "the current Unix time in whole seconds, e.g. 1767258000", echo=True)
    check = value("check", _CHECK, "the checksum, 32 hex digits (an MD5)", echo=True)
    if problems:
        raise RealtimeRefused(400, "; ".join(problems))
    return int(flow), key, int(ts), check


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names)


# --------------------------------------------------------------------------------------------
# Answering


def _answer(
    status: int,
    body: dict[str, Any],
    account: _Account | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    # The longer first: a key inside the secret must not leave a piece of it.
    secrets = account.secrets if account else []
    text = json.dumps(_scrubbed(body, secrets), ensure_ascii=False, default=_json_default)
    return Response(
        text,
        status_code=status,
        media_type="application/json",
        # A run's result is for its caller only.
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _scrubbed(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with the account's key and secret replaced by ``***`` in every text: a run's
    error or result may quote anything, and neither belongs in an answer."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, Mapping):
        return {_scrubbed(str(k), secrets): _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item, secrets) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
