"""Fixtures for the end-to-end tests: a work folder with memory stores and flow files, and ways
to run the ``syncframe`` command line on it, in a subprocess or in this process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.host import Host, HostSettings
from syncframe.state import open_state
from syncframe.state.base import Checkpoint, RunRecord, StateStore
from tests.e2e import memory_plugin
from tests.e2e.memory_plugin import KILL_ENV, MemoryStore, write_control

REPO = Path(__file__).resolve().parents[2]
FLOWS = Path(__file__).resolve().parent / "flows"

#: The api token the test connections use; it must never show in any output.
TOKEN = "e2e-token-9f8e7d6c5b4a"
PLUGIN_MODULE = "tests.e2e.memory_plugin"


@dataclass
class Result:
    """How a command ended: exit code and what it printed."""

    code: int
    stdout: str
    stderr: str
    args: Sequence[str] = ()

    @property
    def output(self) -> str:
        """Standard output and standard error together."""
        return self.stdout + self.stderr

    def check(self, code: int = 0) -> Result:
        """Assert the exit code, showing everything printed when it differs."""
        assert self.code == code, str(self)
        return self

    def __str__(self) -> str:
        return (
            f"syncframe {' '.join(self.args)} -> exit {self.code}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


@dataclass
class Workspace:
    """A folder holding flow files, the memory stores they name, and the state store."""

    dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def crm(self) -> MemoryStore:
        """The source-side store (connection ``crm``)."""
        return MemoryStore(self.dir / "crm.db")

    @property
    def warehouse(self) -> MemoryStore:
        """The target-side store (connection ``warehouse``)."""
        return MemoryStore(self.dir / "warehouse.db")

    def flow(self, name: str, target: str | None = None) -> Path:
        """Copy the flow file ``tests/e2e/flows/<name>`` here; return its path."""
        path = self.dir / (target or name)
        shutil.copyfile(FLOWS / name, path)
        return path

    def control(self, connection: str = "warehouse", **knobs: Any) -> None:
        """Set the test knobs of a connection (its ``control`` file)."""
        write_control(self.dir / f"{connection}-control.json", **knobs)

    def state(self) -> StateStore:
        """The state store the flow files name (close it after use)."""
        return open_state(f"sqlite:///{self.dir / 'state.db'}")

    def checkpoint(self, flow: str) -> Checkpoint | None:
        """The committed checkpoint of ``flow``."""
        store = self.state()
        try:
            return store.get_checkpoint(flow)
        finally:
            store.close()

    def runs(self, flow: str | None = None) -> list[RunRecord]:
        """The recorded runs, newest first."""
        store = self.state()
        try:
            return store.list_runs(flow, limit=1000)
        finally:
            store.close()

    # ---- running the command line ----------------------------------------------------------
    def subprocess_env(self, kill_at: str | None = None) -> dict[str, str]:
        """The environment of a ``python -m syncframe`` subprocess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCFRAME_", "MEMORY_"))}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env["SYNCFRAME_PLUGINS_EXTRA"] = PLUGIN_MODULE
        env.pop("COLUMNS", None)
        env.update(self.env)
        if kill_at:
            env[KILL_ENV] = kill_at
        return env

    def start(self, *args: str, kill_at: str | None = None) -> subprocess.Popen[str]:
        """Start ``python -m syncframe ARGS`` in the background."""
        return subprocess.Popen(
            [sys.executable, "-m", "syncframe", *args],
            cwd=self.dir,
            env=self.subprocess_env(kill_at),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def cli(self, *args: str, timeout: float = 120) -> Result:
        """Run ``python -m syncframe ARGS`` to its end."""
        done = subprocess.run(
            [sys.executable, "-m", "syncframe", *args],
            cwd=self.dir,
            env=self.subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr, args)

    def cli_in_process(self, *args: str) -> Result:
        """Run the command line in this process (``CliRunner``), with the plugin given to the
        host directly."""
        host = Host(
            plugins=[memory_plugin],
            settings=HostSettings(plugins_extra=[], load_entrypoints=False),
            entry_points=False,
        )
        runner = CliRunner()
        old = Path.cwd()
        os.chdir(self.dir)
        try:
            result = runner.invoke(
                build_app(host), list(args), env=self.env, catch_exceptions=False
            )
        finally:
            os.chdir(old)
        return Result(result.exit_code, result.stdout, result.stderr, args)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A work folder with the api tokens of both connections in the environment."""
    workspace = Workspace(
        tmp_path,
        env={"SYNCFRAME_CRM_API_TOKEN": TOKEN, "SYNCFRAME_WAREHOUSE_API_TOKEN": TOKEN},
    )
    workspace.crm.set_meta("api_token", TOKEN)
    workspace.warehouse.set_meta("api_token", TOKEN)
    return workspace


@pytest.fixture(params=["subprocess", "in_process"])
def run_cli(request: pytest.FixtureRequest, ws: Workspace) -> Any:
    """Runs the command line one way or the other (the test runs once each way)."""
    return ws.cli if request.param == "subprocess" else ws.cli_in_process


def contacts(n: int, start: int = 1, **extra: Any) -> list[dict[str, Any]]:
    """``n`` CRM contacts with ids ``start``, ``start + 1``..."""
    return [
        {
            "id": str(i),
            "first": f"Ada{i}",
            "last": f"Lovelace{i}",
            "email": f" Ada{i}@Example.org",
            "status": "active",
            **extra,
        }
        for i in range(start, start + n)
    ]


def as_person(contact: dict[str, Any]) -> dict[str, Any]:
    """What the basic flow's mapping makes of a CRM contact in the warehouse."""
    return {
        "id": contact["id"],
        "full_name": f"{contact['first']} {contact['last']}",
        "email": contact["email"].strip().lower(),
        "status": contact["status"],
    }
