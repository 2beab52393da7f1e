"""The Luminate example of docs/simulators.md works as written, against a served simulator."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators.md"


def _luminate_blocks() -> tuple[str, str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Luminate Online") :]
    shell = re.search(r"```sh\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert shell, "docs/simulators.md lost the curl lines of its Luminate example"
    assert python, "docs/simulators.md lost the zeep code of its Luminate example"
    return shell.group(1), python.group(1)


def _curl_calls(shell: str) -> list[tuple[str, str]]:
    """``curl -X POST localhost:8765/PATH -d BODY`` lines -> (path, body)."""
    calls = []
    for command in shell.replace("\\\n", " ").splitlines():
        words = shlex.split(command, comments=True)
        if not words:
            continue
        assert words[:3] == ["curl", "-X", "POST"], command
        calls.append((words[3].removeprefix("localhost:8765"), words[words.index("-d") + 1]))
    return calls


def test_the_documented_session_finds_the_seeded_constituent(
    luminate_simulator: Any, serve_simulator: Callable[[Any], Any]
) -> None:
    shell, python = _luminate_blocks()
    server = serve_simulator(luminate_simulator)
    with httpx.Client(base_url=server.base_url, timeout=5) as admin:
        for path, body in _curl_calls(shell):
            admin.post(path, content=body).raise_for_status()
    namespace: dict[str, Any] = {}
    exec(python.replace("http://127.0.0.1:8765", server.base_url), namespace)
    records = namespace["records"]
    assert [(r.ConsId, r.PrimaryEmail, r.ConsName.FirstName) for r in records] == [
        (1001001, "ann@example.org", "Ann")
    ]
    namespace["client"].transport.session.close()
