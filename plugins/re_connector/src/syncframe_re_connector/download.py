"""Luminate's files back into Raiser's Edge: the ``luminate_download`` source and the
``re_import_area`` sink.

``luminate_download`` hands on every CSV in ``/download/`` that has its manifest (a CSV without
one is still being written), one change per file, oldest name first. It copies each file into
the connector's spool folder first, so the change carries the file's name, size, SHA-256 and
local copy, never its content (files can be large). Once the engine has committed a batch, i.e.
RE's import area has its files, :meth:`LuminateDownloadSource.acknowledged` deletes them from
the FTP server (manifest first, then the CSV: a crash in between leaves a CSV nobody takes).
The cursor maps the files handed on that may still be on the server to their SHA-256: a file is
never handed on twice, and one whose deletion did not happen is deleted by the next run (unless
Luminate has meanwhile written a different file of that name, which is then handed on).

``re_import_area`` puts each file into RE's import area under its own name. RE keeps one file
per name, so putting a file again after a crash is harmless (idempotent by key). RE's data does
not change until someone imports the file in RE (or RE's auto-import is on).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Final

import anyio
from pydantic import BaseModel, ConfigDict, Field

from syncframe.components import (
    BatchResult,
    ComponentContext,
    JSONValue,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    TransientError,
    WritePlan,
)
from syncframe.records import Change, Operation
from syncframe_re_connector.files import DOWNLOAD_FOLDER, manifest_of
from syncframe_re_connector.ftp import FtpSession
from syncframe_re_connector.ledger import DEFAULT_FOLDER, spool_folder
from syncframe_re_connector.re_client import ReClient, re_client_of
from syncframe_re_connector.settings import FTP_SYSTEM, RE_SYSTEM
from syncframe_re_connector.upload_sink import ftp_client_of, state_folder

__all__ = [
    "FILE_ENTITY",
    "DownloadOptions",
    "ImportAreaOptions",
    "ImportAreaSink",
    "LuminateDownloadSource",
    "file_change_fields",
]

FILE_ENTITY: Final = "file"
#: Names RE's import area takes: one path segment, a CSV.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.csv")


class DownloadOptions(BaseModel):
    """Options of the ``luminate_download`` source."""

    model_config = ConfigDict(extra="forbid")

    folder: str = Field(
        DEFAULT_FOLDER,
        description="The connector's state folder (the spool of collected files), relative to "
        "the flow file's folder; the same for every component of the connector.",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_change_fields(name: str, path: Path) -> dict[str, Any]:
    """The fields of a collected file's change: name, size, SHA-256 and the local copy."""
    return {
        "name": name,
        "size": path.stat().st_size,
        "sha256": _sha256(path),
        "spool": str(path),
    }


def _delivered_of(cursor: JSONValue | None) -> dict[str, str]:
    if cursor is None:
        return {}
    if not isinstance(cursor, dict) or not all(isinstance(h, str) for h in cursor.values()):
        raise PermanentError(
            f"the cursor {cursor!r:.200} is not one luminate_download wrote ({{name: sha256}})"
        )
    return {str(name): digest for name, digest in cursor.items()}


async def _remove(ftp: FtpSession, name: str) -> None:
    # The manifest first: a CSV left without its manifest is taken by nobody.
    await ftp.delete(DOWNLOAD_FOLDER, manifest_of(name))
    await ftp.delete(DOWNLOAD_FOLDER, name)


class LuminateDownloadSource(Source[DownloadOptions]):
    """The manifested CSVs Luminate put in ``/download/``, one change per file.

    Entity ``file``, key ``name`` (``luminate_17_transactions.csv``), operation ``insert``,
    fields ``name``, ``size``, ``sha256`` and ``spool`` (the local copy). Deletes handed-on files
    from the server once their batch is committed.
    """

    Options: ClassVar[type[BaseModel]] = DownloadOptions
    system: ClassVar[str | None] = FTP_SYSTEM
    entity: ClassVar[str] = FILE_ENTITY

    @property
    def spool(self) -> Path:
        return spool_folder(state_folder(self.context, self.options.folder))

    async def check(self) -> None:
        async with ftp_client_of(self.context).session() as ftp:
            await ftp.check_folder(DOWNLOAD_FOLDER)

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        client = ftp_client_of(self.context)
        delivered = _delivered_of(cursor)
        self.spool.mkdir(parents=True, exist_ok=True)
        async with client.session() as ftp:
            present = set(await ftp.names(DOWNLOAD_FOLDER))
            for name in sorted(set(delivered) & present):
                # Handed on and committed, but not deleted (a crash after the commit, or the
                # server was away): delete it now, unless Luminate wrote a new file of that name.
                check = self.spool / f".{name}.check"
                await ftp.download(DOWNLOAD_FOLDER, name, check)
                same = await anyio.to_thread.run_sync(_sha256, check) == delivered[name]
                check.unlink()
                if same:
                    await _remove(ftp, name)
                else:
                    del delivered[name]
            present = set(await ftp.names(DOWNLOAD_FOLDER))
        delivered = {n: h for n, h in delivered.items() if n in present}
        ready = sorted(
            n
            for n in present
            if n.lower().endswith(".csv") and manifest_of(n) in present and n not in delivered
        )
        await anyio.to_thread.run_sync(self._prune_spool, present)
        now = self.context.clock.now()
        for start in range(0, len(ready), batch_size):
            names = ready[start : start + batch_size]
            changes: list[Change] = []
            async with client.session() as ftp:
                for name in names:
                    path = self.spool / name
                    await ftp.download(DOWNLOAD_FOLDER, name, path)
                    fields = await anyio.to_thread.run_sync(file_change_fields, name, path)
                    changes.append(
                        Change(
                            self.context.connection_name,
                            FILE_ENTITY,
                            {"name": name},
                            Operation.INSERT,
                            fields,
                            occurred_at=now,
                        )
                    )
            delivered.update((c.key, str(c.fields["sha256"])) for c in changes)
            yield SourceBatch(changes, dict(sorted(delivered.items())))

    def _prune_spool(self, present: set[str]) -> None:
        """Forget local copies of files gone from the server, unless a failed record still
        needs one (``syncframe failed retry`` sends it from there)."""
        if not self.spool.is_dir():
            return
        needed = {
            str(record.change.get("fields", {}).get("spool"))
            for record in self.context.state.list_failed(flow=self.context.flow)
        }
        for path in self.spool.iterdir():
            if path.is_file() and path.name not in present and str(path) not in needed:
                path.unlink()

    async def acknowledged(self, cursor: JSONValue) -> None:
        names = sorted(_delivered_of(cursor))  # the last batch's files are among them
        if not names:
            return
        try:
            async with ftp_client_of(self.context).session() as ftp:
                present = set(await ftp.names(DOWNLOAD_FOLDER))
                for name in names:
                    if name in present:
                        await _remove(ftp, name)
        except (TransientError, PermanentError) as exc:
            # A courtesy: the cursor remembers them, and the next run deletes them.
            self.context.logger.warning(
                "files in RE's import area not yet deleted from the FTP server: %s", exc
            )


class ImportAreaOptions(BaseModel):
    """The ``re_import_area`` sink takes no options."""

    model_config = ConfigDict(extra="forbid")


class ImportAreaSink(Sink[ImportAreaOptions]):
    """Puts collected files into RE's import area, each under its own name.

    Takes changes of entity ``file`` with ``name`` and ``spool`` (the local copy); ``created``
    once RE has the file. A name RE would not take, a missing local copy or RE refusing the file
    (4xx other than 401/403/429) makes the change ``rejected`` with the reason; refused
    credentials fail the run (``open`` logs in before anything is collected). Idempotent by key:
    RE keeps one file per name.
    """

    Options: ClassVar[type[BaseModel]] = ImportAreaOptions
    system: ClassVar[str | None] = RE_SYSTEM

    def __init__(self, context: ComponentContext, options: ImportAreaOptions) -> None:
        super().__init__(context, options)
        self._client: ReClient | None = None

    @property
    def client(self) -> ReClient:
        if self._client is None:
            self._client = re_client_of(self.context)
        return self._client

    async def check(self) -> None:
        await self.client.import_area()

    async def open(self, position: JSONValue) -> None:
        # Refused credentials fail the run here, before a file is collected: they would
        # otherwise fail every file one by one.
        await self.check()

    @staticmethod
    def _problem(change: Change) -> str | None:
        if change.entity != FILE_ENTITY:
            return f"RE's import area takes files, not {change.entity!r} records"
        name = str(change.fields.get("name") or "")
        if not _FILE_NAME.fullmatch(name):
            return f"{name!r} is not a file name RE's import area takes (a CSV file name)"
        spool = change.fields.get("spool")
        if not spool:
            return f"{name}: the change has no local copy (spool)"
        if not Path(str(spool)).is_file():
            return (
                f"{name}: the local copy {spool} is missing (the connector's spool folder was "
                "changed outside syncframe); ask Luminate for the file again"
            )
        return None

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = BatchResult([Outcome.CREATED] * len(changes))
        for i, change in enumerate(changes):
            problem = self._problem(change)
            if problem is not None:
                result.outcomes[i], result.reasons[i] = Outcome.REJECTED, problem
                continue
            if change.operation is Operation.DELETE:
                result.outcomes[i] = Outcome.SKIPPED
                result.reasons[i] = "RE's import area has no deletions"
                continue
            name = str(change.fields["name"])
            result.target_keys[i] = name
            if plan.dry_run:
                continue
            refusal = await self.client.put_file(name, Path(str(change.fields["spool"])))
            if refusal is not None:
                result.outcomes[i], result.reasons[i] = Outcome.REJECTED, refusal
                del result.target_keys[i]
        return result
