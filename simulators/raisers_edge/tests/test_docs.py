"""The session of docs/simulators/raisers_edge.md works as written, against a served simulator;
and the page documents every operation and admin route the simulator serves."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from raisers_edge_simulator import RaisersEdgeAdmin, RaisersEdgeSimulator

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators" / "raisers_edge.md"


def _session_blocks() -> tuple[str, str]:
    section = DOC.read_text(encoding="utf-8").split("## A session", 1)[1]
    shell = re.search(r"```sh\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert shell, "the page lost the curl lines of its session"
    assert python, "the page lost the Python of its session"
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


def test_the_documented_session_imports_a_gift_for_the_constituent_read_from_re(
    raisers_edge_simulator: RaisersEdgeSimulator,
    serve_simulator: Callable[[RaisersEdgeSimulator], Any],
) -> None:
    shell, python = _session_blocks()
    server = serve_simulator(raisers_edge_simulator)
    with httpx.Client(base_url=server.base_url, timeout=5) as admin:
        for path, body in _curl_calls(shell):
            admin.post(path, content=body).raise_for_status()
    namespace: dict[str, Any] = {}
    exec(python.replace("http://127.0.0.1:8765", server.base_url), namespace)
    namespace["re_db"].close()
    assert namespace["page"]["total"] == 1
    assert namespace["ann"]["import_id"] == "00001-079-0000001"
    assert [f["code"] for f in namespace["funds"]] == ["GENERAL"]
    assert namespace["outcome"]["created"] == 1
    [gift] = namespace["gifts"]
    assert (gift["type"], gift["amount"], gift["attributes"]) == (
        "Cash",
        "25.00",
        {"Luminate Online Gift ID": "2001001"},
    )


def test_every_operation_admin_route_and_admin_method_is_documented(
    raisers_edge_simulator: RaisersEdgeSimulator,
) -> None:
    text = DOC.read_text(encoding="utf-8")
    for method, path, operation in raisers_edge_simulator.operations():
        assert f"`{operation}`" in text, f"{operation} ({method} {path}) is not in the page"
        assert f"`{method} {path}`" in text, f"{method} {path} is not in the page"
    for route in raisers_edge_simulator.admin_routes():
        documented = getattr(route, "path", "").removeprefix("/raisers_edge")
        assert documented in text, f"admin route {documented} is not in the page"
    for name in vars(RaisersEdgeAdmin):
        if not name.startswith("_"):
            assert f"{name}(" in text, f"RaisersEdgeAdmin.{name} is not in the page"
