"""Engine state between runs: checkpoints, identity map, loop-guard ledger, run history and
failed records. :func:`open_state` opens the store a flow file's ``[state] url`` names."""

from __future__ import annotations

from pathlib import Path

from syncframe.clock import Clock
from syncframe.state.base import (
    BatchCommit,
    Checkpoint,
    FailedRecord,
    Inflight,
    LedgerEntry,
    Link,
    OutcomeRow,
    RunRecord,
    StateStore,
)
from syncframe.state.migrations import SchemaVersionError, StateError
from syncframe.state.sqlite import MEMORY, AmbiguousRunIdError, SQLiteStateStore

__all__ = [
    "AmbiguousRunIdError",
    "BatchCommit",
    "Checkpoint",
    "FailedRecord",
    "Inflight",
    "LedgerEntry",
    "Link",
    "OutcomeRow",
    "RunRecord",
    "SQLiteStateStore",
    "SchemaVersionError",
    "StateError",
    "StateStore",
    "open_state",
    "sqlite_path",
]

_SUPPORTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite://:memory: "
    "or a plain file path"
)


def sqlite_path(url: str) -> Path | str:
    """The file (or :data:`~syncframe.state.sqlite.MEMORY`) a SQLite state URL or path names.

    ``sqlite:///state.db`` is the relative path ``state.db``; ``sqlite:////var/x.db`` the absolute
    ``/var/x.db``; ``sqlite://:memory:`` (also ``sqlite:///:memory:``) a private in-memory
    store; text without ``://`` a plain file path. ``~`` is expanded in both forms. Raises
    :class:`ValueError` for any other URL (the message shows only the scheme, since URLs of other
    databases may carry passwords) and for options after ``?``.
    """
    text = url.strip()
    if not text:
        raise ValueError(f"the state store URL is empty; use {_SUPPORTED}")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return Path(text).expanduser()
    if scheme.lower() != "sqlite":
        raise ValueError(
            f"state store URLs starting {scheme}:// are not supported; use {_SUPPORTED}"
        )
    if rest in (MEMORY, "/" + MEMORY):
        return MEMORY
    if not rest.startswith("/") or rest == "/":
        # sqlite://host/... names a server, which SQLite has not.
        raise ValueError(f"state store URL {text!r} names no file; use {_SUPPORTED}")
    if "?" in rest:
        raise ValueError(
            f"state store URL {text!r} has options after '?', which are not supported; "
            f"use {_SUPPORTED}"
        )
    return Path(rest[1:]).expanduser()


def open_state(url: str, *, clock: Clock | None = None) -> StateStore:
    """Open (creating it and its folder if needed) the state store ``url`` names.

    See :func:`sqlite_path` for the accepted URLs; ``clock`` stamps the times the store records.
    """
    return SQLiteStateStore(sqlite_path(url), clock=clock)
