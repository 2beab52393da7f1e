"""Command-line tests: a runner, hosts, and a small file-backed plugin whose failures we control.

The ``rows`` source reads a JSON list of rows; the ``box`` sink keeps records in a JSON file,
refuses ``poison`` keys (a permanent error: the record fails) and, when ``broken``, cannot even
open (the flow fails). Both live in the test's folder, so what landed can be read back.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings
from typer.testing import CliRunner, Result

from syncframe import hookimpl
from syncframe.cli import build_app
from syncframe.components import (
    BatchResult,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    TargetLookup,
    TargetRecord,
    WritePlan,
)
from syncframe.host import Host
from syncframe.records import Change, Operation


class RowsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str


class RowsSource(Source[RowsOptions]):
    """Reads a JSON list of rows; the cursor is the index of the next row."""

    Options: ClassVar[type[BaseModel]] = RowsOptions
    entity: ClassVar[str] = "person"

    async def read(self, cursor: Any, batch_size: int) -> AsyncIterator[SourceBatch]:
        rows = json.loads((Path(self.context.config_dir) / self.options.path).read_text())
        start = cursor or 0
        for index in range(start, len(rows), batch_size):
            chunk = rows[index : index + batch_size]
            changes = [
                Change("rows", "person", {"id": r["id"]}, Operation.UPDATE, dict(r)) for r in chunk
            ]
            yield SourceBatch(changes, index + len(chunk))


class BoxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    poison: list[str] = Field(default_factory=list)
    broken: bool = False


class BoxLookup(TargetLookup):
    def __init__(self, records: dict[str, dict[str, Any]]) -> None:
        self.records = records

    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        found: dict[str, list[TargetRecord]] = {}
        for key, record in self.records.items():
            if record.get(field) in values:
                found.setdefault(record[field], []).append(TargetRecord(key, record))
        return found


class BoxSink(Sink[BoxOptions]):
    """Keeps records in a JSON file keyed by the record key."""

    Options: ClassVar[type[BaseModel]] = BoxOptions

    @property
    def file(self) -> Path:
        return Path(self.context.config_dir) / self.options.path

    def _load(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.file.read_text()) if self.file.exists() else {}

    async def open(self, position: Any) -> None:
        if self.options.broken:
            raise PermanentError(f"box {self.options.path} is locked")

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        for change in changes:
            if change.key in self.options.poison:
                raise PermanentError(f"the box refuses record {change.key}")
        records = self._load()
        result = BatchResult([])
        for i, change in enumerate(changes):
            key = (plan.targets[i] if plan.targets else None) or change.key
            before = records.get(key)
            if before == change.fields:
                result.outcomes.append(Outcome.UNCHANGED)
            else:
                result.outcomes.append(Outcome.CREATED if before is None else Outcome.UPDATED)
                records[key] = dict(change.fields)
            result.target_keys[i] = key
        if not plan.dry_run:
            self.file.write_text(json.dumps(records, indent=1, sort_keys=True))
        return result

    def lookup(self) -> TargetLookup:
        return BoxLookup(self._load())


class VaultSettings(BaseSettings):
    """A system with a secret, to check that secrets are never printed."""

    url: str = "http://127.0.0.1:9"
    token: SecretStr


class BoxPlugin:
    """The test components, registered like any plugin's."""

    __name__ = "box_test_plugin"

    @hookimpl
    def syncframe_register_systems(self, register: Any) -> None:
        register("vault", VaultSettings)

    @hookimpl
    def syncframe_register_sources(self, register: Any) -> None:
        register("rows", RowsSource)

    @hookimpl
    def syncframe_register_sinks(self, register: Any) -> None:
        register("box", BoxSink)


def people(n: int, start: int = 1, **extra: Any) -> list[dict[str, Any]]:
    """``n`` rows with ids ``start``, ``start + 1``..."""
    return [
        {"id": str(i), "name": f"Person {i}", "email": f"p{i}@example.org", **extra}
        for i in range(start, start + n)
    ]


BOX_FLOW = """\
[state]
url = "sqlite:///state.db"

[flows.people]
batch_size = 3

[flows.people.source]
type = "rows"
path = "rows.json"

[flows.people.sink]
type = "box"
path = "box.json"
"""


class Project:
    """A folder with a flow file, its rows and (after a run) its box and state store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.flow = root / "flows.toml"

    def write_flow(self, text: str = BOX_FLOW, extra: str = "") -> Path:
        self.flow.write_text(text + textwrap.dedent(extra), encoding="utf-8")
        return self.flow

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        (self.root / "rows.json").write_text(json.dumps(rows), encoding="utf-8")

    def box(self) -> dict[str, dict[str, Any]]:
        path = self.root / "box.json"
        return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project with the box flow and five people in its rows."""
    p = Project(tmp_path)
    p.write_flow()
    p.write_rows(people(5))
    return p


@pytest.fixture
def box_host() -> Host:
    """A host with the built-ins and the box test plugin (no other installed plugins)."""
    return Host(plugins=[BoxPlugin()], entry_points=False)


Invoke = Callable[..., Result]


def make_invoke(host: Host) -> Invoke:
    app = build_app(host)
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        result = runner.invoke(app, [str(a) for a in args])
        # A command must never leak an exception to the runner (that is a traceback for users).
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


@pytest.fixture
def cli(box_host: Host) -> Invoke:
    """Run ``syncframe ARGS...`` with the box host; returns typer's result."""
    return make_invoke(box_host)
