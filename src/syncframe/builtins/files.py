"""Local files as sources and sinks: CSV and JSON Lines.

Sources read a file from a byte offset, so a run resumes right after the last committed batch and
a file that only grows is read incrementally. Sinks append, and restore the file to the committed
offset when they open, which makes a file target exactly-once: lines of a batch that was written
but never committed are cut off before anything else is written.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import operator
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from itertools import chain, islice, repeat
from pathlib import Path
from typing import IO, Any, ClassVar, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncframe.components import (
    BatchResult,
    ComponentContext,
    JSONValue,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    WritePlan,
)
from syncframe.records import Change, Operation

__all__ = [
    "CsvSink",
    "CsvSinkOptions",
    "CsvSource",
    "CsvSourceOptions",
    "JsonlSink",
    "JsonlSinkOptions",
    "JsonlSource",
    "JsonlSourceOptions",
]

# A column name no header can have (csv values cannot hold NUL).
_EXTRA = "\x00extra"

# How many leading bytes of a file identify it: if they change, the file was replaced.
_FINGERPRINT_BYTES = 1024

_OPERATIONS: dict[str, Operation] = {
    "": Operation.UPDATE,
    "insert": Operation.INSERT,
    "create": Operation.INSERT,
    "created": Operation.INSERT,
    "new": Operation.INSERT,
    "update": Operation.UPDATE,
    "updated": Operation.UPDATE,
    "upsert": Operation.UPDATE,
    "change": Operation.UPDATE,
    "delete": Operation.DELETE,
    "deleted": Operation.DELETE,
    "remove": Operation.DELETE,
}


def _resolve(config_dir: str, path: str) -> Path:
    return (Path(config_dir) / Path(path).expanduser()).resolve()


def _check_encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    return value


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def _fingerprint(path: Path, length: int) -> str:
    with path.open("rb") as f:
        return hashlib.blake2b(f.read(length), digest_size=16).hexdigest()


# --------------------------------------------------------------------------------------------
# Sources


class _FileSourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The file to read, relative to the flow file's folder.")
    key: list[str] = Field(
        min_length=1,
        description="The key field, or a list of key fields with the primary key first.",
    )
    entity: str = Field("record", min_length=1, description="The entity the rows are.")
    system: str | None = Field(
        None,
        description="The system name the changes carry (loop guards and the identity map use "
        "it); default: the component's connection name.",
    )
    operation_field: str | None = Field(
        None,
        description="A field saying insert, update or delete (also create/upsert/remove); it is "
        "taken out of the record. Without it, or when it is empty, a row is an update (upsert).",
    )
    occurred_at_field: str | None = Field(
        None,
        description="A field with the ISO 8601 time the change happened (naive times are UTC).",
    )

    @field_validator("key", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class CsvSourceOptions(_FileSourceOptions):
    """Options of the ``csv`` source."""

    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")
    quotechar: str = Field('"', min_length=1, max_length=1, description="Quote character.")
    encoding: str = Field("utf-8", description="Text encoding of the file (a BOM is ignored).")

    _encoding = field_validator("encoding")(_check_encoding)


class JsonlSourceOptions(_FileSourceOptions):
    """Options of the ``jsonl`` source."""


_SO = TypeVar("_SO", bound=_FileSourceOptions)


class _Position:
    """Where reading stands: byte offset and physical line count (header included)."""

    __slots__ = ("line", "offset")

    def __init__(self, offset: int, line: int) -> None:
        self.offset = offset
        self.line = line


class _FileSource(Source[_SO]):
    """What the CSV and JSONL sources share: cursors, replacement detection, Change building."""

    def __init__(self, context: ComponentContext, options: _SO) -> None:
        super().__init__(context, options)
        self._full_fingerprint: str | None = None

    @property
    def path(self) -> Path:
        """The file read, made absolute."""
        return _resolve(self.context.config_dir, self.options.path)

    @property
    def system_name(self) -> str:
        """The system the changes come from."""
        return self.options.system or self.context.connection_name

    async def check(self) -> None:
        path = self.path
        if not path.is_file():
            raise PermanentError(f"{path}: no such file")
        try:
            path.open("rb").close()
        except OSError as exc:
            raise PermanentError(f"{path}: cannot be read: {exc.strerror}") from None

    def _open(self) -> IO[bytes]:
        try:
            return self.path.open("rb")
        except FileNotFoundError:
            raise PermanentError(f"{self.path}: no such file") from None
        except OSError as exc:
            raise PermanentError(f"{self.path}: cannot be read: {exc.strerror}") from None

    def _resume_point(self, cursor: JSONValue, data_start: _Position) -> _Position:
        """Where to start: after ``cursor`` if it still describes this file, else the start."""
        if cursor is None:
            return data_start
        path = self.path
        try:
            offset = int(cursor["offset"])
            line = int(cursor["line"])
            fingerprint = str(cursor["fingerprint"])
        except (TypeError, KeyError, ValueError):
            self.context.logger.warning(
                "%s: the saved position %r is not one this source wrote; reading from the start",
                path,
                cursor,
            )
            return data_start
        size = path.stat().st_size
        if size < offset:
            self.context.logger.warning(
                "%s is shorter (%d bytes) than where the last run stopped (%d bytes): it was "
                "truncated or replaced, so it is read again from the start",
                path,
                size,
                offset,
            )
            return data_start
        if _fingerprint(path, min(offset, _FINGERPRINT_BYTES)) != fingerprint:
            self.context.logger.warning(
                "%s was replaced since the last run (its first bytes differ): it is read again "
                "from the start",
                path,
            )
            return data_start
        return _Position(offset, line)

    def _cursor(self, position: _Position) -> dict[str, Any]:
        # The fingerprint covers bytes already read, so appending to the file keeps it valid.
        if position.offset >= _FINGERPRINT_BYTES:
            if self._full_fingerprint is None:
                self._full_fingerprint = _fingerprint(self.path, _FINGERPRINT_BYTES)
            fingerprint = self._full_fingerprint
        else:
            fingerprint = _fingerprint(self.path, position.offset)
        return {"offset": position.offset, "line": position.line, "fingerprint": fingerprint}

    def _changes(
        self, records: list[dict[str, Any]], lines: Callable[[], list[int]]
    ) -> list[Change]:
        """Changes of a batch of records; ``lines()`` gives each record's line (computed only
        when a message needs it)."""
        options = self.options
        system = self.system_name
        entity = options.entity
        key_fields = options.key
        primary = key_fields[0]

        operations: list[Operation] | None = None
        if options.operation_field is not None:
            operations = self._operations(records, options.operation_field, lines)
        occurred: list[datetime | None] | None = None
        if options.occurred_at_field is not None:
            occurred = self._occurred(records, options.occurred_at_field, lines)

        update = Operation.UPDATE
        if len(key_fields) == 1:
            values = [d.get(primary, "") for d in records]
            if not set(map(type, values)) <= {str}:
                values = [_key_text(v) for v in values]
            keys = [{primary: v} for v in values]
        else:
            keys = [{k: _key_text(d.get(k)) for k in key_fields} for d in records]
            values = [k[primary] for k in keys]
        if "" in values:
            # Keep the row (a source does not reject) but say where it is: the sink rejects a
            # record without key, and its message shows the keys, so the line appears there.
            numbers = lines()
            for i, value in enumerate(values):
                if value == "":
                    keys[i]["_line"] = numbers[i]

        if operations is None and occurred is None:
            return [
                Change(system, entity, k, update, d) for k, d in zip(keys, records, strict=True)
            ]
        ops = operations if operations is not None else repeat(update)
        times: Iterable[datetime | None] = occurred if occurred is not None else repeat(None)
        return [
            Change(system, entity, k, op, d, t)
            for k, op, d, t in zip(keys, ops, records, times, strict=False)
        ]

    def _operations(
        self, records: list[dict[str, Any]], name: str, lines: Callable[[], list[int]]
    ) -> list[Operation]:
        out: list[Operation] = []
        for i, d in enumerate(records):
            raw = d.pop(name, None)
            op = _OPERATIONS.get(str(raw or "").strip().lower())
            if op is None:
                raise PermanentError(
                    f"{self.path}, line {lines()[i]}: {name} {raw!r} is not insert, update "
                    "or delete"
                )
            out.append(op)
        return out

    def _occurred(
        self, records: list[dict[str, Any]], name: str, lines: Callable[[], list[int]]
    ) -> list[datetime | None]:
        out: list[datetime | None] = []
        for i, d in enumerate(records):
            raw = d.get(name)
            if raw is None or raw == "":
                out.append(None)
                continue
            try:
                when = datetime.fromisoformat(str(raw).strip())
            except ValueError:
                raise PermanentError(
                    f"{self.path}, line {lines()[i]}: {name} {raw!r} is not an ISO 8601 time"
                ) from None
            out.append(when if when.tzinfo else when.replace(tzinfo=UTC))
        return out


def _same(value: list[int]) -> list[int]:
    return value


def _counted(first: int, count: int) -> list[int]:
    return list(range(first, first + count))


def _key_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


class CsvSource(_FileSource[CsvSourceOptions]):
    """Reads the rows of a CSV file with a header row, each row a change (an upsert by default).

    Every row becomes a change whose fields are the row (column -> text) and whose keys are the
    ``key`` columns. The cursor is the byte offset after the batch, the line reached and a
    fingerprint of the file's first kilobyte: a file that grew is read from where the last run
    stopped; one that was truncated or replaced is read again from the start (with a warning).
    Quoted values may span lines. Blank lines are skipped; extra values in a row (more than the
    header has columns) are ignored with a warning, missing ones are absent from the record.

    A row without a value for the primary key is still emitted (a source does not reject): its
    keys get ``_line`` (the row's line in the file) so that the sink's rejection names the line.
    """

    Options: ClassVar[type[BaseModel]] = CsvSourceOptions

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        options = self.options
        path = self.path
        decode: Callable[[bytes], str] = (
            bytes.decode
            if _is_utf8(options.encoding)
            else operator.methodcaller("decode", options.encoding)
        )
        self._full_fingerprint = None
        with self._open() as f:
            # csv.reader pulls one line at a time from the binary file, so f.tell() after a row
            # is the byte offset right after it, even when quoted values span lines.
            reader = csv.reader(
                map(decode, f), delimiter=options.delimiter, quotechar=options.quotechar
            )
            try:
                header = next(reader, None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise PermanentError(f"{path}, line 1: {exc}") from None
            if header is None:
                return
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            self._check_header(header)
            start = self._resume_point(cursor, _Position(f.tell(), reader.line_num))
            f.seek(start.offset)
            base_line = start.line - reader.line_num
            width = len(header)
            # One more name than columns: a row with extra values shows as a longer record.
            names = [*header, _EXTRA]
            offset = start.offset
            while True:
                before = reader.line_num
                try:
                    # Rows become dicts at once: only the dicts (untracked by the garbage
                    # collector when they hold text) live until the batch is built.
                    records = list(map(dict, map(zip, repeat(names), islice(reader, batch_size))))
                except (csv.Error, UnicodeDecodeError) as exc:
                    raise PermanentError(
                        f"{path}, line {base_line + reader.line_num + 1}: {exc}"
                    ) from None
                if not records:
                    return
                first_line = base_line + before + 1
                position = _Position(f.tell(), base_line + reader.line_num)
                if set(map(len, records)) == {width}:
                    lines = _LineNumbers([d.values() for d in records], first_line)
                else:
                    # Blank lines or rows of another width: read the batch again as rows.
                    f.seek(offset)
                    rows = list(islice(reader, len(records)))
                    lines = _LineNumbers(rows, first_line)
                    rows = self._uneven(rows, width, lines)
                    records = list(map(dict, map(zip, repeat(header), rows)))
                offset = position.offset
                if records:
                    changes = self._changes(records, lines.get)
                    yield SourceBatch(changes, self._cursor(position))

    def _check_header(self, header: list[str]) -> None:
        missing = [k for k in self.options.key if k not in header]
        if missing:
            raise PermanentError(
                f"{self.path}, line 1: no column {missing[0]!r} for the key "
                f"(columns: {', '.join(header)})"
            )
        seen: set[str] = set()
        for name in header:
            if name in seen:
                raise PermanentError(f"{self.path}, line 1: column {name!r} appears twice")
            seen.add(name)

    def _uneven(self, rows: list[list[str]], width: int, lines: _LineNumbers) -> list[list[str]]:
        """Drop blank lines; warn about rows with more values than the header has columns."""
        numbers = lines.get()
        kept: list[list[str]] = []
        kept_lines: list[int] = []
        for row, number in zip(rows, numbers, strict=True):
            if not row:
                continue
            if len(row) > width:
                self.context.logger.warning(
                    "%s, line %d: %d values for %d columns; the extra values are ignored",
                    self.path,
                    number,
                    len(row),
                    width,
                )
            kept.append(row)
            kept_lines.append(number)
        lines.numbers = kept_lines
        return kept


class _LineNumbers:
    """The first line of each row of a batch, worked out only if a message needs it."""

    __slots__ = ("first", "numbers", "rows")

    def __init__(self, rows: Sequence[Iterable[str]], first: int) -> None:
        self.rows = rows
        self.first = first
        self.numbers: list[int] | None = None

    def get(self) -> list[int]:
        if self.numbers is None:
            numbers: list[int] = []
            line = self.first
            for row in self.rows:
                numbers.append(line)
                # A row spans one line plus one per newline inside its quoted values.
                line += 1 + sum(value.count("\n") for value in row)
            self.numbers = numbers
        return self.numbers


class JsonlSource(_FileSource[JsonlSourceOptions]):
    """Reads a JSON Lines file: one JSON object per line, each a change (an upsert by default).

    Fields are the object's members; keys are the ``key`` members as text. Cursor and
    replacement detection work as for the ``csv`` source. Blank lines are skipped; a line that is
    not a JSON object stops the run with the file and line, except a last line without its
    newline that does not parse yet (a writer may be in the middle of it), which is left for the
    next run. A record without a primary key value gets ``_line`` in its keys, as for ``csv``.
    """

    Options: ClassVar[type[BaseModel]] = JsonlSourceOptions

    async def read(self, cursor: JSONValue | None, batch_size: int) -> AsyncIterator[SourceBatch]:
        self._full_fingerprint = None
        with self._open() as f:
            position = self._resume_point(cursor, _Position(0, 0))
            f.seek(position.offset)
            while True:
                lines = list(islice(f, batch_size))
                if not lines:
                    return
                first_line = position.line + 1
                offset = position.offset
                try:
                    records = list(map(orjson.loads, lines))
                    if not set(map(type, records)) <= {dict}:
                        raise ValueError
                    numbers: list[int] | None = None
                    position = _Position(f.tell(), position.line + len(lines))
                except ValueError:
                    records, numbers, position = self._careful(lines, first_line, offset)
                    if not records:
                        if position.offset == offset:
                            return  # only an unfinished last line is left
                        continue
                lines_of = (
                    partial(_counted, first_line, len(records))
                    if numbers is None
                    else partial(_same, numbers)
                )
                changes = self._changes(records, lines_of)
                yield SourceBatch(changes, self._cursor(position))
                if position.offset < f.tell():
                    return  # stopped before an unfinished last line

    def _careful(
        self, lines: list[bytes], first_line: int, offset: int
    ) -> tuple[list[dict[str, Any]], list[int], _Position]:
        """Parse line by line: skip blank lines, locate bad ones, stop before an unfinished one."""
        records: list[dict[str, Any]] = []
        numbers: list[int] = []
        line = first_line - 1
        for raw in lines:
            line += 1
            if not raw.strip():
                offset += len(raw)
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                if not raw.endswith(b"\n"):
                    return records, numbers, _Position(offset, line - 1)
                raise PermanentError(f"{self.path}, line {line}: not valid JSON: {exc}") from None
            if not isinstance(value, dict):
                raise PermanentError(
                    f"{self.path}, line {line}: expected a JSON object, found "
                    f"{type(value).__name__}"
                )
            records.append(value)
            numbers.append(line)
            offset += len(raw)
        return records, numbers, _Position(offset, line)


# --------------------------------------------------------------------------------------------
# Sinks


class _FileSinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The file to write, relative to the flow file's folder.")
    mode: Literal["replace", "append"] = Field(
        "replace",
        description="When the flow has no committed position yet (first run, or after a reset): "
        "'replace' empties the file, 'append' keeps what it holds and adds to it.",
    )
    envelope: bool = Field(
        False,
        description="Write each record's operation (and, for JSONL, its source keys) with it, "
        "as _op and _keys; needed to write deletes.",
    )
    fsync: bool = Field(
        False, description="Force every batch to disk before acknowledging it (power-loss safe)."
    )


class JsonlSinkOptions(_FileSinkOptions):
    """Options of the ``jsonl`` sink."""


class CsvSinkOptions(_FileSinkOptions):
    """Options of the ``csv`` sink."""

    columns: list[str] | None = Field(
        None,
        description="The columns, in order; default: the fields of the first batch, in the "
        "order they appear. Fields that are not columns are left out (with a warning).",
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")
    encoding: str = Field("utf-8", description="Text encoding of the file.")

    _encoding = field_validator("encoding")(_check_encoding)


_NO_DELETES = "file sink without envelope cannot express deletes"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


_dumps_line = partial(orjson.dumps, default=_json_default, option=orjson.OPT_APPEND_NEWLINE)

_KO = TypeVar("_KO", bound=_FileSinkOptions)


class _FileSink(Sink[_KO]):
    """What the CSV and JSONL sinks share: opening at the committed offset, appending, outcomes.

    The sink position is ``{"offset": size of the file after the batch}``. ``open(position)``
    cuts the file back to that offset, dropping lines of a batch that was written but never
    committed (a crash between the two), so every batch lands exactly once. The file is touched
    only by the first batch actually written, so a dry run leaves it as it is.
    """

    def __init__(self, context: ComponentContext, options: _KO) -> None:
        super().__init__(context, options)
        self._file: IO[bytes] | None = None
        self._committed: JSONValue = None
        self._offset = 0

    @property
    def path(self) -> Path:
        """The file written, made absolute."""
        return _resolve(self.context.config_dir, self.options.path)

    async def check(self) -> None:
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK):
            raise PermanentError(f"{folder}: folder is not writable")

    async def open(self, position: JSONValue) -> None:
        if position is not None:
            try:
                self._offset = int(position["offset"])
            except (TypeError, KeyError, ValueError):
                raise PermanentError(
                    f"{self.path}: the committed sink position {position!r} is not a file offset"
                ) from None
        elif self.options.mode == "replace":
            self._offset = 0
        else:
            self._offset = self._size()
        self._committed = position
        if self._file is not None:
            self._file.close()
            self._file = None

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _ensure_open(self) -> IO[bytes]:
        """Open the file for appending, cut back to the committed offset."""
        if self._file is not None:
            return self._file
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = path.open("ab")
        except OSError as exc:
            raise PermanentError(f"{path}: cannot be written: {exc.strerror}") from None
        size = f.seek(0, os.SEEK_END)
        if size > self._offset:
            f.truncate(self._offset)
        elif size < self._offset:
            self.context.logger.warning(
                "%s is shorter (%d bytes) than the committed position (%d bytes): it was "
                "truncated or replaced outside syncframe; appending to what is there",
                path,
                size,
                self._offset,
            )
            self._offset = size
        self._file = f
        try:
            self._opened()
        except BaseException:
            self._file = None
            f.close()
            raise
        return f

    def _opened(self) -> None:
        """Hook for subclasses, called once the file is open at its committed offset."""

    async def aclose(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, payload: bytes) -> None:
        f = self._ensure_open()
        try:
            f.write(payload)
            f.flush()
            if self.options.fsync:
                os.fsync(f.fileno())
        except OSError as exc:
            # Leave no half batch behind: the engine will write the whole batch again.
            with contextlib.suppress(OSError):
                f.truncate(self._offset)
            raise PermanentError(f"{self.path}: cannot be written: {exc.strerror}") from None
        self._offset += len(payload)

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        if self.options.envelope:
            writable = list(changes)
            result = BatchResult.uniform(Outcome.CREATED, len(changes))
        else:
            delete = Operation.DELETE
            writable = [c for c in changes if c.operation != delete]
            if len(writable) == len(changes):
                result = BatchResult.uniform(Outcome.CREATED, len(changes))
            else:
                outcomes = [
                    Outcome.SKIPPED if c.operation == delete else Outcome.CREATED for c in changes
                ]
                reasons = {i: _NO_DELETES for i, o in enumerate(outcomes) if o is Outcome.SKIPPED}
                result = BatchResult(outcomes, reasons)
        if not plan.dry_run and writable:
            self._ensure_open()
            self._append(self._encode(writable))
        result.position = {"offset": self._offset}
        return result

    def _encode(self, changes: list[Change]) -> bytes:
        raise NotImplementedError


class JsonlSink(_FileSink[JsonlSinkOptions]):
    """Appends each change as one JSON object per line (JSON Lines).

    A line holds the record's fields (after mapping). With ``envelope`` it also holds ``_op``
    (insert, update or delete) and ``_keys`` (the source keys), and deletes are written too;
    without it, deletes are ``skipped``. Every written change is ``created`` (a line was added).

    Exactly-once: the position is the file's size after the batch, and ``open`` cuts the file
    back to the committed size, dropping a batch written but never committed. When the flow has
    no committed position (first run, after a reset), ``mode`` says whether the file starts
    empty (``replace``, the default) or keeps its content (``append``; then a crash before the
    flow's first commit can leave that first batch's lines twice).
    """

    Options: ClassVar[type[BaseModel]] = JsonlSinkOptions

    def _encode(self, changes: list[Change]) -> bytes:
        if self.options.envelope:
            records: Iterable[dict[str, Any]] = (
                {"_op": c.operation.value, "_keys": c.keys, **c.fields} for c in changes
            )
        else:
            records = [c.fields for c in changes]
        # Each line goes to the buffer as soon as it is encoded: holding a thousand small
        # bytes objects from orjson at once is several times slower than this.
        out = io.BytesIO()
        deque(map(out.write, map(_dumps_line, records)), maxlen=0)
        return out.getvalue()


class CsvSink(_FileSink[CsvSinkOptions]):
    """Appends each change as a CSV row, under a header row written when the file is new.

    Columns are ``columns`` or the fields of the first batch; when appending to an existing
    file they are read from its header. Values are written as text (empty for none). With
    ``envelope`` the first column is ``_op`` (insert, update or delete) and deletes are written
    too; without it, deletes are ``skipped``. Exactly-once and ``mode`` work as for ``jsonl``.
    """

    Options: ClassVar[type[BaseModel]] = CsvSinkOptions

    def __init__(self, context: ComponentContext, options: CsvSinkOptions) -> None:
        super().__init__(context, options)
        self._columns: list[str] | None = None
        self._ignored: set[str] = set()

    def _opened(self) -> None:
        self._columns = None
        self._ignored = set()
        if self._offset == 0:
            return
        options = self.options
        with self.path.open("rb") as f:
            text = f.read(min(self._offset, 1 << 20)).decode(options.encoding, "replace")
        header = next(csv.reader(io.StringIO(text), delimiter=options.delimiter), None)
        if not header:
            return
        if header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        if options.envelope:
            if header[0] != "_op":
                raise PermanentError(
                    f"{self.path}, line 1: envelope is on but the first column is "
                    f"{header[0]!r}, not '_op'"
                )
            header = header[1:]
        if options.columns is not None and options.columns != header:
            raise PermanentError(
                f"{self.path}, line 1: the file's columns ({', '.join(header)}) are not the "
                f"configured columns ({', '.join(options.columns)})"
            )
        self._columns = header

    def _encode(self, changes: list[Change]) -> bytes:
        options = self.options
        records = [c.fields for c in changes]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=options.delimiter)
        columns = self._columns
        if columns is None:
            columns = options.columns or list(dict.fromkeys(chain.from_iterable(records)))
            self._columns = columns
            writer.writerow(["_op", *columns] if options.envelope else columns)
        extra = set().union(*records).difference(columns, self._ignored)
        if extra:
            self._ignored.update(extra)
            self.context.logger.warning(
                "%s has no column for field(s) %s; they are left out",
                self.path,
                ", ".join(sorted(extra)),
            )
        if options.envelope:
            writer.writerows(
                chain((c.operation.value,), map(c.fields.get, columns)) for c in changes
            )
        else:
            writer.writerows([map(d.get, columns) for d in records])
        return out.getvalue().encode(options.encoding)
