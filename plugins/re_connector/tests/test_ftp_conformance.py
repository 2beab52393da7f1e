"""The FTP components pass syncframe's conformance suite against a real FTP server on loopback
(the kit's FileServer, journaled, with the kit's fault rules): ``luminate_upload`` (sink) and
``luminate_download`` (source)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest
import syncframe_re_connector.plugin as connector_plugin
import yaml
from syncframe_re_connector.cycles import ConnectorCycles
from syncframe_re_connector.setup import ConnectorSetup

from plugins.re_connector.tests.helpers import FtpSimulator, LuminateSide
from syncframe.config import load_config
from syncframe.engine import Engine
from syncframe.testing import (
    ConformanceHarness,
    InvalidSettings,
    RejectedRecord,
    SinkConformance,
    SourceConformance,
)


class _FtpConnection:
    """The luminate_ftp connection settings the FTP conformance classes share."""

    plugins = (connector_plugin,)
    system = "luminate_ftp"
    bad_credentials_error = "refused the login of mysite_ds: 530"

    @pytest.fixture
    def simulator(self) -> Iterator[FtpSimulator]:
        """A real FTP server on loopback with the mysite_ds account."""
        ftp = FtpSimulator()
        try:
            yield ftp
        finally:
            ftp.stop()

    def connection_settings(self, simulator: FtpSimulator) -> dict[str, Any]:
        return simulator.settings()

    def bad_credentials(self, simulator: FtpSimulator) -> dict[str, Any]:
        return simulator.settings(password="not-the-password")

    def invalid_settings(self, simulator: FtpSimulator) -> list[InvalidSettings]:
        valid = self.connection_settings(simulator)
        return [
            InvalidSettings({**valid, "host": "ftp://example.org"}, "host", "not a host name"),
            InvalidSettings({**valid, "port": 70000}, "port"),
        ]


class TestUploadSinkConformance(_FtpConnection, SinkConformance):
    """luminate_upload: rows staged exactly once, published by the connector's cycle.

    What lands is what Luminate finds in /upload/ once the connector's cycle has published:
    ``landed`` ends a cycle (as Luminate's upload call does after the flow ran) and reads the
    manifested CSVs."""

    sink_type = "luminate_upload"
    sink_options: ClassVar[Mapping[str, Any]] = {"file": "constituents"}
    sink_entity = "constituent"
    harness: ConformanceHarness

    @pytest.fixture(autouse=True)
    def _harness(self, conformance: ConformanceHarness) -> None:
        self.harness = conformance

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {
            f"{10001 + n}": {
                "MEMBER_ID": f"{10001 + n}",
                "EXCHANGE_ID": f"00001-079-{n + 1:07d}",
                "FIRST_NAME": f"Ada{n}",
                "LAST_NAME": "Lovelace",
                "PRIMARY_EMAIL": f"ada{n}@example.org",
            }
            for n in range(count)
        }

    async def landed(self, simulator: FtpSimulator) -> list[str]:
        # Luminate's upload call for result 1 on the harness's flow file (with the connector's
        # own connection added): the write flow runs (nothing new to read) and the cycle
        # publishes what it staged; then Luminate takes the files.
        harness = self.harness
        document = harness.flow_document(self.connection_settings(simulator))
        document["connections"]["connector"] = {
            "system": "re_connector",
            "operation_file_name": "re_sync_v52.xml",
        }
        path = harness.folder / "cycle.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        config = load_config(path, harness.host.registry, environ={})
        engine = Engine(config, harness.host, clock=simulator.clock, state=harness.state)
        with engine:
            setup = ConnectorSetup.of(config)
            cycles = ConnectorCycles(setup, engine.state, engine.run_flow, engine.clock)
            answer = await cycles.upload(1, "re_sync_v52.xml")
        assert answer.problems == [], answer.problems
        assert answer.files == ["re_1_constituents.csv"]
        side = LuminateSide(simulator)
        side.take()
        return [row["MEMBER_ID"] for row in side.rows("constituents")]

    def rejected_record(self) -> RejectedRecord:
        return RejectedRecord(
            "10999",
            {"MEMBER_ID": "10999", "EXCHANGE_ID": "", "LAST_NAME": "Nobody"},
            "EXCHANGE_ID is empty",
        )


class TestDownloadSourceConformance(_FtpConnection, SourceConformance):
    """luminate_download: manifested CSVs of /download/, each handed on once, then deleted."""

    source_type = "luminate_download"

    def seed_source(self, simulator: FtpSimulator, count: int) -> list[str]:
        side = LuminateSide(simulator)
        names = []
        for n in range(count):
            simulator.results += 1  # each of Luminate's files carries a new result id
            name = f"luminate_{simulator.results}_transactions.csv"
            side.put_download(name, [["TRANSACTION_ID", "AMOUNT"], [str(n), "25.00"]])
            names.append(name)
        # A CSV still being written (no manifest yet) is not read.
        (simulator.folder("download") / "luminate_999_segments.csv").write_bytes(b"CONS_ID\r\n")
        return names
