"""The FTP-side components on their own: what the upload sink refuses and how it keeps its
staged files, and how the download source deletes, re-reads and keeps local copies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import syncframe_re_connector.plugin as connector_plugin
import yaml
from syncframe_re_connector.cycles import ConnectorCycles
from syncframe_re_connector.setup import ConnectorSetup
from syncframe_simulators import FaultRule

from plugins.re_connector.tests.helpers import FtpSimulator, LuminateSide
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.records import Change, Operation
from syncframe.testing import ConformancePlugin

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ftp() -> Iterator[FtpSimulator]:
    server = FtpSimulator()
    try:
        yield server
    finally:
        server.stop()


class Flows:
    """A flow file with the FTP connection: ``feed`` -> luminate_upload, luminate_download ->
    ``capture`` (the conformance helpers), and the connector's own connection."""

    def __init__(self, folder: Path, ftp: FtpSimulator) -> None:
        self.folder = folder
        self.ftp = ftp
        self.plugin = ConformancePlugin()
        self.host = Host(plugins=[connector_plugin, self.plugin], entry_points=False)
        document = {
            "state": {"url": "sqlite:///state.db"},
            "connections": {
                "luminate_ftp": {
                    "system": "luminate_ftp",
                    **ftp.settings(),
                    "retry": {"attempts": 2, "initial_wait": 0, "max_wait": 0, "jitter": 0},
                },
                "connector": {"system": "re_connector", "operation_file_name": "re_sync_v52.xml"},
            },
            "flows": {
                "upload": {
                    "batch_size": 2,
                    "source": {"type": "conformance_feed"},
                    "sink": {
                        "type": "luminate_upload",
                        "connection": "luminate_ftp",
                        "file": "constituents",
                    },
                },
                "collect": {
                    "source": {"type": "luminate_download", "connection": "luminate_ftp"},
                    "sink": {"type": "conformance_capture"},
                },
            },
        }
        self.path = folder / "flows.yaml"
        self.path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    def engine(self) -> Engine:
        config = load_config(self.path, self.host.registry, environ={})
        return Engine(config, self.host, clock=self.ftp.clock)

    async def run(self, flow: str) -> RunReport:
        with self.engine() as engine:
            return await engine.run_flow(flow)

    async def cycle(self, result_id: int) -> list[str]:
        with self.engine() as engine:
            setup = ConnectorSetup.of(engine.config)
            cycles = ConnectorCycles(setup, engine.state, engine.run_flow, engine.clock)
            answer = await cycles.upload(result_id, "re_sync_v52.xml")
        assert answer.problems == []
        return answer.files

    def feed(
        self, *rows: dict[str, Any], entity: str = "constituent", delete: bool = False
    ) -> None:
        for row in rows:
            self.plugin.feed.append(
                Change(
                    "crm",
                    entity,
                    {"key": str(row.get("MEMBER_ID", "x"))},
                    Operation.DELETE if delete else Operation.UPDATE,
                    dict(row),
                    datetime(2026, 3, 1, tzinfo=UTC),
                )
            )

    @property
    def staged(self) -> list[str]:
        folder = self.folder / "re_connector" / "staging" / "upload"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def row(n: int, **fields: str) -> dict[str, str]:
    return {"MEMBER_ID": str(10000 + n), "EXCHANGE_ID": f"00001-079-{n:07d}", **fields}


async def test_the_upload_sink_refuses_what_is_not_a_row_of_its_file(
    tmp_path: Path, ftp: FtpSimulator
) -> None:
    flows = Flows(tmp_path, ftp)
    flows.feed(row(1), row(2, NICKNAME="Ada"), {"MEMBER_ID": "10003", "EXCHANGE_ID": " "})
    flows.feed(row(4), delete=True)
    flows.feed({"TABLE": "Fund", "CODE": "GEN"}, entity="code_table_entry")

    report = await flows.run("upload")

    with flows.engine() as engine:
        outcomes = {
            (r.record, r.outcome, r.reason) for r in engine.state.run_outcomes(report.run_id)
        }
    assert outcomes == {
        ("10001", "created", None),
        (
            "10002",
            "rejected",
            "'NICKNAME' is not a column of the constituents file (columns: MEMBER_ID, "
            "EXCHANGE_ID, CONS_ID, FIRST_NAME, MIDDLE_NAME, LAST_NAME, PRIMARY_EMAIL, "
            "HOME_STREET1, HOME_STREET2, HOME_CITY, HOME_STATEPROV, HOME_ZIP, HOME_COUNTRY, "
            "HOME_PHONE)",
        ),
        ("10003", "rejected", "EXCHANGE_ID is empty: every constituent row needs RE's Import ID"),
        ("10004", "skipped", "the upload files carry no deletions"),
        (
            "x",
            "rejected",
            "the constituents file takes constituent records, not 'code_table_entry' (flow upload)",
        ),
    }
    assert await flows.cycle(1) == ["re_1_constituents.csv"]
    assert [r["MEMBER_ID"] for r in LuminateSide(ftp).take()["re_1_constituents.csv"]] == ["10001"]


async def test_a_published_generation_makes_way_for_a_new_staged_file(
    tmp_path: Path, ftp: FtpSimulator
) -> None:
    flows = Flows(tmp_path, ftp)
    flows.feed(row(1), row(2), row(3))
    await flows.run("upload")
    assert flows.staged == ["000001.csv"]

    await flows.cycle(1)
    flows.feed(row(4))
    await flows.run("upload")

    assert flows.staged == ["000002.csv"]
    await flows.cycle(2)
    luminate = LuminateSide(ftp)
    luminate.take()
    assert [r["MEMBER_ID"] for r in luminate.rows("constituents")] == [
        "10001",
        "10002",
        "10003",
        "10004",
    ]


async def test_a_staged_file_cut_short_outside_syncframe_stops_the_flow(
    tmp_path: Path, ftp: FtpSimulator
) -> None:
    flows = Flows(tmp_path, ftp)
    flows.feed(row(1), row(2))
    await flows.run("upload")
    staged = tmp_path / "re_connector" / "staging" / "upload" / "000001.csv"
    staged.write_bytes(staged.read_bytes()[:20])

    report = await flows.run("upload")

    assert report.summary.status == "failed"
    assert f"{staged} has 20 bytes, but the connector staged" in (report.summary.error or "")


async def test_a_file_not_deleted_after_delivery_is_deleted_by_the_next_run(
    tmp_path: Path, ftp: FtpSimulator
) -> None:
    flows = Flows(tmp_path, ftp)
    LuminateSide(ftp).put_download("luminate_1_transactions.csv", [["TRANSACTION_ID"], ["1"]])
    ftp.faults.add(FaultRule(kind="error", method="DELE", times=1))

    first = await flows.run("collect")

    assert first.summary.status == "succeeded"
    assert [c.key for c in flows.plugin.captured] == ["luminate_1_transactions.csv"]
    assert "luminate_1_transactions.csv" in ftp.names("download")  # the deletion failed

    await flows.run("collect")
    assert ftp.names("download") == []
    assert len(flows.plugin.captured) == 1  # not handed on again


async def test_a_new_file_under_a_delivered_name_is_handed_on(
    tmp_path: Path, ftp: FtpSimulator
) -> None:
    flows = Flows(tmp_path, ftp)
    luminate = LuminateSide(ftp)
    luminate.put_download("luminate_1_transactions.csv", [["TRANSACTION_ID"], ["1"]])
    ftp.faults.add(FaultRule(kind="error", method="DELE", times=1))
    await flows.run("collect")
    luminate.put_download("luminate_1_transactions.csv", [["TRANSACTION_ID"], ["2"]])

    await flows.run("collect")

    first, second = flows.plugin.captured
    assert first.key == second.key == "luminate_1_transactions.csv"
    assert first.fields["sha256"] != second.fields["sha256"]
    assert ftp.names("download") == []
    spooled = anyio.Path(second.fields["spool"])
    assert spooled.parent == anyio.Path(tmp_path / "re_connector" / "spool")
    assert await spooled.read_bytes() == b"TRANSACTION_ID\r\n2\r\n"
