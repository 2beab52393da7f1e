"""The WSDL the simulator serves: namespaces, operations, typed records, header and faults."""

from __future__ import annotations

from typing import Any

import pytest
from luminate_simulator.schema import RECORD_TYPES
from lxml import etree

from simulators.luminate.tests.conftest import ENS, SITE, TNS

pytestmark = pytest.mark.anyio

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD = "http://www.w3.org/2001/XMLSchema"
NS = {"wsdl": WSDL_NS, "soap": WSDL_SOAP, "xsd": XSD}

OPERATIONS = {
    "Login",
    "GetServerTime",
    "StartSynchronization",
    "EndSynchronization",
    "GetIncrementalInserts",
    "GetIncrementalUpdates",
    "GetIncrementalDeletes",
    "Query",
    "Find",
    "Create",
    "Update",
    "Delete",
    "DescribeRecordType",
    "GetSynchronizationLog",
    "GetSynchronizationRequestLog",
}


async def _wsdl(sim: Any) -> etree._Element:
    response = await sim.client().get(f"/1.0/{SITE}/wsdl")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    return etree.fromstring(response.content)


def _schema(wsdl: etree._Element, namespace: str) -> etree._Element:
    schemas = wsdl.findall("wsdl:types/xsd:schema", NS)
    return next(s for s in schemas if s.get("targetNamespace") == namespace)


class TestServedWsdl:
    """``GET /1.0/{site}/wsdl``."""

    async def test_service_points_at_the_site_endpoint_of_the_request_base(
        self, luminate_simulator: Any
    ) -> None:
        wsdl = await _wsdl(luminate_simulator)
        address = wsdl.find("wsdl:service/wsdl:port/soap:address", NS)
        assert address is not None
        assert address.get("location") == f"{luminate_simulator.base_url}/1.0/{SITE}/"

    async def test_unknown_site_is_not_found(self, luminate_simulator: Any) -> None:
        response = await luminate_simulator.client().get("/1.0/othersite/wsdl")
        assert response.status_code == 404
        assert "othersite" in response.text

    async def test_document_literal_soap11_binding_with_every_operation(
        self, luminate_simulator: Any
    ) -> None:
        wsdl = await _wsdl(luminate_simulator)
        assert wsdl.get("targetNamespace") == TNS
        binding = wsdl.find("wsdl:binding", NS)
        assert binding is not None
        soap_binding = binding.find("soap:binding", NS)
        assert soap_binding is not None
        assert soap_binding.get("style") == "document"
        assert soap_binding.get("transport") == "http://schemas.xmlsoap.org/soap/http"
        names = {op.get("name") for op in binding.findall("wsdl:operation", NS)}
        assert names == OPERATIONS
        for body in binding.findall("wsdl:operation/*/soap:body", NS):
            assert body.get("use") == "literal"

    async def test_session_header_on_every_operation_but_login(
        self, luminate_simulator: Any
    ) -> None:
        wsdl = await _wsdl(luminate_simulator)
        with_header = {
            op.get("name")
            for op in wsdl.findall("wsdl:binding/wsdl:operation", NS)
            if op.find("wsdl:input/soap:header", NS) is not None
        }
        assert with_header == OPERATIONS - {"Login"}
        session = _schema(wsdl, TNS).find("xsd:element[@name='Session']", NS)
        assert session is not None
        assert session.find(".//xsd:element[@name='SessionId']", NS) is not None

    async def test_every_record_type_extends_the_abstract_record(
        self, luminate_simulator: Any
    ) -> None:
        records = _schema(await _wsdl(luminate_simulator), ENS)
        record = records.find("xsd:complexType[@name='Record']", NS)
        assert record is not None
        assert record.get("abstract") == "true"
        for name, record_type in RECORD_TYPES.items():
            extension = records.find(
                f"xsd:complexType[@name='{name}']/xsd:complexContent/xsd:extension", NS
            )
            assert extension is not None, name
            assert extension.get("base") == "ens:Record"
            fields = [e.get("name") for e in extension.findall("xsd:sequence/xsd:element", NS)]
            assert fields == [f.name for f in record_type.fields], name

    async def test_nested_fields_keep_schema_order(self, luminate_simulator: Any) -> None:
        records = _schema(await _wsdl(luminate_simulator), ENS)
        name = records.find("xsd:complexType[@name='Name']", NS)
        assert name is not None
        assert [e.get("name") for e in name.findall("xsd:sequence/xsd:element", NS)] == [
            "FirstName",
            "MiddleName",
            "LastName",
        ]
        payment = records.find("xsd:complexType[@name='Payment']", NS)
        assert payment is not None
        payment_fields = [e.get("name") for e in payment.findall("xsd:sequence/xsd:element", NS)]
        assert payment_fields[:2] == ["Amount", "OriginalAmount"]

    async def test_fault_detail_elements_declared_and_bound(self, luminate_simulator: Any) -> None:
        wsdl = await _wsdl(luminate_simulator)
        operations = _schema(wsdl, TNS)
        for fault in (
            "LoginFault",
            "SessionFault",
            "SynchronizationFault",
            "InvalidMessageFault",
            "MalformedMessageFault",
            "UnsupportedOperationFault",
            "ServerFault",
        ):
            assert operations.find(f"xsd:element[@name='{fault}']", NS) is not None, fault
        login = wsdl.find("wsdl:portType/wsdl:operation[@name='Login']", NS)
        assert login is not None
        assert "LoginFault" in {f.get("name") for f in login.findall("wsdl:fault", NS)}
        start = wsdl.find("wsdl:portType/wsdl:operation[@name='StartSynchronization']", NS)
        assert start is not None
        assert {"SessionFault", "SynchronizationFault"} <= {
            f.get("name") for f in start.findall("wsdl:fault", NS)
        }

    async def test_incremental_request_requires_every_documented_parameter(
        self, luminate_simulator: Any
    ) -> None:
        operations = _schema(await _wsdl(luminate_simulator), TNS)
        request = operations.find("xsd:element[@name='GetIncrementalInserts']", NS)
        assert request is not None
        elements = request.findall("xsd:complexType/xsd:sequence/xsd:element", NS)
        assert [e.get("name") for e in elements] == [
            "PartitionId",
            "RecordType",
            "Page",
            "PageSize",
            "Field",
        ]
        assert all(e.get("minOccurs") in (None, "1") for e in elements)
        assert elements[-1].get("maxOccurs") == "unbounded"
