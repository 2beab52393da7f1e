"""Importing the files Luminate sends to RE (contract section 2, "Luminate -> connector").

A file is recognised by its header: the columns of a constituents, transactions or segments
file, in any order, compared without case and surrounding spaces. A header that names a column
none of them has, lacks one, or repeats one refuses the file whole, before any row is applied;
so does a file that is not UTF-8 text.

Then the rows are applied one by one, in file order, streamed with ``csv.reader``:

* **constituents**: matched by EXCHANGE_ID (the Import ID), else by CONS_ID (the alias
  "Luminate ID"), else created with a new Import ID and Constituent ID and the alias set. Blank
  cells leave a value unchanged; a constituent is stamped (``date_changed``) only when a value
  really changed, so importing the same file twice changes nothing the second time.
* **transactions**: matched by the gift attribute "Luminate Online Gift ID" (TRANSACTION_ID);
  a matched gift is left as it is, an unmatched one is created. A PledgePayment reduces the
  pledge named by PLEDGE_IMPORT_ID.
* **segments**: the SEGMENT is added to the constituent's constituent codes.

A row that cannot be applied is not applied at all and goes to the exceptions report with the
file, its line, the field and the reason; the rest of the file still imports.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from raisers_edge_simulator.database import RaisersEdgeDatabase
from raisers_edge_simulator.records import (
    LUMINATE_GIFT_ID,
    PRIMARY_EMAIL_TYPE,
    Address,
    Constituent,
    Gift,
    Phone,
    iso,
    money,
)

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

__all__ = [
    "CONSTITUENT_COLUMNS",
    "FIELD_LIMITS",
    "FILE_COLUMNS",
    "NOTHING_IMPORTED",
    "REASONS",
    "SEGMENT_COLUMNS",
    "TRANSACTION_COLUMNS",
    "TRANSACTION_TYPES",
    "FileKind",
    "FileRefused",
    "ImportException",
    "ImportOutcome",
    "RowOutcome",
    "import_file",
    "recognise_header",
]

FileKind = Literal["constituents", "transactions", "segments"]
RowOutcome = Literal["created", "updated", "unchanged"]

CONSTITUENT_COLUMNS: Final = (
    "CONS_ID", "MEMBER_ID", "EXCHANGE_ID", "FIRST_NAME", "MIDDLE_NAME", "LAST_NAME",
    "PRIMARY_EMAIL", "HOME_STREET1", "HOME_STREET2", "HOME_CITY", "HOME_STATEPROV", "HOME_ZIP",
    "HOME_COUNTRY", "HOME_PHONE", "ACCEPTS_EMAIL", "REASON",
)  # fmt: skip
TRANSACTION_COLUMNS: Final = (
    "TRANSACTION_ID", "TRANSACTION_TYPE", "DONOR_CONS_ID", "DONOR_EXCHANGE_ID",
    "SOLICITOR_CONS_ID", "SOLICITOR_EXCHANGE_ID", "AMOUNT", "DATE", "RE_CAMPAIGN", "RE_FUND",
    "RE_APPEAL", "PLEDGE_IMPORT_ID", "TRIBUTE_NAME",
)  # fmt: skip
SEGMENT_COLUMNS: Final = ("CONS_ID", "EXCHANGE_ID", "SEGMENT")
FILE_COLUMNS: Final[dict[FileKind, tuple[str, ...]]] = {
    "constituents": CONSTITUENT_COLUMNS,
    "transactions": TRANSACTION_COLUMNS,
    "segments": SEGMENT_COLUMNS,
}

#: The On Demand triggers a constituents row may name in REASON.
REASONS: Final = ("profile_viewed", "profile_modified", "new_registration", "group_segment")

#: Luminate's TRANSACTION_TYPE -> (RE gift type, gift subtype).
TRANSACTION_TYPES: Final[dict[str, tuple[str, str | None]]] = {
    "Donation": ("Cash", None),
    "PledgePayment": ("Pay-Cash", None),
    "RecurringGift": ("Recurring Gift Pay-Cash", None),
    "TicketPurchase": ("Cash", "Ticket Purchase"),
    "ECommercePurchase": ("Cash", "eCommerce Purchase"),
    "TeamRaiserRegistration": ("Cash", "TeamRaiser Registration"),
    "TributeDonation": ("Cash", "Tribute Donation"),
}

#: The longest value RE takes in each field (our choice; RE's own limits are not public).
FIELD_LIMITS: Final[dict[str, int]] = {
    "FIRST_NAME": 50,
    "MIDDLE_NAME": 50,
    "LAST_NAME": 100,
    "PRIMARY_EMAIL": 255,
    "HOME_STREET1": 150,
    "HOME_STREET2": 150,
    "HOME_CITY": 50,
    "HOME_STATEPROV": 50,
    "HOME_ZIP": 12,
    "HOME_COUNTRY": 50,
    "HOME_PHONE": 50,
    "SEGMENT": 60,
    "TRIBUTE_NAME": 100,
}

NOTHING_IMPORTED: Final = "Nothing was imported."

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_AMOUNT: Final = re.compile(r"\d{1,12}(?:\.\d{1,2})?")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_ACCEPTS: Final = {"TRUE": True, "Y": True, "YES": True, "1": True}
_REFUSES: Final = {"FALSE": False, "N": False, "NO": False, "0": False}
_ADDRESS_COLUMNS: Final = (
    ("HOME_STREET1", "street1"),
    ("HOME_STREET2", "street2"),
    ("HOME_CITY", "city"),
    ("HOME_STATEPROV", "state"),
    ("HOME_ZIP", "zip"),
    ("HOME_COUNTRY", "country"),
)
_NAME_COLUMNS: Final = (
    ("FIRST_NAME", "first_name"),
    ("MIDDLE_NAME", "middle_name"),
    ("LAST_NAME", "last_name"),
)
_CHUNK: Final = 1 << 20


class FileRefused(Exception):
    """The whole file is refused before any row is applied (header, encoding)."""

    def __init__(self, message: str, *, line: int = 1, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class _RowError(Exception):
    """A row that cannot be applied: the field at fault and the reason."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImportException:
    """One entry of the exceptions report: a row (or a whole file) that was not imported."""

    file: str
    line: int
    field: str | None
    reason: str

    def render(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass(slots=True)
class ImportOutcome:
    """What one import of one file did. ``refused`` holds the message when the whole file was
    refused; ``rows`` counts data rows read (blank lines are not rows)."""

    file: str
    run: int
    imported_at: datetime
    kind: FileKind | None = None
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    exceptions: list[ImportException] = field(default_factory=list)
    refused: str | None = None

    def render(self, *, with_exceptions: bool = True) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "file": self.file,
            "run": self.run,
            "imported_at": iso(self.imported_at),
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "exception_count": len(self.exceptions),
            "refused": self.refused,
        }
        if with_exceptions:
            rendered["exceptions"] = [entry.render() for entry in self.exceptions]
        return rendered


# ---- the header --------------------------------------------------------------------------------


def recognise_header(file_name: str, cells: list[str]) -> tuple[FileKind, list[str]]:
    """The kind of file a header row belongs to and its columns in file order;
    :class:`FileRefused` naming the column at fault otherwise."""
    if cells and cells[0].startswith("\ufeff"):
        cells = [cells[0][1:], *cells[1:]]
    names = [cell.strip().upper() for cell in cells]
    if not any(names):
        raise FileRefused(f"The file {file_name} has no header row. {NOTHING_IMPORTED}")
    known = {column for columns in FILE_COLUMNS.values() for column in columns}
    seen: dict[str, int] = {}
    for number, (name, cell) in enumerate(zip(names, cells, strict=True), start=1):
        if not name:
            raise FileRefused(
                f"The header of {file_name} has no column name in column {number}. "
                f"{NOTHING_IMPORTED}",
                column=cell,
            )
        if name not in known:
            raise FileRefused(
                f"Unknown column '{cell.strip()}' in column {number} of the header of "
                f"{file_name}: it is not a column of a Luminate constituents, transactions or "
                f"segments file. {NOTHING_IMPORTED}",
                column=cell.strip(),
            )
        if name in seen:
            raise FileRefused(
                f"The column '{cell.strip()}' is in the header of {file_name} twice (columns "
                f"{seen[name]} and {number}). {NOTHING_IMPORTED}",
                column=cell.strip(),
            )
        seen[name] = number
    given = set(names)
    # The kind the header is closest to: the one sharing the most columns with it.
    kind = max(FILE_COLUMNS, key=lambda k: (len(given & set(FILE_COLUMNS[k])), k == "segments"))
    expected = FILE_COLUMNS[kind]
    foreign = [name for name in names if name not in expected]
    if foreign:
        raise FileRefused(
            f"The column '{foreign[0]}' in the header of {file_name} does not belong in a "
            f"Luminate {kind} file (its columns are {','.join(expected)}). {NOTHING_IMPORTED}",
            column=foreign[0],
        )
    missing = [name for name in expected if name not in given]
    if missing:
        raise FileRefused(
            f"The header of {file_name} lacks the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} of a Luminate {kind} file. {NOTHING_IMPORTED}",
            column=missing[0],
        )
    return kind, names


def _check_utf8(path: Path, file_name: str) -> None:
    """Refuse the file unless all of it is UTF-8 (read in chunks: memory stays flat)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, exc.start)
                raise FileRefused(
                    f"The file {file_name} is not UTF-8 text: line {line} has the byte "
                    f"0x{chunk[exc.start]:02X}. Save it as UTF-8 CSV. {NOTHING_IMPORTED}",
                    line=line,
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRefused(
                f"The file {file_name} is not UTF-8 text: it ends in the middle of a character. "
                f"{NOTHING_IMPORTED}",
                line=line,
            ) from None


# ---- the rows ------------------------------------------------------------------------------------


def _rows(reader: _CsvReader) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """``(line the row starts on, cells, csv error)`` for every row after the header."""
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, None, str(exc)
        else:
            yield line, cells, None
        line = reader.line_num + 1


def _checked_length(values: dict[str, str], columns: tuple[str, ...]) -> None:
    for column in columns:
        limit = FIELD_LIMITS.get(column)
        if limit is not None and len(values[column]) > limit:
            raise _RowError(
                column, f"{column} is longer than {limit} characters ({len(values[column])})."
            )


class _Importer:
    """Applies the rows of one file to the database."""

    def __init__(self, database: RaisersEdgeDatabase) -> None:
        self.db = database
        # Built on the first RecurringGift row that names no recurring gift.
        self._recurring: dict[str, Gift] | None = None

    # -- people --

    def _person(
        self, exchange_column: str, cons_column: str, values: dict[str, str]
    ) -> Constituent:
        exchange_id, cons_id = values[exchange_column], values[cons_column]
        if exchange_id:
            found = self.db.constituents.get(exchange_id)
            if found is None:
                raise _RowError(
                    exchange_column,
                    f"No constituent has the Import ID '{exchange_id}' ({exchange_column}).",
                )
            return found
        if cons_id:
            found = self.db.by_luminate_id.get(cons_id)
            if found is None:
                raise _RowError(
                    cons_column,
                    f"No constituent has the Luminate ID '{cons_id}' ({cons_column}), and the "
                    f"row has no {exchange_column}.",
                )
            return found
        raise _RowError(exchange_column, f"The row has no {exchange_column} or {cons_column}.")

    # -- constituents --

    def constituent(self, values: dict[str, str]) -> RowOutcome:
        exchange_id, cons_id = values["EXCHANGE_ID"], values["CONS_ID"]
        reason = values["REASON"]
        if reason and reason not in REASONS:
            raise _RowError("REASON", f"REASON '{reason}' is not one of {', '.join(REASONS)}.")
        found: Constituent | None = None
        if exchange_id:
            found = self._person("EXCHANGE_ID", "CONS_ID", values)
            if cons_id:
                holder = self.db.by_luminate_id.get(cons_id)
                if holder is not None and holder is not found:
                    raise _RowError(
                        "CONS_ID",
                        f"CONS_ID '{cons_id}' is the Luminate ID of constituent "
                        f"{holder.import_id}, not of {found.import_id} (EXCHANGE_ID).",
                    )
                if found.luminate_id is not None and found.luminate_id != cons_id:
                    raise _RowError(
                        "CONS_ID",
                        f"Constituent {found.import_id} has the Luminate ID "
                        f"'{found.luminate_id}', not '{cons_id}'.",
                    )
        elif cons_id:
            found = self.db.by_luminate_id.get(cons_id)
        else:
            raise _RowError(
                "EXCHANGE_ID",
                "The row has neither an EXCHANGE_ID nor a CONS_ID, so it matches no constituent.",
            )
        _checked_length(values, CONSTITUENT_COLUMNS)
        email = values["PRIMARY_EMAIL"]
        if email and not _EMAIL.fullmatch(email):
            raise _RowError("PRIMARY_EMAIL", f"PRIMARY_EMAIL '{email}' is not an email address.")
        accepts_raw = values["ACCEPTS_EMAIL"].upper()
        accepts: bool | None = None
        if accepts_raw:
            accepts = _ACCEPTS.get(accepts_raw, _REFUSES.get(accepts_raw))
            if accepts is None:
                raise _RowError(
                    "ACCEPTS_EMAIL",
                    f"ACCEPTS_EMAIL '{values['ACCEPTS_EMAIL']}' is not TRUE or FALSE.",
                )
        if found is None:
            if not values["LAST_NAME"]:
                raise _RowError(
                    "LAST_NAME",
                    f"CONS_ID '{cons_id}' matches no constituent, and a new constituent needs "
                    "a LAST_NAME.",
                )
            made = self.db.add_constituent(luminate_id=cons_id)
            _apply_profile(made, values, accepts)
            return "created"
        changed = False
        if cons_id and found.luminate_id is None:
            # Luminate tells RE which of its records this constituent is: set the alias.
            self.db.set_luminate_id(found, cons_id)
            changed = True
        if _apply_profile(found, values, accepts) or changed:
            self.db.stamp(found)
            return "updated"
        return "unchanged"

    # -- transactions --

    def transaction(self, values: dict[str, str]) -> RowOutcome:
        transaction_id = values["TRANSACTION_ID"]
        if not transaction_id:
            raise _RowError("TRANSACTION_ID", "The row has no TRANSACTION_ID.")
        if transaction_id in self.db.gifts_by_luminate_id:
            # Each transaction is sent once; a gift already in RE is not rewritten.
            return "unchanged"
        transaction_type = values["TRANSACTION_TYPE"]
        mapped = TRANSACTION_TYPES.get(transaction_type)
        if mapped is None:
            raise _RowError(
                "TRANSACTION_TYPE",
                f"TRANSACTION_TYPE '{transaction_type}' is not one of "
                f"{', '.join(TRANSACTION_TYPES)}.",
            )
        gift_type, subtype = mapped
        donor = self._person("DONOR_EXCHANGE_ID", "DONOR_CONS_ID", values)
        solicitor: Constituent | None = None
        if values["SOLICITOR_EXCHANGE_ID"] or values["SOLICITOR_CONS_ID"]:
            solicitor = self._person("SOLICITOR_EXCHANGE_ID", "SOLICITOR_CONS_ID", values)
        raw_amount = values["AMOUNT"]
        if not _AMOUNT.fullmatch(raw_amount):
            raise _RowError("AMOUNT", f"AMOUNT '{raw_amount}' is not an amount like 25.00.")
        amount = Decimal(raw_amount)
        if amount <= 0:
            raise _RowError("AMOUNT", f"AMOUNT '{raw_amount}' must be more than 0.")
        gift_date = _parse_date(values["DATE"])
        fund = self._code("Fund", "RE_FUND", values["RE_FUND"], required=True)
        assert fund is not None  # required=True: a blank RE_FUND was refused
        campaign = self._code("Campaign", "RE_CAMPAIGN", values["RE_CAMPAIGN"], required=False)
        appeal = self._code("Appeal", "RE_APPEAL", values["RE_APPEAL"], required=False)
        _checked_length(values, ("TRIBUTE_NAME",))
        paid = self._paid_gift(transaction_type, values["PLEDGE_IMPORT_ID"], donor, amount)
        if transaction_type == "RecurringGift" and paid is None:
            paid = self._recurring_of(donor, amount, gift_date, fund, campaign, appeal)
        now = self.db.clock.now()
        self.db.insert_gift(
            Gift(
                import_id=self.db.new_gift_import_id(),
                constituent_import_id=donor.import_id,
                type=gift_type,
                amount=amount,
                date=gift_date,
                date_added=now,
                date_changed=now,
                subtype=subtype,
                campaign=campaign,
                fund=fund,
                appeal=appeal,
                attributes=((LUMINATE_GIFT_ID, transaction_id),),
                tribute_name=values["TRIBUTE_NAME"] or None,
                solicitor_import_id=solicitor.import_id if solicitor is not None else None,
                pledge_import_id=paid.import_id if paid is not None else None,
            ),
            luminate_gift_id=transaction_id,
            paid=paid,
        )
        return "created"

    def _code(self, table: str, column: str, code: str, *, required: bool) -> str | None:
        if not code:
            if required:
                raise _RowError(column, f"The row has no {column}: a gift needs a {table.lower()}.")
            return None
        entry = self.db.code_tables[table].get(code)
        if entry is None:
            raise _RowError(column, f"{column} '{code}' is not a code of the {table} table.")
        if not entry.active:
            raise _RowError(column, f"{column} '{code}' is inactive in the {table} table.")
        return entry.code

    def _paid_gift(
        self, transaction_type: str, pledge_import_id: str, donor: Constituent, amount: Decimal
    ) -> Gift | None:
        """The pledge (PledgePayment) or recurring gift (RecurringGift) the row pays."""
        if transaction_type not in ("PledgePayment", "RecurringGift"):
            if pledge_import_id:
                raise _RowError(
                    "PLEDGE_IMPORT_ID",
                    f"Only PledgePayment and RecurringGift rows name a gift they pay; this row "
                    f"is a {transaction_type}.",
                )
            return None
        wanted = "Pledge" if transaction_type == "PledgePayment" else "Recurring Gift"
        if not pledge_import_id:
            if transaction_type == "PledgePayment":
                raise _RowError(
                    "PLEDGE_IMPORT_ID",
                    "A PledgePayment row needs the PLEDGE_IMPORT_ID of the pledge it pays.",
                )
            return None
        paid = self.db.gifts.get(pledge_import_id)
        if paid is None or paid.type != wanted:
            raise _RowError(
                "PLEDGE_IMPORT_ID", f"{wanted} '{pledge_import_id}' was not found in RE."
            )
        if paid.constituent_import_id != donor.import_id:
            raise _RowError(
                "PLEDGE_IMPORT_ID",
                f"{wanted} '{pledge_import_id}' belongs to constituent "
                f"{paid.constituent_import_id}, not to the donor {donor.import_id}.",
            )
        if paid.balance is not None and amount > paid.balance:
            raise _RowError(
                "AMOUNT",
                f"The payment of {money(amount)} is more than the balance "
                f"{money(paid.balance)} of pledge '{pledge_import_id}'.",
            )
        return paid

    def _recurring_of(
        self,
        donor: Constituent,
        amount: Decimal,
        gift_date: date,
        fund: str,
        campaign: str | None,
        appeal: str | None,
    ) -> Gift:
        """The donor's newest recurring gift, or a new one for this first payment."""
        if self._recurring is None:
            self._recurring = {}
            for gift in self.db.gifts.values():
                if gift.type == "Recurring Gift":
                    self._recurring[gift.constituent_import_id] = gift
        found = self._recurring.get(donor.import_id)
        if found is None:
            found = self.db.add_gift(
                constituent_import_id=donor.import_id,
                type="Recurring Gift",
                amount=amount,
                date=gift_date,
                fund=fund,
                campaign=campaign,
                appeal=appeal,
                active_codes_only=True,
            )
            self._recurring[donor.import_id] = found
        return found

    # -- segments --

    def segment(self, values: dict[str, str]) -> RowOutcome:
        person = self._person("EXCHANGE_ID", "CONS_ID", values)
        segment = values["SEGMENT"]
        if not segment:
            raise _RowError("SEGMENT", "The row has no SEGMENT.")
        _checked_length(values, ("SEGMENT",))
        if segment in person.constituent_codes:
            return "unchanged"
        person.constituent_codes = (*person.constituent_codes, segment)
        self.db.stamp(person)
        return "updated"


def _parse_date(raw: str) -> date:
    if not _DATE.fullmatch(raw):
        raise _RowError("DATE", f"DATE '{raw}' is not a date like 2026-01-31.")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _RowError("DATE", f"DATE '{raw}' is not a date of the calendar.") from None


def _apply_profile(person: Constituent, values: dict[str, str], accepts: bool | None) -> bool:
    """Copy the row's non-blank cells onto the constituent; whether anything changed."""
    changed = False
    for column, attribute in _NAME_COLUMNS:
        value = values[column]
        if value and getattr(person, attribute) != value:
            setattr(person, attribute, value)
            changed = True
    email = values["PRIMARY_EMAIL"]
    if email:
        current = person.phone_of_type(PRIMARY_EMAIL_TYPE)
        if current is None:
            person.phones = (*person.phones, Phone(PRIMARY_EMAIL_TYPE, email))
            changed = True
        elif current.number.casefold() != email.casefold():
            current.number = email
            changed = True
    phone = values["HOME_PHONE"]
    if phone:
        current = person.phone_of_type("Home")
        if current is None:
            person.phones = (*person.phones, Phone("Home", phone))
            changed = True
        elif current.number != phone:
            current.number = phone
            changed = True
    address_values = [(attr, values[column]) for column, attr in _ADDRESS_COLUMNS if values[column]]
    if address_values:
        home = person.address_of_type("Home")
        if home is None:
            preferred = not any(address.preferred for address in person.addresses)
            home = Address("Home", preferred=preferred)
            person.addresses = (*person.addresses, home)
            changed = True
        for attribute, value in address_values:
            if getattr(home, attribute) != value:
                setattr(home, attribute, value)
                changed = True
    if accepts is not None and person.requests_no_email == accepts:
        person.requests_no_email = not accepts
        changed = True
    return changed


# ---- one file ----------------------------------------------------------------------------------


def import_file(
    database: RaisersEdgeDatabase,
    path: Path,
    *,
    file_name: str,
    run: int,
    imported_at: datetime,
) -> ImportOutcome:
    """Import the file at ``path`` (named ``file_name`` in the import area) into ``database``.

    A refused file comes back with ``refused`` set and one exception naming the cause; nothing
    of it is applied. Otherwise every row is applied or reported.
    """
    outcome = ImportOutcome(file=file_name, run=run, imported_at=imported_at)
    try:
        _check_utf8(path, file_name)
        with path.open(encoding="utf-8", newline="") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise FileRefused(
                    f"The file {file_name} is empty: it has no header row. {NOTHING_IMPORTED}"
                )
            kind, columns = recognise_header(file_name, header)
            outcome.kind = kind
            _apply_rows(database, outcome, reader, columns)
    except FileRefused as refused:
        outcome.refused = refused.message
        outcome.exceptions = [
            ImportException(file_name, refused.line, refused.column, refused.message)
        ]
    return outcome


def _apply_rows(
    database: RaisersEdgeDatabase,
    outcome: ImportOutcome,
    reader: _CsvReader,
    columns: list[str],
) -> None:
    importer = _Importer(database)
    assert outcome.kind is not None
    apply: Callable[[dict[str, str]], RowOutcome] = {
        "constituents": importer.constituent,
        "transactions": importer.transaction,
        "segments": importer.segment,
    }[outcome.kind]
    width = len(columns)
    exceptions = outcome.exceptions
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for line, cells, csv_error in _rows(reader):
        if cells is None:
            outcome.rows += 1
            exceptions.append(
                ImportException(
                    outcome.file, line, None, f"The row is not valid CSV ({csv_error})."
                )
            )
            continue
        stripped = list(map(str.strip, cells))
        if not any(stripped):
            continue  # blank lines (spreadsheets leave them at the end) are not rows
        outcome.rows += 1
        if len(stripped) != width:
            exceptions.append(
                ImportException(
                    outcome.file,
                    line,
                    None,
                    f"The row has {len(stripped)} fields but the header has {width}.",
                )
            )
            continue
        try:
            counts[apply(dict(zip(columns, stripped, strict=True)))] += 1
        except _RowError as problem:
            exceptions.append(ImportException(outcome.file, line, problem.field, problem.reason))
    outcome.created = counts["created"]
    outcome.updated = counts["updated"]
    outcome.unchanged = counts["unchanged"]
