"""Injected faults on Luminate operations: the journal shows them, clients see Luminate's answer.

Each kind is switched on for one SOAP operation (``GetIncrementalInserts`` unless said), so the
calls before it (Login, StartSynchronization) go through untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from simulators.luminate.tests.conftest import (
    API_PASSWORD,
    API_USER,
    SITE,
    TNS,
    SoapClient,
    envelope,
    parse_fault,
)
from simulators.luminate.tests.test_soap_sync import incremental, start_sync

pytestmark = pytest.mark.anyio

OPERATION = "GetIncrementalInserts"
INSERTS = incremental("Inserts", "Constituent", ["ConsId"])


async def fault_on(sim: Any, **rule: Any) -> str:
    fault_id: str = await sim.admin().add_fault(operation=OPERATION, **rule)
    return fault_id


async def journal_of(sim: Any) -> list[Any]:
    entries: list[Any] = await sim.admin().journal()
    return entries


async def ready(session: SoapClient) -> None:
    await session.ok(start_sync())


class TestInProcess:
    """Through httpx on the in-process transport."""

    async def test_latency_delays_the_real_answer(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        await ready(session)
        await fault_on(luminate_simulator, kind="latency", latency=0.05)
        assert await session.records(INSERTS) == []
        *_, entry = await journal_of(luminate_simulator)
        assert (entry.operation, entry.fault, entry.status) == (OPERATION, "latency", 200)
        assert entry.duration_ms >= 50

    async def test_500_is_a_server_fault(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        await ready(session)
        await fault_on(luminate_simulator, kind="error", status=500)
        fault = await session.fault(INSERTS)
        assert (fault.fault_type, fault.faultcode) == ("ServerFault", "SERVER_ERROR")
        *_, entry = await journal_of(luminate_simulator)
        assert (entry.operation, entry.fault, entry.status) == (OPERATION, "error", 500)

    @pytest.mark.parametrize("status", [502, 503, 504])
    async def test_gateway_errors_are_an_html_page(
        self, session: SoapClient, luminate_simulator: Any, status: int
    ) -> None:
        await ready(session)
        await fault_on(luminate_simulator, kind="error", status=status)
        response = await session.call(INSERTS)
        assert response.status_code == status
        assert response.headers["content-type"].startswith("text/html")
        assert f"<title>{status} " in response.text
        *_, entry = await journal_of(luminate_simulator)
        assert (entry.fault, entry.status) == ("error", status)

    async def test_rate_limit_with_retry_after(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        await ready(session)
        await fault_on(luminate_simulator, kind="rate_limit", retry_after=7, times=1)
        response = await session.call(INSERTS)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert await session.records(INSERTS) == []  # the rule fired once: the retry goes through
        entries = await journal_of(luminate_simulator)
        assert [(e.fault, e.status) for e in entries[-2:]] == [("rate_limit", 429), (None, 200)]

    async def test_timeout_leaves_the_client_without_an_answer(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        await ready(session)
        await fault_on(luminate_simulator, kind="timeout", hang=5)
        with pytest.raises(httpx.ReadTimeout):
            await session.http.post(
                f"/1.0/{SITE}/", content=envelope(INSERTS, session.session_id), timeout=0.1
            )
        *_, entry = await journal_of(luminate_simulator)
        assert (entry.operation, entry.fault, entry.status) == (OPERATION, "timeout", None)

    async def test_disconnect_drops_the_connection(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        await ready(session)
        await fault_on(luminate_simulator, kind="disconnect")
        with pytest.raises(httpx.RemoteProtocolError):
            await session.call(INSERTS)
        *_, entry = await journal_of(luminate_simulator)
        assert (entry.operation, entry.fault) == (OPERATION, "disconnect")

    async def test_malformed_is_truncated_xml(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        await ready(session)
        await fault_on(luminate_simulator, kind="malformed")
        response = await session.call(INSERTS)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert response.content.startswith(b"<?xml")
        assert f"<{OPERATION}Response".encode() in response.content
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(response.content)
        *_, entry = await journal_of(luminate_simulator)
        assert (entry.fault, entry.status) == ("malformed", 200)

    async def test_only_the_named_operation_is_hit(
        self, soap: SoapClient, luminate_simulator: Any
    ) -> None:
        await fault_on(luminate_simulator, kind="error", status=500)
        await soap.login()
        await soap.ok(start_sync())
        assert (await soap.fault(INSERTS)).fault_type == "ServerFault"
        entries = await journal_of(luminate_simulator)
        assert [(e.operation, e.fault) for e in entries] == [
            ("Login", None),
            ("StartSynchronization", None),
            (OPERATION, "error"),
        ]

    async def test_journal_names_the_operation_of_a_malformed_request(
        self, soap: SoapClient, luminate_simulator: Any
    ) -> None:
        fault = parse_fault(await soap.post(b"<soap:Envelope"))
        assert fault.fault_type == "MalformedMessageFault"
        (entry,) = await journal_of(luminate_simulator)
        assert (entry.operation, entry.status) == (None, 500)


class FaultedSite:
    """zeep on a real socket, logged in with an open window, and the admin API."""

    def __init__(self, base_url: str) -> None:
        self.admin = httpx.Client(base_url=f"{base_url}/_admin", timeout=5)
        self.admin.post("/luminate/api-users", json={"name": API_USER, "password": API_PASSWORD})
        self.client = zeep.Client(
            f"{base_url}/1.0/{SITE}/wsdl", transport=Transport(timeout=5, operation_timeout=1)
        )
        session_id = self.client.service.Login(UserName=API_USER, Password=API_PASSWORD)
        self.header = {"Session": {"SessionId": session_id}}
        self.client.service.StartSynchronization(PartitionId=1001, _soapheaders=self.header)

    def fault_on(self, **rule: Any) -> None:
        response = self.admin.post("/faults", json={"operation": OPERATION, **rule})
        assert response.status_code < 300, response.text

    def inserts(self) -> Any:
        return self.client.service.GetIncrementalInserts(
            PartitionId=1001,
            RecordType="Constituent",
            Page=1,
            PageSize=200,
            Field=["ConsId"],
            _soapheaders=self.header,
        )

    def journal(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.admin.get("/journal").json()["entries"]
        return entries

    def close(self) -> None:
        self.admin.close()
        self.client.transport.session.close()


@pytest.fixture
def faulted(
    luminate_simulator: Any, serve_simulator: Callable[[Any], Any]
) -> Iterator[FaultedSite]:
    site = FaultedSite(serve_simulator(luminate_simulator).base_url)
    yield site
    site.close()


def last_fault(site: FaultedSite) -> tuple[str | None, str | None]:
    entry = site.journal()[-1]
    return entry["operation"], entry["fault"]


class TestZeepSees:
    """What zeep raises for each fault kind, on a socket."""

    def test_latency(self, faulted: FaultedSite) -> None:
        faulted.fault_on(kind="latency", latency=0.05)
        assert faulted.inserts() == []
        assert last_fault(faulted) == (OPERATION, "latency")

    def test_server_fault(self, faulted: FaultedSite) -> None:
        faulted.fault_on(kind="error", status=500)
        with pytest.raises(zeep.exceptions.Fault) as raised:
            faulted.inserts()
        assert raised.value.code == "SERVER_ERROR"
        assert raised.value.detail[0].tag == f"{{{TNS}}}ServerFault"
        assert last_fault(faulted) == (OPERATION, "error")

    def test_gateway_page(self, faulted: FaultedSite) -> None:
        faulted.fault_on(kind="error", status=503)
        with pytest.raises(zeep.exceptions.TransportError) as raised:
            faulted.inserts()
        assert raised.value.status_code == 503
        assert b"503 Service Unavailable" in raised.value.content
        assert last_fault(faulted) == (OPERATION, "error")

    def test_rate_limit(self, faulted: FaultedSite) -> None:
        faulted.fault_on(kind="rate_limit", retry_after=3)
        with pytest.raises(zeep.exceptions.TransportError) as raised:
            faulted.inserts()
        assert raised.value.status_code == 429
        assert last_fault(faulted) == (OPERATION, "rate_limit")

    def test_timeout(self, faulted: FaultedSite) -> None:
        faulted.client.transport.operation_timeout = 0.2
        faulted.fault_on(kind="timeout", hang=0.5)
        with pytest.raises(requests.exceptions.ReadTimeout):
            faulted.inserts()
        # The server journals the request when it gives up on it, a moment after the client.
        deadline = time.monotonic() + 5
        while last_fault(faulted) != (OPERATION, "timeout") and time.monotonic() < deadline:
            time.sleep(0.05)
        entry = faulted.journal()[-1]
        # None: the server saw the client leave; 504: it gave up first and answered as a gateway.
        assert entry["status"] in (None, 504)

    def test_disconnect(self, faulted: FaultedSite) -> None:
        faulted.fault_on(kind="disconnect")
        # The answer's headers came, its body never did: the connection broke mid-read.
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            faulted.inserts()
        assert last_fault(faulted) == (OPERATION, "disconnect")

    def test_malformed(self, faulted: FaultedSite) -> None:
        faulted.fault_on(kind="malformed")
        with pytest.raises(zeep.exceptions.TransportError, match="invalid XML") as raised:
            faulted.inserts()
        assert raised.value.status_code == 200
        assert last_fault(faulted) == (OPERATION, "malformed")
