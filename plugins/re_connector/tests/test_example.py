"""The example flow file (examples/re_connector/flows.toml), as written: it validates, and one
upload call and one download call through `syncframe serve`'s app move the data both ways."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plugins.re_connector.tests.helpers import (
    FtpSimulator,
    LuminateSide,
    add_constituent,
    load,
    make_engine,
    new_re,
)
from syncframe.serve import service_app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "re_connector"

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


def test_the_example_validates() -> None:
    config = load(EXAMPLE / "flows.toml")

    assert list(config.flows) == ["re_constituents", "re_code_tables", "luminate_to_re"]
    assert config.connections["re_connector"].settings.operation_file_name == (  # type: ignore[attr-defined]
        "re_sync_v52.xml"
    )


async def test_the_example_runs_a_cycle_both_ways(tmp_path: Path, ftp: FtpSimulator) -> None:
    re = new_re()
    add_constituent(re, 1)
    with re.lock:
        re.database.set_code("Fund", "GENERAL", "General Operating")
    folder = tmp_path / "re_connector"
    shutil.copytree(EXAMPLE, folder)
    flows = folder / "flows.toml"
    text = flows.read_text(encoding="utf-8")
    assert 'url = "http://127.0.0.1:8080"' in text
    assert "port = 2121" in text
    text = text.replace("http://127.0.0.1:8080", re.base_url)
    flows.write_text(text.replace("port = 2121", f"port = {ftp.server.port}"), encoding="utf-8")
    LuminateSide(ftp).put_download("luminate_7_segments.csv", [["CONS_ID", "SEGMENT"], ["1", "X"]])

    with make_engine(flows, re) as engine:
        transport = httpx.ASGITransport(app=service_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://connector") as client:
            upload = await client.post(
                "/re-connector/upload",
                json={"result_id": 7, "operation_file_name": "re_sync_v52.xml"},
            )
            download = await client.post("/re-connector/download", json={"result_id": 7})

    assert upload.json() == {
        "files": ["re_7_constituents.csv", "re_7_codetables.csv"],
        "problems": [],
    }
    assert download.json() == {"collected": ["luminate_7_segments.csv"], "problems": []}
    taken = LuminateSide(ftp).take()
    assert [r["FIRST_NAME"] for r in taken["re_7_constituents.csv"]] == ["Ada1"]
    assert [r["CODE"] for r in taken["re_7_codetables.csv"]] == ["GENERAL"]
    with re.lock:
        assert [f.name for f in re.import_area.listed()] == ["luminate_7_segments.csv"]
    assert (folder / "re_connector" / "ledger.json").is_file()
