"""The connector's state folder: staged upload files, spooled downloads and the ledger.

The folder (``re_connector/`` beside the flow file unless a component's ``folder`` option says
otherwise) holds:

* ``staging/<flow>/<generation>.csv``: the rows an upload flow staged, one file per
  *generation* (a header, then rows appended batch by batch; see :mod:`.upload_sink`);
* ``spool/<name>``: the files collected from ``/download/`` until RE's import area has them;
* ``ledger.json``: what the connector published and answered, written only by the connector's
  cycles (:mod:`.cycles`) and always replaced whole (a crash leaves the old or the new ledger,
  never half of one).

The ledger records, per upload flow and generation, how far the staged file has been published
(bytes and rows); each file the connector put on the FTP server, with the byte range of the
staged generation it holds and how far its publication got (``pending``: the range is fixed,
the CSV may be partly uploaded; ``csv_uploaded``; ``published``: the manifest is there too);
the manifests it wrote that may still be on the server (so a manifest placed by hand is told
apart); and the last cycles (Luminate's upload and download calls) with their files and
problems, for ``syncframe re-connector status``.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from syncframe.components import PermanentError

__all__ = [
    "DEFAULT_FOLDER",
    "KEPT_CYCLES",
    "Cycle",
    "CycleStatus",
    "Ledger",
    "LedgerData",
    "PublishedFile",
    "Watermark",
    "generation_path",
    "spool_folder",
    "staging_folder",
]

#: The state folder when a component does not name one, relative to the flow file's folder.
DEFAULT_FOLDER: Final = "re_connector"
#: Cycles kept in the ledger for ``status`` (older ones are forgotten).
KEPT_CYCLES: Final = 200
_LEDGER: Final = "ledger.json"


def staging_folder(folder: Path, flow: str) -> Path:
    """Where the upload flow ``flow`` stages its generations."""
    return folder / "staging" / flow


def generation_path(folder: Path, flow: str, generation: int) -> Path:
    """The staged file of one generation of ``flow``."""
    return staging_folder(folder, flow) / f"{generation:06d}.csv"


def spool_folder(folder: Path) -> Path:
    """Where collected download files wait for RE's import area."""
    return folder / "spool"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Watermark(_Model):
    """How much of a staged generation has been published: bytes of the file, rows."""

    bytes: int = Field(ge=0)
    rows: int = Field(ge=0)


FileState = Literal["pending", "csv_uploaded", "published"]
#: How a cycle ended: ``refused`` when a hand-placed manifest stopped it.
CycleStatus = Literal["running", "succeeded", "failed", "refused"]


class PublishedFile(_Model):
    """A file the connector puts on the FTP server for Luminate, and how far that got."""

    name: str
    file: Literal["constituents", "codetables"]
    flow: str
    result_id: int
    #: The staged generation it is cut from, or ``None`` for a header-only file.
    generation: int | None
    start: int = Field(ge=0)  # bytes [start, end) of the generation after the header
    end: int = Field(ge=0)
    rows: int = Field(ge=0)
    rows_end: int = Field(ge=0)  # rows of the generation up to ``end``
    state: FileState = "pending"
    #: Whether an answer to Luminate has listed it.
    reported: bool = False
    published_at: datetime | None = None


class Cycle(_Model):
    """One call of Luminate's data sync: an upload (RE -> Luminate) or a download."""

    kind: Literal["upload", "download"]
    result_id: int
    started_at: datetime
    finished_at: datetime | None = None
    status: CycleStatus = "running"
    operation_file_name: str | None = None
    files: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    runs: dict[str, str] = Field(default_factory=dict)  # flow -> run id


class LedgerData(_Model):
    """Everything in ``ledger.json``."""

    version: Literal[1] = 1
    #: Upload flow -> generation (as text) -> how far it has been published.
    published: dict[str, dict[str, Watermark]] = Field(default_factory=dict)
    #: Files put (or being put) on the FTP server, by name, until Luminate has taken them.
    files: dict[str, PublishedFile] = Field(default_factory=dict)
    #: Manifests the connector wrote that may still be on the FTP server.
    manifests: list[str] = Field(default_factory=list)
    cycles: list[Cycle] = Field(default_factory=list)

    def watermark(self, flow: str, generation: int) -> Watermark | None:
        """How far ``generation`` of ``flow`` has been published (``None``: not at all)."""
        return self.published.get(flow, {}).get(str(generation))

    def generations(self, flow: str) -> list[int]:
        """The generations of ``flow`` the ledger knows, in order."""
        return sorted(int(g) for g in self.published.get(flow, {}))

    def cycle(self, kind: str, result_id: int) -> Cycle | None:
        """The latest cycle of ``kind`` for ``result_id``."""
        for cycle in reversed(self.cycles):
            if cycle.kind == kind and cycle.result_id == result_id:
                return cycle
        return None

    def add_cycle(self, cycle: Cycle) -> Cycle:
        """Append ``cycle``, forgetting the oldest beyond :data:`KEPT_CYCLES`."""
        self.cycles.append(cycle)
        del self.cycles[:-KEPT_CYCLES]
        return cycle


class Ledger:
    """``ledger.json`` in the connector's state folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / _LEDGER

    def load(self) -> LedgerData:
        """The ledger as saved last (an empty one before the first save)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return LedgerData()
        except OSError as exc:
            raise PermanentError(f"{self.path}: cannot be read: {exc.strerror}") from None
        try:
            return LedgerData.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PermanentError(
                f"{self.path}: not a ledger the RE connector wrote ({where}: {first['msg']}); "
                "it was changed outside syncframe"
            ) from None

    def save(self, data: LedgerData) -> None:
        """Replace the ledger with ``data``, durably (written beside it, synced, renamed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(data.model_dump(mode="json"), indent=1, sort_keys=True)
        handle, temporary = tempfile.mkstemp(prefix=".ledger-", dir=self.folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _sync_folder(self.folder)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
