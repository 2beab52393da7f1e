"""Flow kinds: a plugin's own flow syntax, expanded into a core flow and checked like one."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from typer.testing import CliRunner

from syncframe import hookimpl
from syncframe.cli.app import build_app
from syncframe.config import ConfigError, load_config
from syncframe.engine import Engine
from syncframe.flowkinds import FlowExpansion, FlowKind, SubPath
from syncframe.host import Host
from syncframe.serve import FlowService, service_app
from syncframe.state import open_state

pytestmark = pytest.mark.anyio

_PLACES = {"read": "source", "keep": "filters", "write": "sink"}


class RelayKind(FlowKind):
    """``steps``: a read step (a source), keep steps (filters) and a write step (a sink)."""

    def expand(
        self, flow: str, table: Mapping[str, Any], document: Mapping[str, Any]
    ) -> FlowExpansion:
        core: dict[str, Any] = {"step_log": True, "filters": []}
        origins: dict[SubPath, SubPath] = {}
        labels: dict[SubPath, str] = {}
        problems: list[tuple[SubPath, str]] = []
        for i, step in enumerate(table.get("steps", [])):
            place = _PLACES.get(step.get("step"))
            if place is None:
                problems.append((("steps", i, "step"), "a step is read, keep or write"))
                continue
            component = {k: v for k, v in step.items() if k not in ("step", "name")}
            if place == "filters":
                at: SubPath = ("filters", len(core["filters"]))
                core["filters"].append(component)
            else:
                at = (place,)
                core[place] = component
            origins[at] = ("steps", i)
            labels[at] = step.get("name", step["step"])
        if "source" not in core:
            problems.append(((), "a relay flow needs a read step"))
        return FlowExpansion(core, origins, labels, problems)


class RelayPlugin:
    __name__ = "relay_plugin"

    @hookimpl
    def syncframe_register_flow_kinds(self, register: Any) -> None:
        register("relay", RelayKind())

    @hookimpl
    def syncframe_register_serve_routes(self, register: Any) -> None:
        def routes(service: FlowService) -> list[BaseRoute]:
            async def flows(request: Request) -> JSONResponse:
                return JSONResponse({"flows": service.engine.flow_names()})

            return [Route("/relay/flows", flows)]

        register("relay_api", routes, description="lists the flows")


FLOW = """\
[flows.copy]
kind = "relay"

[[flows.copy.steps]]
step = "read"
name = "new people"
type = "jsonl"
path = "in.jsonl"
key = "id"

[[flows.copy.steps]]
step = "keep"
name = "with email"
type = "field_present"
field = "email"

[[flows.copy.steps]]
step = "write"
name = "out file"
type = "jsonl"
path = "out.jsonl"
"""


def host() -> Host:
    return Host(plugins=[RelayPlugin()], entry_points=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flows.toml"
    path.write_text(textwrap.dedent(text))
    (tmp_path / "in.jsonl").write_text(
        '{"id": "1", "email": "ann@x.org"}\n{"id": "2", "email": ""}\n'
    )
    return path


async def test_a_flow_kind_runs_as_the_core_flow_it_expands_to(tmp_path: Path) -> None:
    path = write(tmp_path, FLOW)
    h = host()
    config = load_config(path, h.registry)
    flow = config.flows["copy"]
    assert (flow.kind, flow.source.path, flow.filters[0].step) == (
        "relay",
        "flows.copy.steps[0]",
        "with email",
    )
    engine = Engine(config, h)  # the flow file's own state store, which the CLI reads

    report = await engine.run_flow("copy")

    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["id"] for row in written] == ["1"]
    steps = {
        r.record: [(s["step"], s["outcome"]) for s in r.steps or []]
        for r in engine.state.run_outcomes(report.run_id)
    }
    assert steps == {
        "1": [("new people", "read"), ("with email", "passed"), ("out file", "created")],
        "2": [("new people", "read"), ("with email", "filtered")],
    }
    engine.close()
    result = CliRunner().invoke(
        build_app(h), ["runs", "show", str(path), report.run_id, "--steps", "--record", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "with email" in result.output
    assert "filtered" in result.output
    assert "out file" not in result.output


def test_problems_are_reported_at_the_operators_own_keys(tmp_path: Path) -> None:
    text = FLOW.replace('path = "out.jsonl"', 'path = "out.jsonl"\npaht = "x"').replace(
        'step = "keep"', 'step = "maybe"'
    )
    text += '\n[flows.other]\nkind = "mirror"\n'
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, host().registry)

    lines = text.splitlines()
    found = {(p.path, p.line) for p in caught.value.problems}
    assert ("flows.copy.steps[1].step", lines.index('step = "maybe"') + 1) in found
    assert ("flows.copy.steps[2].paht", lines.index('paht = "x"') + 1) in found
    messages = {p.path: p.message for p in caught.value.problems}
    assert messages["flows.other.kind"] == "unknown flow kind 'mirror'; installed flow kinds: relay"


async def test_plugins_add_routes_to_serve(tmp_path: Path) -> None:
    path = write(tmp_path, FLOW)
    h = host()
    engine = Engine(load_config(path, h.registry), h, state=open_state("sqlite://:memory:"))
    app = service_app(engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://serve"
    ) as client:
        answer = await client.get("/relay/flows")
    assert answer.json() == {"flows": ["copy"]}
    assert h.registry.serve_routes["relay_api"].description == "lists the flows"
    engine.close()
