"""Fixtures for the state store tests: a manual clock and a store in a temporary file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncframe.clock import ManualClock
from syncframe.state import SQLiteStateStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syncframe-state.db"


@pytest.fixture
def open_store(db_path: Path, clock: ManualClock) -> Iterator[Callable[[], SQLiteStateStore]]:
    """Opens the test's state file (again); every store opened is closed at the end."""
    opened: list[SQLiteStateStore] = []

    def _open() -> SQLiteStateStore:
        store = SQLiteStateStore(db_path, clock=clock)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], SQLiteStateStore]) -> SQLiteStateStore:
    return open_store()
