"""The ``luminate_upload`` sink: rows for Luminate, staged exactly once, published by the cycle.

An upload flow (``re_constituents`` or ``re_code_tables`` into this sink) runs when Luminate's
data sync calls the connector. The sink appends each batch's rows to the flow's **staged file**
in the connector's state folder; the connector's cycle (:mod:`.cycles`) then publishes what was
staged as ``re_{result_id}_{file}.csv`` and its empty manifest in ``/upload/`` on the FTP
server. Only rows of committed batches are ever published.

Exactly once by position: the position committed with each batch is ``{"generation", "bytes",
"rows"}``, the staged file and its size after the batch. :meth:`LuminateUploadSink.open` cuts
the file back to that size, so a batch written but not committed (a crash in between) leaves
nothing behind, and the engine writes it again. Publishing never changes a staged file: the
ledger records how far each generation has been published, and once all of it is, the next run
starts a new generation (a new file) and removes the old one.

``open`` also logs in to the FTP server and checks ``/upload/``: a connector whose FTP account
is refused fails before it reads RE or stages anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from syncframe.components import (
    BatchResult,
    ComponentContext,
    JSONValue,
    Outcome,
    PermanentError,
    Sink,
    WritePlan,
)
from syncframe.records import Change, Operation
from syncframe_re_connector.files import (
    CODE_TABLES,
    UPLOAD_COLUMNS,
    UPLOAD_FOLDER,
    UploadFile,
    csv_bytes,
)
from syncframe_re_connector.ftp import FtpClient
from syncframe_re_connector.ledger import (
    DEFAULT_FOLDER,
    Ledger,
    LedgerData,
    generation_path,
    staging_folder,
)
from syncframe_re_connector.re_sources import CODE_TABLE_ENTITY, CONSTITUENT_ENTITY
from syncframe_re_connector.settings import FTP_SYSTEM, LuminateFtpSettings

__all__ = [
    "LuminateUploadSink",
    "StagedPosition",
    "UploadOptions",
    "ftp_client_of",
    "header_bytes",
    "parse_position",
    "state_folder",
]

#: The entity each upload file takes.
ENTITY_OF: dict[str, str] = {"constituents": CONSTITUENT_ENTITY, "codetables": CODE_TABLE_ENTITY}


class UploadOptions(BaseModel):
    """Options of the ``luminate_upload`` sink."""

    model_config = ConfigDict(extra="forbid")

    file: UploadFile = Field(
        description="Which upload file the flow fills: constituents (re_N_constituents.csv) or "
        "codetables (re_N_codetables.csv)."
    )
    folder: str = Field(
        DEFAULT_FOLDER,
        description="The connector's state folder (staged files, ledger), relative to the flow "
        "file's folder; the same for every component of the connector.",
    )
    fsync: bool = Field(
        False, description="Force each staged batch to disk before acknowledging it."
    )


def state_folder(context: ComponentContext, folder: str) -> Path:
    """The state folder an option names, made absolute against the flow file's folder."""
    return (Path(context.config_dir) / Path(folder).expanduser()).resolve()


def header_bytes(file: str) -> bytes:
    """The header row of an upload file."""
    return csv_bytes([UPLOAD_COLUMNS[file]])


def ftp_client_of(context: ComponentContext) -> FtpClient:
    """The FTP client of a component on a ``luminate_ftp`` connection, with the connection's
    timeout (the core's ``timeout`` key, which also shapes its HTTP client) per command."""
    settings = context.connection
    if not isinstance(settings, LuminateFtpSettings):
        raise PermanentError(f"connection {context.connection_name!r} is not a luminate_ftp one")
    timeout = context.http().timeout.read
    return FtpClient(settings, timeout if timeout is not None else 30.0)


class StagedPosition(BaseModel):
    """The sink's committed position: a staged generation and its size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generation: int = Field(ge=1)
    bytes: int = Field(ge=0)
    rows: int = Field(ge=0)


def parse_position(position: JSONValue, where: str) -> StagedPosition | None:
    """The committed position of a ``luminate_upload`` sink (``None``: nothing committed)."""
    if position is None:
        return None
    try:
        return StagedPosition.model_validate(position)
    except ValueError:
        raise PermanentError(
            f"{where}: the committed sink position {position!r} is not one the luminate_upload "
            "sink wrote"
        ) from None


def next_generation(ledger: LedgerData, flow: str, after: int = 0) -> int:
    """A generation number of ``flow`` no staged or published file uses yet."""
    used = [after, *ledger.generations(flow)]
    used += [f.generation for f in ledger.files.values() if f.flow == flow and f.generation]
    return max(used) + 1


class LuminateUploadSink(Sink[UploadOptions]):
    """Stages rows of one upload file (constituents or code tables) for the connector's cycle.

    A row is the change's fields, which must be columns of the file: ``MEMBER_ID`` and
    ``EXCHANGE_ID`` are required for constituents, ``TABLE`` (Campaign, Fund or Appeal) and
    ``CODE`` for code tables. A change of another entity, with a field that is not a column or
    without a required value is ``rejected`` with the reason; a delete is ``skipped`` (the upload
    files carry no deletions); every staged row is ``created``. Position-restoring.
    """

    Options: ClassVar[type[BaseModel]] = UploadOptions
    system: ClassVar[str | None] = FTP_SYSTEM

    def __init__(self, context: ComponentContext, options: UploadOptions) -> None:
        super().__init__(context, options)
        self._committed: JSONValue = None
        self._generation = 0
        self._bytes = 0
        self._rows = 0
        self._started = False  # whether the generation's file exists (has its header)
        self._handle: IO[bytes] | None = None

    @property
    def folder(self) -> Path:
        """The connector's state folder."""
        return state_folder(self.context, self.options.folder)

    @property
    def columns(self) -> tuple[str, ...]:
        return UPLOAD_COLUMNS[self.options.file]

    async def check(self) -> None:
        async with ftp_client_of(self.context).session() as ftp:
            await ftp.check_folder(UPLOAD_FOLDER)

    # ---- restoring the committed position --------------------------------------------------
    async def open(self, position: JSONValue) -> None:
        self._close()
        await self.check()  # fail before anything is staged when the FTP server refuses us
        flow = self.context.flow
        committed = parse_position(position, f"flow {flow}")
        ledger = Ledger(self.folder).load()
        self._committed = position
        if committed is not None and not self._fully_published(ledger, committed):
            self._restore(committed)
            return
        after = committed.generation if committed is not None else 0
        self._generation = next_generation(ledger, flow, after)
        self._bytes = self._rows = 0
        self._started = False
        if committed is not None:
            self._remove_generations(keep=set())

    def _fully_published(self, ledger: LedgerData, committed: StagedPosition) -> bool:
        flow = self.context.flow
        mark = ledger.watermark(flow, committed.generation)
        if mark is None or mark.bytes < committed.bytes:
            return False
        return not any(
            f.flow == flow and f.generation == committed.generation and f.state != "published"
            for f in ledger.files.values()
        )

    def _restore(self, committed: StagedPosition) -> None:
        path = generation_path(self.folder, self.context.flow, committed.generation)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = -1
        if size < committed.bytes:
            found = "is missing" if size < 0 else f"has {size} bytes"
            raise PermanentError(
                f"{path} {found}, but the connector staged {committed.bytes} bytes there: the "
                "state folder was changed outside syncframe; restore it from a backup"
            )
        if size > committed.bytes:
            # Rows of a batch that was written but never committed: the engine sends it again.
            with path.open("r+b") as f:
                f.truncate(committed.bytes)
            self.context.logger.info(
                "%s: cut back to %d bytes (a batch that was not committed)", path, committed.bytes
            )
        self._generation = committed.generation
        self._bytes, self._rows = committed.bytes, committed.rows
        self._started = True
        self._remove_generations(keep={committed.generation})

    def _remove_generations(self, keep: set[int]) -> None:
        """Delete this flow's staged files other than ``keep``: fully published ones, and
        ones no committed batch wrote."""
        folder = staging_folder(self.folder, self.context.flow)
        if not folder.is_dir():
            return
        for path in folder.glob("*.csv"):
            if path.stem.isdigit() and int(path.stem) not in keep:
                path.unlink()

    # ---- writing ---------------------------------------------------------------------------
    def _problem(self, change: Change) -> str | None:
        file = self.options.file
        expected = ENTITY_OF[file]
        if change.entity != expected:
            return (
                f"the {file} file takes {expected} records, not {change.entity!r} "
                f"(flow {self.context.flow})"
            )
        unknown = [name for name in change.fields if name not in self.columns]
        if unknown:
            return (
                f"{unknown[0]!r} is not a column of the {file} file (columns: "
                f"{', '.join(self.columns)})"
            )
        for name, value in change.fields.items():
            if isinstance(value, Mapping | list | tuple | set):
                return f"{name}: a list or table cannot go into a CSV column"
        fields = change.fields
        if file == "constituents":
            for name, meaning in (("MEMBER_ID", "Constituent ID"), ("EXCHANGE_ID", "Import ID")):
                if not str(fields.get(name) or "").strip():
                    return f"{name} is empty: every constituent row needs RE's {meaning}"
        else:
            table = str(fields.get("TABLE") or "")
            if table not in CODE_TABLES:
                return f"TABLE {table!r} is not one of {', '.join(CODE_TABLES)}"
            if not str(fields.get("CODE") or "").strip():
                return "CODE is empty: every code table row needs the code"
        return None

    def _row(self, fields: Mapping[str, Any]) -> list[str]:
        return ["" if fields.get(c) is None else str(fields.get(c)) for c in self.columns]

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = BatchResult([Outcome.CREATED] * len(changes))
        rows: list[list[str]] = []
        for i, change in enumerate(changes):
            problem = self._problem(change)
            if problem is not None:
                result.outcomes[i], result.reasons[i] = Outcome.REJECTED, problem
            elif change.operation is Operation.DELETE:
                result.outcomes[i] = Outcome.SKIPPED
                result.reasons[i] = "the upload files carry no deletions"
            else:
                # No target key: a staged row is not a record in a system a flow reads back,
                # and a key would make the engine keep a loop-guard ledger entry and an
                # identity link per row (2.7x the cycle's time and 110 MiB of state per 100k;
                # docs/performance.md, re-connector-cycle).
                rows.append(self._row(change.fields))
        if rows and not plan.dry_run:
            self._append(csv_bytes(rows), len(rows))
        result.position = self._position()
        return result

    def _position(self) -> JSONValue:
        if not self._started:
            return self._committed  # nothing staged in this generation yet
        return {"generation": self._generation, "bytes": self._bytes, "rows": self._rows}

    def _file(self) -> IO[bytes]:
        if self._handle is not None:
            return self._handle
        path = generation_path(self.folder, self.context.flow, self._generation)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if self._started:
                handle = path.open("ab")
            else:
                handle = path.open("wb")  # a new generation: nothing of it was committed
                header = header_bytes(self.options.file)
                handle.write(header)
                self._bytes, self._rows, self._started = len(header), 0, True
        except OSError as error:
            raise PermanentError(f"{path}: cannot be written: {error.strerror}") from None
        self._handle = handle
        return handle

    def _append(self, payload: bytes, count: int) -> None:
        handle = self._file()
        try:
            handle.write(payload)
            handle.flush()
            if self.options.fsync:
                os.fsync(handle.fileno())
        except OSError as error:
            # No half batch left behind: the engine writes the whole batch again.
            handle.truncate(self._bytes)
            raise PermanentError(f"{handle.name}: cannot be written: {error.strerror}") from None
        self._bytes += len(payload)
        self._rows += count

    # ---- closing ---------------------------------------------------------------------------
    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    async def aclose(self) -> None:
        self._close()
