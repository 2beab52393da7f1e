"""RE's import area: the folder on the RE machine where files for RE land.

Files are kept on disk (a temporary folder made on first use and removed with the simulator),
because a transactions file of half a million rows should not sit in memory. A file with the
name of one already there replaces it: it is a new arrival, not imported yet. Landing a file
changes no RE data; only an import does.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from raisers_edge_simulator.database import DatabaseError, NotFound
from raisers_edge_simulator.imports import ImportOutcome
from raisers_edge_simulator.records import iso

__all__ = ["FILE_NAME", "AreaFile", "ImportArea", "check_file_name"]

#: A plain file name: no folders, no leading dot, at most 200 characters.
FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_file_name(name: str) -> str:
    """``name`` if it is a plain file name, else :class:`DatabaseError` saying why."""
    if not FILE_NAME.fullmatch(name):
        raise DatabaseError(
            f"name: {name!r} is not a plain file name (letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, at most 200 characters)"
        )
    return name


@dataclass(slots=True)
class AreaFile:
    """A file in the import area and what its latest import did (``None``: never imported)."""

    name: str
    path: Path
    size: int
    received_at: datetime
    imported: bool = False
    outcome: ImportOutcome | None = None

    def render(self) -> dict[str, Any]:
        """As ``GET /re/v1/import-area`` lists it."""
        return {
            "name": self.name,
            "size": self.size,
            "received_at": iso(self.received_at),
            "imported": self.imported,
        }


class ImportArea:
    """The files waiting in (or imported from) the import area, by name."""

    def __init__(self) -> None:
        self.files: dict[str, AreaFile] = {}
        self._root: Path | None = None
        self._cleanup: weakref.finalize[Any, Any] | None = None

    def folder(self) -> Path:
        """The folder the files are kept in (made on first use)."""
        if self._root is None:
            root = Path(tempfile.mkdtemp(prefix="re-import-area-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, root, True)
            self._root = root
        return self._root

    def incoming_path(self) -> Path:
        """Where an arriving file is written before it lands (a name no file can have)."""
        return self.folder() / f".incoming-{uuid.uuid4().hex}"

    def land(self, name: str, incoming: Path, received_at: datetime) -> AreaFile:
        """Move a fully written file into the area under ``name`` (replacing one of that name)."""
        check_file_name(name)
        target = self.folder() / name
        os.replace(incoming, target)
        landed = AreaFile(name, target, target.stat().st_size, received_at)
        self.files.pop(name, None)  # a new arrival goes to the end of the list
        self.files[name] = landed
        return landed

    def get(self, name: str) -> AreaFile:
        found = self.files.get(name)
        if found is None:
            raise NotFound(f"name: there is no file {name!r} in the import area")
        return found

    def listed(self) -> list[AreaFile]:
        """The files in the order they arrived."""
        return list(self.files.values())

    def remove(self, name: str) -> AreaFile:
        removed = self.get(name)
        del self.files[name]
        removed.path.unlink(missing_ok=True)
        return removed

    def clear(self) -> None:
        """Forget every file and remove the folder."""
        self.files.clear()
        if self._cleanup is not None:
            self._cleanup()
        self._root = None
        self._cleanup = None
