"""Luminate's standard constituent data upload: a CSV applied to Constituent360.

The match cascade is the one Luminate documents (seed ``004``), row by row, in the file's order:

1. **CONS_ID** given: an Active record with that id is updated; a Removed one is rejected with
   :data:`REMOVED_MESSAGE`; no record with that id is rejected.
2. else **MEMBER_ID** given: one Active record is updated; one Removed record is rejected; several
   records are rejected (:data:`MEMBER_ID_AMBIGUOUS`); none: a record with a blank MEMBER_ID and
   the row's PRIMARY_EMAIL is updated (Removed: rejected), else a new record is created.
3. else **PRIMARY_EMAIL** given (any case): one Active record is updated; one Removed record is
   rejected; several: the one created first is updated; none: a new record is created.
4. else a row with a FIRST_NAME or LAST_NAME creates a new record; any other row is rejected.

An invalid header aborts the upload before any row is applied. Every rejected row is written to
``errors.csv``: ``LINE_NUMBER,ERROR_MESSAGE`` followed by the upload's own columns, then one line
per rejected row with the line it starts on, the reason and its cells as they were.

Where the seed is silent the choices are written down in ``docs/simulators.md`` (blank cells leave
a field unchanged, which records several matches pick, what a new record needs...).

The upload is streamed (``csv.reader`` over the file): memory grows with the directory, not with
the upload. The row loop is deliberately flat, because at a million rows every function call and
dictionary per row shows (see ``benchmarks/luminate_upload.py``).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, cast

from luminate_simulator.changelog import ChangeKind
from luminate_simulator.constituents import (
    ACCEPTS_EMAIL_VALUES,
    COLUMN_ATTRIBUTES,
    COLUMN_MAX_LENGTHS,
    EMAIL_PATTERN,
    IMPORT_COLUMNS,
    KEY_COLUMNS,
    SHARED_VALUE_COLUMNS,
    Constituent,
    ConstituentDirectory,
    email_key,
)

__all__ = [
    "ACCEPTS_EMAIL_INVALID",
    "CONS_ID_INVALID",
    "CONS_ID_NOT_FOUND",
    "EMAIL_INVALID",
    "ERRORS_HEADER",
    "MEMBER_ID_AMBIGUOUS",
    "NOTHING_IMPORTED",
    "NOTHING_TO_CREATE",
    "NOT_RECOGNISED",
    "REMOVED_MESSAGE",
    "TOO_LONG",
    "UNREADABLE_ROW",
    "USER_NAME_TAKEN",
    "WRONG_WIDTH",
    "ConstituentImport",
    "ImportReport",
    "InvalidHeader",
    "parse_header",
]

# -- the messages a user reads in errors.csv --------------------------------------------------

# Luminate's own wording (seed 004).
REMOVED_MESSAGE: Final = (
    "This record only matched records in Luminate Online that had been removed. Record rejected."
)
# The seed gives the meaning, not the wording, of these.
CONS_ID_NOT_FOUND: Final = (
    "The CONS_ID {cons_id} did not match any record in Luminate Online. Record rejected."
)
MEMBER_ID_AMBIGUOUS: Final = (
    "The MEMBER_ID '{member_id}' matched more than one record in Luminate Online. Record rejected."
)
NOTHING_TO_CREATE: Final = (
    "The MEMBER_ID '{member_id}' matched no record in Luminate Online, and a new record needs a "
    "PRIMARY_EMAIL, FIRST_NAME or LAST_NAME. Record rejected."
)
NOT_RECOGNISED: Final = (
    "The record has no CONS_ID, MEMBER_ID, PRIMARY_EMAIL, FIRST_NAME or LAST_NAME, so it can "
    "neither match nor create a record. Record rejected."
)
CONS_ID_INVALID: Final = "CONS_ID '{value}' is not a constituent ID. Record rejected."
EMAIL_INVALID: Final = "PRIMARY_EMAIL '{value}' is not a valid email address. Record rejected."
ACCEPTS_EMAIL_INVALID: Final = "ACCEPTS_EMAIL '{value}' is not TRUE or FALSE. Record rejected."
TOO_LONG: Final = "{column} is longer than {limit} characters ({length}). Record rejected."
USER_NAME_TAKEN: Final = (
    "USER_NAME '{user_name}' is already used by constituent {cons_id}. Record rejected."
)
WRONG_WIDTH: Final = "The row has {cells} fields but the header has {columns}. Record rejected."
UNREADABLE_ROW: Final = "The row is not valid CSV ({error}). Record rejected."

ERRORS_HEADER: Final = ("LINE_NUMBER", "ERROR_MESSAGE")
NOTHING_IMPORTED: Final = "Nothing was imported."

# Columns with no index of their own: copied onto the record when their cell is not blank.
_PLAIN_COLUMNS: Final = tuple(
    c for c in IMPORT_COLUMNS if c not in {*KEY_COLUMNS, "USER_NAME", "ACCEPTS_EMAIL"}
)
_REMOVED: Final = "Removed"

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader
    from _csv import Writer as _CsvWriter


class InvalidHeader(ValueError):
    """The upload's header row is not valid: the upload stops before any row is applied."""

    def __init__(self, message: str, *, column: int | None = None, name: str | None = None):
        super().__init__(message)
        self.message = message
        self.column = column  # 1-based, as a spreadsheet user counts
        self.name = name


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an upload did. ``aborted`` is the message shown instead of running, when it did not.

    ``rows`` counts the data rows read (blank lines are skipped and not counted);
    ``errors_path`` is the errors file, or None when no row was rejected.
    """

    rows: int
    created: int
    updated: int
    rejected: int
    errors_path: Path | None
    aborted: str | None = None


def parse_header(cells: list[str]) -> list[str]:
    """The upload columns named by a header row, in its order; :class:`InvalidHeader` if bad.

    Names are compared without surrounding spaces and case-insensitively. Every name must be one
    of :data:`~luminate_simulator.constituents.IMPORT_COLUMNS`, once, and the header must have at
    least one of CONS_ID, MEMBER_ID, PRIMARY_EMAIL (the fields a record is matched on).
    """
    if cells and cells[0].startswith("\ufeff"):
        cells = [cells[0][1:], *cells[1:]]
    if not any(cell.strip() for cell in cells):
        raise InvalidHeader(
            "The upload file has no header row: its first line must name the fields "
            f"(for example CONS_ID, MEMBER_ID or PRIMARY_EMAIL). {NOTHING_IMPORTED}"
        )
    columns: list[str] = []
    seen: dict[str, int] = {}
    for number, cell in enumerate(cells, start=1):
        name = cell.strip().upper()
        if not name:
            raise InvalidHeader(
                f"Invalid header: column {number} has no field name. {NOTHING_IMPORTED}",
                column=number,
                name=cell,
            )
        if name not in COLUMN_ATTRIBUTES:
            close = difflib.get_close_matches(name, IMPORT_COLUMNS, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise InvalidHeader(
                f"Invalid header '{cell}' in column {number}: it is not a Luminate constituent "
                f"field.{hint} {NOTHING_IMPORTED}",
                column=number,
                name=cell,
            )
        if name in seen:
            raise InvalidHeader(
                f"Invalid header '{cell}' in column {number}: the field is already in column "
                f"{seen[name]}. {NOTHING_IMPORTED}",
                column=number,
                name=cell,
            )
        seen[name] = number
        columns.append(name)
    if not any(key in seen for key in KEY_COLUMNS):
        raise InvalidHeader(
            "Invalid header: the upload needs at least one of CONS_ID, MEMBER_ID or "
            f"PRIMARY_EMAIL to match records on. {NOTHING_IMPORTED}"
        )
    return columns


def _compile_copier(columns: list[str]) -> Callable[[Constituent, list[str]], None]:
    """A function copying the non-blank plain cells of a row onto a record.

    Generated per header (as ``dataclasses`` and ``attrs`` generate ``__init__``) so a row costs
    one call and one attribute store per column instead of a loop over pairs with ``setattr``.
    """
    lines = ["def copy(cons, row, intern=intern):"]
    for column in _PLAIN_COLUMNS:
        if column in columns:
            index = columns.index(column)
            store = "intern(value)" if column in SHARED_VALUE_COLUMNS else "value"
            lines.append(f"    value = row[{index}]")
            lines.append(f"    if value: cons.{COLUMN_ATTRIBUTES[column]} = {store}")
    lines.append("    return None")
    namespace: dict[str, object] = {"intern": sys.intern}
    # The source is built above from fixed attribute names and integer indexes only.
    exec(compile("\n".join(lines), "<constituent-import-copier>", "exec"), namespace)
    return cast("Callable[[Constituent, list[str]], None]", namespace["copy"])


def _utf8_problem(path: Path) -> str | None:
    """Where ``path`` is not UTF-8 (line and byte), read in chunks so memory stays flat."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                # error.object is the decoder's carried-over bytes plus this chunk
                data = error.object
                line += data.count(b"\n", 0, error.start)
                return f"line {line} is not UTF-8 text (byte 0x{data[error.start]:02X})"
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return f"line {line} ends in the middle of a UTF-8 character"
    return None


class ConstituentImport:
    """Runs standard constituent uploads against one :class:`ConstituentDirectory`."""

    def __init__(self, directory: ConstituentDirectory, actor: str = "import") -> None:
        self.directory = directory
        self.actor = actor

    def run(
        self, source: str | os.PathLike[str] | IO[str], errors_path: str | os.PathLike[str]
    ) -> ImportReport:
        """Apply an upload (a CSV path, or a text stream opened with ``newline=""``).

        Writes ``errors_path`` when a row is rejected (and removes a stale one otherwise). An
        upload that cannot start (invalid header, unreadable file, not UTF-8) is reported in
        ``ImportReport.aborted`` with nothing applied.
        """
        errors_file = Path(errors_path)
        # errors.csv describes this upload or does not exist, even when the upload aborts.
        errors_file.unlink(missing_ok=True)
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            try:
                problem = _utf8_problem(path)
            except OSError as error:
                return self._aborted(f"Cannot read the upload file {path}: {error.strerror}.")
            if problem is not None:
                return self._aborted(
                    f"The upload file {path.name} is not UTF-8 text: {problem}. Save it as "
                    f"UTF-8 CSV and upload it again. {NOTHING_IMPORTED}"
                )
            with path.open(encoding="utf-8-sig", newline="") as stream:
                return self._run(stream, errors_file)
        return self._run(source, errors_file)

    @staticmethod
    def _aborted(message: str) -> ImportReport:
        return ImportReport(0, 0, 0, 0, None, message)

    def _run(self, stream: IO[str], errors_file: Path) -> ImportReport:
        reader = csv.reader(stream)
        try:
            header = next(reader, None)
            columns = parse_header(header or [])
        except InvalidHeader as error:
            return self._aborted(error.message)
        except csv.Error as error:
            return self._aborted(f"The header row is not valid CSV ({error}). {NOTHING_IMPORTED}")
        assert header is not None
        errors = _ErrorsFile(errors_file, header)
        try:
            counts = self._apply_rows(reader, columns, errors)
        finally:
            errors.close()
        rows, created, updated = counts
        return ImportReport(
            rows, created, updated, errors.rejected, errors_file if errors.rejected else None
        )

    def _apply_rows(
        self, reader: _CsvReader, columns: list[str], errors: _ErrorsFile
    ) -> tuple[int, int, int]:
        # Everything the loop touches is a local: attribute and global lookups per row add up.
        directory = self.directory
        actor = self.actor
        clock = directory.clock
        log = directory.log
        # Changes are logged in blocks of up to 256 rows stamped with one clock reading: a
        # list append per row instead of a call into the log.
        changed_ids: list[int | str] = []
        changed_kinds: list[ChangeKind] = []
        note_id = changed_ids.append
        note_kind = changed_kinds.append
        by_id = directory._by_id
        by_member = directory._by_member
        by_email = directory._by_email
        by_user_name = directory._by_user_name
        new_record = directory._new
        add_record = directory._add
        copy_cells = _compile_copier(columns)
        reject = errors.write

        def line_of(row: list[str]) -> int:
            # csv's line_num is the line a record ends on; it starts before its quoted newlines.
            line: int = reader.line_num
            return line - _newlines("".join(row))

        width = len(columns)

        def position(column: str) -> int:
            return columns.index(column) if column in columns else -1

        cons_id_at = position("CONS_ID")
        member_id_at = position("MEMBER_ID")
        email_at = position("PRIMARY_EMAIL")
        user_name_at = position("USER_NAME")
        accepts_at = position("ACCEPTS_EMAIL")
        first_name_at = position("FIRST_NAME")
        last_name_at = position("LAST_NAME")
        limits = [(columns.index(c), c, n) for c, n in COLUMN_MAX_LENGTHS.items() if c in columns]
        # Rows whose longest cell is within every limit (nearly all) skip the per-column check.
        shortest_limit = min((n for _, _, n in limits), default=1 << 30)
        accepts_values = ACCEPTS_EMAIL_VALUES
        valid_email = EMAIL_PATTERN.fullmatch

        rows = created = updated = 0
        now = clock.now()
        while True:
            try:
                for row in reader:
                    if len(row) != width:
                        if not any(row):
                            continue  # a blank line (or a row of empty cells) is not a record
                        rows += 1
                        reject(line_of(row), WRONG_WIDTH.format(cells=len(row), columns=width), row)
                        continue
                    rows += 1
                    if (rows & 255) == 0:
                        log.extend(now, changed_ids, changed_kinds, actor)
                        changed_ids.clear()
                        changed_kinds.clear()
                        now = clock.now()

                    # -- values: check every cell before anything is matched or changed --
                    if max(map(len, row)) > shortest_limit:
                        message = None
                        for index, column, limit in limits:
                            if len(row[index]) > limit:
                                message = TOO_LONG.format(
                                    column=column, limit=limit, length=len(row[index])
                                )
                                break
                        if message is not None:
                            reject(line_of(row), message, row)
                            continue
                    cons_id = row[cons_id_at].strip() if cons_id_at >= 0 else ""
                    member_id = row[member_id_at].strip() if member_id_at >= 0 else ""
                    email = row[email_at].strip() if email_at >= 0 else ""
                    accepts: bool | None = None
                    if accepts_at >= 0 and row[accepts_at]:
                        value = row[accepts_at]
                        accepts = accepts_values.get(value)
                        if accepts is None:
                            accepts = accepts_values.get(value.strip().lower())
                            if accepts is None:
                                reject(line_of(row), ACCEPTS_EMAIL_INVALID.format(value=value), row)
                                continue
                    # -- the cascade --------------------------------------------------------
                    target: Constituent | None = None
                    if cons_id:
                        if not (cons_id.isdigit() and cons_id.isascii()):
                            reject(line_of(row), CONS_ID_INVALID.format(value=cons_id), row)
                            continue
                        target = by_id.get(int(cons_id))
                        if target is None:
                            reject(line_of(row), CONS_ID_NOT_FOUND.format(cons_id=cons_id), row)
                            continue
                        if target.status == _REMOVED:
                            reject(line_of(row), REMOVED_MESSAGE, row)
                            continue
                    elif member_id:
                        found = by_member.get(member_id)
                        if found is None:
                            if email:
                                # No MEMBER_ID match: a record with a blank MEMBER_ID and this
                                # email is the one (seed 004); earliest Active one if several.
                                match = by_email.get(email.lower())
                                if match is not None:
                                    matches = match if isinstance(match, list) else [match]
                                    blank = [c for c in matches if not c.member_id]
                                    if blank:
                                        for candidate in blank:
                                            if candidate.status != _REMOVED:
                                                target = candidate
                                                break
                                        else:
                                            reject(line_of(row), REMOVED_MESSAGE, row)
                                            continue
                            elif not (
                                (first_name_at >= 0 and row[first_name_at])
                                or (last_name_at >= 0 and row[last_name_at])
                            ):
                                message = NOTHING_TO_CREATE.format(member_id=member_id)
                                reject(line_of(row), message, row)
                                continue
                        elif isinstance(found, list):
                            message = MEMBER_ID_AMBIGUOUS.format(member_id=member_id)
                            reject(line_of(row), message, row)
                            continue
                        elif found.status == _REMOVED:
                            reject(line_of(row), REMOVED_MESSAGE, row)
                            continue
                        else:
                            target = found
                    elif email:
                        found = by_email.get(email.lower())
                        if found is not None:
                            if isinstance(found, list):
                                # Several: the one created first; Removed ones are skipped.
                                for candidate in found:
                                    if candidate.status != _REMOVED:
                                        target = candidate
                                        break
                                else:
                                    reject(line_of(row), REMOVED_MESSAGE, row)
                                    continue
                            elif found.status == _REMOVED:
                                reject(line_of(row), REMOVED_MESSAGE, row)
                                continue
                            else:
                                target = found
                    elif not (
                        (first_name_at >= 0 and row[first_name_at])
                        or (last_name_at >= 0 and row[last_name_at])
                    ):
                        if any(row):
                            reject(line_of(row), NOT_RECOGNISED, row)
                        else:
                            rows -= 1  # a row of empty cells is not a record
                        continue

                    # Checked only when the address is stored: the index holds valid addresses
                    # only, so a malformed one cannot have matched, and most rows that update
                    # a record carry the address it already has.
                    if (
                        email
                        and (target is None or email != target.primary_email)
                        and valid_email(email) is None
                    ):
                        reject(line_of(row), EMAIL_INVALID.format(value=email), row)
                        continue
                    user_name = row[user_name_at] if user_name_at >= 0 else ""
                    if user_name:
                        holder = by_user_name.get(user_name.lower())
                        if holder is not None and holder is not target:
                            message = USER_NAME_TAKEN.format(
                                user_name=user_name, cons_id=holder.cons_id
                            )
                            reject(line_of(row), message, row)
                            continue

                    # -- apply ----------------------------------------------------------------
                    if target is None:
                        cons = new_record(None, now)
                        if member_id:
                            cons.member_id = member_id
                        if email:
                            cons.primary_email = email
                        if user_name:
                            cons.user_name = user_name
                        copy_cells(cons, row)
                        if accepts is not None:
                            cons.accepts_email = accepts
                        add_record(cons)
                        note_id(cons.cons_id)
                        note_kind("insert")
                        created += 1
                        continue
                    if member_id and member_id != target.member_id:
                        directory._reindex(target, {"MEMBER_ID": member_id})
                        target.member_id = member_id
                    if email and email != target.primary_email:
                        if email_key(email) != (target.primary_email or "").lower():
                            directory._reindex(target, {"PRIMARY_EMAIL": email})
                        target.primary_email = email
                    if user_name and user_name != target.user_name:
                        directory._reindex(target, {"USER_NAME": user_name})
                        target.user_name = user_name
                    copy_cells(target, row)
                    if accepts is not None:
                        target.accepts_email = accepts
                    target.modified_at = now
                    note_id(target.cons_id)
                    note_kind("update")
                    updated += 1
                break
            except csv.Error as error:
                # The reader resumes on the next line; the unreadable record goes to errors.csv.
                rows += 1
                reject(reader.line_num, UNREADABLE_ROW.format(error=error), [])
            finally:
                log.extend(now, changed_ids, changed_kinds, actor)
                changed_ids.clear()
                changed_kinds.clear()
        return rows, created, updated


def _newlines(text: str) -> int:
    """Line breaks in ``text``, counted as the reader counts lines (\\n, \\r\\n or \\r)."""
    if "\n" not in text and "\r" not in text:
        return 0
    return text.count("\n") + text.count("\r") - text.count("\r\n")


class _ErrorsFile:
    """errors.csv, opened at the first rejected row: no rejections, no file."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.rejected = 0
        self._stream: IO[str] | None = None
        self._writer: _CsvWriter | None = None

    def write(self, line: int, message: str, row: list[str]) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._stream)
            self._writer.writerow([*ERRORS_HEADER, *self.header])
        self._writer.writerow([line, message, *row])
        self.rejected += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
