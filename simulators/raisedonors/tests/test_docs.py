"""docs/simulators/raisedonors.md: the example works as written, and every API operation and
admin route is documented."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from raisedonors_simulator import RaiseDonorsSimulator
from raisedonors_simulator.app import OPERATIONS
from starlette.routing import Route

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators" / "raisedonors.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _curl_calls(shell: str) -> list[tuple[str, str]]:
    """``curl -X POST localhost:8766/PATH -d BODY`` lines -> (path, body)."""
    calls = []
    for command in shell.splitlines():
        words = shlex.split(command, comments=True)
        if not words:
            continue
        assert words[:3] == ["curl", "-X", "POST"], command
        calls.append((words[3].removeprefix("localhost:8766"), words[words.index("-d") + 1]))
    return calls


def test_the_documented_session(
    raisedonors_simulator: Any, serve_simulator: Callable[[Any], Any]
) -> None:
    text = _text()
    shell = re.search(r"```sh\n(.*?)```", text, re.S)
    python = re.search(r"```python\n(.*?)```", text, re.S)
    assert shell, "the doc lost the curl lines of its example"
    assert python, "the doc lost the Python of its example"
    server = serve_simulator(raisedonors_simulator)
    with httpx.Client(base_url=server.base_url, timeout=5) as admin:
        for path, body in _curl_calls(shell.group(1)):
            admin.post(path, content=body).raise_for_status()
    namespace: dict[str, Any] = {}
    exec(python.group(1).replace("http://127.0.0.1:8766", server.base_url), namespace)
    namespace["api"].close()
    assert namespace["changes"] == [
        ("DonorPortal", "Ann Lee", {"phone": {"old": None, "new": "(512) 555-0100"}})
    ]


def test_every_operation_is_in_the_api_table() -> None:
    rows = [line for line in _text().splitlines() if line.startswith("| `")]
    for operation in OPERATIONS.values():
        assert any(f"| `{operation}` |" in row for row in rows), (
            f"docs/simulators/raisedonors.md does not document the operation {operation}"
        )


def test_every_admin_route_is_in_the_admin_table() -> None:
    rows = [line for line in _text().splitlines() if line.startswith("| `")]
    for route in RaiseDonorsSimulator().admin_routes():
        assert isinstance(route, Route)
        path = route.path.removeprefix("/raisedonors")
        for method in sorted((route.methods or set()) - {"HEAD"}):
            assert any(f"`{method} {path}" in row for row in rows), (
                f"docs/simulators/raisedonors.md does not document {method} {path}"
            )
