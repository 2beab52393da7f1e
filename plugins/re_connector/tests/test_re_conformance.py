"""The RE components pass syncframe's conformance suite against the Raiser's Edge simulator:
``re_constituents`` and ``re_code_tables`` (sources) and ``re_import_area`` (sink)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import pytest
import syncframe_re_connector.plugin as connector_plugin
from raisers_edge_simulator import RaisersEdgeSimulator

from plugins.re_connector.tests.helpers import RE_PASSWORD, RE_USER, add_constituent, new_re
from syncframe.testing import (
    InvalidSettings,
    RejectedRecord,
    SinkConformance,
    SourceConformance,
)


class _ReConnection:
    """The RE connection settings every RE conformance class shares."""

    plugins = (connector_plugin,)
    system = "raisers_edge"
    bad_credentials_error = "HTTP 401"

    @pytest.fixture
    def simulator(self) -> RaisersEdgeSimulator:
        """A fresh RE database (supervisor/admin) on a manual clock."""
        return new_re()

    def connection_settings(self, simulator: RaisersEdgeSimulator) -> dict[str, Any]:
        return {"url": simulator.base_url, "user": RE_USER, "password": RE_PASSWORD}

    def bad_credentials(self, simulator: RaisersEdgeSimulator) -> dict[str, Any]:
        return {**self.connection_settings(simulator), "password": "not-the-password"}

    def invalid_settings(self, simulator: RaisersEdgeSimulator) -> list[InvalidSettings]:
        valid = self.connection_settings(simulator)
        return [
            InvalidSettings({**valid, "url": "re-server:8080"}, "url", "http(s) address"),
            InvalidSettings({**valid, "page_size": 501}, "page_size", "500"),
        ]


class TestConstituentSourceConformance(_ReConnection, SourceConformance):
    """re_constituents: RE's changed constituents, resumed from (date_changed, import_id)."""

    source_type = "re_constituents"

    def seed_source(self, simulator: RaisersEdgeSimulator, count: int) -> list[str]:
        start = len(simulator.database.constituents)
        return [add_constituent(simulator, start + n, advance=None) for n in range(count)]


class TestCodeTableSourceConformance(_ReConnection, SourceConformance):
    """re_code_tables: the entries of RE's Campaign, Fund and Appeal tables not yet sent."""

    source_type = "re_code_tables"

    def seed_source(self, simulator: RaisersEdgeSimulator, count: int) -> list[str]:
        keys = []
        with simulator.lock:
            for n in range(count):
                table = ("Campaign", "Fund", "Appeal")[n % 3]
                code = f"C{len(simulator.database.code_entries(table)):03d}"
                simulator.database.set_code(table, code, f"{table} {code}")
                keys.append(f"{table}:{code}")
        return keys


class TestImportAreaSinkConformance(_ReConnection, SinkConformance):
    """re_import_area: collected files into RE's import area, one per name."""

    sink_type = "re_import_area"
    sink_entity = "file"
    sink_fault_match: ClassVar[dict[str, Any]] = {"method": "PUT", "after": 1}
    spool: Path

    @pytest.fixture(autouse=True)
    def _spool(self, tmp_path: Path) -> None:
        self.spool = tmp_path / "spool"
        self.spool.mkdir()

    def _file(self, name: str) -> dict[str, Any]:
        path = self.spool / name
        body = f"CONS_ID,MEMBER_ID\r\n{name},1\r\n".encode()
        path.write_bytes(body)
        return {
            "name": name,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "spool": str(path),
        }

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        names = [f"luminate_{n + 1}_constituents.csv" for n in range(count)]
        return {name: self._file(name) for name in names}

    def landed(self, simulator: RaisersEdgeSimulator) -> list[str]:
        with simulator.lock:
            return [landed.name for landed in simulator.import_area.listed()]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "../passwords.csv",
            {"name": "../passwords.csv", "spool": str(self.spool / "x.csv")},
            "is not a file name RE's import area takes",
        )
