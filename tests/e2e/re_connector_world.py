"""The RE connector's world for the end-to-end tests: every part on a real loopback socket.

- the site's ``shortname_ds`` account on a real FTP server (``FileServer``);
- Raiser's Edge and Luminate Online simulators served with uvicorn on threads, sharing one
  ``ManualClock`` (the data sync's schedule fires when the test moves it and asks for due runs);
- the connector machine as Luminate reaches it: ``syncframe serve`` on the example flow file
  (``examples/re_connector/flows.toml``, pointed at these simulators), a real subprocess that a
  test may kill with SIGKILL and start again on the same state.

Tests talk to the simulators through their admin APIs over HTTP, as an operator's script would.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
from luminate_simulator.app import LuminateSimulator
from raisers_edge_simulator.app import RaisersEdgeSimulator
from syncframe_simulators import RunningServer, serve_in_thread
from syncframe_simulators.file_server import FileServer

from syncframe.clock import ManualClock

REPO: Final = Path(__file__).resolve().parents[2]
EXAMPLE: Final = REPO / "examples" / "re_connector" / "flows.toml"

ACCOUNT: Final = "mysite_ds"
FTP_PASSWORD: Final = "ftp-pass-5e1f"
RE_USER: Final = "supervisor"
RE_PASSWORD: Final = "re-pass-77aa"
CONNECTOR_KEY: Final = "connector-key-c0ffee"
#: Every secret of the world: none may show in any output, file or answer.
SECRETS: Final = (FTP_PASSWORD, RE_PASSWORD, CONNECTOR_KEY)
START: Final = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CODES: Final = {
    "Campaign": [("ANNUAL", "Annual Campaign"), ("EVENTS", "Events")],
    "Fund": [("GEN", "General Fund"), ("WALK", "River Walk Fund")],
    "Appeal": [("WEB", "Web Appeal"), ("SPRING", "Spring Appeal")],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rows(data: bytes | str) -> list[dict[str, str]]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return list(csv.DictReader(io.StringIO(text, newline="")))


class ConnectorMachine:
    """``syncframe serve`` on the connector's flow file, in a subprocess on a fixed port."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.outputs: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/re-connector"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFRAME_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env["SYNCFRAME_RE_PASSWORD"] = RE_PASSWORD
        env["SYNCFRAME_LUMINATE_FTP_PASSWORD"] = FTP_PASSWORD
        env["SYNCFRAME_RE_CONNECTOR_API_KEY"] = CONNECTOR_KEY
        return env

    def start(self) -> None:
        command = [sys.executable, "-m", "syncframe", "serve", "flows.toml"]
        command += ["--port", str(self.port), "--no-schedules"]
        self.process = subprocess.Popen(
            command,
            cwd=self.folder,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.communicate()[0]
                raise AssertionError(f"syncframe serve ended at start:\n{output}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("syncframe serve did not answer /health within 30 s")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
        try:
            output = self.process.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            output = self.process.communicate()[0]
        self.outputs.append(output or "")
        self.process = None


class ConnectorWorld:
    """RE, Luminate (with the RE connector's data sync operation), FTP and the connector."""

    def __init__(self, folder: Path, **settings: bool) -> None:
        self.folder = folder
        self.clock = ManualClock(START)
        self.ftp = FileServer()
        self.ftp.add_account(ACCOUNT, FTP_PASSWORD)
        self.ftp.start()
        self.re = RaisersEdgeSimulator(clock=self.clock)
        self.luminate = LuminateSimulator(clock=self.clock)
        self.re_server: RunningServer = serve_in_thread(self.re)
        self.luminate_server: RunningServer = serve_in_thread(self.luminate)
        self.re_admin = httpx.Client(base_url=self.re_server.admin_url, timeout=30)
        self.lo_admin = httpx.Client(base_url=self.luminate_server.admin_url, timeout=120)
        self.re_api = httpx.Client(
            base_url=self.re_server.base_url, auth=(RE_USER, RE_PASSWORD), timeout=30
        )
        self.connector = ConnectorMachine(folder, free_port())
        self._write_flow_file()
        self._seed_re()
        self.operation_id = self._create_operation(settings)

    # -- set-up ------------------------------------------------------------------------------

    def _write_flow_file(self) -> None:
        text = EXAMPLE.read_text(encoding="utf-8")
        replacements = {
            'url = "http://127.0.0.1:8080"': f'url = "{self.re_server.base_url}"',
            "port = 2121": f"port = {self.ftp.port}",
            'user = "mysite_ds"': f'user = "{ACCOUNT}"',
        }
        for old, new in replacements.items():
            assert old in text, f"the example flow file no longer has {old!r}"
            text = text.replace(old, new)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "flows.toml").write_text(text, encoding="utf-8")

    def _seed_re(self) -> None:
        code_tables = {
            table: [{"code": c, "description": d} for c, d in entries]
            for table, entries in CODES.items()
        }
        self.re_post("/seed", {"users": [{"name": RE_USER, "password": RE_PASSWORD}]})
        self.re_post("/seed", {"code_tables": code_tables})

    def _create_operation(self, settings: dict[str, bool]) -> int:
        spec = {
            "name": "Raiser's Edge Connector",
            "operation_file_name": "re_sync_v52.xml",
            "schedule": {"every_minutes": 60},
            "connector_url": self.connector.url,
            "connector_key": CONNECTOR_KEY,
            "ftp": {
                "host": self.ftp.host,
                "port": self.ftp.port,
                "user": ACCOUNT,
                "password": FTP_PASSWORD,
            },
            "settings": settings,
        }
        created = self.lo_post("/luminate/data-sync/operations", spec)
        operation_id: int = created["operation_id"]
        return operation_id

    def close(self) -> None:
        self.connector.stop()
        for client in (self.re_admin, self.lo_admin, self.re_api):
            client.close()
        self.re_server.stop()
        self.luminate_server.stop()
        self.ftp.stop()

    # -- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        assert response.status_code < 300, f"{response.request.url}: {response.text}"
        return response.json()

    def re_post(self, path: str, body: Any = None) -> Any:
        return self._json(self.re_admin.post(path, json=body if body is not None else {}))

    def re_get(self, path: str, **params: Any) -> Any:
        return self._json(self.re_admin.get(path, params=params))

    def lo_post(self, path: str, body: Any = None) -> Any:
        return self._json(self.lo_admin.post(path, json=body if body is not None else {}))

    def lo_request(self, method: str, path: str, body: Any = None) -> Any:
        return self._json(self.lo_admin.request(method, path, json=body))

    def lo_get(self, path: str, **params: Any) -> Any:
        return self._json(self.lo_admin.get(path, params=params))

    def advance(self, minutes: float) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    # -- Raiser's Edge -----------------------------------------------------------------------

    def re_constituent(self, first: str, last: str, email: str | None, **more: Any) -> str:
        """A constituent added in RE (the RE user's own edit); its Import ID."""
        fields: dict[str, Any] = {"first_name": first, "last_name": last, **more}
        if email is not None:
            fields.setdefault("phones", []).append({"type": "Email", "number": email})
        made = self.re_post("/raisers_edge/constituents", fields)
        import_id: str = made["import_id"]
        return import_id

    def re_record(self, import_id: str) -> dict[str, Any]:
        record: dict[str, Any] = self.re_get(f"/raisers_edge/constituents/{import_id}")
        return record

    def re_constituents(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self._json(self.re_api.get("/re/v1/constituents", params={"offset": len(found)}))
            found += page["constituents"]
            if len(found) >= page["total"] or not page["constituents"]:
                return found

    def re_gifts(self) -> list[dict[str, Any]]:
        gifts: list[dict[str, Any]] = self._json(self.re_api.get("/re/v1/gifts"))["gifts"]
        return gifts

    def import_area(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self._json(self.re_api.get("/re/v1/import-area"))["files"]
        return files

    def import_area_file(self, name: str) -> list[dict[str, str]]:
        response = self.re_api.get(f"/re/v1/import-area/{name}")
        assert response.status_code == 200, response.text
        return rows(response.content)

    def import_everything(self) -> list[dict[str, Any]]:
        """The client imports every file waiting in RE's import area (its own step)."""
        return [
            self.re_post(f"/import-area/{f['name']}/import")
            for f in self.import_area()
            if not f["imported"]
        ]

    # -- Luminate ----------------------------------------------------------------------------

    def lo_constituents(self) -> list[dict[str, Any]]:
        """Constituent360 as the admin sees it (every record, Active and Removed)."""
        snapshot = self.lo_get("/state")
        found: list[dict[str, Any]] = snapshot["constituents"]
        return found

    def lo_by_member_id(self) -> dict[str, dict[str, Any]]:
        return {c["MEMBER_ID"]: c for c in self.lo_constituents() if c.get("MEMBER_ID")}

    def register(self, **columns: str) -> int:
        """A constituent registering on the Luminate site (a new registration)."""
        made = self.lo_post("/luminate/constituents", columns)
        cons_id: int = made["ConsId"]
        return cons_id

    def associated(self, record_type: str, record: dict[str, Any]) -> int:
        made = self.lo_post(f"/luminate/associated/{record_type}", record)
        return int(next(value for key, value in made.items() if key != "record_type"))

    def map_cross_reference(
        self, source_type: str, source_id: int, campaign: str, fund: str, appeal: str
    ) -> Any:
        return self.lo_post(
            "/luminate/data-sync/cross-references",
            {
                "source_type": source_type,
                "source_id": source_id,
                "campaign": campaign,
                "fund": fund,
                "appeal": appeal,
            },
        )

    def transaction(self, record_type: str, record: dict[str, Any]) -> int:
        made = self.lo_post(f"/luminate/transactions/{record_type}", record)
        transaction_id: int = made["TransactionId"]
        return transaction_id

    def settings(self, **settings: bool) -> Any:
        return self.lo_request(
            "PATCH",
            f"/luminate/data-sync/operations/{self.operation_id}",
            {"settings": settings},
        )

    def run_due(self) -> list[dict[str, Any]]:
        """Luminate's scheduler at the clock's now: the results of the runs that were due."""
        answer = self.lo_post("/luminate/data-sync/run-due")
        results: list[dict[str, Any]] = answer["results"] if isinstance(answer, dict) else answer
        return results

    def scheduled_cycle(self) -> dict[str, Any]:
        """Move the clock to the next scheduled run and let it fire; its Operation Result."""
        self.advance(60)
        results = self.run_due()
        assert len(results) == 1, results
        return results[0]

    def results(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.lo_get("/luminate/data-sync/results")
        return found

    def available_file(self, result: dict[str, Any], name: str) -> str:
        response = self.lo_admin.get(
            f"/luminate/data-sync/results/{result['result_id']}/files/{name}"
        )
        assert response.status_code == 200, response.text
        return response.text

    def ftp_folder(self, folder: str) -> list[str]:
        return sorted(p.name for p in (self.ftp.home(ACCOUNT) / folder).iterdir())
