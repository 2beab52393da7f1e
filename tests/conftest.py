"""Settings every test in ``tests/`` shares."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _terminal_size_is_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest-xdist the workers import pdb, whose readline exports COLUMNS=80 and LINES=24;
    # the CLI then wraps its tables at 80 columns and output assertions depend on -n.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
