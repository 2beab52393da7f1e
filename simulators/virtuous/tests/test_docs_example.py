"""The example of docs/simulators/virtuous.md works as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators" / "virtuous.md"

pytestmark = pytest.mark.anyio


async def test_the_documented_example_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"## Using it\n\n```python\n(.*?)```", text, re.S)
    assert block, "docs/simulators/virtuous.md lost its example"
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)
    await namespace["example"]()
    assert len(namespace["received"]) == 1
