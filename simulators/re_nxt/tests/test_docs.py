"""The session of docs/simulators/re_nxt.md works as written, against a served simulator; and the
page documents every operation the simulator serves."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from re_nxt_simulator import ReNxtSimulator

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators" / "re_nxt.md"


def _session_blocks() -> tuple[str, str]:
    section = DOC.read_text(encoding="utf-8").split("## A session", 1)[1]
    shell = re.search(r"```sh\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert shell, "the RE NXT page lost the curl lines of its session"
    assert python, "the RE NXT page lost the Python of its session"
    return shell.group(1), python.group(1)


def _curl_calls(shell: str) -> list[tuple[str, str]]:
    """``curl -X POST localhost:8765/PATH -d BODY`` lines -> (path, body)."""
    calls = []
    for command in shell.splitlines():
        words = shlex.split(command, comments=True)
        if not words:
            continue
        assert words[:3] == ["curl", "-X", "POST"], command
        calls.append((words[3].removeprefix("localhost:8765"), words[words.index("-d") + 1]))
    return calls


def test_the_documented_session_lists_the_constituent_made_in_re(
    re_nxt_simulator: ReNxtSimulator, serve_simulator: Callable[[ReNxtSimulator], Any]
) -> None:
    shell, python = _session_blocks()
    server = serve_simulator(re_nxt_simulator)
    with httpx.Client(base_url=server.base_url, timeout=5) as admin:
        for path, body in _curl_calls(shell):
            admin.post(path, content=body).raise_for_status()
    namespace: dict[str, Any] = {}
    exec(python.replace("http://127.0.0.1:8765", server.base_url), namespace)
    namespace["sky"].close()
    changed = namespace["changed"]
    assert [(c["name"], c["email"]["address"]) for c in changed] == [("Ann Lee", "ann@example.org")]


def test_every_served_operation_is_documented(re_nxt_simulator: ReNxtSimulator) -> None:
    text = DOC.read_text(encoding="utf-8")
    for method, path, operation in re_nxt_simulator.operations():
        assert f"`{operation}`" in text, f"{operation} ({method} {path}) is not in the page"
