"""The connector machine's API in ``syncframe serve``'s app, in-process, against the Raiser's
Edge simulator and a real FTP server on loopback: what Luminate's data sync calls and what it
finds on the FTP server afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from raisers_edge_simulator import RaisersEdgeSimulator
from syncframe_re_connector.files import CODE_TABLE_COLUMNS, CONSTITUENT_COLUMNS

from plugins.re_connector.tests.helpers import (
    FTP_PASSWORD,
    RE_PASSWORD,
    FtpSimulator,
    LuminateSide,
    add_constituent,
    flow_file,
    make_engine,
    new_re,
    read_csv,
)
from syncframe.clock import ManualClock
from syncframe.serve import service_app

pytestmark = pytest.mark.anyio

KEY = "luminate-connector-key-123"
SECRETS = (RE_PASSWORD, FTP_PASSWORD, KEY)


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


@pytest.fixture
def re() -> RaisersEdgeSimulator:
    sim = new_re()
    with sim.lock:
        sim.database.set_code("Campaign", "ANNUAL26", "Annual Fund 2026")
        sim.database.set_code("Fund", "GENERAL", "General Operating")
        sim.database.set_code("Fund", "OLDFUND", "Retired fund", active=False)
        sim.database.set_code("Appeal", "WEB", "Online Giving")
    return sim


@dataclass
class Connector:
    """The serve app of a connector flow file, and the world around it."""

    client: httpx.AsyncClient
    ftp: FtpSimulator
    re: RaisersEdgeSimulator
    luminate: LuminateSide

    async def upload(self, result_id: int, **headers: str) -> dict[str, Any]:
        answer = await self.client.post(
            "/re-connector/upload",
            json={"result_id": result_id, "operation_file_name": "re_sync_v52.xml"},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        _no_secret(body)
        return body

    async def download(self, result_id: int) -> dict[str, Any]:
        answer = await self.client.post("/re-connector/download", json={"result_id": result_id})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        _no_secret(body)
        return body


def _no_secret(body: Any) -> None:
    text = str(body)
    for secret in SECRETS:
        assert secret not in text, f"a secret shows in {text}"


@pytest.fixture
async def connector(
    tmp_path: Path, ftp: FtpSimulator, re: RaisersEdgeSimulator
) -> AsyncIterator[Connector]:
    path = flow_file(tmp_path, ftp, re, constituents={"skip_inactive": True})
    with make_engine(path, re) as engine:
        app = service_app(engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://connector") as client:
            yield Connector(client, ftp, re, LuminateSide(ftp))


def _operations(re: RaisersEdgeSimulator) -> list[str | None]:
    return [entry.operation for entry in re.journal.entries()]


# --------------------------------------------------------------------------------------------
# Upload


async def test_upload_publishes_re_constituents_and_code_tables(connector: Connector) -> None:
    re = connector.re
    first = add_constituent(re, 1, luminate_id="1001")
    second = add_constituent(re, 2)
    add_constituent(re, 3, inactive=True)

    body = await connector.upload(17)

    assert body == {"files": ["re_17_constituents.csv", "re_17_codetables.csv"], "problems": []}
    assert connector.ftp.names("upload") == [
        "re_17_codetables.csv",
        "re_17_codetables.manifest",
        "re_17_constituents.csv",
        "re_17_constituents.manifest",
    ]
    upload = connector.ftp.folder("upload")
    assert (upload / "re_17_constituents.manifest").read_bytes() == b""
    raw = (upload / "re_17_constituents.csv").read_bytes()
    assert raw.startswith(",".join(CONSTITUENT_COLUMNS).encode() + b"\r\n")
    rows = read_csv(raw)
    with re.lock:
        ada = re.database.constituents[first]
        grace = re.database.constituents[second]
    assert rows == [
        {
            "MEMBER_ID": ada.constituent_id,
            "EXCHANGE_ID": first,
            "CONS_ID": "1001",
            "FIRST_NAME": "Ada1",
            "MIDDLE_NAME": "",
            "LAST_NAME": "Lovelace",
            "PRIMARY_EMAIL": "ada1@example.org",
            "HOME_STREET1": "1 Main St",
            "HOME_STREET2": "Apt 2",
            "HOME_CITY": "Springfield",
            "HOME_STATEPROV": "IL",
            "HOME_ZIP": "62701",
            "HOME_COUNTRY": "USA",
            "HOME_PHONE": "555-0100",
        },
        {
            **{c: "" for c in CONSTITUENT_COLUMNS},
            "MEMBER_ID": grace.constituent_id,
            "EXCHANGE_ID": second,
            "FIRST_NAME": "Ada2",
            "LAST_NAME": "Lovelace",
            "PRIMARY_EMAIL": "ada2@example.org",
            "HOME_STREET1": "2 Main St",
            "HOME_STREET2": "Apt 2",
            "HOME_CITY": "Springfield",
            "HOME_STATEPROV": "IL",
            "HOME_ZIP": "62701",
            "HOME_COUNTRY": "USA",
            "HOME_PHONE": "555-0100",
        },
    ]
    codes = (upload / "re_17_codetables.csv").read_bytes()
    assert codes.startswith(",".join(CODE_TABLE_COLUMNS).encode() + b"\r\n")
    assert read_csv(codes) == [
        {"TABLE": "Campaign", "CODE": "ANNUAL26", "DESCRIPTION": "Annual Fund 2026"},
        {"TABLE": "Fund", "CODE": "GENERAL", "DESCRIPTION": "General Operating"},
        {"TABLE": "Appeal", "CODE": "WEB", "DESCRIPTION": "Online Giving"},
    ]


async def test_the_next_cycle_sends_only_what_changed(connector: Connector) -> None:
    re = connector.re
    first = add_constituent(re, 1)
    add_constituent(re, 2)
    await connector.upload(17)
    connector.luminate.take()

    clock = re.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=5))
    with re.lock:
        re.database.edit_constituent(re.database.constituents[first], {"last_name": "King"})
    third = add_constituent(re, 3)

    body = await connector.upload(18)

    assert body == {"files": ["re_18_constituents.csv", "re_18_codetables.csv"], "problems": []}
    taken = connector.luminate.take()
    assert [r["EXCHANGE_ID"] for r in taken["re_18_constituents.csv"]] == [first, third]
    assert taken["re_18_constituents.csv"][0]["LAST_NAME"] == "King"
    assert taken["re_18_codetables.csv"] == []  # nothing new: a header-only file is still sent
    assert connector.ftp.names("upload") == []


async def test_a_repeated_call_answers_the_same_files_and_sends_nothing_again(
    connector: Connector,
) -> None:
    add_constituent(connector.re, 1)
    first = await connector.upload(17)
    reads = _operations(connector.re).count("ListConstituents")
    add_constituent(connector.re, 2)  # waits for the next result

    again = await connector.upload(17)
    connector.luminate.take()
    after_taking = await connector.upload(17)

    assert again == first
    assert after_taking == {"files": [], "problems": []}
    assert _operations(connector.re).count("ListConstituents") == reads
    assert [r["FIRST_NAME"] for r in connector.luminate.rows("constituents")] == ["Ada1"]
    assert connector.ftp.names("upload") == []


async def test_a_manifest_placed_by_hand_is_reported_and_stops_the_cycle(
    connector: Connector,
) -> None:
    add_constituent(connector.re, 1)
    upload = connector.ftp.folder("upload")
    (upload / "marchDS.csv").write_bytes(b"PRIMARY_EMAIL\r\nx@example.org\r\n")
    (upload / "marchDS.manifest").write_bytes(b"")

    body = await connector.upload(17)

    assert body == {
        "files": [],
        "problems": [
            "Manifest placed by hand on the FTP server: upload/marchDS.manifest (not generated "
            "by the connector); remove it"
        ],
    }
    assert "ListConstituents" not in _operations(connector.re)
    assert connector.ftp.names("upload") == ["marchDS.csv", "marchDS.manifest"]

    (upload / "marchDS.manifest").unlink()
    (upload / "marchDS.csv").unlink()
    body = await connector.upload(18)
    assert body["files"] == ["re_18_constituents.csv", "re_18_codetables.csv"]
    assert [r["FIRST_NAME"] for r in connector.luminate.take()["re_18_constituents.csv"]] == [
        "Ada1"
    ]


async def test_the_connectors_own_manifests_waiting_for_luminate_are_not_hand_placed(
    connector: Connector,
) -> None:
    add_constituent(connector.re, 1)
    await connector.upload(17)  # Luminate has not taken these files yet

    body = await connector.upload(18)

    assert body["problems"] == []
    assert body["files"] == ["re_18_constituents.csv", "re_18_codetables.csv"]


async def test_re_unavailable_sends_no_files_and_loses_nothing(connector: Connector) -> None:
    re = connector.re
    add_constituent(re, 1)
    re.configure(available=False)

    body = await connector.upload(17)

    assert body["files"] == []
    [problem] = body["problems"]
    assert problem.startswith("flow re_constituents failed: ")
    assert "HTTP 503" in problem
    assert "The Raiser's Edge database is not available" in problem
    assert connector.ftp.names("upload") == []

    re.configure(available=True)
    body = await connector.upload(18)
    assert body == {"files": ["re_18_constituents.csv", "re_18_codetables.csv"], "problems": []}
    taken = connector.luminate.take()
    assert [r["FIRST_NAME"] for r in taken["re_18_constituents.csv"]] == ["Ada1"]
    assert len(taken["re_18_codetables.csv"]) == 3


async def test_an_unreachable_re_server_is_a_problem_in_words(
    tmp_path: Path, ftp: FtpSimulator
) -> None:
    # A real socket this time: nothing listens on the RE address.
    unreachable = new_re()
    unreachable.base_url = "http://127.0.0.1:9"
    path = flow_file(tmp_path, ftp, unreachable)
    with make_engine(path, unreachable) as engine:
        engine._transport = None  # the engine's own HTTP transport: a real connection attempt
        transport = httpx.ASGITransport(app=service_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://connector") as client:
            answer = await client.post("/re-connector/upload", json={"result_id": 5})

    body = answer.json()
    assert answer.status_code == 200
    assert body["files"] == []
    [problem] = body["problems"]
    assert "the RE query interface at http://127.0.0.1:9 is not reachable" in problem
    assert ftp.names("upload") == []


async def test_a_refused_ftp_login_sends_nothing_and_says_why(connector: Connector) -> None:
    add_constituent(connector.re, 1)
    connector.ftp.server.refuse_logins = True

    body = await connector.upload(17)

    port = connector.ftp.server.port
    assert body == {
        "files": [],
        "problems": [
            f"the FTP server 127.0.0.1:{port} refused the login of mysite_ds: 530 Login "
            "incorrect. (check the account's password and that the account is not locked)"
        ],
    }
    assert "ListConstituents" not in _operations(connector.re)

    connector.ftp.server.refuse_logins = False
    body = await connector.upload(18)
    assert body["files"] == ["re_18_constituents.csv", "re_18_codetables.csv"]


async def test_the_operation_file_name_luminate_sends_is_compared(connector: Connector) -> None:
    answer = await connector.client.post(
        "/re-connector/upload",
        json={"result_id": 3, "operation_file_name": "mysite_re_sync_v52.xml"},
    )

    body = answer.json()
    assert body["files"] == ["re_3_constituents.csv", "re_3_codetables.csv"]
    assert body["problems"] == [
        "Luminate's data sync operation names the operation file mysite_re_sync_v52.xml but "
        "this connector is set up for re_sync_v52.xml "
        "(connections.re_connector.operation_file_name)"
    ]


# --------------------------------------------------------------------------------------------
# Authentication and bad calls


async def test_a_wrong_or_missing_key_gets_401(
    tmp_path: Path, ftp: FtpSimulator, re: RaisersEdgeSimulator
) -> None:
    path = flow_file(tmp_path, ftp, re, api_key=True)
    with make_engine(path, re, SYNCFRAME_RE_CONNECTOR_API_KEY=KEY) as engine:
        transport = httpx.ASGITransport(app=service_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://connector") as client:
            missing = await client.post("/re-connector/upload", json={"result_id": 1})
            wrong = await client.post(
                "/re-connector/download",
                json={"result_id": 1},
                headers={"Authorization": "Bearer not-the-key"},
            )
            right = await client.post(
                "/re-connector/upload",
                json={"result_id": 1},
                headers={"Authorization": f"Bearer {KEY}"},
            )

    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "the connector key is missing or wrong: Luminate's data sync operation "
            "must send 'Authorization: Bearer <key>' with the key set as "
            "connections.re_connector.api_key"
        }
    assert right.status_code == 200
    assert right.json()["files"] == ["re_1_constituents.csv", "re_1_codetables.csv"]
    assert "ListConstituents" in _operations(re)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "result_id: give Luminate's result id as a whole number, not None"),
        ({"result_id": "17"}, "result_id: give Luminate's result id as a whole number, not '17'"),
        (
            {"result_id": 17, "operation_file_name": 52},
            "operation_file_name: give the Operation File Name as text",
        ),
    ],
)
async def test_a_call_that_is_not_the_contract_gets_400(
    connector: Connector, body: dict[str, Any], error: str
) -> None:
    answer = await connector.client.post("/re-connector/upload", json=body)

    assert (answer.status_code, answer.json()) == (400, {"error": error})
    assert connector.re.journal.entries() == []


# --------------------------------------------------------------------------------------------
# Download


async def test_download_moves_manifested_files_into_res_import_area(connector: Connector) -> None:
    luminate = connector.luminate
    transactions = [
        ["TRANSACTION_ID", "TRANSACTION_TYPE", "AMOUNT"],
        ["5001", "Donation", "25.00"],
    ]
    luminate.put_download("luminate_17_transactions.csv", transactions)
    luminate.put_download("luminate_17_constituents.csv", [["CONS_ID"], ["1001"]])
    # Still being written: no manifest yet.
    (connector.ftp.folder("download") / "luminate_17_segments.csv").write_bytes(b"CONS_ID\r\n")

    body = await connector.download(17)

    assert body == {
        "collected": ["luminate_17_constituents.csv", "luminate_17_transactions.csv"],
        "problems": [],
    }
    with connector.re.lock:
        area = {f.name: f for f in connector.re.import_area.listed()}
        assert sorted(area) == ["luminate_17_constituents.csv", "luminate_17_transactions.csv"]
        landed = area["luminate_17_transactions.csv"].path.read_bytes()
        assert not any(f.imported for f in area.values())  # RE changes only when imported
    assert landed == b"TRANSACTION_ID,TRANSACTION_TYPE,AMOUNT\r\n5001,Donation,25.00\r\n"
    assert connector.ftp.names("download") == ["luminate_17_segments.csv"]

    again = await connector.download(18)
    assert again == {"collected": [], "problems": []}


async def test_download_with_re_refusing_the_login_keeps_the_files_on_the_server(
    tmp_path: Path, ftp: FtpSimulator, re: RaisersEdgeSimulator
) -> None:
    LuminateSide(ftp).put_download("luminate_17_transactions.csv", [["TRANSACTION_ID"], ["1"]])
    path = flow_file(tmp_path, ftp, re)
    with make_engine(path, re, SYNCFRAME_RE_PASSWORD="wrong-password") as engine:
        transport = httpx.ASGITransport(app=service_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://connector") as client:
            answer = await client.post("/re-connector/download", json={"result_id": 17})

    body = answer.json()
    assert body["collected"] == []
    [problem] = body["problems"]
    assert problem.startswith("flow luminate_to_re failed: ")
    assert "HTTP 401" in problem
    assert "wrong-password" not in problem
    assert ftp.names("download") == [
        "luminate_17_transactions.csv",
        "luminate_17_transactions.manifest",
    ]


async def test_no_secret_reaches_the_logs(
    tmp_path: Path, ftp: FtpSimulator, re: RaisersEdgeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    add_constituent(re, 1)
    path = flow_file(tmp_path, ftp, re, api_key=True)
    with make_engine(path, re, SYNCFRAME_RE_CONNECTOR_API_KEY=KEY) as engine:
        transport = httpx.ASGITransport(app=service_app(engine))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://connector", headers={"Authorization": "x"}
        ) as client:
            await client.post("/re-connector/upload", json={"result_id": 1})  # 401
            client.headers["Authorization"] = f"Bearer {KEY}"
            ftp.server.refuse_logins = True
            await client.post("/re-connector/upload", json={"result_id": 2})
            ftp.server.refuse_logins = False
            re.configure(available=False)
            await client.post("/re-connector/upload", json={"result_id": 3})
            re.configure(available=True)
            answer = await client.post("/re-connector/upload", json={"result_id": 4})
        runs = engine.state.list_runs(limit=50)

    assert answer.json()["files"] == ["re_4_constituents.csv", "re_4_codetables.csv"]
    logged = caplog.text + str([(r.error, r.counts) for r in runs])
    assert "refused the login of mysite_ds" in logged
    for secret in SECRETS:
        assert secret not in logged
