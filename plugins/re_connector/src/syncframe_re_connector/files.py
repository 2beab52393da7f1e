"""The files the connector and Luminate's data sync exchange: names, columns, manifests, and the
rule that tells the standard RE connector by its Operation File Name.

Every data file is CSV (UTF-8, a header row, ``\\r\\n`` line ends, minimal quoting) and is
complete only once its empty ``.manifest`` (same base name) is on the FTP server beside it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "CODE_TABLES",
    "CODE_TABLE_COLUMNS",
    "CONSTITUENT_COLUMNS",
    "DOWNLOAD_FOLDER",
    "MANIFEST_SUFFIX",
    "STANDARD_OPERATION_FILE",
    "UPLOAD_COLUMNS",
    "UPLOAD_FOLDER",
    "OperationFileVerdict",
    "UploadFile",
    "csv_bytes",
    "csv_of",
    "judge_operation_file",
    "manifest_of",
    "upload_file_name",
]

#: Folders of the FTP account's home.
UPLOAD_FOLDER: Final = "upload"  # connector -> Luminate
DOWNLOAD_FOLDER: Final = "download"  # Luminate -> connector

MANIFEST_SUFFIX: Final = ".manifest"

#: The files the connector uploads, by the name part after ``re_{result_id}_``.
UploadFile = Literal["constituents", "codetables"]

CONSTITUENT_COLUMNS: Final = (
    "MEMBER_ID",
    "EXCHANGE_ID",
    "CONS_ID",
    "FIRST_NAME",
    "MIDDLE_NAME",
    "LAST_NAME",
    "PRIMARY_EMAIL",
    "HOME_STREET1",
    "HOME_STREET2",
    "HOME_CITY",
    "HOME_STATEPROV",
    "HOME_ZIP",
    "HOME_COUNTRY",
    "HOME_PHONE",
)
CODE_TABLE_COLUMNS: Final = ("TABLE", "CODE", "DESCRIPTION")
UPLOAD_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "constituents": CONSTITUENT_COLUMNS,
    "codetables": CODE_TABLE_COLUMNS,
}

#: RE's cross-reference code tables, in the order they are sent.
CODE_TABLES: Final = ("Campaign", "Fund", "Appeal")

#: What the standard connector's Operation File Name looks like.
STANDARD_OPERATION_FILE: Final = re.compile(r"re_sync_v(\d+)\.xml", re.IGNORECASE)


def upload_file_name(result_id: int, file: str) -> str:
    """``re_{result_id}_{file}.csv``: an upload file named after Luminate's result id."""
    return f"re_{result_id}_{file}.csv"


def manifest_of(csv_name: str) -> str:
    """The manifest that completes ``csv_name``: same base name, ``.manifest``."""
    base = csv_name[:-4] if csv_name.lower().endswith(".csv") else csv_name
    return base + MANIFEST_SUFFIX


def csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as the exchange writes them: csv defaults, ``\\r\\n``, UTF-8."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def csv_of(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A whole file: the header row, then one line per row (missing values empty)."""
    return csv_bytes([list(columns), *([_text(row.get(c)) for c in columns] for row in rows)])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class OperationFileVerdict:
    """Whether an Operation File Name is the standard RE connector's, and why not."""

    operation_file_name: str
    standard: bool
    reasons: tuple[str, ...]
    version: int | None

    def describe(self) -> str:
        """One sentence for support staff."""
        if self.standard:
            return (
                f"{self.operation_file_name} is the standard RE connector "
                f"(re_sync_vNN.xml, version {self.version})"
            )
        return f"{self.operation_file_name} is not the standard RE connector: " + "; ".join(
            self.reasons
        )


def judge_operation_file(name: str, shortname: str | None) -> OperationFileVerdict:
    """The rule of the support article: a standard connector's Operation File Name does not
    contain the site's short name and looks like ``re_sync_v52.xml``."""
    file_name = name.strip()
    reasons: list[str] = []
    if shortname and shortname.lower() in file_name.lower():
        reasons.append(
            f"it contains the site's short name {shortname!r} (a connector customised for the site)"
        )
    match = STANDARD_OPERATION_FILE.fullmatch(file_name)
    if match is None:
        found = STANDARD_OPERATION_FILE.search(file_name)
        if found is not None:
            reasons.append(
                f"it is not just {found.group(0)}: standard names are exactly re_sync_vNN.xml"
            )
        else:
            reasons.append("it does not look like re_sync_vNN.xml (e.g. re_sync_v52.xml)")
    version = int(match.group(1)) if match is not None else None
    return OperationFileVerdict(file_name, not reasons, tuple(reasons), version)
