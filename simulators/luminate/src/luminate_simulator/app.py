"""The Luminate Online simulator as a Starlette app: the SOAP web services and their admin API.

``POST /1.0/{site}/`` is the SOAP endpoint and ``GET /1.0/{site}/wsdl`` the WSDL whose service
element points back at it (built from the request's own base URL, so it is right in-process and
on a socket alike). Every operation is carried out by :class:`~luminate_simulator.services.
WebServices`; this module only maps envelopes to calls and results or faults back to envelopes.

The admin routes under ``/_admin/luminate/`` drive what a site administrator does in the real
product and the web services cannot: API users, partitions, constituents changed or removed in
the admin console, transactions, associated records, refunds, and the standard constituent upload
(a CSV in, the import report and ``errors.csv`` out). The Raiser's Edge connector's data sync
(:mod:`luminate_simulator.data_sync`) adds its own under ``/_admin/luminate/data-sync/``; the
constituent routes and SOAP calls tell it about new registrations and profile edits (its On
Demand triggers), and the app's lifespan runs its schedule when the clock is real.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar, Final

import anyio
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp
from syncframe_simulators import FaultKind, FaultRule, Simulator
from syncframe_simulators.admin import describe_validation_error, json_response, read_json

from luminate_simulator.constituent_import import ConstituentImport, ImportReport
from luminate_simulator.constituents import ConstituentDirectory
from luminate_simulator.data_sync import DataSync
from luminate_simulator.data_sync_admin import data_sync_routes, on_demand_json
from luminate_simulator.schema import ALL_OPERATIONS, RECORD_TYPES, FieldDef, RecordType
from luminate_simulator.services import (
    AdminError,
    AdminNotFound,
    LuminateFault,
    RecordResult,
    SyncWindow,
    WebServices,
)
from luminate_simulator.soap import (
    CONTENT_TYPE,
    SoapRequest,
    TypedRecord,
    fault_envelope,
    operation_name,
    parse_request,
    response_envelope,
)
from luminate_simulator.wsdl import ENS, OPERATIONS, SOAP_ENV, TNS, XSI, wsdl_document
from syncframe.clock import Clock

__all__ = ["DEFAULT_SITE", "LuminateSimulator"]

logger = logging.getLogger(__name__)

#: The site short name of the simulated Luminate Online site (``/1.0/{site}/``).
DEFAULT_SITE: Final = "syncframe"

_SAFE_FILENAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.csv")


def _fault_response(fault: LuminateFault) -> Response:
    body = fault_envelope(
        fault.fault_type,
        fault.faultcode,
        fault.message,
        line=fault.line,
        column=fault.column,
    )
    return Response(body, status_code=500, media_type=CONTENT_TYPE)


def _window(window: SyncWindow) -> dict[str, Any]:
    return {
        "Result": {
            "PartitionId": window.partition_id,
            "Start": window.start,
            "End": window.end,
            "SyncId": window.sync_id,
        }
    }


def _typed(record_type: str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Record": [TypedRecord(record_type, record) for record in records]}


def _record_results(record_type: str, results: Sequence[RecordResult]) -> dict[str, Any]:
    return {
        "Result": [
            {
                "ResultCode": result.code,
                "Message": result.message,
                "Record": (
                    TypedRecord(record_type, result.record) if result.record is not None else None
                ),
            }
            for result in results
        ]
    }


def _describe_fields(fields: tuple[FieldDef, ...], prefix: str = "") -> list[dict[str, Any]]:
    described: list[dict[str, Any]] = []
    for field in fields:
        path = f"{prefix}{field.name}"
        described.append(
            {
                "Name": path,
                "Writable": field.writable,
                "Custom": False,
                "Nillable": field.nillable,
                "Multiple": field.multiple,
                "Type": field.xsd_type,
                "MaxLength": field.max_length,
                "IsWildcard": False,
                "Option": [],
            }
        )
        if field.children is not None:
            described.extend(_describe_fields(field.children, f"{path}."))
    return described


def _describe(record_type: RecordType) -> dict[str, Any]:
    return {
        "Result": {
            "Name": record_type.name,
            "SupportedOperations": [op for op in ALL_OPERATIONS if record_type.supports(op)],
            "Field": _describe_fields(record_type.fields),
        }
    }


def _one_record_type(call: SoapRequest) -> tuple[str, list[dict[str, Any]]]:
    records: list[TypedRecord] = call.params["Record"]
    types = {record.record_type for record in records}
    if len(types) != 1:
        raise LuminateFault.for_type(
            "InvalidMessageFault",
            f"All records of one {call.operation.name} call must be of one type, got "
            f"{', '.join(sorted(types))}",
        )
    return records[0].record_type, [dict(record.fields) for record in records]


# -- the operations ----------------------------------------------------------------------------


class _Operations:
    """One handler per SOAP operation: parameters in, response children out."""

    def __init__(self, services: WebServices) -> None:
        self.services = services

    def __call__(self, call: SoapRequest) -> dict[str, Any]:
        handler: Callable[[SoapRequest], dict[str, Any]] = getattr(self, call.operation.name)
        return handler(call)

    def Login(self, call: SoapRequest) -> dict[str, Any]:
        session_id = self.services.login(call.params["UserName"], call.params["Password"])
        return {"Result": {"SessionId": session_id}}

    def GetServerTime(self, call: SoapRequest) -> dict[str, Any]:
        self.services.session_user(call.session_id)
        return {"Result": {"ServerTime": self.services.get_server_time()}}

    def StartSynchronization(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        p = call.params
        window = self.services.start_synchronization(
            user, p["PartitionId"], p.get("Start"), p.get("End"), bool(p.get("Force"))
        )
        return _window(window)

    def EndSynchronization(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        return _window(self.services.end_synchronization(user, call.params["PartitionId"]))

    def _incremental(self, call: SoapRequest, which: str) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        p = call.params
        records = self.services.get_incremental(
            user,
            which,  # type: ignore[arg-type]  # one of the three, from the handlers below
            p["PartitionId"],
            p["RecordType"],
            p["Page"],
            p["PageSize"],
            p["Field"],
        )
        return _typed(p["RecordType"], records)

    def GetIncrementalInserts(self, call: SoapRequest) -> dict[str, Any]:
        return self._incremental(call, "inserts")

    def GetIncrementalUpdates(self, call: SoapRequest) -> dict[str, Any]:
        return self._incremental(call, "updates")

    def GetIncrementalDeletes(self, call: SoapRequest) -> dict[str, Any]:
        return self._incremental(call, "deletes")

    def Query(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        p = call.params
        record_type, records = self.services.query(user, p["QueryString"], p["Page"], p["PageSize"])
        return _typed(record_type, records)

    def Find(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        p = call.params
        criteria = [(c["Field"], c["Value"]) for c in p["Criteria"]]
        records = self.services.find(
            user, p["RecordType"], criteria, p["Field"], p["Page"], p["PageSize"]
        )
        return _typed(p["RecordType"], records)

    def Create(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        record_type, records = _one_record_type(call)
        return _record_results(record_type, self.services.create(user, record_type, records))

    def Update(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        record_type, records = _one_record_type(call)
        return _record_results(record_type, self.services.update(user, record_type, records))

    def Delete(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        record_type, records = _one_record_type(call)
        return _record_results(record_type, self.services.delete(user, record_type, records))

    def DescribeRecordType(self, call: SoapRequest) -> dict[str, Any]:
        self.services.session_user(call.session_id)
        return _describe(self.services.describe_record_type(call.params["RecordType"]))

    def GetSynchronizationLog(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        p = call.params
        windows = self.services.get_synchronization_log(
            user, p["PartitionId"], p.get("Start"), p.get("End")
        )
        return {
            "Result": [
                {
                    "PartitionId": w.partition_id,
                    "Start": w.start,
                    "End": w.end,
                    "Created": w.created,
                    "Completed": w.completed,
                    "SyncId": w.sync_id,
                }
                for w in windows
            ]
        }

    def GetSynchronizationRequestLog(self, call: SoapRequest) -> dict[str, Any]:
        user = self.services.session_user(call.session_id)
        requests = self.services.get_synchronization_request_log(user, call.params["SyncId"])
        return {"RecordRequest": requests}


# -- admin input -------------------------------------------------------------------------------


class _AdminBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ApiUserIn(_AdminBody):
    name: str = Field(min_length=1)
    password: SecretStr


class _PartitionIn(_AdminBody):
    name: str = Field(min_length=1)
    rule: tuple[str, str] | None = None
    description: str = ""
    partition_id: int | None = Field(None, ge=1)


class _RefundIn(_AdminBody):
    transaction_id: int = Field(ge=1)
    amount: Decimal | None = Field(None, gt=0)
    online: bool


def _admin_error(status: int, message: str, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status_code=status)


def _admin_endpoint(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Bad admin input becomes a JSON error naming the field, never a traceback."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ValidationError as exc:
            return _admin_error(422, describe_validation_error(exc))
        except AdminNotFound as exc:
            return _admin_error(404, str(exc))
        except ValueError as exc:  # AdminError, AdminInputError, a field the domain refused
            return _admin_error(400, str(exc))
        except LuminateFault as exc:  # a domain rule the admin action broke
            return _admin_error(409, exc.message)

    return endpoint


def _path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    try:
        return int(raw)
    except ValueError:
        raise AdminError(f"{name}: {raw!r} is not a number") from None


def _record_type(name: str, kind: str) -> str:
    record_type = RECORD_TYPES.get(name)
    if record_type is None or record_type.kind != kind:
        known = ", ".join(sorted(t.name for t in RECORD_TYPES.values() if t.kind == kind))
        raise AdminNotFound(f"record_type: {name!r} is not a {kind} type (known: {known})")
    return record_type.name


# -- the simulator -----------------------------------------------------------------------------


class LuminateSimulator(Simulator):
    """Luminate Online: SOAP web services (with WSDL), Constituent360 and the constituent upload."""

    name: ClassVar[str] = "luminate"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        site: str = DEFAULT_SITE,
        journal_size: int = 10_000,
    ) -> None:
        super().__init__(clock=clock, seed=seed, journal_size=journal_size)
        self.site = site
        self.directory = ConstituentDirectory(self.clock)
        self.services = WebServices(self.clock, self.directory, seed=seed)
        self._operations = _Operations(self.services)
        # One lock around the whole site, the one WebServices takes: SOAP calls and the upload run
        # on worker threads, and a test may seed or read the state from its own thread.
        self._lock = self.services.lock
        # Made on the first upload and removed with the simulator (tests build many).
        self._uploads_root: Path | None = None
        self._uploads_cleanup: weakref.finalize[..., Any] | None = None
        self._uploads: dict[int, ImportReport] = {}
        self._next_upload = 1
        #: The Raiser's Edge connector's data sync (All Data Sync Operations, Operation Results).
        self.data_sync = DataSync(self.services, self.clock)

    # -- the imitated API ----------------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/1.0/{site}/wsdl", self._wsdl, methods=["GET"]),
            Route("/1.0/{site}", self._soap, methods=["POST"]),
            Route("/1.0/{site}/", self._soap, methods=["POST"]),
        ]

    def api_app(self) -> ASGIApp:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            # The data sync's schedule ticks only on a real-time clock (never on a manual one).
            async with self.data_sync.ticking():
                yield

        return Starlette(routes=self.api_routes(), lifespan=lifespan)

    async def operation_of(self, request: Request) -> str | None:
        if request.method != "POST" or not request.url.path.startswith("/1.0/"):
            return None
        return operation_name(await request.body())

    def _unknown_site(self, site: str) -> Response:
        return Response(
            f"Unknown site {site!r}\n", status_code=404, media_type="text/plain; charset=utf-8"
        )

    async def _wsdl(self, request: Request) -> Response:
        site = request.path_params["site"]
        if site != self.site:
            return self._unknown_site(site)
        endpoint = str(request.base_url).rstrip("/") + f"/1.0/{self.site}/"
        return Response(wsdl_document(endpoint), media_type=CONTENT_TYPE)

    async def _soap(self, request: Request) -> Response:
        site = request.path_params["site"]
        if site != self.site:
            return self._unknown_site(site)
        body = await request.body()
        # On a worker thread: a call waiting for the state lock (held by a long upload, say)
        # must not stop the server's event loop, which still answers health and journal reads.
        answer = await anyio.to_thread.run_sync(self._answer, body)
        # A SOAP Create is a new registration for the data sync's On Demand trigger.
        await self.data_sync.notice_registrations()
        return answer

    def _answer(self, body: bytes) -> Response:
        try:
            call = parse_request(body)
            with self._lock:
                result = self._operations(call)
            return Response(response_envelope(call.operation, result), media_type=CONTENT_TYPE)
        except LuminateFault as fault:
            return _fault_response(fault)
        except Exception:
            # What the real service answers for its own failures; the traceback goes to the log.
            logger.exception("Luminate simulator: unexpected error in a SOAP request")
            return _fault_response(
                LuminateFault.for_type("ServerFault", "An unexpected server error occurred")
            )

    # -- injected faults, in Luminate's style ---------------------------------------------------

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        if kind == "error" and rule.status == 500:
            fault = LuminateFault.for_type("ServerFault", "An unexpected server error occurred")
            return _fault_response(fault)
        if kind in ("error", "rate_limit", "timeout"):
            status = {"error": rule.status, "rate_limit": 429, "timeout": 504}[kind]
            headers = {}
            if kind == "rate_limit":
                headers["Retry-After"] = str(math.ceil(rule.retry_after))
            return Response(
                _gateway_page(status), status_code=status, media_type="text/html", headers=headers
            )
        if kind == "malformed":
            return Response(_truncated_answer(operation), media_type=CONTENT_TYPE)
        return super().fault_response(kind, rule, operation)

    # -- state -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self.services.snapshot()
            state["site"] = self.site
            state["uploads"] = [
                _report_json(upload_id, report) for upload_id, report in self._uploads.items()
            ]
            state["data_sync"] = self.data_sync.snapshot()
            return state

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            seeded = self.services.seed(payload)
            # Seeded constituents are the site's existing records, not new registrations.
            self.data_sync.skip_changes_so_far()
            return seeded

    def reset(self) -> None:
        with self._lock:
            self.services.reset()
            self.data_sync.reset()
            self._uploads.clear()
            if self._uploads_cleanup is not None:
                self._uploads_cleanup()  # removes the folder now
            self._uploads_root = None
            self._uploads_cleanup = None

    def _uploads_dir(self) -> Path:
        """The folder uploads and their errors.csv files are kept in (made on first use)."""
        with self._lock:
            if self._uploads_root is None:
                root = Path(tempfile.mkdtemp(prefix="luminate-uploads-"))
                self._uploads_cleanup = weakref.finalize(self, shutil.rmtree, root, True)
                self._uploads_root = root
            return self._uploads_root

    # -- admin routes ----------------------------------------------------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        def route(
            path: str, handler: Callable[[Request], Awaitable[Response]], method: str
        ) -> Route:
            return Route(f"/luminate{path}", _admin_endpoint(handler), methods=[method])

        return [
            route("/api-users", self._add_api_user, "POST"),
            route("/partitions", self._add_partition, "POST"),
            route("/constituents", self._add_constituent, "POST"),
            route("/constituents/{cons_id}", self._modify_constituent, "PATCH"),
            route("/constituents/{cons_id}", self._remove_constituent, "DELETE"),
            route("/transactions/{record_type}", self._add_transaction, "POST"),
            route("/associated/{record_type}", self._add_associated, "POST"),
            route("/refunds", self._refund, "POST"),
            route("/uploads", self._upload, "POST"),
            route("/uploads/{upload_id}", self._upload_report, "GET"),
            route("/uploads/{upload_id}/errors.csv", self._upload_errors, "GET"),
            *data_sync_routes(self.data_sync, _admin_endpoint),
        ]

    async def _add_api_user(self, request: Request) -> Response:
        body = _ApiUserIn.model_validate(await read_json(request))
        with self._lock:
            user = self.services.add_api_user(body.name, body.password)
        return json_response({"name": user.name}, status_code=201)

    async def _add_partition(self, request: Request) -> Response:
        body = _PartitionIn.model_validate(await read_json(request))
        with self._lock:
            partition = self.services.add_partition(
                body.name,
                rule=body.rule,
                description=body.description,
                partition_id=body.partition_id,
            )
        return json_response(
            {
                "partition_id": partition.partition_id,
                "name": partition.name,
                "description": partition.description,
                "rule": list(partition.rule) if partition.rule is not None else None,
            },
            status_code=201,
        )

    async def _add_constituent(self, request: Request) -> Response:
        record = await read_json(request)
        with self._lock:
            cons_id = self.services.add_constituent(record)
        answer: dict[str, Any] = {"ConsId": cons_id}
        outcome = await self.data_sync.notice_registrations()
        if outcome is not None:  # only when the data sync's new-registration switch is on
            answer["on_demand"] = on_demand_json(outcome)
        return json_response(answer, status_code=201)

    async def _modify_constituent(self, request: Request) -> Response:
        cons_id = _path_int(request, "cons_id")
        record = await read_json(request)
        with self._lock:
            self.services.modify_constituent(cons_id, record)
        answer: dict[str, Any] = {"ConsId": cons_id}
        # Modified in Constituent360: the data sync's "profile viewed or modified" trigger.
        outcome = await self.data_sync.profile_modified(cons_id)
        if outcome.queued:  # only when that switch is on
            answer["on_demand"] = on_demand_json(outcome)
        return json_response(answer)

    async def _remove_constituent(self, request: Request) -> Response:
        cons_id = _path_int(request, "cons_id")
        with self._lock:
            self.services.remove_constituent(cons_id)
        return json_response({"ConsId": cons_id, "status": "Removed"})

    async def _add_transaction(self, request: Request) -> Response:
        record_type = _record_type(request.path_params["record_type"], "transaction")
        record = await read_json(request)
        with self._lock:
            new_id = self.services.add_transaction(record_type, record)
        return json_response(
            {RECORD_TYPES[record_type].id_field: new_id, "record_type": record_type},
            status_code=201,
        )

    async def _add_associated(self, request: Request) -> Response:
        record_type = _record_type(request.path_params["record_type"], "associated")
        record = await read_json(request)
        with self._lock:
            new_id = self.services.add_associated(record_type, record)
        return json_response(
            {RECORD_TYPES[record_type].id_field: new_id, "record_type": record_type},
            status_code=201,
        )

    async def _refund(self, request: Request) -> Response:
        body = _RefundIn.model_validate(await read_json(request))
        with self._lock:
            outcome = self.services.refund(body.transaction_id, body.amount, online=body.online)
        return json_response(
            {
                "transaction_id": outcome.transaction_id,
                "full": outcome.full,
                "amount": str(outcome.amount),
                "remaining": str(outcome.remaining),
                "refund_id": outcome.refund_id,
            },
            status_code=201,
        )

    async def _upload(self, request: Request) -> Response:
        filename = request.query_params.get("filename", "upload.csv")
        if not _SAFE_FILENAME.fullmatch(filename):
            raise AdminError(f"filename: {filename!r} is not a plain file name ending in .csv")
        with self._lock:
            upload_id = self._next_upload
            self._next_upload += 1
        folder = self._uploads_dir() / str(upload_id)
        await anyio.Path(folder).mkdir(parents=True)
        data_path = folder / filename
        # Streamed to disk: an upload of a million rows never sits in memory whole.
        async with await anyio.open_file(data_path, "wb") as data:
            async for chunk in request.stream():
                await data.write(chunk)
        try:
            # On a worker thread, holding the state lock: SOAP calls wait for the import to end
            # while the event loop stays free.
            report = await anyio.to_thread.run_sync(self._import, upload_id, data_path, folder)
        finally:
            await anyio.Path(data_path).unlink(missing_ok=True)
        await self.data_sync.notice_registrations()  # the upload's new records registered
        result = _report_json(upload_id, report)
        if report.aborted is not None:
            return _admin_error(422, report.aborted, **result)
        return json_response(result, status_code=201)

    def _import(self, upload_id: int, data_path: Path, folder: Path) -> ImportReport:
        with self._lock:
            report = ConstituentImport(self.directory).run(data_path, folder / "errors.csv")
            self._uploads[upload_id] = report
            return report

    def _upload_of(self, request: Request) -> tuple[int, ImportReport]:
        upload_id = _path_int(request, "upload_id")
        with self._lock:
            report = self._uploads.get(upload_id)
        if report is None:
            raise AdminNotFound(f"upload_id: there is no upload {upload_id}")
        return upload_id, report

    async def _upload_report(self, request: Request) -> Response:
        upload_id, report = self._upload_of(request)
        return json_response(_report_json(upload_id, report))

    async def _upload_errors(self, request: Request) -> Response:
        upload_id, report = self._upload_of(request)
        if report.errors_path is None:
            raise AdminNotFound(f"upload_id: upload {upload_id} rejected no row: no errors.csv")
        return FileResponse(
            report.errors_path, media_type="text/csv; charset=utf-8", filename="errors.csv"
        )


def _report_json(upload_id: int, report: ImportReport) -> dict[str, Any]:
    return {
        "upload_id": upload_id,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "rejected": report.rejected,
        "aborted": report.aborted,
        "errors_csv": (
            f"/_admin/luminate/uploads/{upload_id}/errors.csv"
            if report.errors_path is not None
            else None
        ),
    }


def _gateway_page(status: int) -> bytes:
    """The HTML a load balancer in front of the service answers with (not a SOAP envelope)."""
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = f"{status} Error"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def _truncated_answer(operation: str | None) -> bytes:
    """The first part of a plausible answer, cut off mid-element: what a client reads when the
    connection breaks off in the middle of a response."""
    name = operation if operation in OPERATIONS else "Login"
    first = OPERATIONS[name].response[0].name
    content = (
        '<Record xsi:type="ens:Constituent"><ens:ConsId>1001001</ens:ConsId></Record>' * 3
        if first == "Record"
        else f"<{first}><ens:ConsId>1001001</ens:ConsId></{first}>"
    )
    full = (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="{XSI}" xmlns:ens="{ENS}">'
        f'<soap:Body><{name}Response xmlns="{TNS}">{content}</{name}Response>'
        "</soap:Body></soap:Envelope>"
    ).encode()
    return full[: len(full) * 2 // 3]
