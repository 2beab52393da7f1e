"""Fixtures shared by the documentation tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The docs' examples run on asyncio, like the command line."""
    return "asyncio"
