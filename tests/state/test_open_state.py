"""open_state: which URLs name which state store."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncframe.clock import ManualClock
from syncframe.state import RunRecord, SQLiteStateStore, open_state, sqlite_path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///state.db", Path("state.db")),
        ("sqlite:///data/state.db", Path("data/state.db")),
        ("sqlite:////var/lib/syncframe/state.db", Path("/var/lib/syncframe/state.db")),
        ("SQLite:///state.db", Path("state.db")),
        ("data/state.db", Path("data/state.db")),
        ("/var/lib/state.db", Path("/var/lib/state.db")),
        ("  sqlite:///state.db  ", Path("state.db")),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_path(url: str, expected: Path | str) -> None:
    assert sqlite_path(url) == expected


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sqlite_path("~/state.db") == tmp_path / "state.db"
    assert sqlite_path("sqlite:///~/state.db") == tmp_path / "state.db"


def test_relative_url_opens_a_file_below_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_state("sqlite:///nested/deeper/state.db")
    try:
        assert isinstance(store, SQLiteStateStore)
        store.reset_flow("gifts")
    finally:
        store.close()
    assert (tmp_path / "nested" / "deeper" / "state.db").is_file()


def test_absolute_url_and_plain_path_open_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    clock = ManualClock()
    first = open_state(f"sqlite:///{path}", clock=clock)  # four slashes: absolute
    try:
        first.start_run(RunRecord("run-1", "gifts", "f.toml", clock.now()))
    finally:
        first.close()
    second = open_state(str(path))
    try:
        found = second.get_run("run-1")
        assert found is not None
        assert found.flow == "gifts"
    finally:
        second.close()


def test_memory_store_needs_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_state("sqlite://:memory:")
    try:
        assert store.get_checkpoint("gifts") is None
    finally:
        store.close()
    assert list(tmp_path.iterdir()) == []


def test_other_schemes_are_refused_without_showing_credentials() -> None:
    with pytest.raises(ValueError, match=r"postgresql://") as raised:
        open_state("postgresql://sync:hunter2@db.example.org/syncframe")
    message = str(raised.value)
    assert "hunter2" not in message
    assert "sqlite:///relative/path.db" in message
    assert "sqlite:////absolute/path.db" in message
    assert "sqlite://:memory:" in message


@pytest.mark.parametrize(
    "url",
    ["sqlite://server/state.db", "sqlite://", "sqlite:///", "  ", "sqlite:///state.db?mode=ro"],
)
def test_urls_naming_no_file_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///relative/path\.db"):
        sqlite_path(url)
