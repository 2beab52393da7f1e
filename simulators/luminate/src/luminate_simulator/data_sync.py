"""Luminate Online's data sync for the Raiser's Edge connector (seed 000).

One :class:`DataSync` per simulated site holds the RE connector's operation (All Data Sync
Operations), its Operation Results with their Available Files, and the export state. A
**scheduled run** (the schedule firing, :meth:`DataSync.run_due`; or an admin's "run now",
:meth:`DataSync.run_now`) does what the seed's diagram shows:

1. ``POST {connector_url}/upload``: the connector machine queries RE and puts its CSVs and their
   manifests in the FTP account's ``/upload/``. Unreachable: *Server is not available (Failed to
   connect to address "HOST:PORT".)*; no files: *Not initiating download since no files were
   generated* (the connector's problems follow). Both end the run as Failed.
2. Every manifested CSV of ``/upload/`` is fetched (an Available File) and applied: RE's
   constituents with the standard constituent upload (:class:`~luminate_simulator.
   constituent_import.ConstituentImport`, which also stores EXCHANGE_ID), RE's code tables
   stored for cross-reference mapping. A manifest without its CSV, and a manifested CSV the
   connector did not list, are reported by name (a manifest placed by hand).
3. Luminate compiles its files for RE (:mod:`luminate_simulator.data_sync_export`) and puts each
   with its manifest in ``/download/``; what a file carries counts as sent only once its
   manifest is there. The processed upload files are deleted.
4. ``POST {connector_url}/download``: the connector collects the files into RE's import area.

An **On Demand push** (a trigger that is switched on: profile viewed or modified in
Constituent360, a new registration, a new cross-reference mapping, a group mapped to an offline
segment) does steps 3 and 4 at once for what the trigger concerns, as its own Operation Result.

Runs never overlap: a second run while one is in progress is refused (run now), skipped (the
schedule) or left to the next run (a push). Blocking work (FTP, the constituent import, the
compile) runs on worker threads; the site's state is changed only under the site lock.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeGuard

import anyio
import anyio.to_thread
import httpx

from luminate_simulator._faults import AdminError, AdminNotFound
from luminate_simulator._fields import render_json
from luminate_simulator.constituent_import import ConstituentImport
from luminate_simulator.data_sync_export import (
    CODE_TABLES,
    Compilation,
    CrossReference,
    CrossReferenceSource,
    ExportState,
    StagedFile,
)
from luminate_simulator.data_sync_ftp import (
    MANIFEST_SUFFIX,
    ExchangeSession,
    FtpProblem,
    manifest_of,
)
from luminate_simulator.data_sync_groups import Group, GroupStore
from luminate_simulator.data_sync_model import (
    NO_FILES_GENERATED,
    SERVER_NOT_AVAILABLE,
    DataSyncOperation,
    FtpAccount,
    OperationEdit,
    OperationIn,
    OperationResult,
    SyncSettings,
    Trigger,
    connector_address,
)
from luminate_simulator.services import WebServices
from syncframe.clock import Clock, ManualClock

__all__ = [
    "DATA_SYNC_ACTOR",
    "DATA_SYNC_URL_PREFIX",
    "DataSync",
    "DataSyncConflict",
    "OnDemand",
]

logger = logging.getLogger(__name__)

#: The change-log actor of what the connector's upload changes: never a "new registration",
#: never echoed back to RE as a profile change.
DATA_SYNC_ACTOR: Final = "re_connector"
#: Where the data sync's admin routes live (Available Files are served under it).
DATA_SYNC_URL_PREFIX: Final = "/_admin/luminate/data-sync"

_UPLOAD_FILE: Final = re.compile(r"re_(\d+)_(constituents|codetables)\.csv")
_CODE_TABLE_HEADER: Final = ["TABLE", "CODE", "DESCRIPTION"]
_TABLE_NAMES: Final = {table.lower(): table for table in CODE_TABLES}
_BEGINNING: Final = datetime(1, 1, 1, tzinfo=UTC)
_END_OF_TIME: Final = datetime(9999, 12, 31, tzinfo=UTC)
# At most this many bad code-table rows are spelled out in a message.
_SHOWN_PROBLEMS: Final = 5


class DataSyncConflict(Exception):
    """An admin action the data sync's state refuses (answered 409)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class OnDemand:
    """What an On Demand trigger did: how many records it queued, and the push it made.

    ``push`` is None when nothing could go yet (everything it queued is held back) or when
    ``deferred``: a run was in progress, so what it queued goes with the next run.
    """

    trigger: Trigger
    queued: int
    push: OperationResult | None
    deferred: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "queued": self.queued,
            "push": None if self.push is None else self.push.to_json(DATA_SYNC_URL_PREFIX),
            "deferred": self.deferred,
        }


@dataclass(frozen=True, slots=True)
class _PushScope:
    """What one compile covers: None = everything due; a collection = only those."""

    constituents: Collection[int] | None = None
    segments: Collection[tuple[int, str]] | None = None
    transactions: Collection[int] | None = None


_EVERYTHING: Final = _PushScope()


class DataSync:
    """The RE connector's data sync of one simulated Luminate Online site."""

    def __init__(
        self,
        services: WebServices,
        clock: Clock,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        http_timeout: float = 600.0,
        tick_seconds: float = 15.0,
    ) -> None:
        self.services = services
        self.directory = services.directory
        self.clock = clock
        #: How the connector machine is called; None = real sockets. Tests put an
        #: ``httpx.ASGITransport`` of an in-process connector here.
        self.http_transport = http_transport
        self.http_timeout = http_timeout
        #: Real seconds between two looks at the schedule (only with a real-time clock).
        self.tick_seconds = tick_seconds
        self.state = ExportState()
        self.groups = GroupStore()
        self.operations: dict[int, DataSyncOperation] = {}
        self.results: dict[int, OperationResult] = {}
        self._lock = services.lock
        self._busy = threading.Lock()
        self._running: int | None = None
        self._next_operation_id = 1
        self._next_result_id = 1
        # Change-log entries already looked at for new registrations, and when that was.
        self._log_seen = 0
        self._log_seen_at = _BEGINNING
        self._root: Path | None = None
        self._cleanup: weakref.finalize[..., Any] | None = None

    # -- All Data Sync Operations -----------------------------------------------------------

    def create_operation(self, spec: OperationIn | Mapping[str, Any]) -> DataSyncOperation:
        """Add the RE connector's operation (a site has one; a second is refused)."""
        if not isinstance(spec, OperationIn):
            spec = OperationIn.model_validate(spec)
        with self._lock:
            if self.operations:
                existing = next(iter(self.operations.values()))
                raise DataSyncConflict(
                    "This site already has its Raiser's Edge connector data sync (operation "
                    f"{existing.operation_id}, {existing.name!r}): edit it instead."
                )
            now = self.clock.now()
            ftp = spec.ftp
            operation = DataSyncOperation(
                operation_id=self._next_operation_id,
                name=spec.name,
                operation_file_name=spec.operation_file_name,
                schedule=spec.schedule,
                connector_url=spec.connector_url,
                connector_key=spec.connector_key,
                ftp=FtpAccount(ftp.host, ftp.port, ftp.user, ftp.password, ftp.timeout),
                settings=spec.settings,
                created_at=now,
                next_run_at=None if spec.schedule is None else spec.schedule.first_due(now),
            )
            self._next_operation_id += 1
            self.operations[operation.operation_id] = operation
            # Constituents created before the operation existed are not new registrations.
            self._skip_log()
            return operation

    def edit_operation(
        self, operation_id: int, edit: OperationEdit | Mapping[str, Any]
    ) -> DataSyncOperation:
        """Change an operation; absent fields stay as they are (see :class:`OperationEdit`)."""
        if not isinstance(edit, OperationEdit):
            edit = OperationEdit.model_validate(edit)
        given = edit.model_fields_set
        with self._lock:
            operation = self.operation(operation_id)
            for name in ("name", "operation_file_name", "connector_url"):
                value = getattr(edit, name)
                if name in given:
                    if value is None:
                        raise AdminError(f"{name}: cannot be null")
                    setattr(operation, name, value)
            if "connector_key" in given:
                operation.connector_key = edit.connector_key
            if "schedule" in given:
                operation.schedule = edit.schedule
                now = self.clock.now()
                operation.next_run_at = (
                    None if edit.schedule is None else edit.schedule.first_due(now)
                )
            if edit.ftp is not None:
                for name in edit.ftp.model_fields_set:
                    value = getattr(edit.ftp, name)
                    if value is None:
                        raise AdminError(f"ftp.{name}: cannot be null")
                    setattr(operation.ftp, name, value)
            if edit.settings is not None:
                # What registered so far is judged by the settings it registered under.
                self._scan_registrations()
                changes = edit.settings.model_dump(exclude_none=True)
                operation.settings = SyncSettings(**{**operation.settings.model_dump(), **changes})
            return operation

    def operation(self, operation_id: int) -> DataSyncOperation:
        found = self.operations.get(operation_id)
        if found is None:
            raise AdminNotFound(f"operation_id: there is no data sync operation {operation_id}")
        return found

    def _the_operation(self) -> DataSyncOperation | None:
        return next(iter(self.operations.values()), None)

    # -- Operation Results ----------------------------------------------------------------------

    def result(self, result_id: int) -> OperationResult:
        found = self.results.get(result_id)
        if found is None:
            raise AdminNotFound(f"result_id: there is no operation result {result_id}")
        return found

    def result_list(self, operation_id: int | None = None) -> list[OperationResult]:
        """Operation Results, newest first (as Luminate lists them)."""
        with self._lock:
            chosen = [
                r
                for r in self.results.values()
                if operation_id is None or r.operation_id == operation_id
            ]
        return chosen[::-1]

    def result_file(self, result_id: int, name: str) -> Path:
        """The local copy of one of a result's Available Files."""
        result = self.result(result_id)
        found = result.file(name)
        if found is None:
            names = ", ".join(f.name for f in result.files) or "none"
            raise AdminNotFound(
                f"name: operation result {result_id} has no Available File {name!r} ({names})"
            )
        return found.path

    def cross_references(self) -> list[CrossReference]:
        with self._lock:
            return [
                m for mappings in self.state.cross_references.values() for m in mappings.values()
            ]

    def code_tables(self) -> tuple[datetime | None, dict[str, list[dict[str, str]]] | None]:
        """When RE's code tables were last received, and the tables (None: not yet)."""
        with self._lock:
            return self.state.code_tables_received_at, self.state.code_tables_json()

    # -- scheduled runs -------------------------------------------------------------------------

    async def run_now(self, operation_id: int) -> OperationResult:
        """Run the operation now, as "Run now" in the operations list does; the schedule is
        left as it is. Refused (:class:`DataSyncConflict`) while a run is in progress."""
        operation = self.operation(operation_id)
        result = await self._scheduled_run(operation, "run_now")
        if result is None:
            raise DataSyncConflict(
                f"A run of operation {operation_id} is in progress (operation result "
                f"{self._running}); wait for it to finish."
            )
        return result

    async def run_due(self) -> list[OperationResult]:
        """Run every operation whose schedule is due at the clock's now (one run each, however
        many slots were missed) and move its next run time on."""
        results: list[OperationResult] = []
        now = self.clock.now()
        with self._lock:
            due = [
                op
                for op in self.operations.values()
                if op.schedule is not None and op.next_run_at is not None and op.next_run_at <= now
            ]
        for operation in due:
            result = await self._scheduled_run(operation, "schedule", now)
            if result is not None:
                results.append(result)
        return results

    async def _scheduled_run(
        self, operation: DataSyncOperation, trigger: Trigger, due_at: datetime | None = None
    ) -> OperationResult | None:
        if not self._busy.acquire(blocking=False):
            return None
        try:
            if due_at is not None:
                with self._lock:
                    schedule, due = operation.schedule, operation.next_run_at
                    if schedule is not None and due is not None:
                        # Moved on first: a run that fails is not retried at every tick.
                        operation.next_run_at = schedule.next_due(due, due_at)
            result = self._open_result(operation, trigger)
            await self._carry_out(result, self._cycle(operation, result))
            return result
        finally:
            self._running = None
            self._busy.release()

    async def _carry_out(self, result: OperationResult, work: Awaitable[None]) -> None:
        """Do a run's work; whatever stops it ends up in the result's messages, never as a
        result left Running."""
        try:
            await work
        except FtpProblem as problem:
            result.fail(problem.message)
        except Exception as error:
            logger.exception("Luminate data sync: result %s stopped", result.result_id)
            result.fail(f"The data sync stopped unexpectedly: {type(error).__name__}: {error}")
        except BaseException:
            result.fail("The run was interrupted (the simulator is shutting down).")
            raise
        finally:
            self._finish(result)

    async def _cycle(self, operation: DataSyncOperation, result: OperationResult) -> None:
        """Steps 1 to 4 of a scheduled run (see the module's docstring)."""
        folder = self._folder(result.result_id)
        with self._lock:
            self._scan_registrations()  # registrations made where no hook saw them
        async with self._http() as http:
            answer = await self._call_connector(
                http,
                operation,
                "upload",
                {
                    "result_id": result.result_id,
                    "operation_file_name": operation.operation_file_name,
                },
                result,
            )
            if answer is None:
                return
            files, problems = answer
            if not files:
                result.fail(NO_FILES_GENERATED)
                for problem in problems:
                    result.fail(problem)
                return
            for problem in problems:
                result.problem(problem)
            taken = await anyio.to_thread.run_sync(
                self._fetch_uploads, operation.ftp, files, folder, result
            )
            await anyio.to_thread.run_sync(self._apply_uploads, taken, folder, result)
            compilation = await anyio.to_thread.run_sync(
                self._compile, operation, folder, _EVERYTHING
            )
            delivered = await self._deliver(
                operation, result, compilation, folder, [name for name, _ in taken]
            )
            if delivered is not None:
                await self._collect(http, operation, result, delivered)

    # -- On Demand pushes -----------------------------------------------------------------------

    async def _push(self, trigger: Trigger, queued: int, scope: _PushScope) -> OnDemand:
        """Send what a trigger queued at once, as its own Operation Result (if anything may go)."""
        operation = self._the_operation()
        if operation is None or queued == 0:
            return OnDemand(trigger, queued, None)
        if not self._busy.acquire(blocking=False):
            return OnDemand(trigger, queued, None, deferred=True)
        try:
            compilation = await anyio.to_thread.run_sync(self._compile_push, operation, scope)
            if compilation is None:
                # Nothing may go yet (all of it held back): no push, no Operation Result.
                return OnDemand(trigger, queued, None)
            result = self._open_result(operation, trigger)
            folder = self._files_root() / f"result-{result.result_id}"
            await anyio.to_thread.run_sync(compilation.folder.rename, folder)
            compilation.relocate(folder)
            await self._carry_out(result, self._send_push(operation, result, compilation))
            return OnDemand(trigger, queued, result)
        finally:
            self._running = None
            self._busy.release()

    async def _send_push(
        self, operation: DataSyncOperation, result: OperationResult, compilation: Compilation
    ) -> None:
        delivered = await self._deliver(operation, result, compilation, compilation.folder, [])
        if delivered is not None:
            async with self._http() as http:
                await self._collect(http, operation, result, delivered)

    def _compile_push(self, operation: DataSyncOperation, scope: _PushScope) -> Compilation | None:
        """A push's compilation in a folder of its own, or None (folder removed) when nothing
        it covers may go yet."""
        staging = Path(tempfile.mkdtemp(prefix="push-", dir=self._files_root()))
        compilation = self._compile(operation, staging, scope)
        if not compilation.staged:
            shutil.rmtree(staging, ignore_errors=True)
            return None
        return compilation

    def _open_result(self, operation: DataSyncOperation, trigger: Trigger) -> OperationResult:
        with self._lock:
            result = OperationResult(
                self._next_result_id, operation.operation_id, trigger, self.clock.now()
            )
            self._next_result_id += 1
            self.results[result.result_id] = result
            operation.last_result_id = result.result_id
            self._running = result.result_id
            return result

    def _finish(self, result: OperationResult) -> None:
        with self._lock:
            result.finish(self.clock.now())

    # -- the connector machine's API ------------------------------------------------------------

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        timeout = httpx.Timeout(self.http_timeout, connect=10.0)
        async with httpx.AsyncClient(
            transport=self.http_transport, timeout=timeout, trust_env=False
        ) as client:
            yield client

    async def _call_connector(
        self,
        http: httpx.AsyncClient,
        operation: DataSyncOperation,
        call: Literal["upload", "download"],
        body: dict[str, Any],
        result: OperationResult,
    ) -> tuple[list[str], list[str]] | None:
        """POST one call; its (files or collected, problems), or None after a fail message."""
        address = connector_address(operation.connector_url)
        headers = {}
        if operation.connector_key is not None:
            headers["Authorization"] = f"Bearer {operation.connector_key.get_secret_value()}"
        try:
            response = await http.post(
                f"{operation.connector_url}/{call}", json=body, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout):
            result.fail(SERVER_NOT_AVAILABLE.format(address=address))
            return None
        except httpx.HTTPError as error:
            result.fail(
                f'The connector machine "{address}" did not answer the {call} call '
                f"({type(error).__name__}: {error or 'connection lost'})."
            )
            return None
        if response.status_code != 200:
            result.fail(
                f'The connector machine "{address}" refused the {call} call: HTTP '
                f"{response.status_code} {_error_text(response)}"
            )
            return None
        key = "files" if call == "upload" else "collected"
        try:
            data = response.json()
        except ValueError:
            data = None
        names = data.get(key) if isinstance(data, dict) else None
        problems = data.get("problems", []) if isinstance(data, dict) else None
        if not (_strings(names) and _strings(problems)):
            result.fail(
                f'The connector machine "{address}" answered the {call} call with something '
                f'other than {{"{key}": [...], "problems": [...]}}: {response.text[:200]}'
            )
            return None
        return list(names), list(problems)

    async def _collect(
        self,
        http: httpx.AsyncClient,
        operation: DataSyncOperation,
        result: OperationResult,
        delivered: list[str],
    ) -> None:
        answer = await self._call_connector(
            http, operation, "download", {"result_id": result.result_id}, result
        )
        if answer is None:
            if delivered:
                result.note(
                    "These files stay in /download/ on the FTP server for the connector's next "
                    f"collection: {', '.join(delivered)}"
                )
            return
        collected, problems = answer
        with self._lock:
            result.collected = collected
        for problem in problems:
            result.problem(problem)
        left = [name for name in delivered if name not in collected]
        if left:
            result.problem(
                "Not collected by the connector (they stay in /download/ for its next "
                f"collection): {', '.join(left)}"
            )

    # -- step 2: the connector's files in /upload/ ----------------------------------------------

    def _fetch_uploads(
        self, account: FtpAccount, listed: list[str], folder: Path, result: OperationResult
    ) -> list[tuple[str, str]]:
        """Fetch every manifested CSV of /upload/ the data sync imports; report the odd ones.

        Returns (file name, kind) in the order to apply them: oldest result id first, code
        tables before constituents.
        """
        with ExchangeSession(account) as ftp:
            present = ftp.files("upload")
            csvs = {name for name in present if name.endswith(".csv")}
            manifests = {name for name in present if name.endswith(MANIFEST_SUFFIX)}
            for manifest in sorted(manifests):
                data = manifest.removesuffix(MANIFEST_SUFFIX) + ".csv"
                if data not in csvs:
                    result.problem(
                        f"Manifest upload/{manifest} has no data file upload/{data} (a manifest "
                        "placed by hand?); it was left on the FTP server."
                    )
            for name in dict.fromkeys(listed):
                if "/" in name or not name.endswith(".csv"):
                    result.problem(
                        f"The connector listed {name!r}, which is not the name of a CSV file in "
                        "/upload/; it was ignored."
                    )
                elif name not in csvs:
                    result.problem(
                        f"The connector listed upload/{name} but it is not on the FTP server."
                    )
                elif manifest_of(name) not in manifests:
                    result.problem(
                        f"The connector listed upload/{name} but its manifest "
                        f"upload/{manifest_of(name)} is missing: the file was not imported."
                    )
            taken: list[tuple[int, int, str, str]] = []
            for name in sorted(n for n in csvs if manifest_of(n) in manifests):
                match = _UPLOAD_FILE.fullmatch(name)
                if match is None:
                    result.problem(
                        f"upload/{name} has a manifest but is not a file the Raiser's Edge data "
                        "sync imports (re_<id>_constituents.csv or re_<id>_codetables.csv); it "
                        "was left on the FTP server."
                    )
                    continue
                if name not in listed:
                    result.problem(
                        f"upload/{name} was not among the files the connector generated for this "
                        "run but has a manifest (a manifest placed by hand, or a file left by an "
                        "interrupted run); it was imported."
                    )
                order = 0 if match.group(2) == "codetables" else 1
                taken.append((int(match.group(1)), order, name, match.group(2)))
            taken.sort()
            for _, _, name, _ in taken:
                ftp.fetch("upload", name, folder / name)
                result.add_file(name, "upload", folder / name)
        return [(name, kind) for _, _, name, kind in taken]

    def _apply_uploads(
        self, taken: list[tuple[str, str]], folder: Path, result: OperationResult
    ) -> None:
        for name, kind in taken:
            path = folder / name
            if kind == "codetables":
                self._apply_code_tables(path, name, result)
                continue
            errors_name = name.removesuffix(".csv") + "_errors.csv"
            with self._lock:
                report = ConstituentImport(self.directory, actor=DATA_SYNC_ACTOR).run(
                    path, folder / errors_name
                )
            if report.aborted is not None:
                result.problem(f"{name} was not imported: {report.aborted}")
                continue
            result.note(
                f"Constituents imported from {name}: {report.rows} rows, {report.created} "
                f"created, {report.updated} updated, {report.rejected} rejected"
            )
            if report.errors_path is not None:
                result.add_file(errors_name, "report", report.errors_path)
                result.problem(
                    f"{report.rejected} rows of {name} were rejected by the constituent upload: "
                    f"see {errors_name}"
                )

    def _apply_code_tables(self, path: Path, name: str, result: OperationResult) -> None:
        tables: dict[str, dict[str, str]] = {table: {} for table in CODE_TABLES}
        bad: list[str] = []
        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                reader = csv.reader(stream)
                header = next(reader, None)
                if header is None or [h.strip().upper() for h in header] != _CODE_TABLE_HEADER:
                    result.problem(
                        f"{name} was not applied: its header must be TABLE,CODE,DESCRIPTION "
                        f"(it is {','.join(header or [])!r})."
                    )
                    return
                for row in reader:
                    if not any(row):
                        continue
                    line = reader.line_num
                    if len(row) != len(_CODE_TABLE_HEADER):
                        bad.append(f"line {line} has {len(row)} fields, not 3")
                        continue
                    table, code, description = (cell.strip() for cell in row)
                    canonical = _TABLE_NAMES.get(table.lower())
                    if canonical is None:
                        bad.append(f"line {line}: TABLE {table!r} is not Campaign, Fund or Appeal")
                    elif not code:
                        bad.append(f"line {line}: CODE is blank")
                    else:
                        tables[canonical][code] = description
        except (UnicodeDecodeError, csv.Error) as error:
            result.problem(f"{name} was not applied: it is not a readable UTF-8 CSV ({error}).")
            return
        with self._lock:
            # The connector sends only entries that are new or renamed since its last call, so
            # each file adds to (or renames in) the tables received before; none replaces them.
            known = self.state.code_tables or {table: {} for table in CODE_TABLES}
            for table, entries in tables.items():
                known.setdefault(table, {}).update(entries)
            self.state.code_tables = known
            self.state.code_tables_received_at = self.clock.now()
        counts = ", ".join(f"{table} {len(tables[table])}" for table in CODE_TABLES)
        result.note(f"RE code tables received from {name} (new or changed entries): {counts}")
        if bad:
            more = f" and {len(bad) - _SHOWN_PROBLEMS} more" if len(bad) > _SHOWN_PROBLEMS else ""
            result.problem(
                f"{len(bad)} rows of {name} were ignored: {'; '.join(bad[:_SHOWN_PROBLEMS])}{more}"
            )

    # -- steps 3 and 4: Luminate's files in /download/ ------------------------------------------

    def _compile(
        self, operation: DataSyncOperation, folder: Path, scope: _PushScope
    ) -> Compilation:
        with self._lock:
            compilation = Compilation(
                folder,
                self.state,
                self.directory,
                self.services.transactions,
                self.services.associated,
                operation.settings,
            )
            try:
                compilation.compile_constituents(scope.constituents)
                compilation.compile_transactions(scope.transactions)
                compilation.compile_segments(scope.segments)
            finally:
                compilation.close()
            return compilation

    async def _deliver(
        self,
        operation: DataSyncOperation,
        result: OperationResult,
        compilation: Compilation,
        folder: Path,
        processed: list[str],
    ) -> list[str] | None:
        """Name the compiled files for this result, put them on the FTP server (committing each
        once its manifest is there), delete the processed uploads. The file names delivered, or
        None when the FTP server failed (after a fail message)."""
        rid = result.result_id
        for staged in compilation.staged:
            final = folder / f"luminate_{rid}_{staged.kind}.csv"
            staged.path.rename(final)
            staged.path = final
        for report, name in (
            (compilation.held, f"held_constituents_{rid}.csv"),
            (compilation.skipped, f"skipped_transactions_{rid}.csv"),
        ):
            if report.rows:
                report.path.rename(folder / name)
                result.add_file(name, "report", folder / name)
        for text, is_problem in compilation.summary():
            if is_problem:
                result.problem(text)
            else:
                result.note(text)
        if compilation.skipped.rows:
            result.note(f"Skipped transactions and their reasons: skipped_transactions_{rid}.csv")
        delivered: list[str] = []
        try:
            await anyio.to_thread.run_sync(
                self._store_downloads, operation.ftp, compilation.staged, processed, delivered
            )
        except FtpProblem as problem:
            result.fail(problem.message)
            unsent = [s.path.name for s in compilation.staged if s.path.name not in delivered]
            if unsent:
                result.note(f"Not sent, so compiled again by the next run: {', '.join(unsent)}")
            return None
        finally:
            for staged in compilation.staged:
                if staged.path.name in delivered:
                    result.add_file(staged.path.name, "download", staged.path)
        return delivered

    def _store_downloads(
        self,
        account: FtpAccount,
        staged: list[StagedFile],
        processed: list[str],
        delivered: list[str],
    ) -> None:
        with ExchangeSession(account) as ftp:
            for file in staged:
                name = file.path.name
                ftp.store("download", name, file.path)
                try:
                    ftp.store_manifest("download", name)
                except FtpProblem:
                    # Without its manifest the CSV is not complete: take it away if we can (the
                    # connector ignores a CSV without its manifest anyway).
                    with contextlib.suppress(FtpProblem):
                        ftp.delete("download", name)
                    raise
                with self._lock:
                    file.commit(self.state)
                delivered.append(name)
            for name in processed:
                ftp.delete("upload", name)
                ftp.delete("upload", manifest_of(name))

    # -- On Demand triggers ---------------------------------------------------------------------

    async def profile_viewed(self, cons_id: int) -> OnDemand:
        """A constituent profile was viewed in Constituent360."""
        return await self._profile_trigger(cons_id, "profile_viewed")

    async def profile_modified(self, cons_id: int) -> OnDemand:
        """A constituent profile was modified in Constituent360 (the admin console's edit)."""
        return await self._profile_trigger(cons_id, "profile_modified")

    async def _profile_trigger(
        self, cons_id: int, reason: Literal["profile_viewed", "profile_modified"]
    ) -> OnDemand:
        with self._lock:
            cons = self.directory.get(cons_id)
            if cons is None:
                raise AdminNotFound(f"cons_id: no constituent {cons_id}")
            if not cons.active:
                raise AdminError(f"cons_id: constituent {cons_id} is Removed")
            operation = self._the_operation()
            if operation is None or not operation.settings.profile_viewed_or_modified:
                return OnDemand(reason, 0, None)
            self.state.enqueue(cons_id, reason)
        return await self._push(
            reason, 1, _PushScope(constituents=[cons_id], segments=(), transactions=())
        )

    async def notice_registrations(self) -> OnDemand | None:
        """Look for constituents registered since the last look (any door but the connector's
        upload and seeding); with the switch on, queue and push them at once."""
        with self._lock:
            new = self._scan_registrations()
        if not new:
            return None
        scope = _PushScope(constituents=new, segments=(), transactions=())
        return await self._push("new_registration", len(new), scope)

    def skip_changes_so_far(self) -> None:
        """Treat every constituent created so far as known (seeding is not registering)."""
        with self._lock:
            self._skip_log()

    def _skip_log(self) -> None:
        self._log_seen = len(self.directory.log)
        self._log_seen_at = self.clock.now()

    def _scan_registrations(self) -> list[int]:
        """Constituents created since the last scan, by anyone but the connector's upload: mark
        them pending PREDUP and queue them as the settings say. Returns those queued. Hold the
        lock."""
        log = self.directory.log
        if len(log) == self._log_seen:
            return []
        if len(log) < self._log_seen:  # the site was reset under us: start over
            self._log_seen, self._log_seen_at = 0, _BEGINNING
        operation = self._the_operation()
        settings = operation.settings if operation is not None else None
        if settings is None or not (settings.new_registration or settings.predup_match_enabled):
            self._skip_log()
            return []
        seen = self._log_seen
        get = self.directory.get
        new: list[int] = []
        # Entries written since the last scan are stamped at or after it (the clock never goes
        # back); seeded history stamped earlier is not a registration.
        for entry in log.between(self._log_seen_at, _END_OF_TIME):
            if entry.seq <= seen or entry.kind != "insert" or entry.actor == DATA_SYNC_ACTOR:
                continue
            cons = get(int(entry.record_id))
            if cons is not None and cons.active:
                new.append(cons.cons_id)
        self._skip_log()
        now = self.clock.now()
        for cons_id in new:
            if settings.predup_match_enabled:
                self.state.pending_predup.setdefault(cons_id, now)
            if settings.new_registration:
                self.state.enqueue(cons_id, "new_registration")
        return new if settings.new_registration else []

    async def map_cross_reference(
        self,
        source_type: CrossReferenceSource,
        source_id: int,
        campaign: str,
        fund: str,
        appeal: str,
    ) -> tuple[CrossReference, OnDemand]:
        """Map a Luminate campaign/form/event to RE codes (checked against the code tables RE
        sent). With the switch on, the transactions it maps go at once; else with the next run."""
        with self._lock:
            mapping = self.state.add_cross_reference(
                CrossReference(source_type, source_id, campaign, fund, appeal, self.clock.now()),
                self.services.associated,
            )
            operation = self._the_operation()
            if operation is None or not operation.settings.cross_reference_mapping:
                return mapping, OnDemand("cross_reference_mapping", 0, None)
            sent = self.state.sent_transactions
            through = self.state.cross_reference_of
            newly_mapped = [
                t.transaction_id
                for t in self.services.transactions.live.values()
                if t.transaction_id not in sent and through(t) is mapping
            ]
        scope = _PushScope(constituents=(), segments=(), transactions=newly_mapped)
        return mapping, await self._push("cross_reference_mapping", len(newly_mapped), scope)

    def add_group(self, name: str, members: Iterable[int] = ()) -> Group:
        with self._lock:
            return self.groups.add(name, members, self.directory)

    async def add_group_members(
        self, group_id: int, cons_ids: Iterable[int]
    ) -> tuple[Group, OnDemand]:
        """Add members to a group; members joining a group mapped to an offline segment are
        queued for it as the mapping's members were."""
        with self._lock:
            joined = self.groups.add_members(group_id, cons_ids, self.directory)
            group = self.groups.get(group_id)
            keys = self._queue_segment(group, joined)
        return group, await self._segment_push(keys)

    async def map_group_to_segment(self, group_id: int, segment: str) -> tuple[Group, OnDemand]:
        """Map a group to an RE offline segment; with the switch on its members go at once."""
        with self._lock:
            group = self.groups.map_segment(group_id, segment, self.clock.now())
            keys = self._queue_segment(group, list(group.members))
        return group, await self._segment_push(keys)

    def _queue_segment(self, group: Group, members: list[int]) -> list[tuple[int, str]]:
        operation = self._the_operation()
        if (
            group.offline_segment is None
            or operation is None
            or not operation.settings.group_offline_segment
        ):
            return []
        keys: list[tuple[int, str]] = []
        for cons_id in members:
            self.state.enqueue(cons_id, "group_segment")
            self.state.enqueue_segment(cons_id, group.offline_segment)
            keys.append((cons_id, group.offline_segment))
        return keys

    async def _segment_push(self, keys: list[tuple[int, str]]) -> OnDemand:
        members = [cons_id for cons_id, _ in keys]
        scope = _PushScope(constituents=members, segments=keys, transactions=())
        return await self._push("group_segment", len(keys), scope)

    # -- Resolve New Registrations, pledge payments, settlement ---------------------------------

    def resolve_registration(self, cons_id: int) -> None:
        """Resolve a registration pending PREDUP: it is a new constituent. It goes to RE with
        the next run (releasing a hold is not an On Demand trigger)."""
        with self._lock:
            if self.state.pending_predup.pop(cons_id, None) is None:
                raise AdminError(
                    f"cons_id: constituent {cons_id} is not pending in Resolve New Registrations"
                )

    def set_rnr_match(self, cons_id: int, matched_cons_id: int) -> None:
        """Record a Resolve New Registrations match of ``cons_id`` with an existing record."""
        with self._lock:
            for field_name, value in (("cons_id", cons_id), ("matched_cons_id", matched_cons_id)):
                if self.directory.get(value) is None:
                    raise AdminNotFound(f"{field_name}: no constituent {value}")
            if cons_id == matched_cons_id:
                raise AdminError("matched_cons_id: a constituent cannot match itself")
            self.state.rnr_matches[cons_id] = matched_cons_id

    def clear_rnr_match(self, cons_id: int) -> None:
        """The RnR match was resolved (not a duplicate): the constituent goes with the next run."""
        with self._lock:
            if self.state.rnr_matches.pop(cons_id, None) is None:
                raise AdminNotFound(f"cons_id: constituent {cons_id} has no RnR match")

    def mark_pledge_payment(self, transaction_id: int, pledge_import_id: str) -> None:
        """A donation that pays an RE pledge (sent as PledgePayment with PLEDGE_IMPORT_ID)."""
        pledge = pledge_import_id.strip()
        if not pledge:
            raise AdminError("pledge_import_id: give the RE pledge's Import ID")
        with self._lock:
            transaction = self._unsent(transaction_id)
            if transaction.record_type != "Donation":
                raise AdminError(
                    f"transaction_id: {transaction_id} is a {transaction.record_type}; only a "
                    "Donation can pay a pledge"
                )
            self.state.pledge_payments[transaction_id] = pledge

    def set_settled(self, transaction_id: int, settled: bool) -> None:
        """Mark a transaction settled (the default) or still waiting for settlement."""
        with self._lock:
            transaction = self._unsent(transaction_id)
            if transaction.payment is None:
                raise AdminError(
                    f"transaction_id: {transaction_id} is an {transaction.record_type}: it has "
                    "no payment to settle"
                )
            if settled:
                self.state.unsettled.discard(transaction_id)
            else:
                self.state.unsettled.add(transaction_id)

    def _unsent(self, transaction_id: int) -> Any:
        transaction = self.services.transactions.live.get(transaction_id)
        if transaction is None:
            raise AdminNotFound(f"transaction_id: no live transaction {transaction_id}")
        if transaction_id in self.state.sent_transactions:
            raise DataSyncConflict(
                f"transaction {transaction_id} was sent to Raiser's Edge already; it is not sent "
                "again"
            )
        return transaction

    # -- the schedule's ticker ------------------------------------------------------------------

    @asynccontextmanager
    async def ticking(self) -> AsyncIterator[bool]:
        """While open, run due operations every :attr:`tick_seconds` (real time). Off (yields
        False) with a manual clock: tests move time and call :meth:`run_due` themselves."""
        if isinstance(self.clock, ManualClock) or self.tick_seconds <= 0:
            yield False
            return
        async with anyio.create_task_group() as group:
            group.start_soon(self._tick)
            try:
                yield True
            finally:
                group.cancel_scope.cancel()

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(self.tick_seconds)
            try:
                await self.run_due()
            except Exception:
                logger.exception("Luminate data sync: the scheduled run failed")

    # -- state ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state: dict[str, Any] = render_json(
                {
                    "operations": [op.to_json() for op in self.operations.values()],
                    "results": [r.to_json(DATA_SYNC_URL_PREFIX) for r in self.results.values()],
                    **self.state.snapshot(),
                    "groups": [group.to_json() for group in self.groups.groups.values()],
                }
            )
            return state

    def reset(self) -> None:
        """Forget operations, results (and their files), groups and the export state."""
        with self._lock:
            self.operations.clear()
            self.results.clear()
            self.state = ExportState()
            self.groups.clear()
            self._next_operation_id = 1
            self._next_result_id = 1
            self._log_seen = 0
            self._log_seen_at = _BEGINNING
            if self._cleanup is not None:
                self._cleanup()
            self._root = None
            self._cleanup = None

    def _files_root(self) -> Path:
        with self._lock:
            if self._root is None:
                root = Path(tempfile.mkdtemp(prefix="luminate-data-sync-"))
                self._cleanup = weakref.finalize(self, shutil.rmtree, root, True)
                self._root = root
            return self._root

    def _folder(self, result_id: int) -> Path:
        folder = self._files_root() / f"result-{result_id}"
        folder.mkdir(exist_ok=True)
        return folder


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return response.text[:200]
