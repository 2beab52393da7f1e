"""Shared fixtures of the Luminate simulator tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from luminate_simulator.constituents import ConstituentDirectory
from luminate_simulator.services import ApiUser, WebServices
from lxml import etree

from syncframe.clock import ManualClock

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:soap.convio.com"
ENS = "urn:object.soap.convio.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SITE = "syncframe"
ENDPOINT = f"/1.0/{SITE}/"
API_USER = "sync-api"
API_PASSWORD = "s3cret-Pa55"


#: Where the simulator clock starts in the service-level tests.
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def services(clock: ManualClock) -> WebServices:
    """A site with two API users (each sees the other's changes, not its own)."""
    web = WebServices(clock, ConstituentDirectory(clock))
    web.add_api_user("sync-api", "s3cret")
    web.add_api_user("other-api", "s3cret")
    return web


@pytest.fixture
def user(services: WebServices) -> ApiUser:
    return services.session_user(services.login("sync-api", "s3cret"))


@pytest.fixture
def other(services: WebServices) -> ApiUser:
    return services.session_user(services.login("other-api", "s3cret"))


@dataclass
class SoapFaultSeen:
    """A SOAP fault as the client received it."""

    status: int
    faultcode: str
    faultstring: str
    fault_type: str
    line: int
    column: int


def envelope(body: str, session_id: str | None = None) -> bytes:
    """A request envelope; ``body`` is the operation element, in the ``urn:soap.convio.com``
    default namespace unless it says otherwise."""
    header = (
        f'<soap:Header><Session xmlns="{TNS}"><SessionId>{session_id}</SessionId></Session>'
        "</soap:Header>"
        if session_id is not None
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}" '
        f'xmlns:xsi="{XSI}" xmlns:ens="{ENS}">{header}<soap:Body>{body}</soap:Body>'
        "</soap:Envelope>"
    ).encode()


def element_text(parent: etree._Element, path: str) -> str | None:
    """Text of a child by a path of local names (``Result/SessionId``), whatever the namespace."""
    node: etree._Element | None = parent
    for name in path.split("/"):
        assert node is not None
        node = next((c for c in node if etree.QName(c).localname == name), None)
        if node is None:
            return None
    return node.text if node is not None else None


def record_dict(element: etree._Element) -> dict[str, Any]:
    """A ``Record`` element as a nested dict of texts (``None`` for ``xsi:nil``)."""
    values: dict[str, Any] = {}
    for child in element:
        name = etree.QName(child).localname
        assert etree.QName(child).namespace == ENS, f"{name} is not in the records namespace"
        if child.get(f"{{{XSI}}}nil") == "true":
            values[name] = None
        elif len(child):
            values[name] = record_dict(child)
        else:
            values[name] = child.text or ""
    return values


class SoapClient:
    """Calls the simulator's SOAP endpoint with hand-written envelopes over httpx."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.session_id: str | None = None

    async def post(self, body: bytes) -> httpx.Response:
        return await self.http.post(
            ENDPOINT, content=body, headers={"Content-Type": "text/xml; charset=utf-8"}
        )

    async def call(self, body: str, *, session: bool = True) -> httpx.Response:
        return await self.post(envelope(body, self.session_id if session else None))

    async def ok(self, body: str, *, session: bool = True) -> etree._Element:
        """The ``...Response`` element of a call that must succeed."""
        response = await self.call(body, session=session)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        root = etree.fromstring(response.content)
        answer = root.find(f"{{{SOAP_ENV}}}Body")[0]  # type: ignore[index]
        assert etree.QName(answer).namespace == TNS
        return answer

    async def fault(self, body: str, *, session: bool = True) -> SoapFaultSeen:
        return parse_fault(await self.call(body, session=session))

    async def records(self, body: str) -> list[tuple[str, dict[str, Any]]]:
        """``(xsi:type without prefix, fields)`` for every ``Record`` of a response."""
        answer = await self.ok(body)
        return [
            record_of(element) for element in answer if etree.QName(element).localname == "Record"
        ]

    async def login(self, user: str = API_USER, password: str = API_PASSWORD) -> str:
        answer = await self.ok(
            f'<Login xmlns="{TNS}"><UserName>{user}</UserName>'
            f"<Password>{password}</Password></Login>",
            session=False,
        )
        session_id = element_text(answer, "Result/SessionId")
        assert session_id
        self.session_id = session_id
        return session_id


def record_of(element: etree._Element) -> tuple[str, dict[str, Any]]:
    xsi_type = element.get(f"{{{XSI}}}type", "")
    prefix, _, local = xsi_type.rpartition(":")
    assert element.nsmap.get(prefix or None) == ENS, f"xsi:type {xsi_type} not in ens"
    return local, record_dict(element)


def parse_fault(response: httpx.Response) -> SoapFaultSeen:
    assert response.status_code == 500, response.text
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, response.text
    code = fault.find(f"{{{SOAP_ENV}}}faultcode")
    string = fault.find(f"{{{SOAP_ENV}}}faultstring")
    detail = fault.find(f"{{{SOAP_ENV}}}detail")
    assert code is not None
    assert string is not None
    assert detail is not None
    kind = detail[0]
    assert etree.QName(kind).namespace == TNS
    return SoapFaultSeen(
        status=response.status_code,
        faultcode=code.text or "",
        faultstring=string.text or "",
        fault_type=etree.QName(kind).localname,
        line=int(element_text(kind, "line") or -1),
        column=int(element_text(kind, "column") or -1),
    )


@pytest.fixture
async def soap(luminate_simulator: Any) -> SoapClient:
    """A SOAP client over the in-process simulator, with the API user already created."""
    admin = luminate_simulator.admin()
    await admin.post("/luminate/api-users", {"name": API_USER, "password": API_PASSWORD})
    return SoapClient(luminate_simulator.client())


@pytest.fixture
async def session(soap: SoapClient) -> SoapClient:
    """The SOAP client, logged in."""
    await soap.login()
    return soap
