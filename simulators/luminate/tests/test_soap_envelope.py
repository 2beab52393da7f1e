"""Reading request envelopes: malformed XML, the Session header, the schema check, operations."""

from __future__ import annotations

import pytest

from simulators.luminate.tests.conftest import (
    ENDPOINT,
    SITE,
    SOAP_ENV,
    TNS,
    SoapClient,
    envelope,
    parse_fault,
)

pytestmark = pytest.mark.anyio


class TestMalformedMessages:
    """What is not well-formed XML, or not a SOAP 1.1 envelope, is a MalformedMessageFault."""

    async def test_broken_xml_names_line_and_column(self, soap: SoapClient) -> None:
        body = envelope(f'<Login xmlns="{TNS}"><UserName>u</UserName><Password>p</Login>')
        fault = parse_fault(await soap.post(body))
        assert fault.fault_type == "MalformedMessageFault"
        assert fault.faultcode == "MALFORMED_MESSAGE"
        assert fault.line == 2
        assert fault.column > 1
        assert "Password" in fault.faultstring

    async def test_empty_body(self, soap: SoapClient) -> None:
        fault = parse_fault(await soap.post(b""))
        assert fault.fault_type == "MalformedMessageFault"

    async def test_not_a_soap_envelope(self, soap: SoapClient) -> None:
        fault = parse_fault(await soap.post(b"<Envelope><Body/></Envelope>"))
        assert fault.fault_type == "MalformedMessageFault"
        assert "not a SOAP 1.1 Envelope" in fault.faultstring

    async def test_missing_body(self, soap: SoapClient) -> None:
        fault = parse_fault(await soap.post(f'<soap:Envelope xmlns:soap="{SOAP_ENV}"/>'.encode()))
        assert fault.fault_type == "MalformedMessageFault"
        assert fault.faultstring == "SOAP body element is missing"

    async def test_doctype_and_entities_are_refused_not_expanded(self, soap: SoapClient) -> None:
        body = (
            '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><Login xmlns="{TNS}">'
            "<UserName>&e;</UserName><Password>p</Password></Login></soap:Body></soap:Envelope>"
        ).encode()
        response = await soap.post(body)
        fault = parse_fault(response)
        assert fault.fault_type == "MalformedMessageFault"
        assert "root:" not in response.text

    async def test_missing_session_header_is_the_documented_fault(
        self, session: SoapClient
    ) -> None:
        fault = await session.fault(f'<GetServerTime xmlns="{TNS}"/>', session=False)
        assert fault.fault_type == "MalformedMessageFault"
        assert fault.faultcode == "MALFORMED_MESSAGE"
        assert fault.faultstring == "SOAP header element is missing"
        assert fault.line == 2  # the line of soap:Body in the request
        assert fault.column == 1

    async def test_fault_has_the_documented_shape(self, session: SoapClient) -> None:
        response = await session.call(f'<GetServerTime xmlns="{TNS}"/>', session=False)
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/xml")
        text = response.text
        assert "<soap:faultcode>MALFORMED_MESSAGE</soap:faultcode>" in text
        assert "<soap:faultstring>SOAP header element is missing</soap:faultstring>" in text
        assert f'<soap:detail><MalformedMessageFault xmlns="{TNS}"><line>2</line>' in text


class TestSchemaCheck:
    """A request that breaks the WSDL is an InvalidMessageFault naming the element."""

    async def test_out_of_order_parameters(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<GetIncrementalInserts xmlns="{TNS}"><RecordType>Constituent</RecordType>'
            "<PartitionId>1</PartitionId><Page>1</Page><PageSize>10</PageSize>"
            "<Field>ConsId</Field></GetIncrementalInserts>"
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert fault.faultcode == "INVALID_MESSAGE"
        assert "RecordType" in fault.faultstring
        assert fault.line == 2

    async def test_unknown_element(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<EndSynchronization xmlns="{TNS}"><PartitionId>1001</PartitionId>'
            "<TimeZone>UTC</TimeZone></EndSynchronization>"
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "TimeZone" in fault.faultstring

    async def test_missing_required_parameter(self, session: SoapClient) -> None:
        fault = await session.fault(f'<EndSynchronization xmlns="{TNS}"/>')
        assert fault.fault_type == "InvalidMessageFault"
        assert "PartitionId" in fault.faultstring

    async def test_value_of_the_wrong_type(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<EndSynchronization xmlns="{TNS}"><PartitionId>all</PartitionId></EndSynchronization>'
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "all" in fault.faultstring

    async def test_record_without_xsi_type(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<Create xmlns="{TNS}"><Record><ens:PrimaryEmail>a@example.org</ens:PrimaryEmail>'
            "</Record></Create>"
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "abstract" in fault.faultstring

    async def test_record_field_out_of_wsdl_order(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<Create xmlns="{TNS}"><Record xsi:type="ens:Constituent">'
            "<ens:PrimaryEmail>a@example.org</ens:PrimaryEmail><ens:MemberId>M1</ens:MemberId>"
            "</Record></Create>"
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "MemberId" in fault.faultstring

    async def test_session_header_is_checked_too(self, session: SoapClient) -> None:
        body = (
            f'<?xml version="1.0"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Header>'
            f'<Session xmlns="{TNS}"><Token>x</Token></Session></soap:Header><soap:Body>'
            f'<GetServerTime xmlns="{TNS}"/></soap:Body></soap:Envelope>'
        ).encode()
        fault = parse_fault(await session.post(body))
        assert fault.fault_type == "InvalidMessageFault"
        assert "Token" in fault.faultstring


class TestOperations:
    """Which operation a body calls."""

    async def test_unknown_operation(self, session: SoapClient) -> None:
        fault = await session.fault(f'<GetEverything xmlns="{TNS}"/>')
        assert fault.fault_type == "UnsupportedOperationFault"
        assert "GetEverything" in fault.faultstring

    async def test_operation_in_another_namespace(self, session: SoapClient) -> None:
        fault = await session.fault('<Login xmlns="urn:example"/>')
        assert fault.fault_type == "UnsupportedOperationFault"
        assert "urn:example" in fault.faultstring

    async def test_endpoint_without_trailing_slash(self, session: SoapClient) -> None:
        response = await session.http.post(
            ENDPOINT.rstrip("/"),
            content=envelope(f'<GetServerTime xmlns="{TNS}"/>', session.session_id),
        )
        assert response.status_code == 200

    async def test_unknown_site(self, session: SoapClient) -> None:
        response = await session.http.post(
            "/1.0/elsewhere/", content=envelope(f'<GetServerTime xmlns="{TNS}"/>')
        )
        assert response.status_code == 404

    async def test_get_on_the_endpoint_is_not_allowed(self, session: SoapClient) -> None:
        response = await session.http.get(f"/1.0/{SITE}/")
        assert response.status_code == 405
