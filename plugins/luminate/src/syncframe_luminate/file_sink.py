"""The ``luminate_files`` sink: one CSV or JSON Lines file per record type per sync window.

A Luminate sync window is a unit people hand on ("the gifts of last night's window"), so each
window gets its own files, ``<folder>/<Type>_<segment>.<ext>`` with the segment the source names
the window by (``20250301T000000Z_20250302T000000Z``); records of failed-record retries, which
belong to no window, go to ``<Type>_retried.<ext>``. Every change is one line with its operation
(``_operation``: insert, update or delete), so deletes (full refunds) are written too.

Exactly once by position: the position committed with each batch lists the size of every file
of the current window (and of the retry files); :meth:`LuminateFileSink.open` cuts those files
back to their committed sizes and deletes files of that window no committed batch wrote, so a
batch written but not committed (a crash in between) leaves nothing behind. A file not in the
committed position is started afresh when first written. A window's files are complete once the
next window's first batch is committed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, ClassVar, Final, Literal

import orjson
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
from syncframe.records import Change

__all__ = ["LuminateFileSink", "LuminateFilesOptions", "file_name", "text_value"]

OPERATION: Final = "_operation"
RETRIED: Final = "retried"
_ENTITY_UNSAFE = re.compile(r"[^A-Za-z0-9-]")
_SEGMENT_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_ENTITY = re.compile(r"[A-Za-z0-9-]+")


class LuminateFilesOptions(BaseModel):
    """Options of the ``luminate_files`` sink."""

    model_config = ConfigDict(extra="forbid")

    folder: str = Field(
        "luminate", description="The folder the files go to, relative to the flow file's folder."
    )
    format: Literal["csv", "jsonl"] = Field("csv", description="csv or jsonl.")
    fsync: bool = Field(
        False, description="Force every batch to disk before acknowledging it (power-loss safe)."
    )


def _suffix(segment: str | None, extension: str) -> str:
    """``_<segment>.<ext>``, the end of every file name of a segment."""
    part = RETRIED if segment is None else _SEGMENT_UNSAFE.sub("-", segment)
    return f"_{part}.{extension}"


def file_name(entity: str, segment: str | None, extension: str) -> str:
    """``<Entity>_<segment>.<ext>``; the segment ``None`` (retries) is ``retried``. Characters
    that do not belong in a file name become ``-`` (and ``_`` in the entity, so that the first
    ``_`` of a name always ends the entity)."""
    return (_ENTITY_UNSAFE.sub("-", entity) or "-") + _suffix(segment, extension)


def text_value(value: Any) -> str:
    """A value as CSV text: decimals as they are, times ISO 8601 in UTC with ``Z``, booleans
    ``true``/``false``, nothing as the empty string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment: datetime = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: a float would round amounts
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


_JSON_OPTIONS: Final = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class _File:
    """One open output file: its handle, its size and (CSV) its columns."""

    __slots__ = ("columns", "handle", "ignored", "path", "size")

    def __init__(self, path: Path, handle: IO[bytes], size: int) -> None:
        self.path = path
        self.handle = handle
        self.size = size
        self.columns: list[str] | None = None
        self.ignored: set[str] = set()


class LuminateFileSink(Sink[LuminateFilesOptions]):
    """Appends each change to ``<folder>/<Type>_<segment>.<csv|jsonl>``.

    CSV: a header row (``_operation`` then the fields of the type's first batch in the file, in
    their order), values as :func:`text_value` writes them; a field that appears later in the
    same file has no column and is left out with a warning. JSONL: one object per change,
    ``_operation`` first, decimals as strings (exact), times ISO 8601 with ``Z``. Every change
    written is ``created`` (a line was added); a dry run writes nothing.

    Position: ``{"segment": <window>, "files": {<file name>: <bytes>}}``, the files of the
    current window and the retry files.
    """

    Options: ClassVar[type[BaseModel]] = LuminateFilesOptions

    def __init__(self, context: ComponentContext, options: LuminateFilesOptions) -> None:
        super().__init__(context, options)
        self._segment: str | None = None
        self._sizes: dict[str, int] = {}  # files this session may append to -> their size
        self._window: set[str] = set()  # names of the current window's files
        self._retried: set[str] = set()
        self._open: dict[str, _File] = {}

    @property
    def folder(self) -> Path:
        """The output folder, made absolute."""
        return (Path(self.context.config_dir) / Path(self.options.folder).expanduser()).resolve()

    @property
    def extension(self) -> str:
        return self.options.format

    async def check(self) -> None:
        folder = self.folder
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK):
            raise PermanentError(f"{folder}: folder is not writable")

    # ---- restoring the committed position --------------------------------------------------
    async def open(self, position: JSONValue) -> None:
        self._close_all()
        self._segment = None
        self._sizes = {}
        self._window = set()
        self._retried = set()
        if position is None:
            return  # nothing committed: every file is started afresh when first written
        try:
            segment = position["segment"]
            files = {str(name): int(size) for name, size in position["files"].items()}
            if segment is not None and not isinstance(segment, str):
                raise TypeError
        except (TypeError, KeyError, ValueError, AttributeError):
            raise PermanentError(
                f"{self.folder}: the committed sink position {position!r} is not one the "
                "luminate_files sink wrote"
            ) from None
        folder = self.folder
        retry_suffix = _suffix(None, self.extension)
        for name, size in files.items():
            path = folder / name
            self._sizes[name] = self._restore(path, size)
            (self._retried if name.endswith(retry_suffix) else self._window).add(name)
        self._segment = segment
        # Files of the committed window (or retry files) that no committed batch wrote.
        suffixes = [retry_suffix]
        if segment is not None:
            suffixes.append(_suffix(segment, self.extension))
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name in files or not path.is_file():
                    continue
                if any(
                    path.name.endswith(s) and _ENTITY.fullmatch(path.name[: -len(s)])
                    for s in suffixes
                ):
                    self.context.logger.info(
                        "%s: deleted, written by a batch that was not committed", path
                    )
                    path.unlink()

    def _restore(self, path: Path, size: int) -> int:
        """Cut ``path`` back to its committed ``size``; the size it has afterwards."""
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            if size:
                self.context.logger.warning(
                    "%s is missing (a committed batch wrote %d bytes to it): it was removed "
                    "outside syncframe; it is started again",
                    path,
                    size,
                )
            return 0
        if actual > size:
            with path.open("r+b") as f:
                f.truncate(size)
            return size
        if actual < size:
            self.context.logger.warning(
                "%s is shorter (%d bytes) than the committed position (%d bytes): it was "
                "truncated outside syncframe; appending to what is there",
                path,
                actual,
                size,
            )
        return actual

    # ---- writing ---------------------------------------------------------------------------
    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = BatchResult.uniform(Outcome.CREATED, len(changes))
        if plan.dry_run or not changes:
            result.position = self._position()
            return result
        segment = plan.segment
        if segment is not None and segment != self._segment:
            # A new window: the previous window's files are complete.
            for name in self._window:
                self._close(name)
                self._sizes.pop(name, None)
            self._window = set()
            self._segment = segment
        by_entity: dict[str, list[Change]] = {}
        for change in changes:
            by_entity.setdefault(change.entity, []).append(change)
        for entity, group in by_entity.items():
            name = file_name(entity, segment, self.extension)
            out = self._file(name)
            (self._window if segment is not None else self._retried).add(name)
            payload = self._encode(out, group)
            self._append(out, payload)
            self._sizes[name] = out.size
        result.position = self._position()
        return result

    def _position(self) -> dict[str, Any]:
        names = sorted(self._window | self._retried)
        return {"segment": self._segment, "files": {n: self._sizes.get(n, 0) for n in names}}

    def _file(self, name: str) -> _File:
        known = self._open.get(name)
        if known is not None:
            return known
        path = self.folder / name
        size = self._sizes.get(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if size is None:
                handle = path.open("wb")  # not committed by anyone: start afresh
                size = 0
            else:
                handle = path.open("ab")
                handle.truncate(size)
        except OSError as error:
            raise PermanentError(f"{path}: cannot be written: {error.strerror}") from None
        out = _File(path, handle, size)
        if self.options.format == "csv" and size:
            try:
                out.columns = self._header(path, size)
            except BaseException:
                handle.close()
                raise
        self._open[name] = out
        return out

    @staticmethod
    def _header(path: Path, size: int) -> list[str] | None:
        with path.open("rb") as f:
            first = f.read(min(size, 1 << 20)).decode("utf-8", "replace")
        header = next(csv.reader(io.StringIO(first)), None)
        if not header or header[0] != OPERATION:
            raise PermanentError(
                f"{path}, line 1: not a luminate_files CSV (its first column is not "
                f"{OPERATION}); move it away"
            )
        return header[1:]

    def _append(self, out: _File, payload: bytes) -> None:
        try:
            out.handle.write(payload)
            out.handle.flush()
            if self.options.fsync:
                os.fsync(out.handle.fileno())
        except OSError as error:
            # No half batch left behind: the engine writes the whole batch again.
            with contextlib.suppress(OSError):
                out.handle.truncate(out.size)
            raise PermanentError(f"{out.path}: cannot be written: {error.strerror}") from None
        out.size += len(payload)

    def _encode(self, out: _File, changes: list[Change]) -> bytes:
        if self.options.format == "jsonl":
            buffer = io.BytesIO()
            for change in changes:
                record = {OPERATION: change.operation.value, **change.fields}
                buffer.write(orjson.dumps(record, default=_json_default, option=_JSON_OPTIONS))
            return buffer.getvalue()
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        columns = out.columns
        if columns is None:
            columns = list(dict.fromkeys(name for c in changes for name in c.fields))
            out.columns = columns
            writer.writerow([OPERATION, *columns])
        extra = {n for c in changes for n in c.fields}.difference(columns, out.ignored)
        if extra:
            out.ignored |= extra
            self.context.logger.warning(
                "%s has no column for field(s) %s (its header was written by an earlier "
                "batch); they are left out",
                out.path,
                ", ".join(sorted(extra)),
            )
        writer.writerows(
            [change.operation.value, *(text_value(change.fields.get(n)) for n in columns)]
            for change in changes
        )
        return text.getvalue().encode("utf-8")

    # ---- closing ---------------------------------------------------------------------------
    def _close(self, name: str) -> None:
        out = self._open.pop(name, None)
        if out is not None:
            out.handle.close()

    def _close_all(self) -> None:
        for name in list(self._open):
            self._close(name)

    async def aclose(self) -> None:
        self._close_all()
