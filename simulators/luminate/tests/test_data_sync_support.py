"""What the data sync tests share (this module holds no tests): a fake Raiser's Edge connector
machine that plays the contract's HTTP API, and a Luminate site wired to it through a real FTP
server on loopback (``syncframe_simulators.file_server.FileServer``).

The fake connector is a Starlette app called in-process through ``httpx.ASGITransport``; it
writes RE's files straight into the FTP account's home folder (the same folder the FTP server
serves) and collects Luminate's files from it, as the real one does over FTP.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio.to_thread
import httpx
from luminate_simulator.app import LuminateSimulator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from syncframe_simulators import SimulatorAdmin
from syncframe_simulators.file_server import FileServer

from syncframe.clock import ManualClock

CONNECTOR_URL: Final = "http://connector.test/re-connector"
FTP_PASSWORD: Final = "ftp-s3cret"
CONNECTOR_KEY: Final = "connector-key-1"

#: The columns of the connector's constituents file (contract section 2).
RE_CONSTITUENT_COLUMNS: Final = (
    "MEMBER_ID",
    "EXCHANGE_ID",
    "CONS_ID",
    "FIRST_NAME",
    "MIDDLE_NAME",
    "LAST_NAME",
    "PRIMARY_EMAIL",
    "HOME_STREET1",
    "HOME_STREET2",
    "HOME_CITY",
    "HOME_STATEPROV",
    "HOME_ZIP",
    "HOME_COUNTRY",
    "HOME_PHONE",
)
#: RE's code tables the fake connector sends unless a test says otherwise.
RE_CODE_TABLES: Final = (
    ("Campaign", "ANNUAL", "Annual Campaign"),
    ("Campaign", "EVENTS", "Events"),
    ("Fund", "GEN", "General Fund"),
    ("Fund", "WALK", "River Walk Fund"),
    ("Appeal", "WEB", "Web Appeal"),
    ("Appeal", "SPRING", "Spring Appeal"),
)

_accounts = itertools.count(1)


def csv_text(header: tuple[str, ...] | list[str], rows: list[dict[str, str]]) -> str:
    """A CSV as the contract writes it: header, ``\\r\\n`` line ends, minimal quoting."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue()


def read_rows(data: bytes | str) -> list[dict[str, str]]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return list(csv.DictReader(io.StringIO(text, newline="")))


class ConnectorDied(httpx.RemoteProtocolError):
    """What the client sees when the connector machine dies in the middle of a call."""


class FakeConnector:
    """The connector machine's API (``/upload``, ``/download``) with RE's data set by the test.

    ``re_constituents`` are the RE rows the next upload call sends (then emptied);
    ``failure``: the RE query fails (no files, this problem); ``dies_in``: the machine dies
    during that call ("upload": after writing its files; "download": before collecting).
    """

    def __init__(self, home: Path, key: str | None = None) -> None:
        self.home = home
        self.key = key
        self.re_constituents: list[dict[str, str]] = []
        self.code_tables: list[tuple[str, str, str]] = list(RE_CODE_TABLES)
        self.failure: str | None = None
        self.dies_in: str | None = None
        #: Files of the next upload call ("constituents", "codetables") written without manifest.
        self.without_manifest: set[str] = set()
        self.calls: list[tuple[str, dict[str, Any], str | None]] = []
        #: RE's import area: what the download calls collected, by file name.
        self.collected: dict[str, bytes] = {}
        self._own_manifests: set[str] = set()
        self.app = Starlette(
            routes=[
                Route("/re-connector/upload", self._upload, methods=["POST"]),
                Route("/re-connector/download", self._download, methods=["POST"]),
            ]
        )

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def rows(self, name: str) -> list[dict[str, str]]:
        """The rows of a file RE received."""
        return read_rows(self.collected[name])

    def _refused(self, request: Request) -> Response | None:
        given = request.headers.get("authorization")
        if self.key is not None and given != f"Bearer {self.key}":
            return JSONResponse({"error": "invalid connector key"}, status_code=401)
        return None

    async def _upload(self, request: Request) -> Response:
        body = await request.json()
        self.calls.append(("upload", body, request.headers.get("authorization")))
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self.failure is not None:
            return JSONResponse({"files": [], "problems": [self.failure]})
        answer = await anyio.to_thread.run_sync(self._write_uploads, int(body["result_id"]))
        if self.dies_in == "upload":
            raise ConnectorDied("Server disconnected without sending a response.")
        return JSONResponse(answer)

    def _write_uploads(self, result_id: int) -> dict[str, list[str]]:
        folder = self.home / "upload"
        problems = [
            f"Manifest placed by hand on the FTP server: upload/{path.name} (not generated by "
            "the connector); remove it"
            for path in sorted(folder.glob("*.manifest"))
            if path.name not in self._own_manifests
        ]
        constituents = f"re_{result_id}_constituents.csv"
        code_tables = f"re_{result_id}_codetables.csv"
        (folder / constituents).write_text(
            csv_text(RE_CONSTITUENT_COLUMNS, self.re_constituents), encoding="utf-8", newline=""
        )
        (folder / code_tables).write_text(
            csv_text(
                ("TABLE", "CODE", "DESCRIPTION"),
                [{"TABLE": t, "CODE": c, "DESCRIPTION": d} for t, c, d in self.code_tables],
            ),
            encoding="utf-8",
            newline="",
        )
        for kind, name in (("constituents", constituents), ("codetables", code_tables)):
            if kind in self.without_manifest:
                continue
            manifest = name.removesuffix(".csv") + ".manifest"
            (folder / manifest).write_bytes(b"")
            self._own_manifests.add(manifest)
        self.re_constituents = []
        return {"files": [constituents, code_tables], "problems": problems}

    async def _download(self, request: Request) -> Response:
        body = await request.json()
        self.calls.append(("download", body, request.headers.get("authorization")))
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self.dies_in == "download":
            raise ConnectorDied("Server disconnected without sending a response.")
        collected = await anyio.to_thread.run_sync(self._collect)
        return JSONResponse({"collected": collected, "problems": []})

    def _collect(self) -> list[str]:
        folder = self.home / "download"
        collected: list[str] = []
        for path in sorted(folder.glob("*.csv")):
            manifest = path.with_suffix(".manifest")
            if not manifest.exists():
                continue
            self.collected[path.name] = path.read_bytes()
            path.unlink()
            manifest.unlink()
            collected.append(path.name)
        return collected


@dataclass
class SyncSite:
    """A Luminate site with the RE connector's data sync, its FTP account and connector."""

    sim: LuminateSimulator
    clock: ManualClock
    ftp: FileServer
    user: str
    connector: FakeConnector
    admin: SimulatorAdmin
    operation_id: int | None = None
    created: list[int] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.ftp.home(self.user)

    def operation_spec(self, **settings: bool) -> dict[str, Any]:
        return {
            "name": "RE Connector",
            "operation_file_name": "re_sync_v52.xml",
            "schedule": {"every_minutes": 60},
            "connector_url": CONNECTOR_URL,
            "ftp": {
                "host": self.ftp.host,
                "port": self.ftp.port,
                "user": self.user,
                "password": FTP_PASSWORD,
            },
            "settings": settings,
        }

    async def create_operation(self, **settings: bool) -> dict[str, Any]:
        created: dict[str, Any] = await self.admin.post(
            "/luminate/data-sync/operations", self.operation_spec(**settings)
        )
        self.operation_id = created["operation_id"]
        return created

    async def settings(self, **settings: bool) -> dict[str, Any]:
        response = await self.admin.request(
            "PATCH",
            f"/luminate/data-sync/operations/{self.operation_id}",
            json={"settings": settings},
        )
        answer: dict[str, Any] = response.json()
        return answer

    async def run(self) -> dict[str, Any]:
        """Run now; the Operation Result."""
        result: dict[str, Any] = await self.admin.post(
            f"/luminate/data-sync/operations/{self.operation_id}/run", {}
        )
        return result

    async def constituent(self, **columns: str) -> int:
        """A constituent seeded as existing data (not a registration)."""
        seeded = await self.admin.seed({"constituents": [columns]})
        cons_id: int = seeded["constituents"][0]
        return cons_id

    async def transaction(self, record_type: str, record: dict[str, Any]) -> int:
        made = await self.admin.post(f"/luminate/transactions/{record_type}", record)
        transaction_id: int = made["TransactionId"]
        return transaction_id

    async def associated(self, record_type: str, record: dict[str, Any]) -> int:
        made = await self.admin.post(f"/luminate/associated/{record_type}", record)
        return int(next(value for key, value in made.items() if key != "record_type"))

    async def file(self, result: dict[str, Any], name: str) -> str:
        """An Available File of a result, downloaded as the admin does."""
        client = self.sim.client()
        response = await client.get(
            f"/_admin/luminate/data-sync/results/{result['result_id']}/files/{name}"
        )
        assert response.status_code == 200, response.text
        return response.text

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = self.sim.snapshot()["data_sync"]
        return data

    def ftp_files(self, folder: str) -> list[str]:
        return sorted(path.name for path in (self.home / folder).iterdir())


@asynccontextmanager
async def open_site(
    ftp: FileServer, clock: ManualClock, key: str | None = None
) -> AsyncIterator[SyncSite]:
    """A fresh simulator on ``clock`` with its own FTP account on ``ftp`` and a fake connector."""
    user = f"site{next(_accounts)}_ds"
    home = ftp.add_account(user, FTP_PASSWORD)
    connector = FakeConnector(home, key)
    sim = LuminateSimulator(clock=clock)
    sim.data_sync.http_transport = connector.transport()
    try:
        yield SyncSite(sim, clock, ftp, user, connector, sim.admin())
    finally:
        await sim.aclose()
        sim.reset()


def names(result: dict[str, Any]) -> list[str]:
    """The Available Files of a result, by name."""
    return [f["name"] for f in result["available_files"]]
