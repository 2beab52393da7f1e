"""Shared pieces of the RE connector's tests: the FTP server with a journal and faults, the
Raiser's Edge simulator, a connector flow file, and Luminate's side of the FTP exchange.

:class:`FtpSimulator` wraps the kit's real :class:`FileServer` so that the conformance suite can
use it as a simulator: every FTP command is journaled (method = the command, path = its argument,
status = the reply code) and the kit's fault rules apply per command. An injected ``error`` or
``rate_limit`` fault is answered ``421`` on the wire ("try again in N seconds" for the latter,
the wait an FTP server can ask for); the journal records it with the status the suite expects of
that fault (503, or 429), so the suite's checks read the same as for an HTTP API.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import syncframe_re_connector.plugin as connector_plugin
from raisers_edge_simulator import Address, Phone, RaisersEdgeSimulator
from syncframe_simulators import FaultInjector, RequestJournal
from syncframe_simulators.file_server import FileServer

from syncframe.clock import ManualClock
from syncframe.config import LoadedConfig, load_config
from syncframe.engine import Engine
from syncframe.host import Host
from syncframe.state import open_state
from syncframe.state.base import StateStore

__all__ = [
    "FTP_PASSWORD",
    "FTP_USER",
    "RE_PASSWORD",
    "RE_USER",
    "FtpSimulator",
    "LuminateSide",
    "add_constituent",
    "connector_host",
    "flow_file",
    "load",
    "make_engine",
    "new_re",
]

FTP_USER = "mysite_ds"
FTP_PASSWORD = "ftp-s3cret-pw"
RE_USER = "supervisor"
RE_PASSWORD = "admin"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# FTP


class _JournaledServer(FileServer):
    """The kit's file server, every command journaled and open to the kit's fault rules."""

    def __init__(self, clock: ManualClock, faults: FaultInjector, journal: RequestJournal) -> None:
        super().__init__()
        self.clock = clock
        self.faults = faults
        self.journal = journal

    def start(self) -> None:
        super().start()
        server = self._server
        assert server is not None
        owner = self

        class Handler(server.handler):  # type: ignore[name-defined,misc]
            _pending: tuple[str, str] | None = None

            def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
                path = "" if cmd == "PASS" else arg
                decided = owner.faults.decide(cmd, path, cmd)
                if decided is not None:
                    rule_id, rule = decided
                    if rule.kind == "rate_limit":
                        wait = f"{rule.retry_after:g}"
                        self.respond(f"421 Too many connections, try again in {wait} seconds.")
                        status = 429
                    else:
                        self.respond("421 Service not available, closing control connection.")
                        status = rule.status
                    owner._record(cmd, path, status, rule.kind, rule_id)
                    self.close_when_done()
                    return
                self._pending = (cmd, path)
                super().pre_process_command(line, cmd, arg)

            def respond(self, resp: str, *args: Any, **kwargs: Any) -> None:
                pending, self._pending = self._pending, None
                if pending is not None and resp[:3].isdigit():
                    owner._record(pending[0], pending[1], int(resp[:3]), None, None)
                super().respond(resp, *args, **kwargs)

        server.handler = Handler

    def _record(self, cmd: str, path: str, status: int, fault: Any, fault_id: str | None) -> None:
        self.journal.record(
            at=self.clock.now(),
            method=cmd,
            path=path,
            operation=cmd,
            status=status,
            fault=fault,
            fault_id=fault_id,
            duration_ms=0.0,
            request_bytes=0,
            response_bytes=0,
        )


class FtpSimulator:
    """The ``shortname_ds`` FTP server as the conformance suite sees a simulator."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock(START)
        self.faults = FaultInjector(0)
        self.journal = RequestJournal()
        self.server = _JournaledServer(self.clock, self.faults, self.journal)
        self.home = self.server.add_account(FTP_USER, FTP_PASSWORD)
        #: Result ids a test has used for Luminate's files so far.
        self.results = 0
        self.server.start()

    @property
    def base_url(self) -> str:
        return f"ftp://{self.server.address}"

    def transport(self) -> httpx.AsyncBaseTransport:
        """FTP components make no HTTP request: any that did would get this 599."""
        return httpx.MockTransport(lambda request: httpx.Response(599))

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "host": self.server.host,
            "port": self.server.port,
            "user": FTP_USER,
            "password": FTP_PASSWORD,
            **overrides,
        }

    def folder(self, name: str) -> Path:
        return self.home / name

    def names(self, folder: str) -> list[str]:
        return sorted(p.name for p in self.folder(folder).iterdir())

    def stop(self) -> None:
        self.server.stop()


def read_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of an exchange file, checking its line ends are the contract's ``\\r\\n``."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n"), f"the file does not end its last line with \\r\\n: {text!r}"
    return list(csv.DictReader(io.StringIO(text, newline="")))


@dataclass
class LuminateSide:
    """Luminate's data sync as the FTP exchange sees it: it takes the manifested CSVs of
    ``/upload/`` (deleting both files, as the contract says readers do) and keeps their rows."""

    ftp: FtpSimulator
    taken: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def take(self, names: Sequence[str] | None = None) -> dict[str, list[dict[str, str]]]:
        """Take the manifested CSVs (only ``names`` if given); return what was taken now."""
        upload = self.ftp.folder("upload")
        now: dict[str, list[dict[str, str]]] = {}
        for path in sorted(upload.glob("*.csv")):
            manifest = path.with_suffix(".manifest")
            if not manifest.exists() or (names is not None and path.name not in names):
                continue
            assert path.name not in self.taken, f"{path.name} was taken twice"
            rows = read_csv(path.read_bytes())
            now[path.name] = rows
            self.taken[path.name] = rows
            manifest.unlink()
            path.unlink()
        return now

    def rows(self, file: str) -> list[dict[str, str]]:
        """Every row taken so far from the ``file`` files (constituents, codetables)."""
        return [
            row
            for name, rows in sorted(self.taken.items())
            if name.endswith(f"_{file}.csv")
            for row in rows
        ]

    def put_download(self, name: str, rows: Sequence[Sequence[str]]) -> None:
        """Luminate writes a file for RE into ``/download/``: the CSV, then its manifest."""
        folder = self.ftp.folder("download")
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows(rows)
        (folder / name).write_bytes(text.getvalue().encode("utf-8"))
        (folder / name).with_suffix(".manifest").write_bytes(b"")


# --------------------------------------------------------------------------------------------
# Raiser's Edge


def new_re(clock: ManualClock | None = None) -> RaisersEdgeSimulator:
    """A fresh RE simulator on a manual clock, with the default supervisor/admin user."""
    return RaisersEdgeSimulator(clock=clock or ManualClock(START))


def add_constituent(
    re: RaisersEdgeSimulator,
    number: int,
    *,
    email: str | None = None,
    last_name: str = "Lovelace",
    codes: Sequence[str] = (),
    inactive: bool = False,
    luminate_id: str | None = None,
    advance: timedelta | None = timedelta(seconds=1),
) -> str:
    """Add a constituent (changed now, after moving the clock on); its Import ID."""
    clock = re.clock
    if advance is not None:
        assert isinstance(clock, ManualClock)
        clock.advance(advance)
    with re.lock:
        made = re.database.add_constituent(
            first_name=f"Ada{number}",
            last_name=last_name,
            luminate_id=luminate_id,
            addresses=[
                Address(type="Business", street1="1 Work St", city="Boston", preferred=False),
                Address(
                    type="Home",
                    street1=f"{number} Main St",
                    street2="Apt 2",
                    city="Springfield",
                    state="IL",
                    zip="62701",
                    country="USA",
                    preferred=True,
                ),
            ],
            phones=[
                Phone(type="Home", number="555-0100"),
                Phone(type="Email", number=email or f"ada{number}@example.org"),
                Phone(type="Business Email", number=f"work{number}@example.org"),
            ],
            constituent_codes=tuple(codes),
            inactive=inactive,
        )
    return made.import_id


# --------------------------------------------------------------------------------------------
# The connector's flow file and engine


def connector_host() -> Host:
    """A plugin host with the connector only."""
    return Host(plugins=[connector_plugin], entry_points=False)


def flow_file(
    folder: Path,
    ftp: FtpSimulator,
    re: RaisersEdgeSimulator,
    *,
    operation_file_name: str = "re_sync_v52.xml",
    constituents: Mapping[str, Any] | None = None,
    api_key: bool = False,
    ftp_port: int | None = None,
    attempts: int = 2,
    batch_size: int = 1000,
) -> Path:
    """The connector's flow file (as the docs write it) for the given servers."""
    options = "".join(f", {key} = {_toml(value)}" for key, value in (constituents or {}).items())
    port = ftp.server.port if ftp_port is None else ftp_port
    retry = f"retry = {{ attempts = {attempts}, initial_wait = 0, max_wait = 0, jitter = 0 }}"
    key = "" if not api_key else "# api_key from SYNCFRAME_RE_CONNECTOR_API_KEY\n"
    text = f"""
[state]
url = "sqlite:///state.db"

[connections.re]
system = "raisers_edge"
url = "{re.base_url}"
user = "{RE_USER}"
{retry}

[connections.luminate_ftp]
system = "luminate_ftp"
host = "{ftp.server.host}"
port = {port}
user = "{FTP_USER}"
timeout = 10
{retry}

[connections.re_connector]
system = "re_connector"
operation_file_name = "{operation_file_name}"
{key}
[flows.re_constituents]
batch_size = {batch_size}
source = {{ type = "re_constituents", connection = "re"{options} }}
sink = {{ type = "luminate_upload", connection = "luminate_ftp", file = "constituents" }}

[flows.re_code_tables]
batch_size = {batch_size}
source = {{ type = "re_code_tables", connection = "re" }}
sink = {{ type = "luminate_upload", connection = "luminate_ftp", file = "codetables" }}

[flows.luminate_to_re]
source = {{ type = "luminate_download", connection = "luminate_ftp" }}
sink = {{ type = "re_import_area", connection = "re" }}
"""
    path = folder / "flows.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


ENVIRON = {
    "SYNCFRAME_RE_PASSWORD": RE_PASSWORD,
    "SYNCFRAME_LUMINATE_FTP_PASSWORD": FTP_PASSWORD,
}


def load(path: Path, host: Host | None = None, **environ: str) -> LoadedConfig:
    """Load a connector flow file with the passwords from the test's environment."""
    return load_config(path, (host or connector_host()).registry, environ={**ENVIRON, **environ})


@contextmanager
def make_engine(
    path: Path,
    re: RaisersEdgeSimulator,
    *,
    state: StateStore | None = None,
    **environ: str,
) -> Iterator[Engine]:
    """An engine for the flow file, RE in-process, its waits not slept."""

    async def no_sleep(seconds: float) -> None:
        return None

    host = connector_host()
    config = load(path, host, **environ)
    own = state is None
    store = state or open_state(config.state_url, clock=re.clock)
    engine = Engine(
        config, host, clock=re.clock, state=store, transport=re.transport(), sleep=no_sleep
    )
    try:
        yield engine
    finally:
        if own:
            store.close()
