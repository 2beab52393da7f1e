"""The session of docs/simulators/salesforce.md works as written, against a served simulator."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from salesforce_simulator import SalesforceSimulator
from syncframe_simulators import RunningServer

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators" / "salesforce.md"


def _blocks() -> tuple[str, str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## A session") :]
    shell = re.search(r"```sh\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert shell, "the Salesforce page lost the curl lines of its session"
    assert python, "the Salesforce page lost the simple-salesforce code of its session"
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


def test_the_documented_session(
    salesforce_simulator: SalesforceSimulator,
    serve_simulator: Callable[[SalesforceSimulator], RunningServer],
) -> None:
    shell, python = _blocks()
    server = serve_simulator(salesforce_simulator)
    with httpx.Client(base_url=server.base_url, timeout=5) as admin:
        for path, body in _curl_calls(shell):
            admin.post(path, content=body).raise_for_status()
    namespace: dict[str, Any] = {}
    exec(python.replace("http://127.0.0.1:8765", server.base_url), namespace)
    assert [r["Email"] for r in namespace["records"]] == ["ann@example.org", "bo@example.org"]
    [ann] = [c for c in salesforce_simulator.snapshot()["contacts"] if c["LastName"] == "Lee"]
    # Ann was seeded at 09:00; Bo's upsert at 09:01 is in the minute not yet covered.
    assert namespace["changed"] == {
        "ids": [ann["Id"]],
        "latestDateCovered": "2026-01-01T09:01:00.000+0000",
    }
    namespace["http"].close()
